"""Stand-in processors for the transformers ones this CPU cannot build: their video part
(or, for SAM 2, their image processor) is built on torchvision.

transformers builds every video processor on torchvision, which has no build for the torch
this project pins on a CPU; a processor that declares a video part (Qwen3-VL's, Gemma 4's)
therefore cannot even be constructed here, although the pipelines we stand in use little or
nothing of that part. Each class here is the library's processor with the video part taken out
of its constructor (transformers derives a processor's parts from that signature), so it saves
and loads with ``save_pretrained`` / ``from_pretrained`` like the original, passes
``isinstance`` checks against it, and uses a PIL image processor. Where a pipeline does patch
a video (MiniMax H3's video references), :class:`FramePatchVideoProcessor` does it with the
image processor. Pixtral's processor (Flux 2 dev's tokenizer) cannot even be imported
without torchvision: its stand-in is a processor of the same parts and layout built here on
``ProcessorMixin``.

``AutoProcessor`` finds a processor by the class name its saved ``processor_config.json``
records, among transformers' own classes and those registered with it; importing this module
registers the classes here under their own names (a name no real model's config uses), so
``AutoProcessor.from_pretrained`` of a stand-in folder loads them, and nothing else changes.

A stand-in saved with one of these classes records this module as the class's library (a
modular index's ``type_hint``, a pipeline's ``model_index.json``); diffusers resolves such a
library from ``sys.modules`` only, so whoever loads a stand-in that names one imports this
module first (``resolve_class`` in :mod:`.build` finds these classes by name, and
:mod:`.modular` and :func:`.store.pipeline_dir` import it before a load).
Imports transformers; only the stand-in builders import this module, never the executor.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from transformers import (
    AutoImageProcessor,
    AutoProcessor,
    BatchFeature,
    Gemma4Processor,
    ProcessorMixin,
    Qwen2VLProcessor,
    Qwen3VLProcessor,
    Sam2Processor,
)
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import get_size_dict
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import ImagesKwargs
from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

__all__ = [
    "Gemma4ImageTextProcessor",
    "PixtralImageTextProcessor",
    "Qwen2VLImageTextProcessor",
    "Qwen3VLImageTextProcessor",
    "Sam2PilImageProcessor",
    "Sam2PilProcessor",
]

#: Pixtral's image tokens: one per patch, the end of a row, the end of the image.
PIXTRAL_IMAGE_TOKENS = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")


class FramePatchVideoProcessor:
    """Qwen-VL's video patching done by the image processor, frame by frame, for the
    pre-sampled frame stacks a pipeline hands over (``do_sample_frames=False``): each frame
    is resized, normalised and cut into patches as an image would be, and each run of
    ``temporal_patch_size`` frames (the last repeated to fill a run) becomes one temporal
    patch, so ``video_grid_thw`` and ``pixel_values_videos`` have the real layout."""

    def __init__(self, image_processor: Any) -> None:
        self.image_processor = image_processor
        self.temporal_patch_size = int(image_processor.temporal_patch_size)
        self.patch_size = int(image_processor.patch_size)
        self.merge_size = int(image_processor.merge_size)

    def __call__(
        self, videos: Any, return_tensors: str | None = None, **_options: Any
    ) -> BatchFeature:
        step = self.temporal_patch_size
        patches: list[np.ndarray] = []
        grids: list[list[int]] = []
        for video in videos:
            frames = list(np.asarray(video))
            frames += [frames[-1]] * (-len(frames) % step)
            features = self.image_processor(images=frames, return_tensors="np")
            grid = features["image_grid_thw"][0]
            rows = int(grid[1] * grid[2])
            # One frame's patches repeat the frame over the temporal axis: keep one copy.
            single = features["pixel_values"].reshape(len(frames), rows, 3, step, -1)[:, :, :, 0]
            grouped = single.reshape(len(frames) // step, step, rows, 3, -1)
            patches.append(
                grouped.transpose(0, 2, 3, 1, 4).reshape(-1, 3 * step * single.shape[-1])
            )
            grids.append([len(frames) // step, int(grid[1]), int(grid[2])])
        data = {
            "pixel_values_videos": np.concatenate(patches, axis=0),
            "video_grid_thw": np.array(grids, dtype=np.int64),
        }
        return BatchFeature(data=data, tensor_type=return_tensors)


class _WithoutVideoPart:
    """A Qwen-VL processor's constructor without its video part: the library's takes
    ``(image_processor, tokenizer, video_processor, chat_template)``; this one passes None for
    the video processor, and its signature (which transformers reads the parts from) leaves
    it out."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)  # type: ignore[call-arg]


