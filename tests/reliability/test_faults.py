"""Fault injection (suite "faults"): the worker dies, hangs or talks nonsense at chosen
moments, and every time the user gets a clear error, the session stays usable, the next run
is ok, and the disk holds nothing but what runs created (files_kit's rule: nothing that
existed before changed, nothing new outside the output directory, nothing truncated under a
final output name).

The real worker on ``builtin:tiny-sd`` for SIGKILL at idle, during load, during denoising
and during output writing, SIGSTOP (a hang, killed after ``run.timeout``) and a SIGKILLed
server; the fake worker (``tests/session/fake_worker.py``) only where a real one cannot show
the behaviour: malformed messages and noise on its stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from files_kit import damage, snapshot
from PIL import Image

from dw_lsp.protocol import Progress
from dw_lsp.session import Session, WorkerState
from dw_lsp.session.report import RunReport
from dw_lsp.settings import Settings

SUITE = "faults"
REPO = Path(__file__).resolve().parents[2]
FAKE_WORKER = REPO / "tests" / "session" / "fake_worker.py"
#: No case may take longer than this (a hang would otherwise pass for a slow run).
CASE_BOUND = 120.0


def _tiny_step(steps: int = 2) -> dict[str, Any]:
    return {
        "name": "generate",
        "pipeline": {
            "configuration": {"component_type": "StableDiffusionPipeline"},
            "from_pretrained_arguments": {
                "model_name": "builtin:tiny-sd",
                "torch_dtype": "torch.float32",
            },
            "arguments": {
                "prompt": "variable:prompt",
                "num_inference_steps": "variable:steps",
                "guidance_scale": 1.0,
                "height": 64,
                "width": 64,
            },
        },
        "result": {"content_type": "image/png"},
    }


@dataclass
class Place:
    """A workspace with the tiny workflow, a user's file, and an earlier run's output."""

    root: Path
    workflow: Path
    out: Path

    def session(self, **settings: Any) -> Session:
        options: dict[str, Any] = {
            "output_dir": str(self.out),
            "worker_prewarm": False,
            "run_timeout": 60.0,
            **settings,
        }
        return Session(Settings(**options), roots=[self.root], base_dir=self.root)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-models")


@pytest.fixture
def place(tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    monkeypatch.setenv("DW_LSP_CACHE_DIR", str(model_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "ws"
    out = root / "out"
    out.mkdir(parents=True)
    workflow = root / "tiny.json"
    document = {"id": "tiny", "variables": {"prompt": "a fox", "steps": 2}, "steps": [_tiny_step()]}
    workflow.write_text(json.dumps(document, indent=2), encoding="utf-8")
    (root / "notes.txt").write_text("the user's own file\n", encoding="utf-8")
    # An earlier result under the name this run's first image gets: it must survive.
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out / "tiny-generate.0-0.0.png")
    return Place(root, workflow, out)


async def _run(
    session: Session, place: Place, on_progress: Any = None, bound: float = CASE_BOUND
) -> RunReport:
    return await asyncio.wait_for(session.run(None, place.workflow, on_progress), bound)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _verdict(tally: Any, case: str, problems: list[str]) -> None:
    """Count the case and fail the test when anything was lost."""
    tally.tried(SUITE)
    if problems:
        tally.lost(SUITE, f"{case}: {'; '.join(problems)}")
        pytest.fail(f"{case}: " + "\n".join(problems))
    tally.survived(SUITE)


def _signal_at(
    session: Session, phase: str, sig: int = signal.SIGKILL, step: str = "", delay: float = 0.0
) -> tuple[Callable[[Progress], None], list[int], list[asyncio.TimerHandle]]:
    """A progress sink that sends ``sig`` to the worker at the first event of ``phase``
    (``delay`` seconds later: the timer is returned so a run that ends first can cancel it)."""
    fired: list[int] = []
    timers: list[asyncio.TimerHandle] = []

    def on_progress(event: Progress) -> None:
        if fired or event.phase != phase or (step and event.step != step):
            return
        pid = session.client.pid
        assert pid is not None
        fired.append(pid)
        if delay:
            timers.append(asyncio.get_running_loop().call_later(delay, os.kill, pid, sig))
        else:
            os.kill(pid, sig)

    return on_progress, fired, timers


async def _after_fault(
    session: Session,
    place: Place,
    report: RunReport,
    expect: str,
    before: dict[Path, str],
    real: bool = True,
) -> list[str]:
    """The checks every case shares: a clear error, a usable session, a next run that is ok,
    and no damage on disk."""
    problems: list[str] = []
    if report.status != "error" or not report.error or expect not in report.error:
        problems.append(f"expected an error saying {expect!r}, got {report.status}: {report.error}")
    if session.running:
        problems.append("the session still thinks a run is in progress")
    again = await _run(session, place)
    if not again.ok:
        problems.append(f"the next run failed: {again.error}")
    elif real and not all(Path(p).is_file() for p in again.outputs):
        problems.append(f"the next run reported missing outputs: {again.outputs}")
    problems.extend(damage(before, snapshot(place.root), place.out).problems)
    return problems


# -- the real worker ----------------------------------------------------------------------


@pytest.mark.slow
async def test_sigkill_at_idle(place: Place, tally: Any) -> None:
    session = place.session()
    before = snapshot(place.root)
    try:
        await asyncio.wait_for(session.memory(), CASE_BOUND)  # a started, idle worker
        pid = session.client.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if session.client.state is WorkerState.ERRORED:
                break
            await asyncio.sleep(0.05)
        status = session.status()
        problems = []
        if status.worker_state != "errored" or "SIGKILL" not in (status.last_exit or ""):
            problems.append(
                f"the idle death went unseen: {status.worker_state}, {status.last_exit}"
            )
        again = await _run(session, place)
        if not again.ok:
            problems.append(f"the next run failed: {again.error}")
        problems.extend(damage(before, snapshot(place.root), place.out).problems)
    finally:
        await session.shutdown()
    _verdict(tally, "SIGKILL at idle", problems)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["load", "denoise"])
async def test_sigkill_during_a_run(place: Place, tally: Any, phase: str) -> None:
    session = place.session()
    before = snapshot(place.root)
    try:
        on_progress, fired, _ = _signal_at(session, phase)
        report = await _run(session, place, on_progress)
        assert fired, f"no {phase} progress was reported"
        problems = await _after_fault(session, place, report, "SIGKILL", before)
    finally:
        await session.shutdown()
    _verdict(tally, f"SIGKILL during {phase}", problems)


@pytest.fixture
def big_images(place: Place) -> Path:
    """A workflow whose second step saves three 1536x1536 noise PNGs (most of a second of
    writing), so that a kill lands while files are being written."""
    folder = place.root / "big"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(3):
        pixels = rng.integers(0, 255, (1536, 1536, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"noise{i}.png", compress_level=0)
    gather = {
        "name": "gather",
        "task": {"command": "gather_images", "arguments": {"glob": "big/*.png"}},
        "result": {"content_type": "image/png"},
    }
    document = json.loads(place.workflow.read_text(encoding="utf-8"))
    document["steps"].append(gather)
    place.workflow.write_text(json.dumps(document, indent=2), encoding="utf-8")
    # Earlier results under the names this run's gathered images get: they must survive.
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 2, 3)).save(place.out / f"tiny-gather.1-0.{i}.png")
    return folder


async def _writing_time(session: Session, place: Place) -> float:
    """Seconds from the gather step's save event to the end of an undisturbed run."""
    marks: list[float] = []

    def on_progress(event: Progress) -> None:
        if event.phase == "save" and event.step == "gather" and not marks:
            marks.append(time.monotonic())

    report = await _run(session, place, on_progress)
    assert report.ok and marks, report.error
    return time.monotonic() - marks[0]


