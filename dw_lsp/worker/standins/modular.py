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

from dw_lsp.worker.standins import store
from dw_lsp.worker.standins.build import build_part, resolve_class
from dw_lsp.worker.standins.parts import FLOW_MATCH, QWEN_TOKENIZER, Part
from dw_lsp.worker.standins.store import _digest, _finish, _part_json, root
from dw_lsp.worker.standins.vocab import QWEN_IDS, VOCAB_SIZE


class ModularStandIn(NamedTuple):
    """The blocks class of a modular repository, its parts and the tokenizer's extra tags."""

    blocks: str
    parts: dict[str, Part]
    special_tokens: tuple[str, ...] = ()
    #: Values of the blocks' config specs, saved in the modular index (the canvas sizes a
    #: pipeline derives from them, scaled down as the models are).
    config: tuple[tuple[str, Any], ...] = ()


MUSIC3_HIDDEN = 16
#: MiniMax H3 reads the Qwen3-VL conditioner's hidden state after layer 50 (a fixed property
#: of its pipeline), so its stand-in conditioner has 51 layers, each a few thousand weights.
H3_TEXT_LAYERS = 51
H3_TEXT_HIDDEN = 16
H3_LATENT = 4
H3_AUDIO_LATENT = 8
H3_TRANSFORMER = Part(
    "MiniMaxH3Transformer3DModel",
    # The sizes of diffusers' own transformer test, the text width our conditioner's.
    {
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "hidden_size": 24,
        "num_layers": 2,
        "num_refiner_layers": 2,
        "ffn_dim": 32,
        "in_channels": H3_LATENT,
        "audio_in_channels": H3_AUDIO_LATENT,
        "patch_size": (1, 2, 2),
        "text_dim": H3_TEXT_HIDDEN,
        "freq_dim": 8,
        "time_embed_hidden_dim": 24,
        "time_embed_dim": 16,
        "rope_freq_dim": 2,
    },
)
H3_PROCESSOR = Part(
    "Qwen3VLImageTextProcessor",
    {
        "tokenizer": ("Qwen2TokenizerFast", {"model_max_length": 32768}),
        # 16-pixel patches merged 2x2: a reference image of 64 pixels is 16 rows.
        "image_processor": (
            "Qwen2VLImageProcessorPil",
            {"patch_size": 16, "merge_size": 2, "min_pixels": 32 * 32, "max_pixels": 64 * 64},
        ),
    },
)


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
    "MiniMaxAI/MiniMax-H3": ModularStandIn(
        "MiniMaxH3Blocks",
        {
            "text_encoder": Part(
                "Qwen3VLForConditionalGeneration",
                {
                    "text_config": {
                        "vocab_size": VOCAB_SIZE,
                        "hidden_size": H3_TEXT_HIDDEN,
                        "intermediate_size": 16,
                        "num_hidden_layers": H3_TEXT_LAYERS,
                        "num_attention_heads": 2,
                        "num_key_value_heads": 2,
                        "head_dim": 8,
                        "max_position_embeddings": 32768,
                        "rope_parameters": {
                            "rope_type": "default",
                            "mrope_section": [2, 1, 1],
                            "mrope_interleaved": True,
                        },
                    },
                    "vision_config": {
                        "depth": 1,
                        "hidden_size": 16,
                        "intermediate_size": 16,
                        "num_heads": 2,
                        "out_hidden_size": H3_TEXT_HIDDEN,
                        "patch_size": 16,
                        "spatial_merge_size": 2,
                        "temporal_patch_size": 2,
                        "num_position_embeddings": 16,
                        "deepstack_visual_indexes": [0],
                    },
                    **{k: QWEN_IDS[k] for k in ("image_token_id", "video_token_id")},
                    **{k: QWEN_IDS[k] for k in ("vision_start_token_id", "vision_end_token_id")},
                    "tie_word_embeddings": True,
                },
            ),
            "tokenizer": Part("Qwen2TokenizerFast", {"model_max_length": 32768}),
            "processor": H3_PROCESSOR,
            # The sizes of diffusers' own autoencoder tests; the audio one hops 400 samples a
            # latent (the real one 800), so its 40 latents a second are 16 kHz sound, the rate
            # of stand-in media (another rate of reference audio needs torchaudio to resample).
            "vae": Part(
                "AutoencoderKLMiniMaxH3",
                {
                    "latent_channels": H3_LATENT,
                    "block_out_channels": (8, 16),
                    "layers_per_block": 1,
                    "spatial_downsample_factors": (2, 2),
                    "temporal_downsample_factors": (2, 2),
                    "norm_num_groups": 8,
                    "decoder_num_layers": 2,
                    "decoder_num_attention_heads": 2,
                    "decoder_attention_head_dim": 8,
                    "decoder_num_register_tokens": 2,
                    "decoder_ffn_mult": 2,
                    "latents_mean": (0.0,) * H3_LATENT,
                    "latents_std": (1.0,) * H3_LATENT,
                },
            ),
            "audio_vae": Part(
                "AutoencoderKLMiniMaxH3Audio",
                {
                    "encoder_dim": 4,
                    "encoder_rates": (4, 4, 5, 5),
                    "latent_dim": 32,
                    "latent_channels": H3_AUDIO_LATENT,
                    "num_attention_heads": 2,
                    "decoder_dim": 64,
                    "decoder_rates": (5, 5, 4, 2, 2),
                    "decoder_kernel_sizes": (9, 9, 8, 4, 4),
                    "resblock_kernel_sizes": (3, 7),
                    "resblock_dilation_sizes": ((1, 3), (1, 3)),
                    "sampling_rate": 16000,
                    "latents_mean": [0.0] * H3_AUDIO_LATENT,
                    "latents_std": [1.0] * H3_AUDIO_LATENT,
                },
            ),
            "scheduler": Part("MiniMaxH3Scheduler", {"shift": 12.0}),
            "audio_scheduler": Part("MiniMaxH3Scheduler", {"shift": 3.0}),
            "transformer": H3_TRANSFORMER,
            "transformer_ref": H3_TRANSFORMER,
        },
        # Reference images and videos are put on a canvas of this short edge (768 and 2048
        # pixels in the real index): a 32-pixel canvas, as the stand-in run's own.
        config=(
            ("canvas_short_edge", 32),
            ("canvas_max_pixels", 32 * 64),
            ("reference_image_short_edge", 32),
        ),
    ),
}


