"""Helpers for the end-to-end tests of the language server (pytest-lsp over stdio); the
fixtures are in this folder's ``conftest.py``, and tests import the helpers from here,
under a name no other test folder uses.

The fixtures ``vscode`` and ``neovim`` start ``python -m dw_lsp`` and initialize it with
that editor's recorded client capabilities (pytest-lsp ships them), a temporary workspace
folder and ``worker.prewarm`` off (these tests never need the worker). The client records
every ``publishDiagnostics`` with its version, which pytest-lsp's default client drops.
:class:`Typist` keeps a client-side copy of a buffer and sends each edit as an incremental
``didChange``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SERVER = [sys.executable, "-m", "dw_lsp"]
INIT_OPTIONS = {"worker": {"prewarm": False}}


def accept_registration(client: LanguageClient, params: types.RegistrationParams) -> None:
    """Real editors accept client/registerCapability; pytest-lsp's client has no handler.
    (A named, annotated function: pygls passes a lambda only one argument.)"""


def recording_client() -> LanguageClient:
    """pytest-lsp's test client, also keeping every published diagnostics message."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = accept_registration
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=recording_client)


async def start(client: LanguageClient, profile: str, workspace: Path, **init: Any) -> None:
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(profile),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
            initialization_options=init.pop("options", INIT_OPTIONS),
        )
    )


def open_document(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    """Send didOpen for ``path`` with ``text``; return its URI."""
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="json", version=version, text=text
            )
        )
    )
    return uri


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds (pytest-lsp's waits have no timeout)."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def published(
    client: LanguageClient, uri: str, version: int | None = None, timeout: float = 10.0
) -> types.PublishDiagnosticsParams:
    """The first diagnostics published for ``uri`` (at ``version``, if given)."""

    def find() -> types.PublishDiagnosticsParams | None:
        for params in client.published:  # type: ignore[attr-defined]
            if params.uri == uri and (version is None or params.version == version):
                return params  # type: ignore[no-any-return]
        return None

    await wait_until(lambda: find() is not None, timeout)
    found = find()
    assert found is not None
    return found


def utf16_position(text: str, offset: int) -> types.Position:
    """An independent UTF-16 conversion for the client side of the tests."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line=line, character=len(text[start:offset].encode("utf-16-le")) // 2)


def utf8_position(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line=line, character=len(text[start:offset].encode("utf-8")))


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


class Typist:
    """Keeps the client's copy of the text and sends each keystroke as an edit."""

    def __init__(self, client: LanguageClient, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1

    def edit(self, start: int, end: int, new: str) -> None:
        rng = types.Range(
            start=utf16_position(self.text, start), end=utf16_position(self.text, end)
        )
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangePartial(range=rng, text=new)],
            )
        )
