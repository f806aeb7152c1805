"""No worker outlives its front end: ``python -m dw_lsp`` is started as a subprocess speaking
LSP, a workflow is opened so that ``worker.prewarm`` starts a worker, then the server is
SIGKILLed; the worker sees its stdin close and must be gone within a few seconds."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


class RawLsp:
    """Just enough of an LSP client: framed JSON-RPC over the server's pipes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dw_lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._buffer = b""
        self._id = 0

    def send(self, method: str, params: Any, request: bool = True) -> int:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self._id += 1
            message["id"] = self._id
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return self._id

    def response(self, msg_id: int, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._next(deadline - time.monotonic())
            if message is None:
                continue
            if message.get("id") == msg_id and "method" not in message:
                return message.get("result")
            if "id" in message and "method" in message:  # a request from the server
                self._reply(message["id"])
        raise AssertionError(f"no response to {msg_id}")

    def _reply(self, msg_id: Any) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": None}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _next(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if sep:
                headers = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
                length = int(headers[b"Content-Length"])
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    return json.loads(rest[:length])  # type: ignore[no-any-return]
            ready, _, _ = select.select([fd], [], [], max(timeout, 0.01))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError("the server closed its output")
            self._buffer += chunk


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent, the killed server, cannot reap it).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _prewarmed_worker_pid(tmp_path: Path, worker_command: list[str] | None) -> tuple[RawLsp, int]:
    workflow = tmp_path / "w.json"
    workflow.write_text(json.dumps({"id": "w", "steps": []}))
    options: dict[str, Any] = {"worker": {"prewarm": True}}
    if worker_command is not None:
        options["worker"]["command"] = worker_command
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    lsp = RawLsp(env)
    init = lsp.send(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": {},
            "initializationOptions": options,
        },
    )
    lsp.response(init)
    lsp.send("initialized", {}, request=False)
    lsp.send(
        "textDocument/didOpen",
        {
            "textDocument": {
                "uri": workflow.as_uri(),
                "languageId": "json",
                "version": 1,
                "text": workflow.read_text(),
            }
        },
        request=False,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = lsp.response(
            lsp.send("workspace/executeCommand", {"command": "dw.status", "arguments": [{}]})
        )
        pid = status["worker"]["pid"]
        if pid:
            return lsp, int(pid)
        time.sleep(0.1)
    raise AssertionError("prewarm started no worker")


def _kill_server_and_check(lsp: RawLsp, worker_pid: int) -> None:
    assert _alive(worker_pid)
    lsp.proc.send_signal(signal.SIGKILL)
    lsp.proc.wait(10)
    deadline = time.monotonic() + 5
    while _alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker_pid), "the worker outlived the SIGKILLed server"


def test_sigkilled_server_leaves_no_fake_worker(tmp_path: Path) -> None:
    lsp, pid = _prewarmed_worker_pid(tmp_path, [sys.executable, str(FAKE_WORKER)])
    _kill_server_and_check(lsp, pid)


@pytest.mark.slow
def test_sigkilled_server_leaves_no_real_worker(tmp_path: Path) -> None:
    lsp, pid = _prewarmed_worker_pid(tmp_path, None)
    time.sleep(1.0)  # let it get into its imports
    _kill_server_and_check(lsp, pid)
