"""The pool's vocabulary: the actors it drives, its slots, and what it reports.

- :class:`Actor` and :class:`PoolBackend`: what the pool needs of an actor hosting the
  worker runtime and of whatever starts them (:mod:`.ray_backend` for Ray; scripted ones in
  the tests); :class:`ActorDied` is how a backend says an actor is gone.
- :class:`Slot`: one worker place of the pool and the actor in it, with what the pool knows
  of its cache (load keys, pipelines, memory).
- :class:`PoolRun`, :class:`WorkerStatus`, :class:`PoolStatus`: plain results for the
  Session and the front ends.

No Ray, no torch, no LSP types.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from dw_lsp.protocol import ExecuteResult, MemoryStatus
from dw_lsp.session.rpc import WorkerError
from dw_lsp.session.scheduler import WorkerView

#: Seconds a control call (cancel, load keys, snapshot) may take.
CALL_TIMEOUT = 30.0


class ActorDied(WorkerError):
    """The actor behind a slot is gone: crashed, killed, or its machine was lost."""


class Actor(Protocol):
    """One started actor hosting the worker runtime."""

    info: dict[str, Any]

    @property
    def same_host(self) -> bool:
        """Whether files it writes appear in this process's file system."""

    def execute(self, params: dict[str, Any], ship_outputs: bool) -> AsyncIterator[Any]:
        """The run's items: ``{"progress": ...}`` then ``{"result": ..., "worker": ...}``."""

    async def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """A control method (``cancel``, ``load_keys``, ``snapshot``, ``clear_memory``)."""

    async def kill(self) -> None:
        """End the actor now."""


class PoolBackend(Protocol):
    """Where actors come from."""

    description: str

    async def connect(self) -> None: ...

    async def start_actor(self, slot: int, timeout: float) -> Actor: ...

    async def shutdown(self) -> None: ...


class SlotState(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    IDLE = "ready"
    BUSY = "busy"
    ERRORED = "errored"


@dataclass(eq=False)
class Slot:
    id: int
    state: SlotState = SlotState.STOPPED
    actor: Actor | None = None
    keys: frozenset[str] = frozenset()
    pipelines: list[str] = field(default_factory=list)
    memory: MemoryStatus | None = None
    runs: int = 0
    run_id: str | None = None
    idle_since: float = 0.0
    error: str | None = None
    starting: asyncio.Task[None] | None = None
    finishing: bool = False  # the run's result is out, the actor is cleaning up

    @property
    def live(self) -> bool:
        return self.state in (SlotState.IDLE, SlotState.BUSY)

    def view(self) -> WorkerView:
        memory = self.memory
        return WorkerView(
            id=self.id,
            keys=self.keys,
            free_mb=memory.freeMb if memory else 0.0,
            cuda=bool(memory and memory.cuda),
            pipelines=len(self.pipelines),
            idle_since=self.idle_since,
        )


@dataclass
class PoolRun:
    """A run's outcome in the pool: the worker's result and how it got there."""

    result: ExecuteResult
    worker: int = 0
    queued_seconds: float = 0.0
    retried: bool = False
    warm: bool = False


@dataclass
class WorkerStatus:
    id: int
    state: str
    pid: int | None
    host: str
    device: str
    pipelines: list[str]
    memory: MemoryStatus | None
    runs: int
    run_id: str | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "pid": self.pid,
            "host": self.host,
            "device": self.device,
            "pipelines": list(self.pipelines),
            "memory": asdict(self.memory) if self.memory else None,
            "runs": self.runs,
            "runId": self.run_id,
            "error": self.error,
        }


@dataclass
class PoolStatus:
    """The pool for ``status``: every worker, and the runs waiting for one."""

    backend: str
    address: str
    workers: list[WorkerStatus]
    queue: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "address": self.address,
            "workers": [w.to_json() for w in self.workers],
            "queue": list(self.queue),
        }
