"""Value rules: object descriptions, type strings, constants, media, near-miss keys
(FORMAT.md 1.9.3-1.9.7, 1.11 rules 12, 18/31, 19, 20 and 32).

DW216 malformed object description, DW222 unescaped string category under a type key,
DW223 malformed constant name, DW224/DW225/DW226/DW237 media locations (missing file,
extension, URL, path rules), DW234 near-miss keyword spellings. Pure: imports no pygls,
lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dw_lsp.validation.fixes import replacing
from dw_lsp.validation.rules.base import Reporter
from dw_lsp.workflow.files import resolve_relative
from dw_lsp.workflow.outline import DESCRIPTION_FORMS, Media, Outline
from dw_lsp.workflow.paths import path_violation, url_violation
from dw_lsp.workflow.refs import (
    CONSTANT,
    CONSTANT_NAME_MAX,
    CONSTANT_NAME_RE,
    MEDIA_AUDIO_EXTENSIONS,
    MEDIA_IMAGE_EXTENSIONS,
    MEDIA_VIDEO_EXTENSIONS,
    PREVIOUS_RESULT,
    STRING_TYPE_KEYS,
    is_escaped,
    is_url,
)

#: Near-miss spellings of real keyword arguments (rule 32). Kept small: each entry is a
#: misspelling seen in real workflows or a one-letter slip of a common diffusers kwarg.
NEAR_MISSES: dict[str, str] = {
    "use_safe_tensors": "use_safetensors",
    "use_safetensor": "use_safetensors",
    "low_cpu_memory_usage": "low_cpu_mem_usage",
    "num_inference_step": "num_inference_steps",
    "guidence_scale": "guidance_scale",
    "torch_type": "torch_dtype",
}

_EXTENSIONS = {
    "image": MEDIA_IMAGE_EXTENSIONS,
    "video": MEDIA_VIDEO_EXTENSIONS,
    "file": MEDIA_IMAGE_EXTENSIONS + MEDIA_VIDEO_EXTENSIONS + MEDIA_AUDIO_EXTENSIONS,
}
_KIND_WORDS = {"image": "image", "video": "video", "file": "media"}
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
#: torch dtype names people write without the ``torch.`` prefix.
_TORCH_DTYPES = frozenset(
    {
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "half",
        "float",
        "double",
        "int8",
        "uint8",
        "int16",
        "int32",
        "int64",
        "bool",
        "float8_e4m3fn",
        "float8_e5m2",
    }
)


def check_values(outline: Outline, report: Reporter, folder: Path | None) -> None:
    """``folder``: the workflow file's folder (media paths resolve there), or None."""
    for found in outline.descriptions:
        _description(report, found.path, found.value)
    for found in outline.type_values:
        _type_string(report, found.path, str(found.value))
    for ref in outline.constant_refs:
        if len(ref.body) > CONSTANT_NAME_MAX or not CONSTANT_NAME_RE.match(ref.body):
            report.value(
                "DW223",
                ref.path,
                f"'{CONSTANT}{ref.body}' is not a dotted Python name (identifiers separated "
                f"by dots, at most {CONSTANT_NAME_MAX} characters), so dw cannot resolve it.",
            )
    for media in outline.media:
        _media(report, media, folder)
    for found in outline.watched:
        right = NEAR_MISSES[str(found.value)]
        report.key(
            "DW234",
            found.path,
            f"'{found.value}' is probably a misspelling of '{right}'; under this name the "
            "setting has no effect.",
            replacing([right]),
        )


def _type_keys(node: dict[str, Any]) -> list[str]:
    return [k for k in node if k.endswith("_type") and k not in STRING_TYPE_KEYS]


