"""The semantic rules of FORMAT.md 1.11 that can be decided without loading anything.

:func:`check_semantics` walks the workflow value once (:func:`rules_base.collect`) and runs
the rule modules over what the walk gathered:

- :mod:`rules_variables` DW202-DW205, DW227;
- :mod:`rules_steps` DW201, DW210-DW215, DW217, DW233;
- :mod:`rules_tasks` DW218-DW221, DW239 (command table: :mod:`tasks_spec`);
- :mod:`rules_values` DW216, DW222-DW226, DW234, DW237 (media);
- :mod:`rules_pipeline` DW228-DW232, DW238;
- :mod:`rules_subworkflow` DW206-DW209, DW235-DW237.

Every problem carries a stable code (severity from :mod:`codes`), a message that says what
to do, the range of the offending key or value (a string's range includes its quotes), and
fix data in :attr:`Problem.data` for quick fixes:

- ``{"replacements": [s, ...]}``: replace the content of the range with one of ``s`` (for a
  string range: the text between the quotes, e.g. ``"variable:mage"``; for a number: its
  text);
- ``{"declare": name}``: add ``name`` to the workflow's ``variables``;
- ``{"insertKey": {"object": [path...], "key": k, "value": v}}``: insert ``"k": v`` into the
  object at that document path;
- ``{"edit": {"start": a, "end": b, "newText": t}}``: replace the text between two offsets;
- ``{"related": {"path", "line", "column", "code", "message"}}``: where a sub-workflow's
  first error is (1-based line and column).

A document whose root is not an object gets nothing here (:func:`check.check_document`
reports the shape). Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dw_lsp.validation.rules.pipeline import check_pipelines
from dw_lsp.validation.rules.steps import check_steps
from dw_lsp.validation.rules.subworkflow import check_subworkflows
from dw_lsp.validation.rules.tasks import check_tasks
from dw_lsp.validation.rules.values import check_values
from dw_lsp.validation.rules.variables import check_variables
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.outline import Reporter, collect
from dw_lsp.workflow.problem import Problem

if TYPE_CHECKING:
    from dw_lsp.validation.check import CheckContext


def check_semantics(doc: Document, ctx: CheckContext) -> list[Problem]:
    """The semantic problems of ``doc`` (unsorted; :func:`check_document` sorts)."""
    if not isinstance(doc.value, dict):
        return []
    facts = collect(doc.value)
    report = Reporter(doc)
    check_variables(facts, report)
    published = check_subworkflows(facts, report, ctx)
    check_steps(facts, report, published)
    check_tasks(facts, report)
    check_values(facts, report, ctx.path.parent if ctx.path is not None else None)
    check_pipelines(facts, report)
    return report.problems
