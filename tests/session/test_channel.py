"""The worker channel is total: what the session accepts from the worker, what it refuses as
malformed (naming the field), and noise that must not hide a message. The end-to-end cases
(a malformed message fails the run, restarts the worker, the next run is ok) are in
tests/reliability/test_faults.py."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dw_lsp import protocol
from dw_lsp.protocol import ProtocolError
from dw_lsp.session.client import WorkerClient
from dw_lsp.session.rpc import check_envelope, check_initialize, decode

ANSWER = {"jsonrpc": "2.0", "id": 3, "result": {"status": "ok"}}
LINE = json.dumps(ANSWER)


@pytest.mark.parametrize(
    ("text", "message", "noise"),
    [
        (LINE, ANSWER, ""),
        ("Last login: Mon from 10.0.0.1 " + LINE, ANSWER, "Last login: Mon from 10.0.0.1"),
        ("Welcome {user} " + LINE, ANSWER, "Welcome {user}"),
        (LINE + " trailing", ANSWER, "trailing"),
        ("just a library talking", None, "just a library talking"),
        ('{"progress": 3}', None, '{"progress": 3}'),
        ("[" * 100_000, None, "[" * 100_000),
    ],
)
def test_decode_finds_the_message_behind_noise(
    text: str, message: dict[str, Any] | None, noise: str
) -> None:
    assert decode(text) == (message, noise)


@pytest.mark.parametrize(
    ("msg", "complaint"),
    [
        ({"jsonrpc": "1.0", "id": 1, "result": 1}, '"jsonrpc" must be "2.0"'),
        ({"id": 1, "result": 1}, '"jsonrpc" must be "2.0"'),
        ({"jsonrpc": "2.0", "method": 5}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": "x", "id": 1}, "may only answer"),
        ({"jsonrpc": "2.0", "id": "1", "result": 1}, "id must be an integer"),
        ({"jsonrpc": "2.0", "id": True, "result": 1}, "id must be an integer"),
        ({"jsonrpc": "2.0", "id": 1}, "one of result and error"),
        ({"jsonrpc": "2.0", "id": 1, "result": 1, "error": {}}, "one of result and error"),
        ({"jsonrpc": "2.0", "id": 1, "error": "broke"}, "must be an object"),
        ({"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": "m"}}, "code must be"),
        ({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": None}}, "message must be"),
    ],
)
def test_a_broken_envelope_is_refused_naming_what_is_wrong(
    msg: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        check_envelope(msg)


def test_a_sound_envelope_passes() -> None:
    check_envelope(ANSWER)
    check_envelope({"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "m", "data": 1}})
    check_envelope({"jsonrpc": "2.0", "method": "progress", "params": {}})


def _progress(**fields: Any) -> dict[str, Any]:
    return {"runId": "r", "phase": "denoise", "message": "m", "percent": 10, **fields}


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        (_progress(percent="abc"), "progress.percent must be a finite number, got 'abc'"),
        (_progress(percent=None), "progress.percent must be a finite number"),
        (_progress(percent=math.nan), "progress.percent must be a finite number"),
        (_progress(percent=math.inf), "progress.percent must be a finite number"),
        (_progress(percent=True), "progress.percent must be a finite number"),
        (_progress(stepIndex=1.5), "progress.stepIndex must be an integer"),
        (_progress(message=["x"]), "progress.message must be a string"),
        ({"runId": "r", "phase": "p", "message": "m"}, "lacks the field 'percent'"),
        ([1, 2], "progress must be an object"),
    ],
)
def test_a_malformed_progress_is_refused(params: Any, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        protocol.progress_from_json(params)


def test_progress_is_clamped_and_unknown_keys_ignored() -> None:
    event = protocol.progress_from_json(_progress(percent=250, newField={"a": 1}))
    assert event.percent == 100.0 and event.runId == "r"


@pytest.mark.parametrize(
    ("result", "complaint"),
    [
        ({"status": "fine"}, "status must be ok, error or cancelled"),
        ({"status": 42}, "status must be a string"),
        ({"status": "ok", "outputs": "a.png"}, "outputs must be a list of strings"),
        ({"status": "ok", "outputs": [1]}, "outputs must be a list of strings"),
        ({"status": "ok", "timings": {"load": "slow"}}, "timings.load must be a finite number"),
        ({"status": "ok", "cache": {"reused": "x"}}, "cache.reused must be a list of strings"),
        ({"status": "ok", "memory": {"device": "cpu"}}, "memory lacks the field 'cuda'"),
        ({"status": "ok", "runs": "2"}, "runs must be an integer"),
        ({"status": "ok", "error": 3}, "error must be a string or null"),
        ({"status": "ok", "fileChanged": "yes"}, "fileChanged must be true or false"),
        (None, "must be an object"),
    ],
)
def test_a_malformed_execute_result_is_refused(result: Any, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        protocol.execute_result_from_json(result)


def test_an_execute_result_round_trips() -> None:
    result = protocol.ExecuteResult(status="ok", outputs=["a.png"], runs=2, warnings=["w"])
    wire = json.loads(protocol.response(1, result))["result"]
    assert protocol.execute_result_from_json(wire) == result


def test_the_handshake_answer_is_checked() -> None:
    assert check_initialize({"protocolVersion": "1.0", "pid": 3})["pid"] == 3
    for bad in ("ready", {"pid": 3}, {"protocolVersion": 1}):
        with pytest.raises(ProtocolError, match="initialize"):
            check_initialize(bad)


async def test_a_failing_progress_sink_does_not_stop_the_reader(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    client = WorkerClient(fake_command())

    def broken(_event: protocol.Progress) -> None:
        raise RuntimeError("the front end has a bug")

    try:
        params = protocol.ExecuteParams(workflowPath="w.json", outputDir=str(tmp_path), runId="r")
        result = await client.execute(params, broken, timeout=10)
        assert result.status == "ok"
        assert (await client.request(protocol.PING))["ready"] is True
    finally:
        await client.stop()
