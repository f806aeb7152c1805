"""Where a result's file goes, and writing it so that nothing is ever destroyed.

Owns the checks on output names and the output directory, and the one way a result reaches
the disk (:func:`write_atomically`):

- Names are plain file names: no separator, no ``..`` component, no unsafe character, at
  most 255 bytes; the path is never resolved, so whatever already exists under a name (a
  symlink too) is never written through.
- A result is written to a temporary file in the output directory, named
  ``.dw-partial-{pid}-{random}{ext}`` (created exclusively), then given its final name with
  a hard link, which fails instead of replacing anything: a worker killed while writing
  leaves at most a hidden ``.dw-partial-*`` file, never a truncated file under a final name.
  Leftovers older than :data:`STALE_PARTIAL_S` are removed by the next save to that folder.
- An existing file (or link, even a dangling one) is never replaced: when the name is taken,
  the result gets the first free name ``{name}_{n}{ext}``, n = 2, 3 ... Where the filesystem
  has no hard links, the final name is reserved exclusively (an empty file) and the result
  renamed onto that reservation, so even then only the run's own file is replaced.
- :func:`check_output_dir` refuses an output directory that is not an absolute folder path,
  and :func:`apart_problem` one that contains the workflow or a sub-workflow being run.

Shared by the two processes that write results: the worker (every result it saves) and the
session (the results a Ray actor on another machine sends back as bytes,
:mod:`dw_lsp.session.actor_channel`), so both follow this one rule. Standard library and the
pure path rules only; never the session, the worker or a transport.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from dw_lsp.workflow.paths import holds_workflow, output_dir_violation
from dw_lsp.workflow.refs import unsafe_output_name

MAX_FILE_NAME = 255
MAX_BASE_NAME = 200
#: How a file being written is named: hidden, and never a name dw's naming produces.
PARTIAL_PREFIX = ".dw-partial-"
#: Leftover partial files (a worker killed while writing) older than this are removed.
STALE_PARTIAL_S = 3600.0
#: Numbered names tried before giving up (``{name}_2`` ... ``{name}_{MAX_NUMBER}``).
MAX_NUMBER = 10_000
#: link() failures that mean "this filesystem has no hard links", not "name taken".
_NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


class OutputError(ValueError):
    """A result cannot be written (unsafe name, unfit content type, missing writer)."""


def name_problem(what: str, value: object) -> str | None:
    """Why ``value`` cannot be part of an output file name (``what`` says which field)."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    reason = unsafe_output_name(value)
    if reason is not None:
        return f"{what} {value!r} {reason}: output files must stay inside the output directory"
    if len(value) > MAX_BASE_NAME:
        return f"{what} is longer than {MAX_BASE_NAME} characters"
    return None


def safe_path(out_dir: Path, file_name: str) -> Path:
    """``out_dir / file_name``, refused unless it is a plain name that stays inside. The path
    is not resolved: whatever exists under that name (a link too) is never written through."""
    problem = name_problem("output file name", file_name)
    if problem is not None:
        raise OutputError(problem)
    if len(file_name.encode("utf-8")) > MAX_FILE_NAME:
        raise OutputError(f"output file name {file_name[:40]!r}... exceeds {MAX_FILE_NAME} bytes")
    root = out_dir.resolve()
    path = root / file_name
    if path.parent != root:
        raise OutputError(f"output file {file_name!r} would be written outside {root}")
    return path


def numbered(file_name: str, ext: str, number: int) -> str:
    """The ``number``-th name for a result whose name is taken: ``a.png`` -> ``a_2.png``."""
    stem = file_name[: -len(ext)] if ext and file_name.endswith(ext) else file_name
    return f"{stem}_{number}{ext}"


def check_output_dir(raw: str) -> Path:
    """The output directory the session sends, resolved; it must pass
    :func:`~dw_lsp.workflow.paths.output_dir_violation`, be absolute, and not be an
    existing non-folder."""
    why = output_dir_violation(raw)
    if why is not None:
        raise OutputError(f"the output directory {raw!r} {why}")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise OutputError(f"the output directory {raw!r} is not an absolute path")
    resolved = path.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise OutputError(f"the output directory {raw!r} is not a folder")
    return resolved


def output_dir_problems(raw: str, workflow: Path) -> list[str]:
    """What is wrong with running ``workflow`` into the output directory ``raw`` (the
    session's string): :func:`check_output_dir`, then :func:`apart_problem`."""
    try:
        out_dir = check_output_dir(raw)
    except OutputError as exc:
        return [str(exc)]
    problem = apart_problem(out_dir, workflow)
    return [problem] if problem else []


def apart_problem(out_dir: Path, workflow: Path) -> str | None:
    """Why results may not go to ``out_dir`` while ``workflow`` (or a sub-workflow) runs:
    :func:`~dw_lsp.workflow.paths.holds_workflow`."""
    return holds_workflow(out_dir, workflow)


def remove_stale_partials(out_dir: Path, now: float | None = None) -> None:
    """Delete ``.dw-partial-*`` files older than :data:`STALE_PARTIAL_S` (left by a worker
    killed while writing); only regular files of exactly that naming are touched."""
    limit = (time.time() if now is None else now) - STALE_PARTIAL_S
    with contextlib.suppress(OSError), os.scandir(out_dir) as entries:
        for entry in entries:
            if not entry.name.startswith(PARTIAL_PREFIX):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                    os.unlink(entry.path)


def _partial(out_dir: Path, ext: str) -> Path:
    """A fresh, exclusively created (so never pre-existing) temporary file in ``out_dir``."""
    for _ in range(100):
        path = out_dir / f"{PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{ext}"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return path
    raise OutputError(f"could not create a temporary file in {out_dir}")  # pragma: no cover


def _claim(partial: Path, final: Path) -> bool:
    """Give the finished ``partial`` the name ``final`` unless that name exists (then False).
    Never replaces anything: a hard link fails on an existing name; without hard links the
    name is reserved exclusively first."""
    try:
        os.link(partial, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        try:
            os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            return False
        os.replace(partial, final)  # onto our own reservation only
        return True
    os.unlink(partial)
    return True


def write_atomically(
    out_dir: Path, file_name: str, ext: str, write: Callable[[Path], object]
) -> Path:
    """Write a result through ``write`` (given the temporary path) and give it ``file_name``
    in ``out_dir`` or, when that is taken, the first free numbered name; returns the path."""
    first = safe_path(out_dir, file_name)
    partial = _partial(first.parent, ext)
    try:
        write(partial)
        for number in range(1, MAX_NUMBER + 1):
            final = first if number == 1 else safe_path(out_dir, numbered(file_name, ext, number))
            if _claim(partial, final):
                return final
        raise OutputError(
            f"{file_name} and its numbered names up to _{MAX_NUMBER} all exist in "
            f"{first.parent}; clear the output directory"
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
