"""DW306: loading arguments that would run code (DESIGN.md "Security").

``trust_remote_code``, ``custom_pipeline``, ``custom_revision``, ``module_file`` and any
value naming a Python file, anywhere in a ``pipeline`` step but its call ``arguments``
(:func:`dw_lsp.workflow.code_rules.code_arguments`): the worker refuses them unless the
user-level setting ``worker.allowRemoteCode`` is true, so the checker reports each as an
error, on its value, unless the context says the setting is on. A code argument set from a
``variable:`` is reported too (a caller can switch it on), as is an argument whose
variable's default names a Python file. Pure: imports no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.fixes import NeedsSetting
from dw_lsp.validation.rules.base import Reporter
from dw_lsp.workflow.code_rules import ALLOW_REMOTE_CODE_SETTING, code_arguments
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.problem import Problem

CODE = "DW306"


def check_code_arguments(doc: Document, ctx: CheckContext) -> list[Problem]:
    """One DW306 per code-loading argument of every pipeline step."""
    root = doc.value
    if ctx.allow_remote_code or not isinstance(root, dict):
        return []
    steps = root.get("steps")
    if not isinstance(steps, list):
        return []
    variables = root.get("variables")
    defaults: dict[str, Any] = variables if isinstance(variables, dict) else {}
    report = Reporter(doc)
    for index, step in enumerate(steps):
        pipeline = step.get("pipeline") if isinstance(step, dict) else None
        if not isinstance(pipeline, dict):
            continue
        # the same step and variables as in the last version: the same findings
        make = partial(code_arguments, pipeline, defaults=defaults)
        found = doc.step_memo(CODE, index, step, make, variables)
        for argument in found:
            report.value(
                CODE,
                ("steps", index, "pipeline", *argument.path),
                argument.message(),
                NeedsSetting(ALLOW_REMOTE_CODE_SETTING, argument=argument.key),
            )
    return report.problems
