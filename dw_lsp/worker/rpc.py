"""The worker's JSON-RPC 2.0 adapter: one JSON object per line on stdin and the private stdout.

A thin translation between :mod:`dw_lsp.protocol` messages and the :class:`Runtime`'s methods;
the runtime knows nothing of this transport. Threads:

- the main thread reads requests; at end of input (the session died, even by SIGKILL) it
  calls ``os._exit`` at once, run or no run;
- a *host* thread builds the runtime (imports torch and diffusers) as soon as the process
  starts, so ``ping`` answers while that happens and ``initialize`` waits for it;
- a *run* thread executes ``execute``, ``prepare`` and ``clearMemory`` jobs one at a time.
  It sends a run's result first and cleans up afterwards, so cleanup never delays a
  result; a job that arrives during the cleanup simply waits for it. ``ping``,
  ``memoryStatus`` and ``cancel`` are answered on the main thread, also during a run.

Must not import torch, diffusers or transformers (the runtime module does, on the host thread),
nor the session, the server or LSP types.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, BinaryIO

from dw_lsp import protocol

if TYPE_CHECKING:
    from dw_lsp.worker.runtime import Runtime

log = logging.getLogger("dw_lsp.worker")

#: Exit code of a worker that stops on purpose because its CUDA context is poisoned.
EXIT_POISONED = 3
_EXECUTE_FIELDS = {f.name for f in fields(protocol.ExecuteParams)}


#: Libraries the worker needs, installed by the package's ``worker`` extra.
WORKER_LIBRARIES = ("torch", "diffusers", "transformers", "accelerate", "safetensors", "PIL")


def startup_reason(exc: BaseException) -> str:
    """One line saying why the runtime could not start, with the fix for a missing library."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in WORKER_LIBRARIES:
        return (
            f"{exc} in the worker's Python ({sys.executable}); install the worker's "
            "libraries there: pip install 'dw-lsp[worker]' (or point the setting "
            "worker.command at a Python that has them)"
        )
    return f"{type(exc).__name__}: {exc}"


