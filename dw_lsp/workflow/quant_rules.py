"""Quantization backends and extra modules (FORMAT.md 1.4.4, 1.4.1 ``pre_load_modules``), as
plain data and pure functions shared by the worker (which refuses before loading), the dry
run and the checker (which warns when the worker's reported capabilities say a key will
fail), so that all three say the same thing in the same words.

* :data:`BACKENDS`: each backend's import name, its pip package and the config classes that
  need it (``sdnq.SDNQConfig``, ``BitsAndBytesConfig``, ``TorchAoConfig``,
  ``GGUFQuantizationConfig``, ``QuantoConfig``); :func:`backend_for` maps a ``config_type``
  value to its backend.
* :data:`PRE_LOAD_MODULES`: the modules ``pre_load_modules`` may import without the user
  allowing them (the known quantization packages); :func:`pre_load_refusal` says why any
  other module is refused.
* :func:`missing_message` and :func:`device_problem`: what the worker says when a backend is
  not installed, or cannot run on its device (bitsandbytes needs CUDA in diffusers; SDNQ's
  ``quantization_device`` / ``return_device`` name a device the worker may not have);
  :func:`mslk_config` / :func:`mslk_message`: torchao's int4 config, whose kernels come from
  ``mslk-cuda`` (CUDA only).

Pure: imports nothing beyond the standard library and :mod:`dw_lsp.workflow.code_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dw_lsp.workflow.code_rules import ALLOWED_MODULES_SETTING, under


@dataclass(frozen=True)
class Backend:
    """A quantization backend: ``module`` is what Python imports, ``package`` what pip
    installs, ``configs`` the class names (last dotted part) of the configs that need it."""

    name: str
    module: str
    package: str
    configs: frozenset[str]


BACKENDS: tuple[Backend, ...] = (
    Backend("sdnq", "sdnq", "sdnq", frozenset({"SDNQConfig"})),
    Backend("bitsandbytes", "bitsandbytes", "bitsandbytes", frozenset({"BitsAndBytesConfig"})),
    Backend("torchao", "torchao", "torchao", frozenset({"TorchAoConfig"})),
    Backend("gguf", "gguf", "gguf", frozenset({"GGUFQuantizationConfig"})),
    Backend("optimum-quanto", "optimum.quanto", "optimum-quanto", frozenset({"QuantoConfig"})),
)
#: Modules ``pre_load_modules`` may import unless the user allows more
#: (``worker.allowedModules``): the known quantization packages.
PRE_LOAD_MODULES: tuple[str, ...] = tuple(b.module for b in BACKENDS)
#: The ``quant`` extra that installs every backend.
EXTRA = "pip install 'dw-lsp[quant]'"
#: Devices a ``*_device`` argument of a quantization config may name.
ACCELERATORS = ("cuda", "xpu", "mps")


def backend_for(config_type: Any) -> Backend | None:
    """The backend a ``config_type`` value (a dotted name, or a class) needs, or None."""
    name = config_type if isinstance(config_type, str) else getattr(config_type, "__name__", "")
    if not isinstance(name, str) or not name:
        return None
    if name.startswith("{") and name.endswith("}"):
        return None
    last = name.rsplit(".", 1)[-1]
    root = name.split(".", 1)[0] if "." in name else ""
    for backend in BACKENDS:
        if last in backend.configs or (root and under(name, (backend.module,))):
            return backend
    return None


def backend_for_module(module: str) -> Backend | None:
    """The backend a ``pre_load_modules`` entry imports, or None."""
    return next((b for b in BACKENDS if under(module, (b.module,))), None)


def missing_message(what: str, backend: Backend) -> str:
    """``what`` needs ``backend``, which the worker's environment lacks."""
    return (
        f"{what} needs the '{backend.package}' package, which is not installed in the "
        f"worker's environment (pip install {backend.package}, or {EXTRA})"
    )


def module_missing_message(where: str, module: str) -> str:
    backend = backend_for_module(module)
    package = backend.package if backend else module.split(".")[0]
    return (
        f"{where}: module '{module}' is not installed in the worker's environment "
        f"(pip install {package})"
    )


