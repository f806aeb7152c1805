"""WorkerPool: runs over a pool of warm worker actors, with affinity, a queue and replacement.

``worker.backend: ray`` gives the Session one of these instead of a single spawned worker.
Each *slot* (``worker.ray.workers`` of them) holds one actor that hosts the worker's runtime
(:mod:`dw_lsp.worker.actor`), started once and kept, so its models stay warm across runs.

What it guarantees:

- **Routing** by :func:`.scheduler.choose`: before a run is queued, a live actor computes
  the run's load keys from the saved file (:mod:`dw_lsp.worker.plan`); the run goes to the
  idle worker whose cache holds them, else to the best other idle worker, else it waits in
  a FIFO queue, and every queued run is told its position whenever it changes (a progress
  event of phase ``queue``).
- **Progress** per denoising step streams back from the actor and reaches the same
  :data:`ProgressSink` the local worker feeds.
- **Cancel** of a queued run removes it (its result is ``cancelled``); of a running run asks
  the actor (cooperative, the models stay), and kills the actor if the run has not stopped
  ``cancel_grace`` seconds later.
- **A dead actor** (crashed, killed, its node lost) is seen when a call to it fails. A run
  it had not started yet is queued again at the head, once; a run it had started fails with
  the cause. Either way the slot starts a fresh actor at once. A run that reports no
  progress for ``run.timeout`` seconds is treated as hung: its actor is killed.
- **Outputs** land in the session's output directory: an actor on the session's own
  machine writes them there; one elsewhere sends their bytes back with the result and the
  pool writes them (names checked to stay inside the directory).

The actors come from a :class:`PoolBackend` (:mod:`.ray_backend` for Ray), so nothing here
imports Ray; the vocabulary (actors, slots, results) is :mod:`.pool_parts`. No torch, no LSP types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, ExecuteResult, MemoryStatus, Progress
from dw_lsp.session.pool_parts import (
    CALL_TIMEOUT,
    Actor,
    ActorDied,
    PoolBackend,
    PoolRun,
    PoolStatus,
    Slot,
    SlotState,
    WorkerStatus,
    write_outputs,
)
from dw_lsp.session.rpc import WorkerError, memory_from_json
from dw_lsp.session.scheduler import RunQueue, choose

__all__ = [
    "CALL_TIMEOUT",
    "Actor",
    "ActorDied",
    "PoolBackend",
    "PoolRun",
    "PoolStatus",
    "WorkerPool",
    "WorkerStatus",
    "write_outputs",
]

logger = logging.getLogger(__name__)

#: Seconds a running run may take to stop after ``cancel`` before its actor is killed.
CANCEL_GRACE = 10.0
_POLL = 0.25

LogSink = Callable[[int, str], None]
ProgressSink = Callable[[Progress], None]
StartSink = Callable[[int, bool], None]


@dataclass(eq=False)
class _Job:
    params: ExecuteParams
    name: str
    on_progress: ProgressSink | None
    on_start: StartSink | None
    future: asyncio.Future[PoolRun]
    queued_at: float
    keys: list[str] = field(default_factory=list)
    attempts: int = 0
    cancelled: bool = False
    started: bool = False
    position: int = 0
    slot: Slot | None = None
    last_progress: float = 0.0
    cancel_deadline: float | None = None
    kill_reason: str | None = None
    seq: int = 0  # order of arrival


class WorkerPool:
    """Slots of warm actors, a queue and the runs in flight; see the module docstring."""

    def __init__(
        self,
        backend: PoolBackend,
        size: int,
        *,
        log: LogSink | None = None,
        say: Callable[[str], None] | None = None,
        start_timeout: float = 300.0,
        run_timeout: float = 300.0,
        cancel_grace: float = CANCEL_GRACE,
        ship_outputs: bool | None = None,
    ) -> None:
        self.backend = backend
        self.slots = [Slot(i + 1) for i in range(size)]
        self.queue: RunQueue[_Job] = RunQueue()
        self.start_timeout = start_timeout
        self.run_timeout = run_timeout
        self.cancel_grace = cancel_grace
        self._ship = ship_outputs  # None: decided per actor (same machine or not)
        self._log_sink = log
        self._say_sink = say
        self._jobs: dict[str, _Job] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = False
        self._connect_lock = asyncio.Lock()
        self._live = asyncio.Event()
        self._closed = False
        self._seq = 0

    # -- plumbing --------------------------------------------------------------------

    def _log(self, level: int, message: str) -> None:
        if self._log_sink is not None:
            self._log_sink(level, message)
        else:
            logger.log(level, message)

    def _say(self, message: str) -> None:
        if self._say_sink is not None:
            self._say_sink(message)
        else:
            self._log(logging.INFO, message)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def running(self) -> bool:
        return bool(self._jobs)

    # -- starting --------------------------------------------------------------------

    async def _connect(self) -> None:
        async with self._connect_lock:
            if not self._connected:
                await self.backend.connect()
                self._connected = True

    def _start_missing(self) -> None:
        """Start every slot that has no actor (never started, or its start failed)."""
        for slot in self.slots:
            if slot.state in (SlotState.STOPPED, SlotState.ERRORED):
                self._start_slot(slot)

    def _start_slot(self, slot: Slot) -> None:
        slot.state, slot.error, slot.actor = SlotState.STARTING, None, None
        slot.keys, slot.pipelines, slot.memory = frozenset(), [], None
        slot.starting = self._spawn(self._bring_up(slot))

    async def _bring_up(self, slot: Slot) -> None:
        try:
            actor = await self.backend.start_actor(slot.id, self.start_timeout)
        except WorkerError as exc:
            slot.state, slot.error = SlotState.ERRORED, str(exc)
            self._log(logging.WARNING, f"worker {slot.id} could not start: {exc}")
            self._dispatch()
            return
        if self._closed:
            await actor.kill()
            return
        slot.actor, slot.state, slot.idle_since = actor, SlotState.IDLE, time.monotonic()
        self._live.set()
        where = f"{actor.info.get('host', '?')}, pid {actor.info.get('pid', '?')}"
        self._log(logging.INFO, f"worker {slot.id} ready ({where}, {actor.info.get('device')})")
        await self._refresh(slot)
        self._dispatch()

    async def start(self) -> None:
        """Connect and bring every slot up; raises when no worker could start."""
        await self._connect()
        self._start_missing()
        starting = [s.starting for s in self.slots if s.starting is not None]
        await asyncio.gather(*starting, return_exceptions=True)
        if not any(s.live for s in self.slots):
            raise WorkerError(self._no_worker_message())

    def _no_worker_message(self) -> str:
        errors = sorted({s.error for s in self.slots if s.error})
        return "No worker of the pool could start: " + ("; ".join(errors) or "unknown reason")

    async def _first_live_slot(self) -> Slot:
        """A slot with a live actor, waiting for the first one to start if none is up yet."""
        while True:
            live = [s for s in self.slots if s.live and s.actor is not None]
            if live:
                idle = [s for s in live if s.state is SlotState.IDLE]
                return (idle or live)[0]
            pending = [
                s.starting
                for s in self.slots
                if s.state is SlotState.STARTING
                and s.starting is not None
                and not s.starting.done()
            ]
            if not pending:
                raise WorkerError(self._no_worker_message())
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    # -- running ---------------------------------------------------------------------

    async def run(
        self,
        params: ExecuteParams,
        name: str = "",
        on_progress: ProgressSink | None = None,
        on_start: StartSink | None = None,
    ) -> PoolRun:
        """Run on the best worker, queueing when all are busy. Raises :class:`WorkerError`
        when no worker can start or the run's worker died during it."""
        loop = asyncio.get_running_loop()
        job = _Job(params, name, on_progress, on_start, loop.create_future(), loop.time())
        self._seq += 1
        job.seq = self._seq
        job.future.add_done_callback(_retrieve)
        self._jobs[params.runId] = job
        try:
            await self._connect()
            self._start_missing()
            job.keys = await self._plan(job)
            if job.cancelled:
                return PoolRun(ExecuteResult(status=protocol.CANCELLED))
            job.queued_at = loop.time()
            # Planning ends in any order: the queue keeps the order the runs came in.
            later = [i for i, q in enumerate(self.queue.items()) if q.seq > job.seq]
            self.queue.insert(later[0] if later else len(self.queue), job)
            self._dispatch()
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            # Our caller went away (shutting down): do not leave the run going or queued.
            with contextlib.suppress(WorkerError):
                await self.cancel(params.runId)
            raise
        finally:
            self._jobs.pop(params.runId, None)

    async def _plan(self, job: _Job) -> list[str]:
        """The run's load keys, computed by a live actor ([] when it cannot tell). An idle
        actor found dead on the way is replaced, and another one asked."""
        for _ in range(len(self.slots)):
            slot = await self._first_live_slot()
            actor = slot.actor
            assert actor is not None
            try:
                keys = await actor.call("load_keys", protocol.to_json(job.params))
            except ActorDied as exc:
                if slot.actor is actor and slot.state is SlotState.IDLE:
                    await self._lose(slot, str(exc))
                continue
            except WorkerError as exc:
                self._log(logging.DEBUG, f"no load keys for run {job.params.runId}: {exc}")
                return []
            return [k for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
        return []

    def _dispatch(self) -> None:
        """Give queued runs to idle workers, in queue order; tell the others where they are."""
        while len(self.queue):
            idle = [s for s in self.slots if s.state is SlotState.IDLE and s.actor is not None]
            job = self.queue.head()
            assert job is not None
            finishing = [s.view() for s in self.slots if s.state is SlotState.BUSY and s.finishing]
            chosen = choose([s.view() for s in idle], job.keys, finishing)
            if chosen is None:
                break
            slot = next(s for s in idle if s.id == chosen.id)
            self.queue.pop_head()
            slot.state, slot.run_id, job.slot = SlotState.BUSY, job.params.runId, slot
            self._spawn(self._execute(job, slot))
        if len(self.queue) and not any(
            s.state in (SlotState.STARTING, SlotState.IDLE, SlotState.BUSY) for s in self.slots
        ):
            message = self._no_worker_message()
            while len(self.queue):
                self._settle_error(self.queue.pop_head(), message)
        self._report_queue()

    def _report_queue(self) -> None:
        busy = sum(1 for s in self.slots if s.state is SlotState.BUSY)
        for position, job in enumerate(self.queue.items(), start=1):
            if job.position == position:
                continue
            job.position = position
            if job.on_progress is not None:
                job.on_progress(
                    Progress(
                        runId=job.params.runId,
                        phase="queue",
                        message=(
                            f"waiting for a worker: {position} in the queue "
                            f"({busy} of {len(self.slots)} workers busy)"
                        ),
                        percent=0.0,
                    )
                )

    async def _execute(self, job: _Job, slot: Slot) -> None:
        """Run one job on one slot, to the end of the actor's cleanup."""
        actor = slot.actor
        assert actor is not None
        loop = asyncio.get_running_loop()
        warm = bool(job.keys) and set(job.keys) <= slot.keys
        if job.on_start is not None:
            job.on_start(slot.id, warm)
        job.last_progress = loop.time()
        ship = (not actor.same_host) if self._ship is None else self._ship
        watchdog = self._spawn(self._watch(job, slot))
        delivered = False
        try:
            items = actor.execute(protocol.to_json(job.params), ship)
            async for item in items:
                if not isinstance(item, dict):
                    continue
                if "progress" in item:
                    job.started = True
                    job.last_progress = loop.time()
                    self._progress(job, item["progress"])
                elif "result" in item:
                    delivered = slot.finishing = True
                    self._finish(job, slot, item, warm, loop.time())
                    if item.get("poisoned"):
                        reason = "its CUDA context is unusable after the run's error"
                        await self._lose(slot, reason)
                        return
            slot.state, slot.idle_since = SlotState.IDLE, time.monotonic()
            if not delivered:
                self._settle_error(job, f"Worker {slot.id} ended the run without a result")
        except ActorDied as exc:
            reason = job.kill_reason or str(exc)
            await self._lose(slot, reason)
            if delivered:
                return
            if job.cancelled:
                result = ExecuteResult(status=protocol.CANCELLED, warnings=[reason])
                self._settle(job, PoolRun(result, slot.id, retried=job.attempts > 0))
            elif not job.started and job.attempts == 0:
                job.attempts += 1
                job.slot, job.position = None, 0
                self._log(
                    logging.WARNING,
                    f"worker {slot.id} died before run "
                    f"{job.params.runId} started ({reason}): queueing it again",
                )
                self.queue.push_front(job)
            else:
                when = "during the run" if job.started else "before the run started, twice"
                self._settle_error(
                    job,
                    f"Worker {slot.id} died {when}: {reason}. "
                    "A fresh worker is starting in its place.",
                )
        except WorkerError as exc:  # the actor refused the call; it is still there
            slot.state, slot.idle_since = SlotState.IDLE, time.monotonic()
            if not delivered:
                self._settle_error(job, f"Worker {slot.id} refused the run: {exc}")
        finally:
            watchdog.cancel()
            slot.run_id, slot.finishing = None, False
            job.slot = None
            if not self._closed:
                self._dispatch()

    def _progress(self, job: _Job, data: Any) -> None:
        if job.on_progress is None or job.future.done() or not isinstance(data, dict):
            return
        known = Progress.__dataclass_fields__
        try:
            event = Progress(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            self._log(logging.WARNING, f"malformed progress from a worker: {data!r}")
            return
        job.on_progress(event)

    def _finish(self, job: _Job, slot: Slot, item: dict[str, Any], warm: bool, now: float) -> None:
        data = item.get("result")
        if not isinstance(data, dict):
            self._settle_error(job, f"Worker {slot.id} answered the run with {data!r}")
            return
        result = protocol.execute_result_from_json(data)
        files = item.get("files")
        if isinstance(files, list):
            result.outputs = write_outputs(Path(job.params.outputDir), files, result.warnings)
        self._absorb(slot, item.get("worker"))
        queued = max(0.0, now - job.queued_at - result.timings.total)
        run = PoolRun(result, slot.id, round(queued, 3), job.attempts > 0, warm)
        self._settle(job, run)

    def _settle(self, job: _Job, run: PoolRun) -> None:
        if not job.future.done():
            job.future.set_result(run)

    def _settle_error(self, job: _Job, message: str) -> None:
        if not job.future.done():
            job.future.set_exception(WorkerError(message))

    async def _watch(self, job: _Job, slot: Slot) -> None:
        """Kill the actor of a run that hangs, or that ignores its cancel."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_POLL)
            now = loop.time()
            if job.cancel_deadline is not None and now >= job.cancel_deadline:
                job.kill_reason = (
                    f"the run did not stop within {self.cancel_grace:g} s of being cancelled"
                )
            elif now - job.last_progress >= self.run_timeout:
                job.kill_reason = (
                    f"the run reported no progress for {self.run_timeout:g} s "
                    "(setting run.timeout), so its worker was killed"
                )
            else:
                continue
            self._log(logging.WARNING, f"killing worker {slot.id}: {job.kill_reason}")
            if slot.actor is not None:
                await slot.actor.kill()
            return

    async def _lose(self, slot: Slot, reason: str) -> None:
        """The slot's actor is gone (or must go): make sure, then start a fresh one."""
        actor, slot.actor = slot.actor, None
        slot.state, slot.error = SlotState.ERRORED, reason
        if actor is not None:
            with contextlib.suppress(WorkerError):
                await actor.kill()
        if self._closed:
            return
        self._say(f"Worker {slot.id} is gone ({reason.splitlines()[0]}); starting a fresh one")
        self._start_slot(slot)

    # -- cancel ----------------------------------------------------------------------

    async def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run; False when the pool has no such run."""
        job = self._jobs.get(run_id)
        if job is None or job.future.done():
            return False
        job.cancelled = True
        if self.queue.remove(job):
            self._settle(job, PoolRun(ExecuteResult(status=protocol.CANCELLED)))
            self._report_queue()
            return True
        slot = job.slot
        if slot is not None and slot.actor is not None:
            loop = asyncio.get_running_loop()
            if job.cancel_deadline is None:
                job.cancel_deadline = loop.time() + self.cancel_grace
            try:
                await slot.actor.call("cancel", run_id, timeout=self.cancel_grace)
            except WorkerError as exc:
                self._log(logging.WARNING, f"cancel of run {run_id}: {exc}")
        return True

    def run_ids(self) -> list[str]:
        return list(self._jobs)

    # -- state -----------------------------------------------------------------------

    def _absorb(self, slot: Slot, snapshot: Any) -> None:
        """Take a worker's snapshot (warm keys, pipelines, memory, runs)."""
        if not isinstance(snapshot, dict):
            return
        keys = snapshot.get("keys")
        if isinstance(keys, list):
            slot.keys = frozenset(k for k in keys if isinstance(k, str))
        pipelines = snapshot.get("pipelines")
        if isinstance(pipelines, list):
            slot.pipelines = [str(p) for p in pipelines]
        if isinstance(snapshot.get("runs"), int):
            slot.runs = snapshot["runs"]
        with contextlib.suppress(WorkerError):
            slot.memory = memory_from_json(snapshot.get("memory"))

    async def _refresh(self, slot: Slot) -> None:
        actor = slot.actor
        if actor is None:
            return
        try:
            self._absorb(slot, await actor.call("snapshot"))
        except ActorDied as exc:
            if slot.state is SlotState.IDLE:
                await self._lose(slot, str(exc))
        except WorkerError as exc:
            self._log(logging.DEBUG, f"worker {slot.id} snapshot: {exc}")

    async def refresh(self) -> None:
        """Fresh figures from every live worker (its control calls answer during runs)."""
        await asyncio.gather(*(self._refresh(s) for s in self.slots if s.live))

    async def memory(self) -> list[tuple[int, MemoryStatus]]:
        """Each live worker's memory, starting the pool if needed."""
        await self.start()
        await self.refresh()
        return [(s.id, s.memory) for s in self.slots if s.live and s.memory is not None]

    async def clear(self) -> list[tuple[int, MemoryStatus]]:
        """Full cleanup in every idle worker; the cleared workers' memory."""
        cleared: list[tuple[int, MemoryStatus]] = []
        for slot in self.slots:
            if slot.state is not SlotState.IDLE or slot.actor is None:
                continue
            try:
                memory = memory_from_json(await slot.actor.call("clear_memory", timeout=120.0))
            except ActorDied as exc:
                await self._lose(slot, str(exc))
                continue
            slot.keys, slot.pipelines, slot.memory = frozenset(), [], memory
            cleared.append((slot.id, memory))
        return cleared

    def status(self) -> PoolStatus:
        workers = []
        for slot in self.slots:
            info = slot.actor.info if slot.actor is not None else {}
            workers.append(
                WorkerStatus(
                    id=slot.id,
                    state="finishing" if slot.finishing else slot.state.value,
                    pid=info.get("pid"),
                    host=str(info.get("host", "")),
                    device=str(info.get("device", "")),
                    pipelines=list(slot.pipelines),
                    memory=slot.memory,
                    runs=slot.runs,
                    run_id=slot.run_id,
                    error=slot.error,
                )
            )
        queue = [
            {"runId": job.params.runId, "name": job.name, "position": index}
            for index, job in enumerate(self.queue.items(), start=1)
        ]
        return PoolStatus("ray", self.backend.description, workers, queue)

    # -- stopping --------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Cancel what is queued, kill every actor, and let go of the backend."""
        self._closed = True
        while len(self.queue):
            self.queue.pop_head()
        for job in list(self._jobs.values()):  # queued, planning or running: all end now
            stopped = ExecuteResult(status=protocol.CANCELLED, warnings=["the pool was shut down"])
            self._settle(job, PoolRun(stopped, job.slot.id if job.slot else 0))
        for slot in self.slots:
            if slot.starting is not None and not slot.starting.done():
                slot.starting.cancel()
            actor, slot.actor = slot.actor, None
            if actor is not None:
                with contextlib.suppress(WorkerError):
                    await actor.kill()
            slot.state = SlotState.STOPPED
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connected:
            await self.backend.shutdown()
            self._connected = False


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A run nobody awaits any more (its caller was cancelled) must not warn when it fails."""
    if not future.cancelled():
        future.exception()
