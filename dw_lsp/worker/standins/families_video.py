"""Stand-in families of video and audio pipelines: Wan, CogVideoX, HunyuanVideo, Mochi,
Stable Video Diffusion, LTX, LTX-2, Stable Audio (see :mod:`.registry`). Pure data.
"""

from __future__ import annotations

from typing import Any

from dw_lsp.worker.standins.parts import (
    CLIP_TEXT,
    CLIP_TOKENIZER,
    FLOW_MATCH,
    GEMMA_TOKENIZER,
    LLAMA_TOKENIZER,
    SD_SCHEDULER,
    T5_TEXT,
    T5_TOKENIZER,
    Family,
    Part,
)
from dw_lsp.worker.standins.vocab import (
    GEMMA4_MEDIA_IDS,
    GEMMA_IDS,
    GEMMA_IMAGE_IDS,
    LLAMA_IDS,
    VOCAB_SIZE,
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
            # The class the pipeline declares (and Wan 2.1's repositories hold): a part of
            # another class would not fit the slot and the pipeline would get none.
            "image_encoder": Part(
                "CLIPVisionModel",
                {
                    "hidden_size": 4,
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
#: LTX-Video (the first generation; LTX-2 is its own family below). Dimensions from diffusers'
#: LTX pipeline tests; the VAE keeps the real 8x temporal compression (``num_frames`` = 8n+1)
#: and compresses 4x spatially.
LTX = Family(
    "ltx",
    ("LTX*",),
    {
        "transformer": Part(
            "LTXVideoTransformer3DModel",
            {
                "in_channels": 8,
                "out_channels": 8,
                "patch_size": 1,
                "patch_size_t": 1,
                "num_attention_heads": 4,
                "attention_head_dim": 8,
                "cross_attention_dim": 32,
                "num_layers": 1,
                "caption_channels": 32,  # the T5 stand-in's width
            },
        ),
        "vae": Part(
            "AutoencoderKLLTXVideo",
            {
                "in_channels": 3,
                "out_channels": 3,
                "latent_channels": 8,
                "block_out_channels": (8, 8, 8, 8),
                "decoder_block_out_channels": (8, 8, 8, 8),
                "layers_per_block": (1, 1, 1, 1, 1),
                "decoder_layers_per_block": (1, 1, 1, 1, 1),
                "spatio_temporal_scaling": (True, True, False, False),
                "decoder_spatio_temporal_scaling": (True, True, False, False),
                "decoder_inject_noise": (False,) * 5,
                "upsample_residual": (False,) * 4,
                "upsample_factor": (1,) * 4,
                "timestep_conditioning": False,
                "patch_size": 1,
                "patch_size_t": 1,
                "encoder_causal": True,
                "decoder_causal": False,
            },
        ),
        "text_encoder": Part("T5EncoderModel", T5_TEXT),
        "tokenizer": T5_TOKENIZER,
        "scheduler": FLOW_MATCH,
    },
    size=32,
    frames=9,
    example="LTXImageToVideoPipeline",
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
#: LTX-2.5's text encoder (Gemma 4 unified: text, vision and audio embedders): the same text
#: width and layer count as the Gemma 3 part, so the connectors fit both; the vision and
#: audio embedders tiny; the special-token ids inside the stand-in vocabulary.
GEMMA4_UNIFIED_TEXT = {
    "text_config": {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 32,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "layer_types": ["sliding_attention", "full_attention"],
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "global_head_dim": 8,
        "max_position_embeddings": 1024,
        "sliding_window": 64,
        **GEMMA_IDS,
    },
    "vision_config": {
        "patch_size": 8,
        "pooling_kernel_size": 1,
        "mm_embed_dim": 16,
        "mm_posemb_size": 16,
        "output_proj_dims": 32,
    },
    "audio_config": {"audio_embed_dim": 16},
    **GEMMA4_MEDIA_IDS,
    **GEMMA_IDS,
}
#: The enhancer's prompt (LTX-2.5's system prompt, some 4,700 characters, plus the image's
#: soft tokens) is longer than the text encoder's 1,024.
GEMMA4_ENHANCER_LENGTH = 8192
#: LTX-2.5's prompt enhancer (Gemma 4 E2B: a Gemma 4 chat model that reads an image): tiny
#: text and vision towers with the per-layer input embeddings of the E-models, no audio
#: tower (the pipeline gives it none). The vision tower keeps the real pooling of 3x3
#: patches (a pooling of 1 trips transformers' padding mask), patches of 4 px.
GEMMA4_ENHANCER = {
    "text_config": {
        "vocab_size": VOCAB_SIZE,
        "vocab_size_per_layer_input": VOCAB_SIZE,
        "hidden_size_per_layer_input": 8,
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 2,
        "layer_types": ["sliding_attention", "full_attention"],
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "global_head_dim": 8,
        "max_position_embeddings": GEMMA4_ENHANCER_LENGTH,
        "sliding_window": 64,
        **GEMMA_IDS,
    },
    "vision_config": {
        "hidden_size": 16,
        "intermediate_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "patch_size": 4,
        "pooling_kernel_size": 3,
        "position_embedding_size": 64,
    },
    "audio_config": None,
    **GEMMA4_MEDIA_IDS,
    **GEMMA_IDS,
}
#: Its processor: Gemma 4's tokenizer layout and PIL image processor (the fewest soft tokens
#: it allows, 70 an image), without the video part (:mod:`.processors`).
GEMMA4_PROCESSOR = Part(
    "Gemma4ImageTextProcessor",
    {
        "tokenizer": (
            "GemmaTokenizer",
            {"model_max_length": GEMMA4_ENHANCER_LENGTH, "vocabulary": "gemma4"},
        ),
        "image_processor": (
            "Gemma4ImageProcessorPil",
            {"patch_size": 4, "pooling_kernel_size": 3, "max_soft_tokens": 70},
        ),
    },
)
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
    alternatives={
        "Gemma4UnifiedForConditionalGeneration": Part(
            "Gemma4UnifiedForConditionalGeneration", GEMMA4_UNIFIED_TEXT
        ),
        # LTX-2.5's optional prompt enhancer and its processor, for the component blocks
        # that give them (not family parts: every stand-in pipeline would carry them, and
        # an LTX-2.0 pipeline with an enhancer would no longer enhance with its text encoder).
        "Gemma4ForConditionalGeneration": Part("Gemma4ForConditionalGeneration", GEMMA4_ENHANCER),
        "AutoProcessor": GEMMA4_PROCESSOR,
    },
    example="LTX2Pipeline",
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
