"""Sweeps: one workflow over a grid of argument values (the cartesian product).

Owns the grid's parsing and limits (:func:`expand_grid`), the ``name=v1,v2`` syntax the REPL
and the CLI share (:func:`parse_sweep_assignment`), the one progress a sweep shows
(:class:`SweepProgress`: runs done / total, plus the step of the run that spoke last) and
the plain result (:class:`SweepReport`).

:func:`run_combinations` runs them, over a ``run_one`` the Session gives (its own run with
the run's id, values, progress sink and folder): one after another in the local warm worker,
all at once on the Ray pool (its queue does the rest). A cancelled sweep starts no more runs.

Each run writes into its own folder, ``<outputDir>/sweep-<id>/run-<n>``, because dw's file
names do not depend on arguments: eight runs of one workflow in one folder would be told
apart only by the writer's numbered names (``_2``, ``_3`` ...), not by their arguments.
``sweep.json`` in the sweep's folder lists each run's arguments, status and outputs (what a
gallery needs).

No LSP types, no torch.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.output_files import write_atomically
from dw_lsp.protocol import Progress
from dw_lsp.session.inputs import InputError
from dw_lsp.session.report import RunReport, run_report_json

#: The most runs one sweep may have.
MAX_SWEEP_RUNS = 256
#: The most values one grid entry may list.
MAX_VALUES = 1000


def expand_grid(grid: object) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first name varying slowest.

    ``grid`` maps names to lists of values (a single value counts as a list of one).
    Raises :class:`InputError` for a malformed grid, or one whose product exceeds
    :data:`MAX_SWEEP_RUNS`, naming the sizes."""
    if not isinstance(grid, Mapping) or not grid:
        raise InputError("A sweep needs a grid: an object of name -> list of values.")
    names: list[str] = []
    columns: list[list[Any]] = []
    for name, values in grid.items():
        if not isinstance(name, str):
            raise InputError(f"Sweep names must be strings, got {name!r}.")
        column = list(values) if isinstance(values, list | tuple) else [values]
        if not column:
            raise InputError(f"Sweep '{name}' lists no values.")
        if len(column) > MAX_VALUES:
            raise InputError(f"Sweep '{name}' lists {len(column)} values; at most {MAX_VALUES}.")
        names.append(name)
        columns.append(column)
    total = math.prod(len(c) for c in columns)
    if total > MAX_SWEEP_RUNS:
        sizes = " × ".join(f"{len(c)} {n}" for n, c in zip(names, columns, strict=True))
        raise InputError(
            f"The sweep has {sizes} = {total} runs; at most {MAX_SWEEP_RUNS} are allowed. "
            "Narrow the grid, or split it into several sweeps."
        )
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*columns)]


def parse_sweep_assignment(text: str) -> tuple[str, list[str]]:
    """``name=v1,v2,v3`` -> ``(name, [v1, v2, v3])``; ``name=["a, b", "c"]`` (a JSON list
    of strings) for values that contain commas."""
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise InputError(f"Expected name=v1,v2,... for a sweep, got {text!r}.")
    if rest.lstrip().startswith("["):
        try:
            values = json.loads(rest)
        except json.JSONDecodeError as exc:
            raise InputError(f"Sweep {name}: the list is not valid JSON ({exc}).") from None
        if not isinstance(values, list) or not all(
            isinstance(v, str | int | float) for v in values
        ):
            raise InputError(f"Sweep {name}: expected a JSON list of strings or numbers.")
        return name, [str(v) for v in values]
    values = [v.strip() for v in rest.split(",")]
    if not rest.strip() or any(v == "" for v in values):
        raise InputError(f"Sweep {name}: empty value in {rest!r} (use name=v1,v2,...).")
    return name, values


def merge_sweeps(assignments: list[str]) -> dict[str, list[str]]:
    """Several ``name=v1,v2`` assignments -> one grid (a repeated name is an error)."""
    grid: dict[str, list[str]] = {}
    for text in assignments:
        name, values = parse_sweep_assignment(text)
        if name in grid:
            raise InputError(f"Sweep {name} is given twice.")
        grid[name] = values
    return grid


@dataclass
class SweepRun:
    """One run of a sweep: its index (from 1), its grid values and its report."""

    index: int
    arguments: dict[str, Any]
    report: RunReport


@dataclass
class SweepReport:
    """The outcome of :meth:`Session.run_sweep`: ``ok`` when every run was, ``cancelled``
    when it was cancelled, else ``error``. ``refused``: nothing ran (bad grid or input)."""

    status: str
    sweep_id: str = ""
    workflow: str = ""
    name: str = ""
    folder: str = ""
    total: int = 0
    runs: list[SweepRun] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    refused: bool = False

    @property
    def outputs(self) -> list[str]:
        return [o for run in self.runs for o in run.report.outputs]

    @property
    def done(self) -> int:
        return sum(1 for run in self.runs if run.report.status == protocol.OK)


def sweep_status(reports: list[RunReport], cancelled: bool) -> str:
    if cancelled or any(r.status == protocol.CANCELLED for r in reports):
        return protocol.CANCELLED
    return protocol.OK if all(r.ok for r in reports) else protocol.ERROR


