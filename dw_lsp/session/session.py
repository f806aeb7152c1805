"""Session: every user action of every front end (LSP, REPL, CLI) as one method.

It owns the current workflow, the arguments set for each workflow file, the settings and
one :class:`WorkerClient`. Every input is checked (:mod:`dw_lsp.session.inputs`) before it
reaches the worker, and a workflow is re-read and re-checked from disk at each run: the run
uses the saved file.

Behaviour decisions:

- **One run at a time, a second is refused.** ``run`` while a run is in progress returns
  an ``error`` report "A run is already in progress ..." at once instead of queueing: a
  queued run would start minutes later with arguments the user may have changed meanwhile,
  and the editor has no natural place to show a queue.
- **Loading another workflow keeps the worker** and its models (dw restarted it); the worker
  caches pipelines by load key, so two workflows can stay warm.
- **A failed worker is replaced lazily**: the run that saw it die fails with the exit
  reason, and the next run (or ``memory``) starts a fresh one.
- ``clear`` asks the worker for a full cleanup; it does not start a worker to do so, and is
  refused during a run. ``memory`` starts the worker if needed.
- User-facing lines (the seed's "Starting worker process...", "Reusing loaded models from
  cache" ...) go to ``notify``; diagnostics of the machinery go to ``log``.

No LSP types, no torch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, MemoryStatus
from dw_lsp.session.client import LogSink, ProgressSink, WorkerClient, WorkerState
from dw_lsp.session.inputs import (
    ArgumentValue,
    CheckedWorkflow,
    InputError,
    check_arguments,
    format_problem,
    output_dir_refusal,
    read_workflow,
    stand_in_mode,
)
from dw_lsp.session.report import RunReport, SessionStatus
from dw_lsp.session.rpc import WorkerError, WorkerRequestError
from dw_lsp.session.warm import WarmWorkflows
from dw_lsp.settings import Settings, parse_settings

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]
ClientFactory = Callable[[Settings, LogSink], WorkerClient]

#: Settings whose change needs a fresh worker process (a new log level applies to the next
#: worker: restarting would drop the loaded models).
_WORKER_SETTINGS = ("worker_command",)


def default_client_factory(settings: Settings, log: LogSink) -> WorkerClient:
    """The real worker, started with ``worker.command``."""
    return WorkerClient(
        settings.worker_command,
        log=log,
        initialize_params={"logLevel": settings.log_level},
        start_timeout=settings.worker_start_timeout,
    )


class Session:
    """One user's workflows, arguments, settings and worker."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        roots: Callable[[], Sequence[Path]] | Sequence[Path] = (),
        base_dir: Path | None = None,
        log: LogSink | None = None,
        notify: Notify | None = None,
        client_factory: ClientFactory = default_client_factory,
        on_worker_started: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        #: Called after a worker answered its handshake (its :attr:`capabilities` are new).
        self.on_worker_started = on_worker_started
        self._roots = roots
        self.base_dir = (base_dir or Path.cwd()).resolve()
        self._log_sink = log
        self._notify = notify
        self._client_factory = client_factory
        self.client = client_factory(self.settings, self._log)
        self._client_stale = False
        self.current: CheckedWorkflow | None = None
        self._arguments: dict[Path, dict[str, ArgumentValue]] = {}
        self._runs: dict[Path, int] = {}
        self._warm = WarmWorkflows()
        self._running: str | None = None  # run id
        self._running_name = ""
        self._cancelled = False
        self._prewarm_task: asyncio.Task[None] | None = None

    # -- plumbing --------------------------------------------------------------------

    def _log(self, level: int, message: str) -> None:
        """To the front end's sink when there is one, else to logging."""
        if self._log_sink is not None:
            self._log_sink(level, message)
        else:
            logger.log(level, message)

    def _say(self, message: str) -> None:
        if self._notify is not None:
            self._notify(message)
        else:
            self._log(logging.INFO, message)

    def roots(self) -> list[Path]:
        """Folders workflows may be loaded from: the front end's, plus ``workflowDir``."""
        given = self._roots() if callable(self._roots) else self._roots
        roots = [Path(r) for r in given]
        if self.settings.workflow_dir:
            roots.append(self.workflow_dir)
        return roots

    @property
    def workflow_dir(self) -> Path:
        return (self.base_dir / Path(self.settings.workflow_dir or ".").expanduser()).resolve()

    @property
    def output_dir(self) -> Path:
        return (self.base_dir / Path(self.settings.output_dir).expanduser()).resolve()

    @property
    def capabilities(self) -> protocol.Capabilities | None:
        """What the current worker reported in its handshake (device, installed quantization
        backends); None before a worker answered or when its answer lacks them."""
        data = self.client.info.get("capabilities") if isinstance(self.client.info, dict) else None
        if data is None:
            return None
        try:
            return protocol.capabilities_from_json(data)
        except protocol.ProtocolError:
            return None

    @property
    def running(self) -> bool:
        return self._running is not None

    async def _ensure_worker(self) -> None:
        if self._client_stale and self.client.state is not WorkerState.BUSY:
            await self.client.stop()
            self.client = self._client_factory(self.settings, self._log)
            self._client_stale = False
            self._warm.clear()
        if self.client.state in (WorkerState.READY, WorkerState.BUSY):
            return
        self._say("Starting worker process...")
        await self.client.start()
        self._say("Worker process started")
        if self.on_worker_started is not None:
            try:
                self.on_worker_started()
            except Exception:
                logger.exception("on_worker_started failed")

    # -- workflows -------------------------------------------------------------------

    def load(self, path: str | Path) -> CheckedWorkflow:
        """Check a saved workflow file and make it the current one."""
        workflow = read_workflow(
            Path(path),
            self.roots(),
            self.settings.worker_allowed_modules,
            self.settings.worker_allow_remote_code,
        )
        self.current = workflow
        return workflow

    def reload(self) -> CheckedWorkflow:
        """Re-read and re-check the current workflow file."""
        if self.current is None:
            raise InputError("No workflow loaded (use load first).")
        return self.load(self.current.path)

    def _workflow_for(self, path: str | Path | None) -> CheckedWorkflow:
        if path is None:
            return self.reload()
        resolved = Path(path).expanduser().resolve()
        if self.current is not None and self.current.path == resolved:
            return self.reload()
        return self.load(path)

    def status(self) -> SessionStatus:
        current = self.current
        return SessionStatus(
            workflow=str(current.path) if current else None,
            name=current.name if current else None,
            arguments=dict(self._arguments.get(current.path, {})) if current else {},
            worker_state=self.client.state.value,
            worker_pid=self.client.pid,
            running=self.running,
            run_id=self._running,
            runs={str(p): n for p, n in self._runs.items()},
            last_exit=self.client.last_exit,
            output_dir=str(self.output_dir),
            workflow_dir=str(self.workflow_dir),
        )

    # -- arguments -------------------------------------------------------------------

    def set_argument(self, name: str, value: object, path: str | Path | None = None) -> None:
        self.set_arguments({name: value}, path)

    def set_arguments(
        self, arguments: Mapping[str, object], path: str | Path | None = None
    ) -> None:
        """Check and store arguments for a workflow (the current one by default)."""
        workflow = self._workflow_for(path) if path is not None else self.current
        if workflow is None:
            raise InputError("No workflow loaded (use load first); arguments belong to one.")
        checked = check_arguments(arguments, workflow)
        self._arguments.setdefault(workflow.path, {}).update(checked)

    def arguments(self, path: str | Path | None = None) -> dict[str, ArgumentValue]:
        target = self._target(path)
        return dict(self._arguments.get(target, {})) if target else {}

    def clear_arguments(self, path: str | Path | None = None) -> None:
        target = self._target(path)
        if target is not None:
            self._arguments.pop(target, None)

    def _target(self, path: str | Path | None) -> Path | None:
        if path is not None:
            return Path(path).expanduser().resolve()
        return self.current.path if self.current else None

    # -- running ---------------------------------------------------------------------

    async def run(
        self,
        arguments: Mapping[str, object] | None = None,
        path: str | Path | None = None,
        on_progress: ProgressSink | None = None,
        stand_ins: str | None = None,
        *,
        dry_run: bool = False,
    ) -> RunReport:
        """Run a workflow (the current one by default) with its stored arguments updated by
        ``arguments`` (for this run only). ``stand_ins`` (off, missing, all) overrides the
        ``worker.standIns`` setting for this run. With ``dry_run`` the worker makes every
        check it makes before loading and loads nothing (the report is ``ok`` with no
        outputs, or ``error`` naming each problem). Never raises for a failed run: see the
        report."""
        if self._running is not None:
            return RunReport(
                status=protocol.ERROR,
                error=(
                    f"A run is already in progress ({self._running_name}); "
                    "cancel it or wait for it to finish."
                ),
                refused=True,
            )
        run_id = uuid.uuid4().hex[:12]
        self._running, self._running_name, self._cancelled = run_id, "", False
        try:
            return await self._run(run_id, arguments or {}, path, on_progress, stand_ins, dry_run)
        finally:
            self._running = None

    async def _run(
        self,
        run_id: str,
        arguments: Mapping[str, object],
        path: str | Path | None,
        on_progress: ProgressSink | None,
        asked_stand_ins: str | None,
        dry_run: bool = False,
    ) -> RunReport:
        try:
            stand_ins = stand_in_mode(asked_stand_ins, self.settings.worker_stand_ins)
            workflow = self._workflow_for(path)
            self._running_name = workflow.name
            values = dict(self._arguments.get(workflow.path, {}))
            values.update(check_arguments(arguments, None))
            check_arguments(values, workflow)
        except InputError as exc:
            return RunReport(
                status=protocol.ERROR, error=str(exc), problems=exc.problems, refused=True
            )
        refusal = output_dir_refusal(self.settings.output_dir, self.output_dir, workflow.path)
        if refusal is not None:
            return RunReport(status=protocol.ERROR, error=refusal, refused=True)
        report = RunReport(
            status=protocol.ERROR, workflow=str(workflow.path), name=workflow.name, run_id=run_id
        )
        report.warnings = [format_problem(workflow.text, p).strip() for p in workflow.warnings]
        try:
            await self._ensure_worker()
        except WorkerError as exc:
            report.error = f"{exc}. The next run tries a fresh worker."
            return report
        if self._cancelled:
            report.status = protocol.CANCELLED
            return report
        if dry_run:
            self._say(f"Checking workflow (dry run, nothing loads): {workflow.name}")
        else:
            self._say(f"Running workflow: {workflow.name}")
            if stand_ins != protocol.STAND_INS_OFF:
                self._say(f"Stand-in models: {stand_ins} (outputs go to a stand-in folder)")
            self._say(
                self._warm.message(workflow.path, self.client.pid, workflow.sha256 + stand_ins)
            )
        params = ExecuteParams(
            workflowPath=str(workflow.path),
            outputDir=str(self.output_dir),
            arguments=dict(values),
            runId=run_id,
            allowedModules=list(self.settings.worker_allowed_modules),
            allowRemoteCode=self.settings.worker_allow_remote_code,
            growthWarningMb=self.settings.memory_growth_warning_mb,
            headroomMb=self.settings.cache_headroom_mb,
            dryRun=dry_run,
            standIns=stand_ins,
        )
        pid = self.client.pid
        try:
            result = await self.client.execute(params, on_progress, self.settings.run_timeout)
        except WorkerRequestError as exc:
            report.error = f"The worker refused the run: {exc}"
            return report
        except WorkerError as exc:
            self._warm.clear()
            if self._cancelled:
                report.status = protocol.CANCELLED
                report.warnings.append(f"{exc}; the next run starts a fresh worker.")
            else:
                report.error = f"{exc}. The next run starts a fresh worker."
            return report
        report = RunReport.of(
            result,
            workflow=report.workflow,
            name=report.name,
            run_id=run_id,
            warnings=[*report.warnings, *result.warnings],
        )
        if result.status == protocol.ERROR and result.error is None:
            report.error = "The worker reported an error without a message."
        if result.status != protocol.ERROR and not dry_run:
            self._warm.ran(workflow.path, pid, workflow.sha256 + stand_ins)
            self._runs[workflow.path] = result.runs
        return report

    async def cancel(self) -> bool:
        """Cancel the run in progress; returns whether there was one."""
        if self._running is None:
            return False
        self._cancelled = True
        await self.client.cancel(self._running)
        return True

    # -- memory ----------------------------------------------------------------------

    async def memory(self) -> MemoryStatus:
        """The worker's memory figures (starting the worker if needed)."""
        await self._ensure_worker()
        return await self.client.memory_status()

    async def clear(self) -> MemoryStatus | None:
        """Drop every cached pipeline in the worker; None when no worker is running."""
        if self._running is not None:
            raise InputError("A run is in progress; cancel it before clearing memory.")
        if self.client.state is not WorkerState.READY:
            return None
        status = await self.client.clear_memory()
        self._warm.clear()
        return status

    # -- settings and lifecycle ------------------------------------------------------

    def configure(self, name: str, value: Any) -> list[str]:
        """Set one setting by its client name (``outputDir``, ``run.timeout`` ...)."""
        settings, messages = parse_settings({name: value}, self.settings)
        if messages:
            raise InputError("; ".join(messages))
        self.update_settings(settings)
        return messages

    def update_settings(self, settings: Settings) -> None:
        """Adopt new settings; a changed worker command restarts the worker before its next
        use (a new log level reaches the next worker)."""
        old, self.settings = self.settings, settings
        if any(getattr(old, k) != getattr(settings, k) for k in _WORKER_SETTINGS):
            self._client_stale = True
        self.client.start_timeout = settings.worker_start_timeout

    def prewarm(self) -> None:
        """Start the worker in the background (``worker.prewarm``), if it is not running."""
        if not self.settings.worker_prewarm or (self.client.alive and not self._client_stale):
            return
        if self._prewarm_task is not None and not self._prewarm_task.done():
            return
        self._prewarm_task = asyncio.ensure_future(self._prewarm())

    async def _prewarm(self) -> None:
        try:
            await self._ensure_worker()
        except WorkerError as exc:
            self._log(logging.WARNING, f"prewarm: {exc}")

    async def restart_worker(self) -> None:
        """Stop the worker (ending any run); the next run starts a fresh one, or the
        background start of ``worker.prewarm`` does."""
        await self.client.stop()
        self._warm.clear()
        self._client_stale = True
        self.prewarm()

    async def shutdown(self) -> None:
        """Cancel any run and stop the worker: no process is left behind."""
        if self._prewarm_task is not None and not self._prewarm_task.done():
            self._prewarm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WorkerError):
                await self._prewarm_task
        await self.client.stop()