class Channel:
    """The private protocol stream: whole lines, written under a lock, flushed at once."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, line: str) -> None:
        data = line.encode("utf-8")
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                # Nobody is listening any more: the session is gone, so is our purpose.
                os._exit(0)

    def notify(self, method: str, params: Any) -> None:
        self.send(protocol.notification(method, params))


class _NotifyHandler(logging.Handler):
    """Forwards the worker's own log records as ``log`` notifications."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:  # a bad format string must not take the worker down
            message = str(record.msg)
        self._channel.notify(protocol.LOG, {"level": record.levelname.lower(), "message": message})


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class Server:
    """Dispatches requests to the runtime; see the module docstring for the threads."""

    def __init__(self, channel: Channel, runtime_factory: Callable[[], Runtime]) -> None:
        self._channel = channel
        self._factory = runtime_factory
        self._runtime: Runtime | None = None
        self._runtime_error: str | None = None
        self._ready = threading.Event()
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._state_lock = threading.Lock()
        self._executing = False
        self._runtime_reason = ""

    # -- threads -------------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._host, name="dw-host", daemon=True).start()
        threading.Thread(target=self._run_loop, name="dw-run", daemon=True).start()

    def _host(self) -> None:
        try:
            self._runtime = self._factory()
        except BaseException as exc:
            self._runtime_error = traceback.format_exc()
            self._runtime_reason = startup_reason(exc)
            log.error("The worker runtime failed to start:\n%s", self._runtime_error)
        finally:
            self._ready.set()

    def _run_loop(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a failed job must not stop the run thread
                log.exception("a worker job failed")

    def read_forever(self, stdin: BinaryIO) -> None:
        """Serve until end of input, then leave at once (no cleanup: the session is gone)."""
        for raw in stdin:
            if raw.strip():
                self.handle_line(raw)
        log.info("stdin closed: exiting")
        os._exit(0)

    # -- dispatch --------------------------------------------------------------------------

    def handle_line(self, raw: bytes) -> None:
        try:
            message = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._channel.send(protocol.error_response(None, protocol.PARSE_ERROR, str(exc)))
            return
        msg_id = message.get("id") if isinstance(message, dict) else None
        try:
            if (
                not isinstance(message, dict)
                or message.get("jsonrpc") != "2.0"
                or not isinstance(message.get("method"), str)
            ):
                raise RpcError(protocol.INVALID_REQUEST, "not a JSON-RPC 2.0 request")
            params = message.get("params")
            if params is None:
                params = {}
            if not isinstance(params, dict):
                raise RpcError(protocol.INVALID_PARAMS, "params must be an object")
            self._dispatch(msg_id, message["method"], params, "id" in message)
        except RpcError as exc:
            self._reply_error(msg_id, exc.code, str(exc), exc.data)
        except Exception as exc:  # a bug in a handler must not take the worker down
            self._reply_error(msg_id, protocol.INTERNAL_ERROR, str(exc), traceback.format_exc())

    def _dispatch(self, msg_id: Any, method: str, params: dict[str, Any], wants: bool) -> None:
        if method == protocol.PING:
            runtime = self._runtime
            self._reply(
                msg_id,
                wants,
                {
                    "ready": runtime is not None,
                    "busy": self._executing,
                    "runs": runtime.total_runs if runtime else 0,
                },
            )
        elif method == protocol.INITIALIZE:
            self._initialize(msg_id, wants, params)
        elif method == protocol.EXECUTE:
            self._execute(msg_id, params)
        elif method == protocol.PREPARE:
            self._prepare(msg_id, wants, params)
        elif method == protocol.CANCEL:
            runtime = self._runtime
            run_id = params.get("runId")
            cancelled = (
                runtime.cancel(run_id if isinstance(run_id, str) else None) if runtime else False
            )
            self._reply(msg_id, wants, {"cancelled": cancelled})
        elif method == protocol.MEMORY_STATUS:
            self._when_ready(msg_id, wants, lambda runtime: runtime.memory_status())
        elif method == protocol.CLEAR_MEMORY:
            self._jobs.put(lambda: self._answer(msg_id, wants, lambda rt: rt.clear_memory()))
        elif method == protocol.SHUTDOWN:
            self._reply(msg_id, wants, {})
            os._exit(0)
        else:
            raise RpcError(protocol.METHOD_NOT_FOUND, f"unknown method {method!r}")

    def _initialize(self, msg_id: Any, wants: bool, params: dict[str, Any]) -> None:
        wanted = str(params.get("protocolVersion", ""))
        if wanted.split(".")[0] != protocol.PROTOCOL_VERSION.split(".")[0]:
            raise RpcError(
                protocol.VERSION_MISMATCH,
                f"protocol version {wanted!r} is not supported; "
                f"this worker speaks {protocol.PROTOCOL_VERSION}",
                {"protocolVersion": protocol.PROTOCOL_VERSION},
            )
        level = params.get("logLevel")
        if isinstance(level, str) and level.upper() in logging.getLevelNamesMapping():
            logging.getLogger("dw_lsp").setLevel(level.upper())
        self._when_ready(
            msg_id,
            wants,
            lambda runtime: {
                "protocolVersion": protocol.PROTOCOL_VERSION,
                "pid": os.getpid(),
                "versions": runtime.versions(),
                "device": runtime.device,
                "capabilities": protocol.to_json(runtime.capabilities()),
            },
        )

    @staticmethod
    def _execute_params(params: dict[str, Any]) -> protocol.ExecuteParams:
        missing = [name for name in ("workflowPath", "outputDir") if not params.get(name)]
        if missing:
            raise RpcError(protocol.INVALID_PARAMS, f"execute needs {', '.join(missing)}")
        try:
            execute = protocol.ExecuteParams(
                **{k: v for k, v in params.items() if k in _EXECUTE_FIELDS}
            )
        except TypeError as exc:
            raise RpcError(protocol.INVALID_PARAMS, str(exc)) from exc
        if not isinstance(execute.arguments, dict):
            raise RpcError(protocol.INVALID_PARAMS, "arguments must be an object")
        if execute.standIns not in protocol.STAND_IN_MODES:
            modes = ", ".join(protocol.STAND_IN_MODES)
            raise RpcError(protocol.INVALID_PARAMS, f"standIns must be one of {modes}")
        return execute

    def _execute(self, msg_id: Any, params: dict[str, Any]) -> None:
        execute = self._execute_params(params)
        with self._state_lock:
            if self._executing:
                raise RpcError(protocol.BUSY, "a run is already in progress; cancel it first")
            self._executing = True
        self._jobs.put(lambda: self._run(msg_id, execute))

    def _prepare(self, msg_id: Any, wants: bool, params: dict[str, Any]) -> None:
        """A prewarm's dry run, queued like a run (a run sent meanwhile waits behind it,
        never refused as busy): the answer says what it found, failures included."""
        execute = self._execute_params(params)
        self._jobs.put(lambda: self._answer(msg_id, wants, lambda rt: rt.prepare(execute)))

    def _run(self, msg_id: Any, params: protocol.ExecuteParams) -> None:
        try:
            runtime = self._require_runtime()
            result = runtime.execute(params, lambda p: self._channel.notify(protocol.PROGRESS, p))
        except RpcError as exc:
            self._reply_error(msg_id, exc.code, str(exc), exc.data)
            return
        finally:
            with self._state_lock:
                self._executing = False
        self._channel.send(protocol.response(msg_id, result))
        if runtime.poisoned:
            log.error(
                "The CUDA context is unusable after this error: exiting so that the "
                "next run gets a fresh worker"
            )
            sys.stderr.flush()
            os._exit(EXIT_POISONED)
        runtime.after_run()  # after the reply: cleanup never delays a result

    # -- helpers ---------------------------------------------------------------------------

    def _answer(self, msg_id: Any, wants: bool, compute: Callable[[Runtime], Any]) -> None:
        """Reply with ``compute(runtime)`` (waiting for the runtime), or with the error."""
        try:
            self._reply(msg_id, wants, compute(self._require_runtime()))
        except RpcError as exc:
            self._reply_error(msg_id, exc.code, str(exc), exc.data)
        except Exception as exc:
            self._reply_error(msg_id, protocol.INTERNAL_ERROR, str(exc), traceback.format_exc())

    def _when_ready(self, msg_id: Any, wants: bool, compute: Callable[[Runtime], Any]) -> None:
        """Answer now if the runtime is up; else on a thread, so the reader keeps reading
        (``ping`` answers while torch is still being imported)."""
        if self._ready.is_set():
            self._answer(msg_id, wants, compute)
        else:
            threading.Thread(
                target=self._answer, args=(msg_id, wants, compute), daemon=True
            ).start()

    def _require_runtime(self) -> Runtime:
        self._ready.wait()
        if self._runtime is None:
            raise RpcError(
                protocol.INTERNAL_ERROR,
                f"the worker runtime failed to start: {self._runtime_reason}",
                self._runtime_error,
            )
        return self._runtime

    def _reply(self, msg_id: Any, wants: bool, result: Any) -> None:
        if wants:
            self._channel.send(protocol.response(msg_id, result))

    def _reply_error(self, msg_id: Any, code: int, message: str, data: Any = None) -> None:
        self._channel.send(protocol.error_response(msg_id, code, message, data))


def _configure_logging(channel: Channel) -> None:
    root = logging.getLogger("dw_lsp")
    level = os.environ.get("DW_LSP_LOG_LEVEL", "INFO").upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    root.propagate = False
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(stderr)
    root.addHandler(_NotifyHandler(channel))


def _default_runtime() -> Runtime:
    from dw_lsp.worker.runtime import Runtime

    return Runtime()


def serve(
    stdin: BinaryIO,
    out: BinaryIO,
    runtime_factory: Callable[[], Runtime] = _default_runtime,
) -> int:
    """Serve the protocol until end of input (which exits the process)."""
    channel = Channel(out)
    _configure_logging(channel)
    server = Server(channel, runtime_factory)
    server.start()
    server.read_forever(stdin)
    return 0
