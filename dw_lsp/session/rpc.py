"""The client's half of the JSON-RPC with the worker: its errors, the requests waiting for
an answer, and the decoding and checking of what comes back.

:class:`PendingRequests` numbers requests and settles each one's future with the answer
that carries its id; the wire format itself is :mod:`dw_lsp.protocol`'s. :func:`decode`
finds the message in a line (noise around it, such as an ssh banner without its newline, is
returned apart, not mistaken for the message) and :func:`check_envelope` refuses a message
that breaks JSON-RPC 2.0 as this protocol uses it, with :class:`~dw_lsp.protocol.ProtocolError`.
No process handling (:mod:`.process`), no LSP types, no torch; never imports the server or
the worker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import MemoryStatus, ProtocolError, shown

#: Keys that make a JSON object a protocol message (checked, never taken for noise).
_MESSAGE_KEYS = ("jsonrpc", "id", "method", "result", "error")
#: Positions tried when looking for a message after noise on the same line.
_MAX_STARTS = 100


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
        """Settle the request that ``msg`` (checked by :func:`check_envelope`) answers;
        False when none is waiting for it."""
        msg_id = msg.get("id")
        future = self._pending.pop(msg_id, None) if isinstance(msg_id, int) else None
        if future is None or future.done():
            return False
        error = msg.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            future.set_exception(
                WorkerRequestError(
                    code if isinstance(code, int) else protocol.INTERNAL_ERROR,
                    message if isinstance(message, str) else "worker error",
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


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and any(key in value for key in _MESSAGE_KEYS)


def decode(text: str) -> tuple[dict[str, Any] | None, str]:
    """One line from the worker -> (the protocol message in it or None, the noise around it).

    A line that is not a message may still end in one, after text that lacked its newline:
    the first JSON object in the line that is a message is taken, the rest is noise."""
    try:
        whole = json.loads(text)
    except (ValueError, RecursionError):
        whole = None
    else:
        return (whole, "") if _is_message(whole) else (None, text)
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(_MAX_STARTS):
        if start < 0:
            break
        try:
            found, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            found = None
        if _is_message(found):
            return found, f"{text[:start]} {text[end:]}".strip()
        start = text.find("{", start + 1)
    return None, text


def check_envelope(msg: dict[str, Any]) -> None:
    """Refuse a message that is not JSON-RPC 2.0 as the worker must speak it: a
    notification (a string ``method``, no ``id``) or an answer (an integer ``id`` and
    exactly one of ``result`` and ``error``, an error being ``{code: int, message: str}``)."""
    if msg.get("jsonrpc") != "2.0":
        raise ProtocolError(f'"jsonrpc" must be "2.0", got {shown(msg.get("jsonrpc"))}')
    if "method" in msg:
        if not isinstance(msg["method"], str):
            raise ProtocolError(f"method must be a string, got {shown(msg['method'])}")
        if "id" in msg:
            raise ProtocolError(f"the worker sent a request ({msg['method']}); it may only answer")
        return
    msg_id = msg.get("id")
    if not isinstance(msg_id, int) or isinstance(msg_id, bool):
        raise ProtocolError(f"an answer's id must be an integer, got {shown(msg_id)}")
    if ("result" in msg) == ("error" in msg):
        raise ProtocolError(f"the answer to request {msg_id} must hold one of result and error")
    if "error" in msg:
        error = msg["error"]
        if not isinstance(error, dict):
            raise ProtocolError(f"the error answering request {msg_id} must be an object")
        code, message = error.get("code"), error.get("message")
        if not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError(f"an error code must be an integer, got {shown(code)}")
        if not isinstance(message, str):
            raise ProtocolError(f"an error message must be a string, got {shown(message)}")


def check_initialize(data: Any) -> dict[str, Any]:
    """The worker's answer to ``initialize``: an object with its ``protocolVersion``."""
    if not isinstance(data, dict):
        raise ProtocolError(f"the answer to initialize must be an object, got {shown(data)}")
    version = data.get("protocolVersion")
    if not isinstance(version, str):
        raise ProtocolError(
            f"the answer to initialize lacks a protocolVersion string: {shown(data)}"
        )
    return data


def memory_from_json(data: Any) -> MemoryStatus:
    """A ``memoryStatus`` / ``clearMemory`` answer -> :class:`MemoryStatus` (ProtocolError
    when it is malformed)."""
    return protocol.memory_status_from_json(data)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def malformed_reason(exc: ProtocolError) -> str:
    """Why the worker is stopped after a message that breaks the protocol."""
    return f"The worker sent a malformed message ({exc}), so it was stopped"
