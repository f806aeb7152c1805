"""Variable rules: declarations and ``variable:`` references (FORMAT.md 1.9.1, 1.10, 1.11
rules 2, 3 and 21).

DW202 undeclared, DW203 referenced in a workflow without ``variables``, DW204 a variable
referring to a variable, DW205 a declared name a caller cannot set, DW227 the
``{"location": "variable:X"}`` form that dw rejects for a media-named X. Pure: imports no
pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from dw_lsp.validation.fixes import Declare, Edit, Replace
from dw_lsp.validation.rules.base import Reporter, close_names, quoted
from dw_lsp.workflow.outline import Outline, Region
from dw_lsp.workflow.refs import VARIABLE, VARIABLE_NAME_MAX, VARIABLE_NAME_RE, media_kind_of_key


def check_variables(outline: Outline, report: Reporter) -> None:
    has_block = "variables" in outline.root
    if has_block and outline.variables is None:
        return  # a non-object "variables" is the schema's to report
    declared = outline.variables or {}
    _declarations(outline, report)
    for ref in outline.variable_refs:
        name = ref.body
        if ref.region == Region.VARIABLES:
            report.value(
                "DW204",
                ref.path,
                f"A variable's default refers to variable '{name}'; dw resolves this at most "
                'one level deep and only when "variables" comes before "steps". Write the '
                "value itself.",
            )
        if not has_block:
            report.value(
                "DW203",
                ref.path,
                f"'variable:{name}' stays a literal string: dw substitutes variables only in "
                f"a workflow that has a \"variables\" block. Declare '{name}' there.",
                Declare(name),
            )
        elif name not in declared:
            close = close_names(name, declared)
            hint = f" Did you mean {quoted(close)}?" if close else ""
            replace = Replace(tuple(VARIABLE + c for c in close)) if close else None
            report.value(
                "DW202",
                ref.path,
                f"Variable '{name}' is not declared; the run fails at its start. Declare it "
                f'in "variables".{hint}',
                Declare(name),
                replace,
            )
    for found in outline.location_variables:
        name = str(found.value)
        if name in declared and media_kind_of_key(name) is not None:
            _location_variable(outline, report, found.path, name)


def _declarations(outline: Outline, report: Reporter) -> None:
    for name in outline.variables or {}:
        if VARIABLE_NAME_RE.match(name) and len(name) <= VARIABLE_NAME_MAX:
            continue
        why = (
            f"is longer than {VARIABLE_NAME_MAX} characters"
            if len(name) > VARIABLE_NAME_MAX
            else "is not a letter or _ followed by letters, digits, _ or -"
        )
        report.key(
            "DW205",
            (*outline.base, "variables", name),
            f"Variable name '{name}' {why}, so no caller (CLI, REPL or parent workflow) can "
            "set it; only its default is ever used. Rename it.",
        )


def _location_variable(
    outline: Outline, report: Reporter, path: tuple[str | int, ...], name: str
) -> None:
    """``{"location": "variable:X"}`` with a media-named X (rule 21, FORMAT.md 3.3)."""
    obj = path[:-1]
    span = report.doc.value_span(obj)
    edit = None
    if span is not None and isinstance(outline.at(obj), dict):
        edit = Edit(span[0], span[1], f'"{VARIABLE}{name}"')
    report.value(
        "DW227",
        path,
        f"'{name}' is media-named, so dw loads it when it is declared and then fails on "
        'this {"location": ...} wrapper ("Image specification must be a string"). Our '
        f'runner accepts it; for dw, write "variable:{name}" without the wrapper.',
        edit,
    )
