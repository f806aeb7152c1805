"""Refusals that must come before anything of a run loads (DESIGN.md "Security"): every name
a workflow file asks the worker to import, and every loading argument that would run code.

* :func:`name_problems` resolves each ``*_type`` value and ``constant:`` of the steps (in the
  places the realizer would, FORMAT.md 1.9.5; values from variables already substituted)
  through the run's :class:`TypeResolver` and keeps the refusals, so a ``numpy.memmap`` in
  the last step's arguments is refused before the first step loads its model. Names that
  merely do not exist are left to the step that uses them, as before.
* :func:`code_argument_problems` applies :func:`code_rules.code_arguments` to each pipeline
  step unless the user-level setting ``worker.allowRemoteCode`` is true.

Each problem is one line naming the step; the executor lists them in its preflight error.
Imports no torch; the resolver imports what a name needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from dw_lsp.worker.values.realize import is_media_object
from dw_lsp.worker.values.typenames import DisallowedImport, TypeResolver
from dw_lsp.workflow import refs
from dw_lsp.workflow.code_rules import code_arguments


def _steps(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    steps = document.get("steps")
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if isinstance(step, Mapping):
            name = step.get("name")
            yield (f"step {name!r}" if isinstance(name, str) else f"steps[{index}]"), step


def code_argument_problems(
    document: Mapping[str, Any], allow_remote_code: bool, *, references: bool = False
) -> list[str]:
    """The code-loading arguments of every pipeline step (none when they are allowed)."""
    if allow_remote_code:
        return []
    problems: list[str] = []
    for where, step in _steps(document):
        pipeline = step.get("pipeline")
        if isinstance(pipeline, Mapping):
            found = code_arguments(pipeline, references=references)
            problems.extend(f"{where}: {argument.message()}" for argument in found)
    return problems


def name_problems(document: Mapping[str, Any], resolver: TypeResolver) -> list[str]:
    """Each refused name of the steps, once, with the first step that uses it."""
    problems: dict[str, str] = {}
    places = [("variables", document.get("variables")), *_steps(document)]
    for where, node in places:
        for kind, name in _names(node):
            key = f"{kind}:{name}"
            if key in problems:
                continue
            try:
                if kind == "constant":
                    resolver.resolve_constant(name)
                else:
                    resolver.resolve(name)
            except DisallowedImport as exc:
                problems[key] = f"{where}: {exc}"
            except Exception:  # noqa: S112 - a missing name fails where it is used, as before
                continue
    return list(problems.values())


def _names(node: Any) -> Iterator[tuple[str, str]]:
    """(``"type"`` | ``"constant"``, name) for each name the realizer would resolve."""
    if isinstance(node, list):
        for item in node:
            constant = refs.constant_name(item)
            if constant is not None:
                yield "constant", constant
            elif not is_media_object(item):
                yield from _names(item)
        return
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        constant = refs.constant_name(value)
        if constant is not None:
            yield "constant", constant
        elif is_media_object(value) or not isinstance(key, str) or refs.is_media_key(key):
            continue
        elif refs.is_type_key(key) and isinstance(value, str):
            if value and not refs.is_escaped(value) and not _deferred(value):
                yield "type", value
        else:
            yield from _names(value)


def _deferred(value: str) -> bool:
    return refs.variable_name(value) is not None or refs.previous_result_target(value) is not None
