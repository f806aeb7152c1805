"""Video with sound (FORMAT.md 1.8, 1.9.2, section 2). A pipeline output carrying frames and
audio (LTX-2) and a modular pipeline's ``videos``/``audio``/``sampling_rate`` become
audio+video pairs, saved as one MP4 whose audio stream the bundled ffmpeg reads back; the
audio task commands (``pair_audio``, ``slice_audio``, ``crossfade_audio``,
``concat_videos``) run through the real worker on a clip and a tone the test writes."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile
import torch
from diffusers.pipelines.ltx2.pipeline_output import LTX2PipelineOutput
from dwtest_worker import WorkerProcess, write_workflow
from PIL import Image

from dw_lsp.worker.outputs import av
from dw_lsp.worker.steps import as_output, with_audio_rate
from dw_lsp.worker.values.iterations import artifacts

RATE = 16000


def streams(path: Path) -> tuple[str, float]:
    """ffmpeg's account of a media file: its stream lines, and its duration in seconds."""
    done = subprocess.run([av.ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True)
    text = done.stderr.decode("utf-8", "replace")
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    assert found, text
    hours, minutes, seconds = found.groups()
    lines = "\n".join(line for line in text.splitlines() if "Stream #" in line)
    return lines, int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def tone(seconds: float, channels: int = 2, hz: float = 440.0) -> np.ndarray:
    """A sine as (channels, samples)."""
    t = np.arange(round(seconds * RATE), dtype=np.float32) / RATE
    return np.stack([0.3 * np.sin(2 * np.pi * hz * t)] * channels)


# -- pairs from pipeline outputs ---------------------------------------------------------


def test_an_ltx2_output_becomes_one_pair_per_generated_video() -> None:
    frames = np.random.default_rng(0).random((2, 5, 16, 16, 3), dtype=np.float32)
    audio = torch.from_numpy(np.stack([tone(0.5), tone(0.5, hz=220.0)]))
    output = as_output(LTX2PipelineOutput(frames=frames, audio=audio))
    output = with_audio_rate(output, SimpleNamespace(audio_sampling_rate=RATE))
    pairs = artifacts([output])
    assert [type(p).__name__ for p in pairs] == ["AudioVideo", "AudioVideo"]
    assert all(p.sample_rate == RATE and len(p.frames) == 5 for p in pairs)
    assert np.allclose(pairs[1].audio, audio[1].numpy())
    silent = as_output(LTX2PipelineOutput(frames=frames, audio=None))  # type: ignore[arg-type]
    assert len(artifacts([silent])) == 2 and not av.has_sound(artifacts([silent])[0])


def test_a_modular_output_pairs_videos_with_audio_and_keeps_the_rest() -> None:
    videos = [[Image.new("RGB", (16, 16))] * 4]
    result = {"videos": videos, "audio": torch.zeros(1, 2, 800), "latents": "kept"}
    result = with_audio_rate(result, SimpleNamespace(vocoder=None, audio_sampling_rate=8000))
    found = artifacts([result])
    assert isinstance(found[0], av.AudioVideo) and found[0].sample_rate == 8000
    assert found[1] == {"latents": "kept"}
    assert artifacts([{"videos": videos, "audio": None}]) == [
        {"videos": videos, "audio": None}
    ]  # no sound: one dict, as before


def test_a_pair_is_written_as_one_mp4_with_its_sound(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), (i * 20, 0, 0)) for i in range(8)]
    target = tmp_path / "pair.mp4"
    av.write_mp4(target, frames, 8, tone(1.0), RATE)
    lines, duration = streams(target)
    assert "Video:" in lines and "Audio: aac" in lines, lines
    assert 0.9 <= duration <= 1.2, duration
    with pytest.raises(av.MuxError, match="sample rate must be positive"):
        av.write_mp4(tmp_path / "bad.mp4", frames, 8, tone(1.0), 0)


