"""The semantic rules of FORMAT.md 1.11 that can be decided without loading anything.

:func:`check_semantics` walks the workflow value once
(:func:`~dw_lsp.workflow.walk.outline_of`) and runs the rule modules over its outline:

- :mod:`.variables` DW202-DW205, DW227;
- :mod:`.steps` DW201, DW210-DW215, DW217, DW233;
- :mod:`.tasks` DW218-DW221, DW239 (command table: :mod:`dw_lsp.validation.tasks_spec`);
- :mod:`.values` DW216, DW222-DW226, DW234, DW237 (media);
- :mod:`.pipeline` DW228-DW232, DW238;
- :mod:`.subworkflow` DW206-DW209, DW235-DW237.

Every problem carries a stable code (severity from :mod:`dw_lsp.validation.codes`), a
message that says what to do, the range of the offending key or value (a string's range
includes its quotes), and typed fix data for quick fixes (:mod:`dw_lsp.validation.fixes`).
A document whose root is not an object gets nothing here (the checker reports the shape).
Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.rules.base import Reporter
from dw_lsp.validation.rules.pipeline import check_pipelines
from dw_lsp.validation.rules.steps import check_steps
from dw_lsp.validation.rules.subworkflow import check_subworkflows
from dw_lsp.validation.rules.tasks import check_tasks
from dw_lsp.validation.rules.values import NEAR_MISSES, check_values
from dw_lsp.validation.rules.variables import check_variables
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.problem import Problem
from dw_lsp.workflow.walk import document_outline

_WATCHED = frozenset(NEAR_MISSES)


def check_semantics(doc: Document, ctx: CheckContext) -> list[Problem]:
    """The semantic problems of ``doc`` (unsorted; :func:`check_document` sorts)."""
    if not isinstance(doc.value, dict):
        return []
    outline = document_outline(doc, watch=_WATCHED)
    report = Reporter(doc)
    check_variables(outline, report)
    published = check_subworkflows(outline, report, ctx)
    check_steps(outline, report, published)
    check_tasks(outline, report)
    check_values(outline, report, ctx.path.parent if ctx.path is not None else None)
    check_pipelines(outline, report)
    return report.problems
