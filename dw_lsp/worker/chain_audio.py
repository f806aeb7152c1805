"""Audio arithmetic of a chained run (FORMAT.md 1.4.8): frames to samples, slicing a track
per segment, and joining segments' generated audio with an equal-power crossfade.

Audio here is always a float32 ``(channels, samples)`` numpy array. Imports numpy only (a
torch tensor is read through its ``numpy()`` method, never imported).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_channels_samples(audio: Any) -> np.ndarray:
    """Any waveform (tensor or array; ``(samples,)``, ``(channels, samples)``,
    ``(samples, channels)`` or a batch of one) as float32 ``(channels, samples)``."""
    if hasattr(audio, "detach"):
        audio = audio.detach().float().cpu().numpy()
    samples = np.asarray(audio, dtype=np.float32)
    while samples.ndim > 2 and samples.shape[0] == 1:
        samples = samples[0]
    if samples.ndim == 1:
        return samples[np.newaxis, :]
    if samples.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {samples.shape}")
    if samples.shape[0] > samples.shape[1]:
        samples = samples.T  # (samples, channels): more samples than channels
    return np.ascontiguousarray(samples)


def frames_to_samples(frames: int, fps: float, sample_rate: int) -> int:
    """How many samples span ``frames`` video frames at ``fps``."""
    return round(frames / fps * sample_rate)


def slice_samples(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` samples from ``start``; past the end of the track is silence."""
    piece = audio[:, max(start, 0) : max(start, 0) + length]
    if piece.shape[1] < length:
        pad = np.zeros((audio.shape[0], length - piece.shape[1]), dtype=audio.dtype)
        piece = np.concatenate([piece, pad], axis=1)
    return piece


def crossfade_join(
    track: np.ndarray, head: np.ndarray, body: np.ndarray, sample_rate: int, crossfade_ms: float
) -> np.ndarray:
    """Append ``body`` to ``track``. ``head`` is the new segment's audio under the frames cut
    from its head (the same moment as ``track``'s end): the end of ``track`` fades out while
    the end of ``head`` fades in, over at most ``crossfade_ms`` (and at most the head)."""
    if track.shape[0] != body.shape[0]:
        raise ValueError(
            f"chain segments generated audio with {track.shape[0]} and then "
            f"{body.shape[0]} channels"
        )
    window = min(round(crossfade_ms / 1000 * sample_rate), head.shape[1], track.shape[1])
    if window <= 0:
        return np.concatenate([track, body], axis=1)
    ramp = np.linspace(0.0, np.pi / 2, window, dtype=np.float32)
    fade_out, fade_in = np.cos(ramp), np.sin(ramp)
    seam = track[:, -window:] * fade_out + head[:, -window:] * fade_in
    return np.concatenate([track[:, :-window], seam, body], axis=1)
