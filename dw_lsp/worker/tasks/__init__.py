"""The built-in task commands at run time (FORMAT.md 1.6 and section 2).

:data:`TASK_COMMANDS` holds every command name of section 2; :func:`run_task` runs one.
Families live in their own modules: ``data`` (plumbing and text), ``image`` (PIL image
processors, ``canny_cv``, ``qr_code``), ``video`` (frames; audio commands refused) and
``models`` (model-backed commands and ControlNet-aux detectors, refused with a reason).
A name outside section 2 is a ValueError; a known command this worker cannot run raises
:class:`TaskUnavailable` (a RuntimeError) naming the model or package it needs.
The static command table of the language server lives in ``dw_lsp.validation``, not here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from dw_lsp.worker.tasks import data, image, models, video
from dw_lsp.worker.tasks.common import Handler, TaskContext, TaskUnavailable

_HANDLERS: dict[str, Handler] = {
    **data.COMMANDS,
    **image.COMMANDS,
    **video.COMMANDS,
    **models.COMMANDS,
}

#: Every task command name of FORMAT.md section 2 (all of them are handled by run_task).
TASK_COMMANDS: frozenset[str] = frozenset(_HANDLERS)

#: Commands that take ``device`` (popped before the call): processors and model-backed ones.
DEVICE_COMMANDS: frozenset[str] = frozenset(
    {
        *image.PROCESSORS,
        "get_frame",
        "get_first_frame",
        "get_last_frame",
        *models.MODEL_COMMANDS,
        *models.DETECTOR_COMMANDS,
    }
)

_REFUSED = frozenset({*models.COMMANDS, *video.AUDIO_COMMANDS})
_OPTIONAL_PACKAGE = {"canny_cv": "cv2", "qr_code": "qrcode"}


def available_commands() -> frozenset[str]:
    """The commands that can run in this environment (optional packages checked now)."""
    return frozenset(
        name
        for name in TASK_COMMANDS - _REFUSED
        if name not in _OPTIONAL_PACKAGE or importlib.util.find_spec(_OPTIONAL_PACKAGE[name])
    )


def run_task(
    command: str,
    arguments: Any,
    *,
    device: str | None = None,
    base_dir: Path | None = None,
    media: Any = None,
) -> Any:
    """Run task ``command`` with one argument set (a dict; ``gather_inputs`` also takes a
    scalar ``inputs`` item). ``arguments['device']`` is popped for the commands that take
    one; ``device=`` wins over it. ``base_dir`` anchors globs (default: the current folder).
    ``media`` is a stand-in run's media loader (placeholders for media that cannot be had).
    """
    handler = _HANDLERS.get(command)
    if handler is None:
        known = ", ".join(sorted(TASK_COMMANDS))
        raise ValueError(f"Unknown task command {command!r}; known: {known}")
    if command in DEVICE_COMMANDS and isinstance(arguments, dict) and "device" in arguments:
        arguments = dict(arguments)
        given = arguments.pop("device")
        device = device if device is not None else given
    context = TaskContext(
        command=command,
        device=device,
        base_dir=Path(base_dir) if base_dir is not None else Path.cwd(),
        media=media,
    )
    return handler(arguments, context)


__all__ = [
    "DEVICE_COMMANDS",
    "TASK_COMMANDS",
    "TaskUnavailable",
    "available_commands",
    "run_task",
]
