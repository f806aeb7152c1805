"""Stand-in runs through the real worker: modes, the loading paths they go through (component
blocks with subfolders, LoRAs, single files, schedulers, shared components), placeholder
media, the output folder, the report, and the warm cache (DESIGN.md "Stand-in models")."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, ok, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker.loading import tiny

pytestmark = pytest.mark.slow

HUB_FLUX = "nobody-has/FLUX.1-dev"


def flux_step(name: str = "txt2img", **pipeline: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "pipeline": {
            "configuration": {"component_type": "FluxPipeline"},
            "from_pretrained_arguments": {"model_name": HUB_FLUX, "torch_dtype": "torch.float32"},
            "arguments": {
                "prompt": "a fox",
                "num_inference_steps": 28,
                "height": 1024,
                "width": 1024,
            },
        },
        "result": {"content_type": "image/png"},
    }
    step["pipeline"].update(pipeline)
    return step


def stood_in(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["where"], m["component"], m["source"]) for m in result["standIn"]["models"]]


@pytest.fixture(scope="module")
def local_sd(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A real (tiny) model on disk, as a user's downloaded folder would be."""
    folder = tmp_path_factory.mktemp("models") / "tiny-sd"
    shutil.copytree(tiny.materialize("tiny-sd", cache_dir), folder)
    return folder


def sd_step(name: str, model: str) -> dict[str, Any]:
    step = tiny_sd_step(name)
    step["pipeline"]["from_pretrained_arguments"]["model_name"] = model
    return step


def test_by_default_a_missing_model_fails_with_the_usual_message(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path / "flux.json", [flux_step()])
    result = stand_in_worker.execute(workflow, tmp_path / "out")
    assert result["status"] == "error"
    assert HUB_FLUX in result["error"]
    assert "stand-in" not in result["error"].lower()
    assert result["standIn"] is None
    assert result["outputs"] == []
    assert not (tmp_path / "out" / "stand-in").exists()


def test_missing_mode_stands_in_only_for_what_is_not_here(
    stand_in_worker: WorkerProcess, tmp_path: Path, local_sd: Path
) -> None:
    steps = [sd_step("local", str(local_sd)), sd_step("hub", "nobody-has/sd-v1-5")]
    workflow = write_workflow(tmp_path / "two.json", steps, seed=3)
    missing = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="missing"))
    assert stood_in(missing) == [("pipeline", "StableDiffusionPipeline", "nobody-has/sd-v1-5")]
    assert {a["step"] for a in missing["standIn"]["arguments"]} == {"hub"}  # local: as given
    everything = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    assert [m["step"] for m in everything["standIn"]["models"]] == ["local", "hub"]
    assert all(Path(p).parent == tmp_path / "out" / "stand-in" for p in everything["outputs"])


def test_a_smoke_run_and_a_real_run_never_share_a_pipeline(
    stand_in_worker: WorkerProcess, tmp_path: Path, local_sd: Path
) -> None:
    own = shutil.copytree(local_sd, tmp_path / "own-model")  # a load key no other test has
    workflow = write_workflow(tmp_path / "local.json", [sd_step("generate", str(own))])
    label = "generate@local.json"
    smoke = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    real = ok(stand_in_worker.execute(workflow, tmp_path / "out"))
    again = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    warm = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    assert smoke["cache"]["loaded"] == [label]
    # The real run loads its own pipeline (the stand-in one it supersedes is released) ...
    assert label in real["cache"]["loaded"] and label in real["cache"]["released"]
    assert label in again["cache"]["loaded"] and label not in again["cache"]["reused"]
    # ... and an unchanged stand-in run reuses the stand-in pipeline like any other.
    assert warm["cache"]["reused"] == [label]
    assert real["standIn"] is None
    [real_output] = real["outputs"]
    assert Path(real_output).parent == tmp_path / "out"
    with Image.open(real_output) as image:
        assert image.size == (64, 64)  # the real tiny model, unshrunk


