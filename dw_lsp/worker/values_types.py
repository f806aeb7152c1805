"""Resolving the names a workflow asks the worker to import: ``*_type`` values and
``constant:`` references (FORMAT.md 1.9.4, 1.9.6; DESIGN.md "Security").

A workflow file is effectively a program: a type name can be any callable. The resolver
therefore only walks into modules under an allowlist of prefixes (diffusers, transformers,
the project's own worker, plus ``worker.allowedModules``), checks every module it passes
through on the way (``diffusers.utils.os`` is ``os``, not diffusers), refuses private
names, and treats torch, numpy and PIL as *data* libraries: their dtypes, constants and
classes resolve, their functions (``torch.load``, ``numpy.load``, ``PIL.Image.open``) do
not. Imports only ``importlib``; the libraries themselves load on first use.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import types
from collections.abc import Sequence

from dw_lsp.workflow import refs

#: The setting that extends the allowlist (named in every refusal).
ALLOWED_MODULES_SETTING = "worker.allowedModules"

#: Module prefixes whose classes and functions may be resolved.
TRUSTED_PREFIXES = ("diffusers", "transformers")
#: Module prefixes of which only data and classes may be resolved, never functions.
DATA_PREFIXES = ("torch", "PIL", "numpy")

NAME_MAX = refs.CONSTANT_NAME_MAX


class DisallowedImport(Exception):
    """A workflow names something outside the worker's allowlist of module prefixes."""


class UnresolvedName(ValueError):
    """An allowed name that does not exist in the installed libraries."""


def _under(module: str, prefixes: Sequence[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


class TypeResolver:
    """Resolves type names and constants inside the allowlist, caching each answer."""

    def __init__(self, extra_allowed: Sequence[str] = ()) -> None:
        extra = tuple(p.strip().strip(".") for p in extra_allowed if p and p.strip().strip("."))
        self.trusted: tuple[str, ...] = TRUSTED_PREFIXES + extra
        self.data_only: tuple[str, ...] = DATA_PREFIXES
        self._types: dict[str, object] = {}
        self._constants: dict[str, object] = {}

    # --- public ---------------------------------------------------------------------

    def resolve(self, name: str) -> object:
        """The object a ``*_type`` value names: a bare name is read from diffusers."""
        if name in self._types:
            return self._types[name]
        dotted = self._qualify(name, what="type")
        value = self._walk(dotted, original=name)
        self._check_result(value, original=name)
        self._types[name] = value
        return value

    def resolve_constant(self, name: str) -> object:
        """The value a ``constant:`` reference names; callables and modules are refused;
        lists, dicts and sets are deep-copied so a run never edits the library's own."""
        if name not in self._constants:
            dotted = self._qualify(name, what="constant")
            value = self._walk(dotted, original=name)
            if isinstance(value, types.ModuleType):
                raise ValueError(f"constant '{name}' is a module, not a value")
            if callable(value):
                raise ValueError(
                    f"constant '{name}' is a {type(value).__name__}, not a value: 'constant:' "
                    "reads data; name a type under a '*_type' key instead"
                )
            self._constants[name] = value
        value = self._constants[name]
        return copy.deepcopy(value) if isinstance(value, list | dict | set) else value

    # --- internals ------------------------------------------------------------------

    def _qualify(self, name: str, *, what: str) -> str:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what} name must be a non-empty string, got {name!r}")
        if len(name) > NAME_MAX:
            raise ValueError(f"{what} name is longer than {NAME_MAX} characters: {name[:40]!r}...")
        if not refs.CONSTANT_NAME_RE.match(name):
            raise ValueError(
                f"{what} name {name!r} is not a dotted Python name (letters, digits, '_', '.')"
            )
        parts = name.split(".")
        if any(part.startswith("_") for part in parts):
            raise DisallowedImport(
                f"{what} name {name!r} reaches a private attribute (a part starting with "
                "'_'); the worker never resolves those"
            )
        dotted = name if "." in name else f"diffusers.{name}"
        if not self._allowed(dotted):
            raise DisallowedImport(self._refusal(name, dotted.split(".")[0]))
        return dotted

    def _allowed(self, module: str) -> bool:
        return _under(module, self.trusted) or _under(module, self.data_only)

    def _refusal(self, name: str, module: str) -> str:
        allowed = ", ".join((*self.trusted, *self.data_only))
        return (
            f"'{name}' is outside the worker's allowed modules ({allowed}); it resolves "
            f"into '{module}'. Add the module prefix to the setting "
            f"{ALLOWED_MODULES_SETTING} if you trust it"
        )

    def _walk(self, dotted: str, *, original: str) -> object:
        """Import the longest importable module prefix, then follow attributes, checking
        that every module passed through is itself allowed."""
        parts = dotted.split(".")
        module: types.ModuleType | None = None
        used = 0
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            try:
                module = importlib.import_module(candidate)
            except ModuleNotFoundError as error:
                # A missing *inner* module means the prefix is not a module; anything that
                # failed while importing an existing module is a real error.
                if error.name is not None and not candidate.startswith(error.name):
                    raise UnresolvedName(f"cannot import '{candidate}': {error}") from error
                continue
            except ImportError as error:
                raise UnresolvedName(f"cannot import '{candidate}': {error}") from error
            used = end
            break
        if module is None:
            raise UnresolvedName(
                f"cannot resolve '{original}': no module '{parts[0]}' is installed"
            )
        value: object = module
        for index in range(used, len(parts)):
            attribute = parts[index]
            try:
                value = getattr(value, attribute)
            except AttributeError as error:
                where = ".".join(parts[:index])
                raise UnresolvedName(
                    f"cannot resolve '{original}': '{where}' has no attribute '{attribute}'"
                ) from error
            if isinstance(value, types.ModuleType) and not self._allowed(value.__name__):
                raise DisallowedImport(self._refusal(original, value.__name__))
        return value

    def _check_result(self, value: object, *, original: str) -> None:
        """Callables must come from an allowed module; torch, numpy and PIL give only
        classes and data, never functions."""
        if isinstance(value, types.ModuleType):
            if not self._allowed(value.__name__):
                raise DisallowedImport(self._refusal(original, value.__name__))
            return
        if not callable(value):
            return
        origin = getattr(value, "__module__", None)
        if not isinstance(origin, str) or not self._allowed(origin):
            raise DisallowedImport(self._refusal(original, str(origin)))
        if _under(origin, self.trusted):
            return
        if not inspect.isclass(value):
            raise DisallowedImport(
                f"'{original}' is a function of '{origin}'; from torch, numpy and PIL the "
                "worker resolves only classes, dtypes and constants. Add the module prefix "
                f"to the setting {ALLOWED_MODULES_SETTING} if you trust it"
            )
