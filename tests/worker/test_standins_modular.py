"""Stand-ins for modular pipelines: a workflow that loads MiniMax Music 3 as a
``ModularPipeline`` (as dw's MiniMaxMusic example does) smoke-runs through the real worker:
the repository is stood in by a tiny one saved with the blocks' own ``save_pretrained``,
``ModularPipeline.from_pretrained`` and ``load_components`` read it, the pipeline samples
audio codes with its tiny language model and decodes a waveform, written as audio. A
modular repository without an entry is named in the error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import soundfile
from dwtest_worker import WorkerProcess, write_workflow

pytestmark = pytest.mark.slow


def music_step(model: str) -> dict[str, Any]:
    return {
        "name": "music",
        "pipeline": {
            "configuration": {
                "component_type": "ModularPipeline",
                "load_components": {"dtype": "torch.bfloat16"},
                "components_manager": {"enable_auto_cpu_offload": True},
            },
            "from_pretrained_arguments": {"model_name": model},
            "arguments": {
                "prompt": "Genre: folk. BPM: 96.",
                "lyrics": "[verse]\nla la la",
                "audio_duration": 120.0,
                "output": "audios",
            },
        },
        "result": {"content_type": "audio/wav", "sample_rate": 44100},
    }


def test_a_modular_music_pipeline_smoke_runs_on_stand_ins(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path / "music.json", [music_step("MiniMaxAI/MiniMax-Music3")])
    result = stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    [output] = result["outputs"]
    data, rate = soundfile.read(output)
    assert rate == 44100 and data.ndim == 2 and data.shape[1] == 2 and len(data) > 1000
    stood = {(m["where"], m["source"]) for m in result["standIn"]["models"]}
    assert ("pipeline", "MiniMaxAI/MiniMax-Music3") in stood
    shrunk = {(a["name"], a["given"], a["used"]) for a in result["standIn"]["arguments"]}
    assert ("audio_duration", 120.0, 1.0) in shrunk
    assert ("load_components.dtype", "torch.bfloat16", "torch.float32") in shrunk


def test_a_modular_repository_without_a_stand_in_is_named(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path / "other.json", [music_step("SomeLab/Modular-Video")])
    result = stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=120)
    assert result["status"] == "error"
    assert "no stand-in for the modular pipeline of 'SomeLab/Modular-Video'" in result["error"]
    assert "MiniMaxAI/MiniMax-H3, MiniMaxAI/MiniMax-Music3" in result["error"]
