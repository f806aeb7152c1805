"""What a Session has in progress: runs and sweeps by id, and which of them were cancelled.

:class:`InProgress` answers the questions the Session's front ends ask while something runs
(is anything running, what, may another run start) and turns a cancel request into the run
ids to stop: ``cancel(None)`` means everything; a sweep's id means the sweep (no further run
of it starts) and every run of it in flight; a run's id means that run. A run id is tracked
from the moment it is accepted (its name once its workflow is known) until its report is
back, so a cancel that arrives while the run still starts its worker is not lost.

Plain state, no asyncio, no I/O, no LSP types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dw_lsp.session.sweep import SweepState


class InProgress:
    """Runs and sweeps in progress, and the cancelled run ids; see the module docstring."""

    def __init__(self) -> None:
        self._runs: dict[str, str] = {}  # run id -> workflow name ("" until known)
        self._cancelled: set[str] = set()
        self._sweeps: dict[str, SweepState] = {}

    @property
    def any(self) -> bool:
        return bool(self._runs or self._sweeps)

    def first_run(self) -> str | None:
        return next(iter(self._runs), None)

    def busy_message(self) -> str:
        """Why a run cannot start on the local worker now."""
        names = [n for n in self._runs.values() if n]
        what = names[0] if names else "a sweep" if self._sweeps else "starting"
        return f"A run is already in progress ({what}); cancel it or wait for it to finish."

    @contextmanager
    def run(self, run_id: str) -> Iterator[None]:
        """Track ``run_id`` for the duration of the block."""
        self._runs[run_id] = ""
        try:
            yield
        finally:
            self._runs.pop(run_id, None)
            self._cancelled.discard(run_id)

    def name(self, run_id: str, workflow: str) -> None:
        if run_id in self._runs:
            self._runs[run_id] = workflow

    def cancelled(self, run_id: str) -> bool:
        return run_id in self._cancelled

    @contextmanager
    def sweep(self, sweep_id: str) -> Iterator[SweepState]:
        """Track a sweep for the duration of the block."""
        state = SweepState()
        self._sweeps[sweep_id] = state
        try:
            yield state
        finally:
            self._sweeps.pop(sweep_id, None)

    def cancel(self, target: str | None) -> list[str] | None:
        """Mark ``target`` (a run, a sweep, or everything when None) cancelled; the run ids
        in flight to stop, or None when there was nothing to cancel."""
        sweeps = list(self._sweeps.values()) if target is None else []
        if target in self._sweeps:
            sweeps.append(self._sweeps[target])
        runs = list(self._runs) if target is None else []
        if target in self._runs:
            runs.append(target)
        runs += [r for s in sweeps for r in s.run_ids if r in self._runs and r not in runs]
        if not runs and not sweeps:
            return None
        for sweep in sweeps:
            sweep.cancelled = True
        self._cancelled.update(runs)
        return runs
