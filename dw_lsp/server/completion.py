"""Completion: keys from the schema, values from :mod:`dw_lsp.server.candidates`.

:func:`complete` looks at what lies under the cursor (:meth:`Document.node_at`, which works
on broken JSON) and answers with items whose ``textEdit`` replaces exactly the text being
typed: a key (quotes included) becomes ``"key": <value snippet>``; inside a string only the
content between the quotes is replaced, so ``"variable:pr|"`` completes to
``"variable:prompt"``. A comma is added when the new member needs one. Snippets are used
only when the client supports them. Inside a sub-workflow ``path`` or a media path the
entries of the folder typed so far are offered (:func:`file_candidates`); an empty document
or an empty root object offers a "New workflow" skeleton (:mod:`.skeleton`). Imports
lsprotocol; no pygls server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path as FsPath

from lsprotocol import types

from dw_lsp.server.candidates import (
    CLASS_KIND,
    COMMAND_KIND,
    CONSTANT_KIND,
    ENUM_KIND,
    FILE_KIND,
    FOLDER_KIND,
    STEP_KIND,
    VARIABLE_KIND,
    ArgumentCandidate,
    Candidate,
    argument_candidates,
    file_candidates,
    path_kind,
    value_candidates,
)
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import to_range
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.schema_nav import (
    Schema,
    describe_schemas,
    enum_of,
    escape_snippet,
    types_of,
    value_snippet,
)
from dw_lsp.server.skeleton import skeleton_item
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.nodes import Node
from dw_lsp.workflow.outline import Outline
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.refs import is_escaped, is_type_key
from dw_lsp.workflow.symbols import content_span
from dw_lsp.workflow.walk import document_outline

_KINDS = {
    VARIABLE_KIND: types.CompletionItemKind.Variable,
    STEP_KIND: types.CompletionItemKind.Reference,
    CLASS_KIND: types.CompletionItemKind.Class,
    CONSTANT_KIND: types.CompletionItemKind.Constant,
    FILE_KIND: types.CompletionItemKind.File,
    FOLDER_KIND: types.CompletionItemKind.Folder,
    ENUM_KIND: types.CompletionItemKind.EnumMember,
    COMMAND_KIND: types.CompletionItemKind.Function,
}
_WORD_BEFORE = re.compile(r"[\w.:/\-{}]*\Z")
_BLANK = " \t\r\n\ufeff"


class _Ctx:
    """One completion request: document, cursor and how to build items."""

    def __init__(
        self,
        doc: Document,
        offset: int,
        know: Knowledge,
        client: ClientFeatures,
        encoding: Encoding,
        base_dir: FsPath | None,
    ) -> None:
        self.doc = doc
        self.text = doc.text
        self.offset = offset
        self.know = know
        self.client = client
        self.encoding = encoding
        self.base_dir = base_dir

    @property
    def outline(self) -> Outline:
        return document_outline(self.doc)

    def range(self, start: int, end: int) -> types.Range:
        return to_range(self.doc.lines, start, end, self.encoding)

    def doc_markup(self, text: str | None) -> types.MarkupContent | None:
        return self.client.markup(text, hover=False) if text else None


def complete(
    doc: Document,
    offset: int,
    know: Knowledge,
    client: ClientFeatures,
    encoding: Encoding = "utf-16",
    base_dir: FsPath | None = None,
) -> list[types.CompletionItem]:
    """Completion items at ``offset`` (empty when nothing fits)."""
    hit = doc.node_at(offset)
    ctx = _Ctx(doc, offset, know, client, encoding, base_dir)
    if hit is None:
        blank = not doc.text.strip(_BLANK)
        if not blank or offset > len(doc.text):
            return []
        return [skeleton_item("", ctx.range(offset, offset), client)]
    if hit.part == "key" and hit.node is not None and hit.member is not None:
        colon = hit.member.colon >= 0
        return _key_items(
            ctx, hit.path[:-1], hit.node, hit.span, hit.member.key, with_value=not colon
        )
    if hit.part == "inside" and hit.node is not None and hit.node.kind == "object":
        items = _key_items(ctx, hit.path, hit.node, (offset, offset), None, with_value=True)
        root = hit.node
        if not hit.path and not root.members and root.start < offset:
            typed = ctx.text[root.start : offset]
            items.insert(0, skeleton_item(typed, ctx.range(root.start, root.end), client))
        return items
    if hit.part == "value":
        node = hit.node
        if node is not None and node.kind == "string":
            return _string_items(ctx, hit.path, node)
        if node is None or node.kind not in ("object", "array"):
            start = hit.span[0] if node is not None else _word_start(ctx.text, offset)
            end = hit.span[1] if node is not None else offset
            return _literal_items(ctx, hit.path, (start, end))
    return []


def _word_start(text: str, offset: int) -> int:
    match = _WORD_BEFORE.search(text, 0, offset)
    return match.start() if match else offset


# -- keys --------------------------------------------------------------------------------
def _key_items(
    ctx: _Ctx,
    obj_path: Path,
    obj: Node,
    span: tuple[int, int],
    current: str | None,
    with_value: bool,
) -> list[types.CompletionItem]:
    present = {m.key for m in obj.members if m.key != current}
    props = ctx.know.schema.property_schemas(obj_path)
    required = ctx.know.schema.required(obj_path)
    items: list[types.CompletionItem] = []
    comma_after, comma_before = _commas(ctx.text, span, obj) if with_value else ("", None)
    for key, schemas in props.items():
        if key in present:
            continue
        resolved = [s for sub in schemas for s in ctx.know.schema.branches(sub)]
        snippet, plain = value_snippet(resolved)
        rank = 0 if key in required else 1
        items.append(
            _key_item(
                ctx,
                key,
                span,
                snippet,
                plain,
                with_value,
                comma_after,
                comma_before,
                describe_schemas(resolved),
                _type_label(resolved),
                rank,
                len(items),
            )
        )
    for arg in argument_candidates(obj_path, ctx.outline, ctx.know, ctx.base_dir):
        if arg.name in present or arg.name in props:
            continue
        snippet, plain = _argument_snippet(arg)
        detail = "= " + json.dumps(arg.default) if arg.has_default else None
        items.append(
            _key_item(
                ctx,
                arg.name,
                span,
                snippet,
                plain,
                with_value,
                comma_after,
                comma_before,
                arg.doc,
                detail,
                0 if arg.required else 1,
                len(items),
            )
        )
    return items


def _type_label(schemas: list[Schema]) -> str | None:
    enum = enum_of(schemas)
    if enum:
        return " | ".join(json.dumps(v) for v in enum)
    kinds = sorted(types_of(schemas))
    return " | ".join(kinds) if kinds else None


def _argument_snippet(arg: ArgumentCandidate) -> tuple[str, str]:
    if not arg.has_default:
        return "$1", ""
    default = arg.default
    if isinstance(default, str) and is_type_key(arg.name) and not is_escaped(default):
        default = "{" + default + "}"  # a string category under a *_type key (FORMAT 1.9.6)
    text = json.dumps(default)
    if isinstance(default, str):
        return '"${1:' + escape_snippet(default) + '}"', text
    if isinstance(arg.default, bool):
        other = "false" if arg.default else "true"
        return "${1|" + text + "," + other + "|}", text
    return "${1:" + escape_snippet(text) + "}", text


def _commas(text: str, span: tuple[int, int], obj: Node) -> tuple[str, int | None]:
    """(text to append, offset where a comma must be inserted before) for a new member."""
    after = span[1]
    while after < len(text) and text[after] in " \t\r\n":
        after += 1
    append = "," if after < len(text) and after < obj.end and text[after] == '"' else ""
    before = span[0] - 1
    while before > obj.start and text[before] in " \t\r\n":
        before -= 1
    insert = before + 1 if before > obj.start and text[before] not in "{[," else None
    return append, insert


def _key_item(
    ctx: _Ctx,
    key: str,
    span: tuple[int, int],
    snippet: str,
    plain: str,
    with_value: bool,
    comma_after: str,
    comma_before: int | None,
    doc: str | None,
    detail: str | None,
    rank: int,
    order: int,
) -> types.CompletionItem:
    quoted = json.dumps(key)
    use_snippet = ctx.client.snippets and with_value
    if with_value:
        value = snippet if use_snippet else plain
        key_text = escape_snippet(quoted) if use_snippet else quoted
        new_text = f"{key_text}: {value}{comma_after}"
    else:
        new_text = quoted
    extra = None
    if with_value and comma_before is not None:
        extra = [types.TextEdit(range=ctx.range(comma_before, comma_before), new_text=",")]
    return types.CompletionItem(
        label=key,
        kind=types.CompletionItemKind.Property,
        detail=detail,
        documentation=ctx.doc_markup(doc),
        sort_text=f"{rank}{order:04d}",
        filter_text=quoted,
        insert_text_format=(
            types.InsertTextFormat.Snippet if use_snippet else types.InsertTextFormat.PlainText
        ),
        text_edit=types.TextEdit(range=ctx.range(*span), new_text=new_text),
        additional_text_edits=extra,
    )


# -- values ------------------------------------------------------------------------------
def _string_items(ctx: _Ctx, path: Path, node: Node) -> list[types.CompletionItem]:
    start, end = content_span(ctx.text, (node.start, node.end))
    if not start <= ctx.offset <= end:
        return []
    prefix = ctx.text[start : ctx.offset]
    span = ctx.range(start, end)
    found = _file_candidates(ctx, path, prefix)
    found += value_candidates(path, prefix, ctx.outline, ctx.know)
    return [
        _value_item(ctx, c, json.dumps(c.value, ensure_ascii=False)[1:-1], span, i)
        for i, c in enumerate(found)
    ]


def _file_candidates(ctx: _Ctx, path: Path, prefix: str) -> list[Candidate]:
    """Folder entries for a sub-workflow path or a media path (FORMAT.md 1.7, 1.9.7)."""
    if ctx.base_dir is None:
        return []
    media_type = None
    if path and path[-1] == "location":
        parent = _node_at_path(ctx.doc.tree, path[:-1])
        member = parent.member("media_type") if parent and parent.kind == "object" else None
        media_type = member.value.value if member and member.value else None
    kind = path_kind(path, media_type)
    if kind is None:
        return []
    return file_candidates(kind, _decoded(prefix), ctx.base_dir)


def _decoded(raw: str) -> str:
    """The value of a string's raw text so far (escapes resolved where they are complete)."""
    if "\\" not in raw:
        return raw
    try:
        value = json.loads('"' + raw + '"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def _node_at_path(node: Node | None, path: Path) -> Node | None:
    for part in path:
        if node is None:
            return None
        if isinstance(part, str):
            member = node.member(part) if node.kind == "object" else None
            node = member.value if member else None
        elif node.kind == "array" and 0 <= part < len(node.items):
            node = node.items[part]
        else:
            return None
    return node


def _literal_items(ctx: _Ctx, path: Path, span: tuple[int, int]) -> list[types.CompletionItem]:
    rng = ctx.range(*span)
    items = [
        _value_item(ctx, c, json.dumps(c.value, ensure_ascii=False), rng, i)
        for i, c in enumerate(value_candidates(path, "", ctx.outline, ctx.know))
    ]
    schemas = ctx.know.schema.at(path)
    kinds = types_of(schemas)
    for value in enum_of(schemas):
        if not isinstance(value, str):
            items.append(
                _value_item(
                    ctx,
                    Candidate(json.dumps(value), ENUM_KIND, rank=0),
                    json.dumps(value),
                    rng,
                    len(items),
                )
            )
    if "boolean" in kinds and not enum_of(schemas):
        for word in ("true", "false"):
            items.append(
                _value_item(ctx, Candidate(word, ENUM_KIND, rank=0), word, rng, len(items))
            )
    if kinds & {"object", "array"} and schemas:
        snippet, plain = value_snippet(schemas)
        use_snippet = ctx.client.snippets
        items.append(
            types.CompletionItem(
                label=plain or snippet,
                kind=types.CompletionItemKind.Struct,
                sort_text=f"0{len(items):04d}",
                insert_text_format=(
                    types.InsertTextFormat.Snippet
                    if use_snippet
                    else types.InsertTextFormat.PlainText
                ),
                text_edit=types.TextEdit(range=rng, new_text=snippet if use_snippet else plain),
            )
        )
    return items


def _value_item(
    ctx: _Ctx, c: Candidate, new_text: str, rng: types.Range, order: int
) -> types.CompletionItem:
    return types.CompletionItem(
        label=c.value,
        kind=_KINDS.get(c.kind, types.CompletionItemKind.Value),
        detail=c.detail,
        documentation=ctx.doc_markup(c.doc),
        sort_text=f"{c.rank}{order:04d}",
        filter_text=new_text,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=rng, new_text=new_text),
    )
