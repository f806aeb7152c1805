"""A minimal language server hosting only the ``dw.*`` commands, for testing them with a
fake worker independently of the full server. Settings come from initializationOptions."""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from dw_lsp.server.commands import register_commands
from dw_lsp.server.documents import DocumentStore
from dw_lsp.settings import parse_settings

server = LanguageServer("dw-commands-test", "0")
documents = DocumentStore()
commands = register_commands(server, documents=documents)


@server.feature(types.INITIALIZE)
def initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
    settings, _ = parse_settings(params.initialization_options)
    commands.settings_changed(settings)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    documents.open(item.uri, item.text, item.version, item.language_id)
    commands.workflow_opened(item.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
    return types.Hover(contents="hover works")


@server.feature(types.SHUTDOWN)
async def shutdown(ls: LanguageServer, *args: Any) -> None:
    await commands.shutdown()


if __name__ == "__main__":
    server.start_io()
