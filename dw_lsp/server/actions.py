"""Quick fixes, read from the fix data that each diagnostic carries (ruff-lsp style).

The checker puts what a fix needs into ``Diagnostic.data`` when it reports a problem, so
no code action re-validates:

* ``{"replacements": [...]}``: replace the range with one of these (JSON-quoted when the
  range covers a string): the closest valid key, enum value, variable or step;
* ``{"declare": name}``: add ``"name": null`` to ``variables``, creating the block if there
  is none (``null`` declares an optional, untyped variable: FORMAT.md 1.2);
* ``{"missingKey": key}``: add the key to the object the diagnostic points at, with a value
  of the type the schema asks for;
* ``{"edit": {"start", "end", "newText"}}``: a prepared replacement of those offsets.

Imports lsprotocol only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import SOURCE, to_offset, to_range
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.schema_nav import value_snippet
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.symbols import build_outline
from dw_lsp.workflow.tolerant import Node


@dataclass(frozen=True)
class Fix:
    """One quick fix: a title and offset edits ``(start, end, new_text)``."""

    title: str
    edits: tuple[tuple[int, int, str], ...]
    preferred: bool = False


def fixes_for(
    doc: Document, start: int, end: int, data: dict[str, Any], know: Knowledge
) -> list[Fix]:
    """The fixes that the fix data of one diagnostic over ``[start, end)`` describes."""
    out: list[Fix] = []
    replacements = data.get("replacements")
    if isinstance(replacements, list):
        covered = doc.text[start:end]
        quoted = len(covered) >= 2 and covered.startswith('"') and covered.endswith('"')
        for i, new in enumerate(r for r in replacements if isinstance(r, str)):
            text = json.dumps(new, ensure_ascii=False) if quoted else new
            out.append(Fix(f"Replace with '{new}'", ((start, end, text),), preferred=i == 0))
    name = data.get("declare")
    if isinstance(name, str) and name:
        fix = _declare(doc, name)
        if fix is not None:
            out.append(fix)
    key = data.get("missingKey")
    if isinstance(key, str) and key:
        fix = _add_key(doc, start, key, know)
        if fix is not None:
            out.append(fix)
    edit = data.get("edit")
    if isinstance(edit, dict):
        s, e, new_text = edit.get("start"), edit.get("end"), edit.get("newText")
        if (
            isinstance(s, int)
            and isinstance(e, int)
            and isinstance(new_text, str)
            and 0 <= s <= e <= len(doc.text)
        ):
            out.append(Fix(f"Replace with {new_text}", ((s, e, new_text),), preferred=True))
    return out


def _member_insertion(doc: Document, obj: Node, member_text: str) -> tuple[int, int, str]:
    """An edit that inserts ``"key": value`` as the first member of ``obj``."""
    if not obj.members:
        return (obj.start + 1, obj.start + 1, member_text)
    first = obj.members[0].key_start
    line_start = doc.text.rfind("\n", 0, first) + 1
    indent = doc.text[line_start:first]
    if line_start > obj.start and not indent.strip():
        return (first, first, f"{member_text},\n{indent}")
    return (first, first, f"{member_text}, ")


def _declare(doc: Document, name: str) -> Fix | None:
    outline = build_outline(doc)
    root = doc.tree
    if root is None or root.kind != "object" or outline.variable(name) is not None:
        return None
    member = f"{json.dumps(name, ensure_ascii=False)}: null"
    if outline.has_variables_block:
        block = outline.variables_node
        if block is None or block.kind != "object":
            return None
        edit = _member_insertion(doc, block, member)
    else:
        edit = _member_insertion(doc, root, '"variables": {' + member + "}")
    return Fix(f"Declare variable '{name}' in variables", (edit,))


def _object_at(doc: Document, offset: int) -> tuple[Node, Path] | None:
    """The innermost object starting at or containing ``offset``, with its path."""
    node = doc.tree
    path: Path = ()
    found: tuple[Node, Path] | None = None
    while node is not None and node.start <= offset < max(node.end, node.start + 1):
        if node.kind == "object":
            found = (node, path)
            inner = next(
                (
                    m
                    for m in node.members
                    if m.value is not None and m.value.start <= offset < m.value.end
                ),
                None,
            )
            node, path = (inner.value, path + (inner.key,)) if inner else (None, path)
        elif node.kind == "array":
            index = next(
                (i for i, item in enumerate(node.items) if item.start <= offset < item.end), None
            )
            node, path = (node.items[index], path + (index,)) if index is not None else (None, path)
        else:
            node = None
    return found


def _add_key(doc: Document, offset: int, key: str, know: Knowledge) -> Fix | None:
    found = _object_at(doc, offset)
    if found is None:
        return None
    obj, path = found
    if obj.member(key) is not None:
        return None
    schemas = [s for sub in know.schema.at(path + (key,)) for s in know.schema.branches(sub)]
    plain = value_snippet(schemas)[1] or "null"
    member = f"{json.dumps(key, ensure_ascii=False)}: {plain}"
    return Fix(f"Add '{key}'", (_member_insertion(doc, obj, member),))


def code_actions(
    uri: str,
    version: int | None,
    doc: Document,
    diagnostics: Sequence[types.Diagnostic],
    know: Knowledge,
    client: ClientFeatures,
    encoding: Encoding = "utf-16",
) -> list[types.CodeAction]:
    """Quick fixes for the client's diagnostics of ``doc`` that came from this server."""
    if not client.code_action_literals:
        return []
    out: list[types.CodeAction] = []
    for diag in diagnostics:
        if diag.source != SOURCE or not isinstance(diag.data, dict):
            continue
        start = to_offset(doc.lines, diag.range.start, encoding)
        end = to_offset(doc.lines, diag.range.end, encoding)
        for fix in fixes_for(doc, start, end, diag.data, know):
            edits = [
                types.TextEdit(range=to_range(doc.lines, s, e, encoding), new_text=t)
                for s, e, t in fix.edits
            ]
            out.append(
                types.CodeAction(
                    title=fix.title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=fix.preferred or None,
                    edit=workspace_edit(uri, version, edits, client),
                )
            )
    return out


def workspace_edit(
    uri: str, version: int | None, edits: list[types.TextEdit], client: ClientFeatures
) -> types.WorkspaceEdit:
    """Versioned ``documentChanges`` when the client takes them, plain ``changes`` else."""
    if client.document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=list(edits),
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: list(edits)})
