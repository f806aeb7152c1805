"""What every task family shares: the call context, argument checking with defaults, the
image and frame coercions, the refusal raised for commands this worker cannot run, and the
store through which model-backed commands keep their models warm.

A handler takes the argument map (``device`` already removed) and a :class:`TaskContext`.
Model-backed handlers load through ``context.models`` (:class:`ModelStore`): in a run it is
the worker's pipeline cache (same eviction and memory accounting as pipelines); outside a
run, :class:`LocalModels`, a plain dict. In a stand-in run, ``context.stand_ins``
(:class:`TaskStandIns`) gives tiny models in place of the ones a task names (see
:mod:`.locate`). Imports PIL and numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image


class ModelStore(Protocol):
    def load(self, role: str, identity: Hashable, loader: Callable[[], Any]) -> Any:
        """The model known by ``identity`` (a tuple naming the command, model, file, device,
        dtype), loaded by ``loader`` on first use and kept warm. ``role`` names the slot a
        step fills (``"model"``, ``"detector"``, ``"sam"``): a step that now needs another
        model in the same slot lets the old one go."""


class TaskStandIns(Protocol):
    def model(
        self, command: str, kind: str, source: str, base_dir: Path, filename: str | None
    ) -> Path | None:
        """The folder of a stand-in for the task model ``source`` (of ``kind``: the
        transformers task or model family it must be, holding ``filename`` for a
        single-file model) when this run stands it in; None when the real one is used."""

    def shrink(self, command: str, name: str, given: int) -> int:
        """Argument ``name`` of a call to a stood-in model, lowered where it makes a smoke
        run slow (reported); any other value unchanged."""


class LocalModels:
    """A :class:`ModelStore` without eviction, for tasks run outside the worker's runtime."""

    def __init__(self) -> None:
        self.models: dict[Hashable, Any] = {}

    def load(self, role: str, identity: Hashable, loader: Callable[[], Any]) -> Any:
        if identity not in self.models:
            self.models[identity] = loader()
        return self.models[identity]


@dataclass(frozen=True)
class TaskContext:
    """Where a task runs: the command name, the device asked for, the folder relative
    paths resolve against, where models are kept, and whether a model may run its own
    code (the run's ``allowRemoteCode``)."""

    command: str
    device: str | None
    base_dir: Path
    models: ModelStore = field(default_factory=LocalModels)
    allow_remote_code: bool = False
    #: A stand-in run's media loader (placeholders for URLs and missing files), or None.
    media: Any = None
    #: A stand-in run's task models (built in place of missing ones), or None.
    stand_ins: TaskStandIns | None = None

    @property
    def target(self) -> str:
        """The device a model-backed command runs on (``device``, else the best one)."""
        if self.device:
            return str(self.device)
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


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
