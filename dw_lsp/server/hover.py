"""Hover: what the thing under the cursor means.

On a variable (its declaration or a ``variable:`` reference) the declared default; on a
step or a step reference (``previous_result:``, ``reference_name``,
``from_previous_result``, a task's ``pipeline_reference``) a summary of the step (kind,
class or command, what it saves); on a pipeline class or a call argument the catalog's
docs; on a task command its description and arguments; on any other key or value the
schema's description. Markdown when the client renders it. Imports lsprotocol only.
"""

from __future__ import annotations

import json
from pathlib import Path as FsPath

from lsprotocol import types

from dw_lsp.server.candidates import argument_candidates
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import to_range
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.schema_nav import describe_schemas, enum_of, types_of
from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.outline import Step
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.symbols import Symbols, symbols_of

_CODE_LIMIT = 400


def hover(
    doc: Document,
    offset: int,
    know: Knowledge,
    client: ClientFeatures,
    encoding: Encoding = "utf-16",
    base_dir: FsPath | None = None,
) -> types.Hover | None:
    """The hover at ``offset``, or None when there is nothing to say."""
    found = hover_text(doc, offset, know, base_dir)
    if found is None:
        return None
    text, span = found
    return types.Hover(
        contents=client.markup(text), range=to_range(doc.lines, span[0], span[1], encoding)
    )


def hover_text(
    doc: Document, offset: int, know: Knowledge, base_dir: FsPath | None = None
) -> tuple[str, Span] | None:
    """Markdown text and the span it describes."""
    hit = doc.node_at(offset)
    if hit is None:
        return None
    outline = symbols_of(doc)
    symbol = outline.symbol_at(offset)
    if symbol is not None:
        kind, name, span = symbol
        body = _variable_text(outline, name) if kind == "variable" else _step_text(outline, name)
        return body, span
    path = hit.path
    text: str | None = None
    if hit.part == "key":
        text = _argument_text(path, outline, know, base_dir) or _schema_text(know, path)
        return (text, hit.span) if text else None
    if hit.part == "value" and hit.node is not None and hit.node.kind == "string":
        value = hit.node.value
        key = path[-1] if path else None
        if key in ("component_type", "scheduler_type") and isinstance(value, str):
            text = _class_text(know, value)
        elif key == "command" and len(path) >= 3 and path[2] == "task":
            text = _task_text(know, str(value))
        text = text or _schema_text(know, path)
        return (text, hit.span) if text else None
    return None


def _code(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if len(text) > _CODE_LIMIT:
        text = text[:_CODE_LIMIT] + "\n…"
    return f"```json\n{text}\n```"


def _variable_text(outline: Symbols, name: str) -> str:
    var = outline.variable(name)
    uses = len(outline.references_to("variable", name))
    if var is None:
        where = "`variables`" if outline.has_variables_block else "a `variables` block"
        return f"**variable** `{name}`\n\nNot declared: add it to {where}."
    value = var.value
    typed = "optional, untyped" if value is None else f"type {type(value).__name__}"
    return (
        f"**variable** `{name}` ({typed})\n\nDefault:\n{_code(value)}\n\n"
        f"{uses} reference{'s' if uses != 1 else ''}"
    )


def step_summary(step: Step) -> str:
    """One line: kind, class or command or target, and the saved content type."""
    parts = [f"`{step.kind}`" if step.kind else "no step kind"]
    if step.component_type:
        parts.append(f"class `{step.component_type}`")
    if step.reference_name:
        parts.append(f"reuses the pipeline of `{step.reference_name}`")
    if step.command:
        parts.append(f"command `{step.command}`")
    if step.workflow_path:
        parts.append(f"runs `{step.workflow_path}`")
    parts.append(f"saves `{step.content_type}`" if step.content_type else "result not saved")
    return " · ".join(parts)


def _step_text(outline: Symbols, name: str) -> str:
    step = outline.step(name)
    if step is None:
        return f"**step** `{name}`\n\nNo step of this workflow has this name."
    uses = len(outline.references_to("step", name))
    return (
        f"**step** `{name}` (step {step.index + 1} of {len(outline.steps)})\n\n"
        f"{step_summary(step)}\n\n{uses} reference{'s' if uses != 1 else ''}"
    )


def _schema_text(know: Knowledge, path: Path) -> str | None:
    schemas = know.schema.at(path)
    description = describe_schemas(schemas)
    if description is None:
        return None
    key = path[-1] if path and isinstance(path[-1], str) else None
    enum = enum_of(schemas)
    kinds = (
        " | ".join(json.dumps(v) for v in enum) if enum else " | ".join(sorted(types_of(schemas)))
    )
    head = f"**{key}**" if key else "**item**"
    if kinds:
        head += f": `{kinds}`"
    return f"{head}\n\n{description}"


def _argument_text(
    path: Path, outline: Symbols, know: Knowledge, base_dir: FsPath | None
) -> str | None:
    if len(path) != 5 or not isinstance(path[-1], str):
        return None
    for arg in argument_candidates(path[:-1], outline.outline, know, base_dir):
        if arg.name == path[-1]:
            head = f"**argument** `{arg.name}`"
            if arg.has_default:
                head += f" = `{json.dumps(arg.default)}`"
            if arg.required:
                head += " (required)"
            return head + (f"\n\n{arg.doc}" if arg.doc else "")
    return None


def _class_text(know: Knowledge, name: str) -> str | None:
    catalog = know.catalog
    info = catalog.info(name) if catalog is not None else None
    if info is None:
        return None
    lines = [f"**{name}** ({info.kind.replace('_', ' ')}, `{info.module}`)"]
    if info.doc:
        lines += ["", info.doc]
    if info.requires:
        lines += ["", "Needs the optional backends: " + ", ".join(info.requires)]
    return "\n".join(lines)


def _task_text(know: Knowledge, command: str) -> str | None:
    spec = know.tasks.get(command)
    if spec is None:
        return None
    lines = [f"**task** `{command}` ({spec.group})", "", spec.description]
    if spec.args:
        lines.append("")
        for arg in spec.args:
            default = f" = `{json.dumps(arg.default)}`" if arg.default is not None else ""
            required = " (required)" if arg.required else ""
            lines.append(f"- `{arg.name}`{default}{required}: {arg.description}")
    return "\n".join(lines)
