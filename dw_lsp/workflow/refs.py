"""The value mini-languages of FORMAT.md 1.9: recognising whole-string references.

``variable:NAME``, ``previous_result:STEP[.PROP]``, ``constant:dotted.name``,
``builtin:NAME.json`` and the ``{}`` escape of type strings. Pure functions over strings;
shared by validation, the language server and the worker. Imports nothing heavy.
"""

from __future__ import annotations

import re
from collections.abc import Container

VARIABLE = "variable:"
PREVIOUS_RESULT = "previous_result:"
CONSTANT = "constant:"
BUILTIN = "builtin:"

#: Names a caller can set (FORMAT.md 1.10, DESIGN.md Security).
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
VARIABLE_NAME_MAX = 100
VARIABLE_VALUE_MAX = 10_000
CONSTANT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
CONSTANT_NAME_MAX = 200
BUILTIN_NAME_RE = re.compile(r"^[^/\\]+\.json$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

MEDIA_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
MEDIA_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
MEDIA_AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg")

#: ``*_type`` keys that always stay strings (FORMAT.md 1.9.6).
STRING_TYPE_KEYS = frozenset({"content_type", "offload_type"})


def variable_name(value: object) -> str | None:
    """``"variable:x"`` -> ``"x"``; anything else -> None (whole-string rule)."""
    if isinstance(value, str) and value.startswith(VARIABLE):
        return value[len(VARIABLE) :]
    return None


def previous_result_target(value: object) -> str | None:
    """``"previous_result:a.b"`` -> ``"a.b"`` (unsplit); anything else -> None."""
    if isinstance(value, str) and value.startswith(PREVIOUS_RESULT):
        return value[len(PREVIOUS_RESULT) :]
    return None


def split_previous_result(target: str, step_names: Container[str]) -> tuple[str, str | None]:
    """Split ``STEP[.PROP]`` as dw does: an exact step name first, else the longest step
    name that, followed by ``.``, prefixes the target. Unknown: split at the first dot.

    Only membership is asked of ``step_names`` (a set, dict, list ...), once per dot in the
    target, so a lookup costs nothing per step of a long workflow."""
    if target in step_names:
        return target, None
    end = target.rfind(".")
    while end > 0:
        if target[:end] in step_names:
            return target[:end], target[end + 1 :]
        end = target.rfind(".", 0, end)
    head, dot, prop = target.partition(".")
    return head, (prop if dot else None)


def constant_name(value: object) -> str | None:
    if isinstance(value, str) and value.startswith(CONSTANT):
        return value[len(CONSTANT) :]
    return None


def builtin_name(value: object) -> str | None:
    if isinstance(value, str) and value.startswith(BUILTIN):
        return value[len(BUILTIN) :]
    return None


def is_type_key(key: str) -> bool:
    """Keys whose string values dw imports as types (FORMAT.md 1.9.6)."""
    if key in STRING_TYPE_KEYS:
        return False
    return key.endswith("_type") or key.endswith("_dtype") or key == "dtype"


def is_escaped(value: str) -> bool:
    """``"{latent}"``: a literal string under a type key."""
    return len(value) >= 2 and value.startswith("{") and value.endswith("}")


def is_media_key(key: str) -> bool:
    """Keys whose values dw loads as media: ``image``, ``*_image``, ``video``, ``*_video``."""
    return key in ("image", "video") or key.endswith("_image") or key.endswith("_video")


def media_kind_of_key(key: str) -> str | None:
    if key == "image" or key.endswith("_image"):
        return "image"
    if key == "video" or key.endswith("_video"):
        return "video"
    return None


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def unsafe_output_name(value: str) -> str | None:
    """Why ``value`` cannot be part of an output file name, or None when it is safe
    (FORMAT.md 1.10 rule 30: no separators, no ``..`` component, no control characters)."""
    if "/" in value or "\\" in value:
        return "contains a path separator"
    if value == ".." or (value.startswith("..") and len(value) == 2):
        return "is '..'"
    if ".." in value.replace("\\", "/").split("/"):
        return "has a '..' path component"
    if _CONTROL.search(value):
        return "contains a control character"
    return None
