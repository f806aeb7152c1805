"""The ``dw.*`` workspace commands: run, memory, clear, status, cancel, setArguments,
clearArguments, restartWorker, runSweep. Each takes ONE JSON object (camelCase keys) and returns a
plain JSON object; each is a thin translation onto the :class:`Session`.

- ``dw.run {"uri", "arguments"?, "progressToken"?, "standIn"?}`` runs the *saved* file (a
  dirty buffer adds the warning "... running the saved version") and reports work-done
  progress (:mod:`.run_progress`). ``standIn`` (true = ``all``, or a mode: off, missing,
  all) runs it with stand-in models (the Smoke run lens) whatever ``worker.standIns`` says.
  Its result: ``status`` (ok | error | cancelled), ``outputs``, ``error`` ({message,
  traceback} or null), ``timings``, ``cache``, ``runs``, ``memory``, ``warnings``,
  ``problems`` (validation errors that stopped the run), ``standIn`` (the models stood in,
  the arguments shrunk and the placeholder media, or null).
- **A second ``dw.run`` while one runs is refused** at once with status ``error`` and the
  message "A run is already in progress ...", rather than queued (see
  :mod:`dw_lsp.session.session`).
- ``dw.cancel {}`` cancels every run and sweep in progress, ``dw.cancel {"runId"}`` one
  run (queued or running) or one sweep; cancelling a run's progress cancels that run.
- With ``worker.backend: ray`` a ``dw.run`` while others run is queued (its progress says
  where) instead of refused.
- ``dw.runSweep {"uri", "grid": {name: [values...]}, "arguments"?, "progressToken"?}`` runs
  the workflow once per combination (:mod:`dw_lsp.session.sweep`); one progress for the
  whole sweep; the result lists every run with its ``arguments`` and its ``dw.run`` result.
- The others return ``{"status": "ok", ...}`` or ``{"status": "error", "error": {...}}``.
- **An untrusted workspace** (the ``trusted`` callable says no) gets no worker and no Ray:
  ``dw.run``, ``dw.runSweep``, ``dw.memory``, ``dw.clear`` and ``dw.restartWorker`` are refused with
  :data:`UNTRUSTED_MESSAGE` and ``worker.prewarm`` does nothing; ``dw.status``, ``dw.cancel``
  and the argument commands, which start nothing, still work.

Handlers are async and await the worker without blocking the event loop, so diagnostics,
completion and hover are answered during a run. pygls unpacks command arguments into
parameters, so handlers take ``*args`` and read ``args[0]``; they return plain dicts
(pygls drops snake_case keys of attrs objects).

Coupling with the server: :func:`~dw_lsp.server.app.create_server` calls
:func:`register_commands` and keeps the returned :class:`RunCommands` as ``ls.commands``;
the server (:mod:`dw_lsp.server.language_server`) calls
:meth:`RunCommands.settings_changed` when its settings change,
:meth:`RunCommands.workflow_opened` when a workflow document opens (``worker.prewarm``) and
:meth:`RunCommands.shutdown` on LSP ``shutdown``. Open buffers are read from the server's
document store (``ls.documents``), workspace folders from pygls's workspace. Never imports
the worker or torch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from dw_lsp import protocol
from dw_lsp.server import names
from dw_lsp.server.documents import DocumentStore, workspace_roots
from dw_lsp.server.run_progress import RunProgress
from dw_lsp.session import InputError, Session, WorkerError
from dw_lsp.session.report import RunReport, memory_json, run_report_json, status_json
from dw_lsp.session.sweep import sweep_report_json
from dw_lsp.settings import Settings

logger = logging.getLogger(__name__)

DIRTY_WARNING = "The editor buffer has unsaved changes: running the saved version."
UNTRUSTED_MESSAGE = (
    "This workspace is not trusted: dw-lsp runs no workflow and starts no worker in it "
    "(diagnostics and editing still work). Trust the workspace to run workflows."
)

#: Marks a log record the client also got as ``window/logMessage`` (see :func:`not_for_client`).
SENT_TO_CLIENT = "dw_lsp_sent_to_client"


def not_for_client(record: logging.LogRecord) -> bool:
    """A logging filter that drops the records the client already got as
    ``window/logMessage``. Over stdio the client shows the server's stderr too (VS Code
    tags every stderr line ``[error]``), so writing them there as well doubled each line."""
    return not getattr(record, SENT_TO_CLIENT, False)


_MESSAGE_TYPES = {
    logging.DEBUG: types.MessageType.Log,
    logging.INFO: types.MessageType.Info,
    logging.WARNING: types.MessageType.Warning,
    logging.ERROR: types.MessageType.Error,
}


class CommandError(Exception):
    """A command's argument was malformed."""


def _error(message: str) -> dict[str, Any]:
    return {"status": protocol.ERROR, "error": {"message": message, "traceback": None}}


def _single_object(args: tuple[Any, ...]) -> dict[str, Any]:
    """The command's one JSON object argument (none is taken as ``{}``)."""
    if not args:
        return {}
    if len(args) != 1 or not isinstance(args[0], dict):
        raise CommandError("dw commands take one JSON object argument")
    return args[0]


