"""WorkerPool's decisions against scripted actors: where a real actor cannot be made to fail
at a chosen moment (dead before the run starts, hung, deaf to cancel) or a decision is easier
to see without torch (routing, queue positions, shipped outputs). The same pool on real Ray
actors and the real runtime is tests/cluster/test_ray_pool.py.

The fake actor "plans" a run's load keys from its ``model`` argument and keeps the models of
the runs it did, as the real runtime keeps pipelines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, Progress
from dw_lsp.session.pool import ActorDied, WorkerPool, write_outputs
from dw_lsp.session.rpc import WorkerError


class FakeActor:
    """Behaviours per run, popped from ``script`` (default ``ok``): ``ok`` | ``die`` (gone
    before the run starts) | ``hang`` (progress once, then nothing until killed) | ``deaf``
    (ignores cancel) | ``ship`` (sends its output back as bytes)."""

    def __init__(self, backend: FakeBackend, slot: int) -> None:
        self.backend = backend
        self.slot = slot
        self.info = {"pid": 1000 + slot, "host": "fake", "device": "cpu"}
        self.models: set[str] = set()
        self.killed = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.runs: list[str] = []

    @property
    def same_host(self) -> bool:
        return True

    def _snapshot(self) -> dict[str, Any]:
        return {"keys": sorted(self.models), "pipelines": sorted(self.models), "runs": 0}

    async def execute(self, params: dict[str, Any], ship_outputs: bool) -> AsyncIterator[Any]:
        script = self.backend.script.get(self.slot, [])
        behaviour = script.pop(0) if script else "ok"
        if behaviour == "die" or self.killed.is_set():
            raise ActorDied("The actor died unexpectedly before finishing this task.")
        run_id = params["runId"]
        self.runs.append(run_id)
        yield {"progress": {"runId": run_id, "phase": "denoise", "message": "1/2", "percent": 50}}
        if behaviour in ("hang", "deaf") or self.backend.slow:
            waits = [asyncio.ensure_future(self.killed.wait())]
            if behaviour != "deaf":
                waits.append(asyncio.ensure_future(self.cancelled.wait()))
            if behaviour not in ("hang", "deaf"):
                waits.append(asyncio.ensure_future(asyncio.sleep(self.backend.slow)))
            _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if self.killed.is_set():
                raise ActorDied("killed")
        status = protocol.CANCELLED if self.cancelled.is_set() else protocol.OK
        self.cancelled.clear()
        model = params["arguments"].get("model", "")
        self.models.add(model)
        result: dict[str, Any] = {"status": status, "outputs": [f"/out/{run_id}.png"]}
        item: dict[str, Any] = {"result": result, "worker": self._snapshot()}
        if behaviour == "ship":
            item["files"] = [{"name": f"{run_id}.png", "data": b"png"}]
        yield item

    async def call(self, method: str, *args: Any, timeout: float = 30.0) -> Any:
        if self.killed.is_set():
            raise ActorDied("gone")
        if method == "load_keys":
            return [args[0]["arguments"].get("model", "")]
        if method == "cancel":
            self.cancelled.set()
            return True
        if method == "snapshot":
            return self._snapshot()
        raise WorkerError(f"no {method}")

    async def kill(self) -> None:
        self.killed.set()


class FakeBackend:
    description = "fake"

    def __init__(self) -> None:
        self.script: dict[int, list[str]] = {}
        self.actors: list[FakeActor] = []
        self.slow = 0.0

    async def connect(self) -> None:
        return None

    async def start_actor(self, slot: int, timeout: float) -> FakeActor:
        actor = FakeActor(self, slot)
        self.actors.append(actor)
        return actor

    async def shutdown(self) -> None:
        return None


def _params(run_id: str, model: str = "sd", out: str = "/out") -> ExecuteParams:
    return ExecuteParams(
        workflowPath="/w.json", outputDir=out, arguments={"model": model}, runId=run_id
    )


@pytest.fixture
async def pool() -> AsyncIterator[tuple[WorkerPool, FakeBackend]]:
    backend = FakeBackend()
    pool = WorkerPool(backend, 2, run_timeout=1.0, cancel_grace=0.5)
    await pool.start()
    yield pool, backend
    await pool.shutdown()


async def test_affinity_then_the_emptier_worker(pool: tuple[WorkerPool, FakeBackend]) -> None:
    pool_, _ = pool
    first = await pool_.run(_params("a1", "sd"))
    second = await pool_.run(_params("a2", "sd"))
    other = await pool_.run(_params("b1", "ddpm"))
    assert first.worker == second.worker and second.warm and not first.warm
    assert other.worker != first.worker and not other.warm
    status = pool_.status()
    assert [w.pipelines for w in status.workers if w.id == first.worker] == [["sd"]]


async def test_a_run_that_lost_its_worker_before_starting_is_retried_once(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    await pool_.run(_params("warm", "sd"))  # worker 1 now holds "sd": the next goes there
    holder = next(a for a in backend.actors if a.models)
    backend.script[holder.slot] = ["die"]
    retried = await pool_.run(_params("again", "sd"))
    assert retried.result.status == protocol.OK and retried.retried
    assert retried.worker != holder.slot
    await asyncio.sleep(0.05)
    assert len(backend.actors) == 3  # the dead one was replaced
    assert all(w.state == "ready" for w in pool_.status().workers)


async def test_dying_before_the_start_twice_fails_the_run(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    backend.script = {1: ["die"], 2: ["die"]}
    with pytest.raises(WorkerError, match="died before the run started, twice"):
        await pool_.run(_params("doomed"))


async def test_a_hung_run_kills_its_worker(pool: tuple[WorkerPool, FakeBackend]) -> None:
    pool_, backend = pool
    backend.script = {1: ["hang"], 2: ["hang"]}
    with pytest.raises(WorkerError, match=r"no progress for 1 s \(setting run.timeout\)"):
        await pool_.run(_params("hung"))


async def test_cancel_of_a_deaf_run_kills_its_worker_and_says_cancelled(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    backend.script = {1: ["deaf"], 2: ["deaf"]}
    events: list[Progress] = []
    task = asyncio.ensure_future(pool_.run(_params("deaf"), on_progress=events.append))
    while not events:
        await asyncio.sleep(0.01)
    assert await pool_.cancel("deaf")
    outcome = await task
    assert outcome.result.status == protocol.CANCELLED
    assert "did not stop within 0.5 s" in outcome.result.warnings[0]


async def test_queue_positions_and_cancel_of_a_queued_run(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    backend.slow = 0.3
    events: dict[str, list[Progress]] = {r: [] for r in ("q1", "q2", "q3", "q4")}
    tasks = {
        r: asyncio.ensure_future(pool_.run(_params(r), on_progress=events[r].append))
        for r in events
    }
    while not any(e.phase == "queue" for e in events["q4"]):
        await asyncio.sleep(0.01)
    assert [q["runId"] for q in pool_.status().queue] == ["q3", "q4"]
    assert await pool_.cancel("q3")
    assert (await tasks["q3"]).result.status == protocol.CANCELLED
    assert (await tasks["q3"]).worker == 0
    for run_id in ("q1", "q2", "q4"):
        assert (await tasks[run_id]).result.status == protocol.OK
    positions = [e.message for e in events["q4"] if e.phase == "queue"]
    assert positions[0].startswith("waiting for a worker: 2 in the queue")
    assert positions[1].startswith("waiting for a worker: 1 in the queue")
    assert not await pool_.cancel("q3")


async def test_outputs_sent_back_are_written_in_the_output_dir(tmp_path: Path) -> None:
    backend = FakeBackend()
    pool = WorkerPool(backend, 1)
    backend.script = {1: ["ship"]}
    try:
        outcome = await pool.run(_params("far", out=str(tmp_path / "out")))
    finally:
        await pool.shutdown()
    written = tmp_path / "out" / "far.png"
    assert outcome.result.outputs == [str(written)] and written.read_bytes() == b"png"


@pytest.mark.parametrize("name", ["../x.png", "/etc/x.png", "a/../../x.png", "a\nb.png"])
def test_sent_back_names_that_leave_the_output_dir_are_refused(tmp_path: Path, name: str) -> None:
    warnings: list[str] = []
    assert write_outputs(tmp_path, [{"name": name, "data": b"x"}], warnings) == []
    assert warnings and "refused" in warnings[0]
    assert list(tmp_path.iterdir()) == []


async def test_an_idle_worker_found_dead_while_planning_is_replaced(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    backend.actors[0].killed.set()  # died while idle: nobody has noticed yet
    outcome = await pool_.run(_params("after"))
    assert outcome.result.status == protocol.OK and not outcome.retried
    assert len(backend.actors) == 3 and backend.actors[0].runs == []


async def test_shutting_down_ends_running_and_queued_runs(tmp_path: Path) -> None:
    backend = FakeBackend()
    pool = WorkerPool(backend, 1)
    backend.script = {1: ["deaf"]}
    events: list[Progress] = []
    running = asyncio.ensure_future(pool.run(_params("r"), on_progress=events.append))
    queued = asyncio.ensure_future(pool.run(_params("q")))
    while not events or not len(pool.queue):
        await asyncio.sleep(0.01)
    await pool.shutdown()
    for task in (running, queued):
        outcome = await asyncio.wait_for(task, 5)
        assert outcome.result.status == protocol.CANCELLED
