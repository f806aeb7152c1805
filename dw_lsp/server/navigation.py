"""Go to definition, find references and rename, for variables and steps.

A variable is declared by its key in ``variables`` and used as ``"variable:x"``; a step is
declared by its ``name`` and used through ``previous_result:``, ``reference_name``,
``from_previous_result`` and a task's ``pipeline_reference``. Each function works from
any of those places (declaration or use) and answers spans; the rename edits replace only
the name inside each string, so a ``previous_result:old.images`` keeps its property. A new
name that dw could not use, or that would merge two symbols, raises :class:`RenameError`.
Pure: offsets in, offsets out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dw_lsp.workflow.document import Document, Span
from dw_lsp.workflow.refs import VARIABLE_NAME_MAX, VARIABLE_NAME_RE, unsafe_output_name
from dw_lsp.workflow.symbols import SymbolKind, Symbols, symbols_of


class RenameError(ValueError):
    """The symbol cannot be renamed (to that name); the message says why."""


@dataclass(frozen=True)
class Edit:
    span: Span
    new_text: str


def _symbol(doc: Document, offset: int) -> tuple[Symbols, SymbolKind, str, Span] | None:
    outline = symbols_of(doc)
    found = outline.symbol_at(offset)
    if found is None:
        return None
    kind, name, span = found
    return outline, kind, name, span


def definition(doc: Document, offset: int) -> Span | None:
    """The declaration of the variable or step at ``offset``."""
    found = _symbol(doc, offset)
    if found is None:
        return None
    outline, kind, name, _ = found
    return outline.declaration(kind, name)


def references(doc: Document, offset: int, include_declaration: bool = True) -> list[Span]:
    """Every use of the symbol at ``offset`` (and its declaration if asked), in order."""
    found = _symbol(doc, offset)
    if found is None:
        return []
    outline, kind, name, _ = found
    spans = [r.span for r in outline.references_to(kind, name)]
    declaration = outline.declaration(kind, name)
    if include_declaration and declaration is not None:
        spans.append(declaration)
    return sorted(set(spans))


def prepare_rename(doc: Document, offset: int) -> tuple[Span, str] | None:
    """The span of the name to rename and its current text; None when there is no symbol.

    Raises :class:`RenameError` for a reference to something that is not declared."""
    found = _symbol(doc, offset)
    if found is None:
        return None
    outline, kind, name, span = found
    if outline.declaration(kind, name) is None:
        raise RenameError(f"'{name}' is not declared in this workflow, so it cannot be renamed.")
    return span, name


def check_new_name(kind: SymbolKind, new_name: str, outline: Symbols, old: str) -> None:
    """Raise :class:`RenameError` unless ``new_name`` is a usable, free name."""
    if kind == "variable":
        if not VARIABLE_NAME_RE.match(new_name) or len(new_name) > VARIABLE_NAME_MAX:
            raise RenameError(
                f"'{new_name}' is not a valid variable name: use letters, digits, '_' and '-',"
                f" starting with a letter or '_' (at most {VARIABLE_NAME_MAX} characters)."
            )
        if new_name != old and outline.variable(new_name) is not None:
            raise RenameError(f"A variable named '{new_name}' already exists.")
        return
    if not new_name.strip() or new_name != new_name.strip():
        raise RenameError("A step name must not be empty or start or end with spaces.")
    why = unsafe_output_name(new_name)
    if why is not None:
        raise RenameError(f"'{new_name}' cannot be a step name: it {why}.")
    if new_name != old and outline.step(new_name) is not None:
        raise RenameError(f"A step named '{new_name}' already exists.")


def rename(doc: Document, offset: int, new_name: str) -> list[Edit]:
    """Edits that rename the symbol at ``offset`` everywhere in the document."""
    found = _symbol(doc, offset)
    if found is None:
        raise RenameError("There is no variable or step here to rename.")
    outline, kind, name, _ = found
    declaration = outline.declaration(kind, name)
    if declaration is None:
        raise RenameError(f"'{name}' is not declared in this workflow, so it cannot be renamed.")
    check_new_name(kind, new_name, outline, name)
    escaped = json.dumps(new_name, ensure_ascii=False)[1:-1]
    spans = {r.span for r in outline.references_to(kind, name)} | {declaration}
    edits = []
    for span in sorted(spans):
        if doc.text[span[0] : span[1]] == name:
            edits.append(Edit(span, escaped))
        else:
            edits.append(Edit(span, _rewrite_escaped(doc.text[span[0] : span[1]], name, new_name)))
    return edits


def renamed_variable(doc: Document, offset: int) -> str | None:
    """The name of the variable at ``offset`` when this workflow declares it (so that a
    rename of it concerns the workflows that call this one), else None."""
    found = _symbol(doc, offset)
    if found is None:
        return None
    outline, kind, name, _ = found
    declared = kind == "variable" and outline.declaration(kind, name) is not None
    return name if declared else None


def _rewrite_escaped(raw: str, old: str, new: str) -> str:
    """A string's raw content, written with escapes, with the name replaced: decode it,
    replace the leading (or prefixed) name, and re-encode."""
    try:
        value = json.loads(f'"{raw}"')
    except ValueError as exc:
        raise RenameError("A reference to it is not a valid JSON string; fix it first.") from exc
    for prefix in ("variable:", "previous_result:", ""):
        if value.startswith(prefix + old):
            value = prefix + new + value[len(prefix + old) :]
            break
    return json.dumps(value, ensure_ascii=False)[1:-1]
