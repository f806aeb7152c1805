"""Modular pipelines (FORMAT.md 1.4.1): a ``component_type`` with ``update_components``.

A modular pipeline's ``from_pretrained`` reads only its index (``modular_model_index.json``,
or a standard ``model_index.json``); the weights come afterwards. The order here:

1. ``components_manager``: a diffusers ``ComponentsManager`` handed to ``from_pretrained``;
   ``enable_auto_cpu_offload`` (with ``memory_reserve_margin``, default ``"3GB"``) on CUDA
   only, skipped with a note on any other device (dw skips it on MPS; on a CPU there is
   nothing to offload to);
2. construct (by the loader, with the manager among the arguments);
3. one ``update_components`` call with the ``configs`` (each name checked against the
   configs the pipeline declares: an unknown name is an error naming the declared ones,
   where diffusers would only log a warning), the component blocks this step loads itself
   and the ``reused_components``, so those are registered before any weights are pulled and
   ``load_components`` does not load a second copy;
4. ``load_components`` with ``names`` / ``dtype`` / ``quantization_config`` (a map of
   component name to a quantization config description, FORMAT.md 1.4.4) and any other
   key passed on. diffusers turns a component that fails to load into a warning; here a
   component that should have loaded and did not is an error naming it.

Per-component quantization goes through :func:`quantization_config`, which builds each
config with :func:`dw_lsp.worker.loading.quantize.build_config`, the one place that turns a
description into a config object (with the backends' package checks); the log names the
quantizer each component loaded with.
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from dw_lsp.worker.loading import quantize

log = logging.getLogger("dw_lsp.worker.loading.modular")

Note = Callable[[str], None]
#: ``configuration`` keys that only a modular pipeline takes.
MODULAR_KEYS = ("load_components", "configs", "components_manager")
DEFAULT_RESERVE = "3GB"


class ModularError(RuntimeError):
    """A modular-pipeline key cannot be applied as written (the message names the key)."""


def is_modular(kind: Any) -> bool:
    """Is ``kind`` (a class or an instance) a modular pipeline?"""
    return callable(getattr(kind, "update_components", None))


def refusals(configuration: Mapping[str, Any], kind: Any) -> list[str]:
    """Modular-only keys on a pipeline class that is not modular (found before loading)."""
    if is_modular(kind):
        return []
    name = getattr(kind, "__name__", repr(kind))
    return [
        f"configuration.{key} is only for modular pipelines; {name} has no update_components"
        for key in MODULAR_KEYS
        if configuration.get(key) is not None
    ]


def components_manager(configuration: Mapping[str, Any], device: str, note: Note) -> Any:
    """The ``ComponentsManager`` ``components_manager`` asks for (None without the key)."""
    spec = configuration.get("components_manager")
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ModularError("configuration.components_manager must be an object")
    import diffusers

    lib: Any = diffusers  # its ComponentsManager is untyped
    manager = lib.ComponentsManager()
    if spec.get("enable_auto_cpu_offload"):
        where = "configuration.components_manager.enable_auto_cpu_offload"
        if not device.startswith("cuda"):
            note(f"{where} needs CUDA; skipped on {device}")
        else:
            reserve = str(spec.get("memory_reserve_margin") or DEFAULT_RESERVE)
            log.info("components manager: auto CPU offload onto %s (reserve %s)", device, reserve)
            manager.enable_auto_cpu_offload(device=device, memory_reserve_margin=reserve)
    return manager


def auto_offload_active(configuration: Mapping[str, Any], device: str) -> bool:
    """Does the components manager own device placement (so nothing else moves the pipeline)?"""
    spec = configuration.get("components_manager")
    return (
        isinstance(spec, Mapping)
        and bool(spec.get("enable_auto_cpu_offload"))
        and device.startswith("cuda")
    )


def checked_configs(pipe: Any, configs: Any) -> dict[str, Any]:
    """``configs``, with every name checked against the configs ``pipe`` declares."""
    if configs is None:
        return {}
    if not isinstance(configs, Mapping):
        raise ModularError("configuration.configs must be an object of config name -> value")
    declared = getattr(pipe, "_config_specs", None)
    if isinstance(declared, Mapping):
        unknown = sorted(str(n) for n in configs if n not in declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise ModularError(
                f"configuration.configs: {type(pipe).__name__} declares no config named "
                f"{', '.join(unknown)} (it declares: {known})"
            )
    return dict(configs)


def quantization_config(definition: Any, where: str) -> Any:
    """A quantization config object from its description (FORMAT.md 1.4.4), built by
    :func:`quantize.build_config` as a component block's is: ``config_type`` already
    resolved through the allowlist, classes among the arguments instantiated, escaped string
    categories plain strings, a backend not installed named with its package."""
    if not isinstance(definition, Mapping):
        raise ModularError(f"{where} must be an object with configuration and arguments")
    if not isinstance(definition.get("arguments") or {}, Mapping):
        raise ModularError(f"{where}.arguments must be an object")
    try:
        return quantize.build_config(definition, where)
    except quantize.QuantizationError as exc:
        raise ModularError(str(exc)) from exc


def load_arguments(spec: Any) -> dict[str, Any] | None:
    """The keyword arguments of ``load_components`` (None: the key is absent)."""
    if spec is None:
        return None
    where = "configuration.load_components"
    if not isinstance(spec, Mapping):
        raise ModularError(f"{where} must be an object")
    arguments = dict(spec)
    names = arguments.get("names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) and n for n in names)
    ):
        raise ModularError(f"{where}.names must be a list of component names")
    quantization = arguments.get("quantization_config")
    if quantization is not None:
        if not isinstance(quantization, Mapping):
            raise ModularError(f"{where}.quantization_config must map component names to configs")
        arguments["quantization_config"] = {
            str(name): quantization_config(d, f"{where}.quantization_config.{name}")
            for name, d in quantization.items()
        }
    return arguments


def _pending(pipe: Any) -> list[str]:
    """Components the pipeline would load from a source but has not loaded."""
    specs = getattr(pipe, "_component_specs", {})
    return [
        name
        for name, spec in specs.items()
        if getattr(spec, "default_creation_method", None) == "from_pretrained"
        and getattr(spec, "pretrained_model_name_or_path", None)
        and getattr(pipe, name, None) is None
    ]


def finish_load(
    pipe: Any,
    configuration: Mapping[str, Any],
    components: Mapping[str, Any],
    note: Note,
) -> None:
    """Steps 3 and 4: register configs and ready components, then pull the other weights."""
    update = checked_configs(pipe, configuration.get("configs"))
    specs = getattr(pipe, "_component_specs", {})
    for name, component in components.items():
        if isinstance(specs, Mapping) and name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise ModularError(
                f"{name}: {type(pipe).__name__} has no component {name!r} (its components: {known})"
            )
        update[name] = component
    if update:
        log.info("modular pipeline: registering %s", ", ".join(update))
        pipe.update_components(**update)
    arguments = load_arguments(configuration.get("load_components"))
    if arguments is None:
        missing = _pending(pipe)
        if missing:
            note(
                f"{type(pipe).__name__}: no configuration.load_components, so "
                f"{', '.join(missing)} stay unloaded (as in dw)"
            )
        return
    wanted = arguments.get("names")
    expected = list(wanted) if wanted is not None else _pending(pipe)
    unknown = [n for n in expected if n not in specs]
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise ModularError(
            f"configuration.load_components.names: {type(pipe).__name__} has no component "
            f"{', '.join(unknown)} (its components: {known})"
        )
    log.info("modular pipeline: loading %s", ", ".join(expected) or "nothing")
    pipe.load_components(**arguments)
    for name in arguments.get("quantization_config") or {}:
        quantizer = getattr(getattr(pipe, name, None), "hf_quantizer", None)
        if quantizer is None:
            log.warning("modular pipeline: %s loaded without a quantizer despite its config", name)
        else:
            log.info("modular pipeline: %s quantized by %s", name, type(quantizer).__name__)
    failed = [n for n in expected if getattr(pipe, n, None) is None]
    if failed:
        raise ModularError(
            f"configuration.load_components: {', '.join(failed)} did not load "
            "(the worker log has diffusers' reason)"
        )
