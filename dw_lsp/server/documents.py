"""The server's store of open documents: text, version, and the parsed Document.

The client's edits are applied here (incremental sync) through the same
:class:`~dw_lsp.workflow.positions.LineIndex` that every other conversion uses, so one
document never has two opinions about where a UTF-16 column lies. Each entry parses its
text lazily, once per version. Plain data; no pygls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from lsprotocol import types

from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.positions import Encoding, LineIndex


@dataclass
class OpenDocument:
    """One open editor buffer. ``dirty`` is true between an edit and the next save.
    ``revision`` grows whenever the buffer's diagnostics may have changed: its text (even
    without a new version, as a save with text can do) or a file it depends on."""

    uri: str
    version: int | None
    text: str
    language_id: str = "json"
    dirty: bool = False
    revision: int = 0
    _parsed: Document | None = field(default=None, repr=False)

    @property
    def document(self) -> Document:
        """The parsed text (parsed on first use after each change)."""
        if self._parsed is None:
            self._parsed = parse(self.text)
        return self._parsed

    def replace(self, text: str, version: int | None) -> None:
        self.text = text
        self.version = version
        self._parsed = None
        self.revision += 1

    def invalidate(self) -> None:
        """Mark the diagnostics stale although the text did not change (a sub-workflow
        it calls changed)."""
        self.revision += 1


def apply_changes(
    text: str, changes: Sequence[types.TextDocumentContentChangeEvent], encoding: Encoding
) -> str:
    """Apply content changes in order: ranged ones splice, the others replace the text."""
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            lines = LineIndex.fast(text)
            start = lines.offset(change.range.start.line, change.range.start.character, encoding)
            end = lines.offset(change.range.end.line, change.range.end.character, encoding)
            if end < start:
                start, end = end, start
            text = text[:start] + change.text + text[end:]
        else:
            text = change.text
    return text


class DocumentStore:
    """Open documents by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, OpenDocument] = {}

    def open(self, uri: str, text: str, version: int | None, language_id: str) -> OpenDocument:
        doc = OpenDocument(uri, version, text, language_id)
        self._docs[uri] = doc
        return doc

    def change(
        self,
        uri: str,
        version: int | None,
        changes: Sequence[types.TextDocumentContentChangeEvent],
        encoding: Encoding,
    ) -> OpenDocument | None:
        doc = self._docs.get(uri)
        if doc is None:
            return None
        doc.replace(apply_changes(doc.text, changes, encoding), version)
        doc.dirty = True
        return doc

    def save(self, uri: str, text: str | None) -> OpenDocument | None:
        doc = self._docs.get(uri)
        if doc is None:
            return None
        if text is not None and text != doc.text:
            doc.replace(text, doc.version)
        doc.dirty = False
        return doc

    def close(self, uri: str) -> OpenDocument | None:
        return self._docs.pop(uri, None)

    def get(self, uri: str) -> OpenDocument | None:
        return self._docs.get(uri)

    def is_dirty(self, uri: str) -> bool:
        """Whether the buffer has edits not yet saved (false for unknown URIs)."""
        doc = self._docs.get(uri)
        return doc is not None and doc.dirty

    def __iter__(self) -> Iterator[OpenDocument]:
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)
