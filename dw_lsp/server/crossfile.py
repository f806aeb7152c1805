"""Navigation across workflow files: a ``workflow`` step and the child file it calls.

* Go to definition on a step's ``workflow.path`` value opens the child file
  (:func:`child_of`); on a key of that step's ``arguments`` it goes to the child's
  declaration of that variable (:func:`argument_definition`).
* Renaming a variable a workflow declares also renames the ``arguments`` key of every
  ``workflow`` step that calls that file (:func:`parent_argument_edits`): a parent would
  otherwise pass an argument the child no longer declares (DW206).

Files are given as texts by the caller (open buffers first, then the disk), so this module
reads nothing itself. Pure: imports no pygls, lsprotocol or ML libraries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dw_lsp.server.dependencies import normalized
from dw_lsp.workflow.document import Document, Span, parse
from dw_lsp.workflow.files import subworkflow_file
from dw_lsp.workflow.refs import VARIABLE


@dataclass(frozen=True)
class ChildRef:
    """The ``workflow`` step at ``step`` of a document, and the file its path names."""

    step: int
    file: Path


def child_of(doc: Document, offset: int, folder: Path | None) -> ChildRef | None:
    """The child file when ``offset`` is on a ``workflow`` step's ``path`` value or on a
    key of its ``arguments``; None elsewhere or when the path names no file."""
    hit = doc.node_at(offset)
    if hit is None:
        return None
    path = hit.path
    on_path = hit.part == "value" and len(path) == 4 and path[2:] == ("workflow", "path")
    on_argument = hit.part == "key" and len(path) == 5 and path[2:4] == ("workflow", "arguments")
    if not (on_path or on_argument) or path[0] != "steps" or not isinstance(path[1], int):
        return None
    file = _child_file(doc, path[1], folder)
    return ChildRef(path[1], file) if file is not None else None


def argument_name(doc: Document, offset: int) -> str | None:
    """The argument key under ``offset`` when it is one of a ``workflow`` step's."""
    hit = doc.node_at(offset)
    if hit is None or hit.part != "key" or len(hit.path) != 5:
        return None
    key = hit.path[-1]
    return key if hit.path[2:4] == ("workflow", "arguments") and isinstance(key, str) else None


def argument_definition(child_text: str, name: str) -> tuple[Document, Span] | None:
    """The child document and the span of its declaration of the variable ``name``."""
    child = parse(child_text)
    span = child.key_span(("variables", name))
    return (child, span) if span is not None else None


def _child_file(doc: Document, step: int, folder: Path | None) -> Path | None:
    value = doc.value
    steps = value.get("steps") if isinstance(value, dict) else None
    if not isinstance(steps, list) or not 0 <= step < len(steps):
        return None
    body = steps[step].get("workflow") if isinstance(steps[step], dict) else None
    target = body.get("path") if isinstance(body, dict) else None
    if not isinstance(target, str) or not target or target.startswith(VARIABLE):
        return None
    try:
        return subworkflow_file(target, folder)
    except ValueError:  # e.g. a NUL in the path
        return None


@dataclass(frozen=True)
class FileEdit:
    """Replace ``span`` of the file ``path`` (whose text was ``text``) with ``new_text``."""

    path: Path
    text: str
    span: Span
    new_text: str


def parent_argument_edits(
    child: Path, old: str, new: str, candidates: Iterable[tuple[Path, str]]
) -> list[FileEdit]:
    """Edits renaming the ``arguments`` key ``old`` to ``new`` in every ``workflow`` step of
    the ``candidates`` (file, text) whose path names ``child``."""
    target = normalized(child)
    quoted = json.dumps(new, ensure_ascii=False)
    edits: list[FileEdit] = []
    for path, text in candidates:
        if f'"{old}"' not in text and "\\" not in text:
            continue  # cheap: the key is not spelt in it
        doc = parse(text)
        steps = doc.value.get("steps") if isinstance(doc.value, dict) else None
        if not isinstance(steps, list):
            continue
        for index in range(len(steps)):
            file = _child_file(doc, index, path.parent)
            if file is None or normalized(file) != target:
                continue
            span = doc.key_span(("steps", index, "workflow", "arguments", old))
            if span is not None:
                edits.append(FileEdit(path, text, span, quoted))
    return edits
