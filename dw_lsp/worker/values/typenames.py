"""Resolving the names a workflow asks the worker to import: ``*_type`` values and
``constant:`` references (FORMAT.md 1.9.4, 1.9.6; DESIGN.md "Security").

A workflow names classes, not modules: the resolver only walks into modules under the
libraries a workflow may name from (diffusers, transformers, the known quantization
packages, torch/PIL/numpy for dtypes and enum values, plus ``worker.allowedModules``),
checks every module it passes through on the way (``diffusers.utils.os`` is ``os``, not
diffusers), refuses private names and type names under a ``utils`` package, and then asks
:mod:`nameable` whether the object it found is one the format needs (a pipeline, model,
scheduler, quantization-config, processor or tokenizer class, a dtype, a plain constant).
Functions, modules, ``numpy.memmap``, ``transformers.AutoConfig`` are refused with a message
that names the value and the rule. Imports only ``importlib``; the libraries themselves load
on first use.
"""

from __future__ import annotations

import copy
import importlib
import types
from collections.abc import Sequence

from dw_lsp.worker.values import nameable
from dw_lsp.workflow import refs
from dw_lsp.workflow.code_rules import (
    ALLOWED_MODULES_SETTING,
    CLASS_LIBRARIES,
    DATA_LIBRARIES,
    QUANTIZATION_PACKAGES,
    normalise_prefixes,
    under,
    utils_part,
    utils_refusal,
)

__all__ = ["ALLOWED_MODULES_SETTING", "DisallowedImport", "TypeResolver", "UnresolvedName"]

#: Module prefixes under which classes may be resolved (each by its own rule).
TRUSTED_PREFIXES = CLASS_LIBRARIES + QUANTIZATION_PACKAGES
#: Module prefixes of which only dtypes and enum values may be resolved.
DATA_PREFIXES = DATA_LIBRARIES

NAME_MAX = refs.CONSTANT_NAME_MAX


class DisallowedImport(ValueError):
    """A workflow names something it may not: outside the allowed libraries, a module, a
    function, a class the format does not need, or data that is not plain."""


class UnresolvedName(ValueError):
    """An allowed name that does not exist in the installed libraries."""


def _under(module: str, prefixes: Sequence[str]) -> bool:
    return under(module, tuple(prefixes))


class TypeResolver:
    """Resolves type names and constants inside the allowlist, caching each answer."""

    def __init__(self, extra_allowed: Sequence[str] = ()) -> None:
        self.extra: tuple[str, ...] = normalise_prefixes(extra_allowed)
        self.trusted: tuple[str, ...] = TRUSTED_PREFIXES + self.extra
        self.data_only: tuple[str, ...] = DATA_PREFIXES
        self._types: dict[str, object] = {}
        self._constants: dict[str, object] = {}

    # --- public ---------------------------------------------------------------------

    def resolve(self, name: str) -> object:
        """The object a ``*_type`` value names: a bare name is read from diffusers."""
        if name in self._types:
            return self._types[name]
        dotted = self._qualify(name, what="type")
        package = utils_part(dotted)
        if package is not None:
            raise DisallowedImport(utils_refusal(name, package))
        value = self._walk(dotted, original=name)
        self._check_result(value, original=name)
        problem = nameable.type_refusal(value, name, self.extra)
        if problem is not None:
            raise DisallowedImport(problem)
        self._types[name] = value
        return value

    def resolve_constant(self, name: str) -> object:
        """The value a ``constant:`` reference names; callables and modules are refused;
        lists, dicts and sets are deep-copied so a run never edits the library's own."""
        if name not in self._constants:
            dotted = self._qualify(name, what="constant")
            value = self._walk(dotted, original=name)
            problem = nameable.constant_refusal(value, name)
            if problem is not None:
                raise DisallowedImport(problem)
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
            f"into '{module}'. Add the module prefix to the user setting "
            f"{ALLOWED_MODULES_SETTING} if you trust its classes"
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
        """A module, class or function must come from an allowed module (what it *is* is
        :mod:`nameable`'s question)."""
        if isinstance(value, types.ModuleType):
            if not self._allowed(value.__name__):
                raise DisallowedImport(self._refusal(original, value.__name__))
            return
        if not callable(value):
            return
        origin = getattr(value, "__module__", None)
        if not isinstance(origin, str) or not self._allowed(origin):
            raise DisallowedImport(self._refusal(original, str(origin)))
