"""``prepare``: the dry run ``worker.prewarm`` sends for a workflow the user opened. The worker
resolves the classes the file names, so their modules are imported before the first run
(issue 11: those lazy imports were most of the first run's cost), and loads no weight,
counts no run and keeps nothing; a problem is reported back, not raised. A run sent while
a prepare is under way waits behind it instead of being refused as busy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from dwtest_worker import WorkerProcess, execute_params, tiny_sd_step, write_workflow

from dw_lsp import protocol

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"


def prepare(worker: WorkerProcess, workflow: Path, out: Path) -> dict[str, object]:
    params = execute_params(workflow, out, runId="prewarm", dryRun=True)
    return worker.result(protocol.PREPARE, params, timeout=180)


def test_prepare_imports_the_pipeline_classes_and_loads_nothing(
    start_worker: Callable[[], WorkerProcess], tmp_path: Path
) -> None:
    worker = start_worker()
    workflow = tmp_path / "tiny-sd.json"
    shutil.copy(TINY, workflow)
    first = prepare(worker, workflow, tmp_path / "out")
    assert first["status"] == "ok" and first["error"] is None, first
    # StableDiffusionPipeline, its UNet, VAE, CLIP text model and scheduler: hundreds of modules
    assert isinstance(first["imported"], int) and first["imported"] > 50, first
    again = prepare(worker, workflow, tmp_path / "out")
    assert again["status"] == "ok" and again["imported"] == 0, again  # already imported
    assert worker.result("ping")["runs"] == 0
    assert worker.result("memoryStatus")["pipelines"] == []
    assert not (tmp_path / "out").exists()
    result = worker.execute(workflow, tmp_path / "out")
    assert result["status"] == "ok" and result["runs"] == 1, result
    assert result["cache"]["loaded"] == ["generate@tiny-sd.json"]


def test_a_prepare_reports_the_problem_a_run_would_meet(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    step = tiny_sd_step("broken")
    step["pipeline"]["configuration"]["component_type"] = "NoSuchPipeline"
    workflow = write_workflow(tmp_path / "broken.json", [step])
    answer = prepare(worker, workflow, tmp_path / "out")
    assert answer["status"] == "error"
    assert "NoSuchPipeline" in str(answer["error"])
    unreadable = tmp_path / "garbage.json"
    unreadable.write_text("{ not json")
    answer = prepare(worker, unreadable, tmp_path / "out")
    assert answer["status"] == "error" and answer["error"]


def test_a_run_sent_during_a_prepare_waits_for_it_and_runs(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path / "both.json", [tiny_sd_step("both")])
    prepared = worker.send(protocol.PREPARE, execute_params(workflow, tmp_path / "o", dryRun=True))
    ran = worker.send("execute", execute_params(workflow, tmp_path / "out"))
    run = worker.response(ran, timeout=180)
    assert "result" in run, run  # not refused as busy
    assert run["result"]["status"] == "ok", run
    assert worker.response(prepared, timeout=30)["result"]["status"] == "ok"
