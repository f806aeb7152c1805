"""``remove_background`` (FORMAT.md section 2): briaai/RMBG-2.0 through transformers.

RMBG-2.0 ships its model code with its weights, so it loads only with ``trust_remote_code``,
and this worker runs a model's own code only in a run that allows remote code
(``worker.allowRemoteCode``, DESIGN.md "Security"); otherwise the command is refused, naming the
setting. The model comes from a local folder or the local Hugging Face cache (:mod:`locate`)
and is kept warm per device. The image is resized to 1024 x 1024 and normalised with the
ImageNet mean and deviation; the last output's sigmoid, resized back, becomes the alpha
channel of a copy of the image. Imports torch and transformers only when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import (
    REQUIRED,
    Handler,
    TaskContext,
    TaskUnavailable,
    each_image,
    take,
)

RMBG = "briaai/RMBG-2.0"
SIDE = 1024
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DEVIATION = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _model(context: TaskContext) -> Any:
    if not context.allow_remote_code:
        raise TaskUnavailable(
            f"task '{context.command}' runs {RMBG}, whose model code comes with its weights "
            "(trust_remote_code); this run does not allow a model's own code: allow it "
            "explicitly (the worker.allowRemoteCode setting, or dw-lsp run --allow-remote-code)"
        )
    device = context.target

    def load() -> Any:
        folder = locate.model_folder(context.command, RMBG, context.base_dir, "background removal")
        transformers = locate.require(context.command, "transformers")
        model = transformers.AutoModelForImageSegmentation.from_pretrained(
            str(folder),
            trust_remote_code=True,
        )
        return model.to(device).eval()

    return context.models.load("model", ("remove_background", RMBG, device), load)


def _cut_out(model: Any, image: Image.Image) -> Image.Image:
    import torch

    resized = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    array = (np.asarray(resized, dtype=np.float32) / 255.0 - MEAN) / DEVIATION
    pixels = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    parameter = next(model.parameters())
    with torch.no_grad():
        outputs = model(pixels.to(device=parameter.device, dtype=parameter.dtype))
    prediction = outputs[-1].sigmoid()[0].squeeze().float().cpu().numpy()
    mask = Image.fromarray(np.rint(np.clip(prediction, 0, 1) * 255).astype(np.uint8), "L")
    result = image.copy()
    result.putalpha(mask.resize(image.size, Image.Resampling.BILINEAR))
    return result


def remove_background(arguments: Any, context: TaskContext) -> Any:
    values = take(context.command, arguments, {"image": REQUIRED})
    model = _model(context)
    return each_image(context.command, values["image"], lambda image: _cut_out(model, image))


COMMANDS: dict[str, Handler] = {"remove_background": remove_background}
