"""Checks on everything a user hands the Session, before any of it reaches the worker.

DESIGN.md "Security" and FORMAT.md 1.10: a workflow path must resolve (symlinks included)
inside one of the allowed roots (workspace folders / workflow directory), name an existing
``.json`` file of at most 50 MiB (:func:`~dw_lsp.workflow.files.read_workflow_bytes`), and
the file must pass :func:`check_document` without errors. Argument names match
``^[A-Za-z_][A-Za-z0-9_-]*$`` (at most 100 characters) and are declared by the workflow;
values are at most 10,000 characters with none of the characters
:func:`dw_lsp.workflow.refs.unsafe_character` refuses (controls but tab, CR and LF, bidi
controls, lone surrogates).

Unlike dw, a ``..`` inside a name (``v1..2.json``) or a path is fine as long as the
resolved path stays inside a root. The output directory must be a folder path apart from
the workflow (:func:`output_dir_refusal`). Pure functions raising :class:`InputError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dw_lsp.settings import STAND_IN_MODES
from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.files import WorkflowFileError, read_workflow_bytes
from dw_lsp.workflow.paths import holds_workflow, output_dir_violation
from dw_lsp.workflow.problem import Problem, Severity
from dw_lsp.workflow.refs import (
    VALUE_CONTROLS,
    VARIABLE_NAME_MAX,
    VARIABLE_NAME_RE,
    VARIABLE_VALUE_MAX,
    unsafe_character,
)

#: Longest path a user may type.
MAX_PATH_CHARS = 4096

ArgumentValue = str | int | float | bool


class InputError(Exception):
    """A user input was refused; the message says what to do. ``problems`` holds the
    validation problems when the refusal is a workflow that does not check clean."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class CheckedWorkflow:
    """A saved workflow file that passed every check, as it was on disk then."""

    path: Path
    name: str
    variables: Mapping[str, Any]
    has_variables: bool
    sha256: str
    text: str
    warnings: list[Problem] = field(default_factory=list)


def resolve_inside(path: str | Path, roots: Iterable[Path]) -> Path:
    """``path`` resolved (symlinks too); it must lie inside one of ``roots``."""
    raw = str(path)
    if not raw.strip():
        raise InputError("No workflow path given.")
    why = unsafe_character(raw)
    if why is not None:
        raise InputError(f"The workflow path {raw!r} contains {why}; refusing it.")
    if len(raw) > MAX_PATH_CHARS:
        raise InputError("The workflow path is not a valid path.")
    resolved = Path(raw).expanduser().resolve()
    real_roots = [Path(r).expanduser().resolve() for r in roots]
    if not real_roots:
        raise InputError(
            "No workspace folder or workflow directory is set, so no workflow may be run "
            "(open a folder, or set dwLsp.workflowDir)."
        )
    if not any(resolved.is_relative_to(root) for root in real_roots):
        where = ", ".join(str(r) for r in real_roots)
        raise InputError(f"{raw} is outside the allowed folders ({where}); refusing to load it.")
    return resolved


def find_workflow(name: str, workflow_dir: Path) -> Path:
    """The REPL's ``load NAME``: a bare name is looked up in ``workflow_dir`` with ``.json``
    added; any other path is taken relative to the current directory. Either way the result
    must resolve inside ``workflow_dir``."""
    candidate = Path(name).expanduser()
    bare = not candidate.is_absolute() and not name.startswith(("./", "../"))
    if bare:
        candidate = workflow_dir / name
        if candidate.suffix.lower() != ".json":
            candidate = candidate.with_name(candidate.name + ".json")
    return resolve_inside(candidate, [workflow_dir])


