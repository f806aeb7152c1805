"""The server's one store of open documents: text, version, and the parsed Document.

Why our own store rather than pygls's workspace: pygls splits lines with
``str.splitlines``, so U+2028, U+2029, U+0085, form feed, vertical tab and \\x1c-\\x1e end
lines for it although they do not for LSP, and it clamps an incoming change's range *in
place*, on the params object that every later handler sees. Two stores fed from one params
object drifted apart exactly there. So there is one copy: the protocol
(:class:`~dw_lsp.server.lifecycle.DwProtocol`) never hands documents to pygls's workspace (it keeps
only the workspace folders and the negotiated encoding), and this store applies each change
with LSP line semantics (only LF, CRLF and CR end a line) through the same
:class:`~dw_lsp.workflow.positions.LineIndex` that every other conversion uses, reading the
change events and never modifying them. Each entry parses its text lazily, once per
version, so the parsed-document cache is keyed by URI and version. An entry keeps one line
index per version, carried across each edit (:meth:`LineIndex.spliced`), and hands the
previous parsed version to the parser, which reuses its unchanged steps
(:mod:`dw_lsp.workflow.strict_parse`): a keystroke in a large buffer does no whole-document
work in Python.

An editor's text is UTF-16: a high surrogate next to a low one is one character, even when
the two halves arrived in different edits; the store joins such halves so that offsets and
columns agree with the editor.

:func:`workspace_roots` is the one reading of the client's workspace folders, for the
``workflowFiles`` globs and for the folders the Session may load workflows from. Plain
data; reads pygls's workspace, never changes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.files import uri_to_path
from dw_lsp.workflow.positions import Encoding, LineIndex


@dataclass
class OpenDocument:
    """One open editor buffer. ``revision`` grows whenever the buffer's diagnostics may
    have changed: its text (even without a new version, as a save with text can do) or a
    file it depends on."""

    uri: str
    version: int | None
    text: str
    language_id: str = "json"
    revision: int = 0
    _parsed: Document | None = field(default=None, repr=False)
    _lines: LineIndex | None = field(default=None, repr=False)
    _previous: Document | None = field(default=None, repr=False)

    @property
    def document(self) -> Document:
        """The parsed text (parsed on first use after each change)."""
        if self._parsed is None:
            self._parsed = parse(self.text, self._lines, self._previous)
            self._previous = None
        return self._parsed

    @property
    def lines(self) -> LineIndex:
        """The line index of the current text: built once, then carried across edits."""
        lines = self.known_lines()
        if lines is None:
            lines = self._parsed.lines if self._parsed is not None else LineIndex(self.text)
            self._lines = lines
        return lines

    def known_lines(self) -> LineIndex | None:
        """The current text's line index if one was built (None: none yet)."""
        if self._lines is None and self._parsed is not None:
            self._lines = self._parsed.built_lines
        return self._lines

    def replace(self, text: str, version: int | None, lines: LineIndex | None = None) -> None:
        """The buffer's new text; ``lines`` is its line index when the caller has it."""
        self.text = text
        self.version = version
        self._previous = self._parsed or self._previous  # its unchanged steps are reused
        self._parsed = None
        self._lines = lines if lines is not None and lines.text is text else None
        self.revision += 1

    def invalidate(self) -> None:
        """Mark the diagnostics stale although the text did not change (a sub-workflow
        it calls changed)."""
        self.revision += 1


_HIGH = ("\ud800", "\udbff")
_LOW = ("\udc00", "\udfff")


def _join_pair(text: str, at: int) -> str:
    """``text`` with the surrogate halves on either side of ``at`` made one character."""
    if (
        0 < at < len(text)
        and _HIGH[0] <= text[at - 1] <= _HIGH[1]
        and _LOW[0] <= text[at] <= _LOW[1]
    ):
        pair = (ord(text[at - 1]) - 0xD800) * 0x400 + (ord(text[at]) - 0xDC00) + 0x10000
        return text[: at - 1] + chr(pair) + text[at + 1 :]
    return text


def splice(text: str, start: int, end: int, new: str) -> str:
    """``text[start:end]`` replaced by ``new``, surrogate halves at the seams joined."""
    out = "".join((text[:start], new, text[end:]))  # one copy of a large text, not two
    out = _join_pair(out, start + len(new))
    return _join_pair(out, start) if new else out


def apply_changes(
    text: str, changes: Sequence[types.TextDocumentContentChangeEvent], encoding: Encoding
) -> str:
    """Apply content changes in order (each range refers to the text the previous change
    left): ranged ones splice, the others replace the text. Never modifies ``changes``."""
    return apply_indexed(text, changes, encoding)[0]


def apply_indexed(
    text: str,
    changes: Sequence[types.TextDocumentContentChangeEvent],
    encoding: Encoding,
    lines: LineIndex | None = None,
) -> tuple[str, LineIndex | None]:
    """:func:`apply_changes`, also returning the new text's line index: ``lines`` (the
    index of ``text``, built here if needed) carried across each splice by
    :meth:`LineIndex.spliced`, which rescans only around the edit; None after a
    whole-text replacement (built when first needed)."""
    for change in changes:
        if isinstance(change, types.TextDocumentContentChangePartial):
            if lines is None or lines.text is not text:
                lines = LineIndex(text)
            start = lines.offset(change.range.start.line, change.range.start.character, encoding)
            end = lines.offset(change.range.end.line, change.range.end.character, encoding)
            if end < start:
                start, end = end, start
            new_text = splice(text, start, end, change.text)
            lines = lines.spliced(start, end, new_text)
            text = new_text
        else:
            text, lines = change.text, None
    return text, lines


class DocumentStore:
    """Open documents by URI: the server's only copy of each editor buffer."""

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
        """Apply a ``didChange``; None (nothing done) for a document that is not open."""
        doc = self._docs.get(uri)
        if doc is None:
            return None
        text, lines = apply_indexed(doc.text, changes, encoding, doc.known_lines())
        doc.replace(text, version, lines)
        return doc

    def save(self, uri: str, text: str | None) -> OpenDocument | None:
        doc = self._docs.get(uri)
        if doc is None:
            return None
        if text is not None and text != doc.text:
            doc.replace(text, doc.version)
        return doc

    def close(self, uri: str) -> OpenDocument | None:
        return self._docs.pop(uri, None)

    def get(self, uri: str) -> OpenDocument | None:
        return self._docs.get(uri)

    def find(self, path: Path) -> OpenDocument | None:
        """The open buffer of the file ``path``, however its URI is spelled."""
        wanted = _resolved(path)
        for doc in self._docs.values():
            own = uri_to_path(doc.uri)
            if own is not None and _resolved(own) == wanted:
                return doc
        return None

    def __iter__(self) -> Iterator[OpenDocument]:
        return iter(list(self._docs.values()))

    def __len__(self) -> int:
        return len(self._docs)


def workspace_roots(ls: LanguageServer) -> list[Path]:
    """The client's workspace folders as paths; its root URI only when it sent no folders
    (LSP deprecates ``rootUri`` for ``workspaceFolders``, and a root beside the folders
    would let workflows be loaded from outside them). None before ``initialize``."""
    try:
        workspace = ls.workspace
    except RuntimeError:  # not initialized yet
        return []
    uris = [folder.uri for folder in workspace.folders.values()]
    if not uris and workspace.root_uri:
        uris.append(workspace.root_uri)
    return [p for p in (uri_to_path(uri) for uri in uris) if p is not None]


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()
