"""What every rule module shares: the :class:`Reporter` that turns a finding at a document
path into a :class:`~dw_lsp.workflow.problem.Problem`, and the words of "did you mean".

The rules walk nothing themselves: they read the workflow's
:class:`~dw_lsp.workflow.outline.Outline` (one walk for all of them) and report by path;
the reporter asks the document for the range of a path only when a problem is reported,
so a large valid workflow costs no range at all. Pure: imports no pygls, lsprotocol, torch
or diffusers.
"""

from __future__ import annotations

from collections.abc import Iterable

from dw_lsp.validation.codes import severity_of
from dw_lsp.validation.fixes import FixData, fix_data
from dw_lsp.validation.suggest import close_matches
from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.problem import Problem


class Reporter:
    """Collects problems; computes a range only for what is reported."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def value(self, code: str, path: Path, message: str, *fixes: FixData | None) -> None:
        """Report on the value at ``path`` (a string's range includes its quotes)."""
        self.span(code, self._value_span(path), message, *fixes)

    def key(self, code: str, path: Path, message: str, *fixes: FixData | None) -> None:
        """Report on the key of the member at ``path`` (falls back to its value)."""
        span = self.doc.key_span(path)
        self.span(code, span or self._value_span(path), message, *fixes)

    def span(self, code: str, span: Span, message: str, *fixes: FixData | None) -> None:
        problem = Problem(code, severity_of(code), message, span[0], span[1], fix_data(*fixes))
        self.problems.append(problem)

    def _value_span(self, path: Path) -> Span:
        while True:
            span = self.doc.value_span(path)
            if span is not None:
                return span
            if not path:
                return (0, 0)
            if isinstance(path[-1], str):
                key = self.doc.key_span(path)
                if key is not None:
                    return key
            path = path[:-1]


def close_names(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Candidates that look like ``name``, best first."""
    return close_matches(name, candidates, n=limit)


def quoted(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    items = [f"'{n}'" for n in names]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
