"""Turn jsonschema_rs validation errors into :class:`Problem`\\ s (DW1xx) with precise ranges.

The ranges follow what good JSON editors do: a missing key is reported on the key of the
object that lacks it (the opening brace for the root or a list item), an unknown key on
that key, a wrong type, value or bound on the value. A failed ``oneOf``/``anyOf`` is
never reported as "not valid under any of the given schemas": for the required-key
choices this schema uses (the step kind, task arguments/inputs, the source key of
from_pretrained_arguments, the chain length key, the scheduler) the message names the keys
to add or remove; for any other ``oneOf`` the branch the data intends is picked and its own
errors are reported. Messages say what to do; fixes travel in ``Problem.data``.

Spans are asked of the :class:`Document` only for the errors reported. Pure: imports no
LSP or ML libraries.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema_rs import ValidationError, ValidationErrorKind

from dw_lsp.validation import schema_words as words
from dw_lsp.validation.codes import severity_of
from dw_lsp.validation.fixes import AddKey, FixData, fix_data, replacing
from dw_lsp.validation.misspelt import Misspellings
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.problem import Problem

Span = tuple[int, int]

#: Where the step object is defined in the schema: its oneOf is the step kind (DW105).
STEP_POINTER: tuple[str, ...] = ("$defs", "step")
STEP_KIND_MESSAGE = "A step needs exactly one of pipeline, pipeline_reference, task or workflow"
#: Keys that dw's schema rejects although they once worked: old name -> current name.
RENAMED_KEYS = {"do_not_send_to_device": "preserve_device_placement"}

K = ValidationErrorKind
#: Errors about something absent: in a document that did not parse completely, the absent
#: part may only be the part that failed to parse, so these are not reported there.
_ABSENCE = (K.Required, K.MinItems, K.MinProperties)


class ErrorMapper:
    """Maps the errors of one validation of ``doc`` against ``schema`` to problems.

    ``tolerant`` (the document is not strict JSON, so its value holds only the parts that
    parsed) drops findings about absent things: missing keys, empty lists, unmade choices.
    So does a key of ``misspelt`` that is a near miss of the key said to be absent: the
    misspelling is reported on that key instead."""

    def __init__(
        self, schema: dict[str, Any], doc: Document, misspelt: Misspellings | None = None
    ) -> None:
        self.schema = schema
        self.doc = doc
        self.tolerant = not doc.strict
        self.misspelt = misspelt or Misspellings()

    def map(self, errors: Iterable[ValidationError]) -> list[Problem]:
        """All problems for ``errors``, deduplicated and sorted by position."""
        seen: set[tuple[str, int, int, str]] = set()
        problems: list[Problem] = []
        for error in errors:
            for problem in self.problems_for(error):
                key = (problem.code, problem.start, problem.end, problem.message)
                if key not in seen:
                    seen.add(key)
                    problems.append(problem)
        problems.sort(key=Problem.sort_key)
        return problems

    # -- one error -------------------------------------------------------------------------
    def problems_for(self, error: ValidationError) -> list[Problem]:
        path: Path = tuple(error.instance_path)
        kind = error.kind
        if self.tolerant and isinstance(kind, _ABSENCE):
            return []
        if isinstance(kind, K.Required):
            return self._required(error, path, kind.property)
        if isinstance(kind, K.AdditionalProperties):
            return [self._unknown_key(error, path, key) for key in kind.unexpected]
        if isinstance(kind, K.Type):
            declared = self._schema_node(error.schema_path[:-1]).get("type")
            return [self._type(path, declared if isinstance(declared, list) else kind.types)]
        if isinstance(kind, K.Enum):
            return [self._enum(path, kind.options)]
        if isinstance(kind, K.OneOfNotValid | K.OneOfMultipleValid):
            return self._choice(error, path, "oneOf", kind.context)
        if isinstance(kind, K.AnyOf):
            return self._choice(error, path, "anyOf", kind.context)
        if isinstance(kind, K.Not) and kind.schema == {"type": "null"}:
            return [self._null(path, "a value")]
        if isinstance(kind, K.FalseSchema) and path and isinstance(path[-1], str):
            msg = f"The key '{path[-1]}' is not allowed here; remove it"
            return [self._problem("DW102", msg, self._key_range(path))]
        bound = self._bound(error, path)
        if bound is not None:
            return [self._problem("DW106", bound, self._value_range(path))]
        msg = words.clip(error.message, 200)
        return [self._problem("DW109", f"{msg} (in {self._where(path)})", self._value_range(path))]

    def _required(self, error: ValidationError, path: Path, key: str) -> list[Problem]:
        if self.misspelt.explains(path, [key]):
            return []
        node = self._schema_node(error.schema_path[:-1])
        example = words.example(node.get("properties", {}).get(key))
        msg = f"Add the required key '{key}' to {self._where(path)}"
        if example is not None:
            msg += f" (e.g. {example})"
        return [self._problem("DW101", msg, self._anchor(path), AddKey(path, key))]

    def _unknown_key(self, error: ValidationError, path: Path, key: str) -> Problem:
        node = self._schema_node(error.schema_path[:-1])
        allowed = list(node.get("properties", {}))
        where = self._where(path)
        if key in RENAMED_KEYS:
            new = RENAMED_KEYS[key]
            msg = f"'{key}' is no longer accepted; it was renamed '{new}'"
            return self._problem("DW102", msg, self._key_range(path + (key,)), replacing([new]))
        close = difflib.get_close_matches(key, allowed, n=3, cutoff=0.6)
        if close:
            msg = f"Unknown key '{key}' in {where}; did you mean '{close[0]}'?"
            fix = replacing(close)
        else:
            msg = f"Unknown key '{key}' in {where}; only the documented keys are allowed here"
            fix = None
        return self._problem("DW102", msg, self._key_range(path + (key,)), fix)

    def _type(self, path: Path, types: Sequence[str]) -> Problem:
        value = self._value(path)
        expected = (
            "true or false"
            if list(types) == ["boolean"]
            else words.or_words([words.TYPE_WORDS.get(t, t) for t in types])
        )
        if value is None:
            return self._null(path, expected)
        got = words.type_word(value)
        msg = f"{self._subject(path)} must be {expected}, not {got}"
        if isinstance(value, str):
            if value.startswith("variable:"):
                msg += (
                    "; a 'variable:' reference cannot be used here, because dw checks the"
                    " schema before it substitutes variables"
                )
            elif "boolean" in types and value.lower() in ("true", "false"):
                msg += f"; write {value.lower()} without quotes"
            elif {"integer", "number"} & set(types) and words.is_number(value):
                msg += "; write the number without quotes"
        return self._problem("DW103", msg, self._value_range(path))

    def _null(self, path: Path, expected: str) -> Problem:
        msg = f"{self._subject(path)} must not be null; give {expected}"
        if path and isinstance(path[-1], str):
            msg += " or remove the key"
        return self._problem("DW108", msg, self._value_range(path))

    def _enum(self, path: Path, options: Sequence[Any]) -> Problem:
        value = self._value(path)
        names = [o for o in options if isinstance(o, str)]
        close = (
            difflib.get_close_matches(value, names, n=3, cutoff=0.6)
            if isinstance(value, str)
            else []
        )
        allowed = words.or_words([words.render(o) for o in options])
        msg = f"{words.render(value)} is not allowed for {self._where(path)}; "
        msg += f"did you mean '{close[0]}'? (allowed: {allowed})" if close else f"use {allowed}"
        if isinstance(value, str) and value.startswith("variable:"):
            msg += "; a 'variable:' reference cannot be used here"
        replacements = close + [n for n in names if n not in close]
        return self._problem("DW104", msg, self._value_range(path), replacing(replacements))

    def _bound(self, error: ValidationError, path: Path) -> str | None:
        """The DW106 message for a bound or form error; None if it is not one."""
        kind, subject, value = error.kind, self._subject(path), self._value(path)
        if isinstance(kind, K.Minimum):
            return f"{subject} must be at least {kind.limit}"
        if isinstance(kind, K.ExclusiveMinimum):
            return f"{subject} must be greater than {kind.limit}"
        if isinstance(kind, K.Maximum):
            return f"{subject} must be at most {kind.limit}"
        if isinstance(kind, K.ExclusiveMaximum):
            return f"{subject} must be less than {kind.limit}"
        if isinstance(kind, K.MultipleOf):
            return f"{subject} must be a multiple of {kind.multiple_of}"
        if isinstance(kind, K.MinItems):
            if path == ("steps",):
                return "A workflow needs at least one step; add one to 'steps'"
            return f"{subject} needs at least {words.count(kind.limit, 'item')}"
        if isinstance(kind, K.MaxItems):
            return f"{subject} takes at most {words.count(kind.limit, 'item')}"
        if isinstance(kind, K.MinLength):
            return f"{subject} needs at least {words.count(kind.limit, 'character')}"
        if isinstance(kind, K.MaxLength):
            length = len(value) if isinstance(value, str) else 0
            return f"{subject} is {length} characters long; the limit is {kind.limit}"
        if isinstance(kind, K.Pattern):
            node = self._schema_node(error.schema_path[:-1])
            custom = node.get("patternErrorMessage")
            return str(custom) if custom else f"{subject} must match {kind.pattern}"
        if isinstance(kind, K.MinProperties):
            return f"{subject} needs at least {kind.limit} keys"
        if isinstance(kind, K.MaxProperties):
            return f"{subject} takes at most {kind.limit} keys"
        return None

    # -- oneOf / anyOf ---------------------------------------------------------------------
    def _choice(
        self,
        error: ValidationError,
        path: Path,
        keyword: str,
        context: list[list[ValidationError]],
    ) -> list[Problem]:
        pointer = tuple(error.schema_path[:-1])
        node = self._schema_node(pointer)
        keys = _choice_keys(node.get(keyword, []))
        if keys is None:
            return self._best_branch(error, path, context)
        value = self._value(path)
        if not isinstance(value, dict):
            return []  # the value's type error says it better
        is_step = pointer == STEP_POINTER
        code = "DW105" if is_step else "DW107"
        present = sorted((k for k in keys if k in value), key=lambda k: self._key_start(path, k))
        if len(present) >= 2:
            first = present[0]
            lead = STEP_KIND_MESSAGE
            if not is_step:
                lead = (
                    f"Give only one of {words.or_words(words.quote(keys))} in {self._where(path)}"
                )
            return [
                self._problem(
                    code, f"{lead}; remove '{extra}' or '{first}'", self._key_range(path + (extra,))
                )
                for extra in present[1:]
            ]
        if present or self.tolerant or self.misspelt.explains(path, keys):
            return []
        if is_step:
            name_key = self.doc.key_span(path + ("name",)) if "name" in value else None
            return [self._problem(code, STEP_KIND_MESSAGE, name_key or self._anchor(path))]
        options = words.or_words(words.quote(keys))
        if keyword == "anyOf":
            msg = f"Add {options} to {self._where(path)}"
            return [self._problem("DW101", msg, self._anchor(path))]
        msg = f"{self._subject(path)} needs exactly one of {options}"
        return [self._problem(code, msg, self._anchor(path), AddKey(path, keys[0]))]

    def _best_branch(
        self, error: ValidationError, path: Path, context: list[list[ValidationError]]
    ) -> list[Problem]:
        """Report the errors of the branch the data most plausibly intends: one whose
        failures all lie deeper than the choice itself (its shape and required keys fit),
        with the fewest errors; the first such branch on a tie."""

        def score(branch: list[ValidationError]) -> tuple[int, int]:
            shallow = sum(1 for e in branch if tuple(e.instance_path) == path)
            return (shallow, len(branch))

        failing = [branch for branch in context if branch]
        if not failing or len(failing) < len(context):
            msg = f"{self._subject(path)} matches more than one of the allowed forms"
            return [self._problem("DW109", msg, self._value_range(path))]
        best = min(failing, key=score)
        problems: list[Problem] = []
        for inner in best:
            problems.extend(self.problems_for(inner))
        return problems

    # -- ranges and words ------------------------------------------------------------------
    def _problem(self, code: str, message: str, span: Span, fix: FixData | None = None) -> Problem:
        return Problem(code, severity_of(code), message, span[0], span[1], fix_data(fix))

    def _value_range(self, path: Path) -> Span:
        return self.doc.value_span(path) or self._fallback()

    def _key_range(self, path: Path) -> Span:
        return self.doc.key_span(path) or self._value_range(path)

    def _anchor(self, path: Path) -> Span:
        """Where a missing part of the object at ``path`` is reported: its key, or for the
        root or a list item its opening brace."""
        if path and isinstance(path[-1], str):
            span = self.doc.key_span(path)
            if span is not None:
                return span
        value = self.doc.value_span(path)
        return (value[0], value[0] + 1) if value else self._fallback()

    def _fallback(self) -> Span:
        return (0, min(1, len(self.doc.text)))

    def _key_start(self, path: Path, key: str) -> int:
        span = self.doc.key_span(path + (key,))
        return span[0] if span else len(self.doc.text)

    def _value(self, path: Path) -> Any:
        node: Any = self.doc.value
        for part in path:
            found = (isinstance(part, str) and isinstance(node, dict) and part in node) or (
                isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node)
            )
            if not found:
                return words.MISSING
            node = node[part]
        return node

    def _schema_node(self, pointer: Sequence[str | int]) -> dict[str, Any]:
        node: Any = self.schema
        for part in pointer:
            node = node[part]
        return node if isinstance(node, dict) else {}

    def _where(self, path: Path) -> str:
        return where(path)

    def _subject(self, path: Path) -> str:
        name = self._where(path)
        return name[0].upper() + name[1:] if name.startswith(("the", "item")) else name


def where(path: Path) -> str:
    """A short name for the object or value at ``path``, e.g. 'configuration'."""
    if not path:
        return "the workflow"
    if len(path) == 2 and path[0] == "steps" and isinstance(path[1], int):
        return "the step"
    last = path[-1]
    if isinstance(last, str):
        return f"'{last}'"
    parent = path[-2] if len(path) >= 2 else None
    return f"item {last} of '{parent}'" if isinstance(parent, str) else f"item {last}"


def _choice_keys(branches: Any) -> list[str] | None:
    """The keys of a oneOf/anyOf made only of ``{"required": [key]}`` branches (plus at
    most a ``{"not": ...}`` branch for "none of them"); None for any other kind of choice."""
    if not isinstance(branches, list):
        return None
    keys: list[str] = []
    for branch in branches:
        if not isinstance(branch, dict):
            return None
        if set(branch) == {"required"} and len(branch["required"]) == 1:
            keys.append(branch["required"][0])
        elif set(branch) != {"not"}:
            return None
    return keys or None
