"""The symbols of one workflow document: declared variables, steps, and every reference.

Built from the document's offset tree (so it works on broken JSON too) in one walk. The
reference forms of FORMAT.md 1.9 are recognised wherever they occur: ``"variable:x"``,
``"previous_result:step[.prop]"`` (split as dw does, longest step-name prefix first),
``reference_name`` of a ``pipeline_reference`` step, ``from_previous_result`` in an object
description and the task-level ``pipeline_reference`` of ``batch_decode_post_process``.
Navigation, rename, hover, symbols and completion all read this one model. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.refs import PREVIOUS_RESULT, VARIABLE, split_previous_result
from dw_lsp.workflow.tolerant import Node

SymbolKind = Literal["variable", "step"]
STEP_KINDS = ("pipeline", "pipeline_reference", "task", "workflow")


@dataclass(frozen=True)
class Variable:
    """A declared variable: ``name_span`` is the key's text inside its quotes."""

    name: str
    name_span: Span
    key_span: Span
    value: Node | None


@dataclass(frozen=True)
class Step:
    """One item of ``steps``. ``name_span`` covers the name's text inside its quotes."""

    index: int
    node: Node
    name: str | None
    name_span: Span | None
    kind: str | None
    component_type: str | None = None
    reference_name: str | None = None
    command: str | None = None
    content_type: str | None = None
    workflow_path: str | None = None

    @property
    def span(self) -> Span:
        return (self.node.start, self.node.end)


@dataclass(frozen=True)
class Reference:
    """A use of a variable or a step. ``span`` covers the name only (what rename edits);
    ``string_span`` the whole JSON string; ``step_index`` the step it sits in."""

    kind: SymbolKind
    name: str
    span: Span
    string_span: Span
    form: str
    path: Path
    prop: str | None = None
    step_index: int | None = None


@dataclass
class Outline:
    variables: list[Variable] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    has_variables_block: bool = False
    variables_node: Node | None = None

    def variable(self, name: str) -> Variable | None:
        for var in reversed(self.variables):
            if var.name == name:
                return var
        return None

    def step(self, name: str) -> Step | None:
        for step in self.steps:
            if step.name == name:
                return step
        return None

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps if s.name is not None]

    def step_containing(self, offset: int) -> Step | None:
        for step in self.steps:
            if step.node.start <= offset <= step.node.end:
                return step
        return None

    def symbol_at(self, offset: int) -> tuple[SymbolKind, str, Span] | None:
        """The variable or step declared or referenced at ``offset``: kind, name, span
        of the name under the cursor."""
        for ref in self.references:
            if ref.span[0] <= offset <= ref.span[1]:
                return ref.kind, ref.name, ref.span
        for ref in self.references:  # elsewhere in the string, e.g. on ".images"
            if ref.string_span[0] < offset < ref.string_span[1]:
                return ref.kind, ref.name, ref.span
        for var in self.variables:
            if var.key_span[0] <= offset <= var.key_span[1]:
                return "variable", var.name, var.name_span
        for step in self.steps:
            if step.name is not None and step.name_span is not None:
                start, end = step.name_span
                if start - 1 <= offset <= end + 1:
                    return "step", step.name, step.name_span
        return None

    def declaration(self, kind: SymbolKind, name: str) -> Span | None:
        if kind == "variable":
            var = self.variable(name)
            return var.name_span if var else None
        step = self.step(name)
        return step.name_span if step else None

    def references_to(self, kind: SymbolKind, name: str) -> list[Reference]:
        return [r for r in self.references if r.kind == kind and r.name == name]


def content_span(text: str, node: Node) -> Span:
    """The offsets of a string node's text between its quotes (an unterminated string
    runs to its end)."""
    start = node.start + 1
    end = node.end
    if end - node.start >= 2 and text[end - 1] == '"':
        end -= 1
    return (start, max(start, end))


