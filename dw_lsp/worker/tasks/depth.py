"""Depth maps from transformers models (FORMAT.md section 2): ``depth_estimator``,
``depth_estimator_tensor`` and ``depth``.

``depth_estimator`` runs transformers' ``depth-estimation`` pipeline with its default model
(the one transformers names for that task, as dw does) and returns the map as an RGB image;
``depth_estimator_tensor`` returns it as a (1, 3, H, W) hint tensor in [0, 1] on the device,
in ``dtype`` (default: float16 on an accelerator, float32 on the CPU). ``depth`` runs
``Intel/dpt-hybrid-midas`` (DPT) and returns the map normalised to [0, 1], resized to
``width`` x ``height``. Models come from local folders or the local Hugging Face cache
(:mod:`locate`), loaded once per device and kept warm. Imports torch and transformers only
when a command runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, each_image, take, whole

DPT_HYBRID = "Intel/dpt-hybrid-midas"


def default_depth_model() -> str:
    """The model transformers' ``depth-estimation`` pipeline loads when none is named."""
    from transformers.pipelines import SUPPORTED_TASKS

    task: Any = SUPPORTED_TASKS["depth-estimation"]
    name, _revision = task["default"]["model"]
    return str(name)


def _estimator(context: TaskContext) -> Any:
    device = context.target
    name = default_depth_model()
    folder = locate.folder_for(context, name, "depth estimation", "depth-estimation")

    def load() -> Any:
        transformers = locate.require(context.command, "transformers")
        return transformers.pipeline("depth-estimation", model=str(folder), device=device)

    return context.models.load("model", ("depth-estimation", str(folder), device), load)


def _dtype(value: Any, device: str, command: str) -> Any:
    import torch

    if value is None:
        return torch.float16 if device.startswith(("cuda", "mps")) else torch.float32
    if isinstance(value, torch.dtype):
        return value
    found = getattr(torch, str(value).removeprefix("torch."), None)
    if not isinstance(found, torch.dtype):
        raise ValueError(f"task '{command}': 'dtype' {value!r} is not a torch dtype")
    return found


def _depth_image(estimator: Any, image: Image.Image) -> Image.Image:
    depth_map: Image.Image = estimator(image)["depth"].convert("RGB")
    return depth_map


def depth_estimator(arguments: Any, context: TaskContext) -> Any:
    values = take(context.command, arguments, {"image": REQUIRED, "dtype": None})
    _dtype(values["dtype"], context.target, context.command)  # checked, as for the tensor
    estimator = _estimator(context)
    return each_image(context.command, values["image"], lambda im: _depth_image(estimator, im))


def depth_estimator_tensor(arguments: Any, context: TaskContext) -> Any:
    import torch

    values = take(context.command, arguments, {"image": REQUIRED, "dtype": None})
    dtype = _dtype(values["dtype"], context.target, context.command)
    estimator = _estimator(context)

    def hint(image: Image.Image) -> Any:
        array = np.asarray(_depth_image(estimator, image), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
        return tensor.to(device=context.target, dtype=dtype)

    return each_image(context.command, values["image"], hint)


def depth(arguments: Any, context: TaskContext) -> Any:
    import torch

    values = take(context.command, arguments, {"image": REQUIRED, "height": 1024, "width": 1024})
    height = whole(context.command, "height", values["height"], minimum=1)
    width = whole(context.command, "width", values["width"], minimum=1)
    device = context.target
    folder = locate.folder_for(context, DPT_HYBRID, "DPT depth", "depth-estimation")

    def load() -> Any:
        transformers = locate.require(context.command, "transformers")
        model = transformers.DPTForDepthEstimation.from_pretrained(str(folder)).to(device)
        processor = transformers.DPTImageProcessor.from_pretrained(str(folder))
        return DepthModel(model.eval(), processor)

    loaded = context.models.load("model", ("depth", str(folder), device), load)

    def estimate(image: Image.Image) -> Image.Image:
        pixels = loaded.processor(images=image.convert("RGB"), return_tensors="pt").pixel_values
        with torch.no_grad():
            predicted = loaded.model(pixels.to(device)).predicted_depth
        resized = torch.nn.functional.interpolate(
            predicted.unsqueeze(1), size=(height, width), mode="bicubic", align_corners=False
        )
        low, high = resized.amin(), resized.amax()
        normalised = (resized - low) / (high - low).clamp(min=1e-8)
        array = normalised[0, 0].clamp(0, 1).cpu().numpy()
        grey = np.rint(array * 255.0).astype(np.uint8)
        return Image.fromarray(np.stack([grey] * 3, axis=-1))

    return each_image(context.command, values["image"], estimate)


class DepthModel:
    """A DPT model and its image processor, cached together."""

    def __init__(self, model: Any, processor: Any) -> None:
        self.model = model
        self.processor = processor


COMMANDS: dict[str, Handler] = {
    "depth_estimator": depth_estimator,
    "depth_estimator_tensor": depth_estimator_tensor,
    "depth": depth,
}
