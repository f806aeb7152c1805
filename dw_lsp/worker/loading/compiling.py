"""``configuration.components.<name>.compile`` (FORMAT.md 1.4.1): ``torch.compile`` on a
loaded component, once per load.

The component is compiled in place (``nn.Module.compile``), so it stays registered on its
pipeline and the compiled graph lives as long as the warm pipeline: the compile cost is paid
by the first call after a load, and every later run with the same load key reuses it (the
options are part of the load key, like all of ``configuration``). ``repeated_blocks: true``
asks for diffusers' regional compilation (``compile_repeated_blocks``: only the model's
repeated blocks are compiled); a component without it is an error naming its class.
``mode``, ``fullgraph``, ``dynamic`` and any other key go to ``torch.compile``.

Skipped with a note where torch cannot compile: on MPS (as dw does), and where the inductor
backend would need a C++ compiler and none is found. :func:`problems` (shape checks, used by
the preflight) is pure: torch is imported inside the functions that compile.
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from typing import Any

log = logging.getLogger("dw_lsp.worker.loading.compiling")

Note = Callable[[str], None]
#: Backends that generate C++ on a CPU (the default is inductor).
CODEGEN_BACKENDS = ("inductor",)
COMPILERS = ("c++", "g++", "clang++")


class CompileError(RuntimeError):
    """A ``compile`` entry cannot be applied (the message names the key)."""


def problems(where: str, spec: Any) -> list[str]:
    """Shape checks of a ``components.<name>.compile`` entry."""
    if spec is True or spec is False or spec is None:
        return []
    if not isinstance(spec, Mapping):
        return [f"{where} must be an object of torch.compile options (or true)"]
    found: list[str] = []
    for key, kind in (("fullgraph", bool), ("repeated_blocks", bool), ("mode", str)):
        if spec.get(key) is not None and not isinstance(spec[key], kind):
            found.append(f"{where}.{key} must be a {kind.__name__}, not {spec[key]!r}")
    if spec.get("dynamic") is not None and not isinstance(spec["dynamic"], bool):
        found.append(f"{where}.dynamic must be true, false or null")
    return found


def _compiler() -> str | None:
    configured = os.environ.get("CXX")
    for name in ([configured] if configured else []) + list(COMPILERS):
        found = shutil.which(name)
        if found:
            return found
    return None


def cannot_compile(device: str, backend: str) -> str | None:
    """Why torch cannot compile here (None when it can)."""
    import torch

    kind = torch.device(device).type
    if kind == "mps":
        return "torch.compile is not supported on MPS"
    if kind == "cpu" and backend in CODEGEN_BACKENDS and _compiler() is None:
        return f"the {backend} backend needs a C++ compiler on a CPU and none was found"
    return None


def compile_component(target: Any, spec: Any, where: str, device: str, note: Note) -> None:
    """Compile ``target`` in place as ``spec`` says (or skip with a note)."""
    found = problems(where, spec)
    if found:
        raise CompileError("; ".join(found))
    options = dict(spec) if isinstance(spec, Mapping) else {}
    regional = bool(options.pop("repeated_blocks", False))
    reason = cannot_compile(device, str(options.get("backend") or "inductor"))
    if reason is not None:
        note(f"{where}: {reason}; skipped")
        return
    import torch

    if not isinstance(target, torch.nn.Module):
        raise CompileError(f"{where}: {type(target).__name__} is not a torch module")
    module: Any = target  # compile_repeated_blocks is diffusers', not torch's
    try:
        if regional:
            if not callable(getattr(module, "compile_repeated_blocks", None)):
                raise CompileError(
                    f"{where}.repeated_blocks: {type(target).__name__} has no regional "
                    "compilation (compile_repeated_blocks)"
                )
            log.info("%s: compiling the repeated blocks (%s)", where, options or "defaults")
            module.compile_repeated_blocks(**options)
        else:
            log.info("%s: compiling (%s)", where, options or "defaults")
            module.compile(**options)
    except CompileError:
        raise
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CompileError(f"{where}: {exc}") from exc


def apply(
    pipe: Any,
    entries: Any,
    device: str,
    note: Note,
    reused: Collection[str] = (),
) -> None:
    """Every ``configuration.components.<name>.compile``, after placement."""
    if not isinstance(entries, Mapping):
        return
    for dotted, entry in entries.items():
        if not isinstance(entry, Mapping) or not entry.get("compile"):
            continue
        where = f"configuration.components.{dotted}.compile"
        head = str(dotted).split(".")[0]
        if head in reused:
            log.info("%s: %r was shared by an earlier step, which compiles it", where, head)
            continue
        target: Any = pipe
        for part in str(dotted).split("."):
            target = getattr(target, part, None)
            if target is None:
                log.info("%s: %r is not loaded; skipped", where, dotted)
                break
        else:
            compile_component(target, entry["compile"], where, device, note)
