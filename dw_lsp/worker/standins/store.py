"""Stand-ins on disk: each is saved once with ``save_pretrained`` into the model cache
(``$DW_LSP_CACHE_DIR/stand-ins``, see :func:`dw_lsp.worker.loading.tiny.cache_root`) under a folder
named after its class and a hash of everything that shapes it (the registry version, the
parts and their configs, the subfolder and variant asked for), and from then on loaded by
the ordinary ``from_pretrained`` path like any downloaded model.

Three kinds: a whole pipeline (:func:`pipeline_dir`), one component, placed in the
``subfolder`` the workflow loads it from (:func:`component_dir`), and a LoRA of a pipeline's
denoiser (:func:`lora_dir`). Each folder also holds ``stand-in.json``, which says what it is
and marks it complete. Saving is atomic (:func:`materialize`). May
import torch, diffusers, transformers and peft; never the executor.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dw_lsp.worker.loading import tiny
from dw_lsp.worker.standins.build import (
    build_part,
    build_pipeline,
    pipeline_parts,
    seeded,
)
from dw_lsp.worker.standins.registry import VERSION, Part

MARKER = "stand-in.json"
LORA_RANK = 2
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
LORA_SEED = 1
DEFAULT_LORA_WEIGHT = "pytorch_lora_weights.safetensors"


def root() -> Path:
    return tiny.cache_root() / "stand-ins"


def _digest(payload: Mapping[str, Any]) -> str:
    text = json.dumps({"version": VERSION, **payload}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _part_json(part: Part) -> list[Any]:
    return [part.cls, dict(part.config)]


def materialize(target: Path, save: Callable[[Path], None]) -> Path:
    """``target``, saved by ``save`` once (atomically), handed out with the stand-in
    processors imported: a folder may name one of them (a model index's library, a modular
    index's type hint, a ``processor_config.json``'s class), which diffusers finds only in
    ``sys.modules`` and transformers only once registered with its Auto classes, also when
    another process saved the folder."""
    folder = tiny.materialize_with(target, MARKER, save)
    from dw_lsp.worker.standins import processors  # noqa: F401

    return folder


def _finish(folder: Path, description: Mapping[str, Any]) -> None:
    (folder / MARKER).write_text(json.dumps(description, indent=2, default=repr), encoding="utf-8")


def pipeline_dir(pipeline_cls: Any, variant: str | None = None, fed: bool = False) -> Path:
    """The folder of the stand-in for a whole pipeline of class ``pipeline_cls`` (``fed``:
    to be loaded without its text encoders, see :attr:`.registry.Family.fed`)."""
    family, parts = pipeline_parts(pipeline_cls, fed)
    name = pipeline_cls.__name__
    payload = {
        "pipeline": name,
        "parts": {slot: part and _part_json(part) for slot, part in parts.items()},
        "extra": family.extra_for(name),
        "variant": variant,
        **({"fed": True} if fed else {}),
    }
    target = root() / f"{name}-{_digest(payload)}"

    def save(folder: Path) -> None:
        pipe = build_pipeline(pipeline_cls, parts, family)
        pipe.save_pretrained(folder, safe_serialization=True, variant=variant)
        _finish(folder, {"family": family.name, **payload})

    return materialize(target, save)


def component_dir(part: Part, subfolder: str | None = None, variant: str | None = None) -> Path:
    """The folder of the stand-in for one component, saved in ``subfolder`` of it."""
    payload = {"part": _part_json(part), "subfolder": subfolder, "variant": variant}
    target = root() / f"{part.cls}-{_digest(payload)}"

    def save(folder: Path) -> None:
        component = build_part(part)
        destination = folder / subfolder if subfolder else folder
        destination.mkdir(parents=True, exist_ok=True)
        if variant and _takes_variant(component):
            component.save_pretrained(destination, safe_serialization=True, variant=variant)
        elif hasattr(component, "save_pretrained"):
            component.save_pretrained(destination)
        else:
            raise TypeError(f"{part.cls} has no save_pretrained()")
        _finish(folder, payload)

    return materialize(target, save)


def _takes_variant(component: Any) -> bool:
    import inspect

    try:
        return "variant" in inspect.signature(component.save_pretrained).parameters
    except (TypeError, ValueError):
        return False


def denoiser_slot(parts: Mapping[str, Part | None]) -> tuple[str, Part]:
    """The slot of the pipeline's denoiser (``transformer`` or ``unet``) and its part."""
    for slot in ("transformer", "unet"):
        part = parts.get(slot)
        if part is not None:
            return slot, part
    raise LookupError("the pipeline has neither a transformer nor a unet to put a LoRA on")


def lora_dir(
    pipeline_cls: Any,
    weight_name: str | None = None,
    parts: Mapping[str, Part | None] | None = None,
) -> Path:
    """The folder of a rank-2 LoRA of the stand-in denoiser of ``pipeline_cls``, saved with
    the pipeline's own ``save_lora_weights``; its file is named ``weight_name`` (the same
    weights under every name: built once, copied per name). ``parts``: the pipeline's
    stand-in parts where the registry's families do not give them (a modular pipeline's)."""
    if parts is None:
        _family, parts = pipeline_parts(pipeline_cls)
    slot, denoiser = denoiser_slot(parts)
    payload = {
        "lora_of": pipeline_cls.__name__,
        "denoiser": _part_json(denoiser),
        "rank": LORA_RANK,
        "targets": list(LORA_TARGETS),
    }
    base = root() / f"lora-{pipeline_cls.__name__}-{_digest(payload)}"

    def save_base(folder: Path) -> None:
        layers = _lora_layers(denoiser)
        pipeline_cls.save_lora_weights(
            folder, **{f"{slot}_lora_layers": layers}, weight_name=DEFAULT_LORA_WEIGHT
        )
        _finish(folder, payload)

    materialize(base, save_base)
    weight = weight_name or DEFAULT_LORA_WEIGHT
    if weight == DEFAULT_LORA_WEIGHT:
        return base
    named = {**payload, "weight_name": weight}

    def save_named(folder: Path) -> None:
        relative = Path(weight)
        if relative.is_absolute() or ".." in relative.parts:
            relative = Path(relative.name)  # the path rules refuse it at load time anyway
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / DEFAULT_LORA_WEIGHT, folder / relative)
        _finish(folder, named)

    return materialize(base.with_name(f"{base.name}-{_digest(named)}"), save_named)


def _lora_layers(part: Part) -> dict[str, Any]:
    """A LoRA state dict for the denoiser ``part`` (random A and B, so it has an effect)."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    denoiser = build_part(part)
    present = {name.rsplit(".", 1)[-1] for name, _ in denoiser.named_modules()}
    present |= {".".join(name.rsplit(".", 2)[-2:]) for name, _ in denoiser.named_modules()}
    targets = [t for t in LORA_TARGETS if t in present]
    if not targets:
        raise LookupError(f"{part.cls} has none of the attention layers {LORA_TARGETS}")
    with seeded():
        torch.manual_seed(LORA_SEED)
        denoiser.add_adapter(
            LoraConfig(
                r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=targets, init_lora_weights=False
            )
        )
        state: dict[str, Any] = get_peft_model_state_dict(denoiser)
    return {key: tensor.detach().clone().contiguous() for key, tensor in state.items()}
