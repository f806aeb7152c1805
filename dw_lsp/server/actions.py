"""Quick fixes, read from the fix data that each diagnostic carries (ruff-lsp style).

The checker puts what a fix needs into ``Diagnostic.data`` when it reports a problem, so
no code action re-validates. :func:`~dw_lsp.validation.fixes.parse_fix_data` reads it back
into the typed kinds of :mod:`dw_lsp.validation.fixes`, and each kind that makes an edit
becomes a code action:

* :class:`~dw_lsp.validation.fixes.Replace`: replace the range with one of these
  (JSON-quoted when the range covers a string): the closest valid key, value, name;
* :class:`~dw_lsp.validation.fixes.Declare`: add ``"name": null`` to ``variables``,
  creating the block if there is none (``null`` declares an optional, untyped variable:
  FORMAT.md 1.2);
* :class:`~dw_lsp.validation.fixes.AddKey`: add a required key to the object it names,
  with a value of the type the schema asks for;
* :class:`~dw_lsp.validation.fixes.InsertKey`: add ``"key": value`` to the object it names;
* :class:`~dw_lsp.validation.fixes.Edit`: a prepared replacement of two offsets.

Imports lsprotocol only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from lsprotocol import types

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import SOURCE, to_offset, to_range
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.schema_nav import value_snippet
from dw_lsp.validation.fixes import AddKey, Declare, Edit, InsertKey, Replace, parse_fix_data
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.nodes import Node
from dw_lsp.workflow.positions import Encoding


@dataclass(frozen=True)
class Fix:
    """One quick fix: a title and offset edits ``(start, end, new_text)``."""

    title: str
    edits: tuple[tuple[int, int, str], ...]
    preferred: bool = False


def fixes_for(doc: Document, start: int, end: int, data: object, know: Knowledge) -> list[Fix]:
    """The fixes that the fix data of one diagnostic over ``[start, end)`` describes."""
    out: list[Fix] = []
    for item in parse_fix_data(data):
        if isinstance(item, Replace):
            covered = doc.text[start:end]
            quoted = len(covered) >= 2 and covered.startswith('"') and covered.endswith('"')
            for i, new in enumerate(item.options):
                text = json.dumps(new, ensure_ascii=False) if quoted else new
                out.append(Fix(f"Replace with '{new}'", ((start, end, text),), preferred=i == 0))
        elif isinstance(item, Declare):
            fix = _declare(doc, item.name)
            if fix is not None:
                out.append(fix)
        elif isinstance(item, AddKey):
            fix = _add_key(doc, item, know)
            if fix is not None:
                out.append(fix)
        elif isinstance(item, InsertKey):
            fix = _insert_key(doc, item)
            if fix is not None:
                out.append(fix)
        elif isinstance(item, Edit) and item.end <= len(doc.text):
            edit = (item.start, item.end, item.new_text)
            out.append(Fix(f"Replace with {item.new_text}", (edit,), preferred=True))
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
    root = doc.tree
    if root is None or root.kind != "object":
        return None
    member = f"{json.dumps(name, ensure_ascii=False)}: null"
    block = root.member("variables")
    if block is not None:
        variables = block.value
        if variables is None or variables.kind != "object" or variables.member(name):
            return None
        edit = _member_insertion(doc, variables, member)
    else:
        edit = _member_insertion(doc, root, '"variables": {' + member + "}")
    return Fix(f"Declare variable '{name}' in variables", (edit,))


def _object(doc: Document, path: Path, key: str) -> Node | None:
    """The object at ``path`` if it has no member ``key`` yet."""
    obj = doc.node(path)
    if obj is None or obj.kind != "object" or obj.member(key) is not None:
        return None
    return obj


def _add_key(doc: Document, fix: AddKey, know: Knowledge) -> Fix | None:
    obj = _object(doc, fix.object, fix.key)
    if obj is None:
        return None
    path = fix.object + (fix.key,)
    schemas = [s for sub in know.schema.at(path) for s in know.schema.branches(sub)]
    plain = value_snippet(schemas)[1] or "null"
    member = f"{json.dumps(fix.key, ensure_ascii=False)}: {plain}"
    return Fix(f"Add '{fix.key}'", (_member_insertion(doc, obj, member),))


def _insert_key(doc: Document, fix: InsertKey) -> Fix | None:
    obj = _object(doc, fix.object, fix.key)
    if obj is None:
        return None
    key, value = (json.dumps(v, ensure_ascii=False) for v in (fix.key, fix.value))
    return Fix(f'Add "{fix.key}": {value}', (_member_insertion(doc, obj, f"{key}: {value}"),))


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
        if diag.source != SOURCE or diag.data is None:
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
    return workspace_edits([(uri, version, edits)], client)


def workspace_edits(
    files: Sequence[tuple[str, int | None, list[types.TextEdit]]], client: ClientFeatures
) -> types.WorkspaceEdit:
    """:func:`workspace_edit` for edits to several documents (uri, version, edits); the
    version is None for a file that is not open."""
    if client.document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=list(edits),
                )
                for uri, version, edits in files
            ]
        )
    return types.WorkspaceEdit(changes={uri: list(edits) for uri, _, edits in files})
