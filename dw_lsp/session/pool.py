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
- **Nothing an actor sends is trusted unchecked** (:mod:`.actor_channel`): a malformed
  answer stops that actor (a fresh one starts) and fails its run with the reason.
- **Outputs** land in the session's output directory: an actor on the session's own
  machine writes them there; one elsewhere sends their bytes back with the result and the
  pool writes them with the worker's own never-overwriting writer.

This module is the front desk: accepting runs, planning, the queue, dispatch, cancel and
status. The actors in their slots are :mod:`.slots`; carrying one run out on one actor is
:mod:`.pool_job`; the vocabulary (actors, slots, results) is :mod:`.pool_parts`. The actors
come from a :class:`PoolBackend` (:mod:`.ray_backend` for Ray), so nothing here imports
Ray. No torch, no LSP types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, ExecuteResult, MemoryStatus, Progress
from dw_lsp.session.actor_channel import ActorMalformed, check_keys
from dw_lsp.session.pool_job import Job, JobRunner, ProgressSink, StartSink, retrieve
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
)
from dw_lsp.session.rpc import WorkerError
from dw_lsp.session.scheduler import RunQueue, choose
from dw_lsp.session.slots import Slots
from dw_lsp.session.voice import Voice

__all__ = [
    "CALL_TIMEOUT",
    "Actor",
    "ActorDied",
    "ActorMalformed",
    "PoolBackend",
    "PoolRun",
    "PoolStatus",
    "WorkerPool",
    "WorkerStatus",
]

logger = logging.getLogger(__name__)

#: Seconds a running run may take to stop after ``cancel`` before its actor is killed.
CANCEL_GRACE = 10.0

LogSink = Callable[[int, str], None]


class WorkerPool:
    """Runs over :class:`~.slots.Slots` of warm actors: a queue, dispatch, cancel, status."""

    def __init__(
        self,
        backend: PoolBackend,
        size: int,
        *,
        log: LogSink | None = None,
        say: Callable[[str], None] | None = None,
        start_timeout: float = 120.0,
        run_timeout: float = 300.0,
        cancel_grace: float = CANCEL_GRACE,
        ship_outputs: bool | None = None,
    ) -> None:
        self.backend = backend
        self.queue: RunQueue[Job] = RunQueue()
        self._voice = Voice(log, say, logger)
        self._log, self._say = self._voice.log, self._voice.say
        self.slots = Slots(
            backend,
            size,
            start_timeout=start_timeout,
            log=self._log,
            say=self._say,
            on_ready=self._dispatch,
        )
        self.runner = JobRunner(
            self.slots,
            run_timeout=run_timeout,
            cancel_grace=cancel_grace,
            ship_outputs=ship_outputs,
            requeue=self.queue.push_front,
            log=self._log,
        )
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0

    @property
    def running(self) -> bool:
        return bool(self._jobs)

    async def start(self) -> None:
        """Connect and bring every worker up; raises when none could start."""
        await self.slots.start()

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
        job = Job(params, name, on_progress, on_start, loop.create_future(), loop.time())
        self._seq += 1
        job.seq = self._seq
        job.future.add_done_callback(retrieve)
        self._jobs[params.runId] = job
        try:
            await self.slots.connect()
            self.slots.start_missing()
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

    async def _plan(self, job: Job) -> list[str]:
        """The run's load keys, computed by a live actor ([] when it cannot tell). An idle
        actor found dead, or answering nonsense, on the way is replaced and another asked."""
        for _ in range(len(self.slots)):
            slot = await self.slots.first_live()
            actor = slot.actor
            if actor is None:  # pragma: no cover - first_live returns slots with actors
                continue
            try:
                return check_keys(await actor.call("load_keys", protocol.to_json(job.params)))
            except ActorDied as exc:
                if slot.actor is actor and slot.state is SlotState.IDLE:
                    await self.slots.lose(slot, str(exc))
            except WorkerError as exc:
                self._log(logging.DEBUG, f"no load keys for run {job.params.runId}: {exc}")
                return []
        return []

    def _dispatch(self) -> None:
        """Give queued runs to idle workers, in queue order; tell the others where they are."""
        while len(self.queue) and not self.slots.closed:
            idle = self.slots.idle()
            job = self.queue.head()
            if job is None:  # pragma: no cover - the queue is not empty
                break
            finishing = [s.view() for s in self.slots if s.state is SlotState.BUSY and s.finishing]
            chosen = choose([s.view() for s in idle], job.keys, finishing)
            if chosen is None:
                break
            slot = next(s for s in idle if s.id == chosen.id)
            self.queue.pop_head()
            slot.state, slot.run_id, job.slot = SlotState.BUSY, job.params.runId, slot
            self._spawn(self._execute(job, slot))
        if len(self.queue) and not self.slots.any_usable():
            message = self.slots.no_worker_message()
            while len(self.queue):
                self.queue.pop_head().fail(message)
        self._report_queue()

    async def _execute(self, job: Job, slot: Slot) -> None:
        try:
            await self.runner.run(job, slot)
        finally:
            self._dispatch()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _report_queue(self) -> None:
        busy = self.slots.busy()
        for position, job in enumerate(self.queue.items(), start=1):
            if job.position == position:
                continue
            job.position = position
            message = (
                f"waiting for a worker: {position} in the queue "
                f"({busy} of {len(self.slots)} workers busy)"
            )
            job.tell(Progress(runId=job.params.runId, phase="queue", message=message, percent=0.0))

    # -- cancel ----------------------------------------------------------------------

    async def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run; False when the pool has no such run."""
        job = self._jobs.get(run_id)
        if job is None or job.future.done():
            return False
        job.cancelled = True
        if self.queue.remove(job):
            job.settle(PoolRun(ExecuteResult(status=protocol.CANCELLED)))
            self._report_queue()
            return True
        await self.runner.cancel(job)
        return True

    def run_ids(self) -> list[str]:
        return list(self._jobs)

    # -- state -----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Fresh figures from every live worker."""
        await self.slots.refresh()

    async def memory(self) -> list[tuple[int, MemoryStatus]]:
        """Each live worker's memory, starting the pool if needed."""
        return await self.slots.memory()

    async def clear(self) -> list[tuple[int, MemoryStatus]]:
        """Full cleanup in every idle worker; the cleared workers' memory."""
        return await self.slots.clear()

    def status(self) -> PoolStatus:
        queue = [
            {"runId": job.params.runId, "name": job.name, "position": index}
            for index, job in enumerate(self.queue.items(), start=1)
        ]
        return PoolStatus("ray", self.backend.description, self.slots.status(), queue)

    # -- stopping --------------------------------------------------------------------

    async def shutdown(self) -> None:
        """End what is queued or running (cancelled), kill every actor, let go of Ray."""
        self.slots.closed = True
        while len(self.queue):
            self.queue.pop_head()
        for job in list(self._jobs.values()):  # queued, planning or running: all end now
            stopped = ExecuteResult(status=protocol.CANCELLED, warnings=["the pool was shut down"])
            job.settle(PoolRun(stopped, job.slot.id if job.slot else 0))
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.slots.shutdown()
