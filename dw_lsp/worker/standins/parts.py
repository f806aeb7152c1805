"""The building blocks of the stand-in registry (:mod:`.registry`): what a part and a family
are, and the parts several families share (text encoders and their tokenizers, schedulers,
the image VAE). Pure data: imports only :mod:`.vocab`'s constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dw_lsp.worker.standins.vocab import CLIP_IDS, QWEN_IDS, T5_IDS, VOCAB_SIZE

#: Bump when a part's recipe changes in a way its config does not show.
VERSION = "1"


@dataclass(frozen=True)
class Part:
    """One component: a class name and the keyword arguments (the config) that build it."""

    cls: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    name: str
    pipelines: tuple[str, ...]
    parts: Mapping[str, Part]
    size: int = 32
    frames: int | None = None
    #: Parts replaced for one pipeline class (None: the argument is left to its default).
    variants: Mapping[str, Mapping[str, Part | None]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Parts for classes a workflow may name for a slot instead of the default one.
    alternatives: Mapping[str, Part] = field(default_factory=dict)
    #: Constructor arguments (not components) for one pipeline class.
    variant_extra: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Pipeline classes of the family the registry cannot build yet, and why.
    unsupported: Mapping[str, str] = field(default_factory=dict)
    #: The family's main pipeline class (benchmarks and the GPU check run it).
    example: str = ""
    #: Parts replaced for one pipeline class when it is loaded without its text encoders
    #: (every ``text_encoder*`` argument set to None): its prompt embeddings are then made
    #: elsewhere, as wide as the real encoders' (Flux Redux's prior hard-codes them).
    fed: Mapping[str, Mapping[str, Part | None]] = field(default_factory=dict)

    def parts_for(self, pipeline: str, fed: bool = False) -> dict[str, Part | None]:
        replaced = self.fed.get(pipeline, {}) if fed else {}
        return {**self.parts, **self.variants.get(pipeline, {}), **replaced}

    def is_fed(self, pipeline: str, arguments: Mapping[str, Any]) -> bool:
        """Does loading ``pipeline`` with ``arguments`` (``from_pretrained``'s) leave out
        every text encoder, so that the pipeline reads embeddings made elsewhere?"""
        if pipeline not in self.fed:
            return False
        encoders = [s for s in self.parts_for(pipeline) if s.startswith("text_encoder")]
        return bool(encoders) and all(s in arguments and arguments[s] is None for s in encoders)

    def extra_for(self, pipeline: str) -> dict[str, Any]:
        return {**self.extra, **self.variant_extra.get(pipeline, {})}


# -- text encoders and tokenizers ---------------------------------------------------------

CLIP_TEXT = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "projection_dim": 32,
    "hidden_act": "gelu",
    **CLIP_IDS,
}
T5_TEXT = {
    "vocab_size": VOCAB_SIZE,
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 37,
    "num_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 8,
    "dropout_rate": 0.0,
    **T5_IDS,
}
CLIP_TOKENIZER = Part("CLIPTokenizer")
T5_TOKENIZER = Part("T5Tokenizer", {"model_max_length": 512})
QWEN_TOKENIZER = Part("Qwen2Tokenizer", {"model_max_length": 1024})
GEMMA_TOKENIZER = Part("GemmaTokenizer", {"model_max_length": 1024})
LLAMA_TOKENIZER = Part("LlamaTokenizer", {"model_max_length": 512})
QWEN3_TEXT = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 16,
    "intermediate_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "max_position_embeddings": 1024,
    "pad_token_id": QWEN_IDS["pad_token_id"],
    "eos_token_id": QWEN_IDS["eos_token_id"],
}

# -- schedulers and VAEs ---------------------------------------------------------------------

FLOW_MATCH = Part("FlowMatchEulerDiscreteScheduler")
SD_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "steps_offset": 1,
}


def image_vae(latent_channels: int = 4, **more: Any) -> Part:
    """An image VAE with the real 8x spatial compression (so sizes and divisibility behave
    as with the real model) and tiny, attention-free blocks (a 1024 px input stays cheap)."""
    return Part(
        "AutoencoderKL",
        {
            "in_channels": 3,
            "out_channels": 3,
            "block_out_channels": (4, 4, 4, 4),
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "layers_per_block": 1,
            "latent_channels": latent_channels,
            "norm_num_groups": 1,
            "mid_block_add_attention": False,
            "sample_size": 32,
            **more,
        },
    )


SD_VAE = image_vae()
