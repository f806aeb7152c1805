"""The worker's key tables (FORMAT.md 1.4): which keys of a pipeline, its configuration, its
components and a chain it honours, and which it refuses. Plain data, read by
:mod:`dw_lsp.worker.support`'s preflight and by the loaders; imports only the cache hooks'
key list (:mod:`.loading.hooks`, whose heavy imports are lazy).
"""

from __future__ import annotations

from dw_lsp.worker.loading import hooks

#: Named component blocks of a pipeline (FORMAT.md 1.4); other keys holding an object with
#: ``from_pretrained_arguments`` are components too.
COMPONENT_KEYS = frozenset(
    {
        "model",
        "transformer",
        "transformer_2",
        "vae",
        "unet",
        "text_encoder",
        "text_encoder_2",
        "text_encoder_3",
        "tokenizer",
        "tokenizer_2",
        "tokenizer_3",
        "image_encoder",
        "feature_extractor",
        "prompt_enhancer_head",
    }
)
PIPELINE_KEYS = frozenset(
    {
        "configuration",
        "from_pretrained_arguments",
        "arguments",
        "controlnet",
        "loras",
        "scheduler",
        "audio_scheduler",
        "shared_components",
        "reused_components",
        "seed",
        "chain",
        "remote_text_encoder",
        "ip_adapter",
    }
)
#: Every key of the closed ``chain`` object (FORMAT.md 1.4.8); its values are checked when
#: the chain runs (:mod:`dw_lsp.worker.chain`), since they may depend on the arguments.
CHAIN_KEYS = frozenset(
    {
        "segments",
        "match_audio",
        "continuity",
        "segment_argument",
        "carry_frames",
        "carry_audio",
        "trim_frames",
        "crossfade_ms",
        "fps",
        "frame_snap",
        "prompts",
        "save_segments",
        "keep_segments",
    }
)
UNSUPPORTED_PIPELINE_KEYS: dict[str, str] = {}
CONFIGURATION_KEYS = frozenset(
    {
        "component_type",
        "offload",
        "exclude_from_cpu_offload",
        "device",
        "no_generator",
        "enable_attention_slicing",
        "disable_attention_slicing",
        "attention_backend",
        "preserve_device_placement",
        "vae",
        "unet",
        "transformer",
        "text_encoder",
        "shared_components",
        "reused_components",
        "inversion",
        "generate",
        "components",
        "group_offload",
        "sdnq_optimize",
        "enable_layerwise_casting",
        "pre_load_modules",
        "prompt_weighting",
    }
) | {*hooks.OBJECT_KEYS}
UNSUPPORTED_CONFIGURATION: dict[str, str] = {}
#: Keys of ``configuration.vae`` / ``.unet`` / ``.transformer`` / ``.text_encoder`` that are
#: applied; a nested ``configuration`` does nothing in dw and is ignored here too.
SUB_CONFIGURATION = {
    "vae": frozenset(
        {"enable_slicing", "enable_tiling", "channels_last", "torch_dtype", "configuration"}
    ),
    "unet": frozenset(
        {"enable_forward_chunking", "channels_last", "torch_dtype", "attn_processor_type"}
    ),
    "transformer": frozenset({"attn_processor_type"}),
    "text_encoder": frozenset({"torch_dtype"}),
}
PLACEMENT_KEYS = frozenset(
    {
        "device",
        "enable_tiling",
        "group_offload",
        "residency",
        "attention_backend",
        "truncate_layers",
        "remove_modules",
        "compile",
    }
)
RESIDENCIES = ("resident", "on_demand")
COMPONENT_CONFIGURATION = frozenset({"component_type", "device", "preserve_device_placement"})
REFERENCE_CONFIGURATION = frozenset({"no_generator", "attention_backend", "inversion", "generate"})