def _description(report: Reporter, path: tuple[str | int, ...], node: dict[str, Any]) -> None:
    """Rule 12: one ``*_type`` key, one form, nothing beside ``from_arguments``."""
    forms = [f for f in DESCRIPTION_FORMS if f in node]
    types = _type_keys(node)
    if len(forms) > 1:
        report.key(
            "DW216",
            (*path, forms[1]),
            f"An object description takes one of from_file, from_previous_result and "
            f"from_arguments; this one has {' and '.join(forms)}. Keep one.",
        )
    if not types:
        report.key(
            "DW216",
            (*path, forms[0]),
            f"An object with {forms[0]} needs one key ending in _type naming the class to "
            'build (e.g. "reference_type"); without it dw passes the object on as a plain '
            "dict.",
        )
    for extra in types[1:]:
        report.key(
            "DW216",
            (*path, extra),
            f"An object description has exactly one *_type key; this one also has "
            f"'{types[0]}', so dw does not build it. Remove one.",
        )
    if "from_arguments" in node:
        if not isinstance(node["from_arguments"], dict):
            report.value(
                "DW216",
                (*path, "from_arguments"),
                "from_arguments must be an object of keyword arguments.",
            )
        for key in node:
            if key != "from_arguments" and key not in types[:1]:
                report.key(
                    "DW216",
                    (*path, key),
                    f"Nothing may sit beside from_arguments except the type key; move "
                    f"'{key}' into from_arguments.",
                )
    source = node.get("from_file")
    if "from_file" in node and not isinstance(source, str):
        report.value("DW216", (*path, "from_file"), "from_file must be a path or URL string.")
    elif isinstance(source, str) and source.startswith(PREVIOUS_RESULT):
        step = source[len(PREVIOUS_RESULT) :]
        report.value(
            "DW216",
            (*path, "from_file"),
            f"from_file cannot take a previous_result (dw rejects it); use "
            f'"from_previous_result": "{step}" instead.',
        )
    name = node.get("from_previous_result")
    if "from_previous_result" in node and not isinstance(name, str):
        report.value(
            "DW216",
            (*path, "from_previous_result"),
            "from_previous_result must be a step name (a string).",
        )
    elif isinstance(name, str) and name.startswith(PREVIOUS_RESULT):
        bare = name[len(PREVIOUS_RESULT) :]
        report.value(
            "DW216",
            (*path, "from_previous_result"),
            f"from_previous_result takes a bare step name, without the "
            f"'{PREVIOUS_RESULT}' prefix: write \"{bare}\".",
            replacing([bare]),
        )


def _type_string(report: Reporter, path: tuple[str | int, ...], value: str) -> None:
    """Rules 18/31: a string under a type key is imported unless escaped with ``{}``."""
    if is_escaped(value) or _plausible_type(value):
        return
    key = str(path[-1])
    replacements = [f"{{{value}}}"]
    if value in _TORCH_DTYPES and (
        key in ("torch_dtype", "dtype") or key.endswith(("compute_dtype", "storage_dtype"))
    ):
        replacements.insert(0, f"torch.{value}")
    report.value(
        "DW222",
        path,
        f"Under '{key}', dw imports '{value}' as a type at run start and fails. For the "
        f'string itself, escape it: "{{{value}}}"'
        + (f'; for the dtype, write "torch.{value}".' if len(replacements) > 1 else "."),
        replacing(replacements),
    )


def _plausible_type(value: str) -> bool:
    """A dotted name (``torch.bfloat16``) or a bare class name (``FluxPipeline``)."""
    if "." in value:
        return CONSTANT_NAME_RE.match(value) is not None
    return _CLASS_NAME.match(value) is not None


def _media(report: Reporter, media: Media, folder: Path | None) -> None:
    value = media.value
    if is_url(value):
        bad = url_violation(value)
        if bad is not None:
            report.value("DW237", media.path, f"The media URL {bad}.")
        else:
            report.value(
                "DW226",
                media.path,
                "dw downloads this URL at run start, before step 1 runs (every step's media "
                "is fetched up front); a local copy makes runs faster and offline.",
            )
        return
    bad = path_violation(value)
    if bad is not None:
        report.value("DW237", media.path, f"The media path {bad}; dw refuses it.")
        return
    allowed = _EXTENSIONS[media.kind]
    suffix = Path(value).suffix.lower()
    if suffix not in allowed:
        report.value(
            "DW225",
            media.path,
            f"'{suffix or value}' is not a supported {_KIND_WORDS[media.kind]} extension; "
            f"use one of {' '.join(allowed)}.",
        )
        return
    target = resolve_relative(value, folder) if folder is not None else None
    if target is not None and not target.is_file():
        report.value(
            "DW224",
            media.path,
            f"Media file not found: {target}. Relative paths resolve against the workflow "
            "file's folder.",
        )
