"""How bytes reach the server: stdio or TCP, framed by :mod:`.framing`, checked as JSON-RPC
here, then handed to the server's protocol (pygls 2 reads its streams itself; this module
replaces that loop, which a bad ``Content-Length`` killed or desynchronised for good).

* A :class:`~.framing.FramingError`, a body that is no UTF-8 JSON, or JSON that is no JSON-RPC
  message is answered with a JSON-RPC error (``id`` null when none can be read) and the stream
  goes on with the next message.
* **TCP** (:func:`serve_tcp`) listens on a loopback address only, and a connection must begin
  with ``initialize`` carrying ``initializationOptions.token`` equal to the server's token
  (compared in constant time). Anything else (no token, a wrong one, another first message,
  HTTP) is answered with an error and the connection closed before the protocol sees a byte of
  it: no settings, no commands, no worker. The first connection that passes *is* the session:
  the server stops listening, and exits when that session ends.
* The session ends at ``exit`` (exit code 0 after ``shutdown``, 1 without, as the LSP spec
  says) or at the end of the stream; the server's shutdown (which stops the worker) runs
  then if ``shutdown`` did not run it.

Imports pygls for its stdout writer only; never the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pygls.io_ import StdoutWriter

from dw_lsp.server.configuration import TOKEN
from dw_lsp.server.framing import (
    MAX_LINE_BYTES,
    MAX_MESSAGE_BYTES,
    BlockingSource,
    FramingError,
    MessageReader,
    StreamSource,
)
from dw_lsp.server.language_server import DwLanguageServer

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600

#: How long a TCP client has to send its first message.
FIRST_MESSAGE_TIMEOUT_S = 10.0
#: The largest first message of an unauthenticated TCP connection.
FIRST_MESSAGE_MAX_BYTES = 2**20


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def decode(body: bytes) -> tuple[dict[str, Any] | None, Any, str | None]:
    """A body as a JSON-RPC message: ``(message, id, None)``, or ``(None, id, why)`` with
    the id to answer (None when there is none to read)."""
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, None, f"the message is not UTF-8 JSON: {exc}"
    if not isinstance(value, dict):
        return None, None, f"a message must be a JSON object, not {type(value).__name__}"
    msg_id = value.get("id")
    if "id" in value and not _valid_id(msg_id):
        return None, None, "a message id must be a string or an integer"
    if value.get("jsonrpc") != "2.0":
        return None, msg_id, 'a message must have "jsonrpc": "2.0"'
    if "method" in value and not isinstance(value["method"], str):
        return None, msg_id, "a message's method must be a string"
    if "method" not in value and "id" not in value:
        return None, None, "a message needs a method or an id"
    return value, msg_id, None


def send_error(ls: DwLanguageServer, msg_id: Any, code: int, message: str) -> None:
    """A JSON-RPC error response (``id`` null when none could be read)."""
    error = {"code": code, "message": message}
    ls.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})


def dispatch(ls: DwLanguageServer, frame: bytes | FramingError) -> None:
    """Hand one framed message to the protocol, answering what cannot be handed on."""
    if isinstance(frame, FramingError):
        logger.warning("Framing error: %s", frame.message)
        send_error(ls, None, PARSE_ERROR, frame.message)
        return
    message, msg_id, problem = decode(frame)
    if message is None:
        logger.warning("Refused a message: %s", problem)
        answerable = msg_id is not None
        send_error(ls, msg_id, INVALID_REQUEST if answerable else PARSE_ERROR, str(problem))
        return
    protocol = ls.protocol
    try:
        structured = protocol.structure_message(message)
    except Exception as exc:  # a response of the wrong shape: nobody waits for an answer
        logger.warning("Dropped a message that fits no JSON-RPC type: %s", exc)
        return
    try:
        protocol.handle_message(structured)
    except Exception:  # pygls answers a failing handler itself; never let one end the loop
        logger.exception("Could not handle %s", message.get("method", "a response"))


async def _session(ls: DwLanguageServer, reader: MessageReader) -> None:
    """Read and dispatch messages until ``exit`` or the end of the stream."""
    while ls.protocol.exit_code is None:
        frame = await reader.read()
        if frame is None:
            return
        dispatch(ls, frame)


async def _finish(ls: DwLanguageServer) -> int:
    """End the session's work if ``shutdown`` did not; the process's exit code."""
    if not ls.protocol.shutdown_received:
        await ls.shutdown()
    code = ls.protocol.exit_code
    return 0 if code is None else code


# -- stdio -----------------------------------------------------------------------------------
def serve_stdio(ls: DwLanguageServer) -> int:
    """Serve one session over stdin/stdout; returns the exit code."""
    return asyncio.run(_stdio(ls))


def _same_file(a: Any, b: Any) -> bool:
    try:
        one, two = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (OSError, ValueError, AttributeError):
        return True  # unknown: the safe choice
    return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)


async def stdin_source(ls: DwLanguageServer) -> BlockingSource | StreamSource:
    """stdin, read by the event loop itself when it is a pipe, a socket or a terminal (what
    editors give): no thread hand-off per header line and body, which cost a small
    document's round trip a third of its time. A regular file falls back to reads in the
    server's thread pool."""
    if _same_file(sys.stdin.buffer, sys.stdout.buffer):
        # one tty or socket both ways: the loop would make it non-blocking for stdout too
        return BlockingSource(sys.stdin.buffer, ls.thread_pool)
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), sys.stdin.buffer)
    except (ValueError, OSError, NotImplementedError) as exc:
        logger.debug("stdin is read in threads: %s", exc)
        return BlockingSource(sys.stdin.buffer, ls.thread_pool)
    return StreamSource(stream)


