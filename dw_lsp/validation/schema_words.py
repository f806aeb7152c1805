"""How the schema's problems are worded: a value rendered short, the word for its type,
"a, b or c", counts and clipping. Plain functions over plain values, for
:mod:`.schema_errors`. Pure: imports nothing beyond the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: The words for the JSON Schema types.
TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "a boolean",
    "object": "an object",
    "array": "a list",
    "null": "null",
}
#: Stands for a value that is not there.
MISSING = object()


def example(prop: Any) -> str | None:
    """The first scalar example (or default) of a property schema, rendered as JSON."""
    if not isinstance(prop, dict):
        return None
    candidates = list(prop.get("examples", []))
    if "default" in prop:
        candidates.append(prop["default"])
    for value in candidates:
        if isinstance(value, str | int | float | bool):
            return json.dumps(value, ensure_ascii=False)
    return None


def type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a fractional number" if not value.is_integer() else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render(value: Any) -> str:
    if value is MISSING:
        return "This value"
    if isinstance(value, str):
        return "'" + clip(value, 40) + "'"
    return clip(json.dumps(value, ensure_ascii=False), 40)


def quote(keys: Sequence[str]) -> list[str]:
    return [f"'{k}'" for k in keys]


def or_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
