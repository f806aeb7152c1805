"""The whole check of one workflow document: syntax, schema, semantics, catalog.

Front ends (language server, ``dw-lsp check``, the Session before a run) call
:func:`check_document`; every rule module is a plain function ``document -> problems``.
Pure: no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dw_lsp.validation.problem import Problem, Severity
from dw_lsp.workflow.document import Document, parse


@dataclass(frozen=True)
class CheckContext:
    """What a check may know beyond the text.

    ``path`` is the file on disk (relative media and sub-workflow paths resolve against its
    folder; None for an unsaved buffer). ``allowed_modules`` extends the worker's import
    allowlist (setting ``worker.allowedModules``); ``allow_remote_code`` is the setting
    ``worker.allowRemoteCode`` (code-loading arguments are then not reported). ``read_text``
    reads another workflow file (sub-workflows); the server passes one that prefers open
    editor buffers."""

    path: Path | None = None
    allowed_modules: tuple[str, ...] = ()
    allow_remote_code: bool = False
    read_text: Callable[[Path], str] | None = None
    open_documents: Mapping[Path, str] = field(default_factory=dict)


#: The near-miss spelling hint, which defers to any other problem on the same range.
NEAR_MISS = "DW234"


def check_document(doc: Document, ctx: CheckContext | None = None) -> list[Problem]:
    """Every problem of ``doc``, sorted by position, without duplicates."""
    from dw_lsp.validation.schema import check_schema

    ctx = ctx or CheckContext()
    problems = list(doc.problems)
    if doc.value is None:
        return problems
    if not isinstance(doc.value, dict):
        span = doc.value_span(()) or (0, 0)
        msg = "A workflow is a JSON object with 'id' and 'steps'."
        problems.append(Problem("DW103", Severity.ERROR, msg, span[0], min(span[1], span[0] + 1)))
        return problems
    problems.extend(check_schema(doc))
    for rule in _rule_sets():
        problems.extend(rule(doc, ctx))
    return _unique_sorted(problems)


def check_text(text: str, ctx: CheckContext | None = None) -> tuple[Document, list[Problem]]:
    doc = parse(text)
    return doc, check_document(doc, ctx)


def _rule_sets() -> list[Callable[[Document, CheckContext], list[Problem]]]:
    from dw_lsp.validation.catalog_rules import check_catalog
    from dw_lsp.validation.rules_code import check_code_arguments
    from dw_lsp.validation.semantic import check_semantics

    return [check_semantics, check_catalog, check_code_arguments]


def _unique_sorted(problems: list[Problem]) -> list[Problem]:
    """Sorted, without repeats; a near-miss hint (DW234) gives way to another problem on
    the same range (e.g. the catalog's unknown-argument warning with its own did-you-mean)."""
    seen: set[tuple[str, int, int, str]] = set()
    covered = {(p.start, p.end) for p in problems if p.code != NEAR_MISS}
    out: list[Problem] = []
    for p in sorted(problems, key=Problem.sort_key):
        if p.code == NEAR_MISS and (p.start, p.end) in covered:
            continue
        key = (p.code, p.start, p.end, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
