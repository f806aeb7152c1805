"""What the connected client can do, read once from its ``ClientCapabilities``.

Features take this small frozen object instead of the capabilities tree, so they stay
plain functions that tests call with ``ClientFeatures()`` (a conservative client) or with
``from_capabilities(...)`` of a real client's profile. Imports lsprotocol only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsprotocol import types


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part, None)
    return obj


@dataclass(frozen=True)
class ClientFeatures:
    """The client capabilities the features depend on; the defaults are the most basic."""

    snippets: bool = False
    completion_markdown: bool = False
    hover_markdown: bool = False
    hierarchical_symbols: bool = False
    link_tooltips: bool = False
    document_changes: bool = False
    code_action_literals: bool = False
    pull_diagnostics: bool = False
    diagnostic_refresh: bool = False
    configuration: bool = False

    @classmethod
    def from_capabilities(cls, caps: types.ClientCapabilities | None) -> ClientFeatures:
        if caps is None:
            return cls()
        markdown = types.MarkupKind.Markdown
        completion_formats = _get(caps, "text_document.completion.completion_item")
        doc_formats = _get(completion_formats, "documentation_format") or []
        hover_formats = _get(caps, "text_document.hover.content_format") or []
        return cls(
            snippets=bool(_get(completion_formats, "snippet_support")),
            completion_markdown=markdown in doc_formats,
            hover_markdown=markdown in hover_formats,
            hierarchical_symbols=bool(
                _get(caps, "text_document.document_symbol.hierarchical_document_symbol_support")
            ),
            link_tooltips=bool(_get(caps, "text_document.document_link.tooltip_support")),
            document_changes=bool(_get(caps, "workspace.workspace_edit.document_changes")),
            code_action_literals=_get(caps, "text_document.code_action.code_action_literal_support")
            is not None,
            pull_diagnostics=_get(caps, "text_document.diagnostic") is not None,
            diagnostic_refresh=bool(_get(caps, "workspace.diagnostics.refresh_support")),
            configuration=bool(_get(caps, "workspace.configuration")),
        )

    def markup(self, text: str, *, hover: bool = True) -> types.MarkupContent:
        """Markdown when the client renders it, else the same text as plain text."""
        markdown = self.hover_markdown if hover else self.completion_markdown
        kind = types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText
        return types.MarkupContent(kind=kind, value=text if markdown else _plain(text))


def _plain(text: str) -> str:
    """Markdown -> readable plain text: drop code fences and backticks."""
    lines = [line for line in text.splitlines() if not line.startswith("```")]
    return "\n".join(lines).replace("`", "").replace("**", "")
