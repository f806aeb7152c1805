"""Runs through the real worker: seeds, progress, cancel, failures, refusals, sub-workflows
and the example workflows of ``workflows/``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import (
    REPO,
    WorkerProcess,
    execute_params,
    ok,
    progress_of,
    tiny_ddpm_step,
    tiny_sd_step,
    write_workflow,
)

pytestmark = pytest.mark.slow


def test_the_same_seed_gives_the_same_image_bit_for_bit(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path / "seeded.json", [tiny_sd_step()], seed=1234)
    first = Path(ok(worker.execute(workflow, tmp_path / "a"))["outputs"][0]).read_bytes()
    second = Path(ok(worker.execute(workflow, tmp_path / "b"))["outputs"][0]).read_bytes()
    assert first == second
    reseeded = write_workflow(tmp_path / "seeded.json", [tiny_sd_step()], seed=99)
    third = Path(ok(worker.execute(reseeded, tmp_path / "c"))["outputs"][0]).read_bytes()
    assert third != first


def test_progress_covers_steps_iterations_and_every_denoising_step(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(
        tmp_path / "progress.json", [tiny_sd_step("sd", steps=5), tiny_ddpm_step("ddpm", steps=4)]
    )
    params = execute_params(workflow, tmp_path / "out")
    ok(worker.result("execute", params))
    events = [n["params"] for n in worker.notifications if progress_of(params["runId"])(n)]
    phases = {e["phase"] for e in events}
    assert {"step", "iteration", "denoise", "save"} <= phases
    denoise = [
        (e["step"], e["denoiseStep"], e["denoiseTotal"]) for e in events if e["phase"] == "denoise"
    ]
    # DDPMPipeline has no step callback: its steps are counted through its progress bar.
    assert denoise == [("sd", i, 5) for i in range(1, 6)] + [("ddpm", i, 4) for i in range(1, 5)]
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert {e["stepCount"] for e in events} == {2}


@pytest.mark.parametrize("make_step", [tiny_sd_step, tiny_ddpm_step], ids=["callback", "bar"])
def test_cancel_stops_within_one_denoising_step_and_keeps_the_models(
    worker: WorkerProcess, tmp_path: Path, make_step: Any
) -> None:
    workflow = write_workflow(tmp_path / "cancel.json", [make_step(steps=500)])
    ok(
        worker.execute(
            write_workflow(tmp_path / "warm.json", [make_step(steps=1)]), tmp_path / "warm"
        )
    )
    params = execute_params(workflow, tmp_path / "out")
    run = worker.send("execute", params)
    worker.wait_for(
        lambda n: progress_of(params["runId"], "denoise")(n) and n["params"]["denoiseStep"] >= 2
    )
    cancelled_at = len(worker.notifications)
    started = time.monotonic()
    assert worker.result("cancel") == {"cancelled": True}
    result = worker.response(run)
    assert result["result"]["status"] == "cancelled"
    assert time.monotonic() - started < 20.0
    later = [
        n for n in worker.notifications[cancelled_at:] if progress_of(params["runId"], "denoise")(n)
    ]
    assert len(later) <= 2  # at most the step in flight when the cancel arrived
    assert result["result"]["outputs"] == []
    assert not (tmp_path / "out").exists()
    short = write_workflow(tmp_path / "short.json", [make_step(steps=2)])
    again = ok(worker.execute(short, tmp_path / "out"))
    assert again["cache"]["loaded"] == [] and again["cache"]["reused"]


def test_an_exception_comes_back_with_its_traceback_and_the_worker_goes_on(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    good = write_workflow(tmp_path / "good.json", [tiny_sd_step()])
    ok(worker.execute(good, tmp_path / "out"))
    bad_step = tiny_sd_step()
    bad_step["pipeline"]["arguments"]["prompt"] = 30  # not text
    bad = write_workflow(tmp_path / "bad.json", [bad_step])
    failed = worker.execute(bad, tmp_path / "out")
    assert failed["status"] == "error"
    assert "prompt" in failed["error"] and "generate" in failed["error"]
    assert "Traceback (most recent call last)" in failed["traceback"]
    assert "check_inputs" in failed["traceback"]
    assert failed["cache"]["reused"] == ["generate@bad.json"]
    assert ok(worker.execute(good, tmp_path / "out"))["cache"]["reused"] == ["generate@good.json"]


@pytest.mark.parametrize(
    ("top", "step_name", "result_extra", "reason"),
    [
        ({"id": "../escape"}, "draw", {}, "path separator"),
        ({}, "sub/dir", {}, "path separator"),
        ({}, "draw", {"file_base_name": ".."}, "'..'"),
        ({}, "draw", {"file_base_name": "..\\up"}, "path separator"),
        ({"id": "bell\x07"}, "draw", {}, "control character"),
    ],
)
def test_output_names_that_could_leave_the_output_directory_are_refused(
    worker: WorkerProcess,
    tmp_path: Path,
    top: dict[str, str],
    step_name: str,
    result_extra: dict[str, str],
    reason: str,
) -> None:
    step = tiny_sd_step(step_name)
    step["result"].update(result_extra)
    workflow = write_workflow(tmp_path / "names" / "w.json", [step], **top)
    result = worker.execute(workflow, tmp_path / "names" / "out")
    assert result["status"] == "error"
    assert reason in result["error"]
    assert result["cache"]["loaded"] == [] and result["cache"]["reused"] == []
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["w.json"]


def test_a_component_type_outside_the_allowlist_is_refused(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    step = tiny_sd_step()
    step["pipeline"]["configuration"]["component_type"] = "os.system"
    step["pipeline"]["from_pretrained_arguments"] = {"command": "touch /tmp/dw-lsp-pwned"}
    result = worker.execute(write_workflow(tmp_path / "evil.json", [step]), tmp_path / "out")
    assert result["status"] == "error"
    assert "os.system" in result["error"] and "allowed modules" in result["error"]
    assert not Path("/tmp/dw-lsp-pwned").exists()


@pytest.mark.parametrize(
    ("change", "named", "reason"),
    [
        (
            lambda p: p["configuration"].update(pre_load_modules=["os"]),
            "pipeline.configuration.pre_load_modules[0]",
            "importing 'os' is refused",
        ),
        (
            lambda p: p.update(
                transformer={
                    "configuration": {"component_type": "UNet2DConditionModel"},
                    "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                    "quantization_config": {
                        "configuration": {"config_type": "BitsAndBytesConfig"},
                        "arguments": {},
                    },
                }
            ),
            "pipeline.transformer.quantization_config",
            "needs CUDA or XPU",
        ),
    ],
)
def test_keys_the_worker_cannot_honour_here_fail_before_anything_loads(
    worker: WorkerProcess, tmp_path: Path, change: Any, named: str, reason: str
) -> None:
    worker.result("clearMemory")
    step = tiny_sd_step("later")
    change(step["pipeline"])
    workflow = write_workflow(tmp_path / "unsupported.json", [tiny_ddpm_step("first"), step])
    result = worker.execute(workflow, tmp_path / "out")
    assert result["status"] == "error"
    assert "step 'later'" in result["error"]
    assert named in result["error"] and reason in result["error"]
    assert result["cache"]["loaded"] == []


def test_offload_on_a_cpu_is_skipped_with_a_note(worker: WorkerProcess, tmp_path: Path) -> None:
    step = tiny_sd_step()
    step["pipeline"]["configuration"]["offload"] = "model"
    result = ok(worker.execute(write_workflow(tmp_path / "offload.json", [step]), tmp_path / "out"))
    assert any("offload" in w and "cpu" in w for w in result["warnings"])


def test_a_value_that_does_not_convert_to_the_declared_type_is_an_error(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    result = worker.execute(REPO / "workflows" / "tiny-sd.json", tmp_path, {"steps": "many"})
    assert result["status"] == "error"
    assert "steps" in result["error"] and "int" in result["error"]


def test_a_sub_workflow_runs_with_arguments_and_its_edits_count(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    child = write_workflow(
        tmp_path / "parts" / "child.json",
        [tiny_sd_step(prompt="variable:prompt")],
        id="child",
        variables={"prompt": "default"},
    )
    parent = write_workflow(
        tmp_path / "parent.json",
        [
            {
                "name": "call",
                "workflow": {
                    "path": "parts/child.json",
                    "arguments": {"prompt": "from the parent"},
                },
            },
            {
                "name": "size",
                "task": {
                    "command": "get_image_size",
                    "arguments": {"image": "previous_result:call"},
                },
                "result": {"content_type": "application/json"},
            },
        ],
        id="parent",
        seed=11,
    )
    first = ok(worker.execute(parent, tmp_path / "out"))
    names = sorted(Path(p).name for p in first["outputs"])
    assert names == ["child-generate.0-0.0.png", "parent-size.1-0.json"]
    assert json.loads((tmp_path / "out" / "parent-size.1-0.json").read_text()) == {
        "width": 64,
        "height": 64,
    }
    assert ok(worker.execute(parent, tmp_path / "out"))["fileChanged"] is False
    child.write_text(child.read_text().replace("default", "changed default"))
    assert ok(worker.execute(parent, tmp_path / "out"))["fileChanged"] is True


def test_the_tiny_sd_example_runs(worker: WorkerProcess, tmp_path: Path) -> None:
    result = ok(
        worker.execute(
            REPO / "workflows" / "tiny-sd.json", tmp_path, {"prompt": "a cat", "steps": "3"}
        )
    )
    assert [Path(p).name for p in result["outputs"]] == ["tiny-sd-generate.0-0.0.png"]


def test_the_pipeline_tour_runs_end_to_end(worker: WorkerProcess, tmp_path: Path) -> None:
    result = ok(
        worker.execute(REPO / "workflows" / "tiny-pipeline-tour.json", tmp_path, {"steps": 2})
    )
    assert sorted(Path(p).name for p in result["outputs"]) == [
        "tiny-tour-draw.0-0.0.png",
        "tiny-tour-draw.0-0.1.png",
        "tiny-tour-noise.2-0.0.png",
        "tiny-tour-redraw.1-0.0.png",
        "tiny-tour-sizes.3-0.json",
        "tiny-tour-sizes.3-1.json",
    ]
    assert all(Path(p).parent == tmp_path for p in result["outputs"])
    assert json.loads((tmp_path / "tiny-tour-sizes.3-1.json").read_text()) == {
        "width": 64,
        "height": 64,
    }


def test_a_builtin_sub_workflow_runs(worker: WorkerProcess, tmp_path: Path) -> None:
    result = ok(worker.execute(REPO / "workflows" / "sub-workflow.json", tmp_path, {"count": 1}))
    assert sorted(Path(p).name for p in result["outputs"]) == [
        "sizes-sub-workflow-measure.1-0.json",
        "test_imagebuiltin_test-draw.0-0.0.png",
    ]
    assert result["cache"]["loaded"] + result["cache"]["reused"] == ["draw@test.json"]


def test_media_arguments_load_from_local_files(worker: WorkerProcess, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (40, 24), "teal").save(tmp_path / "input.png")
    step = {
        "name": "size",
        "task": {"command": "get_image_size", "arguments": {"image": "input.png"}},
        "result": {"content_type": "application/json"},
    }
    result = ok(worker.execute(write_workflow(tmp_path / "media.json", [step]), tmp_path / "out"))
    assert json.loads(Path(result["outputs"][0]).read_text()) == {"width": 40, "height": 24}
