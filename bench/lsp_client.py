"""A small LSP client over a subprocess's stdin/stdout, for benchmarks.

Frames JSON-RPC messages with ``Content-Length`` headers, matches answers to requests by
id, answers the server's own requests (``workspace/configuration`` from a settings
mapping, anything else with ``null``) and keeps the notifications it receives. Every wait
has a timeout, and :meth:`LspClient.close` ends the server politely (``shutdown``,
``exit``) and then by force. Each answer carries the ``time.perf_counter()`` at which its
last byte arrived, before the client decodes it, so a timing measures the server and the
pipe, not this client's JSON decoder.

Imports nothing from dw_lsp: it drives any language server the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Generous: a 1.1 MB document's first check can take seconds on a busy 2-core machine.
DEFAULT_TIMEOUT_S = 120.0


class LspError(RuntimeError):
    """The server answered with an error, exited, or did not answer in time."""


class LspClient:
    """One language server process and the JSON-RPC conversation with it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        stderr_path: Path,
        settings: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.cwd = cwd
        self.stderr_path = stderr_path
        self.settings: Mapping[str, Any] = settings or {}
        self.env = dict(env) if env is not None else None
        self.notifications: dict[str, list[Any]] = defaultdict(list)
        self.capabilities: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], float]]] = {}
        self._next_id = 0
        self._stderr: Any = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    # -- process ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._stderr = self.stderr_path.open("wb")
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
            limit=1 << 20,
        )
        self._reader = asyncio.create_task(self._read_loop())

    async def initialize(
        self, params: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S
    ) -> dict[str, Any]:
        result = await self.request("initialize", params, timeout)
        self.capabilities = result.get("capabilities", {})
        await self.notify("initialized", {})
        return result

    async def close(self) -> None:
        """``shutdown`` + ``exit``; the process is killed if it has not ended in 10 s."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            try:
                await self.request("shutdown", None, timeout=10)
                await self.notify("exit", None)
            except (LspError, OSError):
                pass
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._stderr is not None:
            self._stderr.close()
        self._proc = None

    # -- messages --------------------------------------------------------------------------
    def _write(self, message: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            await self._proc.stdin.drain()
        except (ConnectionError, OSError) as exc:
            raise LspError(f"{self.name}: cannot write to the server: {exc}") from exc

    def _start_request(
        self, method: str, params: Any
    ) -> asyncio.Future[tuple[dict[str, Any], float]]:
        self._next_id += 1
        future: asyncio.Future[tuple[dict[str, Any], float]]
        future = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        self._write({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return future

    async def _await(
        self,
        method: str,
        future: asyncio.Future[tuple[dict[str, Any], float]],
        timeout: float,
    ) -> tuple[Any, float]:
        try:
            message, received = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise LspError(f"{self.name}: no answer to {method} in {timeout:g} s") from exc
        if "error" in message:
            raise LspError(f"{self.name}: {method} failed: {message['error']}")
        return message.get("result"), received

    async def notify(self, method: str, params: Any) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})
        await self._drain()

    async def request(self, method: str, params: Any, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        future = self._start_request(method, params)
        await self._drain()
        return (await self._await(method, future, timeout))[0]

    async def timed(
        self,
        method: str,
        params: Any,
        before: Sequence[tuple[str, Any]] = (),
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> tuple[Any, float]:
        """Send the notifications ``before`` (an edit) and the request together; return
        the result and the milliseconds from the first byte written to the answer's last
        byte read."""
        start = time.perf_counter()
        for note_method, note_params in before:
            self._write({"jsonrpc": "2.0", "method": note_method, "params": note_params})
        future = self._start_request(method, params)
        await self._drain()
        result, received = await self._await(method, future, timeout)
        return result, (received - start) * 1000

    def _answer(self, message: dict[str, Any]) -> None:
        """Answer a request from the server: configuration from :attr:`settings`."""
        result: Any = None
        if message["method"] == "workspace/configuration":
            items = (message.get("params") or {}).get("items", [])
            result = [self.settings.get(item.get("section", ""), None) for item in items]
        self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})

    async def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        error: BaseException | None = None
        try:
            while True:
                length = -1
                while True:
                    line = await stream.readline()
                    if not line:
                        raise EOFError(f"{self.name} closed its output")
                    line = line.strip()
                    if not line:
                        break
                    key, _, value = line.decode("ascii").partition(":")
                    if key.strip().lower() == "content-length":
                        length = int(value)
                if length < 0:
                    raise LspError(f"{self.name}: a message without Content-Length")
                body = await stream.readexactly(length)
                received = time.perf_counter()
                message = json.loads(body)
                if "method" in message and "id" in message:
                    self._answer(message)
                    await self._drain()
                elif "id" in message:
                    future = self._pending.pop(message["id"], None)
                    if future is not None and not future.done():
                        future.set_result((message, received))
                else:
                    self.notifications[message.get("method", "")].append(message.get("params"))
        except asyncio.CancelledError:
            raise
        except (EOFError, asyncio.IncompleteReadError, LspError, ValueError, OSError) as exc:
            error = exc
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LspError(f"{self.name}: {error}; see {self.stderr_path}"))
        self._pending.clear()
