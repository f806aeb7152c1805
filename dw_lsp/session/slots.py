"""The pool's workers: one actor per slot, started once, watched, and replaced when lost.

:class:`Slots` owns the slots of a :class:`~.pool.WorkerPool` and the actors in them, and
knows nothing of runs or the queue (that is :mod:`.pool`). It

- connects the backend once and starts an actor in every slot that has none (a slot whose
  start failed says why, and is tried again at the next run);
- checks each actor's :class:`~dw_lsp.protocol.HostInfo` before taking it
  (:mod:`.actor_channel`: malformed, or another protocol version, and the actor is killed);
- keeps what it knows of each actor's cache (load keys, pipelines, memory) from the checked
  snapshots the actor sends, which is what the scheduler routes on;
- :meth:`Slots.lose` kills an actor that is gone or must go and starts a fresh one at once;
- answers memory, clear and status for every live worker, and kills them all on shutdown.

``on_ready`` is called whenever a slot gets a live actor, so that the pool can hand it a
queued run. Every task here is total: whatever a backend or an actor does, a slot ends up
live or errored with a reason. No Ray, no torch, no LSP types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from dw_lsp.protocol import HostSnapshot, MemoryStatus
from dw_lsp.session.actor_channel import check_info, check_memory, check_snapshot
from dw_lsp.session.pool_parts import (
    ActorDied,
    PoolBackend,
    Slot,
    SlotState,
    WorkerStatus,
)
from dw_lsp.session.rpc import WorkerError

LogSink = Callable[[int, str], None]


class Slots:
    """Every worker place of one pool and the actor in it; see the module docstring."""

    def __init__(
        self,
        backend: PoolBackend,
        size: int,
        *,
        start_timeout: float,
        log: LogSink,
        say: Callable[[str], None],
        on_ready: Callable[[], None],
    ) -> None:
        self.backend = backend
        self.items = [Slot(i + 1) for i in range(size)]
        self.start_timeout = start_timeout
        self._log = log
        self._say = say
        self._on_ready = on_ready
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = False
        self._connect_lock = asyncio.Lock()
        self.closed = False

    def __iter__(self) -> Iterator[Slot]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def idle(self) -> list[Slot]:
        return [s for s in self.items if s.state is SlotState.IDLE and s.actor is not None]

    def busy(self) -> int:
        return sum(1 for s in self.items if s.state is SlotState.BUSY)

    def any_usable(self) -> bool:
        """Whether a slot is live or on its way (a queued run may still get a worker)."""
        usable = (SlotState.STARTING, SlotState.IDLE, SlotState.BUSY)
        return any(s.state in usable for s in self.items)

    # -- starting --------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._connect_lock:
            if not self._connected:
                await self.backend.connect()
                self._connected = True

    def start_missing(self) -> None:
        """Start every slot that has no actor (never started, or its start failed)."""
        for slot in self.items:
            if slot.state in (SlotState.STOPPED, SlotState.ERRORED):
                self._start(slot)

    def _start(self, slot: Slot) -> None:
        slot.state, slot.error, slot.actor = SlotState.STARTING, None, None
        slot.keys, slot.pipelines, slot.memory = frozenset(), [], None
        task: asyncio.Task[None] = asyncio.ensure_future(self._bring_up(slot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        slot.starting = task

    async def _bring_up(self, slot: Slot) -> None:
        try:
            actor = await self.backend.start_actor(slot.id, self.start_timeout)
        except WorkerError as exc:
            self._failed(slot, str(exc))
            return
        except Exception as exc:  # a backend's bug must not leave the slot starting for ever
            logging.getLogger(__name__).exception("starting worker %s failed", slot.id)
            self._failed(slot, f"starting it failed ({exc!r})")
            return
        if self.closed:
            await actor.kill()
            return
        try:
            info = check_info(actor.info)
        except WorkerError as exc:
            await actor.kill()
            self._failed(slot, str(exc))
            return
        slot.actor, slot.state, slot.idle_since = actor, SlotState.IDLE, time.monotonic()
        where = f"{info.host}, pid {info.pid}"
        self._log(logging.INFO, f"worker {slot.id} ready ({where}, {info.device})")
        await self.refresh(slot)
        self._on_ready()

    def _failed(self, slot: Slot, reason: str) -> None:
        slot.state, slot.error = SlotState.ERRORED, reason
        self._log(logging.WARNING, f"worker {slot.id} could not start: {reason}")
        self._on_ready()  # a queued run may now have no worker left to wait for

    async def start(self) -> None:
        """Connect and bring every slot up; raises when no worker could start."""
        await self.connect()
        self.start_missing()
        starting = [s.starting for s in self.items if s.starting is not None]
        await asyncio.gather(*starting, return_exceptions=True)
        if not any(s.live for s in self.items):
            raise WorkerError(self.no_worker_message())

    def no_worker_message(self) -> str:
        errors = sorted({s.error for s in self.items if s.error})
        return "No worker of the pool could start: " + ("; ".join(errors) or "unknown reason")

    async def first_live(self) -> Slot:
        """A slot with a live actor (an idle one first), waiting for the first one to start
        if none is up yet."""
        while True:
            live = [s for s in self.items if s.live and s.actor is not None]
            if live:
                idle = [s for s in live if s.state is SlotState.IDLE]
                return (idle or live)[0]
            pending = [
                s.starting
                for s in self.items
                if s.state is SlotState.STARTING
                and s.starting is not None
                and not s.starting.done()
            ]
            if not pending:
                raise WorkerError(self.no_worker_message())
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

    async def lose(self, slot: Slot, reason: str) -> None:
        """The slot's actor is gone (or must go): make sure, then start a fresh one."""
        actor, slot.actor = slot.actor, None
        slot.state, slot.error = SlotState.ERRORED, reason
        if actor is not None:
            with contextlib.suppress(WorkerError):
                await actor.kill()
        if self.closed:
            return
        self._say(f"Worker {slot.id} is gone ({reason.splitlines()[0]}); starting a fresh one")
        self._start(slot)

    # -- what the actors hold ---------------------------------------------------------

    @staticmethod
    def absorb(slot: Slot, snapshot: HostSnapshot | None) -> None:
        """Take an actor's checked snapshot (warm keys, pipelines, memory, runs)."""
        if snapshot is None:
            return
        slot.keys = frozenset(snapshot.keys)
        slot.pipelines = list(snapshot.pipelines)
        slot.runs = snapshot.runs
        if snapshot.memory is not None:
            slot.memory = snapshot.memory

    async def refresh(self, slot: Slot | None = None) -> None:
        """Fresh figures from one live worker, or from all of them (their control calls
        answer during runs). A dead or malformed idle worker is replaced."""
        if slot is None:
            await asyncio.gather(*(self.refresh(s) for s in self.items if s.live))
            return
        actor = slot.actor
        if actor is None:
            return
        try:
            self.absorb(slot, check_snapshot(await actor.call("snapshot")))
        except ActorDied as exc:
            if slot.state is SlotState.IDLE and slot.actor is actor:
                await self.lose(slot, str(exc))
        except WorkerError as exc:
            self._log(logging.DEBUG, f"worker {slot.id} snapshot: {exc}")

    async def memory(self) -> list[tuple[int, MemoryStatus]]:
        """Each live worker's memory, starting the pool if needed."""
        await self.start()
        await self.refresh()
        return [(s.id, s.memory) for s in self.items if s.live and s.memory is not None]

    async def clear(self) -> list[tuple[int, MemoryStatus]]:
        """Full cleanup in every idle worker; the cleared workers' memory."""
        cleared: list[tuple[int, MemoryStatus]] = []
        for slot in self.idle():
            actor = slot.actor
            if actor is None:
                continue
            try:
                memory = check_memory(await actor.call("clear_memory", timeout=120.0))
            except ActorDied as exc:
                await self.lose(slot, str(exc))
                continue
            slot.keys, slot.pipelines, slot.memory = frozenset(), [], memory
            cleared.append((slot.id, memory))
        return cleared

    def status(self) -> list[WorkerStatus]:
        workers = []
        for slot in self.items:
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
        return workers

    # -- stopping --------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Kill every actor and let go of the backend."""
        self.closed = True
        for slot in self.items:
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
