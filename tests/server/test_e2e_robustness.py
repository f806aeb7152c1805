"""The server stays up and answers correctly whatever it is sent: unknown methods,
malformed params, out-of-range positions, documents that are not (or stop being)
workflows, absurdly nested documents, invalid and changed settings. And the running server
never imports torch, diffusers or transformers."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from dwtest_lsp import (
    SERVER,
    doc_id,
    open_document,
    published,
    recording_client,
    start,
    wait_until,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from server_samples import SAMPLE

HEAVY = ("torch", "diffusers", "transformers")


async def raw_request(client: LanguageClient, method: str, params: object) -> object:
    """Send a request as raw JSON (the client would refuse to serialize bad params)."""
    msg_id = str(uuid.uuid4())
    future: Future[object] = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wait_for(asyncio.wrap_future(future), 5)


def raw_notify(client: LanguageClient, method: str, params: object) -> None:
    client.protocol._send_data({"jsonrpc": "2.0", "method": method, "params": params})


async def hover_works(client: LanguageClient, uri: str) -> None:
    result = await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(text_document=doc_id(uri), position=types.Position(3, 8))
        ),
        5,
    )
    assert result is not None and "prompt" in str(result.contents)


async def test_protocol_errors_and_odd_requests(vscode: LanguageClient, workspace: Path):
    uri = open_document(vscode, workspace / "flow.json", SAMPLE)
    await published(vscode, uri, version=1)

    with pytest.raises(JsonRpcException) as unknown:
        await vscode.protocol.send_request_async("dw/noSuchMethod", {})
    assert unknown.value.code == -32601
    vscode.protocol.notify("dw/noSuchNotification", {"x": 1})

    with pytest.raises(JsonRpcException) as malformed:
        await raw_request(vscode, "textDocument/hover", {"textDocument": 5})
    assert malformed.value.code == -32602
    with pytest.raises(JsonRpcException) as negative:
        await raw_request(
            vscode,
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}},
        )
    assert negative.value.code == -32602
    raw_notify(vscode, "textDocument/didOpen", {"textDocument": {"uri": uri}})  # no text
    await hover_works(vscode, uri)

    far = types.Position(line=99_999, character=99_999)
    end_of_line = types.Position(line=3, character=10_000)
    completion = await vscode.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=far)
    )
    assert isinstance(completion, types.CompletionList) and not completion.items
    for position in (far, end_of_line):
        await vscode.text_document_hover_async(
            types.HoverParams(text_document=doc_id(uri), position=position)
        )
        await vscode.text_document_definition_async(
            types.DefinitionParams(text_document=doc_id(uri), position=position)
        )
    chain = await vscode.text_document_selection_range_async(
        types.SelectionRangeParams(text_document=doc_id(uri), positions=[far])
    )
    assert chain is not None and len(chain) == 1

    unopened = (workspace / "never-opened.json").as_uri()
    vscode.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=unopened, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="{}")],
        )
    )
    assert (
        await vscode.text_document_hover_async(
            types.HoverParams(text_document=doc_id(unopened), position=types.Position(0, 0))
        )
        is None
    )
    assert not await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(unopened))
    )
    await hover_works(vscode, uri)
    assert vscode.messages == []  # nothing the user had to be bothered with


async def test_documents_that_are_not_workflows(vscode: LanguageClient, workspace: Path):
    other = open_document(vscode, workspace / "package.json", '{"name": "x", "version": 1,}')
    assert (
        await vscode.text_document_completion_async(
            types.CompletionParams(text_document=doc_id(other), position=types.Position(0, 1))
        )
        is None
    )
    assert not await vscode.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc_id(other))
    )
    assert not await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(other))
    )

    flow = open_document(vscode, workspace / "flow.json", '{"id": "x", "steps": [}')
    first = await published(vscode, flow, version=1)
    assert first.diagnostics
    vscode.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=flow, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text='{"id": "x"}')],
        )
    )
    await wait_until(lambda: not vscode.diagnostics.get(flow, [None]))  # no longer ours
    assert other not in vscode.diagnostics  # never reported

    deep = '{"id": "deep", "steps": [' + "[" * 400 + "]" * 400 + "]}"
    nested = open_document(vscode, workspace / "deep.json", deep)
    report = await published(vscode, nested, version=1)
    assert [d.code for d in report.diagnostics if d.code == "DW009"] == ["DW009"]


async def test_settings_invalid_pushed_and_pulled(workspace: Path):
    client = recording_client()
    await client.start_io(*SERVER)
    try:
        options = {"worker": {"prewarm": False}, "diagnostics": {"debounceMs": "soon"}}
        await start(client, "visual-studio-code", workspace, options=options)
        await wait_until(lambda: bool(client.messages))
        warning = client.messages[0]
        assert warning.type == types.MessageType.Warning and "debounceMs" in warning.message

        uri = open_document(client, workspace / "a.flow.json", '{"id": 1}')
        await asyncio.sleep(0.4)
        assert uri not in client.diagnostics  # no steps, no glob match: not a workflow

        client.set_configuration({"workflowFiles": ["**/*.flow.json"]}, section="dwLsp")
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )  # the server pulls the section
        report = await published(client, uri)
        assert "DW101" in {d.code for d in report.diagnostics}  # steps missing
        assert len(client.messages) == 1  # each invalid value is reported once

        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"dwLsp": {"workflowFiles": []}})
        )
        await wait_until(lambda: not client.diagnostics.get(uri, [None]))
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_the_server_process_never_imports_ml_libraries(tmp_path: Path, workspace: Path):
    out = tmp_path / "modules.json"
    script = (
        "import atexit, json, runpy, sys\n"
        f"out = {str(out)!r}\n"
        "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['dw-lsp']\n"
        "runpy.run_module('dw_lsp', run_name='__main__')\n"
    )
    client = recording_client()
    await client.start_io(sys.executable, "-c", script)
    await start(client, "visual-studio-code", workspace)
    text = SAMPLE.replace("StableDiffusionPipeline", "StableDiffusionPipelin")
    uri = open_document(client, workspace / "flow.json", text)
    report = await published(client, uri, version=1)
    assert "DW301" in {d.code for d in report.diagnostics}  # the catalog was consulted
    position = types.Position(line=10, character=50)
    await client.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=position)
    )
    await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=position)
    )
    await client.shutdown_session()
    await client.stop()
    await wait_until(out.exists, timeout=10)
    modules = json.loads(out.read_text())
    assert "dw_lsp.server.app" in modules and "dw_lsp.catalog" in modules
    heavy = [m for m in modules if m.split(".")[0] in HEAVY]
    assert heavy == []
