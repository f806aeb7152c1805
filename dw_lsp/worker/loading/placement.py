"""Configuration applied to a constructed pipeline: dw's load order steps 7, 8 and 13
(FORMAT.md 1.4) for the keys of 1.4.1 that act on loaded modules.

Keys that depend on the device apply where they can; where they cannot, they are skipped
with a note (the ``note`` callback: the run's warnings and the log), as dw does:

- ``offload`` (model / sequential CPU offload): CUDA only;
- ``group_offload`` (the pipeline's, and ``components.<name>.group_offload``): any
  accelerator, through diffusers' ``enable_group_offload`` (or ``apply_group_offloading``
  for a module that is not a diffusers model); skipped on a CPU. Applied group offload
  keeps the pipeline from being moved to its device as a whole, as in dw;
- ``components.<name>.residency: on_demand``: ignored on a CPU; on an accelerator it is
  refused before anything loads (:func:`refusals`), since this worker does not implement it;
- ``sdnq_optimize``: quantized matmul on the named components, with CUDA or XPU, ``triton``
  and ``sdnq``; skipped otherwise.

Keys that work on any device: ``enable_layerwise_casting`` on the denoiser (``transformer``,
else ``unet``), with the dtypes checked by a small cast-and-matmul probe on the device, and
the ``components`` entries ``truncate_layers`` (a ``ModuleList`` cut to its first n >= 1),
``remove_modules`` (each replaced by ``torch.nn.Identity``), ``attention_backend``
(``set_attention_backend``, pinned on that model only: the process-wide default backend is
put back), ``enable_tiling`` and ``device``. Entries are applied in that order, then
``residency`` and ``group_offload``. An entry for a component reused from an earlier step is
skipped with a log line (the sharing step placed it); a registered but unloaded component
is skipped with a note; any other missing name or path is an error naming it.
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

import torch

log = logging.getLogger("dw_lsp.worker.loading.placement")

Note = Callable[[str], None]
DENOISERS = ("transformer", "unet")
SDNQ_DEVICES = ("cuda", "xpu")
ON_DEMAND = "on_demand"


class PlacementError(RuntimeError):
    """A configuration key cannot be applied as written (the message names the key)."""


def device_type(device: str) -> str:
    return torch.device(device).type


def is_accelerator(device: str) -> bool:
    return device_type(device) != "cpu"


def refusals(configuration: Mapping[str, Any], device: str) -> list[str]:
    """Device-dependent keys this worker cannot honour on ``device``: found before any load."""
    if not is_accelerator(device):
        return []
    problems: list[str] = []
    both = configuration.get("group_offload") and configuration.get("offload")
    if both and device_type(device) == "cuda":
        problems.append(
            "configuration.offload and configuration.group_offload cannot both apply; "
            "keep one of them"
        )
    entries = configuration.get("components")
    if isinstance(entries, Mapping):
        problems.extend(
            f"configuration.components.{name}.residency 'on_demand' (moving a component onto "
            f"{device} around each call) is not supported by this worker yet; "
            "remove it to run here"
            for name, entry in entries.items()
            if isinstance(entry, Mapping) and entry.get("residency") == ON_DEMAND
        )
    return problems


# -- steps 7 and 8: dtype settings and sdnq_optimize -------------------------------------------


def _dtype(value: Any, where: str) -> torch.dtype:
    if not isinstance(value, torch.dtype):
        raise PlacementError(
            f"{where} must name a torch dtype (e.g. torch.float8_e4m3fn), not {value!r}"
        )
    return value


def apply_layerwise_casting(pipe: Any, spec: Mapping[str, Any], device: str) -> None:
    """``enable_layerwise_casting``: the denoiser's weights stored in one dtype and
    computed in another."""
    where = "configuration.enable_layerwise_casting"
    storage = _dtype(spec.get("storage_dtype"), f"{where}.storage_dtype")
    compute = _dtype(spec.get("compute_dtype"), f"{where}.compute_dtype")
    name = next((n for n in DENOISERS if getattr(pipe, n, None) is not None), None)
    if name is None:
        raise PlacementError(f"{where}: the pipeline has no loaded transformer or unet")
    model = getattr(pipe, name)
    if not hasattr(model, "enable_layerwise_casting"):
        raise PlacementError(
            f"{where}: {name} ({type(model).__name__}) has no enable_layerwise_casting()"
        )
    try:  # a dtype the device cannot store or compute in fails here, not mid-inference
        weight = torch.ones(2, 2, device=device).to(storage).to(compute)
        torch.nn.functional.linear(torch.ones(1, 2, dtype=compute, device=device), weight)
    except (RuntimeError, TypeError) as exc:
        raise PlacementError(
            f"{where}: {device} cannot store weights in {storage} and compute in {compute}: {exc}"
        ) from exc
    log.info("layerwise casting of %s: stored in %s, computed in %s", name, storage, compute)
    model.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute)


def apply_sdnq_optimize(pipe: Any, names: Any, device: str, note: Note) -> None:
    """``sdnq_optimize``: SDNQ quantized matmul on the named components where it can run."""
    where = "configuration.sdnq_optimize"
    if device_type(device) not in SDNQ_DEVICES:
        note(f"{where} needs CUDA or XPU with triton; skipped on {device}")
        return
    if importlib.util.find_spec("sdnq") is None:
        note(f"{where} needs the 'sdnq' package, which is not installed; skipped")
        return
    common = importlib.import_module("sdnq.common")
    if not getattr(common, "use_torch_compile", False):
        note(f"{where} needs triton, which sdnq cannot use here; skipped")
        return
    apply = importlib.import_module("sdnq.loader").apply_sdnq_options_to_model
    for name in names:
        component = getattr(pipe, str(name), None)
        if component is None:
            raise PlacementError(f"{where}: the pipeline has no loaded component {name!r}")
        setattr(pipe, str(name), apply(component, use_quantized_matmul=True))


# -- step 13: placement ----------------------------------------------------------------------


def place(
    pipe: Any,
    configuration: Mapping[str, Any],
    device: str,
    note: Note,
    reused: Collection[str] = (),
) -> None:
    """Offload or move the pipeline, then apply the ``configuration.components`` entries."""
    entries = configuration.get("components")
    entries = entries if isinstance(entries, Mapping) else {}
    placed_by_entries = is_accelerator(device) and any(
        isinstance(e, Mapping) and e.get("group_offload") for e in entries.values()
    )
    moved_elsewhere = _offload(pipe, configuration, device, note) or placed_by_entries
    keep = moved_elsewhere or configuration.get("preserve_device_placement")
    if not keep and hasattr(pipe, "to"):
        pipe.to(device)
    for dotted, entry in entries.items():
        _place_entry(pipe, str(dotted), entry, device, note, reused)


def _offload(pipe: Any, configuration: Mapping[str, Any], device: str, note: Note) -> bool:
    """``group_offload`` / ``offload``; True when one of them placed the pipeline."""
    group = configuration.get("group_offload")
    if group:
        where = "configuration.group_offload"
        if not is_accelerator(device):
            note(f"{where}: group offload needs an accelerator; skipped on {device}")
        else:
            kwargs = _group_kwargs(group, device, where)
            try:
                if hasattr(pipe, "enable_group_offload"):
                    pipe.enable_group_offload(**kwargs)
                else:
                    for component in pipe.components.values():
                        if isinstance(component, torch.nn.Module):
                            _group_offload_module(component, kwargs)
            except (TypeError, ValueError) as exc:
                raise PlacementError(f"{where}: {exc}") from exc
            if configuration.get("offload"):  # on CUDA refusals() stopped the run
                note(f"configuration.offload has no effect with group offload on {device}")
            return True
    offload = configuration.get("offload")
    if not offload:
        return False
    if not device.startswith("cuda"):
        note(f"configuration.offload {offload!r} has no effect on {device}: skipped")
        return False
    exclude = configuration.get("exclude_from_cpu_offload")
    if exclude:
        pipe._exclude_from_cpu_offload = list(exclude)
    if offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.enable_model_cpu_offload(device=device)
    return True


def _group_kwargs(spec: Any, device: str, where: str) -> dict[str, Any]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("offload_type"), str):
        raise PlacementError(f"{where} must be an object with an offload_type")
    kwargs = dict(spec)
    kwargs["onload_device"] = torch.device(str(kwargs.get("onload_device") or device))
    kwargs["offload_device"] = torch.device(str(kwargs.get("offload_device") or "cpu"))
    return kwargs


def _group_offload_module(module: Any, kwargs: Mapping[str, Any]) -> None:
    if getattr(module, "_supports_group_offloading", False) and hasattr(
        module, "enable_group_offload"
    ):
        module.enable_group_offload(**kwargs)
        return
    from diffusers.hooks.group_offloading import apply_group_offloading

    apply_group_offloading(module=module, **kwargs)


def _place_entry(
    pipe: Any, dotted: str, entry: Any, device: str, note: Note, reused: Collection[str]
) -> None:
    where = f"configuration.components.{dotted}"
    if not isinstance(entry, Mapping):
        raise PlacementError(f"{where} must be an object")
    head = dotted.split(".")[0]
    if head in reused:
        log.info("%s: %r was shared by an earlier step, which placed it; skipped", where, head)
        return
    registered = getattr(pipe, "components", None)
    if isinstance(registered, Mapping) and head in registered and registered[head] is None:
        note(f"{where}: the pipeline registers {head!r} but did not load it; skipped")
        return
    target = _walk(pipe, dotted, where, "the pipeline")
    for path, keep in dict(entry.get("truncate_layers") or {}).items():
        _truncate(target, dotted, str(path), keep, f"{where}.truncate_layers")
    for path in entry.get("remove_modules") or []:
        _remove(target, dotted, str(path), f"{where}.remove_modules")
    backend = entry.get("attention_backend")
    if backend:
        _pin_attention_backend(target, str(backend), f"{where}.attention_backend")
    tiling = entry.get("enable_tiling")
    if tiling:
        if not hasattr(target, "enable_tiling"):
            raise PlacementError(f"{where}: it has no enable_tiling()")
        target.enable_tiling(**(tiling if isinstance(tiling, Mapping) else {}))
    if entry.get("device"):
        target.to(entry["device"])
    if entry.get("residency") == ON_DEMAND:
        # On an accelerator, refusals() stopped the run before anything loaded.
        note(f"{where}.residency 'on_demand' is ignored on {device}")
    group = entry.get("group_offload")
    if group:
        if not is_accelerator(device):
            note(f"{where}.group_offload: group offload needs an accelerator; skipped on {device}")
            return
        kwargs = _group_kwargs(group, str(entry.get("device") or device), f"{where}.group_offload")
        if not isinstance(target, torch.nn.Module):
            raise PlacementError(f"{where}.group_offload: {dotted} is not a torch module")
        try:
            _group_offload_module(target, kwargs)
        except (TypeError, ValueError) as exc:
            raise PlacementError(f"{where}.group_offload: {exc}") from exc


def _walk(root: Any, dotted: str, where: str, owner: str) -> Any:
    target = root
    for part in dotted.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise PlacementError(f"{where}: {owner} has no {dotted!r}")
    return target


def _truncate(target: Any, dotted: str, path: str, keep: Any, where: str) -> None:
    layers = _walk(target, path, where, dotted)
    if not isinstance(layers, torch.nn.ModuleList):
        raise PlacementError(
            f"{where}: {dotted}.{path} is a {type(layers).__name__}, not a ModuleList"
        )
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise PlacementError(f"{where}.{path}: keep a whole number of layers >= 1, not {keep!r}")
    log.info("%s: keeping %d of the %d layers of %s.%s", where, keep, len(layers), dotted, path)
    del layers[keep:]


def _remove(target: Any, dotted: str, path: str, where: str) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = _walk(target, parent_path, where, dotted) if parent_path else target
    modules = getattr(parent, "_modules", None)
    if not isinstance(modules, Mapping) or name not in modules or modules[name] is None:
        raise PlacementError(f"{where}: {dotted} has no module {path!r}")
    log.info("%s: %s.%s replaced by an identity", where, dotted, path)
    setattr(parent, name, torch.nn.Identity())


def _pin_attention_backend(target: Any, backend: str, where: str) -> None:
    if not hasattr(target, "set_attention_backend"):
        raise PlacementError(
            f"{where}: {type(target).__name__} has no set_attention_backend() "
            "(only diffusers models can pin an attention backend)"
        )
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    active = _AttentionBackendRegistry._active_backend
    try:
        target.set_attention_backend(backend)
    except (ValueError, RuntimeError, ImportError) as exc:
        raise PlacementError(f"{where} {backend!r}: {exc}") from exc
    finally:  # set_attention_backend also changes the process-wide default: put it back
        _AttentionBackendRegistry.set_active_backend(active)