def pre_load_refusal(where: str, module: Any, allowed: tuple[str, ...]) -> str | None:
    """Why ``pre_load_modules`` may not import ``module``, or None when it may."""
    if (
        not isinstance(module, str)
        or not module
        or not all(part.isidentifier() for part in module.split("."))
    ):
        return f"{where}: {module!r} is not a module name"
    if any(part.startswith("_") for part in module.split(".")):
        return f"{where}: '{module}' reaches a private module (a part starting with '_')"
    if under(module, PRE_LOAD_MODULES) or under(module, allowed):
        return None
    return (
        f"{where}: importing '{module}' is refused: pre_load_modules imports only the known "
        f"quantization packages ({', '.join(PRE_LOAD_MODULES)}) unless the user-level setting "
        f"{ALLOWED_MODULES_SETTING} lists it; importing a module runs its code"
    )


#: torchao configs whose default (the only one a workflow can ask for: FORMAT.md 1.4.4
#: instantiates them with no arguments) quantizes with mslk's kernels: torchao 0.18's
#: ``Int4WeightOnlyConfig()`` packs int4 weights in the ``plain`` format through
#: ``mslk.quantize.shuffle.int4_row_quantize_zp`` ("Requires mslk >= 1.0.0" without it).
#: mslk ships on PyPI as ``mslk-cuda`` (CUDA builds only; ``mslk`` itself is a placeholder).
MSLK_CONFIGS = frozenset({"Int4WeightOnlyConfig"})
MSLK_MODULE = "mslk"
MSLK_PACKAGE = "mslk-cuda"


def mslk_config(config_type: Any, arguments: Mapping[str, Any]) -> str | None:
    """The torchao ``quant_type`` of a quantization config that needs mslk, or None."""
    backend = backend_for(config_type)
    if backend is None or backend.name != "torchao":
        return None
    quant_type = arguments.get("quant_type")
    name = quant_type if isinstance(quant_type, str) else getattr(quant_type, "__name__", "")
    last = str(name).rsplit(".", 1)[-1]
    return last if last in MSLK_CONFIGS else None


def mslk_message(where: str, quant_type: str, device: str, installed: bool) -> str | None:
    """Why a torchao config that needs mslk cannot run here (None when it can)."""
    kind = _device_kind(device)
    if kind == "cuda" and installed:
        return None
    reason = (
        f"needs CUDA; this worker runs on {kind or device}"
        if kind != "cuda"
        else f"needs the '{MSLK_PACKAGE}' package, which is not installed in the worker's "
        f"environment (pip install {MSLK_PACKAGE})"
    )
    return (
        f"{where}: torchao's {quant_type} packs int4 weights with mslk's CUDA kernels "
        f"({MSLK_PACKAGE}), so it {reason} (use Int8WeightOnlyConfig, or SDNQ's uint4, here)"
    )


def _device_kind(value: Any) -> str:
    text = str(value).strip().lower() if value is not None else ""
    return text.split(":", 1)[0]


def device_problem(
    where: str, config_type: Any, arguments: Mapping[str, Any], device: str
) -> str | None:
    """Why a quantization config cannot run on ``device`` (the worker's device kind:
    ``cpu``, ``cuda``, ``mps``, ...), or None. Only what is known to fail is named:
    diffusers' bitsandbytes quantizer needs CUDA or XPU (4-bit also MPS), and an SDNQ
    ``quantization_device`` / ``return_device`` must be a device this worker has."""
    backend = backend_for(config_type)
    kind = _device_kind(device)
    if backend is None:
        return None
    name = config_type if isinstance(config_type, str) else getattr(config_type, "__module__", "")
    if backend.name == "bitsandbytes" and not str(name).startswith("transformers"):
        four_bit = bool(arguments.get("load_in_4bit"))
        needs = ("cuda", "xpu", "mps") if four_bit else ("cuda", "xpu")
        if kind not in needs:
            bits = "4-bit" if four_bit else "8-bit"
            return (
                f"{where}: bitsandbytes {bits} quantization in diffusers needs "
                f"{' or '.join(n.upper() for n in needs)}; this worker runs on {kind or device} "
                "(use SDNQ, torchao or quanto here, or run on a GPU)"
            )
    if backend.name == "sdnq":
        for key in ("quantization_device", "return_device"):
            wanted = _device_kind(arguments.get(key))
            if wanted in ACCELERATORS and wanted != kind:
                return (
                    f"{where}.arguments.{key} is {arguments.get(key)!r}, but this worker runs "
                    f"on {kind or device}; set it to the worker's device to quantize here"
                )
    return None
