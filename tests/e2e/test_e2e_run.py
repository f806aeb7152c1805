"""End to end over stdio: ``python -m dw_lsp`` with the REAL worker and the tiny pipeline
(a temp copy of workflows/tiny-sd.json). One server, hence one warm worker, serves the
whole module; every test states what it needs relative to the runs before it.

Covers: a second run reusing the pipeline, work-done progress with increasing percentages,
cancelling by the progress or by dw.cancel (the next run reuses the models), dw.memory and
dw.clear, diagnostics answered during a run, a dirty buffer, a worker SIGKILLed mid-run,
and no worker left after shutdown.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"
SERVER_ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    shutil.copy(TINY, root / "tiny-sd.json")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "dw_lsp"], server_env=SERVER_ENV
    ),
)
async def client(lsp_client: LanguageClient, workspace: Path) -> Any:
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            root_uri=workspace.as_uri(),
            initialization_options={
                "outputDir": str(workspace / "out"),
                "worker": {"prewarm": False},
            },
        )
    )
    yield
    pid = (await _command(lsp_client, "dw.status"))["worker"]["pid"]
    await lsp_client.shutdown_session()
    if pid:
        await _gone(pid)


async def _gone(pid: int, within: float = 10.0) -> None:
    for _ in range(int(within / 0.1)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker {pid} still alive")


async def _command(client: LanguageClient, name: str, obj: dict[str, Any] | None = None) -> Any:
    params = types.ExecuteCommandParams(command=name, arguments=[obj or {}])
    return await asyncio.wait_for(client.workspace_execute_command_async(params), 240)


def _uri(workspace: Path) -> str:
    return (workspace / "tiny-sd.json").as_uri()


async def _run(
    client: LanguageClient, workspace: Path, steps: int = 2, token: str | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {"uri": _uri(workspace), "arguments": {"steps": str(steps)}}
    if token is not None:
        client.progress_reports[token] = []
        obj["progressToken"] = token
    return await _command(client, "dw.run", obj)  # type: ignore[no-any-return]


def _percentages(client: LanguageClient, token: str) -> list[int]:
    return [
        v.percentage
        for v in client.progress_reports.get(token, [])
        if isinstance(v, types.WorkDoneProgressReport) and v.percentage is not None
    ]


async def _until_denoising(client: LanguageClient, token: str) -> None:
    for _ in range(1200):
        if any(
            isinstance(v, types.WorkDoneProgressReport) and "denois" in (v.message or "")
            for v in client.progress_reports.get(token, [])
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no denoising progress: {client.progress_reports.get(token)}")


async def test_run_twice_reuses_and_reports_progress(
    client: LanguageClient, workspace: Path
) -> None:
    first = await _run(client, workspace, token="first")
    assert first["status"] == "ok", first
    assert first["outputs"] and all(Path(p).is_file() for p in first["outputs"])
    assert all(Path(p).is_relative_to(workspace / "out") for p in first["outputs"])
    assert first["error"] is None
    second = await _run(client, workspace, token="second")
    assert second["status"] == "ok", second
    assert second["cache"]["reused"] and not second["cache"]["loaded"]
    assert second["timings"]["load"] == 0 or second["timings"]["load"] < first["timings"]["load"]
    assert second["runs"] == first["runs"] + 1
    percentages = _percentages(client, "second")
    assert percentages == sorted(percentages) and percentages[-1] == 100
    assert len(set(percentages)) >= 2
    reports = client.progress_reports["second"]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)


async def test_cancel_by_progress_then_reuse(client: LanguageClient, workspace: Path) -> None:
    run = asyncio.ensure_future(_run(client, workspace, steps=500, token="cancel-me"))
    await _until_denoising(client, "cancel-me")
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="cancel-me"))
    result = await asyncio.wait_for(run, 60)
    assert result["status"] == "cancelled", result
    after = await _run(client, workspace)
    assert after["status"] == "ok" and after["cache"]["reused"], after


async def test_dw_cancel_and_diagnostics_during_a_run(
    client: LanguageClient, workspace: Path
) -> None:
    run = asyncio.ensure_future(_run(client, workspace, steps=500, token="busy"))
    await _until_denoising(client, "busy")
    # The server keeps answering while the worker runs: diagnostics of a broken document.
    broken = workspace / "broken.json"
    text = json.dumps({"id": "b", "steps": [{"name": "x", "pipeline": 3}]})
    broken.write_text(text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=broken.as_uri(), language_id="json", version=1, text=text
            )
        )
    )
    for _ in range(100):
        if client.diagnostics.get(broken.as_uri()):
            break
        await asyncio.sleep(0.05)
    assert client.diagnostics.get(broken.as_uri()), "no diagnostics during the run"
    assert not run.done()
    refused = await _run(client, workspace)
    assert refused["status"] == "error"
    assert refused["error"]["message"].startswith("A run is already in progress")
    assert (await _command(client, "dw.cancel")) == {"status": "ok", "cancelled": True}
    result = await asyncio.wait_for(run, 60)
    assert result["status"] == "cancelled"
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=broken.as_uri())
        )
    )


async def test_memory_and_clear(client: LanguageClient, workspace: Path) -> None:
    memory = await _command(client, "dw.memory")
    assert memory["status"] == "ok"
    for key in ("device", "allocatedMb", "reservedMb", "freeMb", "totalMb", "runs"):
        assert key in memory
    assert memory["processRssMb"] > 0 and memory["hostTotalMb"] > 0
    if not memory["cuda"]:
        assert "No CUDA" in memory["note"] and memory["totalMb"] > 0
    assert memory["pipelines"]
    cleared = await _command(client, "dw.clear")
    assert cleared["status"] == "ok" and cleared["cleared"] is True
    assert cleared["memory"]["pipelines"] == []
    after = await _run(client, workspace)
    assert after["status"] == "ok"
    assert after["cache"]["loaded"] and not after["cache"]["reused"], after


async def test_dirty_buffer_is_reported(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "tiny-sd.json"
    saved = path.read_text()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="json", version=1, text=saved
            )
        )
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=saved + " ")],
        )
    )
    result = await _run(client, workspace)
    assert result["status"] == "ok"
    assert any("running the saved version" in w for w in result["warnings"])
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri())
        )
    )


async def test_worker_sigkilled_mid_run(client: LanguageClient, workspace: Path) -> None:
    run = asyncio.ensure_future(_run(client, workspace, steps=500, token="doomed"))
    await _until_denoising(client, "doomed")
    pid = (await _command(client, "dw.status"))["worker"]["pid"]
    os.kill(pid, signal.SIGKILL)
    result = await asyncio.wait_for(run, 30)
    assert result["status"] == "error"
    assert "killed by signal SIGKILL" in result["error"]["message"]
    status = await _command(client, "dw.status")
    assert status["worker"]["state"] == "errored"
    again = await _run(client, workspace)
    assert again["status"] == "ok", again
    assert (await _command(client, "dw.status"))["worker"]["pid"] != pid
