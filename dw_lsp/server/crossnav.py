"""The language-server side of :mod:`dw_lsp.server.crossfile`: the texts of the files it
works on (open buffers first, then the disk) and the LSP locations and edits it answers.

A rename looks for the callers of a workflow among the open documents and the ``*.json``
files of the workspace folders (hidden folders and node_modules skipped, at most
:data:`MAX_SCANNED` files). Never imports the worker, torch, diffusers or transformers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lsprotocol import types

from dw_lsp.server.convert import to_range
from dw_lsp.server.crossfile import (
    argument_definition,
    argument_name,
    child_of,
    parent_argument_edits,
)
from dw_lsp.server.dependencies import normalized
from dw_lsp.server.documents import OpenDocument
from dw_lsp.server.language_server import DwLanguageServer
from dw_lsp.workflow.files import path_to_uri, read_workflow_text, uri_to_path
from dw_lsp.workflow.positions import LineIndex

#: How many workspace ``*.json`` files a rename looks through for callers of a workflow.
MAX_SCANNED = 2000
#: One document's edits: its URI, its version (None when it is not open), the edits.
DocumentEdits = tuple[str, int | None, list[types.TextEdit]]


def caller_edits(
    ls: DwLanguageServer, doc: OpenDocument, old: str | None, new: str
) -> list[DocumentEdits]:
    """When ``old`` is a variable that ``doc`` declares (None otherwise): the edits that
    rename the ``arguments`` key ``old`` to ``new`` in the workflows calling ``doc``."""
    own = uri_to_path(doc.uri)
    if own is None or old is None:
        return []
    by_file: dict[Path, list[types.TextEdit]] = {}
    for edit in parent_argument_edits(own, old, new, workflow_texts(ls)):
        rng = to_range(LineIndex(edit.text), edit.span[0], edit.span[1], ls.encoding)
        by_file.setdefault(edit.path, []).append(types.TextEdit(range=rng, new_text=edit.new_text))
    out: list[DocumentEdits] = []
    for path, file_edits in by_file.items():
        open_doc = ls.documents.find(path)
        uri = open_doc.uri if open_doc is not None else path_to_uri(path)
        out.append((uri, open_doc.version if open_doc else None, file_edits))
    return out


def child_definition(ls: DwLanguageServer, doc: OpenDocument, offset: int) -> types.Location | None:
    """On a ``workflow`` step's path: the child file; on an argument key: the child's
    declaration of that variable."""
    child = child_of(doc.document, offset, ls.base_dir(doc.uri))
    if child is None:
        return None
    start = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
    )
    name = argument_name(doc.document, offset)
    text = file_text(ls, child.file)
    if text is None:
        return None
    if name is None:
        return types.Location(uri=path_to_uri(child.file), range=start)
    found = argument_definition(text, name)
    if found is None:
        return None
    child_doc, span = found
    rng = to_range(child_doc.lines, span[0], span[1], ls.encoding)
    return types.Location(uri=path_to_uri(child.file), range=rng)


def file_text(ls: DwLanguageServer, path: Path) -> str | None:
    """The text of ``path``: its open buffer, else the saved file; None if unreadable."""
    open_doc = ls.documents.find(path)
    if open_doc is not None:
        return open_doc.text
    try:
        return read_workflow_text(path)
    except (OSError, ValueError):
        return None


def workflow_texts(ls: DwLanguageServer) -> Iterator[tuple[Path, str]]:
    """(file, text) of every open document, then of the other ``*.json`` files in the
    workspace folders (hidden folders and node_modules skipped; at most
    :data:`MAX_SCANNED` files)."""
    seen: set[Path] = set()
    for open_doc in ls.documents:
        path = uri_to_path(open_doc.uri)
        if path is not None:
            seen.add(normalized(path))
            yield path, open_doc.text
    scanned = 0
    for root in ls.roots():
        for path in root.rglob("*.json"):
            parts = path.relative_to(root).parts
            if any(p.startswith(".") or p == "node_modules" for p in parts):
                continue
            scanned += 1
            if scanned > MAX_SCANNED:
                return
            if normalized(path) in seen:
                continue
            text = file_text(ls, path)
            if text is not None:
                yield path, text
