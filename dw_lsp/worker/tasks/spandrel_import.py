"""spandrel, imported even where torchvision is missing.

spandrel's package init builds its architecture registry from every architecture it ships,
and two of them (LaMa, RestoreFormer) import torchvision, which has no build for some
torch versions (a CPU-only torch 2.13 here). One missing dependency would then disable all
of spandrel. :func:`spandrel` imports it normally when it can; otherwise it runs spandrel's
own init over a registry of the architectures that do import, added in spandrel's order
(read from its ``main_registry`` source, so a new spandrel version keeps its own order).
:func:`missing_architectures` names those left out, so a file of one of them is refused
with the reason. Imports spandrel (and through it torch) only when called.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from dw_lsp.worker.tasks import locate

_MISSING: dict[str, str] = {}


def spandrel(command: str) -> ModuleType:
    """The spandrel module (see the module docstring), or a TaskUnavailable naming the
    package or dependency that is missing."""
    loaded = sys.modules.get("spandrel")
    if loaded is not None and hasattr(loaded, "ModelLoader"):
        return loaded
    try:
        return importlib.import_module("spandrel")
    except ImportError as exc:
        if getattr(exc, "name", None) != "torchvision":
            raise locate.unimportable(command, "spandrel", exc) from exc
    try:
        return _without_failing_architectures()
    except ImportError as exc:
        raise locate.unimportable(command, "spandrel", exc) from exc


def missing_architectures() -> dict[str, str]:
    """Architectures left out of the registry -> the module they could not import."""
    return dict(_MISSING)


def _registered(init_file: Path) -> list[tuple[str, str]]:
    """(architecture package, class) in the order spandrel's main registry adds them."""
    source = (init_file.parent / "__helpers" / "main_registry.py").read_text(encoding="utf-8")
    found: list[tuple[str, str]] = []
    # the calls are the arguments of one add(...): ast.walk visits them in source order
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "from_architecture"
            and node.args
            and isinstance(node.args[0], ast.Call)
            and isinstance(node.args[0].func, ast.Attribute)
            and isinstance(node.args[0].func.value, ast.Name)
        ):
            found.append((node.args[0].func.value.id, node.args[0].func.attr))
    return found


def _without_failing_architectures() -> ModuleType:
    spec = importlib.util.find_spec("spandrel")
    if spec is None or spec.loader is None or spec.origin is None:
        raise ImportError("spandrel is not installed", name="spandrel")
    module = importlib.util.module_from_spec(spec)
    sys.modules["spandrel"] = module
    try:
        helpers: Any = importlib.import_module("spandrel.__helpers")
        registry = importlib.import_module("spandrel.__helpers.registry")
        main = registry.ArchRegistry()
        for package, cls in _registered(Path(spec.origin)):
            try:
                architecture = importlib.import_module(f"spandrel.architectures.{package}")
            except ImportError as exc:
                _MISSING[package] = getattr(exc, "name", None) or str(exc)
                continue
            main.add(registry.ArchSupport.from_architecture(getattr(architecture, cls)()))
        holder = ModuleType("spandrel.__helpers.main_registry")
        holder.MAIN_REGISTRY = main  # type: ignore[attr-defined]
        sys.modules[holder.__name__] = holder
        helpers.main_registry = holder
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("spandrel", None)
        raise
    return module
