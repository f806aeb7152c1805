"""Walking the workflow JSON Schema along a document path.

``SchemaNav(schema).at(path)`` gives every subschema that can describe the value at a path
(tuples of keys and indices, as in :mod:`dw_lsp.workflow.document`), following
``properties``, ``patternProperties``, ``additionalProperties``, ``items``/``prefixItems``,
local ``$ref`` s and the combinators ``allOf``/``anyOf``/``oneOf``. A combinator contributes
all its branches, so the step object's ``oneOf`` over step kinds offers every kind's keys.
Completion and hover read keys, descriptions, enums, types and defaults from here, and
:func:`value_snippet` turns a property's schema into the text to insert after its key.
Pure: plain dicts in, plain values out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from dw_lsp.workflow.document import Path

Schema = dict[str, Any]

_COMBINATORS = ("allOf", "anyOf", "oneOf")
_MAX_DEPTH = 32


class SchemaNav:
    """Read-only navigation over one JSON Schema document (local ``$ref`` s only)."""

    def __init__(self, schema: Schema) -> None:
        self.root = schema

    # -- resolution --------------------------------------------------------------------
    def resolve(self, node: Schema, depth: int = 0) -> Schema:
        """Follow ``$ref``; keywords written beside the ``$ref`` win (e.g. description)."""
        ref = node.get("$ref")
        if not isinstance(ref, str) or depth > _MAX_DEPTH:
            return node
        target = self._pointer(ref)
        if target is None:
            return {k: v for k, v in node.items() if k != "$ref"}
        merged = dict(self.resolve(target, depth + 1))
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return merged

    def _pointer(self, ref: str) -> Schema | None:
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for raw in ref[1:].split("/")[1:] if ref != "#" else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node if isinstance(node, dict) else None

    def branches(self, node: Schema, depth: int = 0) -> list[Schema]:
        """``node`` resolved, followed by every branch of its combinators, recursively."""
        resolved = self.resolve(node)
        out = [resolved]
        if depth > _MAX_DEPTH:
            return out
        for keyword in _COMBINATORS:
            for sub in resolved.get(keyword, ()) or ():
                if isinstance(sub, dict):
                    out.extend(self.branches(sub, depth + 1))
        return out

    # -- walking -----------------------------------------------------------------------
    def at(self, path: Path) -> list[Schema]:
        """Every (resolved, flattened) subschema that applies to the value at ``path``."""
        current = self.branches(self.root)
        for part in path:
            following: list[Schema] = []
            for schema in current:
                child = _child(schema, part)
                if child is not None:
                    following.extend(self.branches(child))
            if not following:
                return []
            current = following
        return current

    def property_schemas(self, path: Path) -> dict[str, list[Schema]]:
        """Declared properties of the object at ``path``: key -> its (unresolved) schemas."""
        found: dict[str, list[Schema]] = {}
        for schema in self.at(path):
            props = schema.get("properties")
            if isinstance(props, dict):
                for key, sub in props.items():
                    if isinstance(sub, dict):
                        found.setdefault(key, []).append(sub)
        return found

    def required(self, path: Path) -> set[str]:
        """Keys that every applicable schema requires (combinator branches excluded)."""
        schemas = self.at(path)
        if not schemas:
            return set()
        req = schemas[0].get("required")
        return {k for k in req if isinstance(k, str)} if isinstance(req, list) else set()

    def describe(self, path: Path) -> str | None:
        """The first description of the value at ``path``, preferring the property's own
        (the one written beside a ``$ref``)."""
        return describe_schemas(self.at(path))

    def enum(self, path: Path) -> list[Any]:
        return enum_of(self.at(path))

    def types(self, path: Path) -> set[str]:
        return types_of(self.at(path))


def _child(schema: Schema, part: str | int) -> Schema | None:
    if isinstance(part, str):
        props = schema.get("properties")
        if isinstance(props, dict) and isinstance(props.get(part), dict):
            sub: Schema = props[part]
            return sub
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict):
            for pattern, sub in patterns.items():
                if isinstance(sub, dict) and re.search(pattern, part):
                    return sub
        extra = schema.get("additionalProperties")
        return extra if isinstance(extra, dict) else None
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list) and part < len(prefix) and isinstance(prefix[part], dict):
        first: Schema = prefix[part]
        return first
    items = schema.get("items")
    return items if isinstance(items, dict) else None


def describe_schemas(schemas: Iterable[Schema]) -> str | None:
    for schema in schemas:
        text = schema.get("description")
        if isinstance(text, str) and text:
            return text
    return None


def enum_of(schemas: Iterable[Schema]) -> list[Any]:
    values: list[Any] = []
    for schema in schemas:
        for value in schema.get("enum", ()) or ():
            if value not in values:
                values.append(value)
        if "const" in schema and schema["const"] not in values:
            values.append(schema["const"])
    return values


def types_of(schemas: Iterable[Schema]) -> set[str]:
    found: set[str] = set()
    for schema in schemas:
        kind = schema.get("type")
        if isinstance(kind, str):
            found.add(kind)
        elif isinstance(kind, list):
            found.update(k for k in kind if isinstance(k, str))
        elif "properties" in schema:
            found.add("object")
    return found


def default_of(schemas: Iterable[Schema]) -> tuple[bool, Any]:
    for schema in schemas:
        if "default" in schema:
            return True, schema["default"]
    return False, None


# -- snippets --------------------------------------------------------------------------
def escape_snippet(text: str) -> str:
    """Escape text for a snippet body (outside placeholders too)."""
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("}", "\\}")


def _choice(values: list[str]) -> str:
    escaped = [v.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|") for v in values]
    return "${1|" + ",".join(escaped) + "|}"


def value_snippet(schemas: list[Schema]) -> tuple[str, str]:
    """``(snippet, plain)`` texts for a value of these schemas, to follow ``"key": ``.

    Objects give ``{$1}``, arrays ``[$1]``, strings ``"$1"``, enums a choice, booleans a
    true/false choice, numbers their default; several types give an empty tab stop."""
    enum = enum_of(schemas)
    kinds = types_of(schemas)
    has_default, default = default_of(schemas)
    if enum:
        texts = [json.dumps(v) for v in enum]
        if all(isinstance(v, str) for v in enum):
            return '"' + _choice([str(v) for v in enum]) + '"', texts[0]
        return _choice(texts), texts[0]
    if len(kinds) == 1:
        (kind,) = kinds
        if kind == "object":
            return "{$1}", "{}"
        if kind == "array":
            return "[$1]", "[]"
        if kind == "string":
            if has_default and isinstance(default, str):
                return '"${1:' + escape_snippet(default) + '}"', json.dumps(default)
            return '"$1"', '""'
        if kind == "boolean":
            first = "true" if default is True else "false"
            second = "false" if first == "true" else "true"
            return _choice([first, second]), first
        if kind in ("integer", "number"):
            text = json.dumps(default) if has_default else "0"
            return "${1:" + text + "}", text
        if kind == "null":
            return "null", "null"
    if has_default:
        text = json.dumps(default)
        return "${1:" + escape_snippet(text) + "}", text
    return "$1", ""
