"""Adapters loaded into a pipeline after its components: LoRAs (``pipeline.loras``) and an
IP-Adapter (``pipeline.ip_adapter``, FORMAT.md 1.4.5). Each is *planned* before any weight
loads (sources resolved and checked by the path rules, values checked, so a bad entry fails
the run early) and *applied* to the loaded pipeline afterwards.

Part of the worker's loading: imports the value helpers and the built-in tiny models.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dw_lsp.worker import values
from dw_lsp.worker.loading import tiny
from dw_lsp.worker.loading.errors import LoadError

log = logging.getLogger("dw_lsp.worker.loading.loader")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _looks_local(name: str, base_dir: Path) -> bool:
    """Is a LoRA ``model_name`` a path (rather than a hub id ``name`` / ``owner/name``)?"""
    text = name.replace("\\", "/")
    if (
        Path(text).is_absolute()
        or text.startswith((".", "~"))
        or "\0" in text
        or text.count("/") > 1
        or text.lower().endswith(WEIGHT_SUFFIXES)
    ):
        return True
    try:
        return (base_dir / text).exists()
    except (OSError, ValueError):  # NUL bytes, over-long names: the path rules will say
        return True


def lora_source(value: Any, where: str, base_dir: Path | None, roots: Sequence[Path] = ()) -> str:
    """What ``load_lora_weights`` gets for a ``loras[].model_name``: a built-in LoRA's
    directory, a local path checked by the path rules (relative to ``base_dir``, inside it
    or one of ``roots``), or the hub id unchanged. Without ``base_dir`` a path is passed on
    as given."""
    if not isinstance(value, str) or not value:
        raise LoadError(f"{where}.model_name must be a non-empty string, not {value!r}")
    if tiny.is_builtin_model(value):
        if not tiny.is_builtin_lora(value):
            known = ", ".join(tiny.PREFIX + n for n in sorted(tiny.LORA_RECIPES))
            raise LoadError(f"{where}.model_name {value!r} is not a LoRA (built-in LoRAs: {known})")
        return tiny.resolve_model_name(value)
    if base_dir is None or not _looks_local(value, base_dir):
        return value
    try:
        return str(values.check_path(value, base_dir, roots=roots))
    except ValueError as exc:
        raise LoadError(f"{where}.model_name: {exc}") from exc


def _check_weight_file(
    given: str,
    source: str,
    options: Mapping[str, Any],
    where: str,
    base_dir: Path | None,
    roots: Sequence[Path],
) -> None:
    """``subfolder`` / ``weight_name`` of a local LoRA folder must stay inside it too."""
    if base_dir is None or not os.path.isdir(source):
        return
    parts = [str(options[k]) for k in ("subfolder", "weight_name") if options.get(k)]
    if not parts:
        return
    try:
        values.check_path(
            os.path.join(given, *parts),
            base_dir,
            must_exist="weight_name" in options,
            roots=roots,
        )
    except ValueError as exc:
        raise LoadError(f"{where}: {'/'.join(parts)}: {exc}") from exc


@dataclass(frozen=True)
class IpAdapterLoad:
    """The ``ip_adapter`` object, checked and resolved before any weights load."""

    given: str
    source: str
    scale: float | None
    options: dict[str, Any]


def plan_ip_adapter(
    entry: Any, base_dir: Path | None, roots: Sequence[Path] = ()
) -> IpAdapterLoad | None:
    """Check ``pipeline.ip_adapter`` and resolve its source (FORMAT.md 1.4.5): a local
    folder or file (path rules as for LoRAs) or a hub id; ``subfolder`` (null or absent:
    the top of the source), ``weight_name`` and ``image_encoder_folder`` stay inside a local
    folder. ``scale`` is converted with ``float()``; absent, the adapter's own scale (1.0)
    holds."""
    where = "pipeline.ip_adapter"
    if entry is None:
        return None
    if not isinstance(entry, Mapping):
        raise LoadError(f"{where} must be an object with a model_name")
    options = dict(entry)
    given = options.pop("model_name", None)
    if isinstance(given, str) and tiny.is_builtin_model(given):
        raise LoadError(f"{where}.model_name {given!r} is a built-in model, not an IP-Adapter")
    source = lora_source(given, where, base_dir, roots)
    raw_scale = options.pop("scale", None)
    try:
        scale = None if raw_scale is None else float(raw_scale)
    except (TypeError, ValueError):
        raise LoadError(f"{where}.scale {raw_scale!r} is not a number") from None
    options["subfolder"] = options.get("subfolder") or ""
    _check_weight_file(str(given), source, options, where, base_dir, roots)
    encoder = options.get("image_encoder_folder")
    if isinstance(encoder, str) and encoder:
        # diffusers reads a bare name inside ``subfolder``, a path from the source's top
        inside = encoder if "/" in encoder else os.path.join(options["subfolder"], encoder)
        _check_weight_file(str(given), source, {"subfolder": inside}, where, base_dir, roots)
    return IpAdapterLoad(str(given), source, scale, options)


def apply_ip_adapter(pipe: Any, planned: IpAdapterLoad) -> None:
    """Load the adapter (and, when the pipeline has none, the image encoder it names), then
    apply its scale."""
    log.info("loading pipeline.ip_adapter: %r", planned.given)
    try:
        pipe.load_ip_adapter(planned.source, **planned.options)
        if planned.scale is not None:
            pipe.set_ip_adapter_scale(planned.scale)
    except Exception as exc:
        raise LoadError(f"pipeline.ip_adapter ({planned.given}): {exc}") from exc


@dataclass(frozen=True)
class LoraLoad:
    """One ``loras[]`` entry, checked and resolved before any weights load."""

    where: str
    given: str
    source: str
    adapter: str
    scale: float
    options: dict[str, Any]


def plan_loras(
    loras: list[Mapping[str, Any]], base_dir: Path | None, roots: Sequence[Path] = ()
) -> list[LoraLoad]:
    """Check every ``loras[]`` entry and resolve its source (FORMAT.md 1.4.5)."""
    planned: list[LoraLoad] = []
    for index, lora in enumerate(loras):
        where = f"pipeline.loras[{index}]"
        options = dict(lora)
        given = options.pop("model_name", None)
        raw_scale = options.pop("scale", 1.0)
        try:
            scale = float(raw_scale)
        except (TypeError, ValueError):
            raise LoadError(f"{where}.scale {raw_scale!r} is not a number") from None
        adapter = str(options.pop("adapter_name", index))
        if any(p.adapter == adapter for p in planned):
            raise LoadError(f"{where}.adapter_name {adapter!r} is used by an earlier LoRA")
        source = lora_source(given, where, base_dir, roots)
        _check_weight_file(str(given), source, options, where, base_dir, roots)
        planned.append(LoraLoad(where, str(given), source, adapter, scale, options))
    return planned


def apply_loras(pipe: Any, planned: list[LoraLoad]) -> None:
    """Load every LoRA under its adapter name, then activate them all with their scales."""
    if planned and not hasattr(pipe, "load_lora_weights"):  # a modular pipeline's own class
        raise LoadError(
            f"pipeline.loras: {type(pipe).__name__} does not take LoRAs "
            "(it has no load_lora_weights)"
        )
    for lora in planned:
        log.info("loading %s: %r as adapter %r", lora.where, lora.given, lora.adapter)
        try:
            pipe.load_lora_weights(lora.source, adapter_name=lora.adapter, **lora.options)
        except Exception as exc:
            raise LoadError(f"{lora.where} ({lora.given}): {exc}") from exc
    pipe.set_adapters([p.adapter for p in planned], adapter_weights=[p.scale for p in planned])