def sweep_report_json(report: SweepReport) -> dict[str, Any]:
    """``dw.runSweep``'s JSON result."""
    error = {"message": report.error, "traceback": None} if report.error else None
    return {
        "status": report.status,
        "sweepId": report.sweep_id,
        "workflow": report.workflow,
        "name": report.name,
        "folder": report.folder,
        "total": report.total,
        "done": report.done,
        "seconds": report.seconds,
        "error": error,
        "outputs": report.outputs,
        "runs": [
            {"index": r.index, "arguments": dict(r.arguments), **run_report_json(r.report)}
            for r in report.runs
        ],
    }


def write_manifest(report: SweepReport, grid: Mapping[str, Any]) -> None:
    """``sweep.json`` in the sweep's folder: the grid and each run's values and outputs.
    Raises OSError or :class:`~dw_lsp.output_files.OutputError` (a ValueError)."""
    folder = Path(report.folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "sweepId": report.sweep_id,
        "workflow": report.workflow,
        "grid": {k: list(v) if isinstance(v, list | tuple) else [v] for k, v in grid.items()},
        "status": report.status,
        "runs": [
            {
                "index": r.index,
                "arguments": r.arguments,
                "status": r.report.status,
                "worker": r.report.worker,
                "outputs": r.report.outputs,
                "error": r.report.error,
            }
            for r in report.runs
        ],
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n"
    # The writer of every result: whole or not at all, never replacing a file.
    write_atomically(folder, "sweep.json", ".json", lambda p: p.write_text(text, "utf-8"))


class SweepProgress:
    """One progress for a whole sweep: ``3/8 runs done · run 5: denoising step 2/8``, with
    the percentage of all runs together (each run weighs the same)."""

    def __init__(self, sweep_id: str, total: int, sink: Callable[[Progress], None] | None):
        self.sweep_id = sweep_id
        self.total = total
        self._sink = sink
        self._percent: dict[int, float] = {}
        self._finished: set[int] = set()

    def for_run(self, index: int) -> Callable[[Progress], None]:
        def report(event: Progress) -> None:
            self._percent[index] = max(self._percent.get(index, 0.0), event.percent)
            self._emit(event, f"run {index}: {event.message}")

        return report

    def finished(self, index: int, status: str) -> None:
        self._finished.add(index)
        self._percent[index] = 100.0
        event = Progress(runId=self.sweep_id, phase="step", message="", percent=0.0)
        self._emit(event, f"run {index} {status}")

    def _emit(self, event: Progress, message: str) -> None:
        if self._sink is None:
            return
        overall = sum(self._percent.values()) / max(self.total, 1)
        self._sink(
            Progress(
                runId=self.sweep_id,
                phase=event.phase,
                message=f"{len(self._finished)}/{self.total} runs done · {message}",
                percent=round(min(overall, 100.0), 2),
                step=event.step,
                stepIndex=event.stepIndex,
                stepCount=event.stepCount,
                iteration=event.iteration,
                iterationCount=event.iterationCount,
                denoiseStep=event.denoiseStep,
                denoiseTotal=event.denoiseTotal,
            )
        )


class SweepState:
    """A sweep in progress: whether it was cancelled, and its runs' ids."""

    def __init__(self) -> None:
        self.cancelled = False
        self.run_ids: set[str] = set()


RunOne = Callable[[str, dict[str, object], Callable[[Progress], None], Path], Awaitable[RunReport]]


async def run_combinations(
    report: SweepReport,
    combos: list[dict[str, object]],
    state: SweepState,
    run_one: RunOne,
    parallel: bool,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """Run every combination (``run_one(run_id, values, progress, folder)``) and fill in
    ``report``: its runs, status, error and seconds."""
    progress = SweepProgress(report.sweep_id, len(combos), on_progress)
    folder = Path(report.folder)
    started = time.perf_counter()

    async def one(index: int, combo: dict[str, object]) -> SweepRun:
        run_id = f"{report.sweep_id}-{index}"
        if state.cancelled:
            done = RunReport(
                protocol.CANCELLED, workflow=report.workflow, name=report.name, run_id=run_id
            )
        else:
            state.run_ids.add(run_id)
            done = await run_one(
                run_id, combo, progress.for_run(index), folder / f"run-{index:03d}"
            )
        progress.finished(index, done.status)
        return SweepRun(index, dict(combo), done)

    jobs = [one(i, combo) for i, combo in enumerate(combos, start=1)]
    if parallel:
        report.runs = list(await asyncio.gather(*jobs))
    else:
        report.runs = [await job for job in jobs]
    report.seconds = round(time.perf_counter() - started, 3)
    report.status = sweep_status([r.report for r in report.runs], state.cancelled)
    failed = [r for r in report.runs if r.report.status == protocol.ERROR]
    if failed:
        first = failed[0]
        report.error = f"{len(failed)} of {len(combos)} runs failed; run {first.index}: "
        report.error += (first.report.error or "error").splitlines()[0]
