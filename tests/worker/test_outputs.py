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


def test_a_marigold_prediction_is_saved_as_png_key_by_key(tmp_path: Path) -> None:
    """Marigold returns its prediction as an array on an output with no ``images``: the
    output is saved as a dict of its fields (dw saves a ``BaseOutput`` so, FORMAT.md 1.8),
    empty fields skipped, and the array written as the image it is."""
    import torch
    from diffusers.pipelines.marigold import MarigoldDepthOutput, MarigoldNormalsOutput

    from dw_lsp.worker.steps import as_output

    depth = np.linspace(0.0, 1.0, 16 * 24, dtype=np.float32).reshape(1, 16, 24, 1)
    outcome = as_output(MarigoldDepthOutput(prediction=depth, uncertainty=None, latent=None))
    [path] = write(tmp_path / "depth", {"content_type": "image/png"}, [outcome])
    assert Path(path).name == "flow-clip.2-0.0-prediction.png"
    with Image.open(path) as image:
        assert (image.mode, image.size) == ("L", (24, 16))
        assert image.getextrema() == (0, 255)
    normals = np.zeros((2, 8, 8, 3), dtype=np.float32)
    normals[..., 2] = -1.0  # facing away: 0 after [-1, 1] -> [0, 255]
    normals[1, ..., 0] = 1.0
    outcome = as_output(MarigoldNormalsOutput(prediction=normals, uncertainty=None, latent=None))
    written = write(tmp_path / "normals", {"content_type": "image/png"}, [outcome])
    assert [Path(p).name for p in written] == [
        "flow-clip.2-0.0-prediction-0.png",
        "flow-clip.2-0.0-prediction-1.png",
    ]
    with Image.open(written[1]) as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 128, 0)
    tensor = torch.full((1, 1, 8, 8), 0.5)  # output_type "pt": channels first
    [path] = write(
        tmp_path / "pt",
        {"content_type": "image/png"},
        [as_output(MarigoldDepthOutput(prediction=tensor, uncertainty=None, latent=None))],
    )
    with Image.open(path) as image:
        assert image.mode == "L" and image.getpixel((0, 0)) == 128


def test_an_array_that_is_no_image_is_still_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not fit a result of type ndarray"):
        write(tmp_path, {"content_type": "image/png"}, [[np.zeros((2, 3, 4, 5))]])


def test_a_batched_waveform_is_written_one_file_per_item(tmp_path: Path) -> None:
    """MiniMax Music 3 returns ``batch x channels x samples``: one file per item, ``-{k}``
    appended when there are several (FORMAT.md 1.8)."""
    wave = np.sin(np.linspace(0, 200, 4410, dtype=np.float32)) * 0.5
    one = np.stack([np.stack([wave, wave])])
    [path] = write(tmp_path / "one", {"content_type": "audio/wav", "sample_rate": 44100}, [one])
    assert Path(path).name == "flow-clip.2-0.0.wav"
    data, rate = soundfile.read(path)
    assert rate == 44100 and data.shape == (4410, 2)
    two = np.concatenate([one, one * 0.5])
    written = write(tmp_path / "two", {"content_type": "audio/wav"}, [two])
    assert [Path(p).name for p in written] == ["flow-clip.2-0.0-0.wav", "flow-clip.2-0.0-1.wav"]
