"""Step rules: names, references between steps, result lifetime and component sharing
(FORMAT.md 1.9.2, 1.9.3, 1.11 rules 1, 7, 9, 10, 11, 13 and 30).

DW201 duplicate names, DW210/DW211 ``previous_result:``, DW212/DW213 ``reference_name``,
DW214/DW215 ``from_previous_result``, DW217 ``reused_components``, DW233 unsafe output
names. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dw_lsp.validation.fixes import replacing
from dw_lsp.validation.rules.base import Reporter, close_names, quoted
from dw_lsp.workflow.document import Path
from dw_lsp.workflow.outline import Outline, Region, Step
from dw_lsp.workflow.refs import (
    PREVIOUS_RESULT,
    VARIABLE,
    split_previous_result,
    unsafe_output_name,
)

_RESOLVED = (Region.ARGUMENTS, Region.CHAIN_PROMPTS)


def check_steps(
    outline: Outline, report: Reporter, child_pipelines: Mapping[int, set[str]]
) -> None:
    """``child_pipelines``: step index -> pipeline names that sub-workflow step published
    into the run's pipeline dict (a later ``reference_name`` may use them, FORMAT.md 1.5)."""
    _duplicates(outline, report)
    _output_names(outline, report)
    _previous_results(outline, report)
    _reference_names(outline, report, child_pipelines)
    _from_previous_results(outline, report)
    _reused_components(outline, report)


def _duplicates(outline: Outline, report: Reporter) -> None:
    first: dict[str, int] = {}
    names = set(outline.names)
    for step in outline.steps:
        if step.name is None:
            continue
        if step.name not in first:
            first[step.name] = step.index
            continue
        n = 2
        while f"{step.name}_{n}" in names:
            n += 1
        report.value(
            "DW201",
            (*step.path, "name"),
            f"Step name '{step.name}' is already used by step {first[step.name] + 1}; dw "
            "would overwrite that step's results and reuse its cached pipeline. Rename this "
            "step.",
            replacing([f"{step.name}_{n}"]),
        )


def _output_names(outline: Outline, report: Reporter) -> None:
    places: list[tuple[Path, str, Any]] = [
        ((*outline.base, "id"), "The workflow id", outline.root.get("id"))
    ]
    for step in outline.steps:
        places.append(((*step.path, "name"), "The step name", step.name))
        result = step.value.get("result")
        if isinstance(result, dict) and "file_base_name" in result:
            places.append(
                (
                    (*step.path, "result", "file_base_name"),
                    "file_base_name",
                    result["file_base_name"],
                )
            )
    for path, what, value in places:
        if not isinstance(value, str) or value.startswith(VARIABLE):
            continue
        why = unsafe_output_name(value)
        if why is not None:
            report.value(
                "DW233",
                path,
                f"{what} is part of every output file name and {why}, so files could be "
                "written outside the output folder. Use letters, digits, '-', '_' and '.'.",
            )


def _previous_results(outline: Outline, report: Reporter) -> None:
    for ref in outline.previous_refs:
        if ref.region not in _RESOLVED:
            where = (
                'in task "inputs" (dw passes inputs as they are)'
                if ref.region == Region.INPUTS
                else "outside arguments and chain.prompts"
            )
            report.value(
                "DW211",
                ref.path,
                f"'{PREVIOUS_RESULT}{ref.body}' {where} is not resolved: it stays a literal "
                'string. Move it into the step\'s "arguments".',
            )
            continue
        head, prop = split_previous_result(ref.body, outline.earlier(ref.step))
        if head in outline.earlier(ref.step):
            continue
        earlier = outline.names_before(ref.step)
        head, prop = split_previous_result(ref.body, outline.first_index)
        suffix = f".{prop}" if prop is not None else ""
        close = close_names(head, earlier) or earlier[-5:]
        report.value(
            "DW210",
            ref.path,
            f"'{PREVIOUS_RESULT}{ref.body}' {_why_not_earlier(outline, head, ref.step)}; it "
            f"must name a step that runs before this one{_choices(close)}.",
            replacing(f"{PREVIOUS_RESULT}{n}{suffix}" for n in close),
        )


def _why_not_earlier(outline: Outline, name: str, index: int) -> str:
    if not name:
        return "names no step"
    own = outline.step_at(index)
    if own is not None and own.name == name:
        return f"names this step ('{name}') itself"
    if name in outline.names:
        return f"names step '{name}', which runs later"
    return f"names no step ('{name}' is not a step of this workflow)"


def _choices(names: list[str]) -> str:
    return f" (earlier steps: {quoted(names)})" if names else " (there is none)"


