"""Path rules shared by media locations, sub-workflow paths and the output directory
(FORMAT.md 4.8, 1.9.7).

:func:`path_violation` applies dw's static path check (no character that
:func:`~dw_lsp.workflow.refs.unsafe_character` refuses: NUL, other controls, bidi controls;
no ``..`` anywhere, no ``~/``, not under ``/dev``, ``/proc`` or ``/sys``, length limits);
:func:`holds_workflow` is the one check here that looks at the disk (it resolves symbolic
links). Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from dw_lsp.workflow.refs import unsafe_character

PATH_MAX = 4096
NAME_MAX = 255
_SYSTEM_PREFIXES = ("/dev/", "/proc/", "/sys/")


def path_violation(value: str) -> str | None:
    """Why dw's path check rejects ``value`` (a phrase), or None when it passes."""
    if not value:
        return "is empty"
    why = unsafe_character(value)
    if why is not None:
        return f"contains {why}"
    if len(value) > PATH_MAX:
        return f"is longer than {PATH_MAX} characters"
    normal = value.replace("\\", "/")
    if ".." in normal:
        return "contains '..' (dw rejects it anywhere in a path, even in a name like 'v1..2')"
    if "~/" in normal:
        return "contains '~/'"
    if normal.lower().startswith(_SYSTEM_PREFIXES):
        return "points into /dev, /proc or /sys"
    if any(len(part) > NAME_MAX for part in normal.split("/")):
        return f"has a file-name component longer than {NAME_MAX} characters"
    return None


def output_dir_violation(value: str) -> str | None:
    """Why ``value`` (the ``outputDir`` setting) cannot be an output directory: it holds an
    unsafe character or is a URL (a ``file://`` one too: give the folder's path)."""
    if not value.strip():
        return "is empty"
    why = unsafe_character(value)
    if why is not None:
        return f"contains {why}"
    if "://" in value or value.lower().startswith("file:"):
        return "is a URL; give a folder path"
    return None


def holds_workflow(out_dir: Path, workflow: Path) -> str | None:
    """Why results may not go to ``out_dir`` (resolved) while ``workflow`` runs: the folder
    contains the workflow file, at any depth, which a result could then be written over or
    mistaken for."""
    if workflow.resolve().is_relative_to(out_dir.resolve()):
        return (
            f"The output directory {out_dir} contains the workflow {workflow}; choose an "
            "output directory apart from the workflows (setting outputDir)"
        )
    return None


def url_violation(value: str) -> str | None:
    """Why an http(s) URL is unusable, or None."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "is not an http or https URL"
    if not parts.hostname:
        return "has no host"
    return None
