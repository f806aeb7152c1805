"""Stand-ins for modular pipelines (``component_type: ModularPipeline``).

A modular pipeline's class and components come from its repository's
``modular_model_index.json``, not from the class the workflow names, so its stand-in is
chosen by the repository the workflow loads (:data:`MODULAR`, keyed by hub id): the blocks
class diffusers assembles the pipeline from, and a part for each component. The stand-in is
built with the blocks' own ``init_pipeline`` and ``update_components`` and saved with
``save_pretrained``, so ``ModularPipeline.from_pretrained`` and ``load_components`` read it
as they would the real repository.

* MiniMax Music 3 (``MiniMaxAI/MiniMax-Music3``): a Qwen 3 language model whose vocabulary
  reaches the checkpoint's audio codes (its blocks sample them at fixed ids past 151675),
  with 8 layers for the condition encoder's 8 stacked hidden states; a depth decoder, a 1-D
  flow transformer and a vocoder of a few thousand weights each; the tokenizer knows the
  prompt's special tags.
* MiniMax H3 has no entry: its Qwen3-VL processor needs torchvision (not installed here).

Pure data at the top; building imports the libraries lazily. Never the executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from dw_lsp.worker.loading import tiny
from dw_lsp.worker.standins.build import build_part, resolve_class
from dw_lsp.worker.standins.parts import FLOW_MATCH, QWEN_TOKENIZER, Part
from dw_lsp.worker.standins.store import MARKER, _digest, _finish, _part_json, root
from dw_lsp.worker.standins.vocab import QWEN_IDS


class ModularStandIn(NamedTuple):
    """The blocks class of a modular repository, its parts and the tokenizer's extra tags."""

    blocks: str
    parts: dict[str, Part]
    special_tokens: tuple[str, ...] = ()


MUSIC3_HIDDEN = 16
MODULAR: dict[str, ModularStandIn] = {
    "MiniMaxAI/MiniMax-Music3": ModularStandIn(
        "MiniMaxMusic3Blocks",
        {
            "tokenizer": QWEN_TOKENIZER,
            "language_model": Part(
                "Qwen3ForCausalLM",
                {
                    "vocab_size": 151675 + 16384,  # the audio codes' offset + their count
                    "hidden_size": MUSIC3_HIDDEN,
                    "intermediate_size": 16,
                    "num_hidden_layers": 8,
                    "num_attention_heads": 2,
                    "num_key_value_heads": 2,
                    "head_dim": 8,
                    "max_position_embeddings": 4096,
                    "tie_word_embeddings": True,
                    "pad_token_id": QWEN_IDS["pad_token_id"],
                    "eos_token_id": QWEN_IDS["eos_token_id"],
                },
            ),
            "rvq_depth_decoder": Part(
                "MiniMaxMusic3RVQDepthDecoder",
                {
                    "hidden_size": MUSIC3_HIDDEN,
                    "num_layers": 1,
                    "num_attention_heads": 2,
                    "intermediate_size": 16,
                    "audio_vocab_size": 16,
                    "num_codebooks": 8,
                    "max_position_embeddings": 16,
                },
            ),
            # The sizes of diffusers' own condition-encoder test.
            "condition_encoder": Part(
                "MiniMaxMusic3ConditionEncoder",
                {
                    "condition_hidden_dim": MUSIC3_HIDDEN,
                    "num_condition_layers": 8,
                    "out_dim": 16,
                    "input_sampling_rate": 24000,
                    "input_hop_length": 960,
                    "output_sampling_rate": 44100,
                    "output_hop_length": 512,
                },
            ),
            "transformer": Part(
                "MiniMaxMusic3Transformer1DModel",
                {
                    "in_channels": 8,
                    "condition_dim": 16,
                    "num_layers": 1,
                    "num_attention_heads": 2,
                    "attention_head_dim": 8,
                    "ff_inner_dim": 16,
                    "rotary_dim": 4,
                    "fourier_embedding_dim": 8,
                },
            ),
            "scheduler": FLOW_MATCH,
            "vocoder": Part(
                "MiniMaxMusic3Vocoder",
                {
                    "latent_channels": 8,
                    "decoder_input_dim": 16,
                    "decoder_hidden_dim": 16,
                    "upsampling_ratios": (8, 8, 4, 2),  # 512 samples a latent, as the real one
                    "sampling_rate": 44100,
                },
            ),
        },
        special_tokens=tuple(
            f"<|{tag}|>"
            for tag in (
                "im_start",
                "im_end",
                "caption_start",
                "caption_end",
                "lyrics_start",
                "lyrics_end",
                "audio_start",
            )
        ),
    ),
}


def stand_in_for(source: str) -> ModularStandIn | None:
    """The modular stand-in of the repository ``source`` names (a hub id), or None."""
    return MODULAR.get(source.strip("/"))


def modular_dir(source: str) -> Path:
    """The folder of the stand-in of modular repository ``source`` (a LookupError when the
    registry has none)."""
    entry = stand_in_for(source)
    if entry is None:
        known = ", ".join(sorted(MODULAR))
        raise LookupError(
            f"no stand-in for the modular pipeline of {source!r} (modular stand-ins: {known}); "
            "add one to dw_lsp/worker/standins/modular.py"
        )
    payload = {
        "modular": source,
        "blocks": entry.blocks,
        "parts": {slot: _part_json(part) for slot, part in entry.parts.items()},
        "special_tokens": list(entry.special_tokens),
    }
    target = root() / f"modular-{entry.blocks}-{_digest(payload)}"

    def save(folder: Path) -> None:
        components: dict[str, Any] = {}
        for slot, part in entry.parts.items():
            components[slot] = build_part(part)
        tokenizer = components.get("tokenizer")
        if tokenizer is not None and entry.special_tokens:
            tokenizer.add_special_tokens({"additional_special_tokens": list(entry.special_tokens)})
        pipe = resolve_class(entry.blocks)().init_pipeline()
        pipe.update_components(**components)
        pipe.save_pretrained(str(folder), overwrite_modular_index=True)
        _finish(folder, payload)

    return tiny.materialize_with(target, MARKER, save)
