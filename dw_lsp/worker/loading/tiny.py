"""The embedded tiny models (DESIGN.md, "The embedded default").

Owns the recipes of the project's own tiny pipelines, built from configs with random weights
(deterministic from a fixed seed), and their materialisation: each is saved once with
``save_pretrained`` into a cache directory (``$DW_LSP_CACHE_DIR``, default
``~/.cache/dw-lsp/models``) as ``<name>-<version>``, atomically (written to a temporary
directory beside it, then renamed), and from then on loaded by the ordinary ``from_pretrained``
path. A workflow names one as ``"model_name": "builtin:tiny-sd"`` (or ``builtin:tiny-ddpm``);
:func:`resolve_model_name` maps that name to the directory.

Tiny LoRAs for the tiny-sd UNet (``builtin:tiny-lora``, ``builtin:tiny-lora-b``: same shape,
different seeds) are named in ``loras[].model_name``; they are materialised the same way, as a
directory holding ``pytorch_lora_weights.safetensors`` (``save_lora_weights``), and need
``peft`` to build.

The images are noise; the sizes, timings, caching and memory behaviour are real. May import
torch, diffusers and transformers; never the session, the server or the executor.
"""

from __future__ import annotations

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
_lock = threading.RLock()


def cache_root() -> Path:
    """Where tiny models are materialised (``$DW_LSP_CACHE_DIR`` or the user cache)."""
    configured = os.environ.get("DW_LSP_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "dw-lsp" / "models"


def _byte_vocab() -> dict[str, int]:
    """A CLIP byte-level vocabulary for no merges: every prompt tokenizes, byte by byte (the
    stand-ins' vocabulary, with the two specials last as this recipe has always had them)."""
    from dw_lsp.worker.standins import vocab

    return vocab.byte_vocab(vocab.CLIP_SPECIALS, word_end=True, specials_last=True)


def _tiny_clip() -> tuple[Any, Any]:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from dw_lsp.worker.standins.vocab import clip_tokenizer

    vocab = _byte_vocab()
    tokenizer = clip_tokenizer(CLIPTokenizer, 77, vocab)
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


def _tiny_sd_unet() -> Any:
    import diffusers

    lib: Any = diffusers  # its constructors are untyped
    return lib.UNet2DConditionModel(
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


def build_tiny_sd() -> Any:
    """A tiny :class:`StableDiffusionPipeline`: 64x64 images from 32x32 latents."""
    import diffusers

    lib: Any = diffusers  # its constructors are untyped
    unet = _tiny_sd_unet()
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
#: LoRA recipe name -> the seed of its weights (all are rank-2 LoRAs of the tiny-sd UNet).
LORA_RECIPES: dict[str, int] = {"tiny-lora": 1, "tiny-lora-b": 2}
#: The file a materialised LoRA directory holds (diffusers' default ``weight_name``).
LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
LORA_RANK = 2
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def _unknown(name: str) -> ValueError:
    known = ", ".join(PREFIX + n for n in sorted([*RECIPES, *LORA_RECIPES]))
    return ValueError(f"Unknown built-in model {PREFIX}{name!r}; known: {known}")


def build(name: str) -> Any:
    """Build recipe ``name`` with deterministic random weights (the global RNG is untouched)."""
    import torch

    if name not in RECIPES:
        raise _unknown(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return RECIPES[name]()


def build_lora(name: str) -> dict[str, Any]:
    """The UNet LoRA state dict of LoRA recipe ``name`` (deterministic; needs ``peft``).

    ``init_lora_weights=False`` gives both LoRA matrices random values, so the LoRA changes
    the output from the first load; ``lora_alpha`` equals the rank, which is also what
    diffusers assumes for a file without adapter metadata, so the scaling is 1.
    """
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    if name not in LORA_RECIPES:
        raise _unknown(name)
    with torch.random.fork_rng(devices=[]):
        unet = _tiny_sd_unet()  # only its shapes matter: the LoRA is drawn after the seed
        torch.manual_seed(LORA_RECIPES[name])
        unet.add_adapter(
            LoraConfig(
                r=LORA_RANK,
                lora_alpha=LORA_RANK,
                target_modules=list(LORA_TARGETS),
                init_lora_weights=False,
            )
        )
        state: dict[str, Any] = get_peft_model_state_dict(unet)
    return {key: tensor.detach().clone().contiguous() for key, tensor in state.items()}


def _marker(name: str) -> str:
    """The file whose presence means recipe ``name`` is completely materialised."""
    return LORA_WEIGHT_NAME if name in LORA_RECIPES else "model_index.json"


def _save(name: str, folder: Path) -> None:
    if name in LORA_RECIPES:
        import diffusers

        lib: Any = diffusers
        lib.StableDiffusionPipeline.save_lora_weights(
            folder, unet_lora_layers=build_lora(name), weight_name=LORA_WEIGHT_NAME
        )
    else:
        build(name).save_pretrained(folder, safe_serialization=True)


def materialize_with(target: Path, marker: str, save: Callable[[Path], None]) -> Path:
    """``target``, first filled by ``save(folder)`` unless ``target / marker`` exists.

    Atomic: ``save`` writes a staging folder beside ``target`` that is then renamed, so a
    half-written model is never loaded; shared by the built-in models and the stand-ins
    (:mod:`dw_lsp.worker.standins`).
    """
    with _lock:
        if (target / marker).is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            save(staging)
            try:
                staging.rename(target)
            except OSError:
                # Another process materialised it first; theirs is as good as ours.
                if not (target / marker).is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def materialize(name: str, root: Path | None = None) -> Path:
    """The directory of recipe ``name``, saving it there first if it is not there yet."""
    if name not in RECIPES and name not in LORA_RECIPES:
        raise _unknown(name)  # before touching the disk
    root = root if root is not None else cache_root()
    return materialize_with(root / f"{name}-{VERSION}", _marker(name), lambda f: _save(name, f))


def is_builtin_model(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and not value.endswith(".json")


def is_builtin_lora(value: object) -> bool:
    """Does ``value`` name one of the tiny LoRAs (``builtin:tiny-lora``, ...)?"""
    return is_builtin_model(value) and str(value)[len(PREFIX) :] in LORA_RECIPES


def resolve_model_name(value: str, root: Path | None = None) -> str:
    """``"builtin:tiny-sd"`` / ``"builtin:tiny-lora"`` -> the materialised directory; any
    other name unchanged."""
    if not is_builtin_model(value):
        return value
    return str(materialize(value[len(PREFIX) :], root))
