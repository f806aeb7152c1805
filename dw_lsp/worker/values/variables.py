"""Caller arguments and ``variable:`` substitution (FORMAT.md 1.9.1, 1.9.9, 1.10).

Owns the coercion of caller values to the type of each declared default - with our fix:
a value that does not convert is an error naming the variable, the value and the type,
where dw silently keeps the string - the name and value checks of DESIGN.md "Security",
and the whole-string replacement of ``"variable:NAME"`` at any depth (keys never).
Pure Python plus a PIL type check.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from PIL import Image

from dw_lsp.workflow import refs

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def check_variable_name(name: object) -> str:
    if not isinstance(name, str) or not refs.VARIABLE_NAME_RE.match(name):
        raise ValueError(
            f"variable name {name!r} is not allowed: use letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    if len(name) > refs.VARIABLE_NAME_MAX:
        raise ValueError(f"variable name is longer than {refs.VARIABLE_NAME_MAX} characters")
    return name


def check_string_value(name: str, value: str) -> str:
    if len(value) > refs.VARIABLE_VALUE_MAX:
        raise ValueError(
            f"value of variable '{name}' is {len(value)} characters long; at most "
            f"{refs.VARIABLE_VALUE_MAX} are allowed"
        )
    why = refs.unsafe_character(value, refs.VALUE_CONTROLS)
    if why is not None:
        raise ValueError(
            f"value of variable '{name}' contains {why}; only tab, CR and LF are allowed"
        )
    return value


def _failure(name: str, value: Any, default: Any, why: str = "") -> ValueError:
    expected = "bool" if isinstance(default, bool) else type(default).__name__
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    suffix = f" ({why})" if why else ""
    return ValueError(
        f"variable '{name}' expects {expected} (declared default {default!r}); cannot convert "
        f"{shown}{suffix}"
    )


def _to_bool(name: str, value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _failure(name, value, default, "use true/false, 1/0, yes/no or on/off")


def _to_list(name: str, value: Any, default: list[Any]) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        if not value.strip():
            return []
        return [item.strip() for item in value.split(",")]
    raise _failure(name, value, default, "give a comma-separated string or a list")


def _to_int(name: str, value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _failure(name, value, default)


def _to_float(name: str, value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _failure(name, value, default)


def _to_str(name: str, value: Any, default: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | bool):
        return str(value)
    raise _failure(name, value, default, "give text")


def _to_dict(name: str, value: Any, default: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise _failure(name, value, default, "give a JSON object")


def coerce_value(name: str, default: Any, value: Any) -> Any:
    """``value`` converted to the type of ``default`` (FORMAT.md 1.9.9), or ValueError."""
    if isinstance(value, str):
        check_string_value(name, value)
    if default is None or isinstance(value, Image.Image):
        return value
    if refs.is_media_key(name) and isinstance(value, str | dict | list):
        return value  # a path, {location: ...} or list; realization loads it
    if (refs.is_type_key(name) or name in refs.STRING_TYPE_KEYS) and isinstance(value, str):
        return value  # a type name; realization imports it
    if isinstance(default, bool):
        return _to_bool(name, value, default)
    if isinstance(default, list):
        return _to_list(name, value, default)
    if isinstance(default, int):
        return _to_int(name, value, default)
    if isinstance(default, float):
        return _to_float(name, value, default)
    if isinstance(default, str):
        return _to_str(name, value, default)
    if isinstance(default, dict):
        return _to_dict(name, value, default)
    if isinstance(value, type(default)):
        return value
    try:
        return type(default)(value)
    except (TypeError, ValueError) as error:
        raise _failure(name, value, default, str(error)) from error


def coerce_arguments(declared: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The declared defaults updated with the caller's values, each coerced to the type of
    its default. Unknown names, bad names, oversized or control-character strings, and
    values that do not convert all raise ValueError."""
    values = dict(declared)
    for name, value in given.items():
        check_variable_name(name)
        if name not in declared:
            known = ", ".join(sorted(declared)) or "(none)"
            raise ValueError(f"Unknown variable '{name}'; declared: {known}")
        values[name] = coerce_value(name, declared[name], value)
    return values


def _copy_value(value: Any) -> Any:
    """JSON containers are copied so two substitutions never share one list."""
    return copy.deepcopy(value) if isinstance(value, dict | list) else value


def substitute_variables(node: Any, values: dict[str, Any]) -> Any:
    """A copy of ``node`` with every whole-string ``"variable:NAME"`` replaced by its value.

    Keys are never substituted, and substituted values are not scanned again. A name that
    ``values`` does not declare raises ValueError.
    """
    name = refs.variable_name(node)
    if name is not None:
        if name not in values:
            known = ", ".join(sorted(values)) or "(none)"
            raise ValueError(f"'variable:{name}' names no declared variable; declared: {known}")
        return _copy_value(values[name])
    if isinstance(node, dict):
        return {key: substitute_variables(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [substitute_variables(item, values) for item in node]
    if isinstance(node, tuple):
        return tuple(substitute_variables(item, values) for item in node)
    return node
