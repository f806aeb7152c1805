"""Where a run goes in the worker pool: the routing policy and the queue, as plain data.

The policy (:func:`choose`), in order:

1. **Affinity**: among the *idle* workers, the one whose warm cache holds the most of the
   run's load keys (ideally all of them: the run loads nothing).
2. **Most free memory**, between workers with equal affinity, when the figure is the
   worker's own (a GPU's free memory). On a machine without CUDA every worker reports the
   same host memory, so the figure says nothing about the worker and is ignored.
3. Then the worker holding **fewer pipelines** (loading there evicts nothing), then the one
   **idle longest**, so that runs without affinity spread over the pool.

A worker that has sent a run's result and is still cleaning up after it counts as about to
be idle: a run with more affinity to it than to any idle worker waits for it (the cleanup
takes a moment, a load far longer), so that runs of one workflow one after another stay on
the worker that holds its models.

No idle worker: the run waits in a FIFO queue (:class:`RunQueue`); the first run in the
queue gets the next worker that comes free (a later run with affinity to that worker does
not overtake it: fairness over a saved load). A worker that is busy never gets a run, even
one with affinity: waiting for it could take a whole run, a load takes seconds.

Pure: no asyncio, no Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class WorkerView:
    """What the scheduler knows of one idle worker."""

    id: int
    keys: frozenset[str] = frozenset()
    free_mb: float = 0.0
    cuda: bool = False
    pipelines: int = 0
    idle_since: float = 0.0


def affinity(worker: WorkerView, keys: Iterable[str]) -> int:
    """How many of the run's load keys the worker's cache holds."""
    return len(worker.keys.intersection(keys))


def choose(
    idle: Sequence[WorkerView],
    keys: Sequence[str],
    finishing: Sequence[WorkerView] = (),
) -> WorkerView | None:
    """The idle worker a run with these load keys should go to; None when nobody is idle,
    or when a ``finishing`` worker (cleaning up after a result) holds more of its keys."""
    if not idle:
        return None
    wanted = frozenset(keys)
    best_finishing = max((affinity(w, wanted) for w in finishing), default=0)
    if best_finishing > max(affinity(w, wanted) for w in idle):
        return None

    def score(worker: WorkerView) -> tuple[int, float, int, float]:
        free = worker.free_mb if worker.cuda else 0.0
        return (affinity(worker, wanted), free, -worker.pipelines, -worker.idle_since)

    return max(idle, key=score)


@dataclass
class RunQueue(Generic[T]):
    """Runs waiting for a worker, first come first served."""

    _items: list[T] = field(default_factory=list)

    def push(self, item: T) -> None:
        self._items.append(item)

    def insert(self, index: int, item: T) -> None:
        self._items.insert(index, item)

    def push_front(self, item: T) -> None:
        """A run that lost its worker before it started goes back to the head."""
        self._items.insert(0, item)

    def head(self) -> T | None:
        return self._items[0] if self._items else None

    def pop_head(self) -> T:
        return self._items.pop(0)

    def remove(self, item: T) -> bool:
        if item in self._items:
            self._items.remove(item)
            return True
        return False

    def position(self, item: T) -> int:
        """1-based place in the queue; 0 when not queued."""
        return self._items.index(item) + 1 if item in self._items else 0

    def items(self) -> list[T]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)
