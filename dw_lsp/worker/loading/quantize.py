"""Quantized loading (FORMAT.md 1.4.4) and ``pre_load_modules`` (1.4.1) in the worker.

* :func:`check_block` / :func:`block_problems`: a ``quantization_config`` block's shape, its
  backend installed here and able to run on this device (:mod:`quant_rules`), before any
  weights load (preflight and the dry run use the same words).
* :func:`build_config`: the config object a type-resolved block describes: ``config_type``
  is the class (resolved through the worker's allowlist beforehand), each argument that
  resolved to a class is instantiated with no arguments (``quant_type:
  torchao.quantization.Int8WeightOnlyConfig``), an escaped string category (``{nf4}``) is a
  plain string. The modular pipelines' ``load_components.quantization_config`` calls this too.
* :func:`import_pre_load_modules`: imports the allowed modules, in order, before loading.
* :func:`installed_backends`: the backends installed here with their versions (the
  capabilities the worker reports in its handshake), asked without importing them.

May import the backends (lazily, when a config is built); never the session or the server.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from dw_lsp.worker import support
from dw_lsp.workflow import quant_rules


class QuantizationError(RuntimeError):
    """A quantization config or extra module cannot be used here (the message says why)."""


def module_installed(module: str) -> bool:
    """Is ``module`` importable, asked without importing it (a parent package may be)?"""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def installed_backends() -> dict[str, str]:
    """``{backend name: version}`` of the quantization backends installed here."""
    found: dict[str, str] = {}
    for backend in quant_rules.BACKENDS:
        if not module_installed(backend.module):
            continue
        try:
            found[backend.name] = importlib.metadata.version(backend.package)
        except importlib.metadata.PackageNotFoundError:
            found[backend.name] = "unknown"
    return found


def block_problems(where: str, block: Any, device: str) -> list[str]:
    """What is wrong with the ``quantization_config`` block at ``where`` before loading:
    its shape, a backend not installed, a device it cannot run on."""
    if not isinstance(block, Mapping):
        return [f"{where} must be an object with configuration and arguments"]
    configuration = block.get("configuration")
    config_type = configuration.get("config_type") if isinstance(configuration, Mapping) else None
    if not isinstance(config_type, str) or not config_type:
        return [f"{where}.configuration.config_type is required (a config class name)"]
    arguments = block.get("arguments", {})
    if not isinstance(arguments, Mapping):
        return [f"{where}.arguments must be an object"]
    backend = quant_rules.backend_for(config_type)
    if backend is not None and not module_installed(backend.module):
        return [quant_rules.missing_message(f"{where} ({config_type})", backend)]
    problem = quant_rules.device_problem(where, config_type, arguments, device)
    if problem is None and (quant_type := quant_rules.mslk_config(config_type, arguments)):
        installed = module_installed(quant_rules.MSLK_MODULE)
        problem = quant_rules.mslk_message(where, quant_type, device, installed)
    return [problem] if problem else []


def pre_load_problems(
    modules: Any, allowed: tuple[str, ...], where: str = "configuration.pre_load_modules"
) -> list[str]:
    """Refused or missing ``pre_load_modules`` entries."""
    if modules is None:
        return []
    if not isinstance(modules, list):
        return [f"{where} must be a list of module names"]
    problems: list[str] = []
    for index, module in enumerate(modules):
        at = f"{where}[{index}]"
        refusal = quant_rules.pre_load_refusal(at, module, allowed)
        if refusal is not None:
            problems.append(refusal)
        elif not module_installed(module):
            problems.append(quant_rules.module_missing_message(at, module))
    return problems


def import_pre_load_modules(modules: Sequence[str], allowed: tuple[str, ...]) -> None:
    """Import each module (checked again: this is the place that runs their code)."""
    for index, module in enumerate(modules):
        at = f"configuration.pre_load_modules[{index}]"
        refusal = quant_rules.pre_load_refusal(at, module, allowed)
        if refusal is not None:
            raise QuantizationError(refusal)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = quant_rules.module_missing_message(at, module)
            raise QuantizationError(f"{missing}: {exc}") from exc


def _argument(value: Any) -> Any:
    if inspect.isclass(value):
        return value()
    if isinstance(value, str):
        return str(value)  # an escaped string category ({nf4}) arrives as a str subclass
    if isinstance(value, list):
        return [_argument(v) for v in value]
    if isinstance(value, dict):
        return {k: _argument(v) for k, v in value.items()}
    return value


def build_config(block: Mapping[str, Any], where: str) -> Any:
    """The quantization config object of a type-resolved ``quantization_config`` block."""
    configuration = block.get("configuration")
    kind = configuration.get("config_type") if isinstance(configuration, Mapping) else None
    if not callable(kind):
        raise QuantizationError(f"{where}.configuration.config_type {kind!r} is not a class")
    name = getattr(kind, "__name__", repr(kind))
    backend = quant_rules.backend_for(kind)
    if backend is not None and not module_installed(backend.module):
        raise QuantizationError(quant_rules.missing_message(f"{where} ({name})", backend))
    arguments = block.get("arguments") or {}
    try:
        built = {key: _argument(value) for key, value in arguments.items()}
        return kind(**built)
    except ImportError as exc:
        if backend is not None:
            missing = quant_rules.missing_message(f"{where} ({name})", backend)
            raise QuantizationError(f"{missing}: {exc}") from exc
        raise QuantizationError(f"{where} ({name}): {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise QuantizationError(f"{where} ({name}): {exc}") from exc


def _steps(document: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    steps = document.get("steps")
    found: list[tuple[str, Mapping[str, Any]]] = []
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, Mapping) and isinstance(step.get("pipeline"), Mapping):
            name = step.get("name")
            where = f"step {name!r}" if isinstance(name, str) else f"steps[{index}]"
            found.append((where, step["pipeline"]))
    return found


def quantization_blocks(pipeline: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Each ``quantization_config`` of a ``pipeline`` object with where it is: on component
    blocks, on ``controlnet`` and in ``configuration.load_components.quantization_config``."""
    found: list[tuple[str, Any]] = []
    for key, value in pipeline.items():
        component = key == "controlnet" or support.is_component(key, value)
        if component and isinstance(value, Mapping) and value.get("quantization_config"):
            found.append((f"pipeline.{key}.quantization_config", value["quantization_config"]))
    configuration = pipeline.get("configuration")
    load = configuration.get("load_components") if isinstance(configuration, Mapping) else None
    per = load.get("quantization_config") if isinstance(load, Mapping) else None
    if isinstance(per, Mapping):
        prefix = "pipeline.configuration.load_components.quantization_config"
        found.extend((f"{prefix}.{name}", block) for name, block in per.items())
    return found


def document_problems(
    document: Mapping[str, Any], device: str, allowed: tuple[str, ...]
) -> list[str]:
    """Every quantization config and ``pre_load_modules`` entry of a substituted document
    that cannot load here: a backend or module not installed, a module not allowed, a config
    that cannot run on ``device``. One line each, naming the step."""
    problems: list[str] = []
    for where, pipeline in _steps(document):
        configuration = pipeline.get("configuration")
        target = str(
            (configuration.get("device") if isinstance(configuration, Mapping) else None) or device
        )
        if isinstance(configuration, Mapping) and "pre_load_modules" in configuration:
            found = pre_load_problems(
                configuration["pre_load_modules"],
                allowed,
                "pipeline.configuration.pre_load_modules",
            )
            problems.extend(f"{where}: {p}" for p in found)
        for at, block in quantization_blocks(pipeline):
            problems.extend(f"{where}: {p}" for p in block_problems(at, block, target))
    return problems
