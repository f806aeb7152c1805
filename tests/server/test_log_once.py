"""Each log line reaches a stdio client once: a message the server sends as
``window/logMessage`` is not also written to stderr, which the client shows as well (VS
Code's output channel tagged each such stderr copy ``[error]``; issue 12).

A real ``python -m dw_lsp`` over raw stdio pipes: the test reads stdout's LSP frames and
stderr separately. ``dw.memory`` with a worker command that exits at once makes the session
log "Starting worker process..." and a failure, through the client channel.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

TIMEOUT_S = 60.0


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_frames(stream: IO[bytes], into: queue.Queue[dict[str, Any] | None]) -> None:
    while True:
        length = None
        while True:
            line = stream.readline()
            if not line:
                into.put(None)
                return
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        assert length is not None
        into.put(json.loads(stream.read(length)))


@pytest.fixture
def server(tmp_path: Path) -> Any:
    process = subprocess.Popen(
        [sys.executable, "-m", "dw_lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def test_log_messages_are_not_repeated_on_stderr(server: subprocess.Popen[bytes], tmp_path: Path):
    assert server.stdin is not None and server.stdout is not None and server.stderr is not None
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    threading.Thread(target=_read_frames, args=(server.stdout, messages), daemon=True).start()
    stderr_lines: list[str] = []
    stderr_reader = threading.Thread(
        target=lambda: stderr_lines.extend(line.decode() for line in server.stderr),  # type: ignore[union-attr]
        daemon=True,
    )
    stderr_reader.start()
    log_messages: list[str] = []

    def send(message: dict[str, Any]) -> None:
        server.stdin.write(_frame({"jsonrpc": "2.0", **message}))  # type: ignore[union-attr]
        server.stdin.flush()  # type: ignore[union-attr]

    def answer(request_id: int) -> dict[str, Any]:
        while True:
            message = messages.get(timeout=TIMEOUT_S)
            assert message is not None, "the server closed stdout"
            if message.get("method") == "window/logMessage":
                log_messages.append(message["params"]["message"])
            elif "id" in message and "method" in message:  # a request from the server
                send({"id": message["id"], "result": None})
            elif message.get("id") == request_id:
                return message

    exits_at_once = [sys.executable, "-c", "raise SystemExit(3)"]
    send(
        {
            "id": 1,
            "method": "initialize",
            "params": {
                "processId": None,
                "rootUri": tmp_path.as_uri(),
                "capabilities": {},
                "initializationOptions": {"worker": {"command": exits_at_once, "prewarm": False}},
            },
        }
    )
    answer(1)
    send({"method": "initialized", "params": {}})
    send(
        {
            "id": 2,
            "method": "workspace/executeCommand",
            "params": {"command": "dw.memory", "arguments": [{}]},
        }
    )
    assert answer(2)["result"]["status"] == "error"
    send({"id": 3, "method": "shutdown"})
    answer(3)
    send({"method": "exit"})
    server.wait(timeout=TIMEOUT_S)
    stderr_reader.join(TIMEOUT_S)

    assert any("Starting worker process" in message for message in log_messages), log_messages
    stderr = "".join(stderr_lines)
    repeated = [message for message in log_messages if message in stderr]
    assert not repeated, f"sent as window/logMessage and written to stderr: {repeated}"
