"""The ``dw.*`` commands over LSP (pytest-lsp, stdio) with the fake worker: results, work-done
progress, cancelling the progress or calling dw.cancel, refusing a second run, staying
responsive during a run, a dirty buffer, malformed arguments."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

HERE = Path(__file__).resolve().parent
SERVER = HERE / "commands_server.py"
FAKE_WORKER = HERE.parent / "session" / "fake_worker.py"

WORKFLOW = {
    "id": "cmd_test",
    "variables": {"prompt": "a red bicycle", "steps": 2},
    "steps": [
        {
            "name": "draw",
            "pipeline": {
                "configuration": {"component_type": "StableDiffusionPipeline"},
                "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                "arguments": {"prompt": "variable:prompt", "num_inference_steps": "variable:steps"},
            },
            "result": {"content_type": "image/png"},
        }
    ],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "draw.json").write_text(json.dumps(WORKFLOW, indent=2), encoding="utf-8")
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, str(SERVER)]))
async def client(lsp_client: LanguageClient, workspace: Path) -> Any:
    command = [sys.executable, str(FAKE_WORKER), "--steps", "40", "--delay", "0.03"]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            root_uri=workspace.as_uri(),
            initialization_options={
                "worker": {"command": command, "prewarm": False},
                "outputDir": str(workspace / "out"),
            },
        )
    )
    yield
    await lsp_client.shutdown_session()


async def _command(client: LanguageClient, name: str, obj: dict[str, Any] | None = None) -> Any:
    params = types.ExecuteCommandParams(command=name, arguments=[obj] if obj is not None else [])
    return await client.workspace_execute_command_async(params)


def _percentages(client: LanguageClient, token: str) -> list[int]:
    return [
        v.percentage
        for v in client.progress_reports.get(token, [])
        if isinstance(v, types.WorkDoneProgressReport) and v.percentage is not None
    ]


async def _wait_for_reports(client: LanguageClient, token: str) -> None:
    for _ in range(200):
        if _percentages(client, token):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no progress report arrived")


async def test_run_with_client_token(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "draw.json").as_uri()
    client.progress_reports["tok-1"] = []
    result = await _command(
        client, "dw.run", {"uri": uri, "arguments": {"prompt": "a cat"}, "progressToken": "tok-1"}
    )
    assert result["status"] == "ok", result
    assert result["outputs"] and result["error"] is None
    assert set(result["timings"]) == {"load", "inference", "total"}
    assert set(result["cache"]) == {"reused", "loaded", "released"}
    assert result["memory"]["device"] == "cpu"
    assert "note" in result["memory"]
    reports = client.progress_reports["tok-1"]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    percentages = _percentages(client, "tok-1")
    assert percentages == sorted(percentages) and percentages[-1] == 100
    second = await _command(client, "dw.run", {"uri": uri})
    assert second["runs"] == 2 and second["cache"]["reused"]


async def test_run_server_created_token_and_progress_cancel(
    client: LanguageClient, workspace: Path
) -> None:
    uri = (workspace / "draw.json").as_uri()
    run = asyncio.ensure_future(_command(client, "dw.run", {"uri": uri}))
    for _ in range(200):
        if client.progress_reports:
            break
        await asyncio.sleep(0.02)
    (token,) = client.progress_reports
    await _wait_for_reports(client, token)
    # A second run is refused while the first runs, and hover is still answered.
    refused = await _command(client, "dw.run", {"uri": uri})
    assert refused["status"] == "error"
    assert refused["error"]["message"].startswith("A run is already in progress")
    hover = await asyncio.wait_for(
        client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=0, character=0),
            )
        ),
        2,
    )
    assert hover is not None
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(run, 10)
    assert result["status"] == "cancelled"
    again = await _command(client, "dw.run", {"uri": uri})
    assert again["status"] == "ok"


async def test_dw_cancel(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "draw.json").as_uri()
    client.progress_reports["tok-c"] = []
    run = asyncio.ensure_future(_command(client, "dw.run", {"uri": uri, "progressToken": "tok-c"}))
    await _wait_for_reports(client, "tok-c")
    cancelled = await _command(client, "dw.cancel", {})
    assert cancelled == {"status": "ok", "cancelled": True}
    result = await asyncio.wait_for(run, 10)
    assert result["status"] == "cancelled"
    assert isinstance(client.progress_reports["tok-c"][-1], types.WorkDoneProgressEnd)


async def test_dirty_buffer_is_reported(client: LanguageClient, workspace: Path) -> None:
    path = workspace / "draw.json"
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="json", version=1, text=path.read_text() + "\n "
            )
        )
    )
    result = await _command(client, "dw.run", {"uri": uri})
    assert result["status"] == "ok"
    assert any("running the saved version" in w for w in result["warnings"])


async def test_arguments_status_memory_clear(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "draw.json").as_uri()
    bad = await _command(client, "dw.setArguments", {"uri": uri, "arguments": {"colour": "red"}})
    assert bad["status"] == "error"
    assert "its variables are: prompt, steps" in bad["error"]["message"]
    ok = await _command(client, "dw.setArguments", {"uri": uri, "arguments": {"prompt": "a dog"}})
    assert ok == {"status": "ok", "arguments": {"prompt": "a dog"}}
    status = await _command(client, "dw.status", {})
    assert status["name"] == "cmd_test" and status["arguments"] == {"prompt": "a dog"}
    assert status["worker"]["state"] == "stopped"
    cleared = await _command(client, "dw.clear", {})
    assert cleared["status"] == "ok" and cleared["cleared"] is False
    memory = await _command(client, "dw.memory", {})
    assert memory["status"] == "ok" and memory["device"] == "cpu"
    for key in ("allocatedMb", "reservedMb", "freeMb", "totalMb", "runs", "processRssMb"):
        assert key in memory
    cleared = await _command(client, "dw.clear")
    assert cleared["cleared"] is True
    assert (await _command(client, "dw.clearArguments", {"uri": uri}))["arguments"] == {}
    restarted = await _command(client, "dw.restartWorker", {})
    assert restarted["worker"]["state"] == "stopped"  # prewarm is off in these tests
    assert (await _command(client, "dw.memory"))["runs"] == 0  # a fresh worker


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"uri": 3}, "'uri' must be"),
        ({"uri": "file:///etc/passwd.json"}, "outside the allowed folders"),
        ({"uri": "WORKSPACE", "arguments": []}, "'arguments' must be an object"),
        ({"uri": "WORKSPACE", "arguments": {"bad name": "x"}}, "Invalid argument name"),
    ],
)
async def test_malformed_arguments(
    client: LanguageClient, workspace: Path, obj: dict[str, Any], message: str
) -> None:
    if obj.get("uri") == "WORKSPACE":
        obj["uri"] = (workspace / "draw.json").as_uri()
    result = await _command(client, "dw.run", obj)
    assert result["status"] == "error"
    assert message in result["error"]["message"]
    two = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="dw.status", arguments=[{}, {}])
    )
    assert two["status"] == "error"


async def test_smoke_run_asks_the_worker_for_stand_ins(
    client: LanguageClient, workspace: Path
) -> None:
    uri = (workspace / "draw.json").as_uri()
    smoke = await _command(client, "dw.run", {"uri": uri, "standIn": True})
    assert smoke["status"] == "ok", smoke
    assert smoke["standIn"]["mode"] == "all"
    missing = await _command(client, "dw.run", {"uri": uri, "standIn": "missing"})
    assert missing["standIn"]["mode"] == "missing"
    plain = await _command(client, "dw.run", {"uri": uri})
    assert plain["standIn"] is None  # worker.standIns is off by default
    bad = await _command(client, "dw.run", {"uri": uri, "standIn": "sometimes"})
    assert bad["status"] == "error"
    assert "'standIn' must be true, false or one of off, missing, all" in bad["error"]["message"]


async def test_run_sweep_lists_every_run_under_one_progress(
    client: LanguageClient, workspace: Path
) -> None:
    uri = (workspace / "draw.json").as_uri()
    client.progress_reports["tok-s"] = []
    grid = {"prompt": ["a cat", "a dog"], "steps": [1, 2]}
    result = await _command(
        client, "dw.runSweep", {"uri": uri, "grid": grid, "progressToken": "tok-s"}
    )
    assert result["status"] == "ok", result
    assert (result["total"], result["done"]) == (4, 4)
    assert [r["arguments"] for r in result["runs"]] == [
        {"prompt": "a cat", "steps": 1},
        {"prompt": "a cat", "steps": 2},
        {"prompt": "a dog", "steps": 1},
        {"prompt": "a dog", "steps": 2},
    ]
    folder = Path(result["folder"])
    assert all(Path(o).parent.parent == folder for o in result["outputs"])
    assert len(set(result["outputs"])) == 4 and (folder / "sweep.json").is_file()
    percentages = _percentages(client, "tok-s")
    assert percentages == sorted(percentages) and percentages[-1] == 100
    messages = [
        v.message
        for v in client.progress_reports["tok-s"]
        if isinstance(v, types.WorkDoneProgressReport) and v.message
    ]
    assert messages[-1].startswith("4/4 runs done")


async def test_run_sweep_cancelled_by_its_progress(client: LanguageClient, workspace: Path) -> None:
    uri = (workspace / "draw.json").as_uri()
    client.progress_reports["tok-sc"] = []
    grid = {"prompt": ["a", "b", "c"]}
    sweep = asyncio.ensure_future(
        _command(client, "dw.runSweep", {"uri": uri, "grid": grid, "progressToken": "tok-sc"})
    )
    await _wait_for_reports(client, "tok-sc")
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token="tok-sc"))
    result = await asyncio.wait_for(sweep, 10)
    assert result["status"] == "cancelled"
    assert [r["status"] for r in result["runs"]] == ["cancelled"] * 3


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (None, "'grid' must be an object"),
        ({"prompt": []}, "lists no values"),
        ({"colour": ["red"]}, "its variables are: prompt, steps"),
        ({"prompt": list(range(30)), "steps": list(range(30))}, "= 900 runs; at most 256"),
    ],
)
async def test_run_sweep_refuses_a_bad_grid(
    client: LanguageClient, workspace: Path, grid: Any, message: str
) -> None:
    uri = (workspace / "draw.json").as_uri()
    result = await _command(client, "dw.runSweep", {"uri": uri, "grid": grid})
    assert result["status"] == "error"
    assert message in result["error"]["message"]
