"""Chained segment runs (FORMAT.md 1.4.8): one pipeline run per segment, continuity carried
from each segment into the next, the duplicated boundary frames trimmed, and the segments
stitched into one video.

Owns the ``chain`` object's rules: exactly one of ``segments`` (1-1000) / ``match_audio``;
``continuity`` ``last_frame`` (the last frame becomes the next segment's ``segment_argument``,
appended as an image reference when that argument is a list) or ``last_segment`` (the tail
of the previous segment, ``carry_frames`` long, with its audio unless ``carry_audio`` is
false, appended as a video reference to a references list); ``trim_frames`` cut from the
head of every later segment; the generated audio joined with a ``crossfade_ms`` equal-power
crossfade; ``fps`` (default: the ``frame_rate`` argument); ``frame_snap`` checked on
``num_frames`` and used to size the last ``match_audio`` segment; per-segment ``prompts``
(``prompts[min(i, n-1)]``, already resolved by the caller); ``save_segments`` /
``keep_segments`` through the caller's segment writer. With ``match_audio`` the length comes
from the single audio reference in ``references``: each segment gets its slice of the track
and the stitched video carries the original, unsliced track.

Each segment is run by the caller's ``run_segment`` (which reports progress and honours
cancel). Reference objects are modelled on the ones the workflow passes (their ``kind``),
so no pipeline's reference classes are imported here. Imports numpy, PIL and the task
helpers; never torch at module level, never the transport.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker import chain_audio as audio_ops
from dw_lsp.worker.chain_plan import (
    CONTINUITIES,
    MAX_SEGMENTS,
    ChainError,
    FrameSnap,
    Segment,
    integer,
    number,
    plan_segments,
)
from dw_lsp.worker.chain_video import ChainedVideo, SegmentVideo, segment_video
from dw_lsp.worker.support import CHAIN_KEYS

__all__ = [
    "ChainError",
    "ChainedVideo",
    "FrameSnap",
    "Segment",
    "SegmentVideo",
    "plan_segments",
    "segment_video",
]


@dataclass
class ChainSettings:
    """A checked ``chain`` object and its segment plan for one iteration's arguments."""

    continuity: str
    segment_argument: str
    carry_frames: int | None
    carry_audio: bool
    trim_frames: int
    crossfade_ms: float
    fps: float | None
    frame_snap: FrameSnap | None
    prompts: list[Any] | None
    save_segments: bool
    keep_segments: bool
    plan: list[Segment] = field(default_factory=list)
    source_audio: np.ndarray | None = None
    source_rate: int | None = None
    audio_reference: Any = None
    total_frames: int | None = None


def settings(definition: Mapping[str, Any], arguments: Mapping[str, Any]) -> ChainSettings:
    """Check ``definition`` (a substituted ``chain`` object) against one iteration's
    arguments and plan its segments."""
    if not isinstance(definition, Mapping):
        raise ChainError("chain must be an object")
    unknown = sorted(set(definition) - CHAIN_KEYS)
    if unknown:
        raise ChainError(f"chain has unknown keys: {', '.join(unknown)} (FORMAT.md 1.4.8)")
    if ("segments" in definition) == ("match_audio" in definition):
        raise ChainError("a chain needs exactly one of segments / match_audio")
    continuity = definition.get("continuity", "last_frame")
    if continuity not in CONTINUITIES:
        raise ChainError(f"chain.continuity must be one of {', '.join(CONTINUITIES)}")
    carry = definition.get("carry_frames")
    prompts = definition.get("prompts")
    if prompts is not None and (not isinstance(prompts, list) or not prompts):
        raise ChainError("chain.prompts must be a non-empty list")
    fps = definition.get("fps", arguments.get("frame_rate"))
    config = ChainSettings(
        continuity=str(continuity),
        segment_argument=str(definition.get("segment_argument", "image")),
        carry_frames=None if carry is None else integer(carry, "carry_frames", 1),
        carry_audio=bool(definition.get("carry_audio", True)),
        trim_frames=integer(definition.get("trim_frames", 1), "trim_frames", 0),
        crossfade_ms=number(definition.get("crossfade_ms", 75), "crossfade_ms"),
        fps=None if fps is None else number(fps, "fps", positive=True),
        frame_snap=FrameSnap.parse(definition.get("frame_snap")),
        prompts=list(prompts) if prompts else None,
        save_segments=bool(definition.get("save_segments", False)),
        keep_segments=bool(definition.get("keep_segments", False)),
    )
    num_frames = arguments.get("num_frames")
    if "match_audio" in definition and definition["match_audio"] is not False:
        _plan_from_audio(config, arguments)
        return config
    if "match_audio" in definition:
        raise ChainError("chain.match_audio is false: give segments instead")
    count = integer(definition["segments"], "segments", 1)
    if count > MAX_SEGMENTS:
        raise ChainError(f"chain.segments must be at most {MAX_SEGMENTS}, got {count}")
    frames = None if num_frames is None else integer(num_frames, "num_frames argument", 1)
    if frames is not None and config.frame_snap is not None:
        config.frame_snap.check(frames)
    config.plan = [Segment(i, frames, 0, config.trim_frames if i else 0) for i in range(count)]
    return config