class Qwen3VLImageTextProcessor(_WithoutVideoPart, Qwen3VLProcessor):
    """Qwen3-VL's processor with its image processor and tokenizer only; its video
    processor is :class:`FramePatchVideoProcessor` over the image processor."""

    @property
    def video_processor(self) -> FramePatchVideoProcessor:
        return FramePatchVideoProcessor(self.image_processor)

    @video_processor.setter
    def video_processor(self, _value: Any) -> None:
        """Nothing to set: the video part follows the image processor."""


class Qwen2VLImageTextProcessor(_WithoutVideoPart, Qwen2VLProcessor):
    """Qwen2-VL's processor (Qwen-Image-Edit's) with its image processor and tokenizer only."""


class _WithoutAbsentParts(ProcessorMixin):
    """Drops the parts a subclass's constructor leaves out (passed as None by the library
    processor's own constructor, which names every part as a keyword) before the base
    constructor, which accepts only the parts that signature declares."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        parts = set(self.get_attributes())  # type: ignore[no-untyped-call]
        kept = {k: v for k, v in kwargs.items() if v is not None or k in parts}
        super().__init__(*args, **kept)  # type: ignore[no-untyped-call]


class Gemma4ImageTextProcessor(Gemma4Processor, _WithoutAbsentParts):
    """Gemma 4's processor with its image processor and tokenizer only (no video processor,
    no audio feature extractor). The tokenizer names Gemma 4's image and audio tokens
    (``image_token``, ``boi_token`` ...), which the processor reads."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            None, image_processor, tokenizer, None, chat_template=chat_template, **kwargs
        )


class PixtralImageTextProcessor(ProcessorMixin):
    """Pixtral's processor (Mistral 3's, the tokenizer of Flux 2 dev): transformers' own class
    cannot even be imported here, its module pulling in the torchvision image processor for
    one size helper. This one has the same parts (a tokenizer and an image processor, the PIL
    one in a stand-in) and the same constructor arguments, and lays an image out as Pixtral
    does: one ``[IMG]`` per patch, ``[IMG_BREAK]`` after each row, ``[IMG_END]`` last."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        patch_size: int = 16,
        spatial_merge_size: int = 1,
        chat_template: str | None = None,
        image_token: str = PIXTRAL_IMAGE_TOKENS[0],
        image_break_token: str = PIXTRAL_IMAGE_TOKENS[1],
        image_end_token: str = PIXTRAL_IMAGE_TOKENS[2],
        **kwargs: Any,
    ) -> None:
        parts = (image_processor, tokenizer)
        super().__init__(*parts, chat_template=chat_template)  # type: ignore[no-untyped-call]
        self.patch_size = patch_size
        self.spatial_merge_size = spatial_merge_size
        self.image_token = image_token
        self.image_break_token = image_break_token
        self.image_end_token = image_end_token
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token)

    @property
    def _step(self) -> int:
        """The side, in pixels, of the square one image token stands for."""
        return int(self.patch_size) * int(self.spatial_merge_size)

    def _process_images(self, images: Any, **kwargs: Any) -> Any:
        return super()._process_images(images, **{**kwargs, "patch_size": self._step})

    def replace_image_token(
        self, image_inputs: dict[str, Any], image_idx: int, **kwargs: Any
    ) -> str:
        height, width = image_inputs["image_sizes"][image_idx]
        rows = [self.image_token * (int(width) // self._step)] * (int(height) // self._step)
        return self.image_break_token.join(rows) + self.image_end_token


AutoProcessor.register(  # type: ignore[no-untyped-call]
    Gemma4ImageTextProcessor.__name__, Gemma4ImageTextProcessor, exist_ok=True
)


# -- SAM 2 (``segment``) ------------------------------------------------------------------------
# Not a video part here: transformers has SAM 2's image processor on torchvision only, so the
# stand-in's processor is SAM 2's over a PIL image processor of ours, which is registered with
# AutoImageProcessor by its name as the processor is with AutoProcessor (a stand-in folder
# records both names; real folders name transformers' classes and are left to them).


class _Sam2Kwargs(ImagesKwargs, total=False):
    """SAM 2's image options beyond the common ones: the size its mask labels are resized to."""

    mask_size: dict[str, int]


