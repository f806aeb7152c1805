"""A workflow's files: their limits, the built-in sub-workflows, how a sub-workflow's
``path`` resolves, reading a workflow's bytes, and ``file:`` URIs.

The one home of these facts for every layer: the parser (size and depth limits), the
checker (sub-workflow rules), the language server (dependencies, links, completion), the
Session (the saved file before a run) and the worker (each file a run reads).

* :data:`MAX_WORKFLOW_BYTES` (50 MiB, dw's own limit) bounds every workflow read or parsed;
  :data:`MAX_JSON_DEPTH` the nesting of its JSON values; :data:`MAX_NESTING` how deep
  sub-workflows may call sub-workflows (dw has no limit: a cycle recursed until it failed).
* ``builtin:NAME.json`` names a file of this project's :data:`BUILTINS_DIR`.
* Any other sub-workflow path is relative to the folder of the workflow that names it
  (:func:`resolve_relative`); the worker also keeps it inside that folder or the top-level
  workflow's, after resolving symbolic links (:mod:`dw_lsp.worker.values.media`).

Pure: imports the standard library and :mod:`dw_lsp.workflow.refs` only; never pygls,
lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from dw_lsp.workflow.refs import BUILTIN, BUILTIN_NAME_RE

#: Where ``builtin:NAME.json`` sub-workflows live.
BUILTINS_DIR = Path(__file__).resolve().parent.parent / "builtins"
#: Workflow files larger than this are neither parsed nor run (DESIGN.md Security).
MAX_WORKFLOW_BYTES = 50 * 1024 * 1024
#: JSON nested deeper than this is reported (DW009) and not followed.
MAX_JSON_DEPTH = 200
#: Sub-workflows nested deeper than this are not checked, and not run.
MAX_NESTING = 8


class WorkflowFileError(ValueError):
    """A workflow file that cannot be used: the message says why, naming the file."""


def builtin_names() -> list[str]:
    """``NAME.json`` of every built-in sub-workflow, sorted."""
    return sorted(p.name for p in BUILTINS_DIR.glob("*.json"))


def builtin_file(name: str) -> Path | None:
    """Where ``builtin:NAME.json`` lives, whether or not it exists; None when ``name`` is
    not a built-in name (``NAME.json``, no ``/`` or ``\\``)."""
    return BUILTINS_DIR / name if BUILTIN_NAME_RE.match(name) else None


def existing_builtin(name: str) -> Path | None:
    """The file of ``builtin:NAME.json``, or None when there is no such built-in."""
    path = builtin_file(name)
    return path if path is not None and path.is_file() else None


def resolve_builtin(value: str) -> Path:
    """The file ``builtin:NAME.json`` names; :class:`WorkflowFileError` when the name is
    invalid or names no built-in."""
    name = value[len(BUILTIN) :] if value.startswith(BUILTIN) else value
    path = builtin_file(name)
    if path is None:
        raise WorkflowFileError(f"builtin:{name} is not a built-in workflow name (NAME.json)")
    if not path.is_file():
        known = ", ".join(builtin_names())
        raise WorkflowFileError(f"no built-in workflow {name!r} (built-ins: {known})")
    return path


def resolve_relative(value: str, folder: Path | None) -> Path | None:
    """The file ``value`` names: absolute as is, relative against ``folder`` (the
    referencing workflow's folder); None when it is relative and there is no folder."""
    path = Path(value)
    if path.is_absolute():
        return path
    if folder is None:
        return None
    return folder / path


def subworkflow_file(value: str, folder: Path | None) -> Path | None:
    """The file a ``workflow`` step's ``path`` names, found or not: a built-in, or a path
    relative to ``folder``; None for an invalid built-in name, or a relative path without
    a folder."""
    if value.startswith(BUILTIN):
        return builtin_file(value[len(BUILTIN) :])
    return resolve_relative(value, folder)


def read_workflow_bytes(path: Path) -> bytes:
    """The saved bytes of the workflow file ``path``: a ``.json`` file of at most
    :data:`MAX_WORKFLOW_BYTES`. Raises :class:`WorkflowFileError` (or OSError when the
    file cannot be read)."""
    if path.suffix.lower() != ".json":
        raise WorkflowFileError(f"{path} is not a .json file.")
    if not path.is_file():
        raise WorkflowFileError(f"{path} does not exist or is not a file.")
    size = path.stat().st_size
    if size > MAX_WORKFLOW_BYTES:
        raise WorkflowFileError(too_large(path, size))
    return path.read_bytes()


def read_workflow_text(path: Path) -> str:
    """:func:`read_workflow_bytes`, decoded (:func:`decode_workflow`)."""
    return decode_workflow(read_workflow_bytes(path))


def without_bom(data: bytes) -> bytes:
    """``data`` without a leading UTF-8 byte order mark. RFC 8259 lets a JSON reader
    ignore one; editors on Windows write one. Every reader of workflow bytes (check,
    editor, Session, worker) drops it, so they all agree on what the file holds."""
    return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data


def decode_workflow(data: bytes) -> str:
    """A workflow file's text: UTF-8 (UnicodeDecodeError when it is not), without a BOM."""
    return without_bom(data).decode("utf-8")


def load_workflow_json(text: str) -> Any:
    """The value of a workflow's JSON text, read as strictly as RFC 8259 writes it:
    ``NaN`` and the infinities, which Python's json module accepts, raise ValueError
    (control characters in strings already do)."""
    return json.loads(text, parse_constant=_not_json)


def _not_json(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON value (JSON has no NaN or infinities)")


def too_large(what: Path | str, size: int) -> str:
    """The message for a workflow of ``size`` bytes over :data:`MAX_WORKFLOW_BYTES`."""
    return (
        f"{what} is {size / 2**20:.1f} MiB; workflows are limited to "
        f"{MAX_WORKFLOW_BYTES // 2**20} MiB."
    )


def uri_to_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI, or None for other schemes."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if re.match(r"^/[A-Za-z]:", path):  # file:///C:/x -> C:/x
        path = path[1:]
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"
    return Path(path)


def path_to_uri(path: Path) -> str:
    return path.absolute().as_uri()
