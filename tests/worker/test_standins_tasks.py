"""Stand-in task models end to end through the real worker: in a stand-in run, a task
command whose model is missing (or every one, with ``standIns: all``) gets a tiny
random-weight model of the right kind, loaded by the command's own code (a transformers
pipeline, ``from_pretrained``, spandrel), and the run's ``standIn`` report names it under
``task.<command>``. A stand-in never serves a run without stand-ins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dwtest_taskmodels import build_language_model, write_clip
from dwtest_worker import WorkerProcess, cache_of, ok, write_workflow
from PIL import Image

pytestmark = pytest.mark.slow

TIMEOUT = 120.0


def task_step(name: str, command: str, arguments: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"command": command, "arguments": arguments},
        "result": {"content_type": kind},
    }


def photo(folder: Path, size: tuple[int, int] = (40, 30)) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 10)).save(folder / "photo.png")
    return "photo.png"


def stood_in(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["where"], m["component"], m["source"]) for m in result["standIn"]["models"]]


def test_every_model_backed_command_of_the_corpus_runs_on_stand_in_models(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", (40, 32))
    steps = [
        task_step(
            "expand", "text_generation", {"prompt": "a fox", "max_new_tokens": 12}, "text/plain"
        ),
        task_step(
            "qwen3",
            "text_generation",
            {"prompt": "a fox", "model_name": "Qwen/Qwen3-4B-Instruct-2507", "max_new_tokens": 4},
            "text/plain",
        ),
        task_step("caption", "image_to_text", {"image": image, "max_new_tokens": 8}, "text/plain"),
        task_step("estimated", "depth_estimator", {"image": image}, "image/png"),
        task_step("dpt", "depth", {"image": image, "width": 24, "height": 20}, "image/png"),
        task_step(
            "sharp",
            "upscale",
            {"image": image, "model_name": "Kim2091/UltraSharp", "filename": "4x-UltraSharp.pth"},
            "image/png",
        ),
        task_step(
            "x4", "diffusion_upscale", {"image": image, "num_inference_steps": 2}, "image/png"
        ),
        task_step("seg", "segmentation", {"image": image}, "image/png"),
        task_step("smooth", "interpolate_frames", {"video": "clip.mp4"}, "image/gif"),
    ]
    write_clip(tmp_path / "flow" / "clip.mp4", [(255, 0, 0), (0, 0, 255)], (48, 32))
    workflow = write_workflow(tmp_path / "flow" / "tasks.json", steps)
    result = ok(
        stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=TIMEOUT)
    )
    assert stood_in(result) == [
        ("task.text_generation", "Qwen2ForCausalLM", "Qwen/Qwen2.5-1.5B-Instruct"),
        ("task.text_generation", "Qwen3ForCausalLM", "Qwen/Qwen3-4B-Instruct-2507"),
        (
            "task.image_to_text",
            "Idefics3ForConditionalGeneration",
            "HuggingFaceTB/SmolVLM-256M-Instruct",
        ),
        ("task.depth_estimator", "DPTForDepthEstimation", "Intel/dpt-large"),
        ("task.depth", "DPTForDepthEstimation", "Intel/dpt-hybrid-midas"),
        ("task.upscale", "spandrel Compact (SRVGGNet) x4", "Kim2091/UltraSharp"),
        (
            "task.diffusion_upscale",
            "StableDiffusionUpscalePipeline",
            "stabilityai/stable-diffusion-x4-upscaler",
        ),
        (
            "task.segmentation",
            "UperNetForSemanticSegmentation",
            "openmmlab/upernet-convnext-small",
        ),
        ("task.interpolate_frames", "RIFE 4.13 IFNet", "imaginairy/rife-interpolation"),
    ]
    outputs = [Path(p) for p in result["outputs"]]
    expand, qwen3, caption, estimated, dpt, sharp, x4, seg, smooth = outputs
    # random models write noise, but printable noise: a workflow may pass it on as a value
    for text in (expand, qwen3, caption):
        assert text.read_text().isprintable() or text.read_text() == ""
    assert Image.open(estimated).size == (40, 32)
    assert Image.open(dpt).size == (24, 20)
    assert Image.open(sharp).size == (160, 128)
    assert Image.open(x4).size == (160, 128)
    assert Image.open(seg).size == (40, 32)
    assert Image.open(smooth).n_frames == 3


def test_missing_mode_keeps_a_local_model_and_a_stand_in_never_serves_a_real_run(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    build_language_model(tmp_path / "flow" / "my-lm")
    image = photo(tmp_path / "flow")
    steps = [
        task_step(
            "mine",
            "text_generation",
            {"prompt": "hi", "model_name": "my-lm", "max_new_tokens": 3},
            "text/plain",
        ),
        task_step("estimated", "depth_estimator", {"image": image}, "image/png"),
    ]
    workflow = write_workflow(tmp_path / "flow" / "mixed.json", steps)
    result = ok(
        stand_in_worker.execute(workflow, tmp_path / "out", standIns="missing", timeout=TIMEOUT)
    )
    # the local model is used as it is; only the one missing here is stood in
    assert stood_in(result) == [
        ("task.depth_estimator", "DPTForDepthEstimation", "Intel/dpt-large")
    ]
    # the same workflow without stand-ins: the depth model is missing, and the stand-in
    # loaded a moment ago under the same name is not taken for it
    real = stand_in_worker.execute(workflow, tmp_path / "out-real", timeout=TIMEOUT)
    assert real["status"] == "error"
    assert "'Intel/dpt-large'" in real["error"] and "downloads no models" in real["error"]


def test_a_task_model_without_a_stand_in_is_named(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow")
    step = task_step("x2", "diffusion_upscale", {"image": image, "mode": "x2"}, "image/png")
    workflow = write_workflow(tmp_path / "flow" / "x2.json", [step])
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=TIMEOUT)
    assert result["status"] == "error"
    assert "step 'x2': cannot stand in" in result["error"]
    assert "no stand-in for task models of kind 'sd-x2-upscaler'" in result["error"]


def test_a_warm_stand_in_is_reported_again_and_its_new_tokens_are_few(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    step = task_step("expand", "text_generation", {"prompt": "a fox"}, "text/plain")
    workflow = write_workflow(tmp_path / "flow" / "expand.json", [step])
    reports = []
    for run in ("first", "second"):
        result = ok(
            stand_in_worker.execute(workflow, tmp_path / run, standIns="all", timeout=TIMEOUT)
        )
        reports.append(result["standIn"])
    assert result["cache"]["reused"] == ["expand@expand.json#model"]
    for report in reports:
        # the model taken from the warm cache is a stand-in all the same, and says so
        assert [(m["where"], m["source"]) for m in report["models"]] == [
            ("task.text_generation", "Qwen/Qwen2.5-1.5B-Instruct")
        ]
        # text_generation's default of 500 new tokens is lowered, as for a pipeline
        assert report["arguments"] == [
            {"step": "expand", "name": "max_new_tokens", "given": 500, "used": 16}
        ]


#: The detectors with checkpoint stand-ins, and the repository each one reads.
DETECTOR_REPOS = {
    "teed": "fal-ai/teed",
    "anyline": "TheMistoAI/MistoLine",
    "pidi": "lllyasviel/Annotators",
    "hed": "lllyasviel/Annotators",
    "lineart": "lllyasviel/Annotators",
    "mlsd": "lllyasviel/Annotators",
}


def test_controlnet_aux_detectors_run_on_stand_in_checkpoints(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", (64, 48))
    sizes = {"detect_resolution": 64}
    steps = [
        task_step(command, command, {"image": image, **sizes}, "image/png")
        for command in DETECTOR_REPOS
    ]
    steps.append(task_step("openpose", "openpose", {"image": image}, "image/png"))
    workflow = write_workflow(tmp_path / "flow" / "detectors.json", steps)
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=TIMEOUT)
    # OpenPose has no stand-in: the run stops there, naming it, after the others ran
    assert result["status"] == "error"
    assert "no stand-in for task models of kind 'detector-OpenposeDetector'" in result["error"]
    assert len(result["outputs"]) == len(DETECTOR_REPOS)
    assert all(Image.open(p).size[0] > 0 for p in result["outputs"])
    assert [(m["where"], m["source"]) for m in result["standIn"]["models"]] == [
        (f"task.{command}", repo) for command, repo in DETECTOR_REPOS.items()
    ]


def test_segment_runs_grounding_dino_then_sam_2_on_stand_ins(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", (40, 30))
    # threshold 0: every query of the random detector is a box, so SAM 2 runs
    found = {"image": image, "prompt": "a dog.", "threshold": 0.0}
    steps = [
        task_step("found", "segment", found, "image/png"),
        task_step("inverted", "segment", {**found, "invert": True}, "image/png"),
    ]
    workflow = write_workflow(tmp_path / "flow" / "segment.json", steps)
    result = ok(
        stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=TIMEOUT)
    )
    detector = ("GroundingDinoForObjectDetection", "IDEA-Research/grounding-dino-base")
    sam = ("Sam2Model", "facebook/sam2-hiera-large")
    assert stood_in(result) == [("task.segment", *model) for model in (detector, sam) * 2]
    # SAM 2 sits in the worker's model cache: loaded now, or kept from an earlier run of the
    # session's shared stand-in worker (the corpus's segment workflows load the same one)
    reused, loaded, _released = cache_of(result)
    assert any(name.endswith("#sam") for name in loaded + reused), (loaded, reused)
    mask, inverted = (Image.open(p) for p in result["outputs"])
    # SAM 2's masks come back at the image's size, binarised, and invert flips them
    assert mask.size == inverted.size == (40, 30)
    assert mask.mode == inverted.mode == "L"
    assert {value for _count, value in mask.getcolors()} <= {0, 255}
    assert (np.asarray(inverted) == 255 - np.asarray(mask)).all()
