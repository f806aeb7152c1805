"""One run of the pool on one actor: from the first streamed item to a settled result.

:class:`Job` is a run the pool accepted (its parameters, its caller's sinks and future, where
it is). :class:`JobRunner` carries a dispatched job out on its slot's actor:

- every item the actor streams is checked (:func:`.actor_channel.read_item`) before it is
  believed: progress goes to the caller's sink (a failing sink is logged, never fatal), the
  result settles the job, shipped files are written by :func:`.actor_channel.write_shipped`;
- a run that reports no progress for ``run_timeout`` seconds, or that has not stopped
  ``cancel_grace`` seconds after its cancel, has its actor killed (a watchdog per run);
- an actor that dies before the run started gets the run queued again at the head, once
  (``requeue``); one that dies during it fails the run with the cause; one that sends a
  malformed item is stopped and the run fails saying so; either way the slot starts a fresh
  actor (:meth:`.slots.Slots.lose`).

Total: whatever the actor sends or does, the job's future is settled. No Ray, no torch, no
LSP types.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, ExecuteResult, Progress
from dw_lsp.session.actor_channel import ActorMalformed, Finished, read_item, write_shipped
from dw_lsp.session.pool_parts import ActorDied, PoolRun, Slot, SlotState
from dw_lsp.session.rpc import WorkerError
from dw_lsp.session.slots import Slots

logger = logging.getLogger(__name__)

#: How often a run's watchdog looks at its deadlines (seconds).
_POLL = 0.25

LogSink = Callable[[int, str], None]
ProgressSink = Callable[[Progress], None]
StartSink = Callable[[int, bool], None]


@dataclass(eq=False)
class Job:
    """A run in the pool: queued, running, or being settled."""

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

    def settle(self, run: PoolRun) -> None:
        if not self.future.done():
            self.future.set_result(run)

    def fail(self, message: str) -> None:
        if not self.future.done():
            self.future.set_exception(WorkerError(message))

    def tell(self, event: Progress) -> None:
        """Give the caller a progress event; a failing sink is the front end's fault, not
        the worker's, and must not end the run."""
        if self.on_progress is None or self.future.done():
            return
        try:
            self.on_progress(event)
        except Exception:
            logger.exception("the progress sink of run %s failed", self.params.runId)


class JobRunner:
    """Carries dispatched jobs out on their slots' actors; see the module docstring."""

    def __init__(
        self,
        slots: Slots,
        *,
        run_timeout: float,
        cancel_grace: float,
        ship_outputs: bool | None,
        requeue: Callable[[Job], None],
        log: LogSink,
    ) -> None:
        self.slots = slots
        self.run_timeout = run_timeout
        self.cancel_grace = cancel_grace
        self._ship = ship_outputs  # None: decided per actor (same machine or not)
        self._requeue = requeue
        self._log = log

    async def run(self, job: Job, slot: Slot) -> None:
        """Run ``job`` on ``slot`` (already marked busy), to the end of the actor's cleanup."""
        actor = slot.actor
        if actor is None:  # pragma: no cover - a slot is dispatched only with its actor
            job.fail(f"Worker {slot.id} is gone")
            return
        warm = bool(job.keys) and set(job.keys) <= slot.keys
        if job.on_start is not None:
            job.on_start(slot.id, warm)
        loop = asyncio.get_running_loop()
        job.last_progress = loop.time()
        ship = (not actor.same_host) if self._ship is None else self._ship
        watchdog = asyncio.ensure_future(self._watch(job, slot))
        delivered = False
        try:
            async for raw in actor.execute(protocol.to_json(job.params), ship):
                item = read_item(raw)
                if isinstance(item, Progress):
                    job.started = True
                    job.last_progress = loop.time()
                    job.tell(item)
                    continue
                delivered = slot.finishing = True
                self._finish(job, slot, item, warm, loop.time())
                if item.poisoned:
                    reason = "its CUDA context is unusable after the run's error"
                    await self.slots.lose(slot, reason)
                    return
            slot.state, slot.idle_since = SlotState.IDLE, time.monotonic()
            if not delivered:
                job.fail(f"Worker {slot.id} ended the run without a result")
        except ActorMalformed as exc:
            await self.slots.lose(slot, str(exc))
            job.fail(f"Worker {slot.id}: {exc}. A fresh worker is starting in its place.")
        except ActorDied as exc:
            await self._died(job, slot, job.kill_reason or str(exc), delivered)
        except WorkerError as exc:  # the actor refused the call; it is still there
            slot.state, slot.idle_since = SlotState.IDLE, time.monotonic()
            job.fail(f"Worker {slot.id} refused the run: {exc}")
        except Exception as exc:  # our own bug: fail the run, never leave it waiting
            logger.exception("run %s on worker %s failed", job.params.runId, slot.id)
            await self.slots.lose(slot, f"the pool failed while running on it ({exc!r})")
            job.fail(f"The run failed in the pool: {exc!r}")
        finally:
            watchdog.cancel()
            slot.run_id, slot.finishing = None, False
            job.slot = None

    def _finish(self, job: Job, slot: Slot, item: Finished, warm: bool, now: float) -> None:
        result = item.result
        if item.files is not None:
            result.outputs = write_shipped(job.params.outputDir, item.files, result.warnings)
        self.slots.absorb(slot, item.snapshot)
        queued = max(0.0, now - job.queued_at - result.timings.total)
        job.settle(PoolRun(result, slot.id, round(queued, 3), job.attempts > 0, warm))

    async def _died(self, job: Job, slot: Slot, reason: str, delivered: bool) -> None:
        """The run's actor died: replace it, and queue the run again once if it had not
        started."""
        await self.slots.lose(slot, reason)
        if delivered:
            return
        if job.cancelled:
            result = ExecuteResult(status=protocol.CANCELLED, warnings=[reason])
            job.settle(PoolRun(result, slot.id, retried=job.attempts > 0))
        elif not job.started and job.attempts == 0:
            job.attempts += 1
            job.slot, job.position = None, 0
            self._log(
                logging.WARNING,
                f"worker {slot.id} died before run {job.params.runId} started ({reason}): "
                "queueing it again",
            )
            self._requeue(job)
        else:
            when = "during the run" if job.started else "before the run started, twice"
            job.fail(
                f"Worker {slot.id} died {when}: {reason}. A fresh worker is starting in its place."
            )

    async def _watch(self, job: Job, slot: Slot) -> None:
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

    async def cancel(self, job: Job) -> None:
        """Ask the job's actor to stop the run; the watchdog kills it after the grace."""
        slot = job.slot
        if slot is None or slot.actor is None:
            return
        if job.cancel_deadline is None:
            job.cancel_deadline = asyncio.get_running_loop().time() + self.cancel_grace
        try:
            await slot.actor.call("cancel", job.params.runId, timeout=self.cancel_grace)
        except WorkerError as exc:
            self._log(logging.WARNING, f"cancel of run {job.params.runId}: {exc}")


def retrieve(future: asyncio.Future[Any]) -> None:
    """A run nobody awaits any more (its caller was cancelled) must not warn when it fails."""
    if not future.cancelled():
        future.exception()
