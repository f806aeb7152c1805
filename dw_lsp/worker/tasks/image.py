"""Image processor task commands that need no model (FORMAT.md section 2): sizes,
borders and masks, crops and resizes, EXIF stripping, watermarks, ``canny_cv`` (OpenCV)
and ``qr_code`` (the ``qrcode`` package).

Each takes ``image`` (a loaded PIL image, or a list of them: video frames are processed one
by one) plus its own keyword arguments. Imports PIL and numpy; OpenCV and qrcode only when
their command runs.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from dw_lsp.worker.tasks.common import (
    REQUIRED,
    Handler,
    TaskContext,
    each_image,
    needs_package,
    number,
    take,
    whole,
)

LANCZOS = Image.Resampling.LANCZOS
#: ``resize_bucket``'s default aspect ratios (width, height).
DEFAULT_BUCKETS = ((1, 1), (4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16), (21, 9), (9, 21))
WATERMARK_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left", "center")


def _round_to(value: float, step: int) -> int:
    return max(step, step * round(value / step))


def get_image_size(image: Image.Image) -> dict[str, int]:
    return {"width": image.width, "height": image.height}


def _bordered(
    image: Image.Image,
    size: tuple[int, int],
    offset: tuple[int, int],
    overlap: float,
) -> dict[str, Image.Image]:
    """``image`` on a black canvas of ``size`` at ``offset``, and the inpainting mask:
    white where new content belongs, black over the kept image shrunk by ``overlap``."""
    canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(image.convert("RGB"), offset)
    inset_x, inset_y = int(image.width * overlap), int(image.height * overlap)
    mask = Image.new("L", size, 255)
    left, top = offset[0] + inset_x, offset[1] + inset_y
    right, bottom = offset[0] + image.width - inset_x, offset[1] + image.height - inset_y
    if right > left and bottom > top:
        mask.paste(0, (left, top, right, bottom))
    return {"bordered_image": canvas, "mask": mask}


def add_border_and_mask(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    zoom_all = number(command, "zoom_all", values["zoom_all"], minimum=0)
    sides = {
        side: number(command, side, values[side], minimum=0)
        for side in ("zoom_left", "zoom_right", "zoom_up", "zoom_down")
    }
    overlap = number(command, "overlap", values["overlap"], minimum=0)
    extra = (zoom_all - 1.0) / 2 if zoom_all > 1.0 else 0.0
    left = int(image.width * sides["zoom_left"]) + int(image.width * extra)
    right = int(image.width * sides["zoom_right"]) + int(image.width * extra)
    top = int(image.height * sides["zoom_up"]) + int(image.height * extra)
    bottom = int(image.height * sides["zoom_down"]) + int(image.height * extra)
    size = (_round_to(image.width + left + right, 32), _round_to(image.height + top + bottom, 32))
    return _bordered(image, size, (left, top), overlap)


def add_border_and_mask_with_size(
    image: Image.Image, values: Mapping[str, Any], command: str
) -> Any:
    """Fit the image inside ``width`` x ``height`` (multiples of 32), centred, bordered."""
    width = _round_to(number(command, "width", values["width"], minimum=1), 32)
    height = _round_to(number(command, "height", values["height"], minimum=1), 32)
    overlap = number(command, "overlap", values["overlap"], minimum=0)
    scale = min(width / image.width, height / image.height)
    fitted_size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
    fitted = image.resize(fitted_size, LANCZOS)
    offset = ((width - fitted.width) // 2, (height - fitted.height) // 2)
    return _bordered(fitted, (width, height), offset, overlap)


def crop_square(image: Image.Image) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def resize_center_crop(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    """Scale to cover ``width`` x ``height`` and cut the centre."""
    size = (
        whole(command, "width", values["width"], minimum=1),
        whole(command, "height", values["height"], minimum=1),
    )
    return ImageOps.fit(image, size, LANCZOS)


def resize_rescale(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    size = (
        whole(command, "width", values["width"], minimum=1),
        whole(command, "height", values["height"], minimum=1),
    )
    return image.convert("RGB").resize(size)


def resample(image: Image.Image, resolution: float) -> Image.Image:
    """Short side to ``resolution``, both sides rounded to multiples of 64 (Lanczos)."""
    scale = resolution / min(image.size)
    size = (_round_to(image.width * scale, 64), _round_to(image.height * scale, 64))
    return image.convert("RGB").resize(size, LANCZOS)


def resize_resample(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    return resample(image, number(command, "resolution", values["resolution"], minimum=1))


def resize_bucket(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    """Crop and scale to the bucket whose aspect ratio is nearest the image's: about
    ``resolution``² pixels, sides multiples of ``alignment``."""
    resolution = number(command, "resolution", values["resolution"], minimum=1)
    alignment = whole(command, "alignment", values["alignment"], minimum=1)
    ratios = values["ratios"] if values["ratios"] is not None else DEFAULT_BUCKETS
    buckets: list[tuple[float, float]] = []
    for ratio in ratios:
        if not isinstance(ratio, list | tuple) or len(ratio) != 2:
            raise ValueError(f"task '{command}': each ratio must be [width, height], got {ratio!r}")
        w = number(command, "ratios", ratio[0], minimum=1e-6)
        h = number(command, "ratios", ratio[1], minimum=1e-6)
        buckets.append((w, h))
    if not buckets:
        raise ValueError(f"task '{command}': 'ratios' is empty")
    aspect = image.width / image.height
    w, h = min(buckets, key=lambda b: abs(math.log((b[0] / b[1]) / aspect)))
    width = resolution * math.sqrt(w / h)
    size = (_round_to(width, alignment), _round_to(resolution * resolution / width, alignment))
    return ImageOps.fit(image.convert("RGB"), size, LANCZOS)


def strip_exif(image: Image.Image) -> Image.Image:
    """The same pixels with no metadata (EXIF, text chunks, ICC)."""
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    palette = image.getpalette() if image.mode == "P" else None
    if palette is not None:
        clean.putpalette(palette)
    return clean


def add_watermark(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    text = str(values["text"])
    position = values["position"]
    if position not in WATERMARK_POSITIONS:
        raise ValueError(
            f"task '{command}': 'position' must be one of {', '.join(WATERMARK_POSITIONS)}"
        )
    opacity = whole(command, "opacity", values["opacity"], minimum=0)
    if opacity > 255:
        raise ValueError(f"task '{command}': 'opacity' must be at most 255")
    margin = whole(command, "margin", values["margin"], minimum=0)
    size = whole(command, "font_size", values["font_size"], minimum=0)
    color = values["color"]
    if not isinstance(color, list | tuple) or len(color) != 3:
        raise ValueError(f"task '{command}': 'color' must be [r, g, b]")
    rgb = tuple(whole(command, "color", c, minimum=0) for c in color)
    font = ImageFont.load_default(size=size or max(12, min(image.size) // 20))
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left, bottom - top
    x = {"left": margin, "right": base.width - w - margin}.get(position.split("-")[-1])
    y = {"top": margin, "bottom": base.height - h - margin}.get(position.split("-")[0])
    x = (base.width - w) // 2 if x is None else x
    y = (base.height - h) // 2 if y is None else y
    draw.text((x - left, y - top), text, font=font, fill=(*rgb, opacity))
    marked = Image.alpha_composite(base, layer)
    return marked if image.mode == "RGBA" else marked.convert("RGB")


def canny_cv(image: Image.Image, values: Mapping[str, Any], command: str) -> Any:
    if importlib.util.find_spec("cv2") is None:
        raise needs_package(command, "cv2", "opencv-python-headless", "OpenCV edge detection")
    import cv2

    low = number(command, "low_threshold", values["low_threshold"], minimum=0)
    high = number(command, "high_threshold", values["high_threshold"], minimum=0)
    edges = cv2.Canny(np.asarray(image.convert("RGB")), low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))


def qr_code(arguments: Any, context: TaskContext) -> Image.Image:
    values = take(
        context.command,
        arguments,
        {"qr_code_contents": REQUIRED, "height": 768, "width": 768},
    )
    if importlib.util.find_spec("qrcode") is None:
        raise needs_package(context.command, "qrcode", "qrcode")
    import qrcode

    height = whole(context.command, "height", values["height"], minimum=1)
    width = whole(context.command, "width", values["width"], minimum=1)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, box_size=10, border=4)
    code.add_data(str(values["qr_code_contents"]))
    code.make(fit=True)
    picture = code.make_image(fill_color="black", back_color="white").get_image()
    return resample(picture, max(height, width))


_Op = Callable[[Image.Image, Mapping[str, Any], str], Any]

#: command -> (keyword arguments with defaults, operation). Every one also takes ``image``.
PROCESSORS: dict[str, tuple[dict[str, Any], _Op]] = {
    "get_image_size": ({}, lambda image, _v, _c: get_image_size(image)),
    "add_border_and_mask": (
        {
            "zoom_all": 1.0,
            "zoom_left": 0,
            "zoom_right": 0,
            "zoom_up": 0,
            "zoom_down": 0,
            "overlap": 0,
        },
        add_border_and_mask,
    ),
    "add_border_and_mask_with_size": (
        {"width": REQUIRED, "height": REQUIRED, "overlap": 0},
        add_border_and_mask_with_size,
    ),
    "crop_square": ({}, lambda image, _v, _c: crop_square(image)),
    "strip_exif": ({}, lambda image, _v, _c: strip_exif(image)),
    "resize_center_crop": ({"height": 768, "width": 768}, resize_center_crop),
    "resize_rescale": ({"height": 768, "width": 768}, resize_rescale),
    "resize_resample": ({"resolution": 1024}, resize_resample),
    "resize_bucket": ({"resolution": 1024, "ratios": None, "alignment": 64}, resize_bucket),
    "add_watermark": (
        {
            "text": "AI Generated",
            "position": "bottom-right",
            "opacity": 128,
            "font_size": 0,
            "margin": 10,
            "color": [255, 255, 255],
        },
        add_watermark,
    ),
    "canny_cv": ({"low_threshold": 100, "high_threshold": 200}, canny_cv),
}


def _processor(spec: dict[str, Any], operation: _Op) -> Handler:
    def handle(arguments: Any, context: TaskContext) -> Any:
        values = take(context.command, arguments, {"image": REQUIRED, **spec})
        return each_image(
            context.command,
            values["image"],
            lambda image: operation(image, values, context.command),
        )

    return handle


COMMANDS: dict[str, Handler] = {
    name: _processor(spec, operation) for name, (spec, operation) in PROCESSORS.items()
}
COMMANDS["qr_code"] = qr_code
