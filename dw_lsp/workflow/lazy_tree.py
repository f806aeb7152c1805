"""The node tree of strictly valid JSON, read on demand with the C decoder: :func:`lazy_tree`.

The forgiving parser (:mod:`.tolerant`) builds every node of a text in pure Python (half a
second for a 1 MB workflow), which broken JSON needs. For a text that ``json.loads``
accepted, with no repeated key and no lone surrogate, the same tree is read lazily: a
container (:class:`LazyNode`) scans its own children only when a feature first asks for
them, skipping each child with the C decoder (``raw_decode``), and keeps them. A feature
that looks at the step under the cursor thus scans the root, the steps array and one step,
never the nodes of the other steps. The nodes equal the forgiving parser's for such a text
(offsets, kinds, values, members with their colons).

Must only be given text the strict decoder accepted. Pure: standard library only.
"""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from dw_lsp.workflow.nodes import Member, Node
from dw_lsp.workflow.strict_parse import Decoded

_decoder = json.JSONDecoder()
_WS = " \t\n\r"
_KINDS = {str: "string", bool: "boolean", type(None): "null", int: "number", float: "number"}


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


class LazyNode(Node):
    """An object or array of strictly valid JSON whose end and children are read on first
    use (and then kept)."""

    def __init__(self, text: str, kind: str, start: int, end: int | None = None) -> None:
        # Node's fields are set through the properties below; no Node.__init__.
        self._text = text
        self._kind = kind
        self.start = start
        self.value = None
        self.closed = True
        self._end = end
        self._members: list[Member] | None = None
        self._items: list[Node] | None = None

    @property
    def kind(self) -> str:
        return self._kind

    @kind.setter
    def kind(self, value: str) -> None:
        self._kind = value

    @property
    def end(self) -> int:
        if self._end is None:
            self._end = _decoder.raw_decode(self._text, self.start)[1]
        return self._end

    @end.setter
    def end(self, value: int) -> None:
        self._end = value

    @property
    def members(self) -> list[Member]:
        if self._members is None:
            self._members = [] if self._kind != "object" else list(_members(self._text, self))
        return self._members

    @members.setter
    def members(self, value: list[Member]) -> None:
        self._members = value

    @property
    def items(self) -> list[Node]:
        if self._items is None:
            self._items = [] if self._kind != "array" else list(_items(self._text, self))
        return self._items

    @items.setter
    def items(self, value: list[Node]) -> None:
        self._items = value

    def to_python(self) -> Any:
        return _decoder.raw_decode(self._text, self.start)[0]

    def __repr__(self) -> str:
        return f"LazyNode({self._kind!r}, {self.start}, {self._end})"


def lazy_tree(text: str, decoded: Decoded | None = None) -> Node | None:
    """The root node of the strictly valid JSON ``text`` (None for a blank text).
    ``decoded``: where the decoder found the root's members and steps, which the tree then
    need not scan again."""
    start = _skip_ws(text, 0)
    if start >= len(text):
        return None
    root = node_at_offset(text, start)
    if decoded is None or not isinstance(root, LazyNode) or decoded.root_span[0] != start:
        return root
    root.end = decoded.root_span[1]
    members: list[Member] = []
    for key, key_start, key_end, colon, value_start, value_end in decoded.root_members:
        value = _known(text, value_start, value_end)
        if isinstance(value, LazyNode) and value_start == decoded.steps_start:
            value.items = [
                _known(text, at, at + len(piece.text))
                for at, piece in zip(decoded.step_starts, decoded.steps, strict=True)
            ]
        members.append(Member(key, key_start, key_end, value, colon))
    root.members = members
    return root


def _known(text: str, start: int, end: int) -> Node:
    """The node of the value at ``[start, end)`` (a container's end is not looked for)."""
    node = node_at_offset(text, start)
    if isinstance(node, LazyNode):
        node.end = end
    return node


def node_at_offset(text: str, start: int) -> Node:
    """The node of the value that starts at ``start``; a scalar is decoded now."""
    c = text[start]
    if c == "{":
        return LazyNode(text, "object", start)
    if c == "[":
        return LazyNode(text, "array", start)
    value, end = _decoder.raw_decode(text, start)
    return Node(_KINDS[type(value)], start, end, value)


def _child(text: str, start: int) -> tuple[Node, int]:
    """The child node at ``start`` and where it ends (a container is skipped by the C
    decoder, its own children left for later)."""
    c = text[start]
    if c in "{[":
        end = _decoder.raw_decode(text, start)[1]
        return LazyNode(text, "object" if c == "{" else "array", start, end), end
    node = node_at_offset(text, start)
    return node, node.end


def _members(text: str, node: LazyNode) -> list[Member]:
    out: list[Member] = []
    i = _skip_ws(text, node.start + 1)
    if text[i] == "}":
        node.end = i + 1
        return out
    while True:
        key, key_end = scanstring(text, i + 1)
        colon = _skip_ws(text, key_end)
        value, vend = _child(text, _skip_ws(text, colon + 1))
        out.append(Member(key, i, key_end, value, colon))
        i = _skip_ws(text, vend)
        if text[i] == "}":
            node.end = i + 1
            return out
        i = _skip_ws(text, i + 1)


def _items(text: str, node: LazyNode) -> list[Node]:
    out: list[Node] = []
    i = _skip_ws(text, node.start + 1)
    if text[i] == "]":
        node.end = i + 1
        return out
    while True:
        item, end = _child(text, i)
        out.append(item)
        i = _skip_ws(text, end)
        if text[i] == "]":
            node.end = i + 1
            return out
        i = _skip_ws(text, i + 1)
