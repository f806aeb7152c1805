"""End to end over stdio: a parent workflow's diagnostics follow its sub-workflow.

Editing the child's buffer re-publishes the parent (VS Code profile, pushed, at the
parent's own version); a child created on disk reaches the parent through
``workspace/didChangeWatchedFiles``, whose watcher the server registers dynamically; a pull
client with ``refreshSupport`` is told to pull again and gets a new result id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_lsp
from dwtest_lsp import (
    INIT_OPTIONS,
    SERVER,
    doc_id,
    open_document,
    utf8_position,
    utf16_position,
    wait_until,
)
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features


def watching_client() -> LanguageClient:
    """Like conftest's recording client (every publishDiagnostics kept), also accepting
    and keeping dynamic registrations (pytest-lsp's client refuses them)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]
    client.registrations = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.published.append(params)  # type: ignore[attr-defined]

    def register(client: LanguageClient, params: types.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = register
    register_lsp_features(client, features)
    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=watching_client)


async def initialize(client: LanguageClient, caps: types.ClientCapabilities, root: Path) -> None:
    await client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            initialization_options=INIT_OPTIONS,
        )
    )


@pytest_lsp.fixture(config=CONFIG)
async def vscode(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    await initialize(lsp_client, client_capabilities("visual-studio-code"), workspace)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def puller(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    """Neovim 0.11 (pull diagnostics, no dynamic file watching) with refreshSupport."""
    caps = client_capabilities("neovim@v0.11.0")
    assert caps.workspace is not None
    caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    await initialize(lsp_client, caps, workspace)
    yield
    await lsp_client.shutdown_session()


def parent_text(child: str = "child.json") -> str:
    step = {"name": "call", "workflow": {"path": child, "arguments": {"prompt": "a 🐱"}}}
    return json.dumps({"id": "parent", "steps": [step]}, indent=2, ensure_ascii=False)


def child_text(variable: str) -> str:
    step = {"name": "draw", "workflow": {"path": "builtin:test.json"}}
    value = {"id": "child", "variables": {variable: "x"}, "steps": [step]}
    return json.dumps(value, indent=2)


def replace_all(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def next_published(
    client: LanguageClient,
    uri: str,
    after: int,
    accept: Callable[[types.PublishDiagnosticsParams], bool] = lambda p: True,
) -> types.PublishDiagnosticsParams:
    """The first diagnostics for ``uri`` published after the first ``after`` messages that
    ``accept`` takes."""

    def find() -> types.PublishDiagnosticsParams | None:
        messages: list[Any] = client.published[after:]  # type: ignore[attr-defined]
        return next((p for p in messages if p.uri == uri and accept(p)), None)

    await wait_until(lambda: find() is not None)
    found = find()
    assert found is not None
    return found


def codes(params: types.PublishDiagnosticsParams) -> set[Any]:
    return {d.code for d in params.diagnostics}


async def test_editing_the_child_republishes_the_parent(vscode: LanguageClient, workspace: Path):
    await wait_until(lambda: bool(vscode.registrations))  # type: ignore[attr-defined]
    registration = vscode.registrations[0]  # type: ignore[attr-defined]
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    watchers = registration.register_options["watchers"]
    assert [w["globPattern"] for w in watchers] == ["**/*.json"]

    (workspace / "child.json").write_text(child_text("prompt"), encoding="utf-8")
    text = parent_text()
    parent = open_document(vscode, workspace / "parent.json", text, version=5)
    child = open_document(vscode, workspace / "child.json", child_text("prompt"))
    first = await next_published(vscode, parent, 0)
    assert first.version == 5 and codes(first) == set()
    await next_published(vscode, child, 0)

    mark = len(vscode.published)  # type: ignore[attr-defined]
    replace_all(vscode, child, 2, child_text("subject"))  # unsaved: the parent reads the buffer
    broken = await next_published(vscode, parent, mark)
    assert broken.version == 5  # the parent's own (unchanged) version
    assert codes(broken) == {"DW206"}
    key = text.index('"prompt"')
    assert broken.diagnostics[0].range.start == utf16_position(text, key)
    assert "'prompt' is not a variable of the sub-workflow" in broken.diagnostics[0].message

    mark = len(vscode.published)  # type: ignore[attr-defined]
    replace_all(vscode, child, 3, child_text("prompt"))
    fixed = await next_published(vscode, parent, mark)
    assert fixed.version == 5 and codes(fixed) == set()

    # a new parent version while the child changes: only the current version is published
    mark = len(vscode.published)  # type: ignore[attr-defined]
    replace_all(vscode, child, 4, child_text("subject"))
    replace_all(vscode, parent, 6, text + "\n")
    again = await next_published(vscode, parent, mark)
    assert again.version == 6 and codes(again) == {"DW206"}
    await asyncio.sleep(0.4)  # past the debounce: nothing else comes for the parent
    late = [p for p in vscode.published[mark:] if p.uri == parent]  # type: ignore[attr-defined]
    assert [p.version for p in late] == [6]


async def test_a_child_created_on_disk_reaches_the_parent(vscode: LanguageClient, workspace: Path):
    parent = open_document(vscode, workspace / "parent.json", parent_text("sub/child.json"))
    missing = await next_published(vscode, parent, 0)
    assert codes(missing) == {"DW208"}

    (workspace / "sub").mkdir()
    (workspace / "sub" / "child.json").write_text(child_text("prompt"), encoding="utf-8")
    mark = len(vscode.published)  # type: ignore[attr-defined]
    vscode.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=(workspace / "sub" / "child.json").as_uri(),
                    type=types.FileChangeType.Created,
                )
            ]
        )
    )
    found = await next_published(vscode, parent, mark)
    assert found.version == 1 and codes(found) == set()

    (workspace / "sub" / "child.json").unlink()
    mark = len(vscode.published)  # type: ignore[attr-defined]
    vscode.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=(workspace / "sub" / "child.json").as_uri(),
                    type=types.FileChangeType.Deleted,
                )
            ]
        )
    )
    gone = await next_published(vscode, parent, mark)
    assert codes(gone) == {"DW208"}


async def test_pull_clients_are_told_to_pull_again(puller: LanguageClient, workspace: Path):
    (workspace / "child.json").write_text(child_text("prompt"), encoding="utf-8")
    text = parent_text()
    parent = open_document(puller, workspace / "parent.json", text)
    child = open_document(puller, workspace / "child.json", child_text("prompt"))
    first = await puller.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=doc_id(parent))
    )
    assert isinstance(first, types.RelatedFullDocumentDiagnosticReport)
    assert not first.items

    replace_all(puller, child, 2, child_text("subject"))
    await wait_until(lambda: puller.diagnostic_refresh_count >= 1)
    again = await puller.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=doc_id(parent), previous_result_id=first.result_id
        )
    )
    assert isinstance(again, types.RelatedFullDocumentDiagnosticReport)
    assert again.result_id != first.result_id
    assert [d.code for d in again.items] == ["DW206"]
    key = text.index('"prompt"')
    assert again.items[0].range.start == utf8_position(text, key)
    assert puller.published == []  # type: ignore[attr-defined]  # pull clients get no pushes
    assert puller.registrations == []  # type: ignore[attr-defined]  # no dynamic watching