def _name_span(text: str, node: Node, skip: int, length: int) -> Span:
    """Span of ``length`` characters after ``skip`` characters of a string's value;
    the whole content when escapes make raw text and value differ."""
    start, end = content_span(text, node)
    if text[start:end] == node.value:
        return (start + skip, start + skip + length)
    return (start, end)


def _string(node: Node | None) -> str | None:
    return node.value if node is not None and node.kind == "string" else None


def _member(node: Node | None, key: str) -> Node | None:
    if node is None or node.kind != "object":
        return None
    member = node.member(key)
    return member.value if member else None


def _make_step(text: str, index: int, node: Node) -> Step:
    name_node = _member(node, "name")
    name = _string(name_node)
    name_span = content_span(text, name_node) if name_node and name is not None else None
    kind = next((k for k in STEP_KINDS if _member(node, k) is not None), None)
    body = _member(node, kind) if kind else None
    return Step(
        index=index,
        node=node,
        name=name,
        name_span=name_span,
        kind=kind,
        component_type=_string(_member(_member(body, "configuration"), "component_type")),
        reference_name=_string(_member(body, "reference_name")),
        command=_string(_member(body, "command")),
        content_type=_string(_member(_member(node, "result"), "content_type")),
        workflow_path=_string(_member(body, "path")),
    )


def build_outline(doc: Document) -> Outline:
    """Variables, steps and references of ``doc`` (empty for a non-object document)."""
    out = Outline()
    root = doc.tree
    if root is None or root.kind != "object":
        return out
    text = doc.text
    variables = _member(root, "variables")
    if root.member("variables") is not None:
        out.has_variables_block = True
        out.variables_node = variables
    if variables is not None and variables.kind == "object":
        for m in variables.members:
            out.variables.append(
                Variable(
                    m.key,
                    (m.key_start + 1, max(m.key_start + 1, m.key_end - 1)),
                    (m.key_start, m.key_end),
                    m.value,
                )
            )
    steps = _member(root, "steps")
    if steps is not None and steps.kind == "array":
        for index, item in enumerate(steps.items):
            if item.kind == "object":
                out.steps.append(_make_step(text, index, item))
    names = out.step_names()
    _collect_references(text, root, names, out.references)
    return out


def _step_index(path: Path) -> int | None:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        return path[1]
    return None


def _collect_references(text: str, root: Node, names: list[str], refs: list[Reference]) -> None:
    stack: list[tuple[Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if node.kind == "object":
            for m in reversed(node.members):
                if m.value is not None:
                    stack.append((m.value, path + (m.key,)))
        elif node.kind == "array":
            for i in range(len(node.items) - 1, -1, -1):
                stack.append((node.items[i], path + (i,)))
        elif node.kind == "string" and isinstance(node.value, str):
            ref = _reference(text, node, path, names)
            if ref is not None:
                refs.append(ref)


def _reference(text: str, node: Node, path: Path, names: list[str]) -> Reference | None:
    value: str = node.value
    string_span = (node.start, node.end)
    index = _step_index(path)
    if value.startswith(VARIABLE):
        name = value[len(VARIABLE) :]
        span = _name_span(text, node, len(VARIABLE), len(name))
        return Reference("variable", name, span, string_span, "variable", path, None, index)
    if value.startswith(PREVIOUS_RESULT):
        target = value[len(PREVIOUS_RESULT) :]
        step, prop = split_previous_result(target, names)
        span = _name_span(text, node, len(PREVIOUS_RESULT), len(step))
        return Reference("step", step, span, string_span, "previous_result", path, prop, index)
    key = path[-1] if path else None
    form: str | None = None
    if key == "from_previous_result":
        form = "from_previous_result"
    elif index is not None and path[2:] in (
        ("pipeline_reference", "reference_name"),
        ("task", "pipeline_reference"),
    ):
        form = "reference_name" if path[-1] == "reference_name" else "pipeline_reference"
    if form is None:
        return None
    span = _name_span(text, node, 0, len(value))
    return Reference("step", value, span, string_span, form, path, None, index)
