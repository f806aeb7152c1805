"""The deadlines of a run in progress: :class:`RunWatch`.

A run must report progress at least every ``timeout`` seconds (setting ``run.timeout``), and
once cancelled must stop within a grace period; :meth:`RunWatch.overdue` says which deadline
passed, and :func:`watch` waits for the run's answer while checking them, so that the
:class:`~dw_lsp.session.client.WorkerClient` can kill a hung worker (dw waited on a silent
queue and then dropped every loaded model). No LSP types, no torch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from dw_lsp.protocol import Progress

logger = logging.getLogger(__name__)

#: How often a waiting run checks its deadlines (seconds).
POLL = 0.25

ProgressSink = Callable[[Progress], None]


class RunWatch:
    """One run's progress sink and deadlines, on the event loop's clock."""

    def __init__(self, timeout: float, sink: ProgressSink | None) -> None:
        self.timeout = timeout
        self.sink = sink
        self.clock = asyncio.get_running_loop().time
        self.last_progress = self.clock()
        self.cancel_deadline: float | None = None
        self.grace = 0.0

    def progress(self, progress: Progress) -> None:
        """A progress event: the run is alive; the front end's sink gets it."""
        self.last_progress = self.clock()
        if self.sink is not None:
            try:
                self.sink(progress)
            except Exception:  # the front end's fault, not the worker's: keep reading
                logger.exception("the progress sink failed")

    def cancelled(self, grace: float) -> None:
        """The run was asked to stop: it has ``grace`` seconds (from the first cancel)."""
        if self.cancel_deadline is None:
            self.grace = grace
            self.cancel_deadline = self.clock() + grace

    def overdue(self) -> str | None:
        """Why the worker must be killed now, or None while the run is within its time."""
        now = self.clock()
        if self.cancel_deadline is not None and now >= self.cancel_deadline:
            return f"The run did not stop within {self.grace:g} s of being cancelled"
        if now - self.last_progress >= self.timeout:
            return (
                f"The run reported no progress for {self.timeout:g} s (setting run.timeout), "
                "so the worker was killed"
            )
        return None


async def watch(
    future: asyncio.Future[Any], run: RunWatch, kill: Callable[[str], Awaitable[None]]
) -> Any:
    """The run's answer; when a deadline passes first, ``kill(reason)`` and then the answer
    (the kill settles it with the reason)."""
    while True:
        done, _ = await asyncio.wait({future}, timeout=POLL)
        if done:
            return future.result()
        reason = run.overdue()
        if reason is not None:
            await kill(reason)
            await asyncio.wait({future})
            return future.result()
