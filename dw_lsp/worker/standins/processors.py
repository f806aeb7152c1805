"""Stand-in multimodal processors that leave out their video part.

transformers builds every video processor on torchvision, which has no build for the torch
this project pins on a CPU; a processor that declares a video part (Qwen3-VL's, Gemma 4's)
therefore cannot even be constructed here, although the pipelines we stand in only use its
tokenizer and image processor. Each class here is the library's processor with the video part
taken out of its constructor (transformers derives a processor's parts from that signature),
so it saves and loads with ``save_pretrained`` / ``from_pretrained`` like the original, passes
``isinstance`` checks against it, and uses a PIL image processor.

A stand-in saved with one of these classes records this module as the class's library (a
modular index's ``type_hint``); diffusers resolves such a library from ``sys.modules`` only,
so whoever loads a stand-in that names one imports this module first (``resolve_class`` in
:mod:`.build` finds these classes by name, and :mod:`.modular` imports it before a load).
Imports transformers; only the stand-in builders import this module, never the executor.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen3VLProcessor

__all__ = ["Qwen3VLImageTextProcessor"]


class Qwen3VLImageTextProcessor(Qwen3VLProcessor):
    """Qwen3-VL's processor with its image processor and tokenizer only."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

