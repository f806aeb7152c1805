"""The symbols of one workflow document, with their source ranges: declared variables,
steps, and every reference to them. What navigation, rename, hover, symbols and
completion read.

It adds ranges to the workflow's :class:`~dw_lsp.workflow.outline.Outline` (the model the
rules read too): a range is asked of the document (:meth:`Document.value_span`,
:meth:`Document.key_span`, which work on broken JSON through the tolerant tree) only when a
feature needs it. The reference forms of FORMAT.md 1.9 are the outline's:
``"variable:x"``, ``"previous_result:step[.prop]"`` (split as dw does, longest step-name
prefix first), ``reference_name`` of a ``pipeline_reference`` step, ``from_previous_result``
in an object description and the task-level ``pipeline_reference`` of
``batch_decode_post_process``. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.outline import Outline, Ref, Step
from dw_lsp.workflow.refs import PREVIOUS_RESULT, VARIABLE, split_previous_result
from dw_lsp.workflow.walk import document_outline

SymbolKind = Literal["variable", "step"]


@dataclass(frozen=True)
class Variable:
    """A declared variable: ``name_span`` is the key's text inside its quotes."""

    name: str
    name_span: Span
    key_span: Span
    value: Any
    value_span: Span | None


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


def content_span(text: str, span: Span) -> Span:
    """The offsets of a string token's text between its quotes (an unterminated string
    runs to its end)."""
    start, end = span[0] + 1, span[1]
    if span[1] - span[0] >= 2 and text[end - 1] == '"':
        end -= 1
    return (start, max(start, end))


class Symbols:
    """The variables, steps and references of one document, with ranges."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.outline: Outline = document_outline(doc)

    @property
    def steps(self) -> list[Step]:
        return self.outline.steps

    @property
    def has_variables_block(self) -> bool:
        return self.outline.has_variables_block

    @cached_property
    def variables(self) -> list[Variable]:
        out: list[Variable] = []
        for name, value in (self.outline.variables or {}).items():
            key = self.doc.key_span(("variables", name))
            if key is None:
                continue
            name_span = (key[0] + 1, max(key[0] + 1, key[1] - 1))
            out.append(
                Variable(name, name_span, key, value, self.doc.value_span(("variables", name)))
            )
        return out

    def step_span(self, step: Step) -> Span:
        """The range of the step object."""
        return self.doc.value_span(step.path) or (0, 0)

    def name_span(self, step: Step) -> Span | None:
        """The range of the step's name inside its quotes (None without a string name)."""
        if step.name is None:
            return None
        span = self.doc.value_span((*step.path, "name"))
        return content_span(self.doc.text, span) if span is not None else None

    @cached_property
    def references(self) -> list[Reference]:
        names = self.outline.first_index
        found: list[Reference] = []
        for ref in self.outline.variable_refs:
            made = self._reference("variable", ref, ref.body, len(VARIABLE), "variable", None)
            if made is not None:
                found.append(made)
        for ref in self.outline.previous_refs:
            step, prop = split_previous_result(ref.body, names)
            made = self._reference("step", ref, step, len(PREVIOUS_RESULT), "previous_result", prop)
            if made is not None:
                found.append(made)
        for ref in self.outline.name_refs:
            made = self._reference("step", ref, ref.body, 0, str(ref.path[-1]), None)
            if made is not None:
                found.append(made)
        found.sort(key=lambda r: r.string_span)
        return found

    def _reference(
        self, kind: SymbolKind, ref: Ref, name: str, skip: int, form: str, prop: str | None
    ) -> Reference | None:
        string_span = self.doc.value_span(ref.path)
        if string_span is None:
            return None
        start, end = content_span(self.doc.text, string_span)
        raw = self.doc.text[start:end]
        # Escapes make the raw text and the value differ: then the whole content.
        exact = raw == self._value(ref)
        span = (start + skip, start + skip + len(name)) if exact else (start, end)
        index = ref.step if ref.step >= 0 else None
        return Reference(kind, name, span, string_span, form, ref.path, prop, index)

    def _value(self, ref: Ref) -> str:
        value = self.outline.at(ref.path)
        return value if isinstance(value, str) else ""

    def variable(self, name: str) -> Variable | None:
        for var in reversed(self.variables):
            if var.name == name:
                return var
        return None

    def step(self, name: str) -> Step | None:
        return self.outline.step(name)

    def symbol_at(self, offset: int) -> tuple[SymbolKind, str, Span] | None:
        """The variable or step declared or referenced at ``offset``: kind, name, span
        of the name under the cursor. Looks only at the token under the cursor (tokens do
        not overlap), so it costs no range of the document's other references."""
        hit = self.doc.node_at(offset)
        if hit is None:
            return None
        path = hit.path
        if hit.part == "value":
            ref = self._refs_by_path.get(path)
            made = self._resolve(ref) if ref is not None else None
            if made is not None and (
                made.span[0] <= offset <= made.span[1]
                or made.string_span[0] < offset < made.string_span[1]  # e.g. on ".images"
            ):
                return made.kind, made.name, made.span
        if hit.part == "key" and len(path) == 2 and path[0] == "variables":
            var = self.variable(str(path[1]))
            if var is not None and var.key_span[0] <= offset <= var.key_span[1]:
                return "variable", var.name, var.name_span
        if hit.part == "value" and len(path) == 3 and path[0] == "steps" and path[2] == "name":
            step = self.outline.step_at(path[1]) if isinstance(path[1], int) else None
            span = self.name_span(step) if step is not None else None
            if (
                step is not None
                and step.name is not None
                and span is not None
                and span[0] - 1 <= offset <= span[1] + 1
            ):
                return "step", step.name, span
        return None

    @cached_property
    def _refs_by_path(self) -> dict[Path, tuple[str, Ref]]:
        """Every reference of the outline by the path of its string (no ranges)."""
        out: dict[Path, tuple[str, Ref]] = {}
        for form, refs in (
            ("variable", self.outline.variable_refs),
            ("previous_result", self.outline.previous_refs),
            ("name", self.outline.name_refs),
        ):
            for ref in refs:
                out.setdefault(ref.path, (form, ref))
        return out

    def _resolve(self, entry: tuple[str, Ref]) -> Reference | None:
        """The :class:`Reference` of one outline reference, as :attr:`references` makes it."""
        form, ref = entry
        if form == "variable":
            return self._reference("variable", ref, ref.body, len(VARIABLE), "variable", None)
        if form == "name":
            return self._reference("step", ref, ref.body, 0, str(ref.path[-1]), None)
        step, prop = split_previous_result(ref.body, self.outline.first_index)
        return self._reference("step", ref, step, len(PREVIOUS_RESULT), "previous_result", prop)

    def declaration(self, kind: SymbolKind, name: str) -> Span | None:
        if kind == "variable":
            var = self.variable(name)
            return var.name_span if var else None
        step = self.step(name)
        return self.name_span(step) if step else None

    def references_to(self, kind: SymbolKind, name: str) -> list[Reference]:
        return [r for r in self.references if r.kind == kind and r.name == name]


def symbols_of(doc: Document) -> Symbols:
    """The symbols of ``doc`` (none for a document whose root is not an object), made
    once per document and shared by every request on the same text."""
    return doc.derived("symbols", lambda: Symbols(doc))
