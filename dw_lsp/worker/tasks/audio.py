"""Audio and video-with-sound task commands (FORMAT.md section 2): ``pair_audio``,
``slice_audio``, ``crossfade_audio`` and ``concat_videos``.

A track comes from an audio+video pair (or any video carrying ``audio`` and
``sample_rate``, such as a chained video), an audio track an earlier step returned, a
``{"audio", "sample_rate"}`` dict or ``(waveform, rate)`` tuple, a raw waveform with the
``sample_rate`` argument, or an audio file inside the workflow's folder (read with
soundfile; the sound of a video file is decoded with PyAV). Waveforms are handled as float32
``(channels, samples)``; joins use the chain's equal-power crossfade. Imports numpy and PIL;
soundfile and PyAV lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dw_lsp.worker import chain_audio
from dw_lsp.worker.outputs.av import AudioTrack, AudioVideo
from dw_lsp.worker.tasks.common import REQUIRED, TaskContext, take, whole
from dw_lsp.worker.tasks.video import frames_of
from dw_lsp.worker.values.media import (
    AUDIO_EXTENSIONS,
    VIDEO_EXTENSIONS,
    check_extension,
    check_path,
    looks_like_url,
)

Track = tuple[np.ndarray, int]


def _rate(command: str, value: Any, name: str = "sample_rate") -> int:
    return whole(command, name, value, minimum=1)


def track_of(command: str, value: Any, sample_rate: Any, context: TaskContext) -> Track:
    """``value`` as a ``(channels, samples)`` waveform and its rate."""
    audio = getattr(value, "audio", None)
    if audio is not None and not isinstance(value, Mapping):
        rate = getattr(value, "sample_rate", None) or sample_rate
        if rate is None:
            raise ValueError(f"task '{command}': the audio's sample rate is unknown")
        return chain_audio.as_channels_samples(audio), _rate(command, rate)
    if isinstance(value, Mapping) and "audio" in value:
        rate = value.get("sample_rate") or value.get("sampling_rate") or sample_rate
        if rate is None:
            raise ValueError(f"task '{command}': the audio's sample rate is unknown")
        return chain_audio.as_channels_samples(value["audio"]), _rate(command, rate)
    if isinstance(value, tuple) and len(value) == 2 and not isinstance(value[1], np.ndarray):
        return chain_audio.as_channels_samples(value[0]), _rate(command, value[1])
    if isinstance(value, str):
        return _read_file(command, value, context)
    if getattr(value, "frames", None) is not None:
        raise ValueError(f"task '{command}': this video has no sound")
    if sample_rate is None:
        raise ValueError(
            f"task '{command}': a raw waveform needs the 'sample_rate' argument to say its rate"
        )
    return chain_audio.as_channels_samples(value), _rate(command, sample_rate)


def _read_file(command: str, location: str, context: TaskContext) -> Track:
    if looks_like_url(location):
        raise ValueError(
            f"task '{command}': audio from a URL ({location!r}) is not fetched; download the "
            "file next to the workflow and give its path"
        )
    path = check_path(location, context.base_dir)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return _video_sound(command, path)
    check_extension(path, AUDIO_EXTENSIONS, "audio")
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(samples.T), int(rate)


def _video_sound(command: str, path: Path) -> Track:
    """The sound track of a video file, decoded with PyAV."""
    try:
        import av
    except ImportError as exc:
        raise ValueError(
            f"task '{command}': reading the sound of a video file ({path.name}) needs the "
            "package 'av' (PyAV), which is not installed in the worker's environment"
        ) from exc
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"task '{command}': the video file {path.name} has no sound")
        stream = container.streams.audio[0]
        pieces = [frame.to_ndarray() for frame in container.decode(stream)]
        rate = int(stream.rate or stream.codec_context.sample_rate)
    if not pieces:
        raise ValueError(f"task '{command}': the video file {path.name} has no sound")
    # planar frames are (channels, samples); packed ones (1, samples * channels)
    channels = len(stream.layout.channels) if stream.layout is not None else 1
    joined = np.concatenate([_planar(p, channels) for p in pieces], axis=1)
    return _as_float(joined), rate


def _planar(piece: np.ndarray, channels: int) -> np.ndarray:
    if piece.shape[0] == 1 and channels > 1:
        return piece.reshape(-1, channels).T
    return piece


def _as_float(samples: np.ndarray) -> np.ndarray:
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max)
        return (samples.astype(np.float32) / scale).astype(np.float32)
    return samples.astype(np.float32)


def pair_audio(arguments: Any, context: TaskContext) -> AudioVideo:
    """A video with a track: the video's frames, the track's waveform and rate."""
    command = context.command
    values = take(command, arguments, {"video": REQUIRED, "audio": REQUIRED, "sample_rate": None})
    wave, rate = track_of(command, values["audio"], values["sample_rate"], context)
    return AudioVideo(frames_of(command, values["video"]), wave, rate)


def slice_audio(arguments: Any, context: TaskContext) -> AudioTrack:
    """A piece of a track, by seconds or by frames at an fps (past the end: silence)."""
    command = context.command
    spec = {
        "audio": REQUIRED,
        "start_seconds": None,
        "duration_seconds": None,
        "start_frame": None,
        "num_frames": None,
        "fps": None,
        "sample_rate": None,
    }
    values = take(command, arguments, spec)
    wave, rate = track_of(command, values["audio"], values["sample_rate"], context)
    if values["start_seconds"] is not None or values["duration_seconds"] is not None:
        start_s = _seconds(command, "start_seconds", values["start_seconds"], 0.0) or 0.0
        length_s = _seconds(command, "duration_seconds", values["duration_seconds"], None)
        start = round(start_s * rate)
        length = wave.shape[1] - start if length_s is None else round(length_s * rate)
    elif values["start_frame"] is not None or values["num_frames"] is not None:
        if values["fps"] is None:
            raise ValueError(f"task '{command}': start_frame and num_frames need 'fps'")
        fps = _seconds(command, "fps", values["fps"], None) or 0.0
        if fps <= 0:
            raise ValueError(f"task '{command}': 'fps' must be positive")
        first = whole(command, "start_frame", values["start_frame"] or 0, minimum=0)
        start = chain_audio.frames_to_samples(first, fps, rate)
        if values["num_frames"] is None:
            length = wave.shape[1] - start
        else:
            count = whole(command, "num_frames", values["num_frames"], minimum=0)
            length = chain_audio.frames_to_samples(count, fps, rate)
    else:
        raise ValueError(
            f"task '{command}' needs start_seconds/duration_seconds or "
            "start_frame/num_frames with fps"
        )
    return AudioTrack(chain_audio.slice_samples(wave, start, max(length, 0)), rate)


def _seconds(command: str, name: str, value: Any, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"task '{command}': '{name}' must be a number >= 0, got {value!r}")
    return float(value)


def crossfade_audio(arguments: Any, context: TaskContext) -> AudioTrack:
    """Tracks joined in order, each join crossfaded over ``crossfade_ms``."""
    command = context.command
    spec = {"audios": REQUIRED, "crossfade_ms": 75, "sample_rate": None}
    values = take(command, arguments, spec)
    items = values["audios"]
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(f"task '{command}': 'audios' must be a non-empty list of tracks")
    fade = _seconds(command, "crossfade_ms", values["crossfade_ms"], 75.0) or 0.0
    tracks = [track_of(command, item, values["sample_rate"], context) for item in items]
    rate = _one_rate(command, tracks)
    joined = tracks[0][0]
    for wave, _ in tracks[1:]:
        window = min(round(fade / 1000 * rate), wave.shape[1])
        joined = chain_audio.crossfade_join(joined, wave[:, :window], wave[:, window:], rate, fade)
    return AudioTrack(joined, rate)


def _one_rate(command: str, tracks: list[Track]) -> int:
    rates = sorted({rate for _, rate in tracks})
    if len(rates) > 1:
        raise ValueError(f"task '{command}': the tracks have different sample rates {rates}")
    channels = sorted({wave.shape[0] for wave, _ in tracks})
    if len(channels) > 1:
        raise ValueError(f"task '{command}': the tracks have different channel counts")
    return rates[0]


def concat_videos(arguments: Any, context: TaskContext) -> Any:
    """Videos joined in order; ``trim_frames`` cut from the head of each later one. Their
    sound, when every video has some, is joined too: the audio under the trimmed frames
    crossfades into the track so far (``crossfade_ms``, needs ``fps``)."""
    command = context.command
    spec = {"videos": REQUIRED, "trim_frames": 0, "crossfade_ms": 75, "fps": None}
    values = take(command, arguments, spec)
    videos = values["videos"]
    if not isinstance(videos, list | tuple) or not videos:
        raise ValueError(f"task '{command}': 'videos' must be a non-empty list of videos")
    trim = whole(command, "trim_frames", values["trim_frames"], minimum=0)
    fade = _seconds(command, "crossfade_ms", values["crossfade_ms"], 75.0) or 0.0
    frames: list[Any] = []
    for index, video in enumerate(videos):
        own = frames_of(command, video)
        frames.extend(own[trim:] if index else own)
    voiced = [getattr(v, "audio", None) is not None for v in videos]
    if not any(voiced):
        return [frames]  # one video
    if not all(voiced):
        silent = [i for i, has in enumerate(voiced) if not has]
        raise ValueError(f"task '{command}': videos {silent} have no sound, the others do")
    tracks = [track_of(command, v, None, context) for v in videos]
    rate = _one_rate(command, tracks)
    cut = 0
    if trim:
        if values["fps"] is None:
            raise ValueError(f"task '{command}': joining sound with trim_frames needs 'fps'")
        cut = chain_audio.frames_to_samples(trim, float(values["fps"]), rate)
    joined = tracks[0][0]
    for wave, _ in tracks[1:]:
        joined = chain_audio.crossfade_join(joined, wave[:, :cut], wave[:, cut:], rate, fade)
    return AudioVideo(frames, joined, rate)


COMMANDS = {
    "pair_audio": pair_audio,
    "slice_audio": slice_audio,
    "crossfade_audio": crossfade_audio,
    "concat_videos": concat_videos,
}