def read_workflow(
    path: Path,
    roots: Iterable[Path],
    allowed_modules: Sequence[str] = (),
    allow_remote_code: bool = False,
) -> CheckedWorkflow:
    """Resolve, read and check a saved workflow file; raise :class:`InputError` if unfit."""
    resolved = resolve_inside(path, roots)
    try:
        data = read_workflow_bytes(resolved)
    except (WorkflowFileError, OSError) as exc:
        raise InputError(str(exc)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc}") from exc
    doc = parse(text)
    ctx = CheckContext(
        path=resolved,
        allowed_modules=tuple(allowed_modules),
        allow_remote_code=allow_remote_code,
    )
    problems = check_document(doc, ctx)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        lines = [format_problem(text, p) for p in errors[:20]]
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputError(
            f"{resolved.name} has {len(errors)} validation error(s); not running it:\n"
            + "\n".join(lines)
            + more,
            errors,
        )
    value = doc.value if isinstance(doc.value, dict) else {}
    variables = value.get("variables")
    name = value.get("id")
    return CheckedWorkflow(
        path=resolved,
        name=name if isinstance(name, str) and name else resolved.stem,
        variables=variables if isinstance(variables, dict) else {},
        has_variables=isinstance(variables, dict),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        warnings=[p for p in problems if p.severity is not Severity.ERROR],
    )


def output_dir_refusal(setting: str, output_dir: Path, workflow: Path) -> str | None:
    """Why results of ``workflow`` may not go to ``output_dir`` (the setting ``outputDir``,
    given as ``setting``, resolved): the setting is not a folder path, or the folder holds
    the workflow (the worker also checks its sub-workflows before anything loads)."""
    why = output_dir_violation(setting)
    if why is not None:
        return f"The output directory {setting!r} {why} (setting outputDir)."
    return holds_workflow(output_dir, workflow)


def format_problem(text: str, problem: Problem) -> str:
    """``line:col CODE message`` (1-based, code points)."""
    line = text.count("\n", 0, problem.start) + 1
    col = problem.start - (text.rfind("\n", 0, problem.start) + 1) + 1
    return f"  {line}:{col} {problem.code} {problem.message}"


def check_argument_name(name: str) -> None:
    if not isinstance(name, str) or not VARIABLE_NAME_RE.match(name):
        raise InputError(
            f"Invalid argument name {name!r}: use letters, digits, '_' and '-', "
            "starting with a letter or '_'."
        )
    if len(name) > VARIABLE_NAME_MAX:
        raise InputError(f"Argument name {name[:20]}... is longer than {VARIABLE_NAME_MAX}.")


def check_argument_value(name: str, value: object) -> ArgumentValue:
    """A value a caller may pass: a string of at most 10,000 characters without the
    characters :func:`unsafe_character` refuses (but tab, CR, LF), or a number or boolean."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        raise InputError(
            f"The value of {name} must be a string, number or boolean, not {type(value).__name__}."
        )
    if len(value) > VARIABLE_VALUE_MAX:
        raise InputError(f"The value of {name} is longer than {VARIABLE_VALUE_MAX} characters.")
    why = unsafe_character(value, VALUE_CONTROLS)
    if why is not None:
        raise InputError(f"The value of {name} contains {why}; only tab, CR and LF are allowed.")
    return value


def check_arguments(
    arguments: Mapping[str, object], workflow: CheckedWorkflow | None
) -> dict[str, ArgumentValue]:
    """Every name valid and, when ``workflow`` is given, declared by it."""
    checked: dict[str, ArgumentValue] = {}
    for name, value in arguments.items():
        check_argument_name(name)
        checked[name] = check_argument_value(name, value)
    if workflow is not None:
        unknown = [n for n in checked if n not in workflow.variables]
        if unknown:
            raise InputError(undeclared_message(unknown, workflow))
    return checked


def undeclared_message(unknown: Sequence[str], workflow: CheckedWorkflow) -> str:
    names = ", ".join(unknown)
    if not workflow.variables:
        return f"{workflow.name} declares no variables, so {names} cannot be set."
    declared = ", ".join(workflow.variables)
    return f"{workflow.name} declares no variable {names}; its variables are: {declared}."


def parse_assignment(text: str) -> tuple[str, str]:
    """``name=value`` -> ``(name, value)`` (the value may contain ``=``)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InputError(f"Expected name=value, got {text!r}.")
    check_argument_name(name)
    return name, value


def stand_in_mode(asked: str | None, setting: str) -> str:
    """A run's stand-in mode: the one ``asked`` for this run (off, missing or all), else
    the ``worker.standIns`` ``setting``."""
    if asked is None:
        return setting
    if asked not in STAND_IN_MODES:
        raise InputError(f"standIn must be one of {', '.join(STAND_IN_MODES)}")
    return asked
