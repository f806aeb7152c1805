"""Result writers (FORMAT.md 1.8): dw's file names, and video, GIF and audio files that the
libraries read back as what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
from PIL import Image

from dw_lsp.worker.outputs.save import OutputError, ResultWriter, writer_problem
from dw_lsp.worker.values import artifacts


def frames(count: int = 6) -> list[Image.Image]:
    return [Image.new("RGB", (32, 32), (40 * i, 200 - 30 * i, 90)) for i in range(count)]


def write(tmp_path: Path, result: dict[str, Any], iterations: list[Any]) -> list[str]:
    writer = ResultWriter(tmp_path, "flow", "clip", 2, result, artifacts)
    return writer.save(iterations)


def test_a_video_is_written_and_reads_back_with_its_frame_count(tmp_path: Path) -> None:
    assert writer_problem("video/mp4") is None
    # A video pipeline's output holds a list of videos; each video is a list of frames.
    output = type("Out", (), {"frames": [frames(6)]})()
    written = write(tmp_path, {"content_type": "video/mp4", "fps": 6}, [output])
    assert [Path(p).name for p in written] == ["flow-clip.2-0.0.mp4"]
    video = iio.imread(written[0])
    assert video.shape[0] == 6 and video.shape[1:3] == (32, 32)


def test_an_image_saved_as_video_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="needs a video"):
        write(tmp_path, {"content_type": "video/mp4"}, [frames(1)[0]])


def test_a_frame_list_saved_as_gif_is_animated(tmp_path: Path) -> None:
    output = type("Out", (), {"frames": [frames(4)]})()
    written = write(tmp_path, {"content_type": "image/gif", "fps": 4}, [output])
    with Image.open(written[0]) as gif:
        assert gif.n_frames == 4


def test_a_waveform_is_written_as_wav_at_the_sample_rate(tmp_path: Path) -> None:
    rate = 8000
    tone = np.sin(np.linspace(0, 2 * np.pi * 440, rate, dtype=np.float32)) * 0.5
    written = write(tmp_path, {"content_type": "audio/wav", "sample_rate": rate}, [tone])
    samples, read_rate = soundfile.read(written[0], dtype="float32")
    assert read_rate == rate and samples.shape == (rate,)
    assert np.allclose(samples, tone, atol=1e-3)


def test_a_missing_writer_library_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from dw_lsp.worker.outputs import save as outputs

    monkeypatch.setattr(outputs, "_has", lambda module: False)
    assert "imageio" in (writer_problem("video/mp4") or "")
    assert "soundfile" in (writer_problem("audio/wav") or "")
    assert writer_problem("image/png") is None
