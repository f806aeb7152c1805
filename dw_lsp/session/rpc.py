"""The client's half of the JSON-RPC with the worker: its errors, the requests waiting for
an answer, and the decoding of what comes back.

:class:`PendingRequests` numbers requests and settles each one's future with the answer
that carries its id; the wire format itself is :mod:`dw_lsp.protocol`'s. No process
handling (:mod:`.process`), no LSP types, no torch; never imports the server or the worker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import MemoryStatus


class WorkerError(Exception):
    """The worker could not do what was asked: it is gone, unanswering or refused."""


class WorkerRequestError(WorkerError):
    """The worker answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class PendingRequests:
    """Requests sent to the worker and not answered yet, by id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}

    def open(self) -> tuple[int, asyncio.Future[Any]]:
        """A fresh id and the future its answer will settle."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        msg_id = next(self._ids)
        self._pending[msg_id] = future
        # A request given up on (timed out) may fail later: never warn that nobody looked.
        future.add_done_callback(_retrieve)
        return msg_id, future

    def settle(self, msg: dict[str, Any]) -> bool:
        """Settle the request that ``msg`` answers; False when none is waiting for it."""
        msg_id = msg.get("id")
        future = self._pending.pop(msg_id, None) if isinstance(msg_id, int) else None
        if future is None or future.done():
            return False
        error = msg.get("error")
        if isinstance(error, dict):
            future.set_exception(
                WorkerRequestError(
                    int(error.get("code", protocol.INTERNAL_ERROR)),
                    str(error.get("message", "worker error")),
                    error.get("data"),
                )
            )
        else:
            future.set_result(msg.get("result"))
        return True

    def fail_all(self, message: str) -> None:
        """Fail every waiting request with :class:`WorkerError` (``message``)."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(WorkerError(message))
        self._pending.clear()


def decode(text: str) -> dict[str, Any] | None:
    """One protocol line -> its JSON object, or None when it is not one."""
    try:
        msg = json.loads(text)
    except json.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


def memory_from_json(data: Any) -> MemoryStatus:
    """A ``memoryStatus`` / ``clearMemory`` answer -> :class:`MemoryStatus`."""
    if not isinstance(data, dict):
        raise WorkerError(f"The worker answered a memory request with {data!r}")
    known = MemoryStatus.__dataclass_fields__
    try:
        return MemoryStatus(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise WorkerError(f"Malformed memory status from the worker: {exc}") from exc


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
