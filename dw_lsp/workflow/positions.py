"""Offsets <-> (line, column): the one place where positions change units.

Every range in the project is a pair of Python string offsets (code points). LSP speaks
UTF-16 code units (``utf-16``, the default) or, when the client negotiates it, UTF-8 bytes or
code points; the CLI prints 1-based lines and code-point columns. Pure.
"""

from __future__ import annotations

import bisect
import re
from typing import Literal

Encoding = Literal["utf-16", "utf-8", "utf-32"]

_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class LineIndex:
    """Line starts of a text, for converting between offsets and line/column pairs."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        i = 0
        n = len(text)
        while i < n:
            c = text[i]
            if c == "\n":
                starts.append(i + 1)
            elif c == "\r":
                if i + 1 < n and text[i + 1] == "\n":
                    i += 1
                starts.append(i + 1)
            i += 1
        self.starts = starts

    @classmethod
    def fast(cls, text: str) -> LineIndex:
        """Build the index with C-speed splitting (LF and CRLF endings; lone CR too).

        ``str.splitlines`` also breaks at characters LSP does not count as line ends
        (U+2028, form feed, ...); text holding any of them takes the exact slow path."""
        if _OTHER_BREAKS.search(text):
            return cls(text)
        self = cls.__new__(cls)
        self.text = text
        starts = [0]
        pos = 0
        for line in text.splitlines(keepends=True):
            pos += len(line)
            starts.append(pos)
        last_line_ended = text.endswith("\n") or text.endswith("\r")
        if len(starts) > 1 and starts[-1] == len(text) and not last_line_ended:
            starts.pop()
        self.starts = starts
        return self

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def _line_text(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]

    def position(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """Offset -> zero-based (line, character) in the given encoding."""
        offset = max(0, min(offset, len(self.text)))
        line = self.line_of(offset)
        prefix = self.text[self.starts[line] : offset]
        return line, _units(prefix, encoding)

    def offset(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """Zero-based (line, character) -> offset, clamped to the text (LSP semantics: a
        line past the end means the end; a character past the line means its end)."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        text = self._line_text(line)
        body = text.rstrip("\r\n")
        start = self.starts[line]
        if encoding == "utf-32":
            return start + max(0, min(character, len(body)))
        units = 0
        for i, ch in enumerate(body):
            if units >= character:
                return start + i
            units += _units(ch, encoding)
        return start + len(body)

    def line_col_1based(self, offset: int) -> tuple[int, int]:
        """For compiler-style messages: 1-based line and code-point column."""
        line, col = self.position(offset, "utf-32")
        return line + 1, col + 1


def _units(s: str, encoding: Encoding) -> int:
    if encoding == "utf-32" or s.isascii():
        return len(s)
    if encoding == "utf-16":
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)
    return len(s.encode("utf-8", "surrogatepass"))
