"""The workflow JSON Schema (``schemas/workflow.schema.json``) and the check that runs it.

:func:`load_schema` finds the schema in a checkout or editable install (``schemas/`` beside
the package) or, in a wheel, as ``dw_lsp/_data/workflow.schema.json``. :func:`check_schema`
validates a document's value with jsonschema_rs, compiled once; only when the document is
invalid are the errors turned into problems (:mod:`dw_lsp.validation.schema_errors`), so a
valid 1 MB workflow costs one native validation. Pure: imports no LSP or ML libraries.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs

import dw_lsp
from dw_lsp.validation.codes import severity_of
from dw_lsp.validation.fixes import fix_data, replacing
from dw_lsp.validation.misspelt import Misspelling, Misspellings, MisspeltKeys
from dw_lsp.validation.schema_errors import ErrorMapper, where
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.problem import Problem

SCHEMA_NAME = "workflow.schema.json"


@functools.cache
def load_schema() -> dict[str, Any]:
    """The schema as a dict (read once)."""
    path = Path(dw_lsp.__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("dw_lsp").joinpath("_data", SCHEMA_NAME).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


class SchemaChecker:
    """A schema compiled for validation, and the check of documents against it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validator = jsonschema_rs.validator_for(schema)
        self.misspelt_keys = MisspeltKeys(schema)
        self._parts = _split(schema)

    def _valid_by_parts(self, doc: Document) -> bool:
        """Whether ``doc``'s value is valid, decided step by step: the root with its steps
        left out, then each step, whose verdict is kept for as long as the step is
        unchanged (:meth:`Document.step_memo`). False also when it cannot be decided so
        (the whole validation then decides)."""
        value = doc.value
        steps = value.get("steps") if isinstance(value, dict) else None
        if self._parts is None or not isinstance(steps, list):
            return False
        root, step = self._parts
        if not root.is_valid({**value, "steps": [None] * len(steps)}):
            return False
        return all(
            doc.step_memo(_STEP_VALID, index, item, functools.partial(step.is_valid, item))
            for index, item in enumerate(steps)
        )

    def check(self, doc: Document) -> list[Problem]:
        """Schema problems (DW1xx) of ``doc``, sorted by position."""
        return self.findings(doc)[0]

    def findings(self, doc: Document) -> tuple[list[Problem], Misspellings]:
        """Schema problems (DW1xx) of ``doc`` sorted by position, and its misspelt keys
        (reported here: DW110 in open objects, DW102 in closed ones)."""
        value = doc.value
        if value is None and not doc.strict:
            return [], Misspellings()  # nothing parsed: the syntax problems say it all
        misspelt = self.misspelt_keys.find(value)
        problems = [_misspelt(doc, m) for m in misspelt if not m.closed]
        if not (self._valid_by_parts(doc) or self.validator.is_valid(value)):
            mapper = ErrorMapper(self.schema, doc, misspelt)
            problems.extend(mapper.map(self.validator.iter_errors(value)))
        problems.sort(key=Problem.sort_key)
        return problems, misspelt


def _misspelt(doc: Document, found: Misspelling) -> Problem:
    """DW110 on a misspelt key of an open object, with the rename as its fix."""
    path = found.path + (found.wrong,)
    start, end = doc.key_span(path) or doc.value_span(path) or (0, min(1, len(doc.text)))
    message = (
        f"Unknown key '{found.wrong}' in {where(found.path)}; did you mean '{found.right}'? "
        "dw ignores keys it does not know, so under this name it has no effect."
    )
    code = "DW110"
    return Problem(code, severity_of(code), message, start, end, fix_data(replacing(found.options)))


#: The name of the per-step verdicts in :meth:`Document.step_memo`.
_STEP_VALID = "schema: step is valid"
#: What the schema's ``steps`` property may hold for :func:`_split` to apply.
_STEPS_KEYS = {"type", "minItems", "items", "description"}


def _split(schema: dict[str, Any]) -> tuple[Any, Any] | None:
    """Two validators that together decide what the schema decides: the root with its
    ``steps`` items not looked at, and one step (the ``items`` schema). None when the
    schema's ``steps`` is not a plain array of one referenced definition."""
    steps = schema.get("properties", {}).get("steps")
    if not isinstance(steps, dict) or not set(steps) <= _STEPS_KEYS:
        return None
    items = steps.get("items")
    if not isinstance(items, dict) or set(items) != {"$ref"} or steps.get("type") != "array":
        return None
    root = json.loads(json.dumps(schema))
    del root["properties"]["steps"]["items"]
    step: dict[str, Any] = {k: schema[k] for k in ("$schema", "$id", "$defs") if k in schema}
    step["$ref"] = items["$ref"]
    return jsonschema_rs.validator_for(root), jsonschema_rs.validator_for(step)


@functools.cache
def default_checker() -> SchemaChecker:
    """The checker for the project's schema (compiled once)."""
    return SchemaChecker(load_schema())


def check_schema(doc: Document) -> list[Problem]:
    """Schema problems (DW1xx) of ``doc`` against the workflow schema, sorted by position."""
    return default_checker().check(doc)


def schema_findings(doc: Document) -> tuple[list[Problem], Misspellings]:
    """:func:`check_schema`, and the document's misspelt keys."""
    return default_checker().findings(doc)
