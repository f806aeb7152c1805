"""The worker as an operating-system process: spawn it, read its stderr, kill it, and say
how it ended.

The worker runs in a session of its own (so the terminal's Ctrl-C reaches only the front
end) with ``PYTHONUNBUFFERED=1`` and ``HF_HUB_OFFLINE=1`` (unless the user's environment
sets ``HF_HUB_OFFLINE`` itself, which then wins). Plain functions used by
:class:`~dw_lsp.session.client.WorkerClient`; they keep no state. No protocol, no LSP types,
no torch; never imports the server or the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

#: Longest protocol line accepted from the worker (a run result with many outputs is long).
LINE_LIMIT = 64 * 1024 * 1024

Spawn = Callable[[Sequence[str], Mapping[str, str]], Awaitable[asyncio.subprocess.Process]]


async def spawn_process(
    command: Sequence[str], env: Mapping[str, str]
) -> asyncio.subprocess.Process:
    """Start ``command`` with pipes on stdin/stdout/stderr, in a session of its own."""
    return await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        limit=LINE_LIMIT,
        start_new_session=True,
    )


logger = logging.getLogger(__name__)


def worker_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the worker gets: ours, unbuffered, offline unless the user says."""
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


async def read_stderr(proc: asyncio.subprocess.Process, on_line: Callable[[str], None]) -> None:
    """Pass each non-empty stderr line (right-stripped) to ``on_line`` until end-of-file;
    ``\\r`` (progress bars) also ends a line."""
    assert proc.stderr is not None  # noqa: S101 - typing only: started with stderr=PIPE
    buffer = b""
    while True:
        chunk = await proc.stderr.read(65536)
        if not chunk:
            break
        buffer += chunk.replace(b"\r", b"\n")
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            _line(raw, on_line)
    _line(buffer, on_line)


def _line(raw: bytes, on_line: Callable[[str], None]) -> None:
    text = raw.decode("utf-8", errors="replace").rstrip()
    if text:
        on_line(text)


async def read_stdout(
    proc: asyncio.subprocess.Process, on_line: Callable[[bytes], None]
) -> str | None:
    """Hand every line of the worker's stdout to ``on_line`` until end-of-file. Total: a
    line over the size limit, or a failure in ``on_line``, kills the worker and is returned
    as the reason its output ended (None at a plain end-of-file)."""
    assert proc.stdout is not None  # noqa: S101 - typing only: started with stdout=PIPE
    try:
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                kill_process(proc)
                return "The worker wrote a protocol line over the size limit"
            if not line:
                return None
            on_line(line)
    except Exception as exc:  # a bug here must not leave a run waiting for ever
        logger.exception("reading the worker's output failed")
        kill_process(proc)
        return f"Reading the worker's output failed ({exc!r})"


def kill_process(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the worker, and its process group when it leads one (``ssh``, wrappers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
            return
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def describe_exit(returncode: int | None) -> str:
    """``-9`` -> ``"was killed by signal SIGKILL"``; ``1`` -> ``"exited with code 1"``."""
    if returncode is None:
        return "closed its output"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"was killed by signal {name}"
    return f"exited with code {returncode}"


def explain_exit(
    pid: int, returncode: int | None, reason: str | None, stderr_tail: Iterable[str]
) -> str:
    """Why the worker is gone: the ``reason`` of a deliberate kill or stop with how the
    process ended, or else how it ended and its last lines of stderr."""
    how = f"The worker process (pid {pid}) {describe_exit(returncode)}"
    if reason is not None:
        return f"{reason} ({how[0].lower()}{how[1:]})"
    tail = list(stderr_tail)[-5:]
    if tail:
        return how + ". Last output:\n" + "\n".join(tail)
    return how
