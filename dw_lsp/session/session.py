"""Session: every user action of every front end (LSP, REPL, CLI) as one method.

It owns the current workflow, the arguments set for each workflow file, the settings and
one :class:`WorkerClient`. Every input is checked (:mod:`dw_lsp.session.inputs`) before it
reaches the worker, and a workflow is re-read and re-checked from disk at each run: the run
uses the saved file.

Behaviour decisions:

- **One run at a time, a second is refused** on the local backend. ``run`` while a run is
  in progress returns an ``error`` report "A run is already in progress ..." at once
  instead of queueing: a queued run would start minutes later with arguments the user may
  have changed meanwhile, and one worker has nowhere else to run it.
- **With ``worker.backend: ray`` runs are scheduled over a pool** (:mod:`.pool`): each goes
  to an idle worker that holds its models, else another idle one, else waits in a queue
  whose position is reported as progress. Ray is imported only then (:mod:`.ray_backend`,
  lazily), and changing a pool setting starts a fresh pool before the next run.
- **Sweeps** (:meth:`Session.run_sweep`, :mod:`.sweep`) run a workflow over the cartesian
  product of a grid: one after another in the local worker, all at once on the pool.
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, ExecuteResult, MemoryStatus
from dw_lsp.session.client import LogSink, ProgressSink, WorkerClient, WorkerState
from dw_lsp.session.inputs import (
    ArgumentValue,
    CheckedWorkflow,
    InputError,
    check_arguments,
    format_problem,
    read_workflow,
)
from dw_lsp.session.pool import WorkerPool
from dw_lsp.session.report import RunReport, SessionStatus
from dw_lsp.session.rpc import WorkerError, WorkerRequestError
from dw_lsp.session.sweep import (
    SweepReport,
    SweepState,
    expand_grid,
    run_combinations,
    write_manifest,
)
from dw_lsp.settings import Settings, parse_settings
from dw_lsp.validation.rules_paths import holds_workflow, output_dir_violation

logger = logging.getLogger(__name__)

Notify = Callable[[str], None]
ClientFactory = Callable[[Settings, LogSink], WorkerClient]
PoolFactory = Callable[[Settings, LogSink, Notify], WorkerPool]

#: Settings whose change needs a fresh worker process (a new log level applies to the next
#: worker: restarting would drop the loaded models).
_WORKER_SETTINGS = ("worker_command",)
#: Settings whose change needs a fresh worker pool.
_POOL_SETTINGS = (
    "worker_backend",
    "worker_ray_address",
    "worker_ray_workers",
    "worker_ray_resources",
)


def default_client_factory(settings: Settings, log: LogSink) -> WorkerClient:
    """The real worker, started with ``worker.command``."""
    return WorkerClient(
        settings.worker_command,
        log=log,
        initialize_params={"logLevel": settings.log_level},
        start_timeout=settings.worker_start_timeout,
    )


def default_pool_factory(settings: Settings, log: LogSink, say: Notify) -> WorkerPool:
    """A pool of Ray actors as ``worker.ray.*`` say (Ray is imported here, not before)."""
    from dw_lsp.session.ray_backend import RayBackend

    backend = RayBackend(
        settings.worker_ray_address,
        settings.worker_ray_resources,
        workers=settings.worker_ray_workers,
        log_level=settings.log_level,
    )
    return WorkerPool(
        backend,
        settings.worker_ray_workers,
        log=log,
        say=say,
        start_timeout=settings.run_timeout,
        run_timeout=settings.run_timeout,
    )


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


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
        pool_factory: PoolFactory = default_pool_factory,
    ) -> None:
        self.settings = settings or Settings()
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
        self._warm_hash: dict[Path, tuple[int | None, str]] = {}
        self._pool_factory = pool_factory
        self._pool: WorkerPool | None = None
        self._pool_stale = False
        self._active: dict[str, str] = {}  # run id -> workflow name
        self._cancelled: set[str] = set()
        self._sweeps: dict[str, SweepState] = {}
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
    def running(self) -> bool:
        return bool(self._active or self._sweeps)

    @property
    def uses_pool(self) -> bool:
        return self.settings.worker_backend == "ray"

    async def _ensure_pool(self) -> WorkerPool:
        """The worker pool, made afresh when its settings changed (and nothing runs on it)."""
        if self._pool is not None and self._pool_stale and not self._pool.running:
            await self._pool.shutdown()
            self._pool = None
        if self._pool is None:
            if self.client.alive:  # switching from the local worker: free what it holds
                await self.client.stop()
                self._warm_hash.clear()
            settings = self.settings
            where = settings.worker_ray_address or "a local Ray"
            self._say(f"Starting {settings.worker_ray_workers} Ray worker(s) on {where}...")
            self._pool = self._pool_factory(settings, self._log, self._say)
            self._pool_stale = False
        return self._pool

    async def _ensure_worker(self) -> None:
        if self._pool is not None:  # switching back from the pool
            await self._pool.shutdown()
            self._pool = None
        if self._client_stale and self.client.state is not WorkerState.BUSY:
            await self.client.stop()
            self.client = self._client_factory(self.settings, self._log)
            self._client_stale = False
            self._warm_hash.clear()
        if self.client.state in (WorkerState.READY, WorkerState.BUSY):
            return
        self._say("Starting worker process...")
        await self.client.start()
        self._say("Worker process started")

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
        pool = self._pool.status() if self.uses_pool and self._pool is not None else None
        state = self.client.state.value
        if self.uses_pool:
            states = [w.state for w in pool.workers] if pool else []
            state = "busy" if "busy" in states else "ready" if "ready" in states else "stopped"
        return SessionStatus(
            workflow=str(current.path) if current else None,
            name=current.name if current else None,
            arguments=dict(self._arguments.get(current.path, {})) if current else {},
            worker_state=state,
            worker_pid=None if self.uses_pool else self.client.pid,
            running=self.running,
            run_id=next(iter(self._active), None),
            runs={str(p): n for p, n in self._runs.items()},
            last_exit=self.client.last_exit,
            output_dir=str(self.output_dir),
            workflow_dir=str(self.workflow_dir),
            backend=self.settings.worker_backend,
            pool=pool,
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
        *,
        run_id: str | None = None,
    ) -> RunReport:
        """Run a workflow (the current one by default) with its stored arguments updated by
        ``arguments`` (for this run only). Never raises for a failed run: see the report.
        ``run_id`` (optional) lets the caller cancel this very run."""
        if not self.uses_pool and self.running:
            return RunReport(
                status=protocol.ERROR,
                error=(
                    f"A run is already in progress ({self._busy_name()}); "
                    "cancel it or wait for it to finish."
                ),
                refused=True,
            )
        return await self._tracked_run(
            run_id or _new_id(), arguments or {}, path, on_progress, None
        )

    def _busy_name(self) -> str:
        names = [n for n in self._active.values() if n]
        return names[0] if names else "a sweep" if self._sweeps else "starting"

    async def _tracked_run(
        self,
        run_id: str,
        arguments: Mapping[str, object],
        path: str | Path | None,
        on_progress: ProgressSink | None,
        out_dir: Path | None,
    ) -> RunReport:
        self._active[run_id] = ""
        try:
            return await self._run(run_id, arguments, path, on_progress, out_dir)
        finally:
            self._active.pop(run_id, None)
            self._cancelled.discard(run_id)

    async def _run(
        self,
        run_id: str,
        arguments: Mapping[str, object],
        path: str | Path | None,
        on_progress: ProgressSink | None,
        out_dir: Path | None,
    ) -> RunReport:
        try:
            workflow = self._workflow_for(path)
            self._active[run_id] = workflow.name
            values = dict(self._arguments.get(workflow.path, {}))
            values.update(check_arguments(arguments, None))
            check_arguments(values, workflow)
        except InputError as exc:
            return RunReport(
                status=protocol.ERROR, error=str(exc), problems=exc.problems, refused=True
            )
        refusal = self._output_dir_refusal(workflow.path)
        if refusal is not None:
            return RunReport(status=protocol.ERROR, error=refusal, refused=True)
        report = RunReport(
            status=protocol.ERROR, workflow=str(workflow.path), name=workflow.name, run_id=run_id
        )
        report.warnings = [format_problem(workflow.text, p).strip() for p in workflow.warnings]
        params = ExecuteParams(
            workflowPath=str(workflow.path),
            outputDir=str(out_dir or self.output_dir),
            arguments=dict(values),
            runId=run_id,
            allowedModules=list(self.settings.worker_allowed_modules),
            allowRemoteCode=self.settings.worker_allow_remote_code,
            growthWarningMb=self.settings.memory_growth_warning_mb,
            headroomMb=self.settings.cache_headroom_mb,
        )
        if self.uses_pool:
            return await self._run_on_pool(workflow, params, report, on_progress)
        return await self._run_local(workflow, params, report, on_progress)

    async def _run_local(
        self,
        workflow: CheckedWorkflow,
        params: ExecuteParams,
        report: RunReport,
        on_progress: ProgressSink | None,
    ) -> RunReport:
        run_id = params.runId
        try:
            await self._ensure_worker()
        except WorkerError as exc:
            report.error = f"{exc}. The next run tries a fresh worker."
            return report
        if run_id in self._cancelled:
            report.status = protocol.CANCELLED
            return report
        self._say(f"Running workflow: {workflow.name}")
        previous = self._warm_hash.get(workflow.path)
        if previous == (self.client.pid, workflow.sha256):
            self._say("Reusing loaded models from cache")
        elif previous is not None and previous[0] == self.client.pid:
            self._say("Workflow file changed - reloading models...")
        else:
            self._say("Loading models (this worker has not run this workflow yet)...")
        pid = self.client.pid
        try:
            result = await self.client.execute(params, on_progress, self.settings.run_timeout)
        except WorkerRequestError as exc:
            report.error = f"The worker refused the run: {exc}"
            return report
        except WorkerError as exc:
            self._warm_hash.clear()
            if run_id in self._cancelled:
                report.status = protocol.CANCELLED
                report.warnings.append(f"{exc}; the next run starts a fresh worker.")
            else:
                report.error = f"{exc}. The next run starts a fresh worker."
            return report
        self._fill(report, result)
        if result.status != protocol.ERROR:
            self._warm_hash[workflow.path] = (pid, workflow.sha256)
            self._runs[workflow.path] = result.runs
        return report

    async def _run_on_pool(
        self,
        workflow: CheckedWorkflow,
        params: ExecuteParams,
        report: RunReport,
        on_progress: ProgressSink | None,
    ) -> RunReport:
        if params.runId in self._cancelled:
            report.status = protocol.CANCELLED
            return report
        self._say(f"Running workflow: {workflow.name}")

        def started(worker: int, warm: bool) -> None:
            if warm:
                self._say(f"Worker {worker}: reusing loaded models from cache")
            else:
                self._say(f"Worker {worker}: loading models (not warm on this worker)...")

        try:
            pool = await self._ensure_pool()
            outcome = await pool.run(params, workflow.name, on_progress, started)
        except WorkerError as exc:
            report.error = str(exc)
            return report
        self._fill(report, outcome.result)
        report.worker = outcome.worker
        report.queued_seconds = outcome.queued_seconds
        report.retried = outcome.retried
        if outcome.retried:
            report.warnings.append(
                "The worker first chosen for this run died before it started; "
                "it ran on another one."
            )
        if outcome.result.status != protocol.ERROR:
            self._runs[workflow.path] = self._runs.get(workflow.path, 0) + 1
        return report

    @staticmethod
    def _fill(report: RunReport, result: ExecuteResult) -> None:
        report.status = result.status
        report.outputs = result.outputs
        report.error = result.error
        report.traceback = result.traceback
        report.timings = result.timings
        report.cache = result.cache
        report.runs = result.runs
        report.memory = result.memory
        report.warnings.extend(result.warnings)
        report.file_changed = result.fileChanged
        if result.status == protocol.ERROR and result.error is None:
            report.error = "The worker reported an error without a message."

    # -- sweeps ----------------------------------------------------------------------

    async def run_sweep(
        self,
        grid: Mapping[str, object],
        path: str | Path | None = None,
        on_progress: ProgressSink | None = None,
        arguments: Mapping[str, object] | None = None,
        *,
        sweep_id: str | None = None,
    ) -> SweepReport:
        """Run a workflow once per combination of the grid's values (cartesian product),
        over ``arguments`` and the stored ones. Every combination is checked before the
        first run starts. Never raises for a failed run: see the report."""
        sweep_id = sweep_id or _new_id()
        extra = dict(arguments or {})
        try:
            combos = expand_grid(grid)
            workflow = self._workflow_for(path)
            base = dict(self._arguments.get(workflow.path, {}))
            base.update(check_arguments(extra, None))
            for combo in combos:
                check_arguments({**base, **check_arguments(combo, None)}, workflow)
        except InputError as exc:
            return SweepReport(
                status=protocol.ERROR, sweep_id=sweep_id, error=str(exc), refused=True
            )
        if not self.uses_pool and self.running:
            message = (
                f"A run is already in progress ({self._busy_name()}); "
                "cancel it or wait for it to finish."
            )
            return SweepReport(
                status=protocol.ERROR, sweep_id=sweep_id, error=message, refused=True
            )
        folder = self.output_dir / f"sweep-{sweep_id}"
        report = SweepReport(
            status=protocol.ERROR,
            sweep_id=sweep_id,
            workflow=str(workflow.path),
            name=workflow.name,
            folder=str(folder),
            total=len(combos),
        )
        how = (
            f"over {self.settings.worker_ray_workers} Ray workers"
            if self.uses_pool
            else "one after another in the warm worker"
        )
        self._say(f"Sweep of {len(combos)} runs of {workflow.name}, {how}")
        state = SweepState()
        self._sweeps[sweep_id] = state

        def run_one(
            run_id: str, values: dict[str, object], sink: ProgressSink, out: Path
        ) -> Awaitable[RunReport]:
            return self._tracked_run(run_id, {**extra, **values}, workflow.path, sink, out)

        try:
            await run_combinations(report, combos, state, run_one, self.uses_pool, on_progress)
        finally:
            self._sweeps.pop(sweep_id, None)
        try:
            write_manifest(report, grid)
        except OSError as exc:
            self._log(logging.WARNING, f"could not write the sweep's sweep.json: {exc}")
        return report

    def _output_dir_refusal(self, workflow: Path) -> str | None:
        """Why results of ``workflow`` may not go to the output directory: the setting is
        not a folder path, or the folder holds the workflow (the worker also checks its
        sub-workflows before anything loads)."""
        why = output_dir_violation(self.settings.output_dir)
        if why is not None:
            return f"The output directory {self.settings.output_dir!r} {why} (setting outputDir)."
        return holds_workflow(self.output_dir, workflow)

    async def cancel(self, run_id: str | None = None) -> bool:
        """Cancel a run or a sweep by id (queued or running), or everything in progress;
        returns whether there was something to cancel."""
        sweeps = list(self._sweeps.values()) if run_id is None else []
        if run_id in self._sweeps:
            sweeps.append(self._sweeps[run_id])
        targets = list(self._active) if run_id is None else []
        if run_id in self._active:
            targets.append(run_id)
        targets += [r for s in sweeps for r in s.run_ids if r in self._active and r not in targets]
        if not targets and not sweeps:
            return False
        for sweep in sweeps:
            sweep.cancelled = True
        self._cancelled.update(targets)
        for target in targets:
            if self.uses_pool and self._pool is not None:
                await self._pool.cancel(target)
            elif not self.uses_pool:
                await self.client.cancel(target)
        return True

    # -- memory ----------------------------------------------------------------------

    async def memory(self) -> MemoryStatus:
        """The worker's memory figures (starting the worker if needed); with the pool,
        the first worker's (:meth:`memory_by_worker` has them all)."""
        return (await self.memory_by_worker())[0][1]

    async def memory_by_worker(self) -> list[tuple[int, MemoryStatus]]:
        """``(worker, memory)`` for every running worker (worker 0: the local one)."""
        if self.uses_pool:
            figures = await (await self._ensure_pool()).memory()
            if not figures:
                raise WorkerError("No worker of the pool is running.")
            return figures
        await self._ensure_worker()
        return [(0, await self.client.memory_status())]

    async def clear(self) -> MemoryStatus | None:
        """Drop every cached pipeline in the worker (every worker of the pool); None when
        no worker is running."""
        if self.running:
            raise InputError("A run is in progress; cancel it before clearing memory.")
        if self.uses_pool:
            cleared = await self._pool.clear() if self._pool is not None else []
            return cleared[0][1] if cleared else None
        if self.client.state is not WorkerState.READY:
            return None
        status = await self.client.clear_memory()
        self._warm_hash.clear()
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
        if any(getattr(old, k) != getattr(settings, k) for k in _POOL_SETTINGS):
            self._pool_stale = True
        self.client.start_timeout = settings.worker_start_timeout

    def prewarm(self) -> None:
        """Start the worker (or the pool) in the background (``worker.prewarm``), if it is
        not running."""
        if not self.settings.worker_prewarm:
            return
        if self.uses_pool:
            if self._pool is not None and not self._pool_stale:
                return
        elif self.client.alive and not self._client_stale:
            return
        if self._prewarm_task is not None and not self._prewarm_task.done():
            return
        self._prewarm_task = asyncio.ensure_future(self._prewarm())

    async def _prewarm(self) -> None:
        try:
            if self.uses_pool:
                await (await self._ensure_pool()).start()
            else:
                await self._ensure_worker()
        except WorkerError as exc:
            self._log(logging.WARNING, f"prewarm: {exc}")

    async def restart_worker(self) -> None:
        """Stop the worker (ending any run); the next run starts a fresh one, or the
        background start of ``worker.prewarm`` does."""
        await self.client.stop()
        self._warm_hash.clear()
        self._client_stale = True
        if self._pool is not None:
            await self._pool.shutdown()
            self._pool = None
        self.prewarm()

    async def shutdown(self) -> None:
        """Cancel any run and stop the worker: no process is left behind."""
        if self._prewarm_task is not None and not self._prewarm_task.done():
            self._prewarm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WorkerError):
                await self._prewarm_task
        await self.client.stop()
        if self._pool is not None:
            await self._pool.shutdown()
            self._pool = None
