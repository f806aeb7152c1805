"""One chained segment's video, read from its pipeline's output (FORMAT.md 1.4.8), and the
stitched video of a chain: the frames as PIL images and the audio as ``(channels, samples)``,
whatever the pipeline returned (an output object with ``frames`` and ``audio``, or the dict a
modular pipeline returns for an ``output`` list: ``videos``, ``audio``, ``sampling_rate``).
Imports numpy, PIL and the chain's audio helpers; never torch at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker import chain_audio as audio_ops
from dw_lsp.worker.chain_plan import ChainError
from dw_lsp.worker.tasks.common import to_uint8


@dataclass
class SegmentVideo:
    frames: list[Image.Image]
    audio: np.ndarray | None = None
    sample_rate: int | None = None


@dataclass
class ChainedVideo:
    """The stitched video of one chained iteration: ``frames`` (PIL images), the joined
    generated (or the original ``match_audio``) audio as ``(channels, samples)``, and the
    segment files written for ``save_segments``."""

    frames: list[Image.Image]
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    segment_files: list[Path] = field(default_factory=list)
    keep_files: bool = False

    def __repr__(self) -> str:
        return f"<ChainedVideo {len(self.frames)} frames>"


def _as_frames(video: Any) -> list[Image.Image]:
    if hasattr(video, "detach"):
        video = video.detach().float().cpu().numpy()
    if isinstance(video, np.ndarray):
        if video.ndim != 4:
            raise ChainError(f"a segment's video must be (frames, H, W, C), got {video.shape}")
        if video.shape[1] in (1, 3, 4) and video.shape[-1] not in (1, 3, 4):
            video = video.transpose(0, 2, 3, 1)  # (frames, C, H, W)
        return [_as_image(frame) for frame in video]
    return [_as_image(frame) for frame in video]


def _as_image(frame: Any) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    array = to_uint8(np.asarray(frame))
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array).convert("RGB")


def _field(output: Any, *names: str) -> Any:
    """The first of ``names`` an output has: an attribute of a pipeline's output object, or a
    key of the dict a modular pipeline returns for an ``output`` list."""
    for name in names:
        value = output.get(name) if isinstance(output, Mapping) else getattr(output, name, None)
        if value is not None:
            return value
    return None


def segment_video(output: Any, sample_rate: int | None) -> SegmentVideo:
    """The one video (and its audio) a segment's pipeline output holds."""
    frames = _field(output, "frames", "videos")
    if frames is None:
        raise ChainError(
            f"a chained pipeline must return a video (an output with frames, or a modular "
            f"pipeline's videos), got {type(output).__name__}"
        )
    if hasattr(frames, "detach"):
        frames = frames.detach().float().cpu().numpy()
    if isinstance(frames, np.ndarray):
        batch = list(frames) if frames.ndim == 5 else [frames]
    elif isinstance(frames, list | tuple) and frames and _is_video(frames[0]):
        batch = list(frames)
    else:
        batch = [frames]
    if len(batch) != 1:
        raise ChainError(
            f"a chained pipeline must generate exactly one video per segment, got "
            f"{len(batch)}: batched generation cannot be chained"
        )
    sound = _field(output, "audio", "audios")
    if sound is None:
        return SegmentVideo(_as_frames(batch[0]))
    if isinstance(sound, list | tuple):
        sound = sound[0]
    rate = _field(output, "sample_rate", "sampling_rate") or sample_rate
    return SegmentVideo(_as_frames(batch[0]), audio_ops.as_channels_samples(sound), rate)


def _is_video(item: Any) -> bool:
    if isinstance(item, list | tuple):
        return True
    return getattr(item, "ndim", 0) == 4
