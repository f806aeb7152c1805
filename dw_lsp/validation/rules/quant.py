"""DW307 and DW308: extra modules and quantization configs the worker will refuse
(FORMAT.md 1.4.1 ``pre_load_modules``, 1.4.4; :mod:`dw_lsp.workflow.quant_rules`).

* **DW307** (error): a ``pre_load_modules`` entry that is not one of the known quantization
  packages (``sdnq``, ``torchao``, ``bitsandbytes``, ``gguf``, ``optimum.quanto``) nor under a
  prefix of the user-level setting ``worker.allowedModules``: the worker refuses the run
  before anything loads, with the same words.
* **DW308** (warning): only when the worker has reported its capabilities in its handshake
  (``CheckContext.capabilities``): a ``quantization_config`` whose backend is not installed
  in the worker's environment, one that cannot run on the worker's device (bitsandbytes on
  a CPU, an SDNQ ``quantization_device: cuda`` or torchao's int4 config without CUDA), a
  ``pre_load_modules`` entry of a known backend that is not installed, and any other device
  the workflow names that the worker lacks (``components.vae.device: cuda`` on a CPU,
  :mod:`dw_lsp.workflow.device_rules`). The server cannot see the worker's environment
  itself, so before the worker answers this rule says nothing.

Values from ``variable:`` references are not judged here (the worker judges them after
substitution). Pure: imports no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dw_lsp.capabilities import Capabilities
from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.fixes import NeedsSetting
from dw_lsp.validation.rules.base import Reporter
from dw_lsp.workflow import device_rules, quant_rules, refs
from dw_lsp.workflow.code_rules import ALLOWED_MODULES_SETTING, normalise_prefixes
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.problem import Problem

REFUSED_MODULE = "DW307"
WILL_FAIL = "DW308"


def check_quantization(doc: Document, ctx: CheckContext) -> list[Problem]:
    root = doc.value
    if not isinstance(root, dict) or not isinstance(root.get("steps"), list):
        return []
    report = Reporter(doc)
    allowed = normalise_prefixes(ctx.allowed_modules)
    for index, step in enumerate(root["steps"]):
        pipeline = step.get("pipeline") if isinstance(step, dict) else None
        if not isinstance(pipeline, dict):
            continue
        base: Path = ("steps", index, "pipeline")
        configuration = pipeline.get("configuration")
        modules = configuration.get("pre_load_modules") if isinstance(configuration, dict) else None
        if isinstance(modules, list):
            _modules(report, (*base, "configuration", "pre_load_modules"), modules, allowed, ctx)
        if ctx.capabilities is None:
            continue
        device = configuration.get("device") if isinstance(configuration, dict) else None
        if not isinstance(device, str) or refs.variable_name(device) is not None:
            device = ctx.capabilities.device
        for path, block in _blocks(pipeline, base):
            _block(report, path, block, device, ctx.capabilities)
    if ctx.capabilities is not None:
        _devices(report, root["steps"], ctx.capabilities.device)
    return report.problems


def _devices(report: Reporter, steps: list[Any], device: str) -> None:
    """Explicit devices the worker lacks (``components.vae.device: cuda`` on a CPU), in the
    words of the worker's refusal (:mod:`dw_lsp.workflow.device_rules`)."""
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        for named in device_rules.named_devices({"steps": [step]}, device):
            if device_rules.refused(named):
                message = device_rules.message(named, device)
                report.value(
                    WILL_FAIL, ("steps", index, *named.path), f"{message}; the run will be refused"
                )


def _modules(
    report: Reporter, path: Path, modules: list[Any], allowed: tuple[str, ...], ctx: CheckContext
) -> None:
    for index, module in enumerate(modules):
        if not isinstance(module, str) or refs.variable_name(module) is not None:
            continue
        where = f"pre_load_modules[{index}]"
        refusal = quant_rules.pre_load_refusal(where, module, allowed)
        if refusal is not None:
            report.value(
                REFUSED_MODULE,
                (*path, index),
                refusal,
                NeedsSetting(ALLOWED_MODULES_SETTING, module=module),
            )
            continue
        backend = quant_rules.backend_for_module(module)
        capabilities = ctx.capabilities
        if (
            backend is not None
            and capabilities is not None
            and backend.name not in capabilities.backends
        ):
            report.value(
                WILL_FAIL, (*path, index), quant_rules.module_missing_message(where, module)
            )


def _blocks(pipeline: Mapping[str, Any], base: Path) -> Iterator[tuple[Path, Any]]:
    for key, value in pipeline.items():
        if isinstance(value, dict) and "quantization_config" in value:
            yield (*base, key, "quantization_config"), value["quantization_config"]
    configuration = pipeline.get("configuration")
    load = configuration.get("load_components") if isinstance(configuration, dict) else None
    per = load.get("quantization_config") if isinstance(load, dict) else None
    if isinstance(per, dict):
        for name, block in per.items():
            yield (*base, "configuration", "load_components", "quantization_config", name), block


def _block(
    report: Reporter, path: Path, block: Any, device: str, capabilities: Capabilities
) -> None:
    if not isinstance(block, dict):
        return
    configuration = block.get("configuration")
    config_type = configuration.get("config_type") if isinstance(configuration, dict) else None
    if not isinstance(config_type, str) or refs.variable_name(config_type) is not None:
        return
    backend = quant_rules.backend_for(config_type)
    if backend is None:
        return
    target: Path = (*path, "configuration", "config_type")
    if backend.name not in capabilities.backends:
        message = quant_rules.missing_message(f"quantization_config ({config_type})", backend)
        report.value(WILL_FAIL, target, f"{message}; the run will be refused")
        return
    arguments = block.get("arguments")
    if not isinstance(arguments, dict):
        return
    problem = quant_rules.device_problem("quantization_config", config_type, arguments, device)
    quant_type = quant_rules.mslk_config(config_type, arguments)
    if problem is None and quant_type is not None and not device.startswith("cuda"):
        problem = quant_rules.mslk_message("quantization_config", quant_type, device, False)
    if problem is not None:
        report.value(WILL_FAIL, target, f"{problem}; the run will be refused")
