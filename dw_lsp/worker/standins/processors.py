"""Stand-in multimodal processors that transformers cannot build without torchvision.

transformers builds every video processor on torchvision, which has no build for the torch
this project pins on a CPU; a processor that declares a video part (Qwen3-VL's, Gemma 4's)
therefore cannot even be constructed here, although the pipelines we stand in only use its
tokenizer and image processor. Those classes here are the library's processor with the video
part taken out of its constructor (transformers derives a processor's parts from that signature),
so it saves and loads with ``save_pretrained`` / ``from_pretrained`` like the original, passes
``isinstance`` checks against it, and uses a PIL image processor. Pixtral's processor (Flux
2 dev's tokenizer) cannot even be imported without torchvision: its stand-in is a processor of
the same parts and layout built here on ``ProcessorMixin``.

A stand-in saved with one of these classes records this module as the class's library (a
modular index's ``type_hint``, a pipeline's ``model_index.json``); diffusers resolves such a
library from ``sys.modules`` only, so whoever loads a stand-in that names one imports this
module first (``resolve_class`` in :mod:`.build` finds these classes by name, and
:mod:`.modular` and :func:`.store.pipeline_dir` import it before a load).
Imports transformers; only the stand-in builders import this module, never the executor.
"""

from __future__ import annotations

from typing import Any

from transformers import ProcessorMixin, Qwen3VLProcessor

__all__ = ["PixtralImageTextProcessor", "Qwen3VLImageTextProcessor"]

#: Pixtral's image tokens: one per patch, the end of a row, the end of the image.
PIXTRAL_IMAGE_TOKENS = ("[IMG]", "[IMG_BREAK]", "[IMG_END]")


class Qwen3VLImageTextProcessor(Qwen3VLProcessor):
    """Qwen3-VL's processor with its image processor and tokenizer only."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        parts = (image_processor, tokenizer, None)  # no video processor
        super().__init__(*parts, chat_template=chat_template, **kwargs)  # type: ignore[no-untyped-call]


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
