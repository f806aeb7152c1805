"""The stand-in registry: plain data, keyed by family and by class name.

A :class:`Family` covers the pipeline classes whose names it matches (``"Flux*"`` is a
prefix; the longest matching pattern wins, so ``"Flux2*"`` beats ``"Flux*"``) and gives, for
each constructor argument of those pipelines, the :class:`Part` that stands in for it: a
class name (diffusers or transformers) and its tiny config. ``variants`` replace parts for
one pipeline class (Flux Fill's transformer takes more input channels); ``extra`` gives
constructor arguments that are not components. ``size`` is the smallest image side the
family's pipelines accept, ``frames`` the fewest frames (video families).
:data:`STANDALONE` gives parts for classes loaded on their own, outside any family.

Dimensions are facts taken from the diffusers and transformers test suites' dummy
components, kept as small as the code allows (most parts weigh under a few hundred KB; a
few whose norms fix 32 channels weigh a few MB; Flux Redux's image embedder, whose width the
pipeline hard-codes, 194 MiB); real compression factors and the pipelines'
default lengths are kept where a workflow's sizes depend on them. Text encoders use the ids
of :mod:`.vocab`. The families themselves live in :mod:`.families_image` and
:mod:`.families_video`, their shared parts in :mod:`.parts`; adding a family is one entry
there and its name in :data:`FAMILIES`. Pure data.
"""

from __future__ import annotations

from dw_lsp.worker.standins.families_image import (
    FLUX,
    FLUX2,
    KANDINSKY3,
    KREA2,
    MARIGOLD,
    QWEN_IMAGE,
    SD3,
    SD15,
    SDXL,
    ZIMAGE,
)
from dw_lsp.worker.standins.families_video import (
    COGVIDEOX,
    HUNYUAN_VIDEO,
    LTX,
    LTX2,
    MOCHI,
    STABLE_AUDIO,
    SVD,
    WAN,
)
from dw_lsp.worker.standins.parts import (
    CLIP_TEXT,
    CLIP_TOKENIZER,
    GEMMA_TOKENIZER,
    LLAMA_TOKENIZER,
    QWEN3_TEXT,
    QWEN_TOKENIZER,
    SD_VAE,
    T5_TEXT,
    T5_TOKENIZER,
    VERSION,
    Family,
    Part,
)

FAMILIES: tuple[Family, ...] = (
    SD15,
    SDXL,
    SD3,
    FLUX,
    ZIMAGE,
    WAN,
    COGVIDEOX,
    MOCHI,
    HUNYUAN_VIDEO,
    QWEN_IMAGE,
    SVD,
    KANDINSKY3,
    STABLE_AUDIO,
    MARIGOLD,
    KREA2,
    LTX,
    LTX2,
    FLUX2,
)

#: Parts for classes loaded outside a family's pipeline (a component block whose pipeline
#: class no family covers, or a class a family has no slot for).
STANDALONE: dict[str, Part] = {
    "CLIPTextModel": Part("CLIPTextModel", CLIP_TEXT),
    "CLIPTextModelWithProjection": Part("CLIPTextModelWithProjection", CLIP_TEXT),
    "T5EncoderModel": Part("T5EncoderModel", T5_TEXT),
    "UMT5EncoderModel": Part("UMT5EncoderModel", T5_TEXT),
    "CLIPTokenizer": CLIP_TOKENIZER,
    "T5Tokenizer": T5_TOKENIZER,
    "Qwen2Tokenizer": QWEN_TOKENIZER,
    "GemmaTokenizer": GEMMA_TOKENIZER,
    "LlamaTokenizer": LLAMA_TOKENIZER,
    "AutoencoderKL": SD_VAE,
    # Auto classes outside a family: a small chat model (transformers' text-generation
    # pipelines built from components).
    "AutoModelForCausalLM": Part("Qwen3ForCausalLM", QWEN3_TEXT),
    "AutoTokenizer": QWEN_TOKENIZER,
}

__all__ = [
    "FAMILIES",
    "STANDALONE",
    "VERSION",
    "Family",
    "Part",
]
