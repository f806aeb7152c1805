"""The model-backed task commands end to end through the real worker (FORMAT.md section 2):
each runs the real library call (transformers pipelines, spandrel, controlnet_aux) on a tiny
model the test builds with random weights and lays into a Hugging Face cache under the hub
id dw uses; a model missing from the cache fails with a message naming it. Models are kept
warm in the worker's cache like pipelines (a second run reuses them).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from dwtest_taskmodels import (
    build_depth_model,
    build_detector_checkpoints,
    build_florence_processor,
    build_grounding_dino,
    build_language_model,
    build_remote_code_segmenter,
    build_rife,
    build_upernet,
    build_upscaler,
    build_vision_language_model,
    build_x4_upscaler,
    hub_folder,
    write_clip,
)
from dwtest_worker import WorkerProcess, ok, write_workflow
from PIL import Image

from dw_lsp.worker.standins import task_vision
from dw_lsp.worker.standins.build import seeded

pytestmark = pytest.mark.slow

TIMEOUT = 120.0
#: Detectors whose checkpoints the test builds (random weights, the real architectures).
BUILT_DETECTORS = ["teed", "anyline", "pidi", "hed", "lineart", "mlsd"]
#: Detectors whose checkpoints are left out (large nets, or built from torch.hub / timm
#: backbones): each must name the file it is missing.
MISSING_DETECTORS = {
    "normal_bae": "scannet.pt",
    "openpose": "body_pose_model.pth",
    "midas": "dpt_hybrid-midas-501f0c75.pt",
    "zoe": "ZoeD_M12_N.pt",
    "leres": "res101.pth",
    "sam": "checkpoints/sam_vit_h_4b8939.pth",
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache holding tiny stand-ins under the ids the commands look for."""
    cache = tmp_path_factory.mktemp("hf-hub")
    build_language_model(hub_folder(cache, "Qwen/Qwen2.5-1.5B-Instruct"))
    build_vision_language_model(hub_folder(cache, "HuggingFaceTB/SmolVLM-256M-Instruct"))
    build_depth_model(hub_folder(cache, "Intel/dpt-large"))
    build_depth_model(hub_folder(cache, "Intel/dpt-hybrid-midas"))
    build_upscaler(hub_folder(cache, "someone/tiny-upscaler") / "x2.safetensors")
    build_detector_checkpoints(cache, BUILT_DETECTORS)
    build_remote_code_segmenter(hub_folder(cache, "briaai/RMBG-2.0"))
    build_x4_upscaler(hub_folder(cache, "stabilityai/stable-diffusion-x4-upscaler"))
    build_grounding_dino(hub_folder(cache, "IDEA-Research/grounding-dino-base"))
    build_upernet(hub_folder(cache, "openmmlab/upernet-convnext-small"))
    build_rife(hub_folder(cache, "imaginairy/rife-interpolation"))
    return cache


@pytest.fixture(scope="module")
def worker(
    hub: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    logs = tmp_path_factory.mktemp("task-worker-log")
    modules = tmp_path_factory.mktemp("hf-modules")
    environment = {"HF_HUB_CACHE": str(hub), "HF_MODULES_CACHE": str(modules)}
    process = WorkerProcess(cache_dir, logs / "stderr.txt", environment)
    try:
        reply = process.result("initialize", {"protocolVersion": "1.0"}, timeout=TIMEOUT)
        assert reply["protocolVersion"] == "1.0"
        yield process
    finally:
        process.close()


def photo(folder: Path, name: str = "photo.png", size: tuple[int, int] = (40, 30)) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 40, 10)).save(folder / name)
    return name


def task_step(
    name: str, command: str, arguments: dict[str, Any], content_type: str | None = None
) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "task": {"command": command, "arguments": arguments}}
    if content_type:
        step["result"] = {"content_type": content_type}
    return step


