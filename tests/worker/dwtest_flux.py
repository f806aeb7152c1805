"""A tiny Flux pipeline for the worker tests of modular pipelines, cache hooks and TeaCache,
built from small configs with random weights (seeded) and saved with ``save_pretrained``
into a folder; nothing is downloaded.

The dimensions follow diffusers' own Flux tests (one double and one single block, 2 heads
of 16, RoPE axes 4+4+8). Both text encoders use the byte-level CLIP tokenizer of the
embedded tiny models: the T5 encoder only needs token ids within its vocabulary, and no
SentencePiece model has to be made. Replace with the stand-in registry once it lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Call arguments that fit the tiny model (32x32 images, short prompts).
CALL = {"height": 32, "width": 32, "max_sequence_length": 16, "guidance_scale": 3.5}


def build_tiny_flux() -> Any:
    import diffusers
    import torch
    from transformers import T5Config, T5EncoderModel

    from dw_lsp.worker.loading import tiny

    lib: Any = diffusers
    torch.manual_seed(0)
    tokenizer, clip = tiny._tiny_clip()
    tokenizer_2, _ = tiny._tiny_clip()
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=0,
        )
    )
    transformer = lib.FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=(4, 4, 8),
    )
    vae = lib.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8,),
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        latent_channels=1,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=32,
        shift_factor=0.0609,
        scaling_factor=1.5035,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    return lib.FluxPipeline(
        scheduler=lib.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip,
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


def save_tiny_flux(folder: Path) -> Path:
    """Build the tiny Flux pipeline and save it into ``folder`` (returned)."""
    build_tiny_flux().save_pretrained(folder)
    return folder
