"""Sub-workflow rules (FORMAT.md 1.7, 1.9.8, 4.8, 1.11 rules 5 and 6).

DW235 no ``path``, DW236 invalid ``builtin:`` name, DW208 unresolvable path (unknown
built-in, missing file, not ``.json``, unreadable), DW237 path rules, DW206/DW207 step
arguments vs the child's declared variables, DW209 a child with errors (checked
recursively with the whole checker; cycles and depth are guarded). Built-ins are this
project's own, in ``dw_lsp/builtins/``. Pure: imports no pygls, lsprotocol, torch or
diffusers.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.fixes import InsertKey, Related, replacing
from dw_lsp.validation.rules.base import Reporter, close_names, quoted
from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.files import MAX_NESTING, builtin_file, builtin_names, resolve_relative
from dw_lsp.workflow.outline import Outline, Step
from dw_lsp.workflow.paths import path_violation
from dw_lsp.workflow.problem import Problem, Severity
from dw_lsp.workflow.refs import BUILTIN, VARIABLE


@dataclass(frozen=True)
class _Run:
    """One top-level check: the files whose check is in progress, outermost first (guards
    cycles and depth), and the errors of each child already checked, by (file, text), so a
    built-in used by many steps is checked once."""

    chain: tuple[Path, ...]
    memo: dict[tuple[Path, str], list[Problem]]


#: A context variable, so concurrent checks (threads, tasks) each see their own run.
_RUN: ContextVar[_Run | None] = ContextVar("dw_lsp_subworkflow_run", default=None)


@dataclass(frozen=True)
class Child:
    """A sub-workflow that resolved to a file."""

    path: Path
    label: str  # as the user wrote it


def check_subworkflows(
    outline: Outline, report: Reporter, ctx: CheckContext
) -> dict[int, set[str]]:
    """Check every ``workflow`` step; return step index -> the pipeline step names its
    child adds to the run's pipeline dict (for ``reference_name``)."""
    token = _RUN.set(_Run((), {})) if _RUN.get() is None else None
    try:
        return _check_steps(outline, report, ctx)
    finally:
        if token is not None:
            _RUN.reset(token)


def _check_steps(outline: Outline, report: Reporter, ctx: CheckContext) -> dict[int, set[str]]:
    published: dict[int, set[str]] = {}
    folder = ctx.path.parent if ctx.path is not None else None
    for step in outline.steps:
        if step.kind != "workflow":
            continue
        base = (*step.path, "workflow")
        if "path" not in step.body:
            report.key(
                "DW235",
                base,
                'This workflow step has no "path"; the schema allows that, but dw fails with '
                'a KeyError when the step runs. Add "path": "builtin:NAME.json" or a file '
                "path.",
                InsertKey(base, "path", BUILTIN),
            )
            continue
        value = step.body["path"]
        if not isinstance(value, str) or value.startswith(VARIABLE):
            continue
        child = _locate(report, (*base, "path"), value, folder)
        if child is None:
            continue
        text = _read(report, (*base, "path"), child, ctx)
        if text is None:
            continue
        doc = parse(text)
        if isinstance(doc.value, dict):
            _arguments(report, step, doc.value)
            published[step.index] = _pipelines(doc.value)
        _child_errors(report, (*base, "path"), child, doc, ctx)
    return published


def _locate(
    report: Reporter, path: tuple[str | int, ...], value: str, folder: Path | None
) -> Child | None:
    if value.startswith(BUILTIN):
        name = value[len(BUILTIN) :]
        builtin = builtin_file(name)
        if builtin is None:
            report.value(
                "DW236",
                path,
                f"'{value}' is not a valid built-in name: it must be builtin:NAME.json with "
                "no / or \\ in NAME.",
            )
            return None
        if not builtin.is_file():
            names = builtin_names()
            close = close_names(name, names) or names
            report.value(
                "DW208",
                path,
                f"There is no built-in workflow '{name}'; the built-ins are {quoted(names)}.",
                replacing(BUILTIN + n for n in close),
            )
            return None
        return Child(builtin, value)
    bad = path_violation(value)
    if bad is not None:
        report.value("DW237", path, f"The sub-workflow path {bad}; dw refuses it.")
        return None
    if not value.lower().endswith(".json"):
        report.value(
            "DW208", path, f"'{value}' is not a .json file; dw loads only .json sub-workflows."
        )
        return None
    target = resolve_relative(value, folder)
    if target is None:
        return None  # a relative path in an unsaved buffer: nothing to resolve against
    if not target.is_file():
        report.value(
            "DW208",
            path,
            f"Sub-workflow not found: {target}. A relative path resolves against this "
            "workflow file's folder.",
        )
        return None
    return Child(target, value)


def _read(
    report: Reporter, path: tuple[str | int, ...], child: Child, ctx: CheckContext
) -> str | None:
    try:
        return ctx.read(child.path)
    except (OSError, ValueError) as exc:
        report.value("DW208", path, f"The sub-workflow cannot be read: {exc}.")
        return None


def _arguments(report: Reporter, step: Step, child: dict[str, Any]) -> None:
    arguments = step.body.get("arguments")
    if not isinstance(arguments, dict) or not arguments:
        return
    path = (*step.path, "workflow", "arguments")
    declared = child.get("variables")
    if "variables" not in child:
        report.key(
            "DW207",
            path,
            "The sub-workflow declares no variables, so dw silently ignores these arguments. "
            'Declare them in the sub-workflow\'s "variables", or remove them.',
        )
        return
    if not isinstance(declared, dict):
        return
    for name in arguments:
        if name in declared:
            continue
        close = close_names(name, declared)
        names = quoted(declared) if declared else "none"
        report.key(
            "DW206",
            (*path, name),
            f"'{name}' is not a variable of the sub-workflow, so the child fails at its "
            f"start. Its variables: {names}.",
            replacing(close),
        )


def _pipelines(child: dict[str, Any]) -> set[str]:
    steps = child.get("steps")
    if not isinstance(steps, list):
        return set()
    return {
        s["name"]
        for s in steps
        if isinstance(s, dict)
        and isinstance(s.get("name"), str)
        and "pipeline" in s
        and s.get("release_pipeline") is not True
    }


def _child_errors(
    report: Reporter, path: tuple[str | int, ...], child: Child, doc: Document, ctx: CheckContext
) -> None:
    run = _RUN.get() or _Run((), {})
    me = child.path.resolve()
    current = ctx.path.resolve() if ctx.path is not None else None
    chain = (*run.chain, current) if current is not None else run.chain
    if me in chain:
        loop = " -> ".join(p.name for p in (*chain, me))
        report.value(
            "DW209",
            path,
            f"This sub-workflow calls back into a workflow that is already running ({loop}); "
            "dw would recurse until it fails. Break the cycle.",
        )
        return
    if len(chain) > MAX_NESTING or ctx.check is None:
        return
    errors = run.memo.get((me, doc.text))
    if errors is None:
        token = _RUN.set(_Run(chain, run.memo))
        try:
            problems = ctx.check(doc, replace(ctx, path=child.path))
        finally:
            _RUN.reset(token)
        errors = [p for p in problems if p.severity == Severity.ERROR]
        run.memo[(me, doc.text)] = errors
    if not errors:
        return
    first = errors[0]
    line, column = doc.lines.line_col_1based(first.start)
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    report.value(
        "DW209",
        path,
        f"The sub-workflow {child.label} has {count}; the first, at line {line}:{column}, is: "
        f"{first.code} {first.message} Open it to fix them.",
        Related(str(child.path), line, column, first.code, first.message),
    )
