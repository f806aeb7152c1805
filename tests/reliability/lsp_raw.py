"""A raw LSP client for the reliability suite: it drives a real ``dw-lsp`` process over stdio
(or a TCP socket) and writes whatever bytes a test wants, framed or not, so malformed headers,
broken JSON and wrong types reach the server exactly as written. The server's own messages are
read with a strict parser; the client answers nothing the server asks (its capabilities are
empty, so the server asks nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

SERVER = [sys.executable, "-m", "dw_lsp"]

#: A worker command that fails at once: no test here needs the worker, and an accidental start
#: must not import torch.
NO_WORKER = [sys.executable, "-c", "raise SystemExit(3)"]


def frame(body: bytes | dict[str, Any]) -> bytes:
    """``body`` with a correct Content-Length header."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(data) + data


def marker_command(marker: Path) -> list[str]:
    """A ``worker.command`` that only proves it ran: it writes ``marker`` and exits."""
    code = f"open({str(marker)!r}, 'w').write('ran')"
    return [sys.executable, "-c", code]


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The server's next message, or None when the stream ends."""
    length = None
    while True:
        line = await reader.readline()
        if not line:
            return None
        if not line.strip():
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    assert length is not None, "the server sent a message without Content-Length"
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


class RawClient:
    """One connection to a server: send bytes, send messages, wait for answers."""

    def __init__(self, reader: asyncio.StreamReader, write: Any) -> None:
        self.received: list[dict[str, Any]] = []
        #: What ``workspace/configuration`` answers for the ``dwLsp`` section.
        self.configuration: Any = None
        self._write = write
        self._ids = itertools.count(1)
        self._reading = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while (message := await read_frame(reader)) is not None:
            self.received.append(message)
            if "method" in message and "id" in message:  # a request from the server
                result: Any = None
                if message["method"] == "workspace/configuration":
                    result = [self.configuration for _ in message["params"]["items"]]
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    # -- sending ---------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._write(data)

    def send(self, message: dict[str, Any]) -> None:
        self.write(frame(message))

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def next_id(self) -> int:
        return next(self._ids) + 10_000

    def send_request(self, method: str, params: Any = None) -> int:
        msg_id = self.next_id()
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    async def request(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a request and return the server's response message (result or error)."""
        return await self.response(self.send_request(method, params), timeout)

    # -- receiving -------------------------------------------------------------------
    def response_to(self, msg_id: Any) -> dict[str, Any] | None:
        for message in self.received:
            if "method" not in message and message.get("id") == msg_id:
                return message
        return None

    async def response(self, msg_id: Any, timeout: float = 10) -> dict[str, Any]:
        await self.wait_for(lambda: self.response_to(msg_id) is not None, timeout)
        found = self.response_to(msg_id)
        assert found is not None
        return found

    async def wait_for(self, condition: Any, timeout: float = 10) -> None:
        async def poll() -> None:
            while not condition():
                if self._reading.done():
                    raise ConnectionError("the server closed the connection")
                await asyncio.sleep(0.01)

        await asyncio.wait_for(poll(), timeout)

    def notifications(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("method") == method and "id" not in m]

    def shown(self) -> list[str]:
        """The messages of every ``window/showMessage``."""
        return [m["params"]["message"] for m in self.notifications("window/showMessage")]

    def null_id_errors(self) -> list[dict[str, Any]]:
        return [m for m in self.received if "error" in m and m.get("id") is None]

    @property
    def closed(self) -> bool:
        return self._reading.done()

    # -- the session -----------------------------------------------------------------
    async def initialize(
        self, options: Any = None, root: Path | None = None, pull_settings: bool = False
    ) -> dict[str, Any]:
        """``initialize`` then ``initialized``; ``pull_settings`` declares
        ``workspace/configuration`` (answered from :attr:`configuration`)."""
        capabilities = {"workspace": {"configuration": True}} if pull_settings else {}
        params: dict[str, Any] = {
            "processId": None,
            "capabilities": capabilities,
            "rootUri": root.as_uri() if root is not None else None,
            "initializationOptions": options,
        }
        if root is not None:
            params["workspaceFolders"] = [{"uri": root.as_uri(), "name": "ws"}]
        # The first answer waits for the server to start: generous on a loaded machine.
        answer = await self.request("initialize", params, timeout=60)
        if "result" in answer:
            self.notify("initialized", {})
        return answer

    async def alive(self, timeout: float = 5) -> bool:
        """Whether the server answers a valid request (``dw.status``) correctly."""
        try:
            answer = await self.request(
                "workspace/executeCommand", {"command": "dw.status", "arguments": [{}]}, timeout
            )
        except (TimeoutError, ConnectionError):
            return False
        return answer.get("result", {}).get("status") == "ok"

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "json", "version": version, "text": text}},
        )
        return uri

    async def published(self, uri: str, timeout: float = 10) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for m in self.notifications("textDocument/publishDiagnostics"):
                if m["params"]["uri"] == uri:
                    return m["params"]  # type: ignore[no-any-return]
            return None

        await self.wait_for(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    async def stop_reading(self) -> None:
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reading


class TcpClient(RawClient):
    """One TCP connection to ``dw-lsp serve --tcp``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer.write)
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> TcpClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**26)
        return cls(reader, writer)

    async def wait_closed_by_server(self, timeout: float = 10) -> None:
        await asyncio.wait_for(asyncio.shield(self._reading), timeout)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        await self.stop_reading()


class RawServer(RawClient):
    """A ``dw-lsp`` process on stdio."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        assert process.stdin is not None and process.stdout is not None
        stdin = process.stdin
        super().__init__(process.stdout, stdin.write)
        self.process = process
        self.stderr_path = stderr
        self._stdin = stdin

    @classmethod
    async def start(cls, stderr: Path, *args: str) -> RawServer:
        with stderr.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                *SERVER,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                limit=2**26,
            )
        return cls(process, stderr)

    async def drain(self) -> None:
        await self._stdin.drain()

    async def exit_code(self, timeout: float = 15) -> int:
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def close(self) -> None:
        """Shut the server down politely if it still listens; kill it otherwise."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.request("shutdown", None, timeout=15)
                self.notify("exit")
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self.stop_reading()

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")
