"""Where the Session's runs execute: one local worker process, or a pool of Ray actors.

:class:`Workers` owns the execution backend that ``worker.backend`` chooses and hides the
difference from the :class:`~.session.Session`:

- ``local``: one :class:`~.client.WorkerClient` (``worker.command``), started on first use and
  after it died, replaced before its next use when ``worker.command`` changed; which worker ran
  which workflow (:mod:`.warm`) words what the run did with the models.
- ``ray``: one :class:`~.pool.WorkerPool` from the pool factory (:mod:`.ray_backend`, imported
  only then); a changed ``worker.ray.*`` makes a fresh pool once nothing runs on the old one.
- Switching backend frees the other one's worker(s) first.

The Session decides whether a run may start; this module carries a checked
:class:`~dw_lsp.protocol.ExecuteParams` out and fills the report. Nothing here starts a worker,
Ray or an actor unless a Session method asks (the server asks only for a trusted workspace).
No LSP types, no torch; Ray only through the pool factory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from dw_lsp import protocol
from dw_lsp.capabilities import Capabilities, capabilities_from_json
from dw_lsp.protocol import ExecuteParams, ExecuteResult, MemoryStatus
from dw_lsp.session.backends import (
    ClientFactory,
    PoolFactory,
    default_client_factory,
    default_pool_factory,
)
from dw_lsp.session.client import LogSink, ProgressSink, WorkerState
from dw_lsp.session.inputs import CheckedWorkflow
from dw_lsp.session.pool import PoolStatus, WorkerPool
from dw_lsp.session.report import RunReport
from dw_lsp.session.rpc import WorkerError, WorkerRequestError
from dw_lsp.session.voice import Notify
from dw_lsp.session.warm import WarmWorkflows
from dw_lsp.settings import Settings

logger = logging.getLogger(__name__)

#: Settings that need a fresh worker process (a new log level applies to the next one).
_WORKER_SETTINGS = ("worker_command",)
#: Settings whose change needs a fresh worker pool.
_POOL_SETTINGS = (
    "worker_backend",
    "worker_ray_address",
    "worker_ray_workers",
    "worker_ray_resources",
)


class Workers:
    """The local worker or the pool, per ``worker.backend``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        log: LogSink,
        say: Notify,
        client_factory: ClientFactory = default_client_factory,
        pool_factory: PoolFactory = default_pool_factory,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        #: Called after the local worker answered its handshake (its capabilities are new).
        self._on_started = on_started
        self._log = log
        self._say = say
        self._client_factory = client_factory
        self.client = client_factory(settings, log)
        self._client_stale = False
        self._warm = WarmWorkflows()
        self._pool_factory = pool_factory
        self.pool: WorkerPool | None = None
        self._pool_stale = False
        self._prewarm_task: asyncio.Task[None] | None = None
        self._to_prepare: list[Callable[[], ExecuteParams | None]] = []
        #: Runs per workflow file (the local worker's own count; the pool's are counted here).
        self.runs: dict[Path, int] = {}

    @property
    def capabilities(self) -> Capabilities | None:
        """The local worker's handshake report (device, quantization backends), or None."""
        data = self.client.info.get("capabilities") if isinstance(self.client.info, dict) else None
        if data is None:
            return None
        try:
            return capabilities_from_json(data)
        except protocol.ProtocolError:
            return None

    @property
    def uses_pool(self) -> bool:
        return self.settings.worker_backend == "ray"

    def update_settings(self, settings: Settings) -> None:
        """Adopt new settings; what they change takes effect before the next use."""
        old, self.settings = self.settings, settings
        if any(getattr(old, k) != getattr(settings, k) for k in _WORKER_SETTINGS):
            self._client_stale = True
        if any(getattr(old, k) != getattr(settings, k) for k in _POOL_SETTINGS):
            self._pool_stale = True
        self.client.start_timeout = settings.worker_start_timeout

    # -- starting ----------------------------------------------------------------------

    async def ensure_pool(self) -> WorkerPool:
        """The worker pool, made afresh when its settings changed (and nothing runs on it)."""
        if self.pool is not None and self._pool_stale and not self.pool.running:
            await self.pool.shutdown()
            self.pool = None
        if self.pool is None:
            if self.client.alive:  # switching from the local worker: free what it holds
                await self.client.stop()
                self._warm.clear()
            settings = self.settings
            where = settings.worker_ray_address or "a local Ray"
            self._say(f"Starting {settings.worker_ray_workers} Ray worker(s) on {where}...")
            self.pool = self._pool_factory(settings, self._log, self._say)
            self._pool_stale = False
        return self.pool

    async def ensure_worker(self) -> None:
        """The local worker, started (or replaced, when ``worker.command`` changed)."""
        if self.pool is not None:  # switching back from the pool
            await self.pool.shutdown()
            self.pool = None
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
        if self._on_started is not None:
            try:
                self._on_started()
            except Exception:
                logger.exception("on_started failed")

    def prewarm(self, prepare: Callable[[], ExecuteParams | None] | None = None) -> None:
        """Start the worker (or the pool) in the background (``worker.prewarm``), if it is
        not running. ``prepare`` makes the dry run of an opened workflow (on a thread: it
        reads and checks the file; :func:`.backends.prepare_params`), which then goes to the
        local worker: it resolves the classes the workflow names, whose imports are most of
        a first run's cost. A run sent meanwhile waits in the worker's queue behind it."""
        if not self.settings.worker_prewarm:
            return
        if prepare is not None and not self.uses_pool:
            self._to_prepare.append(prepare)
        elif self.uses_pool:
            if self.pool is not None and not self._pool_stale:
                return
        elif self.client.alive and not self._client_stale:
            return
        if self._prewarm_task is None or self._prewarm_task.done():
            self._prewarm_task = asyncio.ensure_future(self._prewarm())

    @property
    def prewarming(self) -> bool:
        """Whether a prewarm is still starting the worker or preparing a workflow."""
        return self._prewarm_task is not None and not self._prewarm_task.done()

    async def _prewarm(self) -> None:
        try:
            if self.uses_pool:
                await (await self.ensure_pool()).start()
                return
            await self.ensure_worker()
            while self._to_prepare:
                made = await asyncio.to_thread(self._to_prepare.pop(0))
                if made is None:
                    continue
                params = protocol.to_json(made)
                # it may wait behind a run in the worker's queue
                timeout = self.settings.worker_start_timeout + self.settings.run_timeout
                answer = await self.client.request(protocol.PREPARE, params, timeout)
                name = Path(made.workflowPath).name
                if isinstance(answer, dict) and answer.get("status") == protocol.OK:
                    self._say(f"Prepared {name}: the classes it names are imported")
                else:  # its run will name the problem in the user's words
                    logger.debug("prewarm of %s: %s", name, answer)
        except WorkerRequestError as exc:  # a worker without prepare: the start was the point
            logger.debug("prewarm: %s", exc)
        except WorkerError as exc:
            self._log(logging.WARNING, f"prewarm: {exc}")

    # -- running -----------------------------------------------------------------------

    async def execute(
        self,
        workflow: CheckedWorkflow,
        params: ExecuteParams,
        report: RunReport,
        on_progress: ProgressSink | None,
        cancelled: Callable[[], bool],
    ) -> RunReport:
        """Run ``params`` on the backend and fill ``report``; never raises for a failed run.
        ``cancelled`` says whether the run was cancelled meanwhile."""
        if self.uses_pool:
            return await self._on_pool(workflow, params, report, on_progress, cancelled)
        return await self._locally(workflow, params, report, on_progress, cancelled)

    async def _locally(
        self,
        workflow: CheckedWorkflow,
        params: ExecuteParams,
        report: RunReport,
        on_progress: ProgressSink | None,
        cancelled: Callable[[], bool],
    ) -> RunReport:
        try:
            await self.ensure_worker()
        except WorkerError as exc:
            report.error = f"{exc}. The next run tries a fresh worker."
            return report
        if cancelled():
            report.status = protocol.CANCELLED
            return report
        first = None
        if params.dryRun:
            self._say(f"Checking workflow (dry run, nothing loads): {workflow.name}")
        else:
            self._say(f"Running workflow: {workflow.name}")
            first = self._warm.before(workflow.path, self.client.pid)
            if first is not None:
                self._say(first)
        pid = self.client.pid
        try:
            result = await self.client.execute(params, on_progress, self.settings.run_timeout)
        except WorkerRequestError as exc:
            report.error = f"The worker refused the run: {exc}"
            return report
        except WorkerError as exc:
            self._warm.clear()
            if cancelled():
                report.status = protocol.CANCELLED
                report.warnings.append(f"{exc}; the next run starts a fresh worker.")
            else:
                report.error = f"{exc}. The next run starts a fresh worker."
            return report
        fill(report, result)
        done = None if first is not None or params.dryRun else self._warm.after(result)
        if done is not None:  # what the worker did: it decides, by load key
            self._say(done)
        if result.status != protocol.ERROR and not params.dryRun:
            self._warm.ran(workflow.path, pid)
            self.runs[workflow.path] = result.runs
        return report

    async def _on_pool(
        self,
        workflow: CheckedWorkflow,
        params: ExecuteParams,
        report: RunReport,
        on_progress: ProgressSink | None,
        cancelled: Callable[[], bool],
    ) -> RunReport:
        if cancelled():
            report.status = protocol.CANCELLED
            return report
        self._say(f"Running workflow: {workflow.name}")

        def started(worker: int, warm: bool) -> None:
            if warm:
                self._say(f"Worker {worker}: reusing loaded models from cache")
            else:
                self._say(f"Worker {worker}: loading models (not warm on this worker)...")

        try:
            pool = await self.ensure_pool()
            outcome = await pool.run(params, workflow.name, on_progress, started)
        except WorkerError as exc:
            report.error = str(exc)
            return report
        fill(report, outcome.result)
        report.worker = outcome.worker
        report.queued_seconds = outcome.queued_seconds
        report.retried = outcome.retried
        if outcome.retried:
            report.warnings.append(
                "The worker first chosen for this run died before it started; "
                "it ran on another one."
            )
        if outcome.result.status != protocol.ERROR and not params.dryRun:
            self.runs[workflow.path] = self.runs.get(workflow.path, 0) + 1
        return report

    async def cancel(self, run_id: str) -> None:
        """Ask the backend to stop one run (queued or running)."""
        if self.uses_pool:
            if self.pool is not None:
                await self.pool.cancel(run_id)
        else:
            await self.client.cancel(run_id)

    # -- memory and state --------------------------------------------------------------

    async def memory_by_worker(self) -> list[tuple[int, MemoryStatus]]:
        """``(worker, memory)`` for every running worker (worker 0: the local one),
        starting the worker or the pool if needed."""
        if self.uses_pool:
            figures = await (await self.ensure_pool()).memory()
            if not figures:
                raise WorkerError("No worker of the pool is running.")
            return figures
        await self.ensure_worker()
        return [(0, await self.client.memory_status())]

    async def clear(self) -> MemoryStatus | None:
        """Drop every cached pipeline in the worker (every idle worker of the pool); None
        when no worker is running. Starts nothing."""
        if self.uses_pool:
            cleared = await self.pool.clear() if self.pool is not None else []
            return cleared[0][1] if cleared else None
        if self.client.state is not WorkerState.READY:
            return None
        status = await self.client.clear_memory()
        self._warm.clear()
        return status

    def state(self) -> str:
        """``stopped`` | ``starting`` | ``ready`` | ``busy`` | ``errored`` (for the pool:
        busy when any worker is, else ready when any is)."""
        if not self.uses_pool:
            return self.client.state.value
        pool = self.pool_status()
        states = [w.state for w in pool.workers] if pool else []
        return "busy" if "busy" in states else "ready" if "ready" in states else "stopped"

    def pool_status(self) -> PoolStatus | None:
        return self.pool.status() if self.uses_pool and self.pool is not None else None

    async def restart(self) -> None:
        """Stop the worker and the pool (ending any run); the next use starts afresh, or
        the background start of ``worker.prewarm`` does."""
        await self.client.stop()
        self._warm.clear()
        self._client_stale = True
        if self.pool is not None:
            await self.pool.shutdown()
            self.pool = None
        self.prewarm()

    async def shutdown(self) -> None:
        """Stop everything: no process or actor is left behind."""
        if self._prewarm_task is not None and not self._prewarm_task.done():
            self._prewarm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WorkerError):
                await self._prewarm_task
        await self.client.stop()
        if self.pool is not None:
            await self.pool.shutdown()
            self.pool = None


def fill(report: RunReport, result: ExecuteResult) -> None:
    """Copy a worker's result into the run's report."""
    report.take(result)
    if result.status == protocol.ERROR and result.error is None:
        report.error = "The worker reported an error without a message."
