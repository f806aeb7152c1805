"""The unit of every check: a :class:`Problem` with a stable code, a severity, a message
that says what to do, a source range (string offsets into the document text) and optional
machine-readable fix data. Pure: no LSP types; the server converts offsets to UTF-16.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Numbered as LSP's DiagnosticSeverity so the server can pass the value through."""

    ERROR = 1
    WARNING = 2
    INFO = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Problem:
    """One finding. ``start``/``end`` are offsets into the document's text (Python str
    indices, i.e. code points); ``data`` carries fix data for code actions, e.g.
    ``{"replacements": ["model_name"]}`` (replace the range with one of these strings,
    JSON-quoted when the range covers a string) or ``{"insert": {...}}``."""

    code: str
    severity: Severity
    message: str
    start: int
    end: int
    data: dict[str, Any] | None = field(default=None, compare=False)

    def sort_key(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.code)
