"""The JSON-RPC adapter with a fake runtime: what only timing can show (the result is sent
before the cleanup, a request arriving during the cleanup waits for it, BUSY during a run).
No torch here: the adapter must not need it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from typing import Any

from dw_lsp import protocol
from dw_lsp.worker.rpc import Channel, Server


class Recorder(io.RawIOBase):
    """A binary stream that keeps each written line with the time it was written."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        with self.changed:
            for line in bytes(data).decode().splitlines():
                self.lines.append((time.monotonic(), json.loads(line)))
            self.changed.notify_all()
        return len(data)

    def wait_for_id(self, msg_id: Any, timeout: float = 10.0) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for stamp, message in self.lines:
                    if message.get("id") == msg_id and "method" not in message:
                        return stamp, message
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no response {msg_id}: {self.lines}"
                self.changed.wait(remaining)


class FakeRuntime:
    """Runs take ``RUN_S``, the cleanup after each run ``CLEANUP_S``."""

    RUN_S = 0.3
    CLEANUP_S = 0.6
    device = "cpu"
    poisoned = False

    def __init__(self) -> None:
        self.total_runs = 0
        self.cleanup_ended: list[float] = []
        self.run_started: list[float] = []

    def versions(self) -> dict[str, str]:
        return {"torch": "fake"}

    def execute(self, params: protocol.ExecuteParams, on_progress: Any) -> protocol.ExecuteResult:
        self.run_started.append(time.monotonic())
        self.total_runs += 1
        time.sleep(self.RUN_S)
        return protocol.ExecuteResult(status=protocol.OK, runs=self.total_runs)

    def after_run(self) -> None:
        time.sleep(self.CLEANUP_S)
        self.cleanup_ended.append(time.monotonic())

    def cancel(self, run_id: str | None = None) -> bool:
        return False


def start() -> tuple[Server, Recorder, FakeRuntime]:
    runtime = FakeRuntime()
    recorder = Recorder()
    server = Server(Channel(recorder), lambda: runtime)  # type: ignore[arg-type,return-value]
    server.start()
    return server, recorder, runtime


def send(server: Server, msg_id: int, method: str, params: dict[str, Any] | None = None) -> None:
    line = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}
    server.handle_line(json.dumps(line).encode())


EXECUTE = {"workflowPath": "/w.json", "outputDir": "/out"}


def test_the_result_is_sent_before_the_cleanup_and_the_next_run_waits_for_it() -> None:
    server, recorder, runtime = start()
    send(server, 1, "execute", EXECUTE)
    sent, first = recorder.wait_for_id(1)
    assert first["result"]["status"] == "ok"
    assert runtime.cleanup_ended == []  # the reply did not wait for the cleanup
    send(server, 2, "ping")
    assert recorder.wait_for_id(2)[1]["result"]["busy"] is False
    send(server, 3, "execute", EXECUTE)  # arrives during the cleanup: queued, not BUSY
    _, second = recorder.wait_for_id(3)
    assert second["result"]["runs"] == 2
    assert runtime.run_started[1] >= runtime.cleanup_ended[0]
    assert runtime.cleanup_ended[0] - sent >= FakeRuntime.CLEANUP_S * 0.9


def test_a_second_execute_during_a_run_is_busy_and_ping_answers() -> None:
    server, recorder, _ = start()
    send(server, 1, "execute", EXECUTE)
    time.sleep(0.05)
    started = time.monotonic()
    send(server, 2, "execute", EXECUTE)
    send(server, 3, "ping")
    _, busy = recorder.wait_for_id(2)
    _, ping = recorder.wait_for_id(3)
    assert time.monotonic() - started < FakeRuntime.RUN_S
    assert busy["error"]["code"] == protocol.BUSY
    assert ping["result"] == {"ready": True, "busy": True, "runs": 1}
    recorder.wait_for_id(1)


def test_the_adapter_and_the_entry_point_import_no_machine_learning_library() -> None:
    code = (
        "import sys, dw_lsp.worker.rpc, dw_lsp.worker.__main__; "
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_missing_library_fails_the_handshake_with_the_fix() -> None:
    def factory() -> Any:
        raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")

    recorder = Recorder()
    server = Server(Channel(recorder), factory)
    server.start()
    send(server, 1, "initialize", {"protocolVersion": protocol.PROTOCOL_VERSION})
    _, answer = recorder.wait_for_id(1)
    message = answer["error"]["message"]
    assert "No module named 'diffusers'" in message
    assert "pip install 'dw-lsp[worker]'" in message and "worker.command" in message
    assert "Traceback" in answer["error"]["data"]
