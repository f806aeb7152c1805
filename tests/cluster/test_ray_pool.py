"""The worker pool on a real local Ray, two actors hosting the real runtime on the tiny
models. One Ray and one Session (``worker.backend: ray``, two workers with one CPU each)
serve the module; each test says what it needs of the runs before it.

Covers: affinity (a second run goes to the worker that ran the workflow and reuses its
pipeline; another model goes to the other worker), queueing (a third concurrent run waits,
is told its place, then runs), cancel of a queued and of a running run (models stay), a
worker killed mid-run (clear error, replaced, the next run works), a sweep of 8 runs with 8
distinct outputs spread over both workers, and the same sweep on the local backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from dw_lsp import protocol
from dw_lsp.protocol import Progress
from dw_lsp.session import Session
from dw_lsp.session.report import RunReport
from dw_lsp.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

GRID = {"prompt": ["a red fox", "a blue whale", "a green frog", "a grey owl"], "steps": [2, 3]}


def _settings(workspace: Path, **extra: Any) -> Settings:
    return Settings(
        output_dir=str(workspace / "out"),
        run_timeout=180.0,
        worker_backend="ray",
        worker_ray_workers=2,
        worker_ray_resources={"CPU": 1},
        **extra,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(local_ray: Any, workspace: Path) -> AsyncIterator[Session]:
    said: list[str] = []
    session = Session(
        _settings(workspace), roots=[workspace], base_dir=workspace, notify=said.append
    )
    session.said = said  # type: ignore[attr-defined]
    try:
        yield session
    finally:
        await session.shutdown()


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Watch:
    """Progress of one run, with a way to wait for an event."""

    def __init__(self) -> None:
        self.events: list[Progress] = []
        self._seen = asyncio.Event()

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        self._seen.set()

    async def until(self, test: Callable[[Progress], bool], timeout: float = 120.0) -> Progress:
        async def wait() -> Progress:
            while True:
                found = next((e for e in self.events if test(e)), None)
                if found is not None:
                    return found
                self._seen.clear()
                await self._seen.wait()

        return await asyncio.wait_for(wait(), timeout)


async def _all_ready(session: Session) -> None:
    """Wait until every worker is idle (done with the cleanup after its last run); starts
    the pool when no run has yet."""
    await session.memory_by_worker()
    for _ in range(600):
        pool = session.status().pool
        if pool is not None and all(w.state == "ready" for w in pool.workers):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"workers not ready: {session.status().pool}")


def _denoising(event: Progress) -> bool:
    return event.phase == "denoise"


def _queued(event: Progress) -> bool:
    return event.phase == "queue"


async def test_affinity_sends_a_workflow_back_to_its_warm_worker(
    session: Session, workspace: Path
) -> None:
    first = await session.run({"steps": "2"}, workspace / "a.json")
    assert first.ok, first.error
    assert first.cache.loaded == ["generate@a.json"] and first.worker in (1, 2)
    second = await session.run({"steps": "2", "prompt": "another prompt"}, workspace / "a.json")
    assert second.ok, second.error
    assert second.worker == first.worker
    assert second.cache.reused == ["generate@a.json"] and second.cache.loaded == []
    other = await session.run({}, workspace / "b.json")
    assert other.ok, other.error
    assert other.worker != first.worker and other.cache.loaded == ["noise@b.json"]
    status = session.status()
    assert status.backend == "ray" and status.pool is not None
    pipelines = {w.id: w.pipelines for w in status.pool.workers}
    assert pipelines == {first.worker: ["generate@a.json"], other.worker: ["noise@b.json"]}
    # Ready, or still cleaning up after the run it just answered.
    assert all(w.state in ("ready", "finishing") and w.pid for w in status.pool.workers)


async def test_a_third_concurrent_run_waits_then_runs(session: Session, workspace: Path) -> None:
    await _all_ready(session)
    watches = [Watch() for _ in range(3)]
    seen_queue: list[int] = []

    def third(event: Progress) -> None:
        watches[2](event)
        if event.phase == "queue":
            pool = session.status().pool
            seen_queue.append(len(pool.queue) if pool else 0)

    sinks: list[Callable[[Progress], None]] = [watches[0], watches[1], third]
    runs = []
    for index, sink in enumerate(sinks):
        runs.append(asyncio.ensure_future(session.run({"steps": "8"}, workspace / "a.json", sink)))
        if index < 2:  # both workers busy before the third comes
            await watches[index].until(lambda e: e.phase in ("step", "denoise"))
    reports: list[RunReport] = list(await asyncio.wait_for(asyncio.gather(*runs), 300))
    assert all(r.ok for r in reports), [r.error for r in reports]
    queued = [i for i, w in enumerate(watches) if any(_queued(e) for e in w.events)]
    assert queued == [2]
    event = next(e for e in watches[2].events if _queued(e))
    assert event.message.startswith("waiting for a worker: 1 in the queue (2 of 2 workers busy)")
    assert seen_queue and seen_queue[0] == 1  # dw.status shows the queue meanwhile
    assert reports[2].queued_seconds > 0
    assert any(_denoising(e) for e in watches[2].events)  # then it ran, step by step
    assert {r.worker for r in reports[:2]} == {1, 2}


async def test_cancel_a_queued_and_a_running_run(session: Session, workspace: Path) -> None:
    await _all_ready(session)
    watches = [Watch() for _ in range(3)]
    runs = []
    for index, watch in enumerate(watches):
        arguments = {"steps": "20"}
        runs.append(
            asyncio.ensure_future(
                session.run(arguments, workspace / "a.json", watch, run_id=f"long-{index}")
            )
        )
        await watch.until(_queued if index == 2 else _denoising)
    assert await session.cancel("long-2")  # queued
    assert await session.cancel("long-0")  # running
    running, kept, queued = await asyncio.wait_for(asyncio.gather(*runs), 300)
    assert queued.status == protocol.CANCELLED and queued.worker == 0 and not queued.outputs
    assert not any(_denoising(e) for e in watches[2].events)
    assert running.status == protocol.CANCELLED and running.worker in (1, 2)
    assert kept.ok, kept.error
    assert not await session.cancel("long-0")
    again = await session.run({"steps": "2"}, workspace / "a.json")
    assert again.ok and again.cache.reused == ["generate@a.json"]  # models survived the cancel


async def test_a_worker_killed_mid_run_is_replaced(session: Session, workspace: Path) -> None:
    watch = Watch()
    run = asyncio.ensure_future(
        session.run({"steps": "30"}, workspace / "a.json", watch, run_id="doomed")
    )
    await watch.until(_denoising)
    pool = session.status().pool
    assert pool is not None
    victim = next(w for w in pool.workers if w.run_id == "doomed")
    assert victim.pid
    os.kill(victim.pid, signal.SIGKILL)
    report = await asyncio.wait_for(run, 120)
    assert report.status == protocol.ERROR
    assert report.error and f"Worker {victim.id} died during the run" in report.error
    assert "A fresh worker is starting in its place" in report.error
    await _all_ready(session)
    pool = session.status().pool
    assert pool is not None
    fresh = next(w for w in pool.workers if w.id == victim.id)
    assert fresh.pid != victim.pid
    after = await session.run({"steps": "2"}, workspace / "a.json")
    assert after.ok, after.error


def _check_sweep_outputs(sweep: Any, folder: Path) -> list[str]:
    assert sweep.status == protocol.OK, sweep.error
    assert sweep.total == 8 and sweep.done == 8
    outputs = sweep.outputs
    assert len(outputs) == 8
    assert all(Path(o).is_relative_to(folder) for o in outputs)
    assert len({Path(o).parent for o in outputs}) == 8  # one folder per run
    digests = {_sha(o) for o in outputs}
    assert len(digests) == 8, "every combination gives its own image"
    manifest = json.loads((folder / "sweep.json").read_text(encoding="utf-8"))
    assert [r["arguments"] for r in manifest["runs"]] == [r.arguments for r in sweep.runs]
    return sorted(digests)


async def test_a_sweep_of_eight_runs_over_both_workers(session: Session, workspace: Path) -> None:
    events: list[Progress] = []
    sweep = await asyncio.wait_for(
        session.run_sweep(GRID, workspace / "a.json", events.append), 300
    )
    _check_sweep_outputs(sweep, Path(sweep.folder))
    assert {r.report.worker for r in sweep.runs} == {1, 2}
    assert events[-1].message.startswith("8/8 runs done") and events[-1].percent == 100.0
    assert any(e.phase == "denoise" and "run " in e.message for e in events)


async def test_the_same_sweep_on_the_local_backend(workspace: Path) -> None:
    session = Session(
        Settings(output_dir=str(workspace / "local-out")), roots=[workspace], base_dir=workspace
    )
    try:
        sweep = await asyncio.wait_for(session.run_sweep(GRID, workspace / "a.json"), 300)
    finally:
        await session.shutdown()
    _check_sweep_outputs(sweep, Path(sweep.folder))
    assert {r.report.worker for r in sweep.runs} == {0}
    # One after another in the one warm worker: only the first run loads.
    assert [r.report.runs for r in sweep.runs] == list(range(1, 9))
    assert all(r.report.cache.reused for r in sweep.runs[1:])
