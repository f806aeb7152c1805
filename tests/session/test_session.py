"""Session against the fake worker: inputs checked before the worker sees them, one run at
a time, a worker killed mid-run, a hung worker, cancel, clear, settings, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dw_lsp.session import InputError, Session, WorkerState
from dw_lsp.settings import Settings


def _session(workspace: Path, command: list[str], **settings: object) -> tuple[Session, list[str]]:
    said: list[str] = []
    session = Session(
        Settings(worker_command=command, output_dir=str(workspace / "out"), **settings),  # type: ignore[arg-type]
        roots=[workspace],
        base_dir=workspace,
        notify=said.append,
    )
    return session, said


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_run_twice_messages_and_arguments(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, said = _session(workspace, fake_command())
    try:
        session.load(workspace / "draw.json")
        session.set_argument("prompt", "a cat")
        first = await session.run()
        assert first.ok, first.error
        assert first.outputs and first.runs == 1
        assert said[:4] == [
            "Starting worker process...",
            "Worker process started",
            "Running workflow: fake_test",
            "Loading models (this worker has not run this workflow yet)...",
        ]
        said.clear()
        second = await session.run({"steps": "4"})
        assert second.ok and second.runs == 2
        assert said == ["Running workflow: fake_test", "Reusing loaded models from cache"]
        said.clear()
        draw = workspace / "draw.json"
        draw.write_text(draw.read_text().replace("{", '{"description": "edited", ', 1))
        third = await session.run()
        assert third.ok, third.error
        # the edit changed no load key: the worker reused its models, and the session
        # says what the worker did rather than guessing from the file hash (issue 11)
        assert third.cache.reused and not third.cache.loaded
        assert said == ["Running workflow: fake_test", "Reusing loaded models from cache"]
        assert session.arguments() == {"prompt": "a cat"}  # per-run values are not stored
        status = session.status()
        assert status.worker_state == "ready" and status.name == "fake_test"
    finally:
        await session.shutdown()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"nope": "x"}, "declares no variable nope; its variables are: prompt, steps"),
        ({"1bad": "x"}, "Invalid argument name '1bad'"),
        ({"a" * 101: "x"}, "longer than 100"),
        ({"prompt": "x" * 10_001}, "longer than 10000 characters"),
        ({"prompt": "a\x00b"}, "control character"),
        ({"prompt": ["a"]}, "must be a string, number or boolean"),
    ],
)
async def test_bad_arguments_never_reach_the_worker(
    workspace: Path, arguments: dict[str, object], message: str, tmp_path: Path
) -> None:
    # A worker command that cannot start proves nothing was sent.
    session, _ = _session(workspace, [str(tmp_path / "absent")])
    session.load(workspace / "draw.json")
    with pytest.raises(InputError, match=message):
        session.set_arguments(arguments)
    report = await session.run(arguments)
    assert report.status == "error" and report.refused
    assert message.split(";")[0] in (report.error or "")
    assert session.client.state is WorkerState.STOPPED


async def test_paths_are_confined(workspace: Path, tmp_path: Path) -> None:
    session, _ = _session(workspace, [str(tmp_path / "absent")])
    outside = tmp_path / "outside.json"
    outside.write_text((workspace / "draw.json").read_text())
    with pytest.raises(InputError, match="outside the allowed folders"):
        session.load(outside)
    link = workspace / "link.json"
    link.symlink_to(outside)
    with pytest.raises(InputError, match="outside the allowed folders"):
        session.load(link)
    with pytest.raises(InputError, match="outside the allowed folders"):
        session.load(workspace / ".." / "outside.json")
    (workspace / "notes.txt").write_text("{}")
    with pytest.raises(InputError, match=r"not a \.json file"):
        session.load(workspace / "notes.txt")
    with pytest.raises(InputError, match="does not exist"):
        session.load(workspace / "missing.json")
    # ".." inside a name is fine as long as the file stays inside.
    (workspace / "v1..2.json").write_text((workspace / "draw.json").read_text())
    assert session.load(workspace / "v1..2.json").name == "fake_test"


async def test_invalid_workflow_is_not_run(workspace: Path, tmp_path: Path) -> None:
    session, _ = _session(workspace, [str(tmp_path / "absent")])
    (workspace / "bad.json").write_text(json.dumps({"id": "bad", "steps": "nope"}))
    report = await session.run(path=workspace / "bad.json")
    assert report.status == "error" and report.refused
    assert "validation error" in (report.error or "")
    assert report.problems


async def test_second_run_is_refused(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _ = _session(workspace, fake_command("ok", steps=20, delay=0.05))
    try:
        session.load(workspace / "draw.json")
        first = asyncio.ensure_future(session.run())
        while session.client.state is not WorkerState.BUSY:
            await asyncio.sleep(0.02)
        second = await session.run()
        assert second.status == "error"
        assert (second.error or "").startswith("A run is already in progress (fake_test)")
        assert (await first).ok
    finally:
        await session.shutdown()


async def test_worker_killed_mid_run_then_fresh_worker(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _ = _session(workspace, fake_command("ok", steps=50, delay=0.05))
    try:
        session.load(workspace / "draw.json")
        run = asyncio.ensure_future(session.run())
        while session.client.state is not WorkerState.BUSY:
            await asyncio.sleep(0.02)
        pid = session.client.pid
        assert pid is not None
        await asyncio.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        report = await asyncio.wait_for(run, 5)
        assert report.status == "error"
        assert "killed by signal SIGKILL" in (report.error or "")
        assert "next run starts a fresh worker" in (report.error or "")
        assert session.client.state is WorkerState.ERRORED
        again = await session.run({"steps": "1"})
        assert again.ok, again.error
        assert session.client.pid not in (None, pid)
    finally:
        await session.shutdown()


async def test_hung_worker_killed_after_run_timeout(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _ = _session(workspace, fake_command("hang"), run_timeout=0.8)
    try:
        report = await asyncio.wait_for(session.run(path=workspace / "draw.json"), 10)
        assert report.status == "error"
        assert "no progress for 0.8 s" in (report.error or "")
        assert "run.timeout" in (report.error or "")
    finally:
        await session.shutdown()


async def test_cancel_then_run_again(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _ = _session(workspace, fake_command("ok", steps=200, delay=0.02))
    try:
        assert not await session.cancel()
        run = asyncio.ensure_future(session.run(path=workspace / "draw.json"))
        while session.client.state is not WorkerState.BUSY:
            await asyncio.sleep(0.02)
        pid = session.client.pid
        assert await session.cancel()
        report = await asyncio.wait_for(run, 5)
        assert report.status == "cancelled"
        assert session.client.pid == pid  # cooperative: the worker stays
    finally:
        await session.shutdown()


async def test_memory_clear_and_shutdown(
    workspace: Path, fake_command: Callable[..., list[str]], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    session, _ = _session(workspace, fake_command("ok", pidfile=pidfile))
    assert await session.clear() is None  # no worker, nothing to clear, none started
    assert session.client.state is WorkerState.STOPPED
    memory = await session.memory()
    assert memory.device == "cpu"
    assert (await session.clear()) is not None
    pid = int(pidfile.read_text())
    await session.shutdown()
    assert _gone(pid)


async def test_configure_and_worker_restart_on_command_change(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _ = _session(workspace, fake_command())
    try:
        await session.memory()
        first = session.client.pid
        session.configure("outputDir", str(workspace / "elsewhere"))
        assert session.output_dir == workspace / "elsewhere"
        with pytest.raises(InputError, match="unknown setting"):
            session.configure("colour", "blue")
        session.configure("worker.command", fake_command("ok", steps=1))
        await session.memory()
        assert session.client.pid != first
        pid = session.client.pid
        await session.restart_worker()  # prewarm is on: a fresh worker starts at once
        for _ in range(200):
            if session.client.state is WorkerState.READY:
                break
            await asyncio.sleep(0.02)
        assert session.client.state is WorkerState.READY and session.client.pid != pid
    finally:
        await session.shutdown()


async def test_prewarm_starts_the_worker_once(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, said = _session(workspace, fake_command(), worker_prewarm=False)
    session.prewarm()
    assert session.client.state is WorkerState.STOPPED
    session.update_settings(Settings(worker_command=fake_command(), worker_prewarm=True))
    try:
        session.prewarm()
        session.prewarm()
        for _ in range(200):
            if session.client.state is WorkerState.READY:
                break
            await asyncio.sleep(0.02)
        assert session.client.state is WorkerState.READY
        assert said.count("Starting worker process...") == 1
    finally:
        await session.shutdown()


async def test_remote_code_needs_the_user_setting(
    workspace: Path, fake_command: Callable[..., list[str]], tmp_path: Path
) -> None:
    """A workflow passing trust_remote_code is refused before the worker starts; with
    worker.allowRemoteCode it runs, and the worker is told the setting."""
    document = json.loads((workspace / "draw.json").read_text())
    document["steps"][0]["pipeline"]["from_pretrained_arguments"]["trust_remote_code"] = True
    (workspace / "trusting.json").write_text(json.dumps(document))
    refusing, _ = _session(workspace, [str(tmp_path / "absent")])
    report = await refusing.run(path=workspace / "trusting.json")
    assert report.status == "error" and report.refused
    assert [p.code for p in report.problems] == ["DW306"]
    assert "worker.allowRemoteCode" in (report.error or "")
    assert refusing.client.state is WorkerState.STOPPED

    session, _ = _session(workspace, fake_command(), worker_allow_remote_code=True)
    sent: list[object] = []
    execute = session.client.execute

    async def spy(params: Any, *args: Any) -> Any:
        sent.append(params)
        return await execute(params, *args)

    session.client.execute = spy  # type: ignore[method-assign]
    try:
        report = await session.run(path=workspace / "trusting.json")
        assert report.ok, report.error
        assert [getattr(p, "allowRemoteCode", None) for p in sent] == [True]
    finally:
        await session.shutdown()


@pytest.mark.parametrize(
    ("output_dir", "complaint"),
    [
        (".", "contains the workflow"),
        ("..", "contains the workflow"),
        ("file:///tmp/out", "is a URL"),
        ("out\x9b", "U+009B"),
    ],
)
async def test_an_output_dir_holding_the_workflow_or_unfit_is_refused_before_the_worker(
    workspace: Path, fake_command: Callable[..., list[str]], output_dir: str, complaint: str
) -> None:
    session, _said = _session(workspace, fake_command())
    session.configure("outputDir", output_dir)
    try:
        report = await session.run(None, workspace / "draw.json")
        assert report.refused and complaint in (report.error or ""), report.error
        assert session.client.state is WorkerState.STOPPED
    finally:
        await session.shutdown()


async def test_a_lone_surrogate_argument_is_a_clear_refusal(
    workspace: Path, fake_command: Callable[..., list[str]]
) -> None:
    session, _said = _session(workspace, fake_command())
    try:
        report = await session.run({"prompt": "a \ud800 cat"}, workspace / "draw.json")
        assert report.refused and "lone surrogate U+D800" in (report.error or "")
    finally:
        await session.shutdown()