async def _stdio(ls: DwLanguageServer) -> int:
    ls.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    reader = MessageReader(await stdin_source(ls))
    try:
        await _session(ls, reader)
    except OSError as exc:  # a broken pipe, a closed stdin
        logger.error("The client is gone (%s); stopping", exc)
    return await _finish(ls)


# -- TCP -------------------------------------------------------------------------------------
def token_refusal(message: Mapping[str, Any] | None, token: str) -> str | None:
    """Why a TCP connection's first message does not open a session (None: it does)."""
    if message is None or message.get("method") != "initialize" or "id" not in message:
        return "the first message on a TCP connection must be the initialize request"
    params = message.get("params")
    options = params.get("initializationOptions") if isinstance(params, Mapping) else None
    given = options.get(TOKEN) if isinstance(options, Mapping) else None
    if not isinstance(given, str):
        return f"initialize must carry the server's token in initializationOptions.{TOKEN}"
    expected = token.encode("utf-8")
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected):
        return f"initializationOptions.{TOKEN} is not the server's token"
    return None


#: The environment variable that may carry the TCP token (safer than ``--token``, which
#: other local users can read in the process list).
TOKEN_ENV = "DW_LSP_TOKEN"  # noqa: S105 (the variable's name, not a secret)


@dataclass(frozen=True)
class TcpEndpoint:
    """Where TCP mode listens and the token it requires."""

    host: str
    token: str
    generated: bool

    def announce(self, host: str, port: int) -> None:
        """Tell the user (stderr) where to connect, with the token when it was generated."""
        shown = f"[{host}]" if ":" in host else host
        if self.generated:
            tail = f"clients must send initializationOptions.token: {self.token}"
        else:
            tail = "clients must send the given token as initializationOptions.token"
        print(f"dw-lsp: listening on {shown}:{port}; {tail}", file=sys.stderr, flush=True)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tcp_endpoint(
    host: str, flag_token: str | None, environ: Mapping[str, str]
) -> TcpEndpoint | str:
    """The endpoint for ``serve --tcp``, or why it cannot listen: only a loopback address,
    and the token from ``--token``, else :data:`TOKEN_ENV`, else a fresh random one."""
    if host == "localhost":
        host = "127.0.0.1"
    if not _loopback(host):
        return (
            f"--host {host!r}: TCP mode listens on a loopback address only "
            "(127.0.0.1 or ::1); anyone who can connect could otherwise drive the server"
        )
    token = flag_token if flag_token is not None else environ.get(TOKEN_ENV)
    if token is None:
        return TcpEndpoint(host, secrets.token_urlsafe(32), generated=True)
    if not token.strip():
        return f"the TCP token (--token or {TOKEN_ENV}) is empty"
    return TcpEndpoint(host, token, generated=False)


def serve_tcp(
    ls: DwLanguageServer, host: str, port: int, token: str, announce: Callable[[str, int], None]
) -> int:
    """Serve one authenticated session on ``host:port``; returns the exit code.
    ``announce(host, port)`` is called once the port is open."""
    return asyncio.run(_tcp(ls, host, port, token, announce))


async def _refuse(writer: asyncio.StreamWriter, msg_id: Any, why: str) -> None:
    logger.warning("Refused a TCP connection: %s", why)
    if msg_id is not None:
        error = {"code": INVALID_REQUEST, "message": f"dw-lsp: {why}", "data": {"retry": False}}
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error}).encode()
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _tcp(
    ls: DwLanguageServer, host: str, port: int, token: str, announce: Callable[[str, int], None]
) -> int:
    session_over = asyncio.Event()
    taken = False
    writers: list[asyncio.StreamWriter] = []

    async def connection(stream: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal taken
        reader = MessageReader(StreamSource(stream), FIRST_MESSAGE_MAX_BYTES)
        try:
            first = await asyncio.wait_for(reader.read(), FIRST_MESSAGE_TIMEOUT_S)
        except (TimeoutError, OSError):
            first = None
        message, msg_id, problem = (
            decode(first) if isinstance(first, bytes) else (None, None, "not an LSP message")
        )
        why = token_refusal(message, token) if problem is None else problem
        if why is None and taken:
            why = "another client already has this server's session"
        if why is not None:
            await _refuse(writer, msg_id, why)
            return
        taken = True
        writers.append(writer)
        server.close()  # one session per server: stop listening
        reader.max_bytes = MAX_MESSAGE_BYTES
        ls.protocol.set_writer(writer)
        try:
            if isinstance(first, bytes):  # always: a refusal covers every other case
                dispatch(ls, first)
            await _session(ls, reader)
        except (ConnectionError, OSError) as exc:
            logger.error("The TCP client is gone: %s", exc)
        finally:
            session_over.set()

    server = await asyncio.start_server(connection, host, port, limit=MAX_LINE_BYTES)
    bound = server.sockets[0].getsockname()
    announce(str(bound[0]), int(bound[1]))
    await session_over.wait()
    code = await _finish(ls)
    for writer in writers:
        writer.close()
    return code