def stand_in_for(source: str) -> ModularStandIn | None:
    """The modular stand-in of the repository ``source`` names (a hub id), or None."""
    return MODULAR.get(source.strip("/"))


def lora_dir(source: str, weight_name: str | None = None) -> Path:
    """The folder of a stand-in LoRA of the denoiser of modular repository ``source``,
    saved with its pipeline class's own ``save_lora_weights``."""
    entry = _entry(source)
    pipeline_cls = type(resolve_class(entry.blocks)().init_pipeline())
    return store.lora_dir(pipeline_cls, weight_name, entry.parts)


def _entry(source: str) -> ModularStandIn:
    entry = stand_in_for(source)
    if entry is None:
        known = ", ".join(sorted(MODULAR))
        raise LookupError(
            f"no stand-in for the modular pipeline of {source!r} (modular stand-ins: {known}); "
            "add one to dw_lsp/worker/standins/modular.py"
        )
    return entry


def modular_dir(source: str) -> Path:
    """The folder of the stand-in of modular repository ``source`` (a LookupError when the
    registry has none)."""
    entry = _entry(source)
    payload = {
        "modular": source,
        "blocks": entry.blocks,
        "parts": {slot: _part_json(part) for slot, part in entry.parts.items()},
        "special_tokens": list(entry.special_tokens),
        "config": dict(entry.config),
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
        if entry.config:
            pipe.register_to_config(**dict(entry.config))
        pipe.save_pretrained(str(folder), overwrite_modular_index=True)
        _finish(folder, payload)

    return store.materialize(target, save)
