"""Saving step results under the output directory with dw's naming (FORMAT.md 1.8).

``{out}/{file_base_name}{id}-{step}.{step_index}-{iteration}.{artifact}{ext}`` (``step_index``
counts from 0); a dict artifact is saved key by key with ``-{key}`` appended (a None value
skipped); JSON content
types write one file per iteration, ``…-{iteration}{ext}``, holding the whole result. Names
are checked (no separators, no ``..`` component, no unsafe characters, at most 255
characters) and every final path lies inside the output directory, whatever the workflow's
``id``, step ``name`` or ``file_base_name`` say.

Every file is written through :func:`~dw_lsp.output_files.write_atomically`: nothing
a run writes ever replaces a file, and a killed worker leaves no truncated file.

Writers: images (anything with ``.save``; animated GIF from a frame list; an image-shaped
array, such as Marigold's prediction, through :mod:`.arrays`), text, JSON; video
and audio when their libraries are installed (imageio or OpenCV for video, soundfile for
audio), otherwise :func:`writer_problem` names what is missing before the run starts. A
video with sound (:mod:`.av`) is muxed into one MP4.
May import PIL, numpy and diffusers' export helpers lazily; never the transport.
"""

from __future__ import annotations

import importlib.util
import json
import mimetypes
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dw_lsp.output_files import (
    OutputError,
    name_problem,
    remove_stale_partials,
    write_atomically,
)
from dw_lsp.worker.outputs import arrays, av

#: ``OutputError`` and ``name_problem`` are part of this module's face (the preflight and
#: the tests use them from here).
__all__ = ["OutputError", "ResultWriter", "extension", "name_problem", "writer_problem"]

EXTENSIONS: dict[str, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/tiff": ".tiff",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "text/csv": ".csv",
    "application/json": ".json",
    "text/json": ".json",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/aiff": ".aiff",
    "audio/flac": ".flac",
    "audio/x-flac": ".flac",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
    "audio/ogg": ".ogg",
    "audio/vorbis": ".ogg",
    "audio/opus": ".ogg",
}


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ""


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def writer_problem(content_type: str) -> str | None:
    """Why results of ``content_type`` cannot be written on this machine, or None."""
    if content_type.startswith("video/"):
        if not (_has("imageio") or _has("cv2")):
            return (
                f"writing {content_type} needs imageio (with imageio-ffmpeg) or OpenCV, "
                "neither of which is installed in the worker's environment"
            )
    elif content_type.startswith("audio/") and not _has("soundfile"):
        return f"writing {content_type} needs the soundfile package, which is not installed"
    return None


