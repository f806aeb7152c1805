"""A tiny LTX image-to-video pipeline for the chain tests, built in code and saved with
``save_pretrained`` (dimensions from diffusers' own LTX tests; random weights, so the frames
are noise), and a T5 tokenizer over printable ASCII made from a vocabulary list (nothing is
downloaded). A stand-in for the real model until the stand-in registry lands in main."""

from __future__ import annotations

from pathlib import Path

#: ``num_frames`` the pipeline accepts: 8 * n + 1.
FRAME_SNAP = {"modulus": 8, "remainder": 1}


def t5_tokenizer() -> object:
    from transformers import T5Tokenizer

    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    printable = [(chr(c), -3.0) for c in range(32, 127)]
    words = [("\u2581" + chr(c), -2.5) for c in range(33, 127)]
    return T5Tokenizer(vocab=specials + printable + words, extra_ids=0)


def build_tiny_ltx(folder: Path) -> Path:
    """Save a tiny ``LTXImageToVideoPipeline`` into ``folder`` (once) and return it."""
    if (folder / "model_index.json").exists():
        return folder
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=256,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            dropout_rate=0.0,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4,
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    pipe = LTXImageToVideoPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder,
        tokenizer=t5_tokenizer(),
    )
    pipe.save_pretrained(folder)
    return folder
