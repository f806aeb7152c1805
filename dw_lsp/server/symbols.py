"""The document's structure: symbols (variables and steps), folding and selection ranges.

Document symbols group the declared variables and the steps (each step shows its kind and
class, command or target); clients without hierarchical symbols get the flat form.
Folding ranges cover every object and array that spans lines (line-only, as every client
accepts). Selection ranges grow from a string's text to the string, its member, its
container, and so on up to the root. Built from the offset tree, so broken JSON works.
Imports lsprotocol only.
"""

from __future__ import annotations

import json

from lsprotocol import types

from dw_lsp.server.convert import to_range
from dw_lsp.workflow.document import Document, Span
from dw_lsp.workflow.nodes import Node
from dw_lsp.workflow.outline import Step
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.symbols import content_span, symbols_of

_STEP_SYMBOL = {
    "pipeline": types.SymbolKind.Class,
    "pipeline_reference": types.SymbolKind.Method,
    "task": types.SymbolKind.Function,
    "workflow": types.SymbolKind.Module,
}


def _detail(step: Step) -> str:
    parts = [step.kind or "no kind"]
    for extra in (step.component_type, step.command, step.reference_name, step.workflow_path):
        if extra:
            parts.append(extra)
            break
    return " · ".join(parts)


def _short(value: object, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def document_symbols(doc: Document, encoding: Encoding = "utf-16") -> list[types.DocumentSymbol]:
    """``variables`` and ``steps`` with their members as children (made once per version
    of the document and encoding; callers must not modify them)."""
    return doc.derived(("document symbols", encoding), lambda: _document_symbols(doc, encoding))


def _document_symbols(doc: Document, encoding: Encoding) -> list[types.DocumentSymbol]:
    root = doc.tree
    if root is None or root.kind != "object":
        return []
    symbols = symbols_of(doc)

    def rng(span: Span) -> types.Range:
        return to_range(doc.lines, span[0], span[1], encoding)

    out: list[types.DocumentSymbol] = []
    for member in root.members:
        if member.key not in ("variables", "steps") or member.value is None:
            continue
        whole = (member.key_start, member.value.end)
        children: list[types.DocumentSymbol] = []
        if member.key == "variables":
            for var in symbols.variables:
                end = var.value_span[1] if var.value_span is not None else var.key_span[1]
                children.append(
                    types.DocumentSymbol(
                        name=var.name,
                        kind=types.SymbolKind.Variable,
                        range=rng((var.key_span[0], end)),
                        selection_range=rng(var.name_span),
                        detail=_short(var.value),
                    )
                )
            kind = types.SymbolKind.Namespace
        else:
            for step in symbols.steps:
                span = symbols.step_span(step)
                children.append(
                    types.DocumentSymbol(
                        name=step.name if step.name else f"step {step.index + 1}",
                        kind=_STEP_SYMBOL.get(step.kind or "", types.SymbolKind.Object),
                        range=rng(span),
                        selection_range=rng(symbols.name_span(step) or (span[0], span[0])),
                        detail=_detail(step),
                    )
                )
            kind = types.SymbolKind.Array
        out.append(
            types.DocumentSymbol(
                name=member.key,
                kind=kind,
                range=rng(whole),
                selection_range=rng((member.key_start, member.key_end)),
                children=children,
            )
        )
    return out


def flat_symbols(uri: str, symbols: list[types.DocumentSymbol]) -> list[types.SymbolInformation]:
    """The non-hierarchical form, for clients without hierarchicalDocumentSymbolSupport."""
    out: list[types.SymbolInformation] = []

    def walk(items: list[types.DocumentSymbol], container: str | None) -> None:
        for s in items:
            out.append(
                types.SymbolInformation(
                    name=s.name,
                    kind=s.kind,
                    location=types.Location(uri=uri, range=s.range),
                    container_name=container,
                )
            )
            walk(list(s.children or []), s.name)

    walk(symbols, None)
    return out


def folding_ranges(doc: Document) -> list[types.FoldingRange]:
    """One line range per object or array that spans lines; the closing line stays shown."""
    root = doc.tree
    if root is None:
        return []
    lines = doc.lines
    out: list[types.FoldingRange] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.kind not in ("object", "array"):
            continue
        start = lines.line_of(node.start)
        end = lines.line_of(max(node.start, node.end - 1))
        if node.closed:
            end -= 1
        if end > start:
            out.append(types.FoldingRange(start_line=start, end_line=end))
        stack.extend(m.value for m in node.members if m.value is not None)
        stack.extend(node.items)
    out.sort(key=lambda r: (r.start_line, r.end_line))
    return out


def _spans_at(doc: Document, offset: int) -> list[Span]:
    """Nested spans around ``offset``, outermost first."""
    node: Node | None = doc.tree
    spans: list[Span] = []
    while node is not None and node.start <= offset <= node.end:
        spans.append((node.start, node.end))
        inner: Node | None = None
        if node.kind == "object":
            for m in node.members:
                end = m.value.end if m.value is not None else m.key_end
                if m.key_start <= offset <= end:
                    spans.append((m.key_start, end))
                    if m.key_start <= offset <= m.key_end:
                        spans.append((m.key_start, m.key_end))
                        if m.key_end - m.key_start >= 2:
                            spans.append((m.key_start + 1, m.key_end - 1))
                    else:
                        inner = m.value
                    break
        elif node.kind == "array":
            inner = next((i for i in node.items if i.start <= offset <= i.end), None)
        elif node.kind == "string":
            spans.append(content_span(doc.text, (node.start, node.end)))
        node = inner
    unique: list[Span] = []
    for span in spans:
        if not unique or span != unique[-1]:
            unique.append(span)
    return unique


def selection_ranges(
    doc: Document, offsets: list[int], encoding: Encoding = "utf-16"
) -> list[types.SelectionRange]:
    """For each offset, the chain of enclosing ranges (innermost first, parents linked)."""
    out: list[types.SelectionRange] = []
    for offset in offsets:
        outermost, *inner = _spans_at(doc, offset) or [(offset, offset)]
        chain = types.SelectionRange(range=to_range(doc.lines, *outermost, encoding))
        for span in inner:
            chain = types.SelectionRange(range=to_range(doc.lines, *span, encoding), parent=chain)
        out.append(chain)
    return out
