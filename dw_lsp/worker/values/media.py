"""Loading media a workflow names, and the path rules every user-given path obeys
(FORMAT.md 1.9.7 and 4.8; DESIGN.md "Security").

Owns :func:`check_path` (no ``..`` anywhere, no ``~``, no ``/dev``, ``/proc``, ``/sys``,
inside the workflow directory after resolving symlinks, length limits), the extension
allowlists, and the loaders: images become PIL RGB images, videos lists of PIL frames (PyAV
or imageio when installed). Network media is refused unless ``DW_LSP_ALLOW_URLS=1``.
Imports PIL and numpy only; never torch, diffusers or the executor.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, ImageSequence

from dw_lsp.workflow import refs

PATH_MAX = 4096
NAME_COMPONENT_MAX = 255
#: The environment variable that lets the worker download http(s) media.
ALLOW_URLS_ENV = "DW_LSP_ALLOW_URLS"
URL_TIMEOUT_S = 60.0
URL_MAX_BYTES = 512 * 1024 * 1024

IMAGE_EXTENSIONS = refs.MEDIA_IMAGE_EXTENSIONS
VIDEO_EXTENSIONS = refs.MEDIA_VIDEO_EXTENSIONS
AUDIO_EXTENSIONS = refs.MEDIA_AUDIO_EXTENSIONS
ANY_MEDIA_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS + AUDIO_EXTENSIONS

_SYSTEM_DIRS = re.compile(r"^/(dev|proc|sys)(/|$)", re.IGNORECASE)


class MediaError(ValueError):
    """A media value that cannot be loaded (bad path, extension, missing package)."""


def check_path(
    path: str,
    base_dir: Path,
    *,
    must_exist: bool = True,
    roots: Sequence[Path] = (),
) -> Path:
    """The resolved absolute path of ``path`` (relative to ``base_dir``), or ValueError.

    The path must lie inside ``base_dir`` or one of ``roots`` once symlinks are resolved,
    so neither ``..`` nor a link can leave the workflow's folder.
    """
    if not isinstance(path, str) or not path:
        raise ValueError("path is empty")
    why = refs.unsafe_character(path)
    if why is not None:
        raise ValueError(f"path {path!r} contains {why}")
    if len(path) > PATH_MAX:
        raise ValueError(f"path is longer than {PATH_MAX} characters")
    text = path.replace("\\", "/")
    if ".." in text:
        raise ValueError(f"path {path!r} contains '..'; paths may not climb out of the folder")
    if text.startswith("~") or "~/" in text:
        raise ValueError(f"path {path!r} uses '~'; give a path relative to the workflow file")
    if _SYSTEM_DIRS.match(text):
        raise ValueError(f"path {path!r} points into a system directory")
    base = Path(base_dir).resolve()
    candidate = Path(text)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    allowed = [base, *(Path(r).resolve() for r in roots)]
    if not any(_inside(resolved, root) for root in allowed):
        raise ValueError(
            f"path {path!r} resolves to {str(resolved)!r}, outside the workflow folder "
            f"{str(base)!r}"
        )
    if len(resolved.name) > NAME_COMPONENT_MAX:
        raise ValueError(f"file name in {path!r} is longer than {NAME_COMPONENT_MAX} characters")
    if must_exist and not resolved.exists():
        raise ValueError(f"file {path!r} does not exist (looked for {str(resolved)!r})")
    return resolved


def _inside(path: Path, root: Path) -> bool:
    try:
        return os.path.commonpath([path, root]) == str(root)
    except ValueError:  # different drives
        return False


def check_extension(path: Path, allowed: Sequence[str], what: str) -> None:
    if path.suffix.lower() not in allowed:
        raise MediaError(
            f"{what} file {path.name!r} has extension {path.suffix or '(none)'!r}; "
            f"allowed: {' '.join(allowed)}"
        )


def urls_allowed() -> bool:
    return os.environ.get(ALLOW_URLS_ENV) == "1"


def looks_like_url(value: str) -> bool:
    """``scheme://...``: handled as a URL (only http(s) may load), never as a path."""
    return "://" in value


def check_url(url: str) -> str:
    """A URL the worker may fetch: http(s), a host, and downloads switched on."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MediaError(f"{url!r} is not an http(s) URL with a host")
    if not urls_allowed():
        raise MediaError(
            f"network media is not available in this worker: {url!r}. Download the file "
            f"next to the workflow and give its path, or set {ALLOW_URLS_ENV}=1"
        )
    return url


def download(url: str) -> bytes:
    """The body of ``url`` (size-capped); only after :func:`check_url`."""
    check_url(url)
    # check_url admits only http(s) URLs with a host (S310 warns of file: and custom schemes).
    request = urllib.request.Request(url, headers={"User-Agent": "dw-lsp-worker"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:  # noqa: S310
        data: bytes = response.read(URL_MAX_BYTES + 1)
    if len(data) > URL_MAX_BYTES:
        raise MediaError(f"{url!r} is larger than {URL_MAX_BYTES // (1024 * 1024)} MiB")
    return data


# --- images -----------------------------------------------------------------------------


def open_image(source: str | Path | bytes) -> Image.Image:
    """Decode an image fully (the file is closed afterwards), EXIF-rotated, as RGB."""
    stream: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(stream) as opened:
        image = ImageOps.exif_transpose(opened) or opened
        return image.convert("RGB")


def load_image_location(location: str, base_dir: Path, roots: Sequence[Path] = ()) -> Image.Image:
    if looks_like_url(location):
        return open_image(download(location))
    path = check_path(location, base_dir, roots=roots)
    check_extension(path, IMAGE_EXTENSIONS, "image")
    return open_image(path)


# --- videos -----------------------------------------------------------------------------


def load_video_location(
    location: str, base_dir: Path, roots: Sequence[Path] = ()
) -> list[Image.Image]:
    if looks_like_url(location):
        data = download(location)
        suffix = Path(urllib.parse.urlparse(location).path).suffix or ".mp4"
        with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
            handle.write(data)
            handle.flush()
            return decode_video(Path(handle.name))
    path = check_path(location, base_dir, roots=roots)
    check_extension(path, VIDEO_EXTENSIONS, "video")
    return decode_video(path)


def decode_video(path: Path) -> list[Image.Image]:
    """All frames of a video file as RGB PIL images, with PyAV or imageio."""
    if path.suffix.lower() == ".gif":
        with Image.open(path) as animation:
            return [frame.convert("RGB") for frame in ImageSequence.Iterator(animation)]
    if importlib.util.find_spec("av") is not None:
        import av

        with av.open(str(path)) as container:
            frames = container.decode(video=0)
            return [frame.to_image().convert("RGB") for frame in frames]  # type: ignore[no-untyped-call]
    try:
        import imageio.v3 as iio
    except ImportError as error:
        raise MediaError(
            f"cannot read video {path.name!r}: loading video files needs the package 'av' "
            "(pip install av) or 'imageio' with 'imageio-ffmpeg', and neither is installed "
            "in the worker's environment"
        ) from error
    return [Image.fromarray(frame).convert("RGB") for frame in iio.imiter(path)]
