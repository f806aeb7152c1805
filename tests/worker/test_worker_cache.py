"""The warm cache through the real worker: what a run reuses, loads and releases after an
edit, sharing across workflows, clearMemory (dw's bug) and the memory figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, cache_of, tiny_ddpm_step, tiny_sd_step, write_workflow

pytestmark = pytest.mark.slow


def edit(path: Path, change: Any) -> None:
    """Load the workflow, let ``change`` edit it in place, save it."""
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


@pytest.fixture()
def two_step(tmp_path: Path) -> Path:
    return write_workflow(
        tmp_path / "pair.json", [tiny_sd_step("sd"), tiny_ddpm_step("ddpm")], seed=5
    )


def test_an_unchanged_file_reuses_everything_and_loads_nothing(
    worker: WorkerProcess, two_step: Path, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    first = worker.execute(two_step, tmp_path / "out")
    assert cache_of(first) == ([], ["ddpm@pair.json", "sd@pair.json"], [])
    assert first["timings"]["load"] > 0
    second = worker.execute(two_step, tmp_path / "out")
    assert cache_of(second) == (["ddpm@pair.json", "sd@pair.json"], [], [])
    assert second["timings"]["load"] == 0
    assert second["fileChanged"] is False
    assert second["runs"] == first["runs"] + 1
    # A rerun never replaces the earlier results: its files take the next numbered names.
    renamed = [
        str(Path(p).with_name(f"{Path(p).stem}_2{Path(p).suffix}")) for p in first["outputs"]
    ]
    assert second["outputs"] == renamed
    assert all(Path(p).is_file() for p in first["outputs"] + second["outputs"])


def test_editing_a_prompt_or_a_step_count_reloads_nothing(
    worker: WorkerProcess, two_step: Path, tmp_path: Path
) -> None:
    worker.execute(two_step, tmp_path / "out")

    def new_prompt(document: dict[str, Any]) -> None:
        document["steps"][0]["pipeline"]["arguments"]["prompt"] = "a blue whale"
        document["steps"][0]["pipeline"]["arguments"]["num_inference_steps"] = 2
        document["steps"][1]["pipeline"]["arguments"]["num_inference_steps"] = 4

    edit(two_step, new_prompt)
    result = worker.execute(two_step, tmp_path / "out")
    assert result["fileChanged"] is True
    assert cache_of(result) == (["ddpm@pair.json", "sd@pair.json"], [], [])


@pytest.mark.parametrize(
    ("what", "change"),
    [
        (
            "a from_pretrained argument",
            lambda p: p["from_pretrained_arguments"].update(use_safetensors=True),
        ),
        (
            "torch_dtype",
            lambda p: p["from_pretrained_arguments"].update(torch_dtype="torch.bfloat16"),
        ),
        (
            "the scheduler",
            lambda p: p.update(
                scheduler={"configuration": {"scheduler_type": "EulerDiscreteScheduler"}}
            ),
        ),
    ],
)
def test_editing_a_load_setting_reloads_exactly_that_pipeline(
    worker: WorkerProcess, two_step: Path, tmp_path: Path, what: str, change: Any
) -> None:
    worker.execute(two_step, tmp_path / "out")
    edit(two_step, lambda d: change(d["steps"][0]["pipeline"]))
    result = worker.execute(two_step, tmp_path / "out")
    assert cache_of(result) == (["ddpm@pair.json"], ["sd@pair.json"], ["sd@pair.json"]), what
    again = worker.execute(two_step, tmp_path / "out")
    assert cache_of(again) == (["ddpm@pair.json", "sd@pair.json"], [], [])


def test_changing_the_model_of_a_step_reloads_it(worker: WorkerProcess, tmp_path: Path) -> None:
    worker.result("clearMemory")
    workflow = write_workflow(tmp_path / "swap.json", [tiny_sd_step("draw")], seed=3)
    worker.execute(workflow, tmp_path / "out")
    edit(workflow, lambda d: d["steps"].__setitem__(0, tiny_ddpm_step("draw")))
    result = worker.execute(workflow, tmp_path / "out")
    assert cache_of(result) == ([], ["draw@swap.json"], ["draw@swap.json"])
    assert Path(result["outputs"][0]).is_file()


def test_a_model_chosen_by_a_variable_reloads_when_the_argument_changes(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    step = tiny_sd_step("draw")
    step["pipeline"]["from_pretrained_arguments"]["torch_dtype"] = "variable:dtype"
    workflow = write_workflow(
        tmp_path / "var.json", [step], seed=3, variables={"dtype": "torch.float32"}
    )
    worker.execute(workflow, tmp_path / "out")
    same = worker.execute(workflow, tmp_path / "out", {"dtype": "torch.float32"})
    assert cache_of(same) == (["draw@var.json"], [], [])
    other = worker.execute(workflow, tmp_path / "out", {"dtype": "torch.bfloat16"})
    assert cache_of(other) == ([], ["draw@var.json"], ["draw@var.json"])


def test_a_second_workflow_with_the_same_model_shares_the_pipeline(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    first = write_workflow(tmp_path / "a" / "first.json", [tiny_sd_step("one", prompt="x")])
    second = write_workflow(tmp_path / "b" / "second.json", [tiny_sd_step("two", prompt="y")])
    assert cache_of(worker.execute(first, tmp_path / "out")) == ([], ["one@first.json"], [])
    assert cache_of(worker.execute(second, tmp_path / "out")) == (["two@second.json"], [], [])
    memory = worker.result("memoryStatus")
    assert sorted(memory["pipelines"]) == ["one@first.json", "two@second.json"]
    assert cache_of(worker.execute(first, tmp_path / "out")) == (["one@first.json"], [], [])


def test_clear_memory_frees_the_pipelines_and_the_next_run_loads_again(
    worker: WorkerProcess, two_step: Path, tmp_path: Path
) -> None:
    worker.execute(two_step, tmp_path / "out")
    loaded = worker.result("memoryStatus")
    cleared = worker.result("clearMemory")
    assert cleared["pipelines"] == []
    assert cleared["allocatedMb"] < loaded["allocatedMb"]
    # dw fails here with "'NoneType' object has no attribute 'name'".
    result = worker.execute(two_step, tmp_path / "out")
    assert cache_of(result) == ([], ["ddpm@pair.json", "sd@pair.json"], [])


def test_memory_figures_are_real_and_move_with_the_models(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    empty = worker.result("clearMemory")
    assert empty["device"] == "cpu" and empty["cuda"] is False
    assert empty["allocatedMb"] == 0
    for key in (
        "processRssMb",
        "reservedMb",
        "freeMb",
        "totalMb",
        "hostTotalMb",
        "hostAvailableMb",
        "peakAllocatedMb",
    ):
        assert empty[key] > 0, key
    assert empty["freeMb"] <= empty["totalMb"]
    workflow = write_workflow(tmp_path / "mem.json", [tiny_sd_step()])
    result = worker.execute(workflow, tmp_path / "out")
    assert result["memory"]["allocatedMb"] > 1.0  # the tiny SD pipeline's ~4 MB of tensors
    assert result["memory"]["pipelines"] == ["generate@mem.json"]
    assert worker.result("clearMemory")["allocatedMb"] == 0


def test_release_pipeline_drops_it_after_the_step(worker: WorkerProcess, tmp_path: Path) -> None:
    worker.result("clearMemory")
    step = tiny_sd_step("once")
    step["release_pipeline"] = True
    workflow = write_workflow(tmp_path / "release.json", [step, tiny_ddpm_step("kept")])
    result = worker.execute(workflow, tmp_path / "out")
    assert cache_of(result) == (
        [],
        ["kept@release.json", "once@release.json"],
        ["once@release.json"],
    )
    assert worker.result("memoryStatus")["pipelines"] == ["kept@release.json"]


def test_a_reused_pipeline_still_shares_its_components(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    """dw's bug 5.1.8: on run 2 the cached sharer publishes nothing and the consumer fails."""
    worker.result("clearMemory")
    sharer = tiny_sd_step("sharer", shared_components=["vae"])
    consumer = tiny_sd_step("consumer", reused_components=["vae"])
    consumer["release_pipeline"] = True
    workflow = write_workflow(tmp_path / "share.json", [sharer, consumer])
    first = worker.execute(workflow, tmp_path / "out")
    assert cache_of(first) == (
        [],
        ["consumer@share.json", "sharer@share.json"],
        ["consumer@share.json"],
    )
    second = worker.execute(workflow, tmp_path / "out")
    assert cache_of(second) == (
        ["sharer@share.json"],
        ["consumer@share.json"],
        ["consumer@share.json"],
    )


def test_least_recently_used_pipelines_are_evicted_below_the_headroom(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    older = write_workflow(tmp_path / "older.json", [tiny_sd_step("old")])
    newer = write_workflow(tmp_path / "newer.json", [tiny_ddpm_step("new")])
    worker.execute(older, tmp_path / "out")
    # A headroom larger than any machine's memory: every idle pipeline must make room.
    result = worker.execute(newer, tmp_path / "out", headroomMb=1e12)
    assert cache_of(result) == ([], ["new@newer.json"], ["old@older.json"])
    assert worker.result("memoryStatus")["pipelines"] == ["new@newer.json"]
