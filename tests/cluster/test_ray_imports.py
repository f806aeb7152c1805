"""What each process imports: a front end on the local backend never loads Ray, and one on
the Ray backend never loads torch (the actors do). The second runs ``dw-lsp run --backend
ray --sweep ...`` for real in a fresh interpreter, which starts its own private Ray."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"
HEAVY = ("ray", "torch", "diffusers", "transformers")


def _python(code: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DW_LSP_CACHE_DIR": str(cwd / "models")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_local_backend_never_imports_ray(tmp_path: Path) -> None:
    code = f"""
import sys
import dw_lsp.cli, dw_lsp.server.app, dw_lsp.session.ray_backend
import dw_lsp.terminal.repl, dw_lsp.terminal.runcmd
from dw_lsp.session import Session
session = Session()
session.prewarm  # no event loop: nothing starts
print(sorted(set({HEAVY!r}) & set(sys.modules)))
"""
    done = _python(code, tmp_path, 60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_sweep_on_ray_from_the_cli_keeps_torch_out_of_the_front_end(tmp_path: Path) -> None:
    shutil.copy(TINY, tmp_path / "tiny-sd.json")
    report = tmp_path / "modules.json"
    code = f"""
import json, sys
from dw_lsp.cli import main
rc = main(["run", "tiny-sd.json", "--backend", "ray", "--workers", "2", "--quiet",
           "--sweep", "prompt=a,b", "--sweep", "steps=1,2", "--output-dir", "out"])
loaded = sorted(set({HEAVY!r}) & set(sys.modules))
open({str(report)!r}, "w").write(json.dumps({{"rc": rc, "loaded": loaded}}))
"""
    done = _python(code, tmp_path, 400)
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result == {"rc": 0, "loaded": ["ray"]}, done.stderr
    lines = done.stdout.splitlines()
    runs = [line for line in lines if line.startswith("Run ")]
    assert len(runs) == 4 and all(" on worker " in r for r in runs), done.stdout
    outputs = [line for line in lines if line.endswith(".png")]
    assert len(set(outputs)) == 4
    assert all(Path(o).is_relative_to(tmp_path / "out") for o in outputs)
