"""``dw-lsp repl`` driven through a pseudo-terminal: the seed's messages for load, arg, run
(twice: the second reuses the models), memory, clear, run, exit; Ctrl-C cancelling a run
without ending the REPL; bad input answered with a clear error while the REPL carries on."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"


class PtyRepl:
    """The REPL on the slave side of a pty whose master we read and write."""

    def __init__(self, workflow_dir: Path, output_dir: Path, home: Path) -> None:
        self.master, slave = os.openpty()
        env = dict(os.environ, HOME=str(home), TERM="dumb", HF_HUB_OFFLINE="1")

        def controlling_tty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        cmd = [sys.executable, "-m", "dw_lsp", "repl", "--workflow-dir", str(workflow_dir)]
        cmd += ["--output-dir", str(output_dir)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=workflow_dir,
            start_new_session=True,
            preexec_fn=controlling_tty,
        )
        os.close(slave)
        self.seen = ""
        self._mark = 0

    def send(self, line: str) -> None:
        self._mark = len(self.seen)
        os.write(self.master, (line + "\n").encode())

    def interrupt(self) -> None:
        os.write(self.master, b"\x03")

    def expect(self, pattern: str, timeout: float = 60.0) -> str:
        """Wait until ``pattern`` (a regex) appears after the last send; return the text."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            found = regex.search(self.seen, self._mark)
            if found:
                return self.seen[self._mark : found.end()]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not seen; output:\n{self.seen[self._mark :]}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.5))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"REPL ended before {pattern!r}:\n{self.seen}")
                self.seen += data.decode("utf-8", "replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[PtyRepl]:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(TINY, workflows / "tiny-sd.json")
    (tmp_path / "outside.json").write_text(TINY.read_text())
    home = tmp_path / "home"
    home.mkdir()
    session = PtyRepl(workflows, tmp_path / "out", home)
    session.expect("Type 'help'")
    yield session
    session.close()


def test_bad_input_gets_clear_errors(repl: PtyRepl) -> None:
    repl.send("frobnicate")
    repl.expect(r"Error: unknown command 'frobnicate'")
    repl.send("run")
    repl.expect(r"Error: No workflow loaded")
    repl.send("load ../outside.json")
    repl.expect(r"Error: .*outside the allowed folders")
    repl.send("load /etc/passwd")
    repl.expect(r"Error: .*outside the allowed folders")
    repl.send("load tiny-sd")
    repl.expect("Loaded workflow: tiny-sd\nWorkflow validated successfully")
    repl.send("load no-such-dir/../tiny-sd")  # ".." is fine while the path stays inside
    repl.expect("Loaded workflow: tiny-sd\nWorkflow validated successfully")
    repl.send("arg 1prompt=x")
    repl.expect(r"Error: Invalid argument name '1prompt'")
    repl.send("arg colour=red")
    repl.expect(r"Error: .*its variables are: prompt, steps, guidance")
    repl.send('arg prompt="unclosed')
    repl.expect(r"Error: .*quot")
    repl.send("set colour=blue")
    repl.expect(r"Error: Unknown setting 'colour'")
    repl.send("set stand_in=on")
    repl.expect("Set stand_in=all")
    repl.send("set stand_in=sometimes")
    repl.expect(r"Error: .*worker.standIns: expected one of off, missing, all")
    repl.send("set stand_in=off")
    repl.expect("Set stand_in=off")
    repl.send("set backend=slurm")
    repl.expect(r"Error: dwLsp.worker.backend: expected one of local, ray")
    repl.send("sweep steps")
    repl.expect(r"Error: Expected name=v1,v2,... for a sweep")
    repl.send('arg prompt="a cat on a mat" steps=2')
    repl.expect("Set argument prompt=a cat on a mat\nSet argument steps=2")
    repl.send("status")
    repl.expect(r"Arguments: prompt=a cat on a mat, steps=2")
    repl.send("help")
    repl.expect("clear_args")
    repl.send("exit")
    repl.expect("Goodbye")
    assert repl.proc.wait(20) == 0


@pytest.mark.slow
def test_session_with_the_real_worker(repl: PtyRepl) -> None:
    repl.send("load tiny-sd")
    repl.expect("Workflow validated successfully")
    repl.send('arg prompt="a red cat" steps=2')
    repl.expect("Set argument steps=2")
    repl.send("run")
    first = repl.expect(r"executed 1 time\(s\) in this session", timeout=180)
    for message in (
        "Starting worker process...",
        "Worker process started",
        "Running workflow: tiny-sd",
        "Loading models (this worker has not run this workflow yet)...",
        "% denoising step",
        "Output: ",
        "GPU Memory Status:",
        "Device: cpu (no CUDA) — host memory",
        "Runs in this session: 1",
        "Workflow completed successfully",
    ):
        assert message in first
    repl.send("run")
    second = repl.expect(r"executed 2 time\(s\) in this session", timeout=120)
    assert "Reusing loaded models from cache" in second
    assert "Starting worker process" not in second
    assert "Models reused: " in second
    repl.send("memory")
    repl.expect(r"GPU Memory Status:(.|\n)*Runs in this session: 2")
    repl.send("clear")
    repl.expect(r"Clearing GPU memory(.|\n)*GPU memory cleared successfully")
    # Ctrl-C cancels the run, not the REPL; the models stay loaded.
    repl.send("arg steps=200")
    repl.expect("Set argument steps=200")
    repl.send("run")
    repl.expect(r"denoising step 2/200", timeout=120)
    repl.interrupt()
    repl.expect("Cancelling the run...(.|\n)*Run cancelled", timeout=30)
    repl.send("arg steps=2")
    repl.expect("Set argument steps=2")
    repl.send("run")
    third = repl.expect(r"Workflow completed successfully", timeout=120)
    assert "Models reused: " in third
    repl.send("sweep prompt=a,b")  # over the stored steps=2, in the same warm worker
    sweep = repl.expect(r"Results: .*sweep-", timeout=120)
    assert "Sweep of 2 runs of tiny-sd, one after another in the warm worker" in sweep
    assert "Run 1/2 (prompt=a): ok" in sweep and "Run 2/2 (prompt=b): ok" in sweep
    assert "Sweep ok: 2/2 runs ok" in sweep
    repl.send("exit")
    repl.expect("Goodbye", timeout=30)
    assert repl.proc.wait(20) == 0
