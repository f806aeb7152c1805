"""Video with sound (FORMAT.md 1.8, 1.9.2, section 2): the audio+video pair, how pipeline
outputs become pairs, and how a pair is written as one MP4.

* :class:`AudioVideo` is one artifact: a video's frames, its waveform and the waveform's rate;
  :class:`AudioTrack` a waveform with its rate.
* :func:`paired_artifacts` finds the pairs in a result: a pipeline output carrying ``frames``
  and ``audio`` (LTX-2; the rate is the one the step attached as ``audio_sample_rate``), or
  the dict a modular pipeline returns for ``output: ["videos", "audio", "sampling_rate"]``
  (MiniMax H3, LTX-2 modular; its other keys stay together as one dict artifact). The
  ``batch`` axis pairs video ``i`` with waveform ``i``.
* :func:`write_mp4` writes frames and a waveform as one MP4: the frames through diffusers'
  video export, the waveform as 16-bit PCM, joined by the ffmpeg that imageio-ffmpeg ships
  (AAC audio; the video stream is copied, not encoded again).
* :func:`sample_rate_of` reads the rate of the audio a pipeline generates.

Imports numpy; torch, soundfile, diffusers and imageio-ffmpeg lazily. Never the transport.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dw_lsp.worker import chain_audio

#: Keys of a modular pipeline's dict output (FORMAT.md 1.9.2).
VIDEOS_KEY = "videos"
AUDIO_KEY = "audio"
RATE_KEYS = ("sampling_rate", "audio_sample_rate")
#: How long ffmpeg may take to join one file.
MUX_TIMEOUT_S = 600


class MuxError(RuntimeError):
    """A pair could not be written (no ffmpeg, a bad waveform, ffmpeg failed)."""


@dataclass
class AudioVideo:
    """One video with its sound: ``frames`` (images or arrays), ``audio`` (a waveform:
    ``(samples,)``, ``(channels, samples)`` or ``(samples, channels)``) and its rate."""

    frames: Any
    audio: Any
    sample_rate: int | None

    def __repr__(self) -> str:
        count = len(self.frames) if hasattr(self.frames, "__len__") else "?"
        return f"<AudioVideo {count} frames, {self.sample_rate or '?'} Hz>"


@dataclass
class AudioTrack:
    """A waveform that knows its rate (what the audio task commands return)."""

    audio: Any
    sample_rate: int

    def __repr__(self) -> str:
        return f"<AudioTrack {self.sample_rate} Hz>"


def sample_rate_of(pipe: Any) -> int | None:
    """The rate of the audio a pipeline generates, where it says."""
    rate = getattr(pipe, "audio_sampling_rate", None)
    if rate:
        return int(rate)
    vocoder = getattr(pipe, "vocoder", None)
    config = getattr(vocoder, "config", None)
    for name in ("output_sampling_rate", "sampling_rate"):
        rate = getattr(config, name, None)
        if rate:
            return int(rate)
    return None


def has_sound(artifact: Any) -> bool:
    """A video artifact that carries a waveform (a pair, a chained video with audio)."""
    return getattr(artifact, "frames", None) is not None and _present(
        getattr(artifact, "audio", None)
    )


def _present(value: Any) -> bool:
    return value is not None and not (hasattr(value, "__len__") and len(value) == 0)


def paired_artifacts(result: Any) -> list[Any] | None:
    """The artifacts of a result whose videos carry sound, or None when it has none."""
    if isinstance(result, AudioVideo):
        return [result]
    if isinstance(result, Mapping):
        return _modular(result)
    frames, audio = getattr(result, "frames", None), getattr(result, "audio", None)
    if frames is None or not _present(audio) or callable(frames):
        return None
    rate = getattr(result, "audio_sample_rate", None)
    return pair(frames, audio, int(rate) if rate else None)


def _modular(result: Mapping[str, Any]) -> list[Any] | None:
    videos, audio = result.get(VIDEOS_KEY), result.get(AUDIO_KEY)
    if videos is None or not _present(audio):
        return None
    rate = next((result[k] for k in RATE_KEYS if result.get(k) is not None), None)
    used = {VIDEOS_KEY, AUDIO_KEY, *RATE_KEYS}
    pairs: list[Any] = pair(videos, audio, int(rate) if rate is not None else None)
    rest = {k: v for k, v in result.items() if k not in used and v is not None}
    return pairs + [rest] if rest else pairs


def pair(videos: Any, audio: Any, rate: int | None) -> list[Any]:
    """Video ``i`` of a batch with waveform ``i`` (a video past the waveforms keeps none)."""
    batch = _as_batch(videos)
    waves = _as_numpy(audio)
    if waves.ndim <= 2 and len(batch) == 1:
        waves = waves[None]  # one waveform for one video
    return [
        AudioVideo(frames, waves[i] if i < len(waves) else None, rate)
        for i, frames in enumerate(batch)
    ]


def _as_batch(videos: Any) -> list[Any]:
    """A batch of videos as a list of videos (each a list or an (F, H, W, C) array)."""
    if hasattr(videos, "detach"):
        videos = videos.detach().float().cpu().numpy()
    if isinstance(videos, np.ndarray):
        return list(videos) if videos.ndim == 5 else [videos]
    items = list(videos)
    if items and not isinstance(items[0], list | tuple) and not _is_video_array(items[0]):
        return [items]  # one video given as a list of frames
    return items


def _is_video_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim == 4


def _as_numpy(audio: Any) -> np.ndarray:
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    return np.asarray(audio, dtype=np.float32)


def ffmpeg() -> str:
    """The ffmpeg executable imageio-ffmpeg ships (or finds)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise MuxError(
            "writing a video with sound needs imageio-ffmpeg, which is not installed in "
            "the worker's environment"
        ) from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def write_mp4(path: Path, frames: Sequence[Any], fps: int, audio: Any, rate: int) -> None:
    """``frames`` and ``audio`` (at ``rate`` Hz) as one MP4 at ``path``."""
    import soundfile
    from diffusers.utils.export_utils import export_to_video

    if rate <= 0:
        raise MuxError(f"the audio's sample rate must be positive, got {rate}")
    try:
        channels_first = chain_audio.as_channels_samples(audio)
    except ValueError as exc:
        raise MuxError(str(exc)) from exc
    wave = np.clip(np.nan_to_num(channels_first.T), -1.0, 1.0)  # soundfile: (samples, channels)
    with tempfile.TemporaryDirectory(prefix="dw-mux-", dir=path.parent) as tmp:
        video, sound = Path(tmp, "video.mp4"), Path(tmp, "audio.wav")
        export_to_video(list(frames), str(video), fps=fps)
        soundfile.write(str(sound), wave, rate, subtype="PCM_16")
        command = [
            ffmpeg(), "-nostdin", "-y", "-loglevel", "error",
            "-i", str(video), "-i", str(sound),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
            "-movflags", "+faststart", "-f", "mp4", str(path),
        ]  # fmt: skip
        try:
            done = subprocess.run(  # noqa: S603 - our own arguments, no shell
                command, capture_output=True, timeout=MUX_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MuxError(f"ffmpeg could not join the video and its audio: {exc}") from exc
        if done.returncode != 0:
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise MuxError(f"ffmpeg could not join the video and its audio: {' '.join(why)}")
