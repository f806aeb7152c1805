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
    indices, i.e. code points); ``data`` is the JSON object that travels in
    ``Diagnostic.data``: the fix data of :mod:`dw_lsp.validation.fixes` (written and read
    there, typed), or the parser's count of problems not shown (DW015)."""

    code: str
    severity: Severity
    message: str
    start: int
    end: int
    data: dict[str, Any] | None = field(default=None, compare=False)

    def sort_key(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.code)


#: Problems shown per document; the rest are summed up in one more (DW015).
MAX_PROBLEMS = 1000
#: The code of that summary; its ``data`` holds ``{"hidden": count}``.
TOO_MANY = "DW015"


def too_many(hidden: int, start: int, end: int, limit: int = MAX_PROBLEMS) -> Problem:
    """The summary of ``hidden`` problems not shown, placed at the first of them."""
    message = (
        f"{hidden} more problems are not shown (at most {limit} per document); fix these "
        "first, or run `dw-lsp check` on the file to list them all."
    )
    return Problem(TOO_MANY, Severity.WARNING, message, start, end, {"hidden": hidden})


def capped(problems: list[Problem], limit: int = MAX_PROBLEMS) -> list[Problem]:
    """At most ``limit`` of ``problems`` (the most severe, earliest first, kept in their
    order), then one DW015 warning that counts the others (and those an earlier summary,
    such as the parser's, already counted)."""
    earlier = [p for p in problems if p.code == TOO_MANY]
    shown = [p for p in problems if p.code != TOO_MANY] if earlier else problems
    if len(shown) <= limit and len(earlier) <= 1:
        return problems
    ranked = sorted((p.severity, p.start, i) for i, p in enumerate(shown))
    kept = sorted(i for _, _, i in ranked[:limit])
    hidden = [shown[i] for _, _, i in ranked[limit:]] + earlier
    first = min(hidden, key=Problem.sort_key)
    count = len(ranked[limit:]) + sum(int((p.data or {}).get("hidden", 1)) for p in earlier)
    return [*(shown[i] for i in kept), too_many(count, first.start, first.end, limit)]
