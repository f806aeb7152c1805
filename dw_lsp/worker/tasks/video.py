"""Video task commands (FORMAT.md section 2): the frame processors ``get_frame``,
``get_first_frame``, ``get_last_frame``, plus ``video_frames`` and ``gather_videos``.

A video is a list of frames (PIL images or arrays), an (F, H, W[, C]) array, or an object
with ``frames`` (a pipeline output of one video). Decoding files needs PyAV or imageio
(see :mod:`dw_lsp.worker.values.media`). Joining videos with their sound and the audio
commands live in :mod:`.audio`. Imports PIL and numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks.common import (
    REQUIRED,
    Handler,
    TaskContext,
    take,
    to_uint8,
    whole,
)
from dw_lsp.worker.tasks.data import gather
from dw_lsp.worker.values.media import VIDEO_EXTENSIONS, load_video_location


def frames_of(command: str, video: Any) -> list[Any]:
    """The frames of one video, in order."""
    frames = getattr(video, "frames", video)
    if isinstance(frames, np.ndarray):
        if frames.ndim == 5 and frames.shape[0] == 1:
            frames = frames[0]
        if frames.ndim not in (3, 4):
            raise ValueError(
                f"task '{command}': a video array must be (frames, height, width[, channels]), "
                f"got shape {frames.shape}"
            )
        return list(frames)
    if isinstance(frames, list | tuple):
        inner = frames[0] if len(frames) == 1 else None
        if isinstance(inner, list | tuple) or (isinstance(inner, np.ndarray) and inner.ndim == 4):
            return frames_of(command, inner)  # a batch holding one video
        return list(frames)
    raise ValueError(
        f"task '{command}' needs a video (a list of frames or a frame array) in 'video', "
        f"got {type(video).__name__}"
    )


def as_frame(command: str, frame: Any) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame
    if isinstance(frame, np.ndarray) and frame.ndim in (2, 3):
        return Image.fromarray(to_uint8(frame))
    raise ValueError(
        f"task '{command}': a video frame must be an image, got {type(frame).__name__}"
    )


def pick_frame(command: str, video: Any, index: int) -> Image.Image:
    frames = frames_of(command, video)
    if not frames:
        raise ValueError(f"task '{command}': the video has no frames")
    if not -len(frames) <= index < len(frames):
        raise ValueError(
            f"task '{command}': frame_index {index} is outside the video's {len(frames)} frames"
        )
    return as_frame(command, frames[index])


def get_frame(arguments: Any, context: TaskContext) -> Image.Image:
    values = take(context.command, arguments, {"video": REQUIRED, "frame_index": 0})
    index = whole(context.command, "frame_index", values["frame_index"])
    return pick_frame(context.command, values["video"], index)


def get_first_frame(arguments: Any, context: TaskContext) -> Image.Image:
    values = take(context.command, arguments, {"video": REQUIRED})
    return pick_frame(context.command, values["video"], 0)


def get_last_frame(arguments: Any, context: TaskContext) -> Image.Image:
    values = take(context.command, arguments, {"video": REQUIRED})
    return pick_frame(context.command, values["video"], -1)


def video_frames(arguments: Any, context: TaskContext) -> np.ndarray:
    """The frames as one (frames, height, width, 3) uint8 array."""
    values = take(context.command, arguments, {"video": REQUIRED})
    frames = frames_of(context.command, values["video"])
    if not frames:
        raise ValueError(f"task '{context.command}': the video has no frames")
    pictures = [as_frame(context.command, frame).convert("RGB") for frame in frames]
    if len({picture.size for picture in pictures}) > 1:
        raise ValueError(f"task '{context.command}': the frames differ in size")
    return np.stack([np.asarray(picture, dtype=np.uint8) for picture in pictures])


def gather_videos(arguments: Any, context: TaskContext) -> list[list[Image.Image]]:
    return gather(arguments, context, "video", VIDEO_EXTENSIONS, load_video_location)


COMMANDS: dict[str, Handler] = {
    "get_frame": get_frame,
    "get_first_frame": get_first_frame,
    "get_last_frame": get_last_frame,
    "video_frames": video_frames,
    "gather_videos": gather_videos,
}
