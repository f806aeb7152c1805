"""The embedded tiny models (DESIGN.md, "The embedded default").

Owns the recipes of the project's own tiny pipelines, built from configs with random weights
(deterministic from a fixed seed), and their materialisation: each is saved once with
``save_pretrained`` into a cache directory (``$DW_LSP_CACHE_DIR``, default
``~/.cache/dw-lsp/models``) as ``<name>-<version>``, atomically (written to a temporary
directory beside it, then renamed), and from then on loaded by the ordinary ``from_pretrained``
path. A workflow names one as ``"model_name": "builtin:tiny-sd"`` (or ``builtin:tiny-ddpm``);
:func:`resolve_model_name` maps that name to the directory.

The images are noise; the sizes, timings, caching and memory behaviour are real. May import
torch, diffusers and transformers; never the session, the server or the executor.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Bump when a recipe changes, so an old materialisation is never loaded for a new recipe.
VERSION = "1"
PREFIX = "builtin:"
SEED = 0
_lock = threading.Lock()


def cache_root() -> Path:
    """Where tiny models are materialised (``$DW_LSP_CACHE_DIR`` or the user cache)."""
    configured = os.environ.get("DW_LSP_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "dw-lsp" / "models"


def _byte_vocab() -> dict[str, int]:
    """A CLIP byte-level vocabulary for no merges: every prompt tokenizes, byte by byte."""
    from tokenizers import pre_tokenizers

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [*symbols, *(s + "</w>" for s in symbols), "<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}


def _tiny_clip() -> tuple[Any, Any]:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = _byte_vocab()
    # Through files, the one constructor path that transformers 4 and 5 share.
    with tempfile.TemporaryDirectory(prefix="dw-tiny-tokenizer-") as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
        projection_dim=32,
    )
    return tokenizer, CLIPTextModel(config)


def build_tiny_sd() -> Any:
    """A tiny :class:`StableDiffusionPipeline`: 64x64 images from 32x32 latents."""
    import diffusers

    lib: Any = diffusers  # its constructors are untyped
    unet = lib.UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = lib.AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=64,
    )
    scheduler = lib.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    tokenizer, text_encoder = _tiny_clip()
    return lib.StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def build_tiny_ddpm() -> Any:
    """A tiny unconditional :class:`DDPMPipeline` (32x32 RGB images)."""
    import diffusers

    lib: Any = diffusers
    unet = lib.UNet2DModel(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=32,
    )
    return lib.DDPMPipeline(unet=unet, scheduler=lib.DDPMScheduler(num_train_timesteps=1000))


#: Recipe name -> builder. The model name ``builtin:NAME`` selects one.
RECIPES: dict[str, Callable[[], Any]] = {
    "tiny-sd": build_tiny_sd,
    "tiny-ddpm": build_tiny_ddpm,
}


def build(name: str) -> Any:
    """Build recipe ``name`` with deterministic random weights (the global RNG is untouched)."""
    import torch

    if name not in RECIPES:
        known = ", ".join(PREFIX + n for n in sorted(RECIPES))
        raise ValueError(f"Unknown built-in model {PREFIX}{name!r}; known: {known}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return RECIPES[name]()


def materialize(name: str, root: Path | None = None) -> Path:
    """The directory of recipe ``name``, saving it there first if it is not there yet."""
    root = root if root is not None else cache_root()
    target = root / f"{name}-{VERSION}"
    with _lock:
        if (target / "model_index.json").is_file():
            return target
        pipeline = build(name)  # validates the name before touching the disk
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            pipeline.save_pretrained(staging, safe_serialization=True)
            try:
                staging.rename(target)
            except OSError:
                # Another process materialised it first; theirs is as good as ours.
                if not (target / "model_index.json").is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def is_builtin_model(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and not value.endswith(".json")


def resolve_model_name(value: str, root: Path | None = None) -> str:
    """``"builtin:tiny-sd"`` -> the materialised directory; any other name unchanged."""
    if not is_builtin_model(value):
        return value
    return str(materialize(value[len(PREFIX) :], root))
