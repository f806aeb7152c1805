"""Strict JSON decoding of a workflow that reuses what an earlier version already decoded:
:func:`decode_workflow`.

A keystroke changes one step of a large workflow; ``json.loads`` would decode all of it
again, and every rule would see new objects. Here the root object's members and the items
of its ``steps`` array are read one by one with the C decoder (``scan_once``), and each
is first compared with the source slice it had in the previous version (a C-speed
``startswith``): a member or step whose text did not change keeps its decoded value, the
very same object. Everything derived from one step (:meth:`Document.step_memo`) is then
found again by identity, so the cost of a check follows what changed, not the size.

The decoding is exactly as strict as ``json.loads``: the same scanner decodes every value,
and the punctuation between the root's members and the steps (whitespace ``[ \\t\\n\\r]``,
``:``, ``,``, no trailing comma, nothing after the root) is checked here; anything else
raises ValueError and the caller falls back to the plain path. A slice is reused only when
the new text holds it at the same place in the structure, and a complete JSON object or
value ends where its text ends, so a reused value is the value the scanner would return.
Pure: standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

_WS = " \t\n\r"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: One escape: a whole surrogate pair, half of one (group 1), or any other.
_ESCAPES = re.compile(
    r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)",
    re.DOTALL,
)
#: Only a container's text ends where its value does (``12`` is a prefix of ``123``).
_CONTAINERS = ("{", "[")


@dataclass
class Piece:
    """One decoded member value or step: its source slice, value and whether some object
    inside it repeats a key."""

    text: str
    value: Any
    duplicates: bool
    lone_escape: bool = False


@dataclass
class Decoded:
    """The pieces of one version, for the next one to reuse: root members by key, steps in
    order (with their start offsets in this version's text)."""

    members: dict[str, Piece] = field(default_factory=dict)
    #: Whether some piece or root key escapes half a surrogate pair (``"\\udfaa"``).
    lone_escapes: bool = False
    steps: list[Piece] = field(default_factory=list)
    step_starts: list[int] = field(default_factory=list)
    steps_start: int = -1
    steps_end: int = -1
    #: Where the root and each of its members lie: (start, end) and, per member, (key,
    #: key start, key end, colon, value start, value end); the tree starts from these.
    root_span: tuple[int, int] = (0, 0)
    root_members: list[tuple[str, int, int, int, int, int]] = field(default_factory=list)


def escapes_lone_surrogate(text: str) -> bool:
    """Whether the JSON ``text`` escapes half a surrogate pair (``\\uD800``-``\\uDFFF``
    not paired with its other half). A C-speed search first; escapes are then read in
    order, so an escaped backslash is never taken for the start of one."""
    if "\\u" not in text or _SURROGATE_ESCAPE.search(text) is None:
        return False
    return any(m.group(1) for m in _ESCAPES.finditer(text))


def _skip(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def no_constant(word: str) -> Any:
    """``NaN``, ``Infinity``, ``-Infinity``: Python's json reads them, JSON has none (the
    tolerant parser then says where they are)."""
    raise ValueError(f"{word} is not JSON")


class _Scanner:
    """Decodes values with duplicate-key detection (the hook sees every object's pairs)."""

    def __init__(self) -> None:
        self.duplicates = False
        decoder = json.JSONDecoder(object_pairs_hook=self._pairs, parse_constant=no_constant)
        self.scan_once: Callable[[str, int], tuple[Any, int]] = decoder.scan_once  # type: ignore[attr-defined]

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        if len(built) != len(pairs):
            self.duplicates = True
        return built

    def piece(self, text: str, i: int, old: Piece | None) -> tuple[Piece, int]:
        """The value at ``i``: ``old``'s when its text is there again, else decoded."""
        if old is not None and old.text[:1] in _CONTAINERS and text.startswith(old.text, i):
            return old, i + len(old.text)
        before, self.duplicates = self.duplicates, False
        try:
            value, end = self.scan_once(text, i)
        except StopIteration as err:
            raise ValueError(f"Expecting value at {err.value}") from None
        source = text[i:end]
        piece = Piece(source, value, self.duplicates, escapes_lone_surrogate(source))
        self.duplicates = before or self.duplicates
        return piece, end


def decode_workflow(text: str, previous: Decoded | None) -> tuple[Any, bool, Decoded]:
    """(value, whether some object repeats a key, the pieces) of the JSON ``text`` whose
    root is an object; raises ValueError (invalid JSON, or a root that is not an object:
    the caller decodes those the plain way) or RecursionError (too deep)."""
    try:
        return _decode(text, previous or Decoded())
    except IndexError:  # the text ended inside the punctuation
        raise ValueError("Unexpected end of text") from None


def _decode(text: str, previous: Decoded) -> tuple[Any, bool, Decoded]:
    scanner = _Scanner()
    out = Decoded()
    duplicates = False
    i = root_start = _skip(text, 0)
    if text[i] != "{":
        raise ValueError("The root is not an object")
    i = _skip(text, i + 1)
    pairs: list[tuple[str, Any]] = []
    if text[i] == "}":
        i += 1
    else:
        while True:
            if text[i] != '"':
                raise ValueError(f"Expecting property name at {i}")
            key_start = i
            key, i = scanstring(text, i + 1, True)
            out.lone_escapes = out.lone_escapes or escapes_lone_surrogate(text[key_start:i])
            key_end = i
            i = colon = _skip(text, i)
            if text[i] != ":":
                raise ValueError(f"Expecting ':' at {i}")
            i = value_start = _skip(text, i + 1)
            if key == "steps" and text[i] == "[" and out.steps_start < 0:
                value, dup, i = _steps(text, i, scanner, previous, out)
                out.steps_end = i
            else:
                piece, i = scanner.piece(text, i, previous.members.get(key))
                out.members.setdefault(key, piece)
                value, dup = piece.value, piece.duplicates
                out.lone_escapes = out.lone_escapes or piece.lone_escape
            duplicates = duplicates or dup
            pairs.append((key, value))
            out.root_members.append((key, key_start, key_end, colon, value_start, i))
            i = _skip(text, i)
            if text[i] == "}":
                i += 1
                break
            if text[i] != ",":
                raise ValueError(f"Expecting ',' delimiter at {i}")
            i = _skip(text, i + 1)
    if _skip(text, i) != len(text):
        raise ValueError(f"Extra data at {i}")
    out.root_span = (root_start, i)
    root = dict(pairs)
    return root, duplicates or len(root) != len(pairs), out


def _steps(
    text: str, i: int, scanner: _Scanner, previous: Decoded, out: Decoded
) -> tuple[list[Any], bool, int]:
    """The ``steps`` array at ``i``: its items, whether one repeats a key, its end."""
    out.steps_start = i
    old = previous.steps
    items: list[Any] = []
    duplicates = False
    i = _skip(text, i + 1)
    if text[i] == "]":
        return items, False, i + 1
    while True:
        index = len(out.steps)
        # the same step, or its neighbour when a step was added or removed before it
        candidates = [old[j] for j in (index, index + 1, index - 1) if 0 <= j < len(old)]
        piece: Piece | None = None
        for candidate in candidates:
            if candidate.text[:1] in _CONTAINERS and text.startswith(candidate.text, i):
                piece, end = candidate, i + len(candidate.text)
                break
        if piece is None:
            piece, end = scanner.piece(text, i, None)
        out.steps.append(piece)
        out.lone_escapes = out.lone_escapes or piece.lone_escape
        out.step_starts.append(i)
        items.append(piece.value)
        duplicates = duplicates or piece.duplicates
        i = _skip(text, end)
        if text[i] == "]":
            return items, duplicates, i + 1
        if text[i] != ",":
            raise ValueError(f"Expecting ',' delimiter at {i}")
        i = _skip(text, i + 1)
