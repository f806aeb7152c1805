"""Where the members and items of strictly valid JSON lie, found on demand:
:class:`RangeIndex`, which :class:`~dw_lsp.workflow.document.Document` uses to locate the
range of a path without building a tree (siblings are skipped by the C decoder). Must only
be given text the strict decoder accepted. Pure: standard library only.
"""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]

Path = tuple[str | int, ...]

_decoder = json.JSONDecoder()
_WS = " \t\n\r"


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


class RangeIndex:
    """Member and item offsets of the containers visited so far in a strict document.

    Each container is scanned once (siblings skipped by the C decoder); later lookups in
    it are dictionary reads."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.objects: dict[int, tuple[dict[str, tuple[int, int, int]], int | None]] = {}
        self.arrays: dict[int, list[int]] = {}

    def member(self, start: int, key: str) -> tuple[int, int, int] | None:
        """(key start, key end, value start) of member ``key`` of the object at ``start``.

        Members are scanned only as far as the first one named ``key`` (later lookups
        resume the scan), so finding ``steps`` does not decode the values after it. A
        document with duplicate keys never gets here: its ranges come from the tree."""
        entry = self.objects.get(start)
        if entry is None:
            i = _skip_ws(self.text, start + 1)
            entry = ({}, None if self.text[i] == "}" else i)
            self.objects[start] = entry
        found, cursor = entry
        if key in found:
            return found[key]
        text = self.text
        while cursor is not None:
            name, kend = scanstring(text, cursor + 1)
            vstart = _skip_ws(text, _skip_ws(text, kend) + 1)
            member = (cursor, kend, vstart)
            found.setdefault(name, member)
            _, vend = _decoder.raw_decode(text, vstart)
            i = _skip_ws(text, vend)
            cursor = None if text[i] == "}" else _skip_ws(text, i + 1)
            self.objects[start] = (found, cursor)
            if name == key:
                return member
        return None

    def items(self, start: int) -> list[int]:
        """Start offsets of the items of the array at ``start``."""
        cached = self.arrays.get(start)
        if cached is not None:
            return cached
        text = self.text
        starts: list[int] = []
        i = _skip_ws(text, start + 1)
        if text[i] != "]":
            while True:
                starts.append(i)
                _, end = _decoder.raw_decode(text, i)
                i = _skip_ws(text, end)
                if text[i] == "]":
                    break
                i = _skip_ws(text, i + 1)
        self.arrays[start] = starts
        return starts

    def value_start(self, path: Path) -> int | None:
        start = _skip_ws(self.text, 0)
        for part in path:
            c = self.text[start]
            if isinstance(part, str):
                if c != "{":
                    return None
                member = self.member(start, part)
                if member is None:
                    return None
                start = member[2]
            else:
                if c != "[":
                    return None
                items = self.items(start)
                if not 0 <= part < len(items):
                    return None
                start = items[part]
        return start
