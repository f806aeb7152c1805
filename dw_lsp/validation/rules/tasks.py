"""Task-step rules (FORMAT.md 1.6, section 2, 1.11 rules 15, 16 and 17).

DW218 unknown command, DW219 missing required argument, DW239 ``device`` passed to a
command that does not take it, DW220 ``batch_decode_post_process`` without a usable
task-level ``pipeline_reference``, DW221 ``inputs`` items that are not argument objects.
The command table is :mod:`dw_lsp.validation.tasks_spec`. Pure: imports no pygls,
lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from typing import Any

from dw_lsp.validation.fixes import InsertKey, replacing
from dw_lsp.validation.rules.base import Reporter, quoted
from dw_lsp.validation.tasks_spec import TASKS, TaskSpec, close_commands
from dw_lsp.workflow.document import Path
from dw_lsp.workflow.outline import Outline, Step
from dw_lsp.workflow.refs import VARIABLE


def check_tasks(outline: Outline, report: Reporter) -> None:
    for step in outline.steps:
        if step.kind != "task":
            continue
        command = step.body.get("command")
        if not isinstance(command, str) or command.startswith(VARIABLE):
            continue
        base = (*step.path, "task")
        spec = TASKS.get(command)
        if spec is None:
            close = close_commands(command)
            hint = f" Did you mean {quoted(close)}?" if close else ""
            report.value(
                "DW218",
                (*base, "command"),
                f"Unknown task command '{command}'; dw fails when this step runs (steps "
                f"before it run first).{hint}",
                replacing(close),
            )
            continue
        arguments = step.body.get("arguments")
        if isinstance(arguments, dict):
            _arguments(report, spec, arguments, (*base, "arguments"), key=True)
        inputs = step.body.get("inputs")
        if isinstance(inputs, list):
            _inputs(report, spec, inputs, (*base, "inputs"))
        if command == "batch_decode_post_process":
            _pipeline_reference(outline, report, step, base)


def _arguments(
    report: Reporter, spec: TaskSpec, arguments: dict[str, Any], path: Path, key: bool
) -> None:
    """``key``: report a missing argument on the ``arguments`` key (else on the object)."""
    for name in spec.required:
        if name in arguments:
            continue
        arg = spec.arg(name)
        what = f" ({arg.description})" if arg else ""
        fix = InsertKey(path, name, "")
        message = (
            f"Task '{spec.name}' needs the argument '{name}'{what}; without it the step "
            "fails when it runs."
        )
        if key:
            report.key("DW219", path, message, fix)
        else:
            report.value("DW219", path, message, fix)
    if "device" in arguments and not spec.device and not spec.extra_kwargs:
        report.key(
            "DW239",
            (*path, "device"),
            f"Task '{spec.name}' takes no 'device': dw passes it on to the command, which "
            "fails with a TypeError. Remove it.",
        )


def _inputs(report: Reporter, spec: TaskSpec, inputs: list[Any], path: Path) -> None:
    for i, item in enumerate(inputs):
        if isinstance(item, dict):
            _arguments(report, spec, item, (*path, i), key=False)
        elif spec.name != "gather_inputs":
            report.value(
                "DW221",
                (*path, i),
                f"Each \"inputs\" item is a whole argument set for '{spec.name}', so it "
                "should be an object of arguments; only gather_inputs takes plain values.",
            )


def _pipeline_reference(outline: Outline, report: Reporter, step: Step, base: Path) -> None:
    earlier = outline.before(step.index)
    usable = [s.name for s in earlier if s.kind == "pipeline" and s.name and not s.released]
    choices = f" (earlier pipeline steps: {quoted(usable)})" if usable else ""
    name = step.body.get("pipeline_reference")
    if name is None:
        report.value(
            "DW220",
            (*base, "command"),
            "batch_decode_post_process decodes with the processor of an earlier pipeline "
            'step: add a task-level "pipeline_reference" naming that step, beside '
            f'"command"{choices}.',
            InsertKey(base, "pipeline_reference", usable[-1] if usable else ""),
        )
        return
    if not isinstance(name, str) or name.startswith(VARIABLE) or name in usable:
        return
    released = any(s.name == name and s.kind == "pipeline" and s.released for s in earlier)
    why = "is released before this step" if released else "names no earlier pipeline step"
    report.value(
        "DW220",
        (*base, "pipeline_reference"),
        f"pipeline_reference '{name}' {why}; batch_decode_post_process needs the processor "
        f"of an earlier pipeline step{choices}.",
        replacing(usable),
    )
