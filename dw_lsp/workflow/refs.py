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

#: Names a caller can set (FORMAT.md 1.10, DESIGN.md Security). The patterns end in ``\Z``,
#: not ``$``, which would let a name end in a newline.
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")
VARIABLE_NAME_MAX = 100
VARIABLE_VALUE_MAX = 10_000
CONSTANT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
CONSTANT_NAME_MAX = 200
BUILTIN_NAME_RE = re.compile(r"^[^/\\]+\.json\Z")

#: The one rule for characters that no name, caller value or path may hold: C0 controls,
#: DEL, C1 controls (U+0080-U+009F), Unicode's Bidi_Control characters - the marks,
#: embeddings, overrides and isolates U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069,
#: which make text display in another order than it is - and surrogate code points (half
#: of a UTF-16 pair: never text, and not encodable as UTF-8). Every filter applies it
#: through :func:`unsafe_character`.
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: What caller values may keep of those: tab, CR and LF.
VALUE_CONTROLS = "\t\r\n"

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
    why = unsafe_character(value)
    if why is not None:
        return f"contains {why}"
    return None


def unsafe_character(value: str, allowed: str = "") -> str | None:
    """What the first character of ``value`` that :data:`UNSAFE_CHARACTERS` forbids is
    (``"the control character U+001B"``, ``"a lone surrogate U+D800"`` ...), or None.
    Characters in ``allowed`` pass (caller values keep :data:`VALUE_CONTROLS`)."""
    for found in UNSAFE_CHARACTERS.finditer(value):
        char = found.group()
        if char in allowed:
            continue
        code = f"U+{ord(char):04X}"
        if "\ud800" <= char <= "\udfff":
            return f"a lone surrogate {code} (half of a UTF-16 pair, not a character)"
        if char in _BIDI:
            return f"the bidirectional control {code}"
        if char == "\x00":
            return f"the control character {code} (a NUL byte)"
        return f"the control character {code}"
    return None
