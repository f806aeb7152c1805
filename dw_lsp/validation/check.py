"""The whole check of one workflow document: syntax, schema, semantics, catalog.

Front ends (language server, ``dw-lsp check``, the Session before a run) call
:func:`check_document`; every rule set is a plain function ``document, context ->
problems``. The checker puts itself into the :class:`~dw_lsp.validation.context.CheckContext`
it hands the rules, which is how the sub-workflow rules check a child: this module imports
the rules, and no rule imports it. Pure: no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.fixes import fix_data, moved, parse_fix_data
from dw_lsp.validation.rules.catalog import check_catalog
from dw_lsp.validation.rules.code import check_code_arguments
from dw_lsp.validation.rules.quant import check_quantization
from dw_lsp.validation.rules.semantic import check_semantics
from dw_lsp.validation.schema import schema_findings
from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.problem import Problem, Severity

#: The rule sets after the schema, each ``document, context -> problems``.
RULE_SETS: tuple[Callable[[Document, CheckContext], list[Problem]], ...] = (
    check_semantics,
    check_catalog,
    check_code_arguments,
    check_quantization,
)

#: The near-miss spelling hint, which defers to any other problem on the same range.
NEAR_MISS = "DW234"
#: A variable reference in a workflow without ``variables``: a misspelt block explains it.
NO_VARIABLES = "DW203"


def check_document(doc: Document, ctx: CheckContext | None = None) -> list[Problem]:
    """Every problem of ``doc``, sorted by position, without duplicates."""
    ctx = replace(ctx or CheckContext(), check=check_document)
    problems = list(doc.problems)
    if doc.value is None:
        return problems
    if not isinstance(doc.value, dict):
        span = doc.value_span(()) or (0, 0)
        msg = "A workflow is a JSON object with 'id' and 'steps'."
        problems.append(Problem("DW103", Severity.ERROR, msg, span[0], min(span[1], span[0] + 1)))
        return problems
    found, misspelt = schema_findings(doc)
    problems.extend(found)
    for rule in RULE_SETS:
        problems.extend(rule(doc, ctx))
    if misspelt.explains((), ["variables"]):  # "varibles": a DW110 says it, once
        problems = [p for p in problems if p.code != NO_VARIABLES]
    return _unique_sorted(problems)


def check_workflow_file(doc: Document, ctx: CheckContext | None = None) -> list[Problem]:
    """Problems of a workflow file: :func:`check_document`, or for a root array of workflow
    objects (dw's ``tests.json`` test data) each element checked as the workflow it is,
    its problems and fixes moved to their place in the whole file."""
    items = doc.value
    if not (isinstance(items, list) and items and all(isinstance(v, dict) for v in items)):
        return check_document(doc, ctx)
    problems = list(doc.problems)
    for index in range(len(items)):
        span = doc.value_span((index,))
        if span is None:
            continue
        element = parse(doc.text[span[0] : span[1]])
        problems.extend(_shifted(p, span[0], index) for p in check_document(element, ctx))
    return _unique_sorted(problems)


def _shifted(problem: Problem, offset: int, index: int) -> Problem:
    """A problem of an array element, moved to its place in the whole file."""
    data = problem.data
    if data is not None:  # fix data moves with it; anything else (a DW015 count) stays
        fixes = [moved(fix, offset, (index,)) for fix in parse_fix_data(data)]
        data = {**data, **(fix_data(*fixes) or {})}
    return replace(problem, start=problem.start + offset, end=problem.end + offset, data=data)


def check_text(text: str, ctx: CheckContext | None = None) -> tuple[Document, list[Problem]]:
    """Parse and check ``text``."""
    doc = parse(text)
    return doc, check_document(doc, ctx)


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
