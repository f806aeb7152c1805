"""Placeholder media for stand-in runs: media that cannot be had is generated instead.

"Cannot be had" means a URL while network media is off (or its download failing), or a
local file that does not exist. Everything else is loaded as usual, and the path rules
still apply first: a path that climbs out of the workflow's folder is refused, stand-ins or
not. Placeholders are deterministic: an image is a 64 x 64 colour gradient, a video
:data:`VIDEO_FRAMES` such images, an audio file one second of a quiet sine tone; files (for
``from_file`` objects) are written once under the stand-in cache. Each one is named in the
run's report. Imports PIL and the worker's media helpers; never torch.
"""

from __future__ import annotations

import math
import os
import struct
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from dw_lsp.protocol import PlaceholderMedia
from dw_lsp.worker.values import media as values_media

SIDE = 64
#: Part of each placeholder file's name: bump it when a recipe below changes, so a cache
#: made by an older recipe is not reused.
RECIPE = 2
VIDEO_FRAMES = 16
#: Placeholder videos play at this rate (2 s): long enough for pipelines that sample a
#: reference video at a few frames a second.
VIDEO_FPS = 8
AUDIO_RATE = 16_000
_IMAGE_SUFFIXES = values_media.IMAGE_EXTENSIONS
_VIDEO_SUFFIXES = values_media.VIDEO_EXTENSIONS
_AUDIO_SUFFIXES = values_media.AUDIO_EXTENSIONS


def placeholder_image(shade: int = 0) -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE))
    image.putdata(
        [((x * 4 + shade) % 256, (y * 4) % 256, 128) for y in range(SIDE) for x in range(SIDE)]
    )
    return image


def placeholder_video() -> list[Image.Image]:
    return [placeholder_image(16 * index) for index in range(VIDEO_FRAMES)]


def write_placeholder(path: Path) -> None:
    """A placeholder file whose kind follows ``path``'s extension."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in _AUDIO_SUFFIXES:
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(AUDIO_RATE)
            samples = (
                int(3000 * math.sin(2 * math.pi * 440 * t / AUDIO_RATE)) for t in range(AUDIO_RATE)
            )
            out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    elif suffix in _VIDEO_SUFFIXES or suffix == ".gif":
        frames = placeholder_video()
        frames[0].save(
            path,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=1000 // VIDEO_FPS,
            loop=0,
        )
    else:
        placeholder_image().save(path, format="PNG")


def kind_of(location: str) -> str:
    suffix = Path(location.split("?", 1)[0]).suffix.lower()
    if suffix in _AUDIO_SUFFIXES:
        return "audio"
    if suffix in _VIDEO_SUFFIXES:
        return "video"
    return "image"


class Placeholders:
    """The media loader of a stand-in run (see the module docstring); ``report`` collects
    each placeholder handed out, ``folder`` holds placeholder files."""

    def __init__(self, report: list[PlaceholderMedia], folder: Path) -> None:
        self.report = report
        self.folder = folder

    def _note(self, kind: str, location: str) -> None:
        entry = PlaceholderMedia(kind=kind, location=location)
        if entry not in self.report:
            self.report.append(entry)

    def _missing(self, location: str, base_dir: Path, roots: Sequence[Path]) -> bool:
        if values_media.looks_like_url(location):
            return not values_media.urls_allowed()
        path = values_media.check_path(location, base_dir, must_exist=False, roots=roots)
        return not path.exists()

    def load(self, kind: str, location: str, base_dir: Path, roots: Sequence[Path]) -> Any:
        """An image (``kind`` image) or a list of frames (video) for ``location``."""
        if not self._missing(location, base_dir, roots):
            try:
                if kind == "image":
                    return values_media.load_image_location(location, base_dir, roots)
                return values_media.load_video_location(location, base_dir, roots)
            except OSError:
                if not values_media.looks_like_url(location):
                    raise
                # A download that fails (no network) gets a placeholder too.
        self._note(kind, location)
        return placeholder_image() if kind == "image" else placeholder_video()

    def file(self, location: str, base_dir: Path, roots: Sequence[Path]) -> str:
        """The path (or URL) a ``from_file`` object opens: a placeholder file of the kind its
        extension says when the real one cannot be had."""
        if not self._missing(location, base_dir, roots):
            if values_media.looks_like_url(location):
                return values_media.check_url(location)
            path = values_media.check_path(location, base_dir, roots=roots)
            values_media.check_extension(path, values_media.ANY_MEDIA_EXTENSIONS, "from_file")
            return str(path)
        kind = kind_of(location)
        suffix = {"audio": ".wav", "video": ".gif"}.get(kind, ".png")
        target = self.folder / f"placeholder-{kind}-{RECIPE}{suffix}"
        if not target.is_file():
            staging = target.with_name(f".{os.getpid()}-{target.name}")
            write_placeholder(staging)
            os.replace(staging, target)
        self._note(kind, location)
        return str(target)
