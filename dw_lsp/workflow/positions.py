"""Offsets <-> (line, column): the one place where positions change units.

Every range in the project is a pair of Python string offsets (code points). LSP speaks
UTF-16 code units (``utf-16``, the default) or, when the client negotiates it, UTF-8 bytes or
code points; the CLI prints 1-based lines and code-point columns. Pure.

Lines follow LSP, not ``str.splitlines``: only LF, CRLF and CR end a line (U+2028, U+0085,
form feed and the like are ordinary characters inside a line).

Every conversion costs O(log n), whatever the text: a :class:`LineIndex` finds its line
starts with one C-speed regex pass, and for a text that is not pure ASCII it records, once
and only when a conversion first needs it, where the characters that take more than one
unit lie (astral characters for UTF-16; everything past U+007F for UTF-8). The units of a
span are then its length plus a count of those characters found by bisection, so converting
the thousands of positions of a pathological line never rescans the line (quadratic).
"""

from __future__ import annotations

import bisect
import re
from typing import Literal

Encoding = Literal["utf-16", "utf-8", "utf-32"]

_BREAK = re.compile(r"\r\n|\r|\n")
#: Characters that take one more unit than a code point: in UTF-16 (astral: a surrogate
#: pair), and each threshold of UTF-8 (2, 3 and 4 bytes).
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_UTF8_TIERS = (re.compile("[^\x00-\x7f]"), re.compile("[^\x00-\u07ff]"), _ASTRAL)


def _patterns(encoding: Encoding) -> tuple[re.Pattern[str], ...]:
    return (_ASTRAL,) if encoding == "utf-16" else _UTF8_TIERS


def _carried(
    offsets: list[int], pattern: re.Pattern[str], text: str, start: int, end: int, delta: int
) -> list[int]:
    """The sorted offsets of ``pattern``'s (one-character) matches in ``text``, from those
    of the text before ``[start, end)`` was replaced (``delta``: the change of length):
    kept before the edit, rescanned around it, shifted after it."""
    low = max(0, start - 1)  # a surrogate half joined at a seam changes the character there
    high = end + 1
    head = bisect.bisect_left(offsets, low)
    tail = bisect.bisect_left(offsets, high)
    middle = [m.start() for m in pattern.finditer(text, low, max(low, high + delta))]
    return offsets[:head] + middle + [o + delta for o in offsets[tail:]]


class LineIndex:
    """Line starts of a text, for converting between offsets and line/column pairs."""

    def __init__(self, text: str, starts: list[int] | None = None) -> None:
        self.text = text
        if starts is None:
            starts = [0]
            starts.extend(m.end() for m in _BREAK.finditer(text))
        self.starts = starts
        self._ascii: bool | None = None  # decided on first use (a C-speed pass)
        self._wide: dict[Encoding, list[list[int]]] = {}

    def spliced(self, start: int, end: int, text: str) -> LineIndex:
        """The index of ``text``, which is this index's text with ``[start, end)``
        replaced (possibly joining surrogate halves at the seams, as
        :func:`~dw_lsp.server.documents.splice` does), rescanning only around the edit:
        line starts before it are kept and those after it shifted, so typing one
        character into a large document costs no pass over its lines."""
        old = self.starts
        delta = len(text) - len(self.text)
        # Common prefix: old[:start - 1]; common suffix: old[end + 1:]. A line start s is
        # decided by the characters at s - 1 and s, so starts up to ``low`` and from
        # ``high`` are unchanged (the latter shifted by ``delta``).
        low = max(0, start - 2)
        high = min(len(self.text), end + 2)
        head = bisect.bisect_right(old, low)
        tail = bisect.bisect_left(old, high) if high < len(self.text) else len(old)
        new_high = high + delta
        middle = [
            m.end()
            for m in _BREAK.finditer(text, low, min(len(text), new_high + 1))
            if low < m.end() < new_high or (high == len(self.text) and m.end() == new_high)
        ]
        shifted = [s + delta for s in old[tail:]] if delta else old[tail:]
        index = LineIndex(text, old[:head] + middle + shifted)
        if self._is_ascii and text.isascii():
            index._ascii = True
        else:  # the wide characters found so far, carried the same way
            index._wide = {
                encoding: [
                    _carried(offsets, pattern, text, start, end, delta)
                    for offsets, pattern in zip(tiers, _patterns(encoding), strict=True)
                ]
                for encoding, tiers in self._wide.items()
            }
        return index

    def _end(self, line: int) -> int:
        """Where ``line``'s body stops (before its line break)."""
        if line + 1 >= len(self.starts):
            return len(self.text)
        nxt = self.starts[line + 1]
        return nxt - 2 if self.text[nxt - 2 : nxt] == "\r\n" else nxt - 1

    @property
    def _is_ascii(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def _tiers(self, encoding: Encoding) -> list[list[int]]:
        """Sorted offsets of the characters that take extra units in ``encoding``."""
        tiers = self._wide.get(encoding)
        if tiers is None:
            tiers = [[m.start() for m in p.finditer(self.text)] for p in _patterns(encoding)]
            self._wide[encoding] = tiers
        return tiers

    def units(self, start: int, end: int, encoding: Encoding = "utf-16") -> int:
        """The length of ``text[start:end]`` in ``encoding``'s units."""
        if encoding == "utf-32" or self._is_ascii or end <= start:
            return max(0, end - start)
        extra = 0
        for offsets in self._tiers(encoding):
            extra += bisect.bisect_left(offsets, end) - bisect.bisect_left(offsets, start)
        return end - start + extra

    def position(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """Offset -> zero-based (line, character) in the given encoding."""
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        start = self.starts[line]
        # An offset inside a CRLF belongs to the line's end (no LSP position names it).
        offset = min(offset, self._end(line))
        return line, self.units(start, offset, encoding)

    def offset(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """Zero-based (line, character) -> offset, clamped to the text (LSP semantics: a
        line past the end means the end; a character past the line means its end; a
        character inside a multi-unit character means the end of that character)."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        start, end = self.starts[line], self._end(line)
        if character <= 0:
            return start
        if encoding == "utf-32" or self._is_ascii:
            return start + min(character, end - start)
        if self.units(start, end, encoding) <= character:
            return end
        # The first offset whose prefix reaches ``character`` units (units grow with it).
        low, high = start, end
        while low < high:
            mid = (low + high) // 2
            if self.units(start, mid, encoding) >= character:
                high = mid
            else:
                low = mid + 1
        return low

    def line_col_1based(self, offset: int) -> tuple[int, int]:
        """For compiler-style messages: 1-based line and code-point column."""
        line, col = self.position(offset, "utf-32")
        return line + 1, col + 1