@pytest.mark.slow
async def test_sigkill_while_writing_outputs(place: Place, big_images: Path, tally: Any) -> None:
    session = place.session()
    problems: list[str] = []
    try:
        before = snapshot(place.root)
        writing = await _writing_time(session, place)
        problems.extend(damage(before, snapshot(place.root), place.out).problems)
        landed = 0
        for fraction in (0.05, 0.4, 0.75):
            delay = round(fraction * writing, 3)
            before = snapshot(place.root)
            on_progress, fired, timers = _signal_at(session, "save", step="gather", delay=delay)
            report = await _run(session, place, on_progress)
            for timer in timers:
                timer.cancel()  # the run ended before the kill: it missed, harmlessly
            assert fired, "no save progress was reported"
            if not report.ok:
                landed += 1
                if "SIGKILL" not in (report.error or ""):
                    problems.append(f"kill {delay} s into writing: unclear error {report.error}")
            problems.extend(
                f"kill {delay} s into writing: {p}"
                for p in damage(before, snapshot(place.root), place.out).problems
            )
        if landed < 2:
            problems.append(f"only {landed} of 3 kills landed while writing: the case shows little")
        before = snapshot(place.root)
        again = await _run(session, place)
        if not again.ok or len(again.outputs) != 4:
            problems.append(f"the next run failed: {again.status} {again.error} {again.outputs}")
        problems.extend(damage(before, snapshot(place.root), place.out).problems)
    finally:
        await session.shutdown()
    _verdict(tally, "SIGKILL while writing outputs", problems)


