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

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import MemoryStatus
from dw_lsp.session.backends import (
    ClientFactory,
    PoolFactory,
    default_client_factory,
    default_pool_factory,
    execute_params,
    prepare_params,
)
from dw_lsp.session.client import LogSink, ProgressSink, WorkerClient
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
from dw_lsp.session.sweep import SweepReport, expand_grid, run_combinations, write_manifest
from dw_lsp.session.tracking import InProgress
from dw_lsp.session.voice import Notify, Voice
from dw_lsp.session.workers import Workers
from dw_lsp.settings import Settings, parse_settings

logger = logging.getLogger(__name__)

__all__ = ["Session", "default_client_factory", "default_pool_factory"]


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
        on_worker_started: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._roots = roots
        self.base_dir = (base_dir or Path.cwd()).resolve()
        self._voice = Voice(log, notify, logger)
        self._log, self._say = self._voice.log, self._voice.say
        self.workers = Workers(
            self.settings,
            log=self._log,
            say=self._say,
            client_factory=client_factory,
            pool_factory=pool_factory,
            on_started=on_worker_started,
        )
        self.current: CheckedWorkflow | None = None
        self._arguments: dict[Path, dict[str, ArgumentValue]] = {}
        self._progress = InProgress()

    # -- plumbing --------------------------------------------------------------------

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
        return self._progress.any

    @property
    def uses_pool(self) -> bool:
        return self.workers.uses_pool

    @property
    def client(self) -> WorkerClient:
        """The local worker's client (``worker.backend: local``)."""
        return self.workers.client

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
            worker_state=self.workers.state(),
            worker_pid=None if self.uses_pool else self.client.pid,
            running=self.running,
            run_id=self._progress.first_run(),
            runs={str(p): n for p, n in self.workers.runs.items()},
            last_exit=self.client.last_exit,
            output_dir=str(self.output_dir),
            workflow_dir=str(self.workflow_dir),
            backend=self.settings.worker_backend,
            pool=self.workers.pool_status(),
            prewarming=self.workers.prewarming,
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
        run_id: str | None = None,
        dry_run: bool = False,
    ) -> RunReport:
        """Run a workflow (the current one by default) with its stored arguments updated by
        ``arguments`` (for this run only). ``stand_ins`` (off, missing, all) overrides the
        ``worker.standIns`` setting for this run. With ``dry_run`` the worker makes every
        check it makes before loading and loads nothing (the report is ``ok`` with no
        outputs, or ``error`` naming each problem). Never raises for a failed run: see the
        report. ``run_id`` (optional) lets the caller cancel this very run."""
        if not self.uses_pool and self.running:
            message = self._progress.busy_message()
            return RunReport(status=protocol.ERROR, error=message, refused=True)
        run_id = run_id or _new_id()
        return await self._tracked_run(
            run_id, arguments or {}, path, on_progress, None, stand_ins, dry_run
        )

    async def _tracked_run(
        self,
        run_id: str,
        arguments: Mapping[str, object],
        path: str | Path | None,
        on_progress: ProgressSink | None,
        out_dir: Path | None = None,
        asked_stand_ins: str | None = None,
        dry_run: bool = False,
    ) -> RunReport:
        with self._progress.run(run_id):
            try:
                stand_ins = stand_in_mode(asked_stand_ins, self.settings.worker_stand_ins)
                workflow = self._workflow_for(path)
                self._progress.name(run_id, workflow.name)
                values = dict(self._arguments.get(workflow.path, {}))
                values.update(check_arguments(arguments, None))
                check_arguments(values, workflow)
            except InputError as exc:
                return RunReport(
                    status=protocol.ERROR, error=str(exc), problems=exc.problems, refused=True
                )
            settings = self.settings
            refusal = output_dir_refusal(settings.output_dir, self.output_dir, workflow.path)
            if refusal is not None:
                return RunReport(status=protocol.ERROR, error=refusal, refused=True)
            report = RunReport(
                protocol.ERROR, workflow=str(workflow.path), name=workflow.name, run_id=run_id
            )
            report.warnings = [format_problem(workflow.text, p).strip() for p in workflow.warnings]
            if stand_ins != protocol.STAND_INS_OFF:
                self._say(f"Stand-in models: {stand_ins} (outputs go to a stand-in folder)")
            out = out_dir or self.output_dir
            params = execute_params(settings, workflow, values, out, run_id, stand_ins, dry_run)
            return await self.workers.execute(
                workflow, params, report, on_progress, lambda: self._progress.cancelled(run_id)
            )

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
            return SweepReport(protocol.ERROR, sweep_id, error=str(exc), refused=True)
        if not self.uses_pool and self.running:
            message = self._progress.busy_message()
            return SweepReport(protocol.ERROR, sweep_id, error=message, refused=True)
        folder = self.output_dir / f"sweep-{sweep_id}"
        report = SweepReport(
            protocol.ERROR, sweep_id, str(workflow.path), workflow.name, str(folder), len(combos)
        )
        how = (
            f"over {self.settings.worker_ray_workers} Ray workers"
            if self.uses_pool
            else "one after another in the warm worker"
        )
        self._say(f"Sweep of {len(combos)} runs of {workflow.name}, {how}")

        def run_one(
            run_id: str, values: dict[str, object], sink: ProgressSink, out: Path
        ) -> Awaitable[RunReport]:
            return self._tracked_run(run_id, {**extra, **values}, workflow.path, sink, out)

        with self._progress.sweep(sweep_id) as state:
            await run_combinations(report, combos, state, run_one, self.uses_pool, on_progress)
        try:
            write_manifest(report, grid)
        except (OSError, ValueError) as exc:
            self._log(logging.WARNING, f"could not write the sweep's sweep.json: {exc}")
        return report

    async def cancel(self, run_id: str | None = None) -> bool:
        """Cancel a run or a sweep by id (queued or running), or everything in progress;
        returns whether there was something to cancel."""
        targets = self._progress.cancel(run_id)
        if targets is None:
            return False
        for target in targets:
            await self.workers.cancel(target)
        return True

    # -- memory ----------------------------------------------------------------------

    async def memory(self) -> MemoryStatus:
        """The worker's memory figures (starting the worker if needed); with the pool,
        the first worker's (:meth:`memory_by_worker` has them all)."""
        return (await self.memory_by_worker())[0][1]

    async def memory_by_worker(self) -> list[tuple[int, MemoryStatus]]:
        """``(worker, memory)`` for every running worker (worker 0: the local one)."""
        return await self.workers.memory_by_worker()

    async def clear(self) -> MemoryStatus | None:
        """Drop every cached pipeline in the worker (every worker of the pool); None when
        no worker is running."""
        if self.running:
            raise InputError("A run is in progress; cancel it before clearing memory.")
        return await self.workers.clear()

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
        use, a changed pool setting makes a fresh pool (a new log level reaches the next
        worker)."""
        self.settings = settings
        self.workers.update_settings(settings)

    def prewarm(self, path: str | Path | None = None) -> None:
        """Start the worker (or the pool) in the background (``worker.prewarm``), if it is
        not running; with ``path`` (a workflow just opened) the local worker also resolves
        the classes that file names (:func:`.backends.prepare_params`)."""
        prepare = None
        if path is not None and self.settings.worker_prewarm and not self.uses_pool:
            settings, roots, out = self.settings, self.roots(), self.output_dir
            stored = {k: dict(v) for k, v in self._arguments.items()}
            prepare = partial(prepare_params, settings, Path(path), roots, stored, out)
        self.workers.prewarm(prepare)

    async def restart_worker(self) -> None:
        """Stop the worker (ending any run); the next run starts a fresh one, or the
        background start of ``worker.prewarm`` does."""
        await self.workers.restart()

    async def shutdown(self) -> None:
        """Cancel any run and stop the worker: no process is left behind."""
        await self.workers.shutdown()