def _plan_from_audio(config: ChainSettings, arguments: Mapping[str, Any]) -> None:
    if config.fps is None:
        raise ChainError(
            "a match_audio chain needs the frame rate: set chain.fps or a frame_rate argument"
        )
    if arguments.get("num_frames") is None:
        raise ChainError("a match_audio chain needs a num_frames argument (one segment's length)")
    references = arguments.get("references")
    if not isinstance(references, list):
        raise ChainError("a match_audio chain needs a references argument holding the audio")
    found = [r for r in references if getattr(r, "kind", None) == "audio"]
    if len(found) != 1:
        raise ChainError(
            f"a match_audio chain needs exactly one audio reference, found {len(found)}"
        )
    reference = found[0]
    rate = getattr(reference, "sample_rate", None)
    if not rate:
        raise ChainError("the chain's audio reference has no sample_rate")
    config.audio_reference = reference
    config.source_audio = audio_ops.as_channels_samples(reference.audio)
    config.source_rate = int(rate)
    seconds = config.source_audio.shape[1] / config.source_rate
    config.total_frames = max(1, round(seconds * config.fps))
    segment_frames = integer(arguments["num_frames"], "num_frames argument", 1)
    config.plan = plan_segments(
        config.total_frames, segment_frames, config.trim_frames, config.frame_snap
    )


# -- continuity -------------------------------------------------------------------------------


def _carry(config: ChainSettings, video: SegmentVideo) -> Any:
    if config.continuity == "last_frame":
        return video.frames[-1]
    frames, sound = video.frames, video.audio
    if config.carry_frames is not None and config.carry_frames < len(frames):
        if sound is not None:
            if config.fps is None or not video.sample_rate:
                raise ChainError(
                    "trimming a last_segment carry with audio needs the frame rate: set "
                    "chain.fps or a frame_rate argument"
                )
            keep = audio_ops.frames_to_samples(config.carry_frames, config.fps, video.sample_rate)
            sound = sound[:, -keep:]
        frames = frames[-config.carry_frames :]
    if not config.carry_audio:
        sound = None
    return SegmentVideo(list(frames), sound, video.sample_rate if sound is not None else None)


def _inject(config: ChainSettings, arguments: dict[str, Any], carry: Any) -> None:
    name = config.segment_argument
    target = arguments.get(name)
    if config.continuity == "last_frame":
        if isinstance(target, list):
            model = next((r for r in target if getattr(r, "kind", None) == "image"), None)
            if model is None:
                raise ChainError(
                    f"cannot carry a frame into {name!r}: the list has no image reference "
                    "to model the new one on"
                )
            arguments[name] = [*target, type(model)(image=carry)]
        else:
            arguments[name] = carry
        return
    if not isinstance(target, list):
        raise ChainError(
            f"continuity last_segment carries a video reference, so {name!r} must be a "
            f"references list, not {type(target).__name__}"
        )
    reference = _video_reference_type(target)
    extra: dict[str, Any] = {}
    if carry.audio is not None:
        import torch

        extra = {"audio": torch.from_numpy(carry.audio), "sample_rate": carry.sample_rate}
    arguments[name] = [*target, reference(frames=carry.frames, **extra)]


