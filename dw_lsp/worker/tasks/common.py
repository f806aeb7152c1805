"""What every task family shares: the call context, argument checking with defaults, the
image and frame coercions, and the refusal raised for commands this worker cannot run.

A handler takes the argument map (``device`` already removed) and a :class:`TaskContext`.
Imports PIL and numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class TaskContext:
    """Where a task runs: the command name, the device asked for, the folder relative
    paths resolve against."""

    command: str
    device: str | None
    base_dir: Path
    #: A stand-in run's media loader (placeholders for URLs and missing files), or None.
    media: Any = None


Handler = Callable[[Any, TaskContext], Any]

#: Marks an argument without a default in a :func:`take` spec.
REQUIRED: Any = object()


class TaskUnavailable(RuntimeError):
    """A known task command that cannot run in this worker (model, package, feature)."""


def take(
    command: str,
    arguments: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> dict[str, Any]:
    """``arguments`` checked against ``spec`` (name -> default, or :data:`REQUIRED`):
    unknown names and missing required ones raise ValueError; defaults fill the rest."""
    if not isinstance(arguments, Mapping):
        raise ValueError(
            f"task '{command}' takes an object of arguments, got {type(arguments).__name__}"
        )
    unknown = sorted(set(arguments) - set(spec))
    if unknown:
        raise ValueError(
            f"task '{command}' got unexpected argument(s) {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(spec) or 'nothing'}"
        )
    values: dict[str, Any] = {}
    for name, default in spec.items():
        if name in arguments:
            values[name] = arguments[name]
        elif default is REQUIRED:
            raise ValueError(f"task '{command}' needs the argument '{name}'")
        else:
            values[name] = default
    return values


def as_image(command: str, value: Any, name: str = "image") -> Image.Image:
    """A PIL image from a loaded image or an (H, W[, C]) array."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray) and value.ndim in (2, 3):
        return Image.fromarray(to_uint8(value))
    shown = repr(value)[:60]
    raise ValueError(
        f"task '{command}' needs a loaded image in '{name}', got {type(value).__name__} "
        f"{shown}; a path is loaded only under an 'image' key of the step's arguments"
    )


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] scaled to bytes; byte frames unchanged."""
    if array.dtype == np.uint8:
        return array
    scaled = np.rint(array * 255.0) if np.issubdtype(array.dtype, np.floating) else array
    result: np.ndarray = np.clip(scaled, 0, 255).astype(np.uint8)
    return result


def each_image(command: str, value: Any, process: Callable[[Image.Image], Any]) -> Any:
    """``process`` over one image, or over each image of a list (video frames)."""
    if isinstance(value, list | tuple):
        return [process(as_image(command, item)) for item in value]
    return process(as_image(command, value))


def number(command: str, name: str, value: Any, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"task '{command}': '{name}' must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"task '{command}': '{name}' must be at least {minimum}, got {value!r}")
    return float(value)


def whole(command: str, name: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"task '{command}': '{name}' must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"task '{command}': '{name}' must be at least {minimum}, got {value!r}")
    return int(value)


def needs_package(command: str, module: str, pip_name: str, what: str = "") -> TaskUnavailable:
    detail = f" ({what})" if what else ""
    return TaskUnavailable(
        f"task '{command}'{detail} needs the package '{module}', which is not installed in "
        f"the worker's environment: pip install {pip_name}"
    )
