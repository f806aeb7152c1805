"""The table of problem codes: one place, documented and tested.

Ranges: DW0xx the document itself (syntax, size, shape); DW1xx the JSON Schema; DW2xx the
semantic rules of FORMAT.md 1.11 (rule numbers in the comments); DW3xx the pipeline catalog
and what a workflow may name and load (DESIGN.md "Security").
A code, once shipped, keeps its meaning. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

from dw_lsp.workflow.problem import Severity

E, W, I, H = Severity.ERROR, Severity.WARNING, Severity.INFO, Severity.HINT


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str


_TABLE: tuple[Code, ...] = (
    # --- DW0xx: the document ---------------------------------------------------------
    Code("DW001", E, "Invalid JSON syntax"),
    Code("DW002", E, "Unterminated string"),
    Code("DW003", E, "Trailing comma"),
    Code("DW004", E, "Comments are not allowed in JSON"),
    Code("DW005", E, "Missing comma"),
    Code("DW006", E, "Value expected"),
    Code("DW007", E, "Unclosed object or array"),
    Code("DW008", E, "Document too large"),
    Code("DW009", E, "Document nested too deeply"),
    Code("DW010", E, "Empty document"),
    Code("DW011", W, "Duplicate key in an object"),
    Code("DW012", E, "Missing colon after key"),
    Code("DW013", E, "Content after the end of the document"),
    Code("DW014", E, "Lone surrogate in a string"),
    Code("DW015", W, "Too many problems: the rest are not shown"),
    # --- DW1xx: the schema -------------------------------------------------------------
    Code("DW101", E, "Required key missing"),
    Code("DW102", E, "Key not allowed here"),
    Code("DW103", E, "Wrong type"),
    Code("DW104", E, "Value not allowed (enum)"),
    Code("DW105", E, "Step kind missing or ambiguous"),
    Code("DW106", E, "Value out of range or badly formed"),
    Code("DW107", E, "Exactly one of these keys"),
    Code("DW108", E, "Value must not be null"),
    Code("DW109", E, "Schema violation"),
    Code("DW110", E, "Misspelt key: dw ignores it"),
    # --- DW2xx: semantic rules ---------------------------------------------------------
    Code("DW201", E, "Duplicate step name"),  # rule 1
    Code("DW202", E, "Undeclared variable"),  # rule 2
    Code("DW203", E, "Variable reference in a workflow without variables"),  # rule 2
    Code("DW204", W, "Variable refers to another variable"),  # rule 3
    Code("DW205", W, "Variable name cannot be set by a caller"),  # 1.10
    Code("DW206", E, "Sub-workflow argument is not a declared variable of the child"),  # rule 5
    Code("DW207", W, "Sub-workflow declares no variables: arguments are ignored"),  # rule 5
    Code("DW208", E, "Sub-workflow path cannot be resolved"),  # rule 6
    Code("DW209", E, "Sub-workflow has errors"),  # rule 6
    Code("DW210", E, "previous_result names no earlier step"),  # rule 7
    Code("DW211", W, "previous_result outside arguments is left literal"),  # rule 9
    Code("DW212", E, "reference_name names no earlier pipeline step"),  # rule 10
    Code("DW213", E, "reference_name names a released pipeline"),  # rule 10
    Code("DW214", E, "from_previous_result names no earlier step"),  # rule 11
    Code("DW215", W, "dw frees a result consumed only through from_previous_result"),  # rule 11
    Code("DW216", E, "Malformed object description"),  # rule 12
    Code("DW217", E, "reused_components not shared by an earlier step"),  # rule 13
    Code("DW218", E, "Unknown task command"),  # rule 15
    Code("DW219", E, "Task command misses a required argument"),  # rule 15
    Code("DW220", E, "batch_decode_post_process needs a pipeline_reference"),  # rule 16
    Code("DW221", W, "inputs items should be objects"),  # rule 17
    Code("DW222", E, "Unescaped string category under a type key"),  # rules 18, 31
    Code("DW223", E, "Malformed constant name"),  # rule 19
    Code("DW224", E, "Media file not found"),  # rule 20
    Code("DW225", E, "Media file has an unsupported extension"),  # rule 20
    Code("DW226", I, "Media URL is downloaded at run start"),  # rule 20
    Code("DW227", W, "dw rejects {location: variable:X} for a media-named variable"),  # rule 21
    Code("DW228", W, "Cartesian product too large or empty"),  # rule 22
    Code("DW229", E, "Chain configuration is inconsistent"),  # rule 23
    Code("DW230", W, "Mutually exclusive settings"),  # rules 24, 28
    Code("DW231", W, "Setting needs another setting"),  # rule 25
    Code("DW232", E, "group_offload and residency on_demand are exclusive"),  # rule 27
    Code("DW233", E, "Unsafe output name"),  # rule 30
    Code("DW234", H, "Near-miss keyword spelling"),  # rule 32
    Code("DW235", W, "Sub-workflow path is missing"),  # rule 6 (schema allows it)
    Code("DW236", E, "Invalid builtin name"),  # rule 6 / 1.9.8
    Code("DW237", E, "Path is not allowed"),  # 4.8 path rules
    Code("DW238", W, "load_components/configs need a modular pipeline"),  # rule 26
    Code("DW239", E, "Task command does not accept this argument"),  # rule 15 (device)
    # --- DW3xx: the pipeline catalog -----------------------------------------------------
    Code("DW301", W, "Unknown pipeline or model class"),
    Code("DW302", W, "Unknown call argument for this pipeline"),
    Code("DW303", W, "Module outside the worker's import allowlist"),
    Code("DW304", I, "Class resolvable only inside dw"),
    Code("DW305", E, "Name a workflow may not use (function, module, utils, not a needed class)"),
    Code("DW306", E, "Loading argument that runs code"),
    Code("DW307", E, "Module pre_load_modules may not import"),
    Code("DW308", W, "Quantization backend, module or device the worker cannot use"),
)

CODES: dict[str, Code] = {c.code: c for c in _TABLE}


def severity_of(code: str) -> Severity:
    return CODES[code].severity
