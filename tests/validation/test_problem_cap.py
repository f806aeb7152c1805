"""The per-document cap on problems: the most severe kept in order, one DW015 for the rest."""

from __future__ import annotations

from dw_lsp.validation.codes import severity_of
from dw_lsp.workflow.problem import MAX_PROBLEMS, Problem, Severity, capped


def problem(code: str, severity: Severity, start: int) -> Problem:
    return Problem(code, severity, "m", start, start + 1)


def test_few_problems_pass_unchanged():
    problems = [problem("DW001", Severity.ERROR, i) for i in range(MAX_PROBLEMS)]
    assert capped(problems) is problems


def test_the_most_severe_are_kept_in_their_order_and_the_rest_counted():
    hints = [problem("DW234", Severity.HINT, i) for i in range(5)]
    errors = [problem("DW001", Severity.ERROR, 100 + i) for i in range(4)]
    out = capped(hints + errors, limit=6)
    assert out[:6] == hints[:2] + errors
    summary = out[6]
    assert (summary.code, summary.severity) == ("DW015", severity_of("DW015"))
    assert (summary.start, summary.end) == (2, 3)  # where the first hidden one is
    assert summary.message.startswith("3 more problems are not shown (at most 6 per document)")
