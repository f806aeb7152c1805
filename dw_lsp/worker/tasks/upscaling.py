"""Upscaling (FORMAT.md section 2): ``upscale`` through spandrel and ``diffusion_upscale``
through diffusers' Stable Diffusion upscalers (x4 ``StableDiffusionUpscalePipeline``, x2
``StableDiffusionLatentUpscalePipeline``, dw's default models or ``model_name``).

``model_name`` is a local weights file, or a local folder / cached hub repository holding
``filename`` (:mod:`locate`; nothing is downloaded). spandrel detects the architecture from
the state dict. ``upscale`` runs the whole image at once up to 512 x 512 pixels, larger
images in overlapping tiles of ``tile_size`` (``tile_overlap`` apart) averaged where they
overlap. A model is loaded once per (file or model, device) and kept warm. Imports torch,
spandrel and diffusers only when a command runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks import locate, spandrel_import
from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, as_image, take, whole

WHOLE_IMAGE_PIXELS = 512 * 512


def _descriptor(context: TaskContext, model_name: Any, filename: Any, what: str) -> Any:
    device = context.target
    path = locate.file_for(context, model_name, filename, what, "super-resolution")

    def load() -> Any:
        spandrel = spandrel_import.spandrel(context.command)
        import torch

        loader = spandrel.ModelLoader(device=torch.device(device))
        try:
            descriptor = loader.load_from_file(str(path))
        except spandrel.UnsupportedModelError as exc:
            left_out = spandrel_import.missing_architectures()
            detail = (
                f" (left out here, a dependency missing: {', '.join(sorted(left_out))})"
                if left_out
                else ""
            )
            raise ValueError(
                f"task '{context.command}': spandrel recognises no architecture in "
                f"{path.name}{detail}"
            ) from exc
        if not isinstance(descriptor, spandrel.ImageModelDescriptor):
            raise ValueError(
                f"task '{context.command}': {path.name} holds a "
                f"{type(descriptor).__name__}, not an image model"
            )
        descriptor.eval()
        return descriptor

    return context.models.load("model", (context.command, str(path), device), load)


def _to_tensor(image: Image.Image, device: Any) -> Any:
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)


def _to_image(tensor: Any) -> Image.Image:
    array = tensor[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.rint(array * 255.0).astype(np.uint8))


def _tiled(descriptor: Any, tensor: Any, tile: int, overlap: int) -> Any:
    import torch

    scale = descriptor.scale
    _, channels, height, width = tensor.shape
    out = torch.zeros(1, channels, height * scale, width * scale, device=tensor.device)
    weight = torch.zeros(1, 1, height * scale, width * scale, device=tensor.device)
    stride = max(1, tile - overlap)
    rows = sorted({min(y, max(0, height - tile)) for y in range(0, height, stride)})
    cols = sorted({min(x, max(0, width - tile)) for x in range(0, width, stride)})
    for y in rows:
        for x in cols:
            piece = descriptor(tensor[:, :, y : y + tile, x : x + tile])
            h, w = piece.shape[2], piece.shape[3]
            out[:, :, y * scale : y * scale + h, x * scale : x * scale + w] += piece
            weight[:, :, y * scale : y * scale + h, x * scale : x * scale + w] += 1
    return out / weight.clamp(min=1)


def upscale(arguments: Any, context: TaskContext) -> Image.Image:
    values = take(
        context.command,
        arguments,
        {
            "image": REQUIRED,
            "model_name": REQUIRED,
            "filename": None,
            "tile_size": 512,
            "tile_overlap": 32,
        },
    )
    image = as_image(context.command, values["image"])
    tile = whole(context.command, "tile_size", values["tile_size"], minimum=16)
    overlap = whole(context.command, "tile_overlap", values["tile_overlap"], minimum=0)
    if overlap >= tile:
        raise ValueError(f"task '{context.command}': tile_overlap must be below tile_size")
    descriptor = _descriptor(
        context, values["model_name"], values["filename"], "spandrel super-resolution"
    )
    import torch

    tensor = _to_tensor(image, descriptor.device)
    with torch.inference_mode():
        if image.width * image.height <= WHOLE_IMAGE_PIXELS:
            output = descriptor(tensor)
        else:
            output = _tiled(descriptor, tensor, tile, overlap)
    return _to_image(output)


COMMANDS: dict[str, Handler] = {"upscale": upscale}


#: ``diffusion_upscale`` modes: the diffusers pipeline class and dw's default model.
DIFFUSION_MODES = {
    "x4": ("StableDiffusionUpscalePipeline", "stabilityai/stable-diffusion-x4-upscaler"),
    "x2": ("StableDiffusionLatentUpscalePipeline", "stabilityai/sd-x2-latent-upscaler"),
}


def diffusion_upscale(arguments: Any, context: TaskContext) -> Image.Image:
    """Stable Diffusion upscaling (x4: noise-conditioned, x2: latent), as dw runs it."""
    values = take(
        context.command,
        arguments,
        {
            "image": REQUIRED,
            "mode": "x4",
            "model_name": None,
            "prompt": "",
            "negative_prompt": None,
            "num_inference_steps": 25,
            "guidance_scale": 9.0,
            "noise_level": 20,
        },
    )
    command = context.command
    if values["mode"] not in DIFFUSION_MODES:
        raise ValueError(f"task '{command}': mode must be x4 or x2, got {values['mode']!r}")
    class_name, default_model = DIFFUSION_MODES[values["mode"]]
    model_name = values["model_name"] or default_model
    image = as_image(command, values["image"])
    steps = whole(command, "num_inference_steps", values["num_inference_steps"], minimum=1)
    device = context.target
    import torch

    dtype = torch.float16 if device.startswith(("cuda", "mps")) else torch.float32
    folder = locate.folder_for(context, model_name, class_name, f"sd-{values['mode']}-upscaler")

    def load() -> Any:
        diffusers = locate.require(command, "diffusers")
        pipeline = getattr(diffusers, class_name).from_pretrained(str(folder), torch_dtype=dtype)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline.to(device)

    pipe = context.models.load(
        "model", (command, class_name, str(folder), device, str(dtype)), load
    )
    call: dict[str, Any] = {
        "prompt": str(values["prompt"]),
        "image": image,
        "num_inference_steps": steps,
        "guidance_scale": float(values["guidance_scale"]),
    }
    if values["negative_prompt"] is not None:
        call["negative_prompt"] = values["negative_prompt"]
    if values["mode"] == "x4":
        call["noise_level"] = whole(command, "noise_level", values["noise_level"], minimum=0)
    with torch.inference_mode():
        upscaled: Image.Image = pipe(**call).images[0]
    return upscaled


COMMANDS["diffusion_upscale"] = diffusion_upscale
