"""The LSP wire format, read defensively: header blocks, ``Content-Length`` and bodies.

:class:`MessageReader` turns a byte stream into message bodies (bytes) and
:class:`FramingError` values, and survives anything:

* ``Content-Length`` must be a decimal number of bytes from 1 to ``max_bytes`` (64 MiB by
  default, above the 50 MiB document limit). Anything else (negative, non-numeric, 2^62, two
  different values) makes the block a :class:`FramingError`; its body is never read, so no
  absurd length allocates memory or waits for bytes that never come.
* **Resynchronisation**: a ``Content-Length:`` header found after other bytes on the same line
  (the body of a refused message runs straight into the next header) starts a new block there.
  Lines that are no header are skipped, in chunks of at most 64 KiB, keeping the tail of each
  chunk so that a header split across two chunks is still found.
* An HTTP request line (``POST / HTTP/1.1``) marks the block as HTTP: its body is skipped
  (by its length, when valid) and the block is a :class:`FramingError`, so a web page's POST to
  a local port is never read as LSP.
* Header names are case-insensitive, ``\\n`` line ends are accepted as well as ``\\r\\n``,
  other headers (``Content-Type``) are ignored.

Knows nothing of JSON-RPC or pygls; imports neither, nor the worker.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

logger = logging.getLogger(__name__)

#: The largest message body read; larger ones are refused and skipped.
MAX_MESSAGE_BYTES = 64 * 2**20
#: The longest header line; longer lines are junk, skipped in chunks of this size.
MAX_LINE_BYTES = 64 * 2**10

_HEADER = b"content-length:"
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")
_HTTP_REQUEST = re.compile(rb"[A-Z]+ \S+ HTTP/\d(\.\d)?")
_DIGITS = re.compile(rb"[0-9]+")
#: A header longer than this is no header: carry at most this much into the next chunk.
_CARRY_LIMIT = 256


class ByteSource(Protocol):
    """Where bytes come from (stdin, a socket)."""

    async def readline(self, limit: int) -> bytes:
        """Up to ``limit`` bytes, ending at the first ``\\n``; ``b""`` at the end."""
        ...

    async def readexactly(self, n: int) -> bytes:
        """``n`` bytes, fewer only at the end of the stream."""
        ...


@dataclass(frozen=True)
class FramingError:
    """A header block that does not frame a message; ``message`` says why."""

    message: str


class BlockingSource:
    """A blocking binary stream (stdin) read in ``executor``, off the event loop."""

    def __init__(self, stream: BinaryIO, executor: Executor | None = None) -> None:
        self._stream = stream
        self._executor = executor

    async def readline(self, limit: int) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._stream.readline, limit)

    async def readexactly(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        got = 0
        while got < n:
            chunk = await loop.run_in_executor(self._executor, self._stream.read, n - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


class StreamSource:
    """An :class:`asyncio.StreamReader` (a TCP connection); its own limit should be
    :data:`MAX_LINE_BYTES`."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def readline(self, limit: int) -> bytes:
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial
        except asyncio.LimitOverrunError as exc:
            return await self._reader.read(max(1, min(exc.consumed, limit)))

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


def _show(value: bytes) -> str:
    text = value[:40].decode("latin-1")
    return repr(text + ("..." if len(value) > 40 else ""))


def parse_length(value: bytes, max_bytes: int) -> tuple[int | None, str | None]:
    """A ``Content-Length`` value as a number of bytes, or why it is not one."""
    if not _DIGITS.fullmatch(value):
        return None, f"Content-Length {_show(value)} is not a number of bytes"
    if len(value) > 20 or int(value) > max_bytes:
        limit = f"{max_bytes // 2**20} MiB" if max_bytes >= 2**20 else f"{max_bytes} bytes"
        return None, f"Content-Length {_show(value)} exceeds the {limit} limit on a message"
    if int(value) == 0:
        return None, "Content-Length 0: a message cannot be empty"
    return int(value), None


class _Block:
    """The header block being read."""

    def __init__(self) -> None:
        self.started = False
        self.length: int | None = None
        self.problem: str | None = None
        self.http = False

    def header(self, name: bytes, value: bytes, max_bytes: int) -> None:
        self.started = True
        if name.lower() != b"content-length":
            return
        length, problem = parse_length(value, max_bytes)
        if self.length is not None and length != self.length:
            problem = problem or "two different Content-Length headers"
            self.length = None
        elif length is not None and self.problem is None:
            self.length = length
        if problem is not None:
            self.problem = self.problem or problem


class MessageReader:
    """Reads message bodies from a :class:`ByteSource`; see the module docstring."""

    def __init__(self, source: ByteSource, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._source = source
        self.max_bytes = max_bytes
        self._carry = b""
        self._skipped = 0

    def _skip(self, n: int) -> None:
        self._skipped += n

    def _report_skipped(self) -> None:
        if self._skipped:
            logger.warning("Skipped %d bytes that were no LSP message", self._skipped)
            self._skipped = 0

    async def read(self) -> bytes | FramingError | None:
        """The next body, a :class:`FramingError`, or None at the end of the stream."""
        block = _Block()
        while True:
            chunk = await self._source.readline(MAX_LINE_BYTES)
            if not chunk:
                return None
            line, self._carry = self._carry + chunk, b""
            start = line.lower().rfind(_HEADER)
            if start > 0:  # junk, then a header: a new block starts at the header
                self._skip(start)
                line, block = line[start:], _Block()
            if not line.endswith(b"\n"):
                # A line longer than any header: junk, but keep a header it may end with.
                keep = start >= 0 and len(line) <= _CARRY_LIMIT
                self._carry = line if keep else line[-(len(_HEADER) - 1) :]
                self._skip(len(line) - len(self._carry))
                continue
            text = line.rstrip(b"\r\n")
            if not text.strip():
                if block.started:
                    self._report_skipped()
                    return await self._end_of(block)
                continue
            if match := _HEADER_LINE.fullmatch(text):
                block.header(match.group(1), match.group(2), self.max_bytes)
            elif _HTTP_REQUEST.fullmatch(text):
                block = _Block()
                block.started = block.http = True
            else:
                self._skip(len(line))

    async def _end_of(self, block: _Block) -> bytes | FramingError | None:
        if block.http:
            if block.length is not None:
                await self._source.readexactly(block.length)
            return FramingError("an HTTP request is not an LSP message; skipped")
        if block.problem is not None:
            return FramingError(f"{block.problem}; skipped to the next header")
        if block.length is None:
            return FramingError("a header block without Content-Length; skipped")
        body = await self._source.readexactly(block.length)
        return body if len(body) == block.length else None
