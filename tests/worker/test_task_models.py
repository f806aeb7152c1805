"""The model-backed task commands end to end through the real worker (FORMAT.md section 2):
each runs the real library call (transformers pipelines, spandrel, controlnet_aux) on a tiny
model the test builds with random weights and lays into a Hugging Face cache under the hub
id dw uses; a model missing from the cache fails with a message naming it. Models are kept
warm in the worker's cache like pipelines (a second run reuses them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dwtest_taskmodels import (
    build_depth_model,
    build_florence_processor,
    build_language_model,
    build_vision_language_model,
    hub_folder,
)
from dwtest_worker import WorkerProcess, write_workflow
from PIL import Image

pytestmark = pytest.mark.slow

TIMEOUT = 120.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache holding tiny stand-ins under the ids the commands look for."""
    cache = tmp_path_factory.mktemp("hf-hub")
    build_language_model(hub_folder(cache, "Qwen/Qwen2.5-1.5B-Instruct"))
    build_vision_language_model(hub_folder(cache, "HuggingFaceTB/SmolVLM-256M-Instruct"))
    build_depth_model(hub_folder(cache, "Intel/dpt-large"))
    build_depth_model(hub_folder(cache, "Intel/dpt-hybrid-midas"))
    return cache


@pytest.fixture(scope="module")
def worker(
    hub: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    logs = tmp_path_factory.mktemp("task-worker-log")
    process = WorkerProcess(cache_dir, logs / "stderr.txt", {"HF_HUB_CACHE": str(hub)})
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
    worker: WorkerProcess, tmp_path: Path, steps: list[dict[str, Any]], **top: Any
) -> dict[str, Any]:
    workflow = write_workflow(tmp_path / "flow" / "flow.json", steps, **top)
    return worker.execute(workflow, tmp_path / "out", timeout=TIMEOUT)


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "ok", result.get("error")
    return result


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
                "arguments": {"generated_ids": "previous_result:proc.input_ids", "task": "<CAPTION>"},
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
