"""The worker process and its JSON-RPC protocol: handshake, malformed input, stray stdout,
answers during a run, BUSY, exit on end of input and on a poisoned CUDA context."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from dwtest_worker import WorkerProcess, execute_params, progress_of, tiny_sd_step, write_workflow

from dw_lsp import protocol

pytestmark = pytest.mark.slow

TEST_MODULES = ["dwtest_pipelines"]


def custom_step(name: str, component_type: str, **arguments: object) -> dict[str, object]:
    return {
        "name": name,
        "pipeline": {
            "configuration": {"component_type": f"dwtest_pipelines.{component_type}"},
            "from_pretrained_arguments": {},
            "arguments": arguments,
        },
        "result": {"content_type": "text/plain"},
    }


def test_handshake_reports_versions_pid_and_device(worker: WorkerProcess) -> None:
    reply = worker.result("initialize", {"protocolVersion": "1.0"})
    assert reply["protocolVersion"] == protocol.PROTOCOL_VERSION
    assert reply["pid"] == worker.proc.pid
    assert set(reply["versions"]) >= {"torch", "diffusers", "transformers"}
    assert reply["device"] == "cpu"


def test_a_different_major_version_is_refused(worker: WorkerProcess) -> None:
    reply = worker.request("initialize", {"protocolVersion": "2.0"})
    assert reply["error"]["code"] == protocol.VERSION_MISMATCH
    assert reply["error"]["data"] == {"protocolVersion": protocol.PROTOCOL_VERSION}


def test_malformed_input_gets_errors_not_a_crash(worker: WorkerProcess) -> None:
    worker.send_raw(b"{this is not json\n")
    worker.send_raw(b"\xff\xfe\n")
    worker.send_raw(b'["a", "list"]\n')
    errors = [worker.response(None) for _ in range(3)]
    assert [e["error"]["code"] for e in errors] == [
        protocol.PARSE_ERROR,
        protocol.PARSE_ERROR,
        protocol.INVALID_REQUEST,
    ]
    unknown = worker.request("noSuchMethod")
    assert unknown["error"]["code"] == protocol.METHOD_NOT_FOUND
    missing = worker.request("execute", {"arguments": {}})
    assert missing["error"]["code"] == protocol.INVALID_PARAMS
    assert "workflowPath" in missing["error"]["message"]
    assert worker.result("ping")["ready"] is True
    assert worker.corrupt_lines == []


def test_stray_stdout_from_a_library_does_not_corrupt_the_protocol(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(
        tmp_path / "noisy.json", [custom_step("talk", "NoisyPipeline", prompt="hi")]
    )
    result = worker.execute(workflow, tmp_path / "out", allowedModules=TEST_MODULES)
    assert result["status"] == "ok", result
    assert Path(result["outputs"][0]).read_text() == "noisy says hi"
    assert worker.corrupt_lines == []
    stderr = worker.stderr_tail(400)
    assert "stray print from NoisyPipeline.__init__" in stderr
    assert "stray bytes on fd 1" in stderr
    assert "stray progress 1" in stderr


def test_ping_memory_and_cancel_answer_during_a_run_and_execute_is_busy(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path / "long.json", [tiny_sd_step(steps=400)], seed=1)
    params = execute_params(workflow, tmp_path / "out")
    run = worker.send("execute", params)
    worker.wait_for(progress_of(params["runId"], "denoise"))
    started = time.monotonic()
    ping = worker.result("ping", timeout=5)
    memory = worker.result("memoryStatus", timeout=5)
    busy = worker.request("execute", execute_params(workflow, tmp_path / "out"), timeout=5)
    answered = time.monotonic() - started
    assert ping["busy"] is True
    assert memory["device"] == "cpu" and memory["allocatedMb"] > 0
    assert busy["error"]["code"] == protocol.BUSY
    assert answered < 3.0
    assert worker.result("cancel", {"runId": "another-run"}, timeout=5) == {"cancelled": False}
    assert worker.result("cancel", {"runId": params["runId"]}, timeout=5) == {"cancelled": True}
    assert worker.response(run)["result"]["status"] == "cancelled"
    assert worker.result("cancel") == {"cancelled": False}


def test_closing_stdin_ends_the_worker_even_mid_run(
    start_worker: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    process = start_worker()
    workflow = write_workflow(
        tmp_path / "slow.json", [custom_step("wait", "SlowPipeline", num_inference_steps=600)]
    )
    params = execute_params(workflow, tmp_path / "out", allowedModules=TEST_MODULES)
    process.send("execute", params)
    process.wait_for(progress_of(params["runId"], "denoise"))
    assert process.proc.stdin is not None
    started = time.monotonic()
    process.proc.stdin.close()
    assert process.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 20.0


def test_a_poisoned_cuda_context_sends_the_error_then_exits_with_3(
    start_worker: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    process = start_worker()
    workflow = write_workflow(tmp_path / "poison.json", [custom_step("boom", "PoisonPipeline")])
    result = process.execute(workflow, tmp_path / "out", allowedModules=TEST_MODULES)
    assert result["status"] == "error"
    assert "illegal memory access" in result["error"]
    assert process.proc.wait(timeout=10) == 3


def test_ping_answers_at_once_while_torch_loads_then_shutdown_exits(
    cache_dir: Path, tmp_path: Path
) -> None:
    process = WorkerProcess(cache_dir, tmp_path / "stderr.txt")
    try:
        started = time.monotonic()
        initialize = process.send("initialize", {"protocolVersion": "1.0"})
        early = process.result("ping", timeout=30)
        assert early["ready"] is False and time.monotonic() - started < 20.0
        assert process.response(initialize, timeout=120)["result"]["device"] == "cpu"
        assert process.result("ping")["ready"] is True
        assert process.result("shutdown") == {}
        assert process.proc.wait(timeout=10) == 0
    finally:
        process.close()
