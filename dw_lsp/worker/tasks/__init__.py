"""The built-in task commands at run time (FORMAT.md 1.6 and section 2).

The command table is :data:`dw_lsp.validation.tasks_spec.TASKS`, the one the checker and the
editor read: :data:`TASK_COMMANDS` is its names and :data:`DEVICE_COMMANDS` the commands it
says take ``device``. Each family module (``data``: plumbing and text; ``image``: PIL image
processors, ``canny_cv``, ``qr_code``; ``video``: frames, audio commands refused;
``language``: text generation and captioning; ``depth``: depth maps; ``upscaling``: spandrel
and diffusion upscalers; ``detectors``: ControlNet-aux; ``background``: RMBG-2.0;
``segmenting``: Grounding DINO and SAM 2; ``semantic``: UperNet semantic maps;
``interpolate``: RIFE frame interpolation;
``models``: the model-backed commands still refused, with a reason) maps the names it runs
to handlers, and the handler table is built by looking up every command of ``TASKS``
in them: a command in one table only stops the worker at import with a message, so the two
can never drift apart. :func:`run_task` runs one. A name outside section 2 is a ValueError;
a known command this worker cannot run raises :class:`TaskUnavailable` (a RuntimeError)
naming the model or package it needs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dw_lsp.validation.tasks_spec import TASKS, TaskSpec
from dw_lsp.worker.tasks import (
    audio,
    background,
    data,
    depth,
    detectors,
    image,
    interpolate,
    language,
    models,
    segmenting,
    semantic,
    upscaling,
    video,
)
from dw_lsp.worker.tasks.common import (
    Handler,
    LocalModels,
    ModelStore,
    TaskContext,
    TaskStandIns,
    TaskUnavailable,
)

_FAMILIES: tuple[Mapping[str, Handler], ...] = (
    data.COMMANDS,
    image.COMMANDS,
    video.COMMANDS,
    audio.COMMANDS,
    language.COMMANDS,
    depth.COMMANDS,
    upscaling.COMMANDS,
    detectors.COMMANDS,
    background.COMMANDS,
    segmenting.COMMANDS,
    semantic.COMMANDS,
    interpolate.COMMANDS,
    models.COMMANDS,
)


def _handler_table(specs: Mapping[str, TaskSpec]) -> dict[str, Handler]:
    """The handler of every command of ``specs``, found in the family modules."""
    handlers: dict[str, Handler] = {}
    for family in _FAMILIES:
        handlers.update(family)
    unhandled = sorted(set(specs) - set(handlers))
    unspecified = sorted(set(handlers) - set(specs))
    if unhandled or unspecified:
        raise ImportError(
            "the worker's task handlers and dw_lsp.validation.tasks_spec.TASKS differ: "
            f"no handler for {unhandled}, no spec for {unspecified}"
        )
    return {name: handlers[name] for name in specs}


_HANDLERS = _handler_table(TASKS)

#: Every task command name of FORMAT.md section 2 (all of them are handled by run_task).
TASK_COMMANDS: frozenset[str] = frozenset(TASKS)

#: Commands that take ``device`` (popped before the call): processors and model-backed ones.
DEVICE_COMMANDS: frozenset[str] = frozenset(name for name, spec in TASKS.items() if spec.device)

_REFUSED = frozenset(models.COMMANDS)
#: Commands whose model runs its own code: refused before the run unless it allows that.
REMOTE_CODE_COMMANDS: frozenset[str] = frozenset(background.COMMANDS)
_OPTIONAL_PACKAGE = {
    "canny_cv": "cv2",
    "qr_code": "qrcode",
    "upscale": "spandrel",
    "segmentation": "controlnet_aux",  # the ADE20K palette
    **dict.fromkeys(detectors.DETECTORS, "controlnet_aux"),
}


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
    default_device: str | None = None,
    base_dir: Path | None = None,
    models: ModelStore | None = None,
    allow_remote_code: bool = False,
    media: Any = None,
    stand_ins: TaskStandIns | None = None,
) -> Any:
    """Run task ``command`` with one argument set (a dict; ``gather_inputs`` also takes a
    scalar ``inputs`` item). ``arguments['device']`` is popped for the commands that take
    one; ``device=`` wins over it, and ``default_device`` (the worker's) applies when neither
    is given. ``base_dir`` anchors globs and local model paths (default: the current folder);
    ``models`` keeps the loaded models (default: a fresh :class:`LocalModels`). ``media`` is
    a stand-in run's media loader (placeholders for media that cannot be had), ``stand_ins``
    its task models (tiny models in place of the ones named).
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
        device=device if device is not None else default_device,
        base_dir=Path(base_dir) if base_dir is not None else Path.cwd(),
        models=models if models is not None else LocalModels(),
        allow_remote_code=allow_remote_code,
        media=media,
        stand_ins=stand_ins,
    )
    return handler(arguments, context)


__all__ = [
    "DEVICE_COMMANDS",
    "REMOTE_CODE_COMMANDS",
    "TASK_COMMANDS",
    "LocalModels",
    "ModelStore",
    "TaskUnavailable",
    "available_commands",
    "run_task",
]
