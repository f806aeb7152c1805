"""``worker.prewarm`` over a real LSP round trip with the real worker (issue 11, item 9):
opening a workflow starts the worker and has it resolve the classes the saved file names
(the worker's ``prepare``), so the first run does not pay for diffusers' and transformers'
lazy imports. ``dw.status`` says when the prewarm is over; the output channel says the file
was prepared; a run then works. A file that fails its check is not prepared (its run names
the problem), but the worker still starts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from dwtest_lsp import open_document
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"


async def command(client: LanguageClient, name: str, argument: dict[str, Any]) -> Any:
    params = types.ExecuteCommandParams(command=name, arguments=[argument])
    return await client.workspace_execute_command_async(params)


def said(client: LanguageClient, text: str) -> bool:
    return any(text in m.message for m in client.log_messages)


async def prewarm_over(client: LanguageClient) -> dict[str, Any]:
    status: dict[str, Any] = {}

    async def over() -> bool:
        nonlocal status
        status = await command(client, "dw.status", {})
        return status["worker"]["state"] == "ready" and not status["worker"]["prewarming"]

    for _ in range(1200):
        if await over():
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"the prewarm did not end: {status}")


async def test_opening_a_workflow_prepares_its_classes_before_the_first_run(
    prewarmed: LanguageClient, workspace: Path
) -> None:
    path = workspace / "tiny-sd.json"
    text = TINY.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    uri = open_document(prewarmed, path, text)
    status = await prewarm_over(prewarmed)
    assert status["runs"] == {}, status  # the prepare is no run
    assert said(prewarmed, "Prepared tiny-sd.json: the classes it names are imported")
    result = await command(prewarmed, "dw.run", {"uri": uri})
    assert result["status"] == "ok", result
    assert all(Path(p).is_file() for p in result["outputs"]) and result["outputs"]


async def test_a_workflow_that_fails_its_check_starts_the_worker_unprepared(
    prewarmed: LanguageClient, workspace: Path
) -> None:
    document = json.loads(TINY.read_text(encoding="utf-8"))
    document["steps"][0]["pipeline"]["arguments"]["prompt"] = "variable:missing"
    path = workspace / "broken.json"
    text = json.dumps(document, indent=2)
    path.write_text(text, encoding="utf-8")
    uri = open_document(prewarmed, path, text)
    await prewarm_over(prewarmed)
    assert not said(prewarmed, "Prepared broken.json")
    refused = await command(prewarmed, "dw.run", {"uri": uri})
    assert refused["status"] == "error", refused
    assert "DW202 Variable 'missing' is not declared" in refused["error"]["message"]
