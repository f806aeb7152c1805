"""Stand-in families of image pipelines: SD 1.5, SDXL, SD3, Flux, Flux 2, Z-Image,
Qwen-Image, Krea 2, Kandinsky 3, Marigold (see :mod:`.registry`). Pure data.
"""

from __future__ import annotations

from dw_lsp.worker.standins.parts import (
    CLIP_TEXT,
    CLIP_TOKENIZER,
    FLOW_MATCH,
    LLAMA_TOKENIZER,
    QWEN3_TEXT,
    QWEN_TOKENIZER,
    SD_SCHEDULER,
    SD_VAE,
    T5_TEXT,
    T5_TOKENIZER,
    Family,
    Part,
    image_vae,
)
from dw_lsp.worker.standins.vocab import LLAMA_IDS, LLAMA_SPECIALS, QWEN_IDS, VOCAB_SIZE

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
                # four entries: the hint is brought down 8x, as the VAE brings the image
                "conditioning_embedding_out_channels": (8, 8, 8, 16),
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
        "vae": image_vae(4, shift_factor=0.0609, scaling_factor=1.5035),
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


#: The widths of Flux's real text encoders (T5-XXL's hidden states, CLIP-L's pooled output):
#: what Flux Redux's prior hands on when it has no text encoders, whatever the stand-in's.
T5_XXL_WIDTH = 4096
CLIP_L_WIDTH = 768


def _flux_transformer(
    in_channels: int = 4,
    out_channels: int | None = None,
    text_width: int = 32,
    pooled_width: int = 32,
) -> Part:
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
            "joint_attention_dim": text_width,
            "pooled_projection_dim": pooled_width,
            "axes_dims_rope": (4, 4, 8),
        },
    )


#: SigLIP's image encoder for Redux: 32 px images in 8 px patches (16 image tokens).
SIGLIP_VISION = {
    "hidden_size": 32,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
}
FLUX_REDUX = {
    "image_encoder": Part("SiglipVisionModel", SIGLIP_VISION),
    "feature_extractor": Part("SiglipImageProcessorPil", {"size": {"height": 32, "width": 32}}),
    # Its output joins the prior's prompt embeddings, which without text encoders are zeros
    # of T5's real width: 3 * 4096 * 4096 weights (50.7 M, 194 MiB), the one large stand-in.
    "image_embedder": Part(
        "ReduxImageEncoder",
        {"redux_dim": SIGLIP_VISION["hidden_size"], "txt_in_features": T5_XXL_WIDTH},
    ),
    # The Redux repository has no text encoders: the prior's output has the real widths.
    "text_encoder": None,
    "tokenizer": None,
    "text_encoder_2": None,
    "tokenizer_2": None,
}
FLUX_VAE = {"shift_factor": 0.0609, "scaling_factor": 1.5035}
FLUX_CONTROL = {"transformer": _flux_transformer(8, 4)}
FLUX = Family(
    "flux",
    ("Flux*",),
    {
        "transformer": _flux_transformer(),
        "vae": image_vae(1, **FLUX_VAE),
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
            "vae": image_vae(2, **FLUX_VAE),
        },
        "FluxControlPipeline": FLUX_CONTROL,
        "FluxControlImg2ImgPipeline": FLUX_CONTROL,
        "FluxControlInpaintPipeline": FLUX_CONTROL,
        "FluxPriorReduxPipeline": FLUX_REDUX,
    },
    fed={
        # Loaded without text encoders, Flux reads embeddings of the real encoders' widths
        # (Redux's prior): only the transformer's two input projections widen (154 K weights).
        "FluxPipeline": {
            "transformer": _flux_transformer(text_width=T5_XXL_WIDTH, pooled_width=CLIP_L_WIDTH)
        },
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
                # The first axis numbers the caption's tokens (the pipeline's default
                # max_sequence_length is 512; the real model's 1536): a long prompt needs it.
                "axes_lens": (1536, 32, 32),
            },
        ),
        "vae": image_vae(16, scaling_factor=0.3611, shift_factor=0.1159),
        "text_encoder": Part("Qwen3Model", QWEN3_TEXT),
        "tokenizer": QWEN_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=32,
    example="ZImagePipeline",
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
        # Qwen-Image-Edit's processor, without transformers' torchvision-built video part.
        "processor": Part(
            "Qwen2VLImageTextProcessor",
            {
                "tokenizer": ("Qwen2Tokenizer", {"model_max_length": 1024}),
                "image_processor": (
                    "Qwen2VLImageProcessorPil",
                    {"min_pixels": 28 * 28 * 4, "max_pixels": 56 * 56 * 4},
                ),
            },
        ),
        "scheduler": FLOW_MATCH,
    },
    size=32,
    example="QwenImagePipeline",
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
#: Pixtral's layout: one image token per square of 8 px patches merged 2 x 2 (16 px).
PIXTRAL_PATCH = 8
PIXTRAL_MERGE = 2
#: Flux 2 dev's text encoder: Mistral 3 with a Pixtral vision tower. The pipeline stacks its
#: hidden states 10, 20 and 30 (30 layers), so the transformer reads three times its width.
MISTRAL3_TEXT = {
    "text_config": {
        "model_type": "mistral",
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 30,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "max_position_embeddings": 1024,
        "sliding_window": None,
        **LLAMA_IDS,
    },
    "vision_config": {
        "model_type": "pixtral",
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "head_dim": 8,
        "image_size": 64,
        "patch_size": PIXTRAL_PATCH,
    },
    "spatial_merge_size": PIXTRAL_MERGE,
    "image_token_index": LLAMA_SPECIALS.index("[IMG]"),
    "vision_feature_layer": -1,
    **LLAMA_IDS,
}
PIXTRAL_PROCESSOR = Part(
    "PixtralImageTextProcessor",
    {
        "tokenizer": (LLAMA_TOKENIZER.cls, dict(LLAMA_TOKENIZER.config)),
        "image_processor": (
            "PixtralImageProcessorPil",
            {
                "patch_size": {"height": PIXTRAL_PATCH, "width": PIXTRAL_PATCH},
                "size": {"longest_edge": 64},
            },
        ),
        "patch_size": PIXTRAL_PATCH,
        "spatial_merge_size": PIXTRAL_MERGE,
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
    variants={
        # Dev: guidance-distilled, its prompt encoded by Mistral 3 through Pixtral's processor
        # (the tokenizer slot), whose chat template the pipeline applies.
        "Flux2Pipeline": {
            "transformer": _flux2_transformer(48, True),
            "text_encoder": Part("Mistral3ForConditionalGeneration", MISTRAL3_TEXT),
            "tokenizer": PIXTRAL_PROCESSOR,
        },
    },
    example="Flux2KleinPipeline",
)
