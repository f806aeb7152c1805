"""``segmentation`` (FORMAT.md section 2): a semantic map, as dw makes it.

UperNet on ConvNeXt (``openmmlab/upernet-convnext-small``, through transformers'
``AutoImageProcessor`` and ``UperNetForSemanticSegmentation``) labels every pixel with one of
ADE20K's 150 classes; the labels, post-processed back to the image's size, are painted with
the ADE20K palette ControlNet's segmentation models were trained on (controlnet_aux's
``ade_palette``). Returns an RGB image of the input's size (each frame of a list, in turn).
The model comes from a local folder or the local Hugging Face cache (:mod:`locate`), or a
stand-in run's stand-in, and is kept warm per device. Imports torch, transformers and
controlnet_aux only when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, each_image, take
from dw_lsp.worker.tasks.detectors import Detector, detector_class

UPERNET = "openmmlab/upernet-convnext-small"


class Segmenter:
    """An image processor, the UperNet model and the palette, cached together."""

    def __init__(self, processor: Any, model: Any, palette: np.ndarray) -> None:
        self.processor = processor
        self.model = model
        self.palette = palette


def _load(context: TaskContext) -> Segmenter:
    device = context.target
    folder = str(
        locate.folder_for(context, UPERNET, "semantic segmentation", "semantic-segmentation")
    )

    def load() -> Segmenter:
        palette = detector_class(context.command, Detector("ade_palette", "util"))()
        transformers = locate.require(context.command, "transformers")
        processor = transformers.AutoImageProcessor.from_pretrained(folder)
        model = transformers.UperNetForSemanticSegmentation.from_pretrained(folder)
        return Segmenter(processor, model.to(device).eval(), np.asarray(palette, np.uint8))

    loaded: Segmenter = context.models.load("model", (context.command, folder, device), load)
    return loaded


def paint(labels: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Each label's palette colour (labels past the palette stay black)."""
    colours = np.zeros((max(int(labels.max()) + 1, len(palette)), 3), np.uint8)
    colours[: len(palette)] = palette
    return Image.fromarray(colours[labels], "RGB")


def segmentation(arguments: Any, context: TaskContext) -> Any:
    import torch

    values = take(context.command, arguments, {"image": REQUIRED})
    segmenter = _load(context)
    device = next(segmenter.model.parameters()).device

    def segment(image: Image.Image) -> Image.Image:
        picture = image.convert("RGB")
        pixels = segmenter.processor(picture, return_tensors="pt").pixel_values.to(device)
        with torch.no_grad():
            outputs = segmenter.model(pixels)
        labels = segmenter.processor.post_process_semantic_segmentation(
            outputs, target_sizes=[picture.size[::-1]]
        )[0]
        return paint(labels.cpu().numpy().astype(np.int64), segmenter.palette)

    return each_image(context.command, values["image"], segment)


COMMANDS: dict[str, Handler] = {"segmentation": segmentation}