@pytest.mark.slow
async def test_sigstop_hang_is_killed_after_the_run_timeout(place: Place, tally: Any) -> None:
    # Small, yet above the longest quiet stretch of a healthy run on a loaded machine
    # (about 4 s seen with two cores shared by many test runs).
    hang = 10.0
    session = place.session(run_timeout=hang)
    before = snapshot(place.root)
    try:
        on_progress, fired, _ = _signal_at(session, "denoise", signal.SIGSTOP)
        started = time.monotonic()
        report = await _run(session, place, on_progress)
        took = time.monotonic() - started
        problems = []
        if not fired:
            problems.append(f"the run never reached denoising: {report.error}")
        elif not hang <= took < hang + 60.0:
            problems.append(f"the hung run ended after {took:.1f} s, not soon after {hang} s")
        elif _alive(fired[0]):
            problems.append(f"the stopped worker {fired[0]} is still there")
        session.configure("run.timeout", 60)
        problems.extend(await _after_fault(session, place, report, "run.timeout", before))
    finally:
        await session.shutdown()
    _verdict(tally, "SIGSTOP hang", problems)


# -- a SIGKILLed server -------------------------------------------------------------------


class _Lsp:
    """Just enough of an LSP client over a server's pipes for this case."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dw_lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._buffer = b""
        self._id = 0
        self.progress: list[dict[str, Any]] = []
        self.answers: dict[int, Any] = {}

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, method: str, params: Any, request: bool = True) -> int:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if request:
            self._id += 1
            message["id"] = self._id
        self._write(message)
        return self._id

    def pump(self, until: Callable[[], bool], timeout: float) -> None:
        """Read messages (answering the server's requests) until ``until()`` holds."""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while not until():
            head, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if sep:
                headers = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
                length = int(headers[b"Content-Length"])
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    self._take(json.loads(rest[:length]))
                    continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the server did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError("the server closed its output")
                self._buffer += chunk

    def _take(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})
        elif message.get("method") == "$/progress":
            self.progress.append(message["params"].get("value") or {})
        elif "id" in message:
            self.answers[message["id"]] = message.get("result", message.get("error"))

    def call(self, method: str, params: Any, timeout: float = CASE_BOUND) -> Any:
        msg_id = self.send(method, params)
        self.pump(lambda: msg_id in self.answers, timeout)
        return self.answers.pop(msg_id)

    def start(self, place: Place) -> None:
        self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": place.root.as_uri(),
                "capabilities": {"window": {"workDoneProgress": True}},
                "initializationOptions": {
                    "outputDir": str(place.out),
                    "worker": {"prewarm": False},
                },
            },
        )
        self.send("initialized", {}, request=False)

    def run_params(self, place: Place) -> dict[str, Any]:
        return {
            "command": "dw.run",
            "arguments": [
                {"uri": place.workflow.as_uri(), "progressToken": "run", "arguments": {"steps": 30}}
            ],
        }


@pytest.mark.slow
async def test_sigkilled_server_takes_its_worker_down(place: Place, tally: Any) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    before = snapshot(place.root)
    server = _Lsp(env)
    problems: list[str] = []
    try:
        server.start(place)
        server.send("workspace/executeCommand", server.run_params(place))
        server.pump(
            lambda: any("denois" in (v.get("message") or "") for v in server.progress), CASE_BOUND
        )
        status = server.call(
            "workspace/executeCommand", {"command": "dw.status", "arguments": [{}]}
        )
        pid = int(status["worker"]["pid"])
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            problems.append(f"the worker {pid} outlived the SIGKILLed server")
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
    problems.extend(damage(before, snapshot(place.root), place.out).problems)
    fresh = _Lsp(env)
    try:
        fresh.start(place)
        params = fresh.run_params(place)
        params["arguments"][0]["arguments"] = {"steps": 2}
        result = fresh.call("workspace/executeCommand", params)
        if result.get("status") != "ok":
            problems.append(f"a run on a fresh server failed: {result}")
        fresh.call("shutdown", None)
        fresh.send("exit", None, request=False)
        fresh.proc.wait(20)
    finally:
        if fresh.proc.poll() is None:
            fresh.proc.kill()
            fresh.proc.wait(10)
    _verdict(tally, "server SIGKILL", problems)