def _video_reference_type(references: Sequence[Any]) -> Any:
    """The video reference class of the family the workflow's references belong to."""
    if not references:
        raise ChainError(
            "cannot carry a segment into an empty references list: a last_segment chain "
            "models the carry on the workflow's own references"
        )
    for reference in references:
        if getattr(reference, "kind", None) == "video":
            return type(reference)
    module = sys.modules.get(type(references[0]).__module__)
    for candidate in vars(module).values() if module else ():
        if isinstance(candidate, type) and getattr(candidate, "kind", None) == "video":
            return candidate
    raise ChainError(
        f"cannot carry a segment: no video reference class beside {type(references[0]).__name__}"
    )


def _sliced_references(config: ChainSettings, segment: Segment, references: list[Any]) -> list[Any]:
    """A copy of ``references`` whose audio reference holds only this segment's slice."""
    import torch

    if config.source_audio is None or not config.source_rate or not config.fps:
        raise ChainError("a match_audio chain lost its audio track")
    start = audio_ops.frames_to_samples(segment.audio_start_frame, config.fps, config.source_rate)
    length = audio_ops.frames_to_samples(segment.num_frames or 0, config.fps, config.source_rate)
    piece = audio_ops.slice_samples(config.source_audio, start, length)
    sliced = type(config.audio_reference)(
        audio=torch.from_numpy(piece), sample_rate=config.source_rate
    )
    return [sliced if r is config.audio_reference else r for r in references]


# -- the run ----------------------------------------------------------------------------------

#: Runs one segment: (its arguments, its index, the segment count) -> the pipeline's output.
RunSegment = Callable[[dict[str, Any], int, int], Any]
#: Writes one finished segment (index, kept frames, its audio, sample rate) -> the file.
WriteSegment = Callable[[int, list[Image.Image], np.ndarray | None, int | None], Path]


def run_chain(
    config: ChainSettings,
    arguments: Mapping[str, Any],
    run_segment: RunSegment,
    sample_rate: int | None = None,
    write_segment: WriteSegment | None = None,
) -> ChainedVideo:
    """Run every planned segment and stitch them into one :class:`ChainedVideo`."""
    frames: list[Image.Image] = []
    track: np.ndarray | None = None
    track_rate: int | None = None
    files: list[Path] = []
    carry: Any = None
    count = len(config.plan)
    for segment in config.plan:
        current = dict(arguments)
        if config.prompts:
            current["prompt"] = config.prompts[min(segment.index, len(config.prompts) - 1)]
        if config.source_audio is not None:
            current["num_frames"] = segment.num_frames
            current["references"] = _sliced_references(config, segment, arguments["references"])
        if segment.index > 0:
            _inject(config, current, carry)
        video = segment_video(run_segment(current, segment.index, count), sample_rate)
        carry = _carry(config, video)
        kept = video.frames[segment.head_trim :]
        if not kept:
            raise ChainError(
                f"segment {segment.index + 1} generated {len(video.frames)} frames, all cut by "
                f"chain.trim_frames {segment.head_trim}"
            )
        frames.extend(kept)
        if config.source_audio is None and video.audio is not None:
            track, track_rate = _join(config, segment, track, track_rate, video)
        if write_segment is not None:
            files.append(write_segment(segment.index, kept, None, None))
    if config.source_audio is not None:
        return ChainedVideo(
            frames[: config.total_frames], config.source_audio, config.source_rate, files
        )
    return ChainedVideo(frames, track, track_rate, files)


def _join(
    config: ChainSettings,
    segment: Segment,
    track: np.ndarray | None,
    rate: int | None,
    video: SegmentVideo,
) -> tuple[np.ndarray, int | None]:
    if video.audio is None:
        raise ChainError("a segment without audio cannot be joined to the chain's audio")
    if track is None:
        return video.audio, video.sample_rate
    if video.sample_rate != rate:
        raise ChainError(
            f"chain segments generated audio at different sample rates: {rate} then "
            f"{video.sample_rate}"
        )
    if not rate:
        raise ChainError("a segment's generated audio has no sample rate to join it by")
    cut = 0
    if segment.head_trim:
        if config.fps is None:
            raise ChainError(
                "joining generated audio needs the frame rate: set chain.fps or a frame_rate "
                "argument"
            )
        cut = audio_ops.frames_to_samples(segment.head_trim, config.fps, rate)
    head, body = video.audio[:, :cut], video.audio[:, cut:]
    return audio_ops.crossfade_join(track, head, body, rate, config.crossfade_ms), rate