def _uri_path(obj: Mapping[str, Any], required: bool = True) -> Path | None:
    uri = obj.get("uri")
    if uri is None and not required:
        return None
    if not isinstance(uri, str) or not uri.startswith("file:"):
        raise CommandError("'uri' must be the file: URI of a saved workflow")
    path = to_fs_path(uri)
    if path is None:
        raise CommandError(f"cannot map {uri} to a file")
    return Path(path)


def _stand_in(obj: Mapping[str, Any]) -> str | None:
    """``standIn``: true (every model), false / absent (the setting), or a mode name."""
    value = obj.get("standIn")
    if value is None:
        return None
    if value is True:
        return protocol.STAND_INS_ALL
    if value is False:
        return protocol.STAND_INS_OFF
    if value in protocol.STAND_IN_MODES:
        return str(value)
    modes = ", ".join(protocol.STAND_IN_MODES)
    raise CommandError(f"'standIn' must be true, false or one of {modes}")


def _arguments(obj: Mapping[str, Any]) -> dict[str, Any]:
    arguments = obj.get("arguments", {})
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise CommandError("'arguments' must be an object of name -> value")
    return arguments


class RunCommands:
    """The command handlers, over one :class:`Session` per server."""

    def __init__(
        self,
        ls: LanguageServer,
        settings: Settings | None = None,
        trusted: Callable[[], bool] = lambda: True,
        documents: DocumentStore | None = None,
    ) -> None:
        self._ls = ls
        self._trusted = trusted
        self._documents = documents
        self._tasks: set[asyncio.Task[Any]] = set()
        self.session = Session(
            settings or Settings(),
            roots=self._roots,
            base_dir=None,
            log=self._log,
            notify=lambda message: self._log(logging.INFO, message),
            on_worker_started=self._worker_started,
        )

    # -- coupling with the server ----------------------------------------------------

    def _worker_started(self) -> None:
        """The worker reported its capabilities: check the open documents again (DW308)."""
        recheck = getattr(self._ls, "recheck_all", None)
        if callable(recheck):
            recheck()

    def settings_changed(self, settings: Settings) -> None:
        self.session.update_settings(settings)

    def workflow_opened(self, uri: str) -> None:
        """Start the worker early (``worker.prewarm``) once a workflow is open, if trusted,
        and have it resolve the classes the saved file names (their imports are most of a
        first run's cost)."""
        if self._trusted():
            self.session.prewarm(to_fs_path(uri) if uri.startswith("file:") else None)

    def _require_trust(self) -> None:
        if not self._trusted():
            raise CommandError(UNTRUSTED_MESSAGE)

    async def shutdown(self) -> None:
        await self.session.shutdown()

    def _roots(self) -> list[Path]:
        return workspace_roots(self._ls)

    def _log(self, level: int, message: str) -> None:
        """To the client (window/logMessage) from ``logLevel`` up, and to the server's log,
        marked as sent (:data:`SENT_TO_CLIENT`) when the client got it."""
        threshold = self.session.settings.log_level if hasattr(self, "session") else "INFO"
        sent = level >= logging.getLevelNamesMapping().get(threshold, logging.INFO)
        logger.log(level, message, extra={SENT_TO_CLIENT: sent})
        if not sent:
            return
        kind = _MESSAGE_TYPES.get(min(level, logging.ERROR) // 10 * 10, types.MessageType.Info)
        self._ls.window_log_message(types.LogMessageParams(type=kind, message=message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _buffer_is_dirty(self, path: Path) -> bool:
        """Whether the open buffer of ``path`` differs from the file on disk."""
        document = self._documents.find(path) if self._documents is not None else None
        if document is None:
            return False
        try:
            saved = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        return document.text != saved

    # -- commands ----------------------------------------------------------------------

    async def run(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._require_trust()
        path = _uri_path(obj)
        if path is None:  # not reached: the uri is required
            raise CommandError("'uri' must be the file: URI of a saved workflow")
        arguments = _arguments(obj)
        stand_in = _stand_in(obj)
        token = obj.get("progressToken")
        if token is not None and not isinstance(token, str | int):
            raise CommandError("'progressToken' must be a string or an integer")
        if self.session.running and not self.session.uses_pool:
            return run_report_json(await self.session.run(arguments, path, stand_ins=stand_in))
        dirty = self._buffer_is_dirty(path)
        run_id = uuid.uuid4().hex[:12]
        progress = RunProgress(
            self._ls,
            f"Running {path.name}",
            token,
            lambda: self._spawn(self.session.cancel(run_id)),
        )
        await progress.begin()
        try:
            report = await self.session.run(
                arguments, path, progress.report, stand_in, run_id=run_id
            )
        except BaseException:
            progress.end("Run failed")
            raise
        progress.end(_end_message(report))
        if dirty:
            report.warnings.insert(0, DIRTY_WARNING)
        for warning in report.warnings:
            self._log(logging.WARNING, warning)
        return run_report_json(report)

    async def run_sweep(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._require_trust()
        path = _uri_path(obj)
        if path is None:  # not reached: the uri is required
            raise CommandError("'uri' must be the file: URI of a saved workflow")
        grid = obj.get("grid")
        if not isinstance(grid, dict):
            raise CommandError("'grid' must be an object of name -> list of values")
        token = obj.get("progressToken")
        if token is not None and not isinstance(token, str | int):
            raise CommandError("'progressToken' must be a string or an integer")
        sweep_id = uuid.uuid4().hex[:12]
        progress = RunProgress(
            self._ls,
            f"Sweep of {path.name}",
            token,
            lambda: self._spawn(self.session.cancel(sweep_id)),
        )
        await progress.begin()
        try:
            sweep = await self.session.run_sweep(
                grid, path, progress.report, _arguments(obj), sweep_id=sweep_id
            )
        except BaseException:
            progress.end("Sweep failed")
            raise
        progress.end(f"Sweep {sweep.status}: {sweep.done}/{sweep.total} runs ok")
        return sweep_report_json(sweep)

    async def memory(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._require_trust()
        figures = await self.session.memory_by_worker()
        answer = {"status": protocol.OK, **(memory_json(figures[0][1]) or {})}
        if self.session.uses_pool:
            answer["workers"] = [{"id": w, **(memory_json(m) or {})} for w, m in figures]
        return answer

    async def clear(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._require_trust()
        status = await self.session.clear()
        if status is None:
            return {
                "status": protocol.OK,
                "cleared": False,
                "memory": None,
                "message": "The worker is not running: nothing to clear.",
            }
        return {"status": protocol.OK, "cleared": True, "memory": memory_json(status)}

    async def status(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {"status": protocol.OK, **status_json(self.session.status())}

    async def cancel(self, obj: dict[str, Any]) -> dict[str, Any]:
        run_id = obj.get("runId")
        if run_id is not None and not isinstance(run_id, str):
            raise CommandError("'runId' must be a string")
        return {"status": protocol.OK, "cancelled": await self.session.cancel(run_id)}

    async def set_arguments(self, obj: dict[str, Any]) -> dict[str, Any]:
        path = _uri_path(obj, required=False)
        self.session.set_arguments(_arguments(obj), path)
        return {"status": protocol.OK, "arguments": self.session.arguments(path)}

    async def clear_arguments(self, obj: dict[str, Any]) -> dict[str, Any]:
        path = _uri_path(obj, required=False)
        self.session.clear_arguments(path)
        return {"status": protocol.OK, "arguments": {}}

    async def restart_worker(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._require_trust()
        await self.session.restart_worker()
        return {"status": protocol.OK, **status_json(self.session.status())}


def _end_message(report: RunReport) -> str:
    if report.status == protocol.OK:
        return f"Done: {len(report.outputs)} output(s) in {report.timings.total:.1f} s"
    if report.status == protocol.CANCELLED:
        return "Cancelled"
    return f"Failed: {(report.error or '').splitlines()[0] if report.error else 'error'}"


async def _guarded(handler: Any, args: tuple[Any, ...]) -> dict[str, Any]:
    """Call a handler; malformed arguments and refused inputs become ``error`` results."""
    try:
        result: dict[str, Any] = await handler(_single_object(args))
    except (CommandError, InputError, WorkerError) as exc:
        return _error(str(exc))
    return result


def register_commands(
    ls: LanguageServer,
    settings: Settings | None = None,
    trusted: Callable[[], bool] = lambda: True,
    documents: DocumentStore | None = None,
) -> RunCommands:
    """Register the ``dw.*`` commands on ``ls``; returns the object the server keeps.
    ``trusted`` says, each time it matters, whether the workspace may run anything;
    ``settings`` and ``documents`` (the open buffers) default to the server's own."""
    if settings is None:
        current = getattr(ls, "settings", None)
        settings = current if isinstance(current, Settings) else None
    if documents is None:
        store = getattr(ls, "documents", None)
        documents = store if isinstance(store, DocumentStore) else None
    commands = RunCommands(ls, settings, trusted, documents)
    table = {
        names.RUN: commands.run,
        names.MEMORY: commands.memory,
        names.CLEAR: commands.clear,
        names.STATUS: commands.status,
        names.CANCEL: commands.cancel,
        names.SET_ARGUMENTS: commands.set_arguments,
        names.CLEAR_ARGUMENTS: commands.clear_arguments,
        names.RESTART_WORKER: commands.restart_worker,
        names.RUN_SWEEP: commands.run_sweep,
    }
    for name, handler in table.items():
        ls.command(name)(_make_handler(handler))
    return commands


def _make_handler(handler: Any) -> Any:
    # The first parameter is named ``ls`` so that pygls injects the server and passes every
    # JSON argument to ``*args``.
    async def command(ls: Any, *args: Any) -> dict[str, Any]:
        return await _guarded(handler, args)

    command.__name__ = getattr(handler, "__name__", "command")
    return command
