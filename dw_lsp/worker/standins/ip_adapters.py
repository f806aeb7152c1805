"""Stand-in IP-Adapters: a tiny adapter for a stand-in pipeline's denoiser, saved in the
layout diffusers' ``load_ip_adapter`` reads, under the ``subfolder`` and ``weight_name`` the
workflow names (``.safetensors``: flat ``image_proj.*`` / ``ip_adapter.*`` tensors; any other
name, such as ``ip-adapter-full-face_sd15.bin``: a torch file of the two nested dicts).

* a UNet (SD 1.5, SDXL): one ``to_k_ip`` / ``to_v_ip`` pair per cross-attention processor,
  numbered 1, 3, 5 ... in processor order, as diffusers reads them;
* a Flux transformer: one pair (with biases) per double-stream block, numbered from 0,
  from the text width (``joint_attention_dim``) to the attention width;
* an image projection to 4 tokens of the denoiser's text width from the embeddings of a
  tiny CLIP image encoder (dimensions after diffusers' pipeline tests), saved beside the
  weights in ``{subfolder}/image_encoder`` (where SD's loader looks by default) and named
  to Flux's loader by :mod:`.run` (its default is a folder relative to the working one).

Random weights with a fixed seed: a smoke run checks the wiring, not the look. May import
torch, safetensors, diffusers and transformers; never the executor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dw_lsp.worker.loading import tiny
from dw_lsp.worker.standins.build import build_part, pipeline_parts
from dw_lsp.worker.standins.store import MARKER, _digest, _finish, _part_json, denoiser_slot, root

SEED = 3
TOKENS = 4
#: Width of the tiny image encoder's image embeddings (its projection_dim).
IMAGE_EMBED_DIM = 32
ENCODER_FOLDER = "image_encoder"
ENCODER: dict[str, Any] = {
    "hidden_size": 32,
    "projection_dim": IMAGE_EMBED_DIM,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "image_size": 32,
    "patch_size": 8,
}


def _unet_layers(unet: Any, generator: Any) -> tuple[dict[str, Any], int]:
    import torch

    width = unet.config.cross_attention_dim
    blocks = list(unet.config.block_out_channels)
    layers: dict[str, Any] = {}
    number = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention takes no image tokens
        part, index = name.split(".")[:2]
        hidden = {
            "mid_block": blocks[-1],
            "up_blocks": blocks[::-1][int(index)] if index.isdigit() else 0,
            "down_blocks": blocks[int(index)] if index.isdigit() else 0,
        }[part]
        for projection in ("to_k_ip", "to_v_ip"):
            layers[f"{number}.{projection}.weight"] = torch.randn(
                hidden, width, generator=generator
            )
        number += 2
    return layers, width


def _flux_layers(transformer: Any, generator: Any) -> tuple[dict[str, Any], int]:
    import torch

    width = transformer.config.joint_attention_dim
    hidden = transformer.inner_dim
    layers: dict[str, Any] = {}
    number = 0
    for name in transformer.attn_processors:
        if name.startswith("single_transformer_blocks"):
            continue  # the single-stream blocks take no image tokens
        for projection in ("to_k_ip", "to_v_ip"):
            layers[f"{number}.{projection}.weight"] = torch.randn(
                hidden, width, generator=generator
            )
            layers[f"{number}.{projection}.bias"] = torch.randn(hidden, generator=generator)
        number += 1
    return layers, width


def adapter_state(denoiser: Any, seed: int = SEED) -> dict[str, dict[str, Any]]:
    """``{"image_proj": ..., "ip_adapter": ...}``: random adapter weights sized for
    ``denoiser`` (a UNet or a Flux-style transformer with ``joint_attention_dim``)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    if hasattr(denoiser.config, "joint_attention_dim"):
        layers, width = _flux_layers(denoiser, generator)
    elif hasattr(denoiser.config, "cross_attention_dim") and hasattr(denoiser, "attn_processors"):
        layers, width = _unet_layers(denoiser, generator)
    else:
        raise LookupError(f"no stand-in IP-Adapter for a {type(denoiser).__name__}")
    projection = {
        "proj.weight": torch.randn(TOKENS * width, IMAGE_EMBED_DIM, generator=generator),
        "proj.bias": torch.randn(TOKENS * width, generator=generator),
        "norm.weight": torch.ones(width),
        "norm.bias": torch.zeros(width),
    }
    return {"image_proj": projection, "ip_adapter": layers}


def write(
    folder: Path, denoiser: Any, weight_name: str, seed: int = SEED, encoder: bool = True
) -> Path:
    """Write an adapter for ``denoiser`` into ``folder`` as ``weight_name`` (and, with
    ``encoder``, the tiny image encoder in ``folder/image_encoder``)."""
    import torch
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    state = adapter_state(denoiser, seed)
    folder.mkdir(parents=True, exist_ok=True)
    if weight_name.endswith(".safetensors"):
        flat = {f"{group}.{key}": t for group, part in state.items() for key, t in part.items()}
        save_file(flat, folder / weight_name)
    else:
        torch.save(state, folder / weight_name)
    if encoder:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = CLIPVisionModelWithProjection(CLIPVisionConfig(**ENCODER))
        model.save_pretrained(folder / ENCODER_FOLDER)
    return folder


def ip_adapter_dir(pipeline_cls: Any, subfolder: str | None, weight_name: str | None) -> Path:
    """The folder of a stand-in IP-Adapter of ``pipeline_cls``'s denoiser, its weights in
    ``{subfolder}/{weight_name}`` and its image encoder in ``{subfolder}/image_encoder``."""
    _family, parts = pipeline_parts(pipeline_cls)
    _slot, denoiser = denoiser_slot(parts)
    weight = Path(weight_name or "ip_adapter.safetensors").name
    inside = Path(subfolder) if subfolder else Path()
    if inside.is_absolute() or ".." in inside.parts:
        inside = Path()  # the path rules refuse such a subfolder at load time anyway
    payload = {
        "ip_adapter_of": pipeline_cls.__name__,
        "denoiser": _part_json(denoiser),
        "encoder": ENCODER,
        "subfolder": inside.as_posix(),
        "weight_name": weight,
    }
    target = root() / f"ip-adapter-{pipeline_cls.__name__}-{_digest(payload)}"

    def save(folder: Path) -> None:
        write(folder / inside, build_part(denoiser), weight)
        _finish(folder, payload)

    return tiny.materialize_with(target, MARKER, save)
