"""What a workflow may name and hand to a loader without running code (DESIGN.md
"Security"), as plain data and pure functions shared by the checker (DW305, DW306) and the
worker, so that the two refuse the same things with the same words.

**Names.** A workflow names classes, never modules or functions: the pipeline, model,
scheduler, quantization-config, processor and tokenizer classes of diffusers and
transformers, the config classes of the known quantization packages, torch dtypes and
enum-like or plain-data constants. The worker decides on the resolved object
(:mod:`dw_lsp.worker.values.nameable`); what can be decided from the name alone lives here: the
library prefixes, that nothing under a ``utils`` package is a type, and the one loader
function the format names (``transformers.pipeline``, FORMAT.md 1.4.3 ``task``).
``worker.allowedModules`` adds prefixes whose *classes* may be named.

**Loading arguments.** ``trust_remote_code``, ``custom_pipeline``, ``custom_revision``,
``module_file`` and any value naming a Python file make diffusers or transformers import code
that came with a model or sits beside the workflow. They are refused anywhere in a
``pipeline`` step except its call ``arguments`` (which reach ``__call__``, not a loader)
unless the user-level setting ``worker.allowRemoteCode`` is true.

Pure: imports nothing beyond the standard library and :mod:`dw_lsp.workflow.refs`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dw_lsp.workflow import refs

#: The settings named in refusals.
ALLOWED_MODULES_SETTING = "worker.allowedModules"
ALLOW_REMOTE_CODE_SETTING = "worker.allowRemoteCode"

#: Libraries whose pipeline/model/scheduler/quantization/processor/tokenizer classes resolve.
CLASS_LIBRARIES = ("diffusers", "transformers")
#: Known quantization packages (FORMAT.md 1.4.4): their config classes and data values.
QUANTIZATION_PACKAGES = ("sdnq", "torchao", "optimum.quanto")
#: Data libraries: torch dtypes and enum-like values only, never a class or a function.
DATA_LIBRARIES = ("torch", "PIL", "numpy")
#: The only functions a workflow may name.
LOADER_FUNCTIONS = frozenset({"transformers.pipeline"})
#: What every refusal of a name says a workflow may name.
NAMEABLE = (
    "a workflow may name only pipeline, model, scheduler, quantization-config, processor "
    "and tokenizer classes, torch dtypes and plain constants"
)

#: Loading arguments that make a loader import code.
CODE_ARGUMENTS = ("trust_remote_code", "custom_pipeline", "custom_revision", "module_file")
#: File endings of Python code.
CODE_FILE_SUFFIXES = (".py", ".pyc", ".pyw")
#: Keys of a ``pipeline`` step whose contents never reach a loader.
_CALL_KEYS = frozenset({"arguments"})


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    """Is the dotted ``name`` one of ``prefixes`` or inside one of them?"""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def normalise_prefixes(prefixes: Any) -> tuple[str, ...]:
    """``worker.allowedModules`` as both sides read it: blanks dropped, outer dots stripped."""
    if not prefixes:
        return ()
    cleaned = (str(p).strip().strip(".") for p in prefixes if isinstance(p, str))
    return tuple(p for p in cleaned if p)


def utils_part(name: str) -> str | None:
    """The ``utils`` package a dotted type name passes through, or None."""
    parts = name.split(".")
    for index, part in enumerate(parts[:-1]):
        if part == "utils":
            return ".".join(parts[: index + 1])
    return None


def utils_refusal(name: str, package: str) -> str:
    root = name.split(".")[0]
    return (
        f"'{name}' is under the package '{package}': nothing under a utils package can be "
        f"named as a type ({NAMEABLE}). Name a class from its library's top level "
        f"(e.g. {root}.{name.rsplit('.', 1)[-1]}) if it is one."
    )


def names_code_file(value: object) -> bool:
    """Does a loading argument's value name a Python source or bytecode file?"""
    if not isinstance(value, str):
        return False
    text = value.strip().rstrip("/\\").lower()
    return text.endswith(CODE_FILE_SUFFIXES)


@dataclass(frozen=True)
class CodeArgument:
    """A loading argument that would make a loader import code. ``path`` is relative to the
    ``pipeline`` object; ``variable`` is the variable a value comes from, when it does."""

    path: tuple[str | int, ...]
    key: str
    value: Any
    variable: str | None = None

    @property
    def where(self) -> str:
        text = "pipeline"
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else f".{part}"
        return text

    def message(self) -> str:
        """Why it is refused, and the setting that would allow it."""
        if self.variable is not None:
            what = (
                f"'{self.key}' takes its value from variable '{self.variable}', which a "
                "caller can set"
            )
        elif self.key in CODE_ARGUMENTS:
            what = f"'{self.key}' is {_show(self.value)}"
        else:
            what = f"'{self.key}' names a Python file ({_show(self.value)})"
        return (
            f"{self.where}: {what}; {_why(self.key)} This is refused unless the user-level "
            f"setting {ALLOW_REMOTE_CODE_SETTING} is true."
        )


def _show(value: Any) -> str:
    """The value as JSON shows it, a long one shortened at its start (a path's end says
    more than its beginning)."""
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 80 else "..." + text[-77:]


def _why(key: str) -> str:
    if key == "trust_remote_code":
        return "it lets diffusers or transformers run Python code shipped with the model."
    if key in ("custom_pipeline", "custom_revision"):
        return "a custom pipeline is Python code that diffusers imports and runs."
    if key == "module_file":
        return "it names a Python module for a loader to import and run."
    return "a loader would import and run it."


def code_arguments(
    pipeline: Mapping[str, Any],
    *,
    references: bool = True,
    defaults: Mapping[str, Any] | None = None,
) -> list[CodeArgument]:
    """Every loading argument of a ``pipeline`` object that would import code, in document
    order. With ``references`` a code argument set from a ``variable:`` counts too, and so
    does any argument whose variable's default in ``defaults`` names a Python file (the
    checker's view: a caller can switch it on); without, such values are left for the check
    after substitution (the worker's view of a file whose variables are not known yet)."""
    walk = _Walk(references, defaults or {})
    return [
        found
        for key, value in pipeline.items()
        if key not in _CALL_KEYS and isinstance(key, str)
        for found in walk.node(value, (key,))
    ]


@dataclass(frozen=True)
class _Walk:
    references: bool
    defaults: Mapping[str, Any]

    def node(self, node: Any, path: tuple[str | int, ...]) -> Iterator[CodeArgument]:
        if isinstance(node, Mapping):
            items = [(k, v) for k, v in node.items() if isinstance(k, str)]
        elif isinstance(node, list):
            key = next((p for p in reversed(path) if isinstance(p, str)), "")
            items = [(key, v) for v in node]
        else:
            return
        for index, (key, value) in enumerate(items):
            where = (*path, key if isinstance(node, Mapping) else index)
            found = self.argument(key, value, where)
            if found is not None:
                yield found
            elif isinstance(value, Mapping | list):
                yield from self.node(value, where)

    def argument(self, key: str, value: Any, path: tuple[str | int, ...]) -> CodeArgument | None:
        variable = refs.variable_name(value)
        if variable is None:
            return _argument(key, value, path)
        if not self.references:
            return None
        default = self.defaults.get(variable)
        if key in CODE_ARGUMENTS or names_code_file(default):
            return CodeArgument(path, key, value, variable)
        return None


def _argument(key: str, value: Any, path: tuple[str | int, ...]) -> CodeArgument | None:
    if key in CODE_ARGUMENTS and value is not None and value is not False:
        return CodeArgument(path, key, value)
    if names_code_file(value):
        return CodeArgument(path, key, value)
    return None