# -- the audio task commands through the worker -------------------------------------------


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A 16-frame clip (2 s at 8 fps), a 2 s stereo tone, and the clip with the tone as its
    sound, beside the workflow."""
    from diffusers.utils.export_utils import export_to_video

    folder = tmp_path / "flow"
    folder.mkdir()
    clip = [Image.new("RGB", (32, 32), (0, i * 12, 0)) for i in range(16)]
    export_to_video(clip, str(folder / "clip.mp4"), fps=8)
    soundfile.write(str(folder / "tone.wav"), tone(2.0).T, RATE)
    av.write_mp4(folder / "voiced.mp4", clip, 8, tone(2.0), RATE)
    return folder


def task(name: str, command: str, arguments: dict[str, Any], content: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"command": command, "arguments": arguments},
        "result": {"content_type": content, "fps": 8},
    }


@pytest.mark.slow
def test_the_audio_commands_run_in_the_worker(
    worker: WorkerProcess, media: Path, tmp_path: Path
) -> None:
    steps = [
        task("paired", "pair_audio", {"video": "clip.mp4", "audio": "tone.wav"}, "video/mp4"),
        task(
            "piece",
            "slice_audio",
            {"audio": "previous_result:paired", "start_seconds": 0.5, "duration_seconds": 0.25},
            "audio/wav",
        ),
        task(
            "joined",
            "crossfade_audio",
            {"audios": ["tone.wav", "tone.wav"], "crossfade_ms": 100},
            "audio/wav",
        ),
        task(
            "longer",
            "concat_videos",
            {
                "videos": ["previous_result:paired", "previous_result:paired"],
                "trim_frames": 4,
                "fps": 8,
            },
            "video/mp4",
        ),
    ]
    workflow = write_workflow(media / "flow.json", steps)
    result = worker.execute(workflow, tmp_path / "out", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    paired, piece, joined, longer = (Path(p) for p in result["outputs"])
    lines, duration = streams(paired)
    assert "Audio: aac" in lines and 1.9 <= duration <= 2.2, (lines, duration)
    with wave.open(str(piece)) as cut:
        assert cut.getframerate() == RATE and cut.getnframes() == RATE // 4
    with wave.open(str(joined)) as both:  # 2 s + 2 s, overlapping by 0.1 s
        assert both.getframerate() == RATE and both.getnframes() == round(3.9 * RATE)
    lines, duration = streams(longer)  # 16 + 12 frames at 8 fps: 3.5 s of both
    assert "Audio: aac" in lines and 3.4 <= duration <= 3.7, (lines, duration)


@pytest.mark.slow
def test_audio_commands_name_what_they_lack(
    worker: WorkerProcess, media: Path, tmp_path: Path
) -> None:
    raw = task("raw", "pair_audio", {"video": "clip.mp4", "audio": [0.0, 0.1, 0.2]}, "video/mp4")
    workflow = write_workflow(media / "raw.json", [raw])
    result = worker.execute(workflow, tmp_path / "out", timeout=300)
    assert result["status"] == "error"
    assert "needs the 'sample_rate' argument" in result["error"]
    as_wav = task("wrong", "pair_audio", {"video": "clip.mp4", "audio": "tone.wav"}, "video/webm")
    workflow = write_workflow(media / "wrong.json", [as_wav])
    result = worker.execute(workflow, tmp_path / "out", timeout=300)
    assert result["status"] == "error" and "saved only as video/mp4" in result["error"]


@pytest.mark.slow
def test_the_sound_of_a_video_file_is_read_with_pyav(
    worker: WorkerProcess, media: Path, tmp_path: Path
) -> None:
    piece = task(
        "piece",
        "slice_audio",
        {"audio": "voiced.mp4", "start_seconds": 0.5, "duration_seconds": 0.5},
        "audio/wav",
    )
    silent = task("silent", "slice_audio", {"audio": "clip.mp4", "start_seconds": 0}, "audio/wav")
    result = worker.execute(write_workflow(media / "sound.json", [piece]), tmp_path / "out")
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    with wave.open(result["outputs"][0]) as cut:
        assert cut.getframerate() == RATE and cut.getnchannels() == 2
        assert cut.getnframes() == RATE // 2
        samples = np.frombuffer(cut.readframes(cut.getnframes()), dtype=np.int16)
    assert np.abs(samples).max() > 5000  # the tone came through AAC, not silence
    result = worker.execute(write_workflow(media / "none.json", [silent]), tmp_path / "out")
    assert result["status"] == "error" and "clip.mp4 has no sound" in result["error"]
