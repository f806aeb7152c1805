"""A workflow document: its text, its value, its syntax problems, and source ranges.

``parse(text)`` never raises. Strictly valid JSON takes the fast path: ``json.loads`` (C)
gives the value, and ranges are located lazily, only for the paths a check asks about, by
walking down from the root and skipping siblings with the C decoder, so a 1 MB file costs
no pure-Python pass over every node. Broken JSON goes to the forgiving parser
(:mod:`dw_lsp.workflow.tolerant`), whose tree serves the same queries. Editor features that
need the node under the cursor use :attr:`Document.tree`, built on first use.

Paths are tuples of object keys (str) and array indices (int) from the root. Ranges are
``(start, end)`` string offsets. Pure: no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, TypeVar

from dw_lsp.workflow.files import MAX_JSON_DEPTH, MAX_WORKFLOW_BYTES
from dw_lsp.workflow.lazy_tree import lazy_tree
from dw_lsp.workflow.nodes import Member, Node
from dw_lsp.workflow.positions import LineIndex
from dw_lsp.workflow.problem import MAX_PROBLEMS, TOO_MANY, Problem, Severity, too_many
from dw_lsp.workflow.range_index import RangeIndex
from dw_lsp.workflow.strict_parse import (
    Decoded,
    decode_workflow,
    escapes_lone_surrogate,
    no_constant,
)
from dw_lsp.workflow.tolerant import LONE_SURROGATE, lone_surrogate, parse_tree

Path = tuple[str | int, ...]
Span = tuple[int, int]

_T = TypeVar("_T")
_decoder = json.JSONDecoder()
#: What the tolerant parser finds in strictly valid JSON: duplicate keys, lone
#: surrogates, and the count of those past the limit.
_STRICT_CODES = ("DW011", "DW014", TOO_MANY)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@dataclass(frozen=True)
class Hit:
    """What lies under an offset: the innermost node or key.

    ``part`` is ``"key"`` (on a member's key; ``path`` is the member's path), ``"value"``
    (on a value; ``path`` is its path), or ``"inside"`` (between the children of the
    container at ``path``, e.g. where a new key or item would go)."""

    path: Path
    part: Literal["key", "value", "inside"]
    span: Span
    node: Node | None
    member: Member | None = None


class Document:
    """The parsed form of one text. Cheap to build; ranges and the tree come lazily."""

    def __init__(
        self, text: str, lines: LineIndex | None = None, previous: Document | None = None
    ) -> None:
        self.text = text
        self.built_lines = lines if lines is not None and lines.text is text else None
        #: The decoded pieces (root members, steps) for the next version to reuse.
        self.decoded: Decoded | None = None
        self._step_results: dict[tuple[object, int], tuple[Any, tuple[object, ...], Any]] = {}
        self._inherited: dict[tuple[object, int], tuple[Any, tuple[object, ...], Any]] = {}
        if previous is not None:
            self._inherited = {**previous._inherited, **previous._step_results}
        self.problems: list[Problem] = []
        self.value: Any = None
        self.strict = False
        self._tree: Node | None = None
        self._tree_built = False
        self._tree_ranges = False  # answer range queries from the tree (broken JSON, dup keys)
        self._tree_lazily = True  # a strict text's tree is read on demand (lazy_tree)
        self._spans: dict[Path, Span | None] = {}
        self._derived: dict[object, Any] = {}
        self._parse(previous.decoded if previous is not None else None)

    # -- parsing -----------------------------------------------------------------------
    def _parse(self, previous: Decoded | None) -> None:
        text = self.text
        size, raw_surrogate = _utf8_size(text)
        if size > MAX_WORKFLOW_BYTES:
            msg = (
                f"The document is {size / 1048576:.1f} MiB; workflows are limited to "
                f"{MAX_WORKFLOW_BYTES // 1048576} MiB and this one is not checked."
            )
            self.problems.append(Problem("DW008", Severity.ERROR, msg, 0, min(1, len(text))))
            self._tree_built = True
            return
        try:
            self.value, duplicates, self.decoded = _loads_bounded(text, previous)
            self.strict = True
        except (ValueError, RecursionError):
            pass
        else:
            if self.decoded is not None:  # each new piece was searched as it was decoded
                lone = raw_surrogate or self.decoded.lone_escapes
            else:
                lone = raw_surrogate or _holds_lone_surrogates(text, raw=False)
            if duplicates:  # rare: the tree says where (DW011, and DW014 if any) and gives
                # last-wins ranges
                self._tree, problems = parse_tree(text)
                self._tree_built = self._tree_ranges = True
                self.problems = [p for p in problems if p.code in _STRICT_CODES]
                if lone and self._tree is not None:
                    self.value = self._tree.to_python()
            elif lone:  # valid JSON, but no later check may see half a surrogate pair
                self.value = _without_lone_surrogates(self.value)
                self.problems = _lone_surrogate_problems(text)
                self._tree_lazily = False  # the forgiving parser's tree replaces halves
            return
        self._tree, self.problems = parse_tree(text)
        self._tree_built = self._tree_ranges = True
        self.value = self._tree.to_python() if self._tree is not None else None

    def derived(self, key: object, make: Callable[[], _T]) -> _T:
        """A fact derived from this text alone (the outline, the symbols ...), made on
        first use and kept as long as the document: the editor keeps one Document per
        version, so every request on an unchanged buffer shares it."""
        if key not in self._derived:
            self._derived[key] = make()
        return self._derived[key]  # type: ignore[no-any-return]

    def step_memo(
        self, name: object, index: int, step: Any, make: Callable[[], _T], *also: object
    ) -> _T:
        """A fact derived from the step at ``index`` alone (whose value is ``step``; and
        from the objects ``also``, e.g. the ``variables`` block), made once and carried to
        later versions of the document: a step whose text did not change keeps its value
        object (:mod:`.strict_parse`), so the fact made for it is found again by identity,
        and a keystroke costs only the step it changed."""
        key = (name, index)
        held = self._step_results.get(key) or self._inherited.get(key)
        if (
            held is None
            or held[0] is not step
            or len(held[1]) != len(also)
            or any(a is not b for a, b in zip(held[1], also, strict=True))
        ):
            held = (step, also, make())
        self._step_results[key] = held
        return held[2]

    @property
    def tree(self) -> Node | None:
        """The node tree with offsets. Built on first use for strict documents, whose
        containers then read their children only when asked (:mod:`.lazy_tree`)."""
        if not self._tree_built:
            if self._tree_lazily:
                self._tree = lazy_tree(self.text, self.decoded)
            else:
                self._tree, _ = parse_tree(self.text)
            self._tree_built = True
        return self._tree

    @cached_property
    def _index(self) -> RangeIndex:
        index = RangeIndex(self.text)
        decoded = self.decoded
        if decoded is not None:  # the decoder already found the root's members and steps
            members: dict[str, tuple[int, int, int]] = {}
            for key, key_start, key_end, _, value_start, _ in decoded.root_members:
                members.setdefault(key, (key_start, key_end, value_start))
            index.objects[decoded.root_span[0]] = (members, None)
            if decoded.steps_start >= 0:
                index.arrays[decoded.steps_start] = decoded.step_starts
                pieces = zip(decoded.step_starts, decoded.steps, strict=True)
                for i, (start, piece) in enumerate(pieces):
                    self._spans.setdefault(("steps", i), (start, start + len(piece.text)))
        return index

    @property
    def lines(self) -> LineIndex:
        """The line index (the one given at parse time, else built on first use)."""
        if self.built_lines is None:
            self.built_lines = LineIndex(self.text)
        return self.built_lines

    # -- ranges --------------------------------------------------------------------------
    def value_span(self, path: Path) -> Span | None:
        """Offsets of the value at ``path``, or None when there is none."""
        if self._tree_ranges:
            node = self.node(path)
            return (node.start, node.end) if node is not None else None
        index = self._index  # (seeds the spans the decoder found)
        if path not in self._spans:
            start = index.value_start(path)
            span = None
            if start is not None:
                span = (start, _decoder.raw_decode(self.text, start)[1])
            self._spans[path] = span
        return self._spans[path]

    def key_span(self, path: Path) -> Span | None:
        """Offsets of the key string (with its quotes) of the member at ``path``."""
        if not path or not isinstance(path[-1], str):
            return None
        if self._tree_ranges:
            parent = self.node(path[:-1])
            member = parent.member(path[-1]) if parent and parent.kind == "object" else None
            return (member.key_start, member.key_end) if member else None
        start = self._index.value_start(path[:-1])
        if start is None or self.text[start] != "{":
            return None
        found = self._index.member(start, path[-1])
        return (found[0], found[1]) if found else None

    def node(self, path: Path) -> Node | None:
        """The tree node at ``path`` (the last of repeated keys), or None."""
        node = self.tree
        for part in path:
            if node is None:
                return None
            if isinstance(part, str):
                if node.kind != "object":
                    return None
                member = node.member(part)
                node = member.value if member else None
            else:
                if node.kind != "array" or not 0 <= part < len(node.items):
                    return None
                node = node.items[part]
        return node

    # -- the node under the cursor -----------------------------------------------------
    def node_at(self, offset: int) -> Hit | None:
        """The innermost key or value at ``offset`` (an end offset counts as inside)."""
        node = self.tree
        if node is None or not node.start <= offset <= max(node.end, node.start):
            return None
        path: Path = ()
        while True:
            if node.kind == "object":
                for m in node.members:
                    if m.key_start <= offset <= m.key_end:
                        return Hit(path + (m.key,), "key", (m.key_start, m.key_end), node, m)
                    v = m.value
                    if v is not None and v.start <= offset <= v.end and offset > v.start - 1:
                        if v.kind in ("object", "array") and _inside(v, offset):
                            path, node = path + (m.key,), v
                            break
                        if v.kind not in ("object", "array") or offset in (v.start, v.end):
                            return Hit(path + (m.key,), "value", (v.start, v.end), v, m)
                    if v is None and m.colon >= 0 and offset > m.colon:
                        end = _line_end(self.text, m.colon)
                        if offset <= end:
                            return Hit(path + (m.key,), "value", (offset, offset), None, m)
                else:
                    return Hit(path, "inside", (node.start, node.end), node)
            elif node.kind == "array":
                for index, item in enumerate(node.items):
                    if item.start <= offset <= item.end:
                        if item.kind in ("object", "array") and _inside(item, offset):
                            path, node = path + (index,), item
                            break
                        return Hit(path + (index,), "value", (item.start, item.end), item)
                else:
                    return Hit(path, "inside", (node.start, node.end), node)
            else:
                return Hit(path, "value", (node.start, node.end), node)


def parse(text: str, lines: LineIndex | None = None, previous: Document | None = None) -> Document:
    """Parse ``text`` into a :class:`Document`; never raises. ``lines``: the text's line
    index when the caller already has one (the editor carries it across edits);
    ``previous``: an earlier version of the same buffer, whose unchanged steps are reused
    rather than decoded again."""
    return Document(text, lines, previous)


def _utf8_size(text: str) -> tuple[int, bool]:
    """The UTF-8 size of ``text`` and whether it holds a surrogate code point (which in a
    Python string is always half a pair): one C-speed encoding answers both."""
    if text.isascii():
        return len(text), False
    try:
        return len(text.encode("utf-8")), False
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass")), True


def _holds_lone_surrogates(text: str, raw: bool | None = None) -> bool:
    """Whether the JSON ``text`` spells half a surrogate pair: a raw one (``raw``, when
    the caller already knows), or a ``\\uD800``-``\\uDFFF`` escape not paired with its
    other half. C-speed searches first (one regex with both alternatives is 20 times slower
    than two); escapes are then read in order, so an escaped backslash is never taken for
    the start of one."""
    if raw is None:
        raw = not text.isascii() and LONE_SURROGATE.search(text) is not None
    return raw or escapes_lone_surrogate(text)


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with U+FFFD for each lone surrogate in its keys and strings."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


def _lone_surrogate_problems(text: str) -> list[Problem]:
    """DW014 for each string token of the valid JSON ``text`` that holds a lone surrogate
    (the first :data:`MAX_PROBLEMS`, then a count of the others)."""
    problems: list[Problem] = []
    hidden, first = 0, (0, 0)
    for m in _JSON_STRING.finditer(text):
        raw = m.group()
        if not _holds_lone_surrogates(raw):
            continue
        problem = lone_surrogate(json.loads(raw), m.start(), m.end())
        if problem is None:
            continue
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)
        else:
            first = first if hidden else (m.start(), m.end())
            hidden += 1
    if hidden:
        problems.append(too_many(hidden, *first))
    return problems


def _loads_bounded(text: str, previous: Decoded | None) -> tuple[Any, bool, Decoded | None]:
    """``json.loads`` that refuses nesting deeper than about MAX_JSON_DEPTH (RecursionError),
    by lowering the interpreter's recursion limit around the C decoder's recursion; also
    says whether some object repeats a key (which ``json.loads`` silently collapses). A
    workflow object is decoded piece by piece, reusing ``previous``'s unchanged pieces
    (:func:`~dw_lsp.workflow.strict_parse.decode_workflow`); anything else, valid or not,
    by ``json.loads`` itself."""
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + MAX_JSON_DEPTH + 50)
    duplicates = False

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicates
        built = dict(pairs)
        if len(built) != len(pairs):
            duplicates = True
        return built

    try:
        try:
            return decode_workflow(text, previous)
        except ValueError:
            pass  # not an object, or not JSON: json.loads decides, with its own errors
        value = json.loads(text, object_pairs_hook=pairs_to_dict, parse_constant=no_constant)
        return value, duplicates, None
    finally:
        sys.setrecursionlimit(old)


def _inside(node: Node, offset: int) -> bool:
    """Strictly within a container's brackets (an unclosed one extends to its end)."""
    return node.start < offset < node.end or (not node.closed and offset == node.end)


def _line_end(text: str, i: int) -> int:
    j = text.find("\n", i)
    return len(text) if j < 0 else j