def _step_by_name(steps: list[Step], name: str) -> Step | None:
    """The last step named ``name`` (a later duplicate overwrites the earlier)."""
    found = None
    for step in steps:
        if step.name == name:
            found = step
    return found


def _reference_names(
    outline: Outline, report: Reporter, child_pipelines: Mapping[int, set[str]]
) -> None:
    for step in outline.steps:
        if step.kind != "pipeline_reference":
            continue
        name = step.body.get("reference_name")
        if not isinstance(name, str) or name.startswith(VARIABLE):
            continue
        path = (*step.path, "pipeline_reference", "reference_name")
        earlier = outline.before(step.index)
        usable = [s.name for s in earlier if s.kind == "pipeline" and s.name and not s.released]
        target = _step_by_name(earlier, name)
        from_child = any(name in child_pipelines.get(s.index, set()) for s in earlier)
        if target is not None and target.kind == "pipeline":
            if target.released:
                report.value(
                    "DW213",
                    path,
                    f"Step '{name}' sets \"release_pipeline\", so its pipeline is gone when "
                    "this step runs. Remove release_pipeline there, or reference another "
                    f"pipeline step{_choices(usable)}.",
                    replacing(usable),
                )
            continue
        if target is None and from_child:
            continue
        if target is not None:
            why = f"names the {target.kind or 'unknown'} step '{name}', not a pipeline step"
        else:
            why = _why_not_earlier(outline, name, step.index)
        close = close_names(name, usable) or usable[-5:]
        report.value(
            "DW212",
            path,
            f'reference_name {why}; it must name an earlier "pipeline" step{_choices(close)}.',
            replacing(close),
        )


def _mentions(outline: Outline) -> list[set[str]]:
    """Per step: the step names its ``previous_result:`` strings mention (dw's release scan)."""
    names = outline.first_index
    found: list[set[str]] = [set() for _ in range(len(outline.root.get("steps") or ()))]
    for ref in outline.previous_refs:
        if 0 <= ref.step < len(found):
            found[ref.step].add(split_previous_result(ref.body, names)[0])
    return found


def _from_previous_results(outline: Outline, report: Reporter) -> None:
    mentions: list[set[str]] | None = None
    for desc in outline.descriptions:
        node: dict[str, Any] = desc.value
        name = node.get("from_previous_result")
        if not isinstance(name, str) or name.startswith((PREVIOUS_RESULT, VARIABLE)):
            continue  # not a bare name: the description rule (DW216) reports it
        path = (*desc.path, "from_previous_result")
        if desc.step < 0 or name not in outline.earlier(desc.step):
            earlier = outline.names_before(desc.step) if desc.step >= 0 else []
            close = close_names(name, earlier) or earlier[-5:]
            where = (
                _why_not_earlier(outline, name, desc.step)
                if desc.step >= 0
                else "is used outside the steps, where no step has run"
            )
            report.value(
                "DW214",
                path,
                f"from_previous_result '{name}' {where}; it must name a step that runs "
                f"before this one{_choices(close)}.",
                replacing(close),
            )
            continue
        if mentions is None:
            mentions = _mentions(outline)
        if not any(name in m for m in mentions[desc.step :]):
            report.value(
                "DW215",
                path,
                f"dw frees the result of '{name}' before this step runs: its release scan "
                'counts only "previous_result:" strings, so this step fails there with a '
                "KeyError. Our runner keeps the result; for dw, also mention "
                f'"{PREVIOUS_RESULT}{name}" in this step\'s arguments.',
            )


def _reused_components(outline: Outline, report: Reporter) -> None:
    shared: list[str] = []
    for step in outline.steps:
        if step.kind != "pipeline":
            continue
        base = (*step.path, "pipeline")
        for owner in ((), ("configuration",)):
            names = outline.at((*base, *owner, "reused_components"))
            if not isinstance(names, list):
                continue
            for i, name in enumerate(names):
                if not isinstance(name, str) or name in shared:
                    continue
                close = close_names(name, shared) or shared[-5:]
                report.value(
                    "DW217",
                    (*base, *owner, "reused_components", i),
                    f"No earlier step shares '{name}', so loading this pipeline fails. List "
                    'it in an earlier pipeline step\'s "shared_components"'
                    + (f" (shared so far: {quoted(close)})." if close else "."),
                    replacing(close),
                )
        for owner in ((), ("configuration",)):
            names = outline.at((*base, *owner, "shared_components"))
            if isinstance(names, list):
                shared.extend(n for n in names if isinstance(n, str))
