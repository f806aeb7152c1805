"""One stand-in run per pipeline family, through the real worker (DESIGN.md "Stand-in
models"): a workflow that names a hub model nobody has is run with ``standIns: all``; the
worker builds the family's stand-in pipeline, loads it with ``from_pretrained``, calls it
with the workflow's arguments (the slow ones shrunk) and writes the declared output under
``stand-in/``. Media the workflow names at unreachable URLs are placeholders."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, write_workflow
from PIL import Image

pytestmark = pytest.mark.slow

PROMPT = "a red fox in the snow"
IMAGE_URL = "https://example.invalid/input.png"

#: (family, pipeline class, call arguments, content type or None for no saved result,
#: expected image side after shrinking or None).
CASES: list[tuple[str, str, dict[str, Any], str | None, int | None]] = [
    (
        "sd15",
        "StableDiffusionPipeline",
        {"prompt": PROMPT, "height": 512, "width": 512},
        "image/png",
        32,
    ),
    (
        "sdxl",
        "StableDiffusionXLPipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024},
        "image/png",
        32,
    ),
    (
        "sd3",
        "StableDiffusion3Pipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024},
        "image/png",
        16,
    ),
    (
        "flux",
        "FluxPipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024, "max_sequence_length": 512},
        "image/jpeg",
        16,
    ),
    (
        "flux2",
        "Flux2KleinPipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024},
        "image/png",
        16,
    ),
    (
        "flux2-dev",
        "Flux2Pipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024, "guidance_scale": 4.0},
        "image/png",
        16,
    ),
    (
        "z-image",
        "ZImagePipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024},
        "image/png",
        32,
    ),
    (
        "qwen-image",
        "QwenImagePipeline",
        {"prompt": PROMPT, "height": 1328, "width": 1328},
        "image/png",
        32,
    ),
    (
        "qwen-image-edit",
        "QwenImageEditPipeline",
        {"prompt": PROMPT, "image": IMAGE_URL, "height": 1024, "width": 1024},
        "image/png",
        32,
    ),
    ("krea2", "Krea2Pipeline", {"prompt": PROMPT, "height": 1024, "width": 1024}, "image/png", 32),
    (
        "kandinsky3",
        "Kandinsky3Pipeline",
        {"prompt": PROMPT, "height": 1024, "width": 1024},
        "image/png",
        16,
    ),
    (
        "wan",
        "WanPipeline",
        {"prompt": PROMPT, "height": 480, "width": 480, "num_frames": 81},
        "video/mp4",
        None,
    ),
    (
        "wan-i2v",
        "WanImageToVideoPipeline",
        {"prompt": PROMPT, "image": IMAGE_URL, "height": 480, "width": 480, "num_frames": 81},
        "video/mp4",
        None,
    ),
    (
        "ltx",
        "LTXPipeline",
        {"prompt": PROMPT, "height": 512, "width": 704, "num_frames": 161},
        "video/mp4",
        None,
    ),
    (
        "ltx2",
        "LTX2Pipeline",
        {"prompt": PROMPT, "height": 512, "width": 512, "num_frames": 121},
        "video/mp4",
        None,
    ),
    (
        "cogvideox",
        "CogVideoXPipeline",
        {"prompt": PROMPT, "height": 480, "width": 480, "num_frames": 49},
        "video/mp4",
        None,
    ),
    (
        "hunyuan-video",
        "HunyuanVideoPipeline",
        {"prompt": PROMPT, "height": 320, "width": 320, "num_frames": 61},
        "video/mp4",
        None,
    ),
    ("mochi", "MochiPipeline", {"prompt": PROMPT, "num_frames": 85}, "video/mp4", None),
    (
        "stable-video-diffusion",
        "StableVideoDiffusionPipeline",
        {"image": IMAGE_URL},
        "video/mp4",
        None,
    ),
    (
        "stable-audio",
        "StableAudioPipeline",
        {"prompt": "a drum loop", "audio_end_in_s": 10.0},
        "audio/wav",
        None,
    ),
    ("marigold", "MarigoldDepthPipeline", {"image": IMAGE_URL}, None, None),
]


def smoke_workflow(
    folder: Path, pipeline: str, arguments: dict[str, Any], content: str | None
) -> Path:
    step: dict[str, Any] = {
        "name": "generate",
        "pipeline": {
            "configuration": {"component_type": pipeline},
            "from_pretrained_arguments": {
                "model_name": f"nobody-has/{pipeline}",
                "torch_dtype": "torch.float32",
            },
            "arguments": {**arguments, "num_inference_steps": 30},
        },
    }
    if content is not None:
        step["result"] = {"content_type": content}
    return write_workflow(folder / f"{pipeline}.json", [step], seed=7)


def check_output(path: Path, content: str, side: int | None) -> None:
    assert path.is_file(), path
    assert path.parent.name == "stand-in", path
    assert path.stat().st_size > 100, path
    if content.startswith("image/"):
        with Image.open(path) as image:
            assert image.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[content]
            assert side is not None and min(image.size) == side, image.size
    elif content == "video/mp4":
        assert path.suffix == ".mp4"
        assert path.read_bytes()[4:8] == b"ftyp", "not an MP4 container"
    elif content == "audio/wav":
        with wave.open(str(path)) as audio:
            assert audio.getnframes() > 0


@pytest.mark.parametrize(
    ("family", "pipeline", "arguments", "content", "side"), CASES, ids=[c[0] for c in CASES]
)
def test_each_family_runs_end_to_end_on_stand_ins(
    stand_in_worker: WorkerProcess,
    tmp_path: Path,
    family: str,
    pipeline: str,
    arguments: dict[str, Any],
    content: str | None,
    side: int | None,
) -> None:
    workflow = smoke_workflow(tmp_path, pipeline, arguments, content)
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=180)
    assert result["status"] == "ok", result.get("traceback") or result
    report = result["standIn"]
    assert report["mode"] == "all"
    assert report["models"] == [
        {
            "step": "generate",
            "where": "pipeline",
            "component": pipeline,
            "source": f"nobody-has/{pipeline}",
        }
    ]
    shrunk = {a["name"]: (a["given"], a["used"]) for a in report["arguments"]}
    assert shrunk["num_inference_steps"][0] == 30 and shrunk["num_inference_steps"][1] <= 2
    if "image" in arguments:
        assert report["media"] == [{"kind": "image", "location": IMAGE_URL}]
    if content is None:
        assert result["outputs"] == []
        return
    [output] = result["outputs"]
    check_output(Path(output), content, side)


def test_flux2_dev_stands_in_for_its_remote_encoder_and_loads_in_a_fresh_worker(
    stand_in_worker: WorkerProcess,
    start_worker: Callable[[], WorkerProcess],
    tmp_path: Path,
) -> None:
    """Flux 2 dev as the corpus runs it: its prompt encoded by a remote service (whose
    embeddings are as wide as the real model reads, and which a smoke run cannot reach) and
    a hub attention kernel that needs CUDA. The stand-in encodes with its own Mistral 3 (its
    Pixtral processor saved from this project's module), the backend becomes native; a
    second worker loads the saved stand-in without building it."""
    step = {
        "name": "generate",
        "pipeline": {
            "remote_text_encoder": {"url": "https://example.invalid/encode"},
            "configuration": {"component_type": "Flux2Pipeline", "attention_backend": "flash_hub"},
            "from_pretrained_arguments": {
                "model_name": "nobody-has/Flux2Pipeline",
                "torch_dtype": "torch.bfloat16",
            },
            "arguments": {"prompt": PROMPT, "image": [IMAGE_URL], "num_inference_steps": 30},
        },
        "result": {"content_type": "image/png"},
    }
    workflow = write_workflow(tmp_path / "remote.json", [step], seed=7)
    for number, worker in enumerate((stand_in_worker, start_worker())):
        out = tmp_path / f"out{number}"
        result = worker.execute(workflow, out, standIns="all", timeout=180)
        assert result["status"] == "ok", result.get("traceback") or result
        report = result["standIn"]
        assert {(m["where"], m["component"], m["source"]) for m in report["models"]} == {
            ("pipeline", "Flux2Pipeline", "nobody-has/Flux2Pipeline"),
            (
                "pipeline.remote_text_encoder",
                "Mistral3ForConditionalGeneration",
                "https://example.invalid/encode",
            ),
        }
        shrunk = {a["name"]: (a["given"], a["used"]) for a in report["arguments"]}
        assert shrunk["attention_backend"] == ("flash_hub", "native")
        [output] = result["outputs"]
        check_output(Path(output), "image/png", 16)


def test_flux_redux_prior_feeds_a_flux_loaded_without_text_encoders(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    """Flux Redux as the corpus runs it: the prior (no text encoders, so its embeddings have
    T5-XXL's and CLIP-L's real widths) feeds a FluxPipeline loaded without its own; the
    stand-in Flux for that load reads those widths."""
    prior = {
        "name": "prior",
        "pipeline": {
            "configuration": {"component_type": "FluxPriorReduxPipeline", "no_generator": True},
            "from_pretrained_arguments": {"model_name": "nobody-has/FluxPriorReduxPipeline"},
            "arguments": {"image": IMAGE_URL},
        },
    }
    main = {
        "name": "main",
        "pipeline": {
            "configuration": {"component_type": "FluxPipeline"},
            "from_pretrained_arguments": {
                "model_name": "nobody-has/FluxPipeline",
                "text_encoder": None,
                "text_encoder_2": None,
            },
            "arguments": {
                "prompt_embeds": "previous_result:prior.prompt_embeds",
                "pooled_prompt_embeds": "previous_result:prior.pooled_prompt_embeds",
                "num_images_per_prompt": 2,
                "num_inference_steps": 30,
            },
        },
        "result": {"content_type": "image/jpeg"},
    }
    workflow = write_workflow(tmp_path / "redux.json", [prior, main], seed=7)
    result = stand_in_worker.execute(workflow, tmp_path / "out", standIns="all", timeout=180)
    assert result["status"] == "ok", result.get("traceback") or result
    models = {(m["step"], m["component"]) for m in result["standIn"]["models"]}
    assert models == {("prior", "FluxPriorReduxPipeline"), ("main", "FluxPipeline")}
    assert len(result["outputs"]) == 2
    for output in result["outputs"]:
        check_output(Path(output), "image/jpeg", 16)
