"""The state one ``execute`` carries through every step and sub-workflow.

Owns :class:`RunState` (settings of the run, the pipelines and components it acquired, what
it wrote, warned and measured) and :class:`PipelineProvider`, the narrow interface through
which the executor obtains and releases cached pipelines without knowing the cache, memory
policy or transport. Imports nothing heavy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dw_lsp.protocol import CacheReport
from dw_lsp.worker.progress import Position, Reporter
from dw_lsp.worker.values import TypeResolver

if TYPE_CHECKING:
    from dw_lsp.worker.standins.run import StandIns

log = logging.getLogger("dw_lsp.worker")


class PreflightError(ValueError):
    """The workflow asks for something this worker cannot do; nothing was loaded."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path.name} cannot run in this worker:\n{listed}")
        self.problems = problems


class StepError(RuntimeError):
    """A step failed; the message names the step, the cause is chained."""


class PipelineProvider(Protocol):
    def acquire(self, label: str, key: str, loader: Callable[[], Any], state: RunState) -> Any:
        """The cached pipeline for ``key``, or the one ``loader`` makes (then cached)."""

    def release(self, key: str, state: RunState) -> None:
        """Drop the pipeline cached under ``key`` (``release_pipeline``) with full cleanup."""


@dataclass
class LoadedStep:
    """A pipeline an earlier step of the same file loaded, for ``pipeline_reference``."""

    pipeline: Any
    key: str
    device: str


@dataclass
class RunState:
    run_id: str
    resolver: TypeResolver
    out_dir: Path
    top_dir: Path
    device: str
    reporter: Reporter
    allow_remote_code: bool = False
    report: CacheReport = field(default_factory=CacheReport)
    shared: dict[str, Any] = field(default_factory=dict)
    shared_keys: dict[str, str] = field(default_factory=dict)
    used_keys: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: dict[Path, str] = field(default_factory=dict)
    load_seconds: float = 0.0
    inference_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    #: The run's stand-ins (DESIGN.md "Stand-in models"); None unless asked for.
    stand_ins: StandIns | None = None

    @property
    def media_loader(self) -> Any:
        """The stand-in run's media loader (placeholders for media that cannot be had)."""
        return self.stand_ins.media if self.stand_ins is not None else None

    def note(self, message: str) -> None:
        """A warning the user should see in the result and the log."""
        if message not in self.warnings:
            self.warnings.append(message)
        log.warning("%s", message)

    def progress(self, position: Position, phase: str, message: str, fraction: float = 0.0) -> None:
        self.reporter.report(position, phase, message, fraction)
