"""The plan of a chained run (FORMAT.md 1.4.8): the ``frame_snap`` rule and the segments'
lengths. Pure: numbers in, numbers out; imports nothing of the worker's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_SEGMENTS = 1000
CONTINUITIES = ("last_frame", "last_segment")
FRAME_SNAP_KEYS = frozenset({"modulus", "remainder", "min_frames", "max_frames"})


class ChainError(ValueError):
    """A chain cannot run as described (the message names the key)."""


def integer(value: Any, key: str, least: int) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or number != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise ChainError(f"chain.{key} must be a whole number, not {value!r}") from None
    if number < least:
        raise ChainError(f"chain.{key} must be at least {least}, got {number}")
    return number


def number(value: Any, key: str, positive: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ChainError(f"chain.{key} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ChainError(f"chain.{key} must be {'above' if positive else 'at least'} 0")
    return number


@dataclass(frozen=True)
class FrameSnap:
    """The frame counts a pipeline accepts: ``modulus * n + remainder`` within bounds."""

    modulus: int
    remainder: int
    min_frames: int | None = None
    max_frames: int | None = None

    @classmethod
    def parse(cls, value: Any) -> FrameSnap | None:
        if value is None:
            return None
        if not isinstance(value, Mapping) or not {"modulus", "remainder"} <= value.keys():
            raise ChainError("chain.frame_snap must be an object with modulus and remainder")
        unknown = sorted(set(value) - FRAME_SNAP_KEYS)
        if unknown:
            raise ChainError(f"chain.frame_snap has unknown keys: {', '.join(unknown)}")
        bounds = {
            k: integer(value[k], f"frame_snap.{k}", 1) if value.get(k) is not None else None
            for k in ("min_frames", "max_frames")
        }
        return cls(
            integer(value["modulus"], "frame_snap.modulus", 1),
            integer(value["remainder"], "frame_snap.remainder", 0),
            **bounds,
        )

    def check(self, num_frames: int) -> None:
        problems = []
        if (num_frames - self.remainder) % self.modulus:
            problems.append(f"counts must be {self.modulus}*n+{self.remainder}")
        if self.min_frames is not None and num_frames < self.min_frames:
            problems.append(f"at least {self.min_frames}")
        if self.max_frames is not None and num_frames > self.max_frames:
            problems.append(f"at most {self.max_frames}")
        if problems:
            raise ChainError(
                f"num_frames {num_frames} does not satisfy chain.frame_snap: {'; '.join(problems)}"
            )

    def snap(self, count: int) -> int:
        """The smallest accepted count that covers ``count``."""
        target = max(count, self.min_frames or 1)
        snapped = max(0, math.ceil((target - self.remainder) / self.modulus)) * self.modulus
        snapped += self.remainder
        while snapped < target:
            snapped += self.modulus
        if self.max_frames is not None and snapped > self.max_frames:
            raise ChainError(
                f"cannot snap {count} frames: the next accepted count {snapped} exceeds "
                f"chain.frame_snap.max_frames {self.max_frames}"
            )
        return snapped


@dataclass(frozen=True)
class Segment:
    """One planned pipeline run: its frame count (None: the step's own), where its slice of
    the audio track starts (in frames), and the frames cut from its head."""

    index: int
    num_frames: int | None
    audio_start_frame: int
    head_trim: int


def plan_segments(
    total_frames: int, segment_frames: int, trim_frames: int, snap: FrameSnap | None
) -> list[Segment]:
    """Segments that cover ``total_frames``: full segments, then a last one that generates
    only what remains (snapped up to an accepted count; the overshoot is cut at the end)."""
    if segment_frames <= trim_frames:
        raise ChainError(
            f"segments of {segment_frames} frames cannot advance past a head trim of "
            f"{trim_frames} frames (chain.trim_frames)"
        )
    if snap is not None:
        snap.check(segment_frames)
    plan: list[Segment] = []
    covered = 0
    while covered < total_frames:
        if len(plan) >= MAX_SEGMENTS:
            raise ChainError(f"the chain would need more than {MAX_SEGMENTS} segments")
        trim = trim_frames if plan else 0
        needed = total_frames - covered + trim
        frames = segment_frames
        if needed < segment_frames:
            frames = snap.snap(needed) if snap is not None else needed
        plan.append(Segment(len(plan), frames, covered - trim, trim))
        covered += frames - trim
    return plan
