"""WorkerPool's decisions against scripted actors: where a real actor cannot be made to fail
at a chosen moment (dead before the run starts, hung, deaf to cancel) or a decision is easier
to see without torch (routing, queue positions, shipped outputs). The same pool on real Ray
actors and the real runtime is tests/cluster/test_ray_pool.py.

The fake actor "plans" a run's load keys from its ``model`` argument and keeps the models of
the runs it did, as the real runtime keeps pipelines.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, MemoryStatus, Progress
from dw_lsp.session import Session
from dw_lsp.session.actor_channel import ShippedFile, write_shipped
from dw_lsp.session.pool import ActorDied, WorkerPool
from dw_lsp.session.rpc import WorkerError
from dw_lsp.settings import Settings

MEMORY = protocol.to_json(
    MemoryStatus(
        device="cpu",
        cuda=False,
        allocatedMb=100.0,
        reservedMb=100.0,
        freeMb=1000.0,
        totalMb=2000.0,
        runs=0,
        processRssMb=100.0,
        hostTotalMb=2000.0,
        hostAvailableMb=1000.0,
    )
)


class FakeActor:
    """Behaviours per run, popped from ``script`` (default ``ok``): ``ok`` | ``die`` (gone
    before the run starts) | ``hang`` (progress once, then nothing until killed) | ``deaf``
    (ignores cancel) | ``ship`` (sends its output back as bytes) | ``bad-progress``,
    ``bad-result``, ``bad-snapshot``, ``bad-file`` (a malformed item, as a broken or
    hostile actor might send)."""

    def __init__(self, backend: FakeBackend, slot: int) -> None:
        self.backend = backend
        self.slot = slot
        self.info: Any = {
            "pid": 1000 + slot,
            "host": "fake",
            "device": "cpu",
            "protocolVersion": protocol.PROTOCOL_VERSION,
        }
        self.models: set[str] = set()
        self.killed = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.runs: list[str] = []

    @property
    def same_host(self) -> bool:
        return True

    def _snapshot(self) -> dict[str, Any]:
        models = sorted(self.models)
        return {"keys": models, "pipelines": models, "runs": 0, "memory": MEMORY}

    async def execute(self, params: dict[str, Any], ship_outputs: bool) -> AsyncIterator[Any]:
        script = self.backend.script.get(self.slot, [])
        behaviour = script.pop(0) if script else "ok"
        if behaviour == "die" or self.killed.is_set():
            raise ActorDied("The actor died unexpectedly before finishing this task.")
        run_id = params["runId"]
        self.runs.append(run_id)
        progress = {"runId": run_id, "phase": "denoise", "message": "1/2", "percent": 50}
        if behaviour == "bad-progress":
            progress["percent"] = "abc"
        yield {"progress": progress}
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
            item["files"] = [{"name": "result.png", "data": run_id.encode()}]
        elif behaviour == "bad-result":
            item["result"] = {"status": "done", "outputs": "/etc/passwd"}
        elif behaviour == "bad-snapshot":
            item["worker"] = {"keys": "sd", "memory": MEMORY}
        elif behaviour == "bad-file":
            item["files"] = [{"name": "result.png", "data": "not bytes"}]
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


async def test_outputs_sent_back_are_written_without_replacing_a_file(tmp_path: Path) -> None:
    """An actor elsewhere ships its outputs as bytes; the pool writes them with the worker's
    own writer: a name already taken (an earlier result, a link) gets the next number."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.png").write_bytes(b"earlier")
    (out / "result_2.png").symlink_to(tmp_path / "elsewhere.png")
    backend = FakeBackend()
    pool = WorkerPool(backend, 1)
    backend.script = {1: ["ship", "ship"]}
    try:
        first = await pool.run(_params("far", out=str(out)))
        second = await pool.run(_params("farther", out=str(out)))
    finally:
        await pool.shutdown()
    assert first.result.outputs == [str(out / "result_3.png")]
    assert second.result.outputs == [str(out / "result_4.png")]
    assert (out / "result.png").read_bytes() == b"earlier"
    assert not (tmp_path / "elsewhere.png").exists()  # never written through the link
    assert (out / "result_3.png").read_bytes() == b"far"
    assert not [p for p in out.iterdir() if p.name.startswith(".dw-partial")]


@pytest.mark.parametrize("name", ["../x.png", "/etc/x.png", "a/../../x.png", "a\nb.png", "a/b.png"])
def test_sent_back_names_that_leave_the_output_dir_are_refused(tmp_path: Path, name: str) -> None:
    warnings: list[str] = []
    assert write_shipped(str(tmp_path), [ShippedFile(name, b"x")], warnings) == []
    assert warnings and "refused" in warnings[0]
    assert list(tmp_path.iterdir()) == []


