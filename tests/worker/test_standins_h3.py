"""MiniMax H3 on stand-ins: the modular repository ``MiniMaxAI/MiniMax-H3`` is stood in by a
tiny one (its Qwen3-VL conditioner 51 layers deep for the pipeline's fixed
``hidden_states[50]``), whose processor has no torchvision-built video part; the frames of a
video reference are patched by the image processor instead, in Qwen-VL's layout. A t2va
workflow with dw's turbo LoRA and a first-block cache smoke-runs through the real worker and
writes one MP4 with the 124 generated frames and the generated sound; a prompt-only edit
reloads nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from dwtest_worker import WorkerProcess, ok, write_workflow
from transformers import Qwen2TokenizerFast, Qwen2VLImageProcessorPil, Qwen3VLProcessor

from dw_lsp.worker.loading import hooks
from dw_lsp.worker.standins import build, modular
from dw_lsp.worker.standins.processors import FramePatchVideoProcessor, Qwen3VLImageTextProcessor
from dw_lsp.worker.standins.vocab import build_tokenizer

H3 = "MiniMaxAI/MiniMax-H3"


def image_processor() -> Any:
    return Qwen2VLImageProcessorPil(patch_size=16, merge_size=2, max_pixels=64 * 64)


def test_video_frames_are_patched_in_temporal_pairs_in_qwen_vls_layout() -> None:
    frames = (np.random.default_rng(0).random((5, 48, 80, 3)) * 255).astype("uint8")
    images = image_processor()
    features = FramePatchVideoProcessor(images)(videos=[frames, frames[:2]], return_tensors="np")
    # 5 frames are 3 pairs (the last frame repeated), 2 frames one pair; 4 x 4 patches each.
    assert features["video_grid_thw"].tolist() == [[3, 4, 4], [1, 4, 4]]
    patches = features["pixel_values_videos"].reshape(-1, 3, 2, 16 * 16)
    assert patches.shape[0] == (3 + 1) * 16

    def alone(frame: np.ndarray) -> np.ndarray:
        one = images(images=[frame], return_tensors="np")["pixel_values"]
        return one.reshape(-1, 3, 2, 16 * 16)[:, :, 0]

    assert np.allclose(patches[:16, :, 0], alone(frames[0]))
    assert np.allclose(patches[:16, :, 1], alone(frames[1]))
    assert np.allclose(patches[32:48, :, 1], alone(frames[4]))  # the repeated last frame


def test_the_processor_saves_and_loads_without_a_video_part(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(Qwen2TokenizerFast, {})
    processor = Qwen3VLImageTextProcessor(image_processor=image_processor(), tokenizer=tokenizer)
    processor.save_pretrained(str(tmp_path))
    loaded = Qwen3VLImageTextProcessor.from_pretrained(str(tmp_path))
    assert isinstance(loaded, Qwen3VLProcessor)
    assert isinstance(loaded.video_processor, FramePatchVideoProcessor)
    assert loaded.video_processor.temporal_patch_size == 2
    ids = [tokenizer.convert_tokens_to_ids(t) for t in ("a", "<|image_pad|>", "<|video_pad|>")]
    assert loaded.create_mm_token_type_ids([ids]) == [[0, 1, 2]]


def test_the_first_block_cache_takes_h3s_block() -> None:
    class Pipe:
        transformer = build.build_part(modular.H3_TRANSFORMER)

    hooks.enable_cache(Pipe(), {"type": "first_block", "threshold": 0.1})
    assert Pipe.transformer.is_cache_enabled


def h3_step(prompt: str) -> dict[str, Any]:
    return {
        "name": "video",
        "pipeline": {
            "configuration": {
                "component_type": "ModularPipeline",
                "load_components": {"dtype": "torch.bfloat16"},
                "cache": {"type": "first_block", "threshold": 0.05},
            },
            "from_pretrained_arguments": {"model_name": H3, "workflow": "t2va"},
            "loras": [
                {
                    "model_name": "lightx2v/Minimax-h3-Turbo",
                    "weight_name": "turbo.safetensors",
                    "adapter_name": "turbo",
                }
            ],
            "arguments": {
                "prompt": prompt,
                "num_frames": 124,
                "width": 960,
                "height": 544,
                "num_inference_steps": 9,
                "output": ["videos", "audio", "sampling_rate"],
            },
        },
        "result": {"content_type": "video/mp4"},
    }


def streams(path: str) -> dict[str, int]:
    with av.open(path) as container:
        video = sum(1 for _ in container.decode(video=0))
    with av.open(path) as container:
        return {"video": video, "audio": len(container.streams.audio)}


@pytest.mark.slow
def test_an_h3_workflow_runs_on_stand_ins_and_a_prompt_edit_reloads_nothing(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path / "h3.json", [h3_step("a fox trots through snow")])
    first = ok(stand_in_worker.execute(path, tmp_path / "one", standIns="all", timeout=300))
    [output] = first["outputs"]
    assert Path(output).suffix == ".mp4" and streams(output) == {"video": 124, "audio": 1}
    stood = {(m["where"], m["source"]) for m in first["standIn"]["models"]}
    assert {("pipeline", H3), ("pipeline.loras[0]", "lightx2v/Minimax-h3-Turbo")} <= stood
    shrunk = {(a["name"], a["given"], a["used"]) for a in first["standIn"]["arguments"]}
    assert {("height", 544, 32), ("width", 960, 64), ("num_inference_steps", 9, 2)} <= shrunk

    document = json.loads(path.read_text())
    document["steps"][0]["pipeline"]["arguments"]["prompt"] = "a hare sits in the rain"
    path.write_text(json.dumps(document))
    second = ok(stand_in_worker.execute(path, tmp_path / "two", standIns="all", timeout=300))
    assert second["cache"]["loaded"] == [] and second["cache"]["reused"] == ["video@h3.json"]