def test_components_subfolders_loras_single_files_and_schedulers_are_stood_in(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    step = flux_step(
        transformer={
            "configuration": {"component_type": "FluxTransformer2DModel"},
            "from_pretrained_arguments": {
                "model_name": HUB_FLUX,
                "subfolder": "transformer",
                "torch_dtype": "torch.float32",
            },
        },
        vae={
            "configuration": {"component_type": "AutoencoderKL"},
            "from_pretrained_arguments": {
                "from_single_file": "https://example.invalid/ae.safetensors"
            },
        },
        loras=[
            {"model_name": "nobody-has/flux-lora", "weight_name": "style.safetensors", "scale": 0.8}
        ],
        scheduler={"configuration": {"scheduler_type": "FlowMatchEulerDiscreteScheduler"}},
    )

    workflow = write_workflow(tmp_path / "blocks.json", [step], seed=1)
    result = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    assert stood_in(result) == [
        ("pipeline", "FluxPipeline", HUB_FLUX),
        ("pipeline.transformer", "FluxTransformer2DModel", HUB_FLUX),
        ("pipeline.vae", "AutoencoderKL", "https://example.invalid/ae.safetensors"),
        ("pipeline.loras[0]", "LoRA", "nobody-has/flux-lora"),
    ]
    shrunk = {a["name"]: (a["given"], a["used"]) for a in result["standIn"]["arguments"]}
    assert shrunk == {"num_inference_steps": (28, 2), "height": (1024, 16), "width": (1024, 16)}
    [output] = result["outputs"]
    with Image.open(output) as image:
        assert image.size == (16, 16)


def test_layerwise_casting_runs_on_a_stand_in(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    step = flux_step()
    step["pipeline"]["configuration"]["enable_layerwise_casting"] = {
        "storage_dtype": "torch.float8_e4m3fn",
        "compute_dtype": "torch.float32",
    }
    workflow = write_workflow(tmp_path / "cast.json", [step], seed=1)
    ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))


def test_shared_components_reach_a_later_stand_in_pipeline(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    first = flux_step("first", shared_components=["transformer"])
    second = flux_step("second", reused_components=["transformer"])
    second["pipeline"]["configuration"]["component_type"] = "FluxImg2ImgPipeline"
    second["pipeline"]["arguments"] = {
        "prompt": "a fox",
        "image": "previous_result:first",
        "strength": 0.3,
    }
    workflow = write_workflow(tmp_path / "shared.json", [first, second], seed=2)
    result = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    assert [m["step"] for m in result["standIn"]["models"]] == ["first", "second"]
    shrunk = {(a["step"], a["name"]): a["used"] for a in result["standIn"]["arguments"]}
    assert shrunk[("second", "num_inference_steps")] == 4  # 2 steps at strength 0.3 is none
    assert len(result["outputs"]) == 2


def img2img(image: Any) -> dict[str, Any]:
    step = tiny_sd_step("edit")
    step["pipeline"]["configuration"]["component_type"] = "StableDiffusionImg2ImgPipeline"
    step["pipeline"]["from_pretrained_arguments"]["model_name"] = "nobody-has/sd-v1-5"
    step["pipeline"]["arguments"] = {"prompt": "a fox", "image": image, "strength": 0.5}
    return step


def test_media_that_cannot_be_had_becomes_a_placeholder(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    url = "https://example.invalid/photo.jpg"
    workflow = write_workflow(
        tmp_path / "media.json",
        [img2img("variable:image"), {**img2img("missing/input.png"), "name": "local"}],
        variables={"image": url},
    )
    result = ok(stand_in_worker.execute(workflow, tmp_path / "out", standIns="all"))
    assert result["standIn"]["media"] == [
        {"kind": "image", "location": url},
        {"kind": "image", "location": "missing/input.png"},
    ]
    assert len(result["outputs"]) == 2
    # Without stand-ins the same workflow fails on its media, before any model loads.
    refused = stand_in_worker.execute(workflow, tmp_path / "out")
    assert refused["status"] == "error" and "network media" in refused["error"]


def test_paths_stay_confined_in_a_stand_in_run(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    workflow = write_workflow(tmp_path / "inner" / "escape.json", [img2img("../secret.png")])
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all")
    assert result["status"] == "error"
    assert "'..'" in result["error"]
    assert result["standIn"]["media"] == []


def test_a_class_the_registry_cannot_build_is_refused_by_name(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    step = flux_step()
    step["pipeline"]["configuration"]["component_type"] = "PixArtSigmaPipeline"
    workflow = write_workflow(tmp_path / "pixart.json", [step])
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all")
    assert result["status"] == "error"
    assert "no stand-in family covers PixArtSigmaPipeline" in result["error"]
    assert "dw_lsp/worker/standins/" in result["error"]


def test_an_unknown_mode_is_refused(stand_in_worker: WorkerProcess, tmp_path: Path) -> None:
    workflow = write_workflow(tmp_path / "flux.json", [flux_step()])
    reply = stand_in_worker.request(
        "execute", {"workflowPath": str(workflow), "outputDir": str(tmp_path), "standIns": "some"}
    )
    assert reply["error"]["code"] == -32602
    assert "off, missing, all" in reply["error"]["message"]
