"""WorkerClient against the fake worker: handshake, states, progress, exit detection, the
no-progress watchdog, cancel escalation and clean shutdown."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from dw_lsp.protocol import ExecuteParams, Progress
from dw_lsp.session.client import WorkerClient, WorkerState
from dw_lsp.session.process import describe_exit
from dw_lsp.session.rpc import WorkerError


def _params(tmp_path: Path, run_id: str = "r1") -> ExecuteParams:
    return ExecuteParams(
        workflowPath=str(tmp_path / "w.json"), outputDir=str(tmp_path), runId=run_id
    )


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Logs:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def __call__(self, level: int, message: str) -> None:
        self.lines.append((level, message))

    def text(self) -> str:
        return "\n".join(m for _, m in self.lines)


async def test_lifecycle_progress_and_shutdown(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    logs = Logs()
    client = WorkerClient(fake_command("ok", steps=4), log=logs)
    assert client.state is WorkerState.STOPPED
    await client.start()
    assert client.state is WorkerState.READY
    pid = client.pid
    assert pid is not None
    seen: list[Progress] = []
    result = await client.execute(_params(tmp_path), seen.append, timeout=10)
    assert result.status == "ok"
    assert result.outputs == [str(tmp_path / "r1.png")]
    assert [p.percent for p in seen] == [0.0, 25.0, 50.0, 75.0, 100.0]
    assert client.state is WorkerState.READY
    memory = await client.memory_status()
    assert memory.runs == 1 and not memory.cuda
    await client.stop()
    assert client.state is WorkerState.STOPPED
    assert _gone(pid)
    # Every state change was logged by the one method that makes it.
    text = logs.text()
    for change in ("stopped -> starting", "starting -> ready", "ready -> busy", "busy -> ready"):
        assert change in text
    assert "ready -> stopped" in text


async def test_garbage_on_stdout_is_logged_not_fatal(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    logs = Logs()
    client = WorkerClient(fake_command("garbage"), log=logs)
    try:
        result = await client.execute(_params(tmp_path), None, timeout=10)
        assert result.status == "ok"
        assert "non-protocol line: garbage line from a library" in logs.text()
        assert any(level == logging.WARNING for level, _ in logs.lines)
    finally:
        await client.stop()


async def test_crash_mid_run_is_reported_and_next_start_is_fresh(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    client = WorkerClient(fake_command("crash"))
    await client.start()
    first = client.pid
    with pytest.raises(WorkerError) as info:
        await client.execute(_params(tmp_path), None, timeout=10)
    message = str(info.value)
    assert "killed by signal SIGKILL" in message
    assert "fake worker: about to die" in message
    assert client.state is WorkerState.ERRORED
    await client.start()
    assert client.state is WorkerState.READY
    assert client.pid != first
    await client.stop()


async def test_hang_without_progress_is_killed_after_timeout(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    client = WorkerClient(fake_command("hang"))
    await client.start()
    pid = client.pid
    assert pid is not None
    with pytest.raises(WorkerError) as info:
        await client.execute(_params(tmp_path), None, timeout=0.6)
    assert "no progress for 0.6 s" in str(info.value)
    assert client.state is WorkerState.ERRORED
    assert _gone(pid)


async def test_cancel_ignored_is_escalated_to_kill(
    tmp_path: Path, fake_command: Callable[..., list[str]]
) -> None:
    import asyncio

    client = WorkerClient(fake_command("ignore-cancel", delay=0.05))
    run = asyncio.ensure_future(client.execute(_params(tmp_path), None, timeout=30))
    while client.state is not WorkerState.BUSY:
        await asyncio.sleep(0.05)
    assert await client.cancel("r1", grace=0.5)
    with pytest.raises(WorkerError) as info:
        await run
    assert "did not stop within" in str(info.value)
    assert client.state is WorkerState.ERRORED


async def test_cooperative_cancel(tmp_path: Path, fake_command: Callable[..., list[str]]) -> None:
    import asyncio

    client = WorkerClient(fake_command("ok", steps=200, delay=0.02))
    try:
        run = asyncio.ensure_future(client.execute(_params(tmp_path), None, timeout=30))
        while client.state is not WorkerState.BUSY:
            await asyncio.sleep(0.05)
        await client.cancel("r1")
        result = await run
        assert result.status == "cancelled"
        assert client.state is WorkerState.READY
    finally:
        await client.stop()


async def test_failed_handshake_explains_exit(fake_command: Callable[..., list[str]]) -> None:
    client = WorkerClient(fake_command("no-init"))
    with pytest.raises(WorkerError) as info:
        await client.start()
    assert "exited with code 7" in str(info.value)
    assert "cannot start" in str(info.value)
    assert client.state is WorkerState.ERRORED


async def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    client = WorkerClient([str(tmp_path / "no-such-worker")])
    with pytest.raises(WorkerError, match="Could not start the worker"):
        await client.start()
    assert client.state is WorkerState.ERRORED


def test_describe_exit() -> None:
    assert describe_exit(-9) == "was killed by signal SIGKILL"
    assert describe_exit(3) == "exited with code 3"
