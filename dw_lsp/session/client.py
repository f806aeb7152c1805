"""WorkerClient: spawn the worker process, talk JSON-RPC to it, watch it, stop it.

The worker is a fresh interpreter started with the configured command line
(``worker.command``); requests and responses travel one JSON object per line on its
stdin/stdout (:mod:`dw_lsp.protocol`), and every line of its stderr goes to the log sink.
The client has one explicit state (:class:`WorkerState`) and one method that changes it
and logs the change (:meth:`WorkerClient._set_state`).

What it guarantees:

- **Exit is seen at once.** A reader task sees end-of-file on the worker's stdout, collects
  the exit code or signal and the last lines of stderr, and fails every pending request with
  that message. The client is then ``errored`` and the next :meth:`start` spawns a fresh one.
- **Every message is checked, and a malformed one ends the worker.** A line that is not a
  protocol message is logged and skipped (a message after noise on the same line is still
  found); a message that breaks the protocol (a ``percent`` of ``"abc"``, an error ``code``
  that is not a number, an answer that is not an object ...) fails whatever is pending with
  a message naming the field, and the worker is killed: the next :meth:`start` spawns a
  fresh one. Nothing the worker sends can stop the reader, and every request is settled.
- **A hung run is killed.** :meth:`execute` watches the time since the last ``progress``
  notification (:mod:`.watchdog`); after ``timeout`` seconds without one the worker is
  killed and the run fails saying so.
- **Cancel is cooperative, then forced.** :meth:`cancel` sends ``cancel``; a run that has not
  stopped ``grace`` seconds later is killed.
- **No orphans.** The worker runs in its own session (so the terminal's Ctrl-C reaches only
  the front end, which turns it into a cancel), and it exits when its stdin closes, so a
  front end that dies, even by SIGKILL, takes it down.

Spawning, reading, killing and explaining the process is :mod:`.process`; settling answers
is :mod:`.rpc`. Tests substitute a misbehaving worker through the command line or the
``spawn`` factory. No LSP types, no torch; never imports the server or the worker.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, ExecuteResult, MemoryStatus, ProtocolError
from dw_lsp.session.process import (
    Spawn,
    explain_exit,
    kill_process,
    read_stderr,
    read_stdout,
    spawn_process,
    worker_environment,
)
from dw_lsp.session.rpc import (
    PendingRequests,
    WorkerError,
    check_envelope,
    check_initialize,
    decode,
    malformed_reason,
    memory_from_json,
)
from dw_lsp.session.watchdog import ProgressSink as ProgressSink
from dw_lsp.session.watchdog import RunWatch, watch

logger = logging.getLogger(__name__)

#: How many stderr lines are kept to explain an exit.
STDERR_TAIL = 12
#: Seconds a request other than ``execute`` may take before it counts as unanswered.
REQUEST_TIMEOUT = 30.0
#: Seconds a run may take to stop after ``cancel`` before the worker is killed.
CANCEL_GRACE = 10.0
#: Seconds ``shutdown`` waits for the worker to exit before killing it.
SHUTDOWN_GRACE = 5.0
_R = TypeVar("_R")
LogSink = Callable[[int, str], None]


class WorkerState(enum.Enum):
    """Where the worker process is in its life."""

    STOPPED = "stopped"  # no process (never started, or shut down on purpose)
    STARTING = "starting"  # spawned, handshake not finished
    READY = "ready"  # idle, models (if any) loaded
    BUSY = "busy"  # running a workflow
    ERRORED = "errored"  # died, was killed or failed its handshake; next start spawns anew


class WorkerClient:
    """One worker process at a time, restarted on demand."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        log: LogSink | None = None,
        spawn: Spawn = spawn_process,
        env: Mapping[str, str] | None = None,
        initialize_params: Mapping[str, Any] | None = None,
        start_timeout: float = 120.0,
    ) -> None:
        self.command = list(command)
        self._log_sink = log
        self._spawn = spawn
        self._env = worker_environment(env)
        self._initialize_params = dict(initialize_params or {})
        self.start_timeout = start_timeout
        self._state = WorkerState.STOPPED
        self._proc: asyncio.subprocess.Process | None = None
        self._requests = PendingRequests()
        self._reader: asyncio.Task[None] | None = None
        self._stderr_reader: asyncio.Task[None] | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._exit_reason: str | None = None  # set by a deliberate kill or stop
        self._stopping = False  # an exit now is a shutdown, not a failure
        self._run: RunWatch | None = None  # the run in progress
        self.info: dict[str, Any] = {}  # the worker's answer to ``initialize``
        self.last_exit: str | None = None  # why the previous process ended, if it did

    # -- state -----------------------------------------------------------------------

    @property
    def state(self) -> WorkerState:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._state in (WorkerState.STARTING, WorkerState.READY, WorkerState.BUSY)

    def _set_state(self, new: WorkerState, reason: str) -> None:
        """The one place the state changes; every change is logged."""
        if new is self._state:
            return
        old, self._state = self._state, new
        level = logging.WARNING if new is WorkerState.ERRORED else logging.INFO
        self._log(level, f"worker {old.value} -> {new.value}: {reason}")

    def _log(self, level: int, message: str) -> None:
        """To the sink when there is one (it decides where lines go), else to logging."""
        if self._log_sink is not None:
            self._log_sink(level, message)
        else:
            logger.log(level, message)

    # -- starting --------------------------------------------------------------------

    async def start(self) -> None:
        """Spawn the worker and finish the handshake, unless it is already up."""
        if self._state in (WorkerState.READY, WorkerState.BUSY):
            return
        if self._start_task is None or self._start_task.done():
            self._start_task = asyncio.ensure_future(self._start())
        await asyncio.shield(self._start_task)

    async def _start(self) -> None:
        await self._reap()
        self._stderr_tail.clear()
        self._exit_reason = None
        self._stopping = False
        self._set_state(WorkerState.STARTING, "spawning " + " ".join(self.command))
        try:
            self._proc = await self._spawn(self.command, self._env)
        except OSError as exc:
            message = f"Could not start the worker ({' '.join(self.command)}): {exc}"
            self._set_state(WorkerState.ERRORED, message)
            raise WorkerError(message) from exc
        self._reader = asyncio.ensure_future(self._read_stdout(self._proc))
        self._stderr_reader = asyncio.ensure_future(read_stderr(self._proc, self._stderr_line))
        params = {"protocolVersion": protocol.PROTOCOL_VERSION, **self._initialize_params}
        try:
            answer = await self._request(protocol.INITIALIZE, params, self.start_timeout)
            self.info = await self._checked(check_initialize, answer)
        except WorkerError as exc:
            if self._state is WorkerState.STARTING:
                await self.kill(f"The worker failed its handshake: {exc}")
            raise
        self._set_state(WorkerState.READY, f"pid {self.pid}, handshake done")

    # -- reading ---------------------------------------------------------------------

    async def _read_stdout(self, proc: asyncio.subprocess.Process) -> None:
        """Dispatch protocol lines until end-of-file, then report the exit. Total: whatever
        happens while reading, the exit is reported and every pending request settled."""
        reason = await read_stdout(proc, lambda line: self._dispatch(proc, line))
        if reason is not None:
            self._exit_reason = reason
        await self._on_exit(proc)

    def _dispatch(self, proc: asyncio.subprocess.Process, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return
        msg, noise = decode(text)
        if noise:
            self._log(logging.WARNING, f"worker wrote a non-protocol line: {noise[:200]}")
        if msg is None:
            return
        try:
            check_envelope(msg)
            method = msg.get("method")
            if isinstance(method, str):
                self._notification(method, msg.get("params"))
            elif not self._requests.settle(msg):
                self._log(logging.DEBUG, f"worker answer to no pending request: {text[:200]}")
        except ProtocolError as exc:
            self._malformed(proc, exc, text)

    def _malformed(self, proc: asyncio.subprocess.Process, exc: ProtocolError, text: str) -> None:
        """Nothing a broken message says can be trusted: fail what is pending with the reason
        and kill the worker (its exit is then reported as usual)."""
        reason = malformed_reason(exc)
        self._log(logging.WARNING, f"{reason}: {text[:300]}")
        if self._exit_reason is None:
            self._exit_reason = reason
        self._requests.fail_all(reason)
        kill_process(proc)
        if self._proc is proc:
            self._set_state(WorkerState.ERRORED, reason)

    async def _checked(self, check: Callable[[Any], _R], answer: Any) -> _R:
        """``check(answer)``; when the answer is malformed, kill the worker and raise
        :class:`WorkerError` saying so."""
        try:
            return check(answer)
        except ProtocolError as exc:
            reason = malformed_reason(exc)
            await self.kill(reason)
            raise WorkerError(reason) from exc

    def _notification(self, method: str, params: Any) -> None:
        if method == protocol.PROGRESS:
            progress = protocol.progress_from_json(params)
            if self._run is not None:
                self._run.progress(progress)
        elif method == protocol.LOG:
            record = protocol.log_from_json(params)
            level = logging.getLevelName(record.level.upper())
            self._log(level if isinstance(level, int) else logging.INFO, record.message)
        else:
            self._log(logging.DEBUG, f"worker notification {method!r} ignored")

    def _stderr_line(self, text: str) -> None:
        """Keep the line for explaining an exit, and log it."""
        self._stderr_tail.append(text)
        self._log(logging.DEBUG, f"worker: {text}")

    async def _on_exit(self, proc: asyncio.subprocess.Process) -> None:
        """The worker's stdout closed: wait for the exit, explain it, fail what is pending."""
        try:
            returncode: int | None = await asyncio.wait_for(proc.wait(), SHUTDOWN_GRACE)
        except TimeoutError:
            kill_process(proc)
            returncode = await proc.wait()
        if self._stderr_reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._stderr_reader), 1.0)
        message = explain_exit(proc.pid, returncode, self._exit_reason, self._stderr_tail)
        self.last_exit = message
        self._requests.fail_all(message)
        if self._proc is proc:
            self._proc = None
            new = WorkerState.STOPPED if self._stopping else WorkerState.ERRORED
            self._set_state(new, message)

    # -- requests --------------------------------------------------------------------

    def _send(self, method: str, params: Any) -> asyncio.Future[Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(WorkerError(self.last_exit or "The worker is not running"))
            return future
        msg_id, future = self._requests.open()
        # On a broken pipe the reader task sees the exit and fails the future with the reason.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(protocol.request(msg_id, method, params).encode("utf-8"))
        return future

    async def _request(self, method: str, params: Any, timeout: float) -> Any:
        future = self._send(method, params)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise WorkerError(f"The worker did not answer {method} within {timeout:g} s") from None

    async def request(
        self, method: str, params: Any = None, timeout: float = REQUEST_TIMEOUT
    ) -> Any:
        """Send one request to a started worker (``ping``, ``memoryStatus`` ...)."""
        await self.start()
        return await self._request(method, params, timeout)

    async def memory_status(self) -> MemoryStatus:
        data = await self.request(protocol.MEMORY_STATUS)
        return await self._checked(memory_from_json, data)

    async def clear_memory(self) -> MemoryStatus:
        data = await self.request(protocol.CLEAR_MEMORY, timeout=120.0)
        return await self._checked(memory_from_json, data)

    # -- running ---------------------------------------------------------------------

    async def execute(
        self, params: ExecuteParams, on_progress: ProgressSink | None, timeout: float
    ) -> ExecuteResult:
        """Run a workflow; kill the worker after ``timeout`` seconds without progress."""
        await self.start()
        self._check_idle()
        self._set_state(WorkerState.BUSY, f"run {params.runId}")
        self._run = RunWatch(timeout, on_progress)
        try:
            future = self._send(protocol.EXECUTE, params)
            try:
                data = await watch(future, self._run, self.kill)
            except asyncio.CancelledError:
                # Our caller went away (server shutting down): do not leave the run going.
                with contextlib.suppress(WorkerError):
                    await self.cancel(params.runId)
                raise
            except WorkerError:
                if self._state is WorkerState.ERRORED:
                    await self._reap()  # report the failure once the process is gone
                raise
            return await self._checked(protocol.execute_result_from_json, data)
        finally:
            self._run = None
            if self._state is WorkerState.BUSY:
                self._set_state(WorkerState.READY, f"run {params.runId} finished")

    def _check_idle(self) -> None:
        if self._state is WorkerState.BUSY:
            raise WorkerError("The worker is already running a workflow")

    async def cancel(self, run_id: str, grace: float = CANCEL_GRACE) -> bool:
        """Ask the running workflow to stop; kill the worker if it has not ``grace`` s later.

        Returns whether a run was in progress."""
        if self._state is not WorkerState.BUSY:
            return False
        if self._run is not None:
            self._run.cancelled(grace)
        self._log(logging.INFO, f"cancelling run {run_id}")
        try:
            await self._request(protocol.CANCEL, {"runId": run_id}, min(grace, REQUEST_TIMEOUT))
        except WorkerError as exc:
            self._log(logging.WARNING, f"cancel: {exc}")
        return True

    # -- stopping --------------------------------------------------------------------

    async def kill(self, reason: str) -> None:
        """Kill the worker now; pending requests fail with ``reason``."""
        proc = self._proc
        if proc is None:
            return
        self._exit_reason = reason
        self._log(logging.WARNING, f"killing worker pid {proc.pid}: {reason}")
        kill_process(proc)
        await self._reap()
        self._requests.fail_all(reason)  # settled even if the reader could not do it

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Shut the worker down politely (``shutdown``, close stdin), then by force."""
        if self._start_task is not None and not self._start_task.done():
            with contextlib.suppress(WorkerError, asyncio.CancelledError):
                await self._start_task
        proc = self._proc
        if proc is None:
            await self._reap()
            self._set_state(WorkerState.STOPPED, "not running")
            return
        self._stopping = True
        self._exit_reason = "The worker was shut down"
        with contextlib.suppress(WorkerError):
            await self._request(protocol.SHUTDOWN, None, grace)
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            kill_process(proc)
        await self._reap()
        self._requests.fail_all("The worker was shut down")
        self._set_state(WorkerState.STOPPED, "shut down")

    async def _reap(self) -> None:
        """Wait for the reader tasks of the previous process to finish."""
        for task in (self._reader, self._stderr_reader):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._stderr_reader = None
