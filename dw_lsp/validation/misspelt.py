"""Misspelt keys: a key the schema does not document that is a near miss of one it does.

Most objects of the workflow schema are open (dw ignores keys it does not know), so a
misspelt ``"reslt"`` or ``"pipline"`` passes the schema and silently does nothing, or makes
the schema blame a key elsewhere (the step kind missing, ``arguments`` required). This
module validates the document once more, natively, against a *closed* copy of the schema
(``additionalProperties: false`` on every object that lists ``properties``), and keeps the
unknown keys close to a documented key that the object does not already have (but not a
component block under a name of its own: FORMAT.md 1.4).

:func:`find_misspellings` answers :class:`Misspelling` s; the schema check reports those in
open objects as DW110 on the key, with a rename fix, and leaves out the problems that the
misspelling explains (:meth:`Misspellings.explains`). In closed objects DW102 already says
the same with its own did-you-mean. Pure: imports no LSP or ML libraries.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from jsonschema_rs import ValidationError, ValidationErrorKind

from dw_lsp.validation.suggest import close_matches
from dw_lsp.workflow.document import Path

K = ValidationErrorKind
#: How close a key must be to a documented one to be called a misspelling of it
#: (difflib's ratio: "reslt"/"result" 0.91, "argumens"/"arguments" 0.94).
CUTOFF = 0.8


@dataclass(frozen=True)
class Misspelling:
    """The key ``wrong`` of the object at ``path`` is probably ``right`` (best first in
    ``options``); ``closed`` when the schema itself rejects the key (DW102 reports it)."""

    path: Path
    wrong: str
    options: tuple[str, ...]
    closed: bool

    @property
    def right(self) -> str:
        return self.options[0]


class Misspellings(tuple[Misspelling, ...]):
    """The misspellings of one document, and what they explain."""

    def explains(self, path: Path, keys: Iterable[str]) -> bool:
        """Whether some key of the object at ``path`` is a misspelling of one of ``keys``
        (so a "required key missing" there is this misspelling's doing)."""
        wanted = set(keys)
        return any(m.path == path and m.right in wanted for m in self)


def closed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` in which every object schema that lists ``properties`` takes
    no other key (keys matching its ``patternProperties`` stay allowed)."""
    out = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                node["additionalProperties"] = False
            for child in node.values():
                close(child)
        elif isinstance(node, list):
            for child in node:
                close(child)

    close(out)
    return out


class MisspeltKeys:
    """The closed schema, compiled once, and the search of one value."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.validator = jsonschema_rs.validator_for(closed_schema(schema))

    def find(self, value: Any) -> Misspellings:
        """The misspelt keys of ``value``, in document order of discovery, each once."""
        if self.validator.is_valid(value):
            return Misspellings()
        seen: set[tuple[Path, str]] = set()
        found: list[Misspelling] = []
        for error, unexpected in _unknown_keys(self.validator.iter_errors(value)):
            path: Path = tuple(error.instance_path)
            obj = _at(value, path)
            if not isinstance(obj, dict):
                continue
            node = _schema_node(self.schema, error.schema_path[:-1])
            documented = [k for k in node.get("properties", {}) if k not in obj]
            closed = node.get("additionalProperties") is False
            takes_components = "from_pretrained_arguments" in node.get("properties", {})
            for key in unexpected:
                if (path, key) in seen or (takes_components and _is_component(obj.get(key))):
                    continue
                seen.add((path, key))
                options = close_matches(key, documented, n=3, cutoff=CUTOFF)
                if options:
                    found.append(Misspelling(path, key, tuple(options), closed))
        return Misspellings(found)


def _unknown_keys(
    errors: Iterable[ValidationError],
) -> Iterator[tuple[ValidationError, list[str]]]:
    """The additional-property errors among ``errors`` and inside failed combinators,
    each with its unexpected keys."""
    for error in errors:
        kind = error.kind
        if isinstance(kind, K.AdditionalProperties):
            yield error, list(kind.unexpected)
        elif isinstance(kind, K.OneOfNotValid | K.AnyOf):
            for branch in kind.context:
                yield from _unknown_keys(branch)


def _is_component(value: Any) -> bool:
    """A pipeline (an object that itself has ``from_pretrained_arguments``) takes any key
    whose value holds ``from_pretrained_arguments`` as a component of that name (FORMAT.md
    1.4: ``prompt_enhancer``, ``processor``): not a misspelling, whatever it is close to."""
    return isinstance(value, dict) and "from_pretrained_arguments" in value


def _at(value: Any, path: Path) -> Any:
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _schema_node(schema: dict[str, Any], pointer: Sequence[str | int]) -> dict[str, Any]:
    node: Any = schema
    for part in pointer:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return {}
    return node if isinstance(node, dict) else {}