def test_sent_back_files_need_a_usable_output_dir(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert write_shipped("relative/out", [ShippedFile("a.png", b"x")], warnings) == []
    assert "not written" in warnings[0] and "absolute" in warnings[0]


@pytest.mark.parametrize(
    ("behaviour", "field"),
    [
        ("bad-progress", "progress.percent"),
        ("bad-result", "the execute result.outputs"),
        ("bad-snapshot", "the worker's snapshot.keys"),
        ("bad-file", "a file must be"),
    ],
)
async def test_a_malformed_item_stops_the_actor_and_fails_the_run(
    pool: tuple[WorkerPool, FakeBackend], behaviour: str, field: str
) -> None:
    """The total channel, for actors: nothing an actor streams is believed unchecked. A
    malformed item fails the run with the field named, the actor is replaced, and the next
    run works (before, such items crashed the pool's task and the run waited for ever)."""
    pool_, backend = pool
    backend.script = {1: [behaviour], 2: [behaviour]}
    with pytest.raises(WorkerError, match="malformed") as caught:
        await asyncio.wait_for(pool_.run(_params("bad")), 10)
    assert field in str(caught.value)
    backend.script = {}
    await asyncio.sleep(0.05)
    assert len(backend.actors) == 3 and sum(a.killed.is_set() for a in backend.actors) == 1
    outcome = await asyncio.wait_for(pool_.run(_params("after")), 10)
    assert outcome.result.status == protocol.OK


async def test_an_actor_with_malformed_info_or_another_protocol_is_not_used() -> None:
    class OddBackend(FakeBackend):
        async def start_actor(self, slot: int, timeout: float) -> FakeActor:
            actor = await super().start_actor(slot, timeout)
            if slot == 1:
                actor.info = ["not", "an", "object"]
            else:
                actor.info["protocolVersion"] = "9.0"
            return actor

    backend = OddBackend()
    pool = WorkerPool(backend, 2)
    try:
        with pytest.raises(WorkerError) as caught:
            await asyncio.wait_for(pool.start(), 10)
    finally:
        await pool.shutdown()
    assert "malformed" in str(caught.value) and "speaks protocol '9.0'" in str(caught.value)
    assert all(actor.killed.is_set() for actor in backend.actors)
    assert [w.state for w in pool.status().workers] == ["stopped", "stopped"]


async def test_malformed_load_keys_replace_the_idle_actor(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, backend = pool
    first = backend.actors[0]
    real_call = first.call

    async def odd_call(method: str, *args: Any, timeout: float = 30.0) -> Any:
        if method == "load_keys":
            return {"keys": 1}
        return await real_call(method, *args, timeout=timeout)

    first.call = odd_call  # type: ignore[method-assign]
    outcome = await asyncio.wait_for(pool_.run(_params("planned")), 10)
    assert outcome.result.status == protocol.OK
    assert first.killed.is_set() and first.runs == []


async def test_a_failing_progress_sink_does_not_end_the_run(
    pool: tuple[WorkerPool, FakeBackend],
) -> None:
    pool_, _ = pool

    def broken(event: Progress) -> None:
        raise RuntimeError("the front end's bug")

    outcome = await asyncio.wait_for(pool_.run(_params("sunk"), on_progress=broken), 10)
    assert outcome.result.status == protocol.OK


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


async def test_the_session_sends_the_users_rules_with_every_run_to_the_actors(
    tmp_path: Path,
) -> None:
    """worker.allowedModules and worker.allowRemoteCode travel with each run to the actor,
    as they do to the local worker (the actor's runtime enforces them)."""
    workflow = tmp_path / "tiny-sd.json"
    shutil.copy(Path(__file__).resolve().parents[2] / "workflows" / "tiny-sd.json", workflow)
    backend = FakeBackend()
    seen: list[dict[str, Any]] = []

    def pool_factory(settings: Settings, log: Any, say: Any) -> WorkerPool:
        return WorkerPool(backend, 1, log=log, say=say)

    settings = Settings(
        output_dir=str(tmp_path / "out"),
        worker_backend="ray",
        worker_allowed_modules=["mypkg"],
        worker_allow_remote_code=True,
    )
    session = Session(settings, roots=[tmp_path], base_dir=tmp_path, pool_factory=pool_factory)
    try:
        await session.workers.ensure_pool()
        await session.workers.pool.start()  # type: ignore[union-attr]
        actor = backend.actors[0]
        execute = actor.execute

        def spy(params: dict[str, Any], ship_outputs: bool) -> AsyncIterator[Any]:
            seen.append(params)
            return execute(params, ship_outputs)

        actor.execute = spy  # type: ignore[method-assign]
        report = await session.run({"prompt": "a cat"}, workflow)
    finally:
        await session.shutdown()
    assert report.status == protocol.OK, report.error
    (params,) = seen
    assert params["allowedModules"] == ["mypkg"] and params["allowRemoteCode"] is True
    assert params["outputDir"] == str(tmp_path / "out")