class Sam2PilImageProcessor(PilBackend):
    """SAM 2's image processing for still images on PIL and numpy (transformers builds its
    only SAM 2 image processor on torchvision): each image is resized to the configured
    square, rescaled and normalised with ImageNet's statistics into ``pixel_values``, and
    its size before resizing is kept as ``original_sizes`` (height, width), the outputs of
    the library's processor. :meth:`post_process_masks` upsamples the decoder's masks to
    those sizes and binarises them, as the library's does. Segmentation maps (training
    labels) are not supported."""

    valid_kwargs = _Sam2Kwargs
    resample = PILImageResampling.BILINEAR
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size: ClassVar[dict[str, int]] = {"height": 1024, "width": 1024}
    mask_size: ClassVar[dict[str, int]] = {"height": 256, "width": 256}
    do_resize = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def __init__(self, **kwargs: Any) -> None:
        """Takes SAM 2's own options too (``mask_size``), which the base's typed signature
        does not list."""
        super().__init__(**kwargs)

    def preprocess(self, images: Any, segmentation_maps: Any = None, **kwargs: Any) -> BatchFeature:
        if segmentation_maps is not None:
            raise ValueError(f"{type(self).__name__} does not process segmentation maps")
        return super().preprocess(images, **kwargs)  # type: ignore[no-any-return]

    def _standardize_kwargs(  # type: ignore[override]
        self, mask_size: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        if mask_size is not None and not isinstance(mask_size, SizeDict):
            mask_size = SizeDict(**get_size_dict(mask_size, param_name="mask_size"))
        standard: dict[str, Any] = super()._standardize_kwargs(**kwargs)
        standard["mask_size"] = mask_size
        return standard

    def _preprocess_image_like_inputs(  # type: ignore[override]
        self, images: Any, do_convert_rgb: bool, input_data_format: Any, **kwargs: Any
    ) -> BatchFeature:
        prepared = self._prepare_image_like_inputs(
            images=images, do_convert_rgb=do_convert_rgb, input_data_format=input_data_format
        )
        original_sizes = [list(image.shape[-2:]) for image in prepared]
        return_tensors = kwargs.pop("return_tensors", None)
        kwargs.pop("device", None)
        pixels = self._preprocess(prepared, return_tensors=None, **kwargs)["pixel_values"]
        data = {"pixel_values": np.stack(pixels), "original_sizes": original_sizes}
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_masks(
        self,
        masks: Any,
        original_sizes: Any,
        mask_threshold: float = 0.0,
        binarize: bool = True,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
        apply_non_overlapping_constraints: bool = False,
        **_kwargs: Any,
    ) -> list[Any]:
        """Each image's masks (objects, masks, height, width) upsampled bilinearly to its
        original size and, with ``binarize``, compared with ``mask_threshold``; like the
        library's, holes and sprinkles are not filled (its areas are accepted and unused)."""
        import torch
        import torch.nn.functional as F

        if isinstance(original_sizes, torch.Tensor | np.ndarray):
            original_sizes = original_sizes.tolist()
        upsampled = []
        for index, size in enumerate(original_sizes):
            mask = masks[index]
            if isinstance(mask, np.ndarray):
                mask = torch.from_numpy(mask)
            elif not isinstance(mask, torch.Tensor):
                raise TypeError("masks must be a list of torch tensors or numpy arrays")
            mask = F.interpolate(mask, [int(s) for s in size], mode="bilinear", align_corners=False)
            if apply_non_overlapping_constraints and mask.shape[0] > 1:
                # keep each location to the best-scoring object: push the others' scores down
                best = mask.argmax(dim=0, keepdim=True)
                objects = torch.arange(mask.shape[0], device=mask.device)[:, None, None, None]
                mask = torch.where(best == objects, mask, mask.clamp(max=-10.0))
            upsampled.append(mask > mask_threshold if binarize else mask)
        return upsampled


class Sam2PilProcessor(Sam2Processor):
    """SAM 2's processor over :class:`Sam2PilImageProcessor`: box and point coordinates are
    scaled to the model's input size by the library's own code (``target_size``, the
    image processor's height unless given)."""


AutoImageProcessor.register(
    Sam2PilImageProcessor.__name__,
    image_processor_classes={"pil": Sam2PilImageProcessor},
    exist_ok=True,
)
AutoProcessor.register(  # type: ignore[no-untyped-call]
    Sam2PilProcessor.__name__, Sam2PilProcessor, exist_ok=True
)