# -- the fake worker: what the channel must survive ---------------------------------------


def _fake_session(place: Place, mode: str, folder: Path) -> Session:
    """A session on the fake worker, misbehaving once; its pid lands in ``folder/pid``."""
    command = [sys.executable, str(FAKE_WORKER), "--mode", mode]
    command += ["--once", str(folder / "misbehaved"), "--pidfile", str(folder / "pid")]
    return place.session(worker_command=command, run_timeout=30.0)


MALFORMED = [
    "bad-percent",
    "null-percent",
    "nan-percent",
    "bad-code",
    "bad-error",
    "bad-outputs",
    "bad-status",
    "bad-timings",
    "no-result",
    "bad-log",
    "bad-jsonrpc",
]


@pytest.mark.parametrize("mode", MALFORMED)
async def test_a_malformed_message_fails_the_run_and_restarts_the_worker(
    place: Place, tally: Any, mode: str, tmp_path: Path
) -> None:
    session = _fake_session(place, mode, tmp_path)
    before = snapshot(place.root)
    problems: list[str] = []
    percentages: list[int] = []

    def like_the_server(event: Progress) -> None:  # what RunProgress does with an event
        percentages.append(min(100, int(event.percent)))

    try:
        started = time.monotonic()
        report = await _run(session, place, like_the_server, bound=20.0)
        took = time.monotonic() - started
        if took > 10.0:
            problems.append(f"the malformed message took {took:.1f} s to settle the run")
        first_pid = int((tmp_path / "pid").read_text())
        if _alive(first_pid):
            problems.append(f"the worker {first_pid} that sent it was left running")
        if await session.cancel():
            problems.append("dw.cancel still found a run in progress")
        problems.extend(await _after_fault(session, place, report, "malformed", before, real=False))
    finally:
        await session.shutdown()
    _verdict(tally, f"worker message {mode}", problems)


@pytest.mark.parametrize("mode", ["banner", "binary", "garbage"])
async def test_noise_on_the_worker_stdout_loses_no_message(
    place: Place, tally: Any, mode: str, tmp_path: Path
) -> None:
    session = _fake_session(place, mode, tmp_path)
    before = snapshot(place.root)
    problems: list[str] = []
    percentages: list[int] = []

    def like_the_server(event: Progress) -> None:  # what RunProgress does with an event
        percentages.append(min(100, int(event.percent)))

    try:
        started = time.monotonic()
        report = await _run(session, place, like_the_server, bound=20.0)
        took = time.monotonic() - started
        if not report.ok or took > 10.0:
            problems.append(f"noise lost the result: {report.status} {report.error} ({took:.1f} s)")
        again = await _run(session, place)
        if not again.ok:
            problems.append(f"the next run failed: {again.error}")
        problems.extend(damage(before, snapshot(place.root), place.out).problems)
    finally:
        await session.shutdown()
    _verdict(tally, f"worker noise {mode}", problems)


async def test_a_malformed_handshake_is_a_clear_error(
    place: Place, tally: Any, tmp_path: Path
) -> None:
    session = _fake_session(place, "bad-init", tmp_path)
    before = snapshot(place.root)
    try:
        report = await _run(session, place)
        problems = await _after_fault(session, place, report, "malformed", before, real=False)
    finally:
        await session.shutdown()
    _verdict(tally, "worker message bad-init", problems)


async def test_a_slow_worker_start_is_not_held_to_the_run_timeout(place: Place, tally: Any) -> None:
    command = [sys.executable, str(FAKE_WORKER), "--mode", "slow-init", "--init-delay", "1.5"]
    session = place.session(worker_command=command, run_timeout=0.5)
    try:
        report = await _run(session, place)
        problems = [] if report.ok else [f"a 1.5 s start failed the run: {report.error}"]
    finally:
        await session.shutdown()
    _verdict(tally, "slow worker start", problems)
