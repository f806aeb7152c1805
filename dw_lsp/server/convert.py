"""Offsets and Problems -> LSP types, and LSP positions -> offsets.

Every range in the project is a pair of string offsets; this module turns them into LSP
ranges through :class:`~dw_lsp.workflow.positions.LineIndex` in the negotiated position
encoding (UTF-16 by default), and turns a :class:`~dw_lsp.workflow.problem.Problem` into
a :class:`~lsprotocol.types.Diagnostic` whose ``data`` carries the fix data, so code actions
never re-validate (ruff-lsp style). Imports lsprotocol; never pygls's server or ML libraries.
"""

from __future__ import annotations

from lsprotocol import types

from dw_lsp.workflow.positions import Encoding, LineIndex
from dw_lsp.workflow.problem import Problem

#: ``Diagnostic.source`` of everything this server reports.
SOURCE = "dw-lsp"

_ENCODINGS: dict[str, Encoding] = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-32": "utf-32"}


def encoding_of(kind: object) -> Encoding:
    """The negotiated ``PositionEncodingKind`` (or its string) as a LineIndex encoding."""
    value = getattr(kind, "value", kind)
    return _ENCODINGS.get(value, "utf-16") if isinstance(value, str) else "utf-16"


def position(lines: LineIndex, offset: int, encoding: Encoding) -> types.Position:
    line, character = lines.position(offset, encoding)
    return types.Position(line=line, character=character)


def to_range(lines: LineIndex, start: int, end: int, encoding: Encoding) -> types.Range:
    """The LSP range of the offsets ``[start, end)``."""
    return types.Range(
        start=position(lines, start, encoding), end=position(lines, max(start, end), encoding)
    )


def to_offset(lines: LineIndex, pos: types.Position, encoding: Encoding) -> int:
    """The offset of an LSP position, clamped to the text (positions past a line's end
    or past the last line mean the end, as the LSP specifies)."""
    return lines.offset(pos.line, pos.character, encoding)


def to_diagnostic(problem: Problem, lines: LineIndex, encoding: Encoding) -> types.Diagnostic:
    """One Problem as a Diagnostic: code, severity, source and the fix data."""
    return types.Diagnostic(
        range=to_range(lines, problem.start, problem.end, encoding),
        message=problem.message,
        severity=types.DiagnosticSeverity(int(problem.severity)),
        code=problem.code,
        source=SOURCE,
        data=problem.data,
    )


def to_diagnostics(
    problems: list[Problem], lines: LineIndex, encoding: Encoding
) -> list[types.Diagnostic]:
    return [to_diagnostic(p, lines, encoding) for p in problems]