def run(
    worker: WorkerProcess, tmp_path: Path, steps: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    workflow = write_workflow(tmp_path / "flow" / "flow.json", steps)
    return worker.execute(workflow, tmp_path / "out", timeout=TIMEOUT, **extra)


# -- transformers pipelines: text_generation and image_to_text ---------------------------------


def test_text_generation_runs_the_default_model_and_keeps_it_warm(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    steps = [
        task_step(
            "expand",
            "text_generation",
            {"prompt": "a red fox", "system_prompt": "be brief", "max_new_tokens": 6},
            "text/plain",
        )
    ]
    first = ok(run(worker, tmp_path, steps))
    [written] = first["outputs"]
    assert Path(written).read_text(encoding="utf-8").strip()
    assert first["cache"]["loaded"] == ["expand@flow.json#model"]
    second = ok(run(worker, tmp_path, steps))
    assert second["cache"]["loaded"] == []
    assert second["cache"]["reused"] == ["expand@flow.json#model"]
    assert any(label.endswith("#model") for label in second["memory"]["pipelines"])
    # greedy decoding: the same input gives the same text
    assert Path(second["outputs"][0]).read_text() == Path(written).read_text()


def test_text_generation_with_an_image_and_image_to_text_use_the_vision_model(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow")
    steps = [
        task_step(
            "caption",
            "image_to_text",
            {"image": image, "max_new_tokens": 5},
            "text/plain",
        ),
        task_step(
            "describe",
            "text_generation",
            {"prompt": "what is this?", "image": image, "max_new_tokens": 5},
            "text/plain",
        ),
    ]
    result = ok(run(worker, tmp_path, steps))
    assert len(result["outputs"]) == 2
    assert all(Path(p).read_text(encoding="utf-8").strip() for p in result["outputs"])


def test_a_model_missing_from_the_cache_is_named(worker: WorkerProcess, tmp_path: Path) -> None:
    steps = [
        task_step("expand", "text_generation", {"prompt": "x", "model_name": "nobody/missing-lm"})
    ]
    result = run(worker, tmp_path, steps)
    assert result["status"] == "error"
    assert "'nobody/missing-lm'" in result["error"]
    assert "hf download nobody/missing-lm" in result["error"]
    assert "downloads no models" in result["error"]


def test_a_local_model_folder_is_used(worker: WorkerProcess, tmp_path: Path) -> None:
    build_language_model(tmp_path / "flow" / "my-lm")
    steps = [
        task_step(
            "expand",
            "text_generation",
            {"prompt": "x", "model_name": "my-lm", "max_new_tokens": 3},
            "text/plain",
        )
    ]
    ok(run(worker, tmp_path, steps))


# -- depth maps -------------------------------------------------------------------------------


def test_depth_estimator_and_depth_return_depth_images(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", size=(40, 30))
    steps = [
        task_step("estimated", "depth_estimator", {"image": image}, "image/png"),
        task_step("dpt", "depth", {"image": image, "height": 24, "width": 20}, "image/png"),
    ]
    result = ok(run(worker, tmp_path, steps))
    estimated, dpt = (Image.open(p) for p in result["outputs"])
    assert estimated.size == (40, 30) and estimated.mode == "RGB"
    assert dpt.size == (20, 24) and dpt.mode == "RGB"


def test_a_task_model_survives_between_runs_until_memory_is_cleared(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow")
    steps = [task_step("estimated", "depth_estimator", {"image": image}, "image/png")]
    ok(run(worker, tmp_path, steps))
    assert ok(run(worker, tmp_path, steps))["cache"]["reused"] == ["estimated@flow.json#model"]
    worker.result("clearMemory", {})
    assert ok(run(worker, tmp_path, steps))["cache"]["loaded"] == ["estimated@flow.json#model"]


# -- task.pipeline_reference ------------------------------------------------------------------


def test_batch_decode_post_process_reads_the_referenced_processor(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    processor = build_florence_processor(tmp_path / "flow" / "florence")
    photo(tmp_path / "flow")
    steps = [
        task_step("load", "gather_images", {"glob": "photo.png"}),
        {
            "name": "proc",
            "pipeline": {
                "configuration": {"component_type": "transformers.AutoProcessor"},
                "from_pretrained_arguments": {"model_name": str(processor)},
                "arguments": {
                    "text": "<CAPTION>",
                    "images": "previous_result:load",
                    "return_tensors": "pt",
                },
            },
        },
        {
            "name": "decode",
            "task": {
                "command": "batch_decode_post_process",
                "pipeline_reference": "proc",
                "arguments": {
                    "generated_ids": "previous_result:proc.input_ids",
                    "task": "<CAPTION>",
                },
            },
            "result": {"content_type": "text/plain"},
        },
    ]
    result = ok(run(worker, tmp_path, steps))
    [written] = result["outputs"]
    # the processor turned <CAPTION> into its question; decoding its ids gives it back
    assert "What does the image describe?" in Path(written).read_text(encoding="utf-8")


def test_a_pipeline_reference_to_no_loaded_step_is_named(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    steps = [
        {
            "name": "decode",
            "task": {
                "command": "batch_decode_post_process",
                "pipeline_reference": "nowhere",
                "arguments": {"generated_ids": [[1, 2]], "task": "<CAPTION>"},
            },
        }
    ]
    result = run(worker, tmp_path, steps)
    assert result["status"] == "error"
    assert "task.pipeline_reference 'nowhere' names no loaded pipeline" in result["error"]


# -- spandrel ---------------------------------------------------------------------------------


def test_upscale_with_a_local_file_a_cached_repository_and_tiles(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    build_upscaler(tmp_path / "flow" / "mine.safetensors", scale=4)
    small = photo(tmp_path / "flow", size=(20, 12))
    large = photo(tmp_path / "flow", "large.png", size=(600, 450))
    cached = {"model_name": "someone/tiny-upscaler", "filename": "x2.safetensors"}
    steps = [
        task_step(
            "local", "upscale", {"image": small, "model_name": "mine.safetensors"}, "image/png"
        ),
        task_step("cached", "upscale", {"image": small, **cached}, "image/png"),
        task_step(
            "tiled",
            "upscale",
            {"image": large, **cached, "tile_size": 256, "tile_overlap": 16},
            "image/png",
        ),
    ]
    # spandrel runs even where torchvision (which two of its architectures import) is missing
    result = run(worker, tmp_path, steps)
    local, cached_result, tiled = (Image.open(p) for p in ok(result)["outputs"])
    assert local.size == (80, 48)
    assert cached_result.size == (40, 24)
    assert tiled.size == (1200, 900)


def test_diffusion_upscale_runs_the_default_x4_upscaler(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", size=(16, 12))
    arguments = {
        "image": image,
        "prompt": "sharp",
        "negative_prompt": "blur",
        "num_inference_steps": 2,
    }
    steps = [task_step("up", "diffusion_upscale", arguments, "image/png")]
    result = ok(run(worker, tmp_path, steps))
    assert Image.open(result["outputs"][0]).size == (64, 48)
    bad = run(worker, tmp_path, [task_step("up", "diffusion_upscale", {**arguments, "mode": "x3"})])
    assert "mode must be x4 or x2, got 'x3'" in bad["error"]


def test_upscale_names_a_missing_weights_file(worker: WorkerProcess, tmp_path: Path) -> None:
    arguments = {
        "image": photo(tmp_path / "flow"),
        "model_name": "someone/tiny-upscaler",
        "filename": "x4.pth",
    }
    result = run(worker, tmp_path, [task_step("up", "upscale", arguments)])
    assert result["status"] == "error"
    assert "the file 'x4.pth' of the model 'someone/tiny-upscaler'" in result["error"]


def test_upscale_names_a_file_spandrel_does_not_recognise(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    import importlib.util

    from safetensors.torch import save_file

    (tmp_path / "flow").mkdir(parents=True, exist_ok=True)
    save_file({"weight": torch.zeros(2, 2)}, str(tmp_path / "flow" / "odd.safetensors"))
    arguments = {"image": photo(tmp_path / "flow"), "model_name": "odd.safetensors"}
    result = run(worker, tmp_path, [task_step("up", "upscale", arguments)])
    assert result["status"] == "error"
    assert "spandrel recognises no architecture in odd.safetensors" in result["error"]
    if importlib.util.find_spec("torchvision") is None:
        # the two architectures that import torchvision were left out, and are named
        assert "a dependency missing: LaMa, RestoreFormer" in result["error"]


# -- ControlNet-aux detectors -----------------------------------------------------------------


#: Keyword arguments each detector's call takes (the step's extra arguments go there).
SIZES = {"detect_resolution": 64, "image_resolution": 64}
DETECTOR_ARGUMENTS: dict[str, dict[str, Any]] = {
    "canny": {**SIZES, "low_threshold": 50},
    "shuffle": SIZES,
    "lineart_standard": {"detect_resolution": 64},
    "teed": {"detect_resolution": 64},
    "anyline": {"detect_resolution": 64},
    "pidi": SIZES,
    "hed": SIZES,
    "scribble": SIZES,
    "lineart": SIZES,
    "mlsd": SIZES,
}


def detector_steps(tmp_path: Path, names: list[str]) -> list[dict[str, Any]]:
    image = photo(tmp_path / "flow", size=(96, 64))
    return [
        task_step(name, name, {"image": image, **DETECTOR_ARGUMENTS[name]}, "image/png")
        for name in names
    ]


def test_detectors_without_weights(worker: WorkerProcess, tmp_path: Path) -> None:
    names = ["canny", "shuffle", "lineart_standard"]
    result = ok(run(worker, tmp_path, detector_steps(tmp_path, names)))
    canny, shuffle, lineart = (Image.open(p) for p in result["outputs"])
    assert min(canny.size) == 64 and min(shuffle.size) == 64  # image_resolution honoured
    assert lineart.size[0] > 0


def test_detectors_on_built_checkpoints(worker: WorkerProcess, tmp_path: Path) -> None:
    names = [*BUILT_DETECTORS, "scribble"]
    steps = detector_steps(tmp_path, names)
    result = ok(run(worker, tmp_path, steps))
    assert len(result["outputs"]) == len(names)
    assert all(Image.open(p).size[0] > 0 for p in result["outputs"])
    assert sorted(result["cache"]["loaded"]) == sorted(
        f"{n}@flow.json#detector" for n in names[:-1]
    )
    # scribble is HED with scribble=True: the HED detector loaded one step earlier serves it
    assert result["cache"]["reused"] == ["scribble@flow.json#detector"]


@pytest.mark.parametrize("command", sorted(MISSING_DETECTORS))
def test_a_detector_without_its_checkpoint_names_it(
    worker: WorkerProcess, tmp_path: Path, command: str
) -> None:
    result = run(
        worker, tmp_path, [task_step(command, command, {"image": photo(tmp_path / "flow")})]
    )
    assert result["status"] == "error"
    assert f"the file {MISSING_DETECTORS[command]!r}" in result["error"]
    assert "downloads no models" in result["error"]


# -- remove_background (a model whose code comes with its weights) ------------------------------


def test_remove_background_runs_only_where_remote_code_is_allowed(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", size=(48, 32))
    steps = [task_step("cut", "remove_background", {"image": image}, "image/png")]
    refused = run(worker, tmp_path, steps)
    assert refused["status"] == "error"
    assert "cannot run in this worker" in refused["error"]  # before anything loads
    assert "worker.allowRemoteCode is true" in refused["error"]
    assert refused["cache"]["loaded"] == []
    result = ok(run(worker, tmp_path, steps, allowRemoteCode=True))
    cut = Image.open(result["outputs"][0])
    assert cut.size == (48, 32) and cut.mode == "RGBA"


def test_release_models_drops_every_task_model_after_its_step(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.result("clearMemory")  # the module's worker holds earlier tests' models
    image = photo(tmp_path / "flow")
    step = task_step("estimated", "depth_estimator", {"image": image}, "image/png")
    first = ok(run(worker, tmp_path, [{**step, "release_models": True}]))
    assert first["cache"]["released"] == ["estimated@flow.json#model"]
    assert not any("#" in label for label in first["memory"]["pipelines"])
    assert ok(run(worker, tmp_path, [step]))["cache"]["loaded"] == ["estimated@flow.json#model"]


# -- segment (Grounding DINO, then SAM 2) -------------------------------------------------------


def test_segment_detects_with_grounding_dino_and_names_a_missing_sam(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    image = photo(tmp_path / "flow", size=(40, 30))
    nothing = {"image": image, "prompt": "a dog.", "threshold": 1.0}
    steps = [
        task_step("none", "segment", nothing, "image/png"),
        task_step("inverted", "segment", {**nothing, "invert": True}, "image/png"),
    ]
    result = ok(run(worker, tmp_path, steps))
    empty, full = (Image.open(p) for p in result["outputs"])
    # no box above the threshold: an all-black mask (white inverted), SAM 2 never loaded
    assert empty.size == (40, 30) and empty.mode == "L" and empty.getextrema() == (0, 0)
    assert full.getextrema() == (255, 255)
    assert result["cache"]["loaded"] == ["none@flow.json#detector"]
    # every query above threshold 0: the boxes go to SAM 2, which this cache lacks
    found = run(worker, tmp_path, [task_step("all", "segment", {**nothing, "threshold": 0.0})])
    assert found["status"] == "error"
    assert "'facebook/sam2-hiera-large'" in found["error"]


def test_a_real_sam_2_folder_is_loaded_by_transformers_own_processor(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    # SAM 2's stand-in, saved as its repositories name their processor
    folder = tmp_path / "flow" / "sam2-real"
    with seeded():
        task_vision.build_sam2(folder)
    config = json.loads((folder / "processor_config.json").read_text())
    config["processor_class"] = "Sam2Processor"
    config["image_processor"]["image_processor_type"] = "Sam2ImageProcessor"
    (folder / "processor_config.json").write_text(json.dumps(config))
    image = photo(tmp_path / "flow", size=(40, 30))
    found = {"image": image, "prompt": "a dog.", "threshold": 0.0, "sam_model_name": "sam2-real"}
    result = run(worker, tmp_path, [task_step("all", "segment", found, "image/png")])
    if importlib.util.find_spec("torchvision") is None:
        # the stand-in's PIL processor is not taken for it: the missing package is named
        assert result["status"] == "error"
        assert "transformers' Sam2Processor needs torchvision" in result["error"]
    else:
        assert Image.open(ok(result)["outputs"][0]).size == (40, 30)


# -- segmentation (UperNet, painted with the ADE20K palette) ------------------------------------


def test_segmentation_paints_every_pixel_with_an_ade20k_colour(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    from dw_lsp.worker.tasks.detectors import Detector, detector_class

    image = photo(tmp_path / "flow", size=(40, 30))
    steps = [task_step("seg", "segmentation", {"image": image}, "image/png")]
    result = ok(run(worker, tmp_path, steps))
    segmented = Image.open(result["outputs"][0])
    assert segmented.size == (40, 30) and segmented.mode == "RGB"
    palette = {tuple(c) for c in detector_class("test", Detector("ade_palette", "util"))()}
    colours = {colour for _count, colour in segmented.getcolors(40 * 30)}
    assert colours and colours <= palette
    assert result["cache"]["loaded"] == ["seg@flow.json#model"]


# -- interpolate_frames (RIFE 4.13) -------------------------------------------------------------

COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 0)]


def test_interpolate_frames_puts_a_frame_between_every_pair_per_pass(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    write_clip(tmp_path / "flow" / "clip.mp4", COLOURS, (48, 32))
    steps = [
        task_step("twice", "interpolate_frames", {"video": "clip.mp4"}, "image/gif"),
        task_step(
            "four", "interpolate_frames", {"video": "clip.mp4", "multiplier": 4}, "image/gif"
        ),
    ]
    result = ok(run(worker, tmp_path, steps))
    twice, four = (Image.open(p) for p in result["outputs"])
    assert (twice.n_frames, four.n_frames) == (5, 9)
    # the given frames stay as they are (give or take the video codec), every other frame
    for index, colour in zip((0, 4, 8), COLOURS, strict=True):
        four.seek(index)
        assert four.size == (48, 32)
        pixel = four.convert("RGB").getpixel((24, 16))
        assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 48, pixel
    # the two steps share one loaded network
    assert result["cache"]["loaded"] == ["twice@flow.json#model"]
    assert result["cache"]["reused"] == ["four@flow.json#model"]


def test_interpolate_frames_checks_its_arguments_and_names_missing_weights(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    write_clip(tmp_path / "flow" / "clip.mp4", COLOURS, (48, 32))
    write_clip(tmp_path / "flow" / "one.mp4", COLOURS[:1], (48, 32))
    cases = {
        "multiplier must be 2, 4 or 8, got 3": {"video": "clip.mp4", "multiplier": 3},
        "needs at least 2 frames, got 1": {"video": "one.mp4"},
        "the file 'rife.pkl' of the model 'imaginairy/rife-interpolation'": {
            "video": "clip.mp4",
            "filename": "rife.pkl",
        },
    }
    for message, arguments in cases.items():
        step = task_step("interpolate", "interpolate_frames", arguments)
        result = run(worker, tmp_path, [step])
        assert result["status"] == "error" and message in result["error"], result["error"]
