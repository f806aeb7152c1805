"""``segment`` (FORMAT.md section 2): text-prompted masks with Grounding DINO and SAM 2,
through transformers.

Grounding DINO (``model_name``) finds the boxes of what ``prompt`` names, above
``threshold``; SAM 2 (``sam_model_name``) turns the boxes into masks, which are united into
one mask image (mode ``L``: white where found), inverted on ``invert``. No box gives an
all-black mask without loading SAM 2. Both models come from local folders or the local
Hugging Face cache (:mod:`locate`) and are kept warm per device. Imports torch and
transformers only when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageOps

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import (
    REQUIRED,
    Handler,
    TaskContext,
    TaskUnavailable,
    as_image,
    number,
    take,
)

DETECTOR = "IDEA-Research/grounding-dino-base"
SAM = "facebook/sam2-hiera-large"


#: The model class -> the kind of model a stand-in run builds for it.
KINDS = {
    "AutoModelForZeroShotObjectDetection": "zero-shot-object-detection",
    "Sam2Model": "mask-generation",
}


def _cannot_import(command: str, processor: str, exc: Exception, what: str) -> Exception | None:
    """The error for a processor that cannot load for a missing package, or None (``exc``
    is another error). transformers names a backend a processor lacks in the message, not in
    ``name``: in an ImportError, or a ValueError when a saved one's image processor has no
    class that imports."""
    if getattr(exc, "name", None) is None and "torchvision" in str(exc).lower():
        return TaskUnavailable(
            f"task '{command}' ({what}): transformers' {processor} needs torchvision, which "
            "is not installed here (pip install torchvision, built for this torch)"
        )
    if isinstance(exc, ImportError):
        return locate.unimportable(command, "transformers", exc, what)
    return None


class Loaded:
    """A model and its processor, cached together."""

    def __init__(self, processor: Any, model: Any) -> None:
        self.processor = processor
        self.model = model


def _load(context: TaskContext, role: str, name: Any, kind: str, what: str) -> Loaded:
    device = context.target
    # The class a folder's processor config names (SAM 2's real one is Sam2Processor, a
    # stand-in's a registered PIL variant), loaded through AutoProcessor.
    processor_class = "Sam2Processor" if kind == "Sam2Model" else "AutoProcessor"
    folder = str(locate.folder_for(context, name, what, KINDS[kind]))

    def load() -> Loaded:
        transformers = locate.require(context.command, "transformers")
        try:
            processor = transformers.AutoProcessor.from_pretrained(folder)
        except (ImportError, ValueError) as exc:
            unavailable = _cannot_import(context.command, processor_class, exc, what)
            if unavailable is None:
                raise
            raise unavailable from exc
        model = getattr(transformers, kind).from_pretrained(folder)
        return Loaded(processor, model.to(device).eval())

    loaded: Loaded = context.models.load(role, (context.command, kind, folder, device), load)
    return loaded


def _mask(found: np.ndarray | None, size: tuple[int, int], invert: bool) -> Image.Image:
    if found is None:
        mask = Image.new("L", size, 0)
    else:
        mask = Image.fromarray(found.astype(np.uint8) * 255, "L")
    return ImageOps.invert(mask) if invert else mask


def segment(arguments: Any, context: TaskContext) -> Image.Image:
    import torch

    values = take(
        context.command,
        arguments,
        {
            "image": REQUIRED,
            "prompt": REQUIRED,
            "model_name": DETECTOR,
            "sam_model_name": SAM,
            "threshold": 0.3,
            "invert": False,
        },
    )
    command = context.command
    image = as_image(command, values["image"]).convert("RGB")
    if not isinstance(values["prompt"], str) or not values["prompt"].strip():
        raise ValueError(f"task '{command}': 'prompt' must name what to segment")
    threshold = number(command, "threshold", values["threshold"], minimum=0)
    invert = bool(values["invert"])
    width, height = image.size
    dino = _load(
        context, "detector", values["model_name"], "AutoModelForZeroShotObjectDetection", "detector"
    )
    device = next(dino.model.parameters()).device
    inputs = dino.processor(images=image, text=values["prompt"], return_tensors="pt").to(device)
    with torch.inference_mode():
        outputs = dino.model(**inputs)
    found = dino.processor.post_process_grounded_object_detection(
        outputs, inputs["input_ids"], threshold=threshold, target_sizes=[(height, width)]
    )[0]
    boxes = found["boxes"]
    if len(boxes) == 0:
        return _mask(None, (width, height), invert)
    sam = _load(context, "sam", values["sam_model_name"], "Sam2Model", "SAM 2")
    sam_inputs = sam.processor(
        images=image, input_boxes=[boxes.cpu().tolist()], return_tensors="pt"
    ).to(device)
    with torch.inference_mode():
        sam_outputs = sam.model(**sam_inputs)
    # SAM 2's processor resizes to a square without padding: the original sizes suffice
    masks = sam.processor.post_process_masks(sam_outputs.pred_masks, sam_inputs["original_sizes"])
    united = masks[0][:, 0].sum(dim=0).clamp(0, 1).cpu().numpy()
    return _mask(united > 0, (width, height), invert)


COMMANDS: dict[str, Handler] = {"segment": segment}
