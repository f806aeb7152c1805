"""``dw-lsp run``: exit codes (0 ok, 1 run error, 2 bad input, 130 cancelled), the output
paths on stdout, and ``--repeat`` reusing the warm worker."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-sd.json"
    shutil.copy(TINY, path)
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dw_lsp", "run", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "does not exist"),
        (["tiny-sd.json", "colour=red"], "its variables are: prompt, steps, guidance"),
        (["tiny-sd.json", "1x=2"], "Invalid argument name"),
        (["tiny-sd.json", "prompt"], "Expected name=value"),
        (["tiny-sd.json", "--repeat", "0"], "--repeat must be at least 1"),
        (["tiny-sd.json", "--timeout", "-1"], "expected a positive number"),
        (["tiny-sd.json", "--sweep", "steps"], "Expected name=v1,v2"),
        (["tiny-sd.json", "--sweep", "colour=red,blue"], "its variables are: prompt"),
        (["tiny-sd.json", "--sweep", "steps=1", "--repeat", "2"], "cannot be combined"),
        (["tiny-sd.json", "--sweep", "steps=1", "--workers", "0"], "from 1 to 64"),
        (
            [
                "tiny-sd.json",
                "--sweep",
                "prompt=" + ",".join("p" * 17),
                "--sweep",
                "steps=" + ",".join("1" * 16),
            ],
            "= 272 runs; at most 256",
        ),
    ],
)
def test_bad_input_exits_2(tiny: Path, args: list[str], message: str) -> None:
    done = _run(*args, cwd=tiny.parent)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Starting worker process" not in done.stderr


@pytest.mark.slow
def test_repeat_runs_warm_and_prints_outputs(tiny: Path) -> None:
    out = tiny.parent / "out"
    done = _run(str(tiny), "steps=2", "--repeat", "2", "--output-dir", str(out), cwd=tiny.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    outputs = [line for line in lines if line.endswith(".png")]
    assert len(outputs) == 2 and all(Path(p).is_relative_to(out) for p in outputs)
    runs = [line for line in lines if line.startswith("Run ")]
    assert runs[0].startswith("Run 1/2: load ") and "Models loaded: " in runs[0]
    assert runs[1].startswith("Run 2/2: load 0.00 s") and "Models reused: " in runs[1]
    assert done.stderr.count("Starting worker process...") == 1


@pytest.mark.slow
def test_sweep_on_the_local_backend_prints_each_run(tiny: Path) -> None:
    out = tiny.parent / "out"
    args = ["--sweep", "prompt=a fox,an owl", "--sweep", "steps=1,2", "--output-dir", str(out)]
    done = _run(str(tiny), *args, cwd=tiny.parent)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    runs = [line for line in lines if line.startswith("Run ")]
    assert [r.split(":")[0] for r in runs] == [
        "Run 1/4 (prompt=a fox steps=1)",
        "Run 2/4 (prompt=a fox steps=2)",
        "Run 3/4 (prompt=an owl steps=1)",
        "Run 4/4 (prompt=an owl steps=2)",
    ]
    outputs = [line for line in lines if line.endswith(".png")]
    assert len(set(outputs)) == 4 and all("/sweep-" in o for o in outputs)
    assert done.stderr.count("Starting worker process...") == 1  # one warm worker for all
    assert "4/4 runs done · run 4 ok" in done.stderr
    assert "Sweep: 4/4 runs ok" in done.stderr


@pytest.mark.slow
def test_run_error_exits_1(tiny: Path) -> None:
    done = _run(str(tiny), "steps=many", "--quiet", cwd=tiny.parent)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Error: " in done.stderr


@pytest.mark.slow
def test_ctrl_c_cancels_and_exits_130(tiny: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dw_lsp", "run", str(tiny), "steps=500"],
        cwd=tiny.parent,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while b"denoising step 1/" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if ready:
            seen += os.read(proc.stderr.fileno(), 65536)
    assert b"denoising step 1/" in seen, seen
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, (seen + rest).decode()
    assert b"Run cancelled" in rest


@pytest.mark.slow
def test_stand_in_smoke_runs_a_workflow_whose_model_is_not_here(tmp_path: Path) -> None:
    document = json.loads(TINY.read_text())
    document["steps"][0]["pipeline"]["from_pretrained_arguments"]["model_name"] = "nobody/sd"
    workflow = tmp_path / "hub.json"
    workflow.write_text(json.dumps(document))
    out = tmp_path / "out"
    failed = _run(str(workflow), "--quiet", "--output-dir", str(out), cwd=tmp_path)
    assert failed.returncode == 1 and "nobody/sd" in failed.stderr
    done = _run(str(workflow), "--stand-in", "--output-dir", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [output] = [line for line in done.stdout.splitlines() if line.endswith(".png")]
    assert Path(output).parent == out / "stand-in"
    assert "Stand-in run (all): tiny random models, not real results" in done.stderr
    assert "stood in: step 'generate' pipeline StableDiffusionPipeline for nobody/sd" in (
        done.stderr
    )
    assert "shrunk: step 'generate' num_inference_steps" in done.stderr
