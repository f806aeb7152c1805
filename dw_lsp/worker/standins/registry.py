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
few whose norms fix 32 channels weigh a few MB); real compression factors and the pipelines'
default lengths are kept where a workflow's sizes depend on them. Text encoders use the ids
of :mod:`.vocab`. Adding a family is one entry in :data:`FAMILIES`.
Pure data: imports only :mod:`.vocab`'s constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dw_lsp.worker.standins.vocab import (
    CLIP_IDS,
    GEMMA_IDS,
    GEMMA_IMAGE_IDS,
    LLAMA_IDS,
    QWEN_IDS,
    T5_IDS,
    VOCAB_SIZE,
)

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

    def parts_for(self, pipeline: str) -> dict[str, Part | None]:
        return {**self.parts, **self.variants.get(pipeline, {})}

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


def _vae(latent_channels: int = 4, **more: Any) -> Part:
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


SD_VAE = _vae()


# -- families ------------------------------------------------------------------------------

SD_UNET = {
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 8,
}
SD15 = Family(
    "sd15",
    ("StableDiffusion*",),
    {
        "unet": Part("UNet2DConditionModel", SD_UNET),
        "vae": SD_VAE,
        "text_encoder": Part("CLIPTextModel", CLIP_TEXT),
        "tokenizer": CLIP_TOKENIZER,
        "scheduler": Part("DDIMScheduler", {**SD_SCHEDULER, "clip_sample": False}),
        "controlnet": Part(
            "ControlNetModel",
            {
                "in_channels": 4,
                "block_out_channels": (16, 32),
                "layers_per_block": 1,
                "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
                "cross_attention_dim": 32,
                "attention_head_dim": 8,
                "norm_num_groups": 8,
                "conditioning_embedding_out_channels": (16, 32),
            },
        ),
    },
    size=32,
    extra={"requires_safety_checker": False},
    example="StableDiffusionPipeline",
)
SDXL_UNET = {
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (2, 4),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 8,
    "transformer_layers_per_block": (1, 1),
    "projection_class_embeddings_input_dim": 80,  # 6 time ids * 8 + the 32 pooled text dims
    "cross_attention_dim": 64,  # both text encoders' 32 hidden dims, concatenated
    "norm_num_groups": 8,
}
SDXL = Family(
    "sdxl",
    ("StableDiffusionXL*",),
    {
        "unet": Part("UNet2DConditionModel", SDXL_UNET),
        "vae": SD_VAE,
        "text_encoder": Part("CLIPTextModel", CLIP_TEXT),
        "text_encoder_2": Part("CLIPTextModelWithProjection", CLIP_TEXT),
        "tokenizer": CLIP_TOKENIZER,
        "tokenizer_2": CLIP_TOKENIZER,
        "scheduler": Part(
            "EulerDiscreteScheduler", {**SD_SCHEDULER, "timestep_spacing": "leading"}
        ),
    },
    size=32,
    example="StableDiffusionXLPipeline",
)
SD3 = Family(
    "sd3",
    ("StableDiffusion3*",),
    {
        "transformer": Part(
            "SD3Transformer2DModel",
            {
                "sample_size": 32,
                "patch_size": 1,
                "in_channels": 4,
                "num_layers": 1,
                "attention_head_dim": 8,
                "num_attention_heads": 4,
                "caption_projection_dim": 32,
                "joint_attention_dim": 32,
                "pooled_projection_dim": 64,
                "out_channels": 4,
            },
        ),
        "vae": _vae(4, shift_factor=0.0609, scaling_factor=1.5035),
        "text_encoder": Part("CLIPTextModelWithProjection", CLIP_TEXT),
        "text_encoder_2": Part("CLIPTextModelWithProjection", CLIP_TEXT),
        "text_encoder_3": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": CLIP_TOKENIZER,
        "tokenizer_2": CLIP_TOKENIZER,
        "tokenizer_3": T5_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=16,
    example="StableDiffusion3Pipeline",
)


def _flux_transformer(in_channels: int = 4, out_channels: int | None = None) -> Part:
    return Part(
        "FluxTransformer2DModel",
        {
            "patch_size": 1,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "num_layers": 1,
            "num_single_layers": 1,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "joint_attention_dim": 32,
            "pooled_projection_dim": 32,
            "axes_dims_rope": (4, 4, 8),
        },
    )


FLUX_VAE = {"shift_factor": 0.0609, "scaling_factor": 1.5035}
FLUX_CONTROL = {"transformer": _flux_transformer(8, 4)}
FLUX = Family(
    "flux",
    ("Flux*",),
    {
        "transformer": _flux_transformer(),
        "vae": _vae(1, **FLUX_VAE),
        "text_encoder": Part("CLIPTextModel", CLIP_TEXT),
        "text_encoder_2": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": CLIP_TOKENIZER,
        "tokenizer_2": T5_TOKENIZER,
        "scheduler": FLOW_MATCH,
        "controlnet": Part(
            "FluxControlNetModel",
            {
                "patch_size": 1,
                "in_channels": 4,
                "num_layers": 1,
                "num_single_layers": 1,
                "attention_head_dim": 16,
                "num_attention_heads": 2,
                "joint_attention_dim": 32,
                "pooled_projection_dim": 32,
                "axes_dims_rope": (4, 4, 8),
            },
        ),
    },
    size=16,
    variants={
        # Fill: the packed latents, the packed masked-image latents and the 8x8 mask pixels
        # of each latent pixel, packed 2x2: 2*4 + 2*4 + 64*4 input channels.
        "FluxFillPipeline": {
            "transformer": _flux_transformer(272, 8),
            "vae": _vae(2, **FLUX_VAE),
        },
        "FluxControlPipeline": FLUX_CONTROL,
        "FluxControlImg2ImgPipeline": FLUX_CONTROL,
        "FluxControlInpaintPipeline": FLUX_CONTROL,
    },
    unsupported={
        "FluxPriorReduxPipeline": (
            "without text encoders it hard-codes T5's real width (4096) for the prompt "
            "embeddings it hands on, and an image embedder that wide has 50 M weights"
        ),
    },
    example="FluxPipeline",
)
ZIMAGE = Family(
    "z-image",
    ("ZImage*",),
    {
        "transformer": Part(
            "ZImageTransformer2DModel",
            {
                "all_patch_size": (2,),
                "all_f_patch_size": (1,),
                "in_channels": 16,
                "dim": 32,
                "n_layers": 1,
                "n_refiner_layers": 1,
                "n_heads": 2,
                "n_kv_heads": 2,
                "norm_eps": 1e-5,
                "qk_norm": True,
                "cap_feat_dim": 16,
                "rope_theta": 256.0,
                "t_scale": 1000.0,
                "axes_dims": (8, 4, 4),
                "axes_lens": (256, 32, 32),
            },
        ),
        "vae": _vae(16, scaling_factor=0.3611, shift_factor=0.1159),
        "text_encoder": Part("Qwen3Model", QWEN3_TEXT),
        "tokenizer": QWEN_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=32,
    example="ZImagePipeline",
)


def _wan_transformer(in_channels: int = 16, **more: Any) -> Part:
    return Part(
        "WanTransformer3DModel",
        {
            "patch_size": (1, 2, 2),
            "num_attention_heads": 2,
            "attention_head_dim": 12,
            "in_channels": in_channels,
            "out_channels": 16,
            "text_dim": 32,
            "freq_dim": 256,
            "ffn_dim": 32,
            "num_layers": 1,
            "cross_attn_norm": True,
            "qk_norm": "rms_norm_across_heads",
            "rope_max_seq_len": 32,
            **more,
        },
    )


WAN = Family(
    "wan",
    ("Wan*",),
    {
        "transformer": _wan_transformer(),
        "vae": Part(
            "AutoencoderKLWan",
            {
                "base_dim": 3,
                "z_dim": 16,
                "dim_mult": (1, 1, 1, 1),
                "num_res_blocks": 1,
                "temperal_downsample": (False, True, True),
            },
        ),
        "text_encoder": Part("UMT5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "scheduler": Part("FlowMatchEulerDiscreteScheduler", {"shift": 7.0}),
    },
    size=16,
    frames=5,
    variants={
        # Wan 2.1 image-to-video: 16 noise + 20 condition channels, and a CLIP image encoder.
        "WanImageToVideoPipeline": {
            "transformer": _wan_transformer(36, image_dim=4),
            "image_encoder": Part(
                "CLIPVisionModelWithProjection",
                {
                    "hidden_size": 4,
                    "projection_dim": 4,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 2,
                    "image_size": 32,
                    "intermediate_size": 16,
                    "patch_size": 4,
                },
            ),
            "image_processor": Part("CLIPImageProcessor", {"crop_size": 32, "size": 32}),
        },
    },
    example="WanPipeline",
)
COGVIDEOX = Family(
    "cogvideox",
    ("CogVideoX*",),
    {
        "transformer": Part(
            "CogVideoXTransformer3DModel",
            {
                "num_attention_heads": 4,
                "attention_head_dim": 8,
                "in_channels": 4,
                "out_channels": 4,
                "time_embed_dim": 2,
                "text_embed_dim": 32,
                "num_layers": 1,
                "sample_width": 2,
                "sample_height": 2,
                "sample_frames": 9,
                "patch_size": 2,
                "temporal_compression_ratio": 4,
                "max_text_seq_length": 226,  # the pipelines' default max_sequence_length
            },
        ),
        "vae": Part(
            "AutoencoderKLCogVideoX",
            {
                "in_channels": 3,
                "out_channels": 3,
                "down_block_types": ("CogVideoXDownBlock3D",) * 4,
                "up_block_types": ("CogVideoXUpBlock3D",) * 4,
                "block_out_channels": (8, 8, 8, 8),
                "latent_channels": 4,
                "layers_per_block": 1,
                "norm_num_groups": 2,
                "temporal_compression_ratio": 4,
            },
        ),
        "text_encoder": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "scheduler": Part("CogVideoXDDIMScheduler"),
    },
    size=16,
    frames=9,
    example="CogVideoXPipeline",
)
MOCHI = Family(
    "mochi",
    ("Mochi*",),
    {
        "transformer": Part(
            "MochiTransformer3DModel",
            {
                "patch_size": 2,
                "num_attention_heads": 2,
                "attention_head_dim": 8,
                "num_layers": 1,
                "pooled_projection_dim": 16,
                "in_channels": 12,
                "out_channels": None,
                "qk_norm": "rms_norm",
                "text_embed_dim": 32,
                "time_embed_dim": 4,
                "activation_fn": "swiglu",
                "max_sequence_length": 256,  # the pipeline's default max_sequence_length
            },
        ),
        "vae": Part(
            "AutoencoderKLMochi",
            {
                "latent_channels": 12,
                "out_channels": 3,
                "encoder_block_out_channels": (32, 32, 32, 32),  # its norms have 32 groups
                "decoder_block_out_channels": (32, 32, 32, 32),
                "layers_per_block": (1, 1, 1, 1, 1),
            },
        ),
        "text_encoder": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=16,
    frames=7,
    example="MochiPipeline",
)
HUNYUAN_VIDEO = Family(
    "hunyuan-video",
    ("HunyuanVideoPipeline", "HunyuanVideoImageToVideoPipeline", "HunyuanSkyreels*"),
    {
        "transformer": Part(
            "HunyuanVideoTransformer3DModel",
            {
                "in_channels": 4,
                "out_channels": 4,
                "num_attention_heads": 2,
                "attention_head_dim": 10,
                "num_layers": 1,
                "num_single_layers": 1,
                "num_refiner_layers": 1,
                "patch_size": 1,
                "patch_size_t": 1,
                "guidance_embeds": True,
                "text_embed_dim": 16,
                "pooled_projection_dim": 8,
                "rope_axes_dim": (2, 4, 4),
            },
        ),
        "vae": Part(
            "AutoencoderKLHunyuanVideo",
            {
                "in_channels": 3,
                "out_channels": 3,
                "latent_channels": 4,
                "down_block_types": ("HunyuanVideoDownBlock3D",) * 4,
                "up_block_types": ("HunyuanVideoUpBlock3D",) * 4,
                "block_out_channels": (8, 8, 8, 8),
                "layers_per_block": 1,
                "act_fn": "silu",
                "norm_num_groups": 4,
                "scaling_factor": 0.476986,
                "spatial_compression_ratio": 8,
                "temporal_compression_ratio": 4,
                "mid_block_add_attention": True,
            },
        ),
        "text_encoder": Part(
            "LlamaModel",
            {
                "vocab_size": VOCAB_SIZE,
                "hidden_size": 16,
                "intermediate_size": 37,
                "num_attention_heads": 4,
                "num_hidden_layers": 2,
                "max_position_embeddings": 1024,
                **LLAMA_IDS,
            },
        ),
        "text_encoder_2": Part("CLIPTextModel", {**CLIP_TEXT, "hidden_size": 8}),
        "tokenizer": LLAMA_TOKENIZER,
        "tokenizer_2": CLIP_TOKENIZER,
        "scheduler": Part("FlowMatchEulerDiscreteScheduler", {"shift": 7.0}),
    },
    size=16,
    frames=9,
    example="HunyuanVideoPipeline",
)
QWEN_VAE = Part(
    "AutoencoderKLQwenImage",
    {
        "base_dim": 8,
        "z_dim": 4,
        "dim_mult": (1, 1, 1, 1),
        "num_res_blocks": 1,
        "temperal_downsample": (False, True, True),  # 8x spatially, as the real one
        "latents_mean": (0.0,) * 4,
        "latents_std": (1.0,) * 4,
    },
)
QWEN_VL_TEXT = {
    "text_config": {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        "rope_theta": 1000000.0,
    },
    "vision_config": {
        "depth": 2,
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_heads": 2,
        "out_hidden_size": 16,
    },
    "hidden_size": 16,
    "vocab_size": VOCAB_SIZE,
    **{k: v for k, v in QWEN_IDS.items() if k.endswith("token_id")},
}
QWEN_IMAGE = Family(
    "qwen-image",
    ("QwenImage*",),
    {
        "transformer": Part(
            "QwenImageTransformer2DModel",
            {
                "patch_size": 2,
                "in_channels": 16,
                "out_channels": 4,
                "num_layers": 1,
                "attention_head_dim": 16,
                "num_attention_heads": 3,
                "joint_attention_dim": 16,
                "guidance_embeds": False,
                "axes_dims_rope": (8, 4, 4),
            },
        ),
        "vae": QWEN_VAE,
        "text_encoder": Part("Qwen2_5_VLForConditionalGeneration", QWEN_VL_TEXT),
        "tokenizer": QWEN_TOKENIZER,
        "processor": Part(
            "Qwen2VLProcessor",
            {
                "tokenizer": ("Qwen2Tokenizer", {"model_max_length": 1024}),
                "image_processor": (
                    "Qwen2VLImageProcessor",
                    {"min_pixels": 28 * 28 * 4, "max_pixels": 56 * 56 * 4},
                ),
            },
        ),
        "scheduler": FLOW_MATCH,
    },
    size=32,
    example="QwenImagePipeline",
)
SVD = Family(
    "stable-video-diffusion",
    ("StableVideoDiffusionPipeline",),
    {
        "unet": Part(
            "UNetSpatioTemporalConditionModel",
            {
                "block_out_channels": (32, 64),  # its norms have 32 groups
                "layers_per_block": 1,
                "sample_size": 32,
                "in_channels": 8,
                "out_channels": 4,
                "down_block_types": ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                "up_block_types": ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
                "cross_attention_dim": 32,
                "num_attention_heads": 8,
                "projection_class_embeddings_input_dim": 96,
                "addition_time_embed_dim": 32,
            },
        ),
        "vae": Part(
            "AutoencoderKLTemporalDecoder",
            {
                "block_out_channels": (32, 64),
                "in_channels": 3,
                "out_channels": 3,
                "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
                "latent_channels": 4,
            },
        ),
        "image_encoder": Part(
            "CLIPVisionModelWithProjection",
            {
                "hidden_size": 32,
                "projection_dim": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "image_size": 224,  # the pipeline resizes its input image to 224 px for it
                "intermediate_size": 37,
                "patch_size": 32,
            },
        ),
        "feature_extractor": Part("CLIPImageProcessor", {"crop_size": 32, "size": 32}),
        "scheduler": Part(
            "EulerDiscreteScheduler",
            {
                **SD_SCHEDULER,
                "interpolation_type": "linear",
                "prediction_type": "v_prediction",
                "sigma_max": 700.0,
                "sigma_min": 0.002,
                "timestep_spacing": "leading",
                "timestep_type": "continuous",
                "use_karras_sigmas": True,
            },
        ),
    },
    size=32,
    frames=2,
    example="StableVideoDiffusionPipeline",
)
KANDINSKY3 = Family(
    "kandinsky3",
    ("Kandinsky3*",),
    {
        "unet": Part(
            "Kandinsky3UNet",
            {
                "in_channels": 4,
                "time_embedding_dim": 4,
                "groups": 2,
                "attention_head_dim": 4,
                "layers_per_block": 3,
                "block_out_channels": (16, 32),
                "cross_attention_dim": 4,
                "encoder_hid_dim": 32,
            },
        ),
        "movq": Part(
            "VQModel",
            {
                "block_out_channels": (32, 64),  # its attention norms have 32 groups
                "down_block_types": ("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
                "in_channels": 3,
                "latent_channels": 4,
                "layers_per_block": 1,
                "norm_num_groups": 8,
                "norm_type": "spatial",
                "num_vq_embeddings": 12,
                "out_channels": 3,
                "up_block_types": ("AttnUpDecoderBlock2D", "UpDecoderBlock2D"),
                "vq_embed_dim": 4,
            },
        ),
        "text_encoder": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "scheduler": Part(
            "DDPMScheduler",
            {
                "beta_start": 0.00085,
                "beta_end": 0.012,
                "steps_offset": 1,
                "beta_schedule": "squaredcos_cap_v2",
                "clip_sample": True,
                "thresholding": False,
            },
        ),
    },
    size=16,
    example="Kandinsky3Pipeline",
)
STABLE_AUDIO = Family(
    "stable-audio",
    ("StableAudioPipeline",),
    {
        # The real sample rate (44.1 kHz) and latent rate (2048 samples a latent), 3 s long
        # at most (the real one: 47 s; stand-in runs ask for 1 s), tiny widths.
        "transformer": Part(
            "StableAudioDiTModel",
            {
                "sample_size": 64,
                "in_channels": 3,
                "num_layers": 1,
                "attention_head_dim": 4,
                "num_key_value_attention_heads": 2,
                "out_channels": 3,
                "cross_attention_dim": 4,
                "time_proj_dim": 8,
                "global_states_input_dim": 8,
                "cross_attention_input_dim": 4,
            },
        ),
        "vae": Part(
            "AutoencoderOobleck",
            {
                "encoder_hidden_size": 6,
                "downsampling_ratios": (8, 16, 16),
                "decoder_channels": 3,
                "decoder_input_channels": 3,
                "audio_channels": 2,
                "channel_multiples": (1, 2, 2),
                "sampling_rate": 44100,
            },
        ),
        "text_encoder": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "projection_model": Part(
            "StableAudioProjectionModel",
            {"text_encoder_dim": 32, "conditioning_dim": 4, "min_value": 0, "max_value": 512},
        ),
        # The class the pipeline names (the cosine variant of the tests needs torchsde).
        "scheduler": Part(
            "EDMDPMSolverMultistepScheduler",
            {"solver_order": 2, "prediction_type": "v_prediction", "sigma_data": 1.0},
        ),
    },
    example="StableAudioPipeline",
)
MARIGOLD = Family(
    "marigold",
    ("Marigold*",),
    {
        "unet": Part("UNet2DConditionModel", {**SD_UNET, "in_channels": 8}),
        "vae": SD_VAE,
        "text_encoder": Part("CLIPTextModel", CLIP_TEXT),
        "tokenizer": CLIP_TOKENIZER,
        "scheduler": Part(
            "LCMScheduler",
            {
                **SD_SCHEDULER,
                "prediction_type": "v_prediction",
                "set_alpha_to_one": False,
                "clip_sample": False,
                "thresholding": False,
            },
        ),
    },
    size=32,
    # What the real checkpoints' model_index.json give (the resolution shrunk to the size).
    extra={"default_processing_resolution": 32, "default_denoising_steps": 2},
    variant_extra={
        "MarigoldDepthPipeline": {"prediction_type": "depth"},
        "MarigoldNormalsPipeline": {"prediction_type": "normals"},
        "MarigoldIntrinsicsPipeline": {"prediction_type": "intrinsics"},
    },
    example="MarigoldDepthPipeline",
)
KREA2 = Family(
    "krea2",
    ("Krea2*",),
    {
        "transformer": Part(
            "Krea2Transformer2DModel",
            {
                "in_channels": 16,
                "num_layers": 1,
                "attention_head_dim": 8,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 32,
                "timestep_embed_dim": 8,
                "text_hidden_dim": 16,
                "num_text_layers": 3,
                "text_num_attention_heads": 2,
                "text_num_key_value_heads": 1,
                "text_intermediate_size": 16,
                "num_layerwise_text_blocks": 1,
                "num_refiner_text_blocks": 1,
                "axes_dims_rope": (4, 2, 2),
                "rope_theta": 1000.0,
            },
        ),
        "vae": QWEN_VAE,
        "text_encoder": Part(
            "Qwen3VLModel",
            {
                "text_config": {
                    "vocab_size": VOCAB_SIZE,
                    "hidden_size": 16,
                    "intermediate_size": 16,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 2,
                    "num_key_value_heads": 2,
                    "head_dim": 8,
                    "max_position_embeddings": 1024,
                },
                "vision_config": {
                    "depth": 2,
                    "hidden_size": 16,
                    "intermediate_size": 16,
                    "num_heads": 2,
                    "out_hidden_size": 16,
                },
                "vocab_size": VOCAB_SIZE,
                **{k: v for k, v in QWEN_IDS.items() if k.endswith("token_id")},
            },
        ),
        "tokenizer": QWEN_TOKENIZER,
        "scheduler": Part(
            "FlowMatchEulerDiscreteScheduler",
            {
                "use_dynamic_shifting": True,
                "base_shift": 0.5,
                "max_shift": 1.15,
                "base_image_seq_len": 256,
                "max_image_seq_len": 6400,
            },
        ),
    },
    size=32,
    # The hidden states the transformer's three text layers read (embeddings and both layers).
    extra={"text_encoder_select_layers": (0, 1, 2)},
    example="Krea2Pipeline",
)

GEMMA3_TEXT = {
    "text_config": {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 32,  # the width of LTX-2's text connectors (4 heads x 8)
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "max_position_embeddings": 1024,
        "sliding_window": 64,
        **GEMMA_IDS,
    },
    "vision_config": {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    },
    "mm_tokens_per_image": 4,
    **GEMMA_IMAGE_IDS,
    **GEMMA_IDS,
}
#: The real layout (32x spatial with its patch size of 4, 8x temporal), tiny channels.
LTX2_VAE = Part(
    "AutoencoderKLLTX2Video",
    {
        "latent_channels": 4,
        "block_out_channels": (4, 8, 16, 32),
        "decoder_block_out_channels": (8, 16, 32),
        "layers_per_block": (1, 1, 1, 1, 1),
        "decoder_layers_per_block": (1, 1, 1, 1),
        "decoder_inject_noise": (False, False, False, False),
        "spatial_compression_ratio": 32,
        "temporal_compression_ratio": 8,
    },
)
LTX2 = Family(
    "ltx2",
    ("LTX2*",),
    {
        "transformer": Part(
            "LTX2VideoTransformer3DModel",
            {
                "in_channels": 4,
                "out_channels": 4,
                "patch_size": 1,
                "patch_size_t": 1,
                "num_attention_heads": 2,
                "attention_head_dim": 8,
                "cross_attention_dim": 16,
                "audio_in_channels": 4,
                "audio_out_channels": 4,
                "audio_num_attention_heads": 2,
                "audio_attention_head_dim": 4,
                "audio_cross_attention_dim": 8,
                # The pipelines apply spatio-temporal guidance at block 28 by default.
                "num_layers": 29,
                "qk_norm": "rms_norm_across_heads",
                "caption_channels": 32,
                "rope_double_precision": False,
                "rope_type": "split",
            },
        ),
        "connectors": Part(
            "diffusers.pipelines.ltx2.connectors.LTX2TextConnectors",
            {
                "caption_channels": 32,
                "text_proj_in_factor": 3,  # the text encoder's layers + its embeddings
                "video_connector_num_attention_heads": 4,
                "video_connector_attention_head_dim": 8,
                "video_connector_num_layers": 1,
                "video_connector_num_learnable_registers": None,
                "audio_connector_num_attention_heads": 4,
                "audio_connector_attention_head_dim": 8,
                "audio_connector_num_layers": 1,
                "audio_connector_num_learnable_registers": None,
                "connector_rope_base_seq_len": 32,
                "rope_theta": 10000.0,
                "rope_double_precision": False,
                "causal_temporal_positioning": False,
                "rope_type": "split",
            },
        ),
        "vae": LTX2_VAE,
        "audio_vae": Part(
            "AutoencoderKLLTX2Audio",
            {
                "base_channels": 4,
                "output_channels": 2,
                "ch_mult": (1,),
                "num_res_blocks": 1,
                "attn_resolutions": None,
                "in_channels": 2,
                "resolution": 32,
                "latent_channels": 2,
                "norm_type": "pixel",
                "causality_axis": "height",
                "dropout": 0.0,
                "mid_block_add_attention": False,
                "sample_rate": 16000,
                "mel_hop_length": 160,
                "is_causal": True,
                "mel_bins": 8,
            },
        ),
        "vocoder": Part(
            "diffusers.pipelines.ltx2.vocoder.LTX2Vocoder",
            {
                "in_channels": 16,  # the audio VAE's output channels x mel bins
                "hidden_channels": 32,
                "out_channels": 2,
                "upsample_kernel_sizes": (4, 4),
                "upsample_factors": (2, 2),
                "resnet_kernel_sizes": (3,),
                "resnet_dilations": ((1, 3, 5),),
                "leaky_relu_negative_slope": 0.1,
                "output_sampling_rate": 16000,
            },
        ),
        "text_encoder": Part("Gemma3ForConditionalGeneration", GEMMA3_TEXT),
        "tokenizer": GEMMA_TOKENIZER,
        "scheduler": FLOW_MATCH,
        "latent_upsampler": Part(
            "diffusers.pipelines.ltx2.latent_upsampler.LTX2LatentUpsamplerModel",
            {"in_channels": 4, "mid_channels": 32, "num_blocks_per_stage": 1},
        ),
    },
    size=64,  # two latent pixels: the VAE's reflect padding needs more than one
    frames=9,
    example="LTX2Pipeline",
)


def _flux2_transformer(joint_attention_dim: int, guidance_embeds: bool) -> Part:
    return Part(
        "Flux2Transformer2DModel",
        {
            "patch_size": 1,
            "in_channels": 4,
            "num_layers": 1,
            "num_single_layers": 1,
            "attention_head_dim": 16,
            "num_attention_heads": 2,
            "joint_attention_dim": joint_attention_dim,
            "timestep_guidance_channels": 256,
            "axes_dims_rope": (4, 4, 4, 4),
            "guidance_embeds": guidance_embeds,
        },
    )


FLUX2_VAE = Part(
    "AutoencoderKLFlux2",
    {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "block_out_channels": (4, 4, 4, 4),
        "layers_per_block": 1,
        "latent_channels": 1,
        "norm_num_groups": 1,
        "use_quant_conv": False,
        "use_post_quant_conv": False,
        "mid_block_add_attention": False,
        "sample_size": 32,
    },
)
FLUX2 = Family(
    "flux2",
    ("Flux2*",),
    {
        # Klein: a Qwen3 text encoder whose hidden states 9, 18 and 27 the pipeline stacks
        # (28 layers), so the transformer reads three times the text width.
        "transformer": _flux2_transformer(48, False),
        "vae": FLUX2_VAE,
        "text_encoder": Part("Qwen3ForCausalLM", {**QWEN3_TEXT, "num_hidden_layers": 28}),
        "tokenizer": QWEN_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=16,
    unsupported={
        "Flux2Pipeline": (
            "its Mistral-3 text encoder needs a PixtralProcessor, which needs torchvision; "
            "Flux2KleinPipeline is covered"
        ),
    },
    example="Flux2KleinPipeline",
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
    "GEMMA_IDS",
    "GEMMA_IMAGE_IDS",
    "LLAMA_IDS",
    "STANDALONE",
    "VERSION",
    "Family",
    "Part",
]