class ResultWriter:
    """Writes one step's results; collects the written paths."""

    def __init__(
        self,
        out_dir: Path,
        workflow_id: str,
        step_name: str,
        step_index: int,
        result: Mapping[str, Any],
        artifacts: Callable[[list[Any]], list[Any]],
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.result = result
        self.content_type = str(result.get("content_type", ""))
        self.ext = extension(self.content_type)
        self.prefix = f"{result.get('file_base_name', '')}{workflow_id}-{step_name}.{step_index}"
        self._artifacts = artifacts
        self._metadata = metadata
        self.written: list[str] = []

    def save(self, iterations: list[Any]) -> list[str]:
        if self.result.get("save", True) is False:
            return []
        self.out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.out_dir)
        for index, outcome in enumerate(iterations):
            if self.content_type.endswith("json"):
                self._write_json(f"{self.prefix}-{index}{self.ext}", outcome)
                continue
            for number, artifact in enumerate(self._artifacts([outcome])):
                name = f"{self.prefix}-{index}.{number}"
                if isinstance(artifact, Mapping):
                    for key, value in artifact.items():
                        if value is not None:  # an output field left empty (as dw skips)
                            self._write_each(f"{name}-{key}", value)
                else:
                    self._write_each(name, artifact)
        return self.written

    def _write_json(self, file_name: str, value: Any) -> None:
        try:
            text = json.dumps(value, indent=2, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise OutputError(
                f"the result is not JSON ({exc}); choose another content_type"
            ) from exc
        self._atomically(file_name, lambda path: path.write_text(text + "\n", encoding="utf-8"))

    def _write_each(self, name: str, artifact: Any) -> None:
        """An image-shaped array under an ``image/*`` type is written as images, a batched
        waveform (batch x channels x samples) under ``audio/*`` as waveforms: several with
        ``-{k}`` appended, as dw does for a batched waveform (FORMAT.md 1.8)."""
        images = None
        if self.content_type.startswith("image/") and not hasattr(artifact, "save"):
            images = arrays.as_images(artifact)
        elif self.content_type.startswith("audio/"):
            images = arrays.as_waveforms(artifact)  # a batch of waveforms, one file each
        if images is None:
            self._write(f"{name}{self.ext}", artifact)
        elif len(images) == 1:
            self._write(f"{name}{self.ext}", images[0])
        else:
            for k, image in enumerate(images):
                self._write(f"{name}-{k}{self.ext}", image)

    def _write(self, file_name: str, artifact: Any) -> None:
        self._atomically(file_name, lambda path: self._write_artifact(path, artifact))

    def _atomically(self, file_name: str, write: Callable[[Path], object]) -> None:
        self.written.append(str(write_atomically(self.out_dir, file_name, self.ext, write)))

    def _write_artifact(self, path: Path, artifact: Any) -> None:
        kind = self.content_type.split("/", 1)[0]
        if kind == "text":
            path.write_text(_text(artifact), encoding="utf-8")
        elif self.content_type == "image/gif" and isinstance(artifact, list):
            from diffusers.utils.export_utils import export_to_gif

            export_to_gif(artifact, str(path), fps=int(self.result.get("fps", 8)))
        elif kind == "video":
            self._write_video(path, artifact)
        elif kind == "audio":
            self._write_audio(path, artifact)
        elif hasattr(artifact, "save"):
            self._write_image(path, artifact)
        else:
            raise OutputError(
                f"content type {self.content_type!r} does not fit a result of type "
                f"{type(artifact).__name__}"
            )

    def _write_image(self, path: Path, image: Any) -> None:
        if self.result.get("embed_metadata") and self.content_type == "image/png":
            from PIL.PngImagePlugin import PngInfo

            info = PngInfo()
            info.add_text("parameters", json.dumps(self._metadata or {}, default=str))
            image.save(path, pnginfo=info)
            return
        if self.content_type in ("image/jpeg", "image/jpg") and getattr(image, "mode", "") != "RGB":
            image = image.convert("RGB")
        image.save(path)

    def _write_video(self, path: Path, artifact: Any) -> None:
        problem = writer_problem(self.content_type)
        if problem is not None:
            raise OutputError(problem)
        from diffusers.utils.export_utils import export_to_video

        frames = getattr(artifact, "frames", artifact)
        if hasattr(frames, "save") or not hasattr(frames, "__len__") or len(frames) == 0:
            raise OutputError(
                f"content type {self.content_type!r} needs a video (a list of frames), but "
                f"this result is a {type(frames).__name__}; save it as an image type, or "
                "make the step return frames"
            )
        fps = int(self.result.get("fps", 8))
        if av.has_sound(artifact):
            self._write_pair(path, list(frames), fps, artifact)
            return
        export_to_video(list(frames), str(path), fps=fps)

    def _write_pair(self, path: Path, frames: list[Any], fps: int, artifact: Any) -> None:
        """A video with its sound, muxed into one MP4 (FORMAT.md 1.8)."""
        if self.content_type != "video/mp4":
            raise OutputError(
                f"this result is a video with sound, which is saved only as video/mp4, not "
                f"{self.content_type!r}"
            )
        rate = self.result.get("audio_sample_rate") or getattr(artifact, "sample_rate", None)
        if not rate:
            raise OutputError(
                "this video's sound has no known sample rate: set result.audio_sample_rate"
            )
        try:
            av.write_mp4(path, frames, fps, artifact.audio, int(rate))
        except av.MuxError as exc:
            raise OutputError(str(exc)) from exc

    def _write_audio(self, path: Path, artifact: Any) -> None:
        problem = writer_problem(self.content_type)
        if problem is not None:
            raise OutputError(problem)
        import numpy
        import soundfile

        waveform = getattr(artifact, "audio", artifact)
        if hasattr(waveform, "detach"):
            waveform = waveform.detach().float().cpu().numpy()
        samples = numpy.asarray(waveform)
        if samples.ndim == 2 and samples.shape[0] < samples.shape[1]:
            samples = samples.T  # (channels, samples) -> (samples, channels)
        given = self.result.get("sample_rate", self.result.get("samplerate"))
        rate = int(given or getattr(artifact, "sample_rate", None) or 44100)
        options = {k: self.result[k] for k in ("subtype",) if k in self.result}
        soundfile.write(str(path), samples, rate, **options)


def _text(artifact: Any) -> str:
    text = artifact if isinstance(artifact, str) else str(artifact)
    return text.strip().strip('"').strip()
