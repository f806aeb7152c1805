"""Progress reporting and cooperative cancellation of a run.

Owns the cancel token, the mapping of "step i of n, iteration j of m, denoising step k of K"
onto one percentage of the whole run (sub-workflows nest inside their step's share), and the
two ways of hooking a pipeline's denoising loop:

- ``callback_on_step_end`` where the pipeline's ``__call__`` accepts it;
- otherwise (``DDPMPipeline`` and other callback-less pipelines) a wrapper around the
  pipeline's ``progress_bar`` method, installed on the instance for one call only.

Both report each finished denoising step and check the cancel flag; a cancel *raises*
:class:`RunCancelled` out of the loop (setting ``pipe._interrupt`` would still decode and
return an image), so a run stops within one denoising step and keeps its models. Imports
nothing heavy; never the transport.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from dw_lsp.protocol import Progress

#: Seconds between the progress events repeated during a long operation (a model load).
HEARTBEAT_S = 10.0


class RunCancelled(Exception):
    """Raised inside a run when its cancel flag is set."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise RunCancelled("the run was cancelled")


@dataclass(frozen=True)
class Position:
    """Where a run is, and which share ``[lo, hi]`` of the whole run this part covers."""

    lo: float = 0.0
    hi: float = 100.0
    step: str = ""
    step_index: int = 0
    step_count: int = 0
    iteration: int = 0
    iteration_count: int = 0

    def part(self, index: int, count: int) -> tuple[float, float]:
        width = (self.hi - self.lo) / max(count, 1)
        return self.lo + width * index, self.lo + width * (index + 1)

    def for_step(self, name: str, index: int, count: int) -> Position:
        lo, hi = self.part(index, count)
        return replace(
            self,
            lo=lo,
            hi=hi,
            step=name,
            step_index=index,
            step_count=count,
            iteration=0,
            iteration_count=0,
        )

    def for_iteration(self, index: int, count: int) -> Position:
        lo, hi = self.part(index, count)
        return replace(self, lo=lo, hi=hi, iteration=index, iteration_count=count)

    def for_part(self, index: int, count: int) -> Position:
        """Part ``index`` of ``count`` of this position's share (a chain's segment)."""
        lo, hi = self.part(index, count)
        return replace(self, lo=lo, hi=hi)

    def at(self, fraction: float) -> float:
        return round(self.lo + (self.hi - self.lo) * min(max(fraction, 0.0), 1.0), 2)


class Reporter:
    """Turns positions into :class:`Progress` events for one run."""

    def __init__(self, run_id: str, emit: Callable[[Progress], None], token: CancelToken) -> None:
        self.run_id = run_id
        self._emit = emit
        self.token = token

    def report(
        self,
        position: Position,
        phase: str,
        message: str,
        fraction: float = 0.0,
        denoise_step: int = 0,
        denoise_total: int = 0,
    ) -> None:
        self._emit(
            Progress(
                runId=self.run_id,
                phase=phase,
                message=message,
                percent=position.at(fraction),
                step=position.step,
                stepIndex=position.step_index,
                stepCount=position.step_count,
                iteration=position.iteration,
                iterationCount=position.iteration_count,
                denoiseStep=denoise_step,
                denoiseTotal=denoise_total,
            )
        )

    @contextmanager
    def heartbeat(
        self, position: Position, phase: str, message: str, every: float = HEARTBEAT_S
    ) -> Iterator[None]:
        """Repeat a progress event every ``every`` seconds while the block runs: a long
        model load must not look like a hung run to the session's watchdog."""
        done = threading.Event()
        started = time.monotonic()
        self.report(position, phase, message)

        def beat() -> None:
            while not done.wait(every):
                self.report(position, phase, f"{message} ({time.monotonic() - started:.0f} s)")

        thread = threading.Thread(target=beat, name="dw-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


class _DenoiseCounter:
    """Counts finished denoising steps of one pipeline call, reports them, honours cancel."""

    def __init__(self, reporter: Reporter, position: Position, pipeline: Any, total: int) -> None:
        self._reporter = reporter
        self._position = position
        self._pipeline = pipeline
        self.total = total
        self.done = 0

    def step_finished(self) -> None:
        self.done += 1
        total = self.total or int(getattr(self._pipeline, "_num_timesteps", 0) or 0)
        fraction = self.done / total if total else 0.0
        self._reporter.report(
            self._position,
            "denoise",
            f"denoising step {self.done}" + (f"/{total}" if total else ""),
            fraction,
            self.done,
            total,
        )
        self._reporter.token.check()

    def callback(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
        self.step_finished()
        return kwargs


class _CountingBar:
    """Stands in for the tqdm bar a pipeline asked for with ``progress_bar(total=...)``."""

    def __init__(self, bar: Any, counter: _DenoiseCounter) -> None:
        self._bar = bar
        self._counter = counter

    def __enter__(self) -> _CountingBar:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.__exit__(*exc)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)
        for _ in range(n):
            self._counter.step_finished()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bar, name)


def accepts_step_callback(method: Any) -> bool:
    try:
        return "callback_on_step_end" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


@contextmanager
def denoise_hooks(
    pipeline: Any, method: Any, kwargs: dict[str, Any], reporter: Reporter, position: Position
) -> Iterator[dict[str, Any]]:
    """Yield the call's keyword arguments with progress and cancel hooks attached."""
    steps = kwargs.get("num_inference_steps")
    counter = _DenoiseCounter(reporter, position, pipeline, steps if isinstance(steps, int) else 0)
    if accepts_step_callback(method) and kwargs.get("callback_on_step_end") is None:
        yield {**kwargs, "callback_on_step_end": counter.callback}
        return
    original = getattr(pipeline, "progress_bar", None)
    if original is None or not callable(original):
        yield kwargs
        return

    def counting_progress_bar(
        iterable: Iterable[Any] | None = None, total: int | None = None, **options: Any
    ) -> Any:
        # ``options`` (tqdm's desc, leave ...) pass through: Marigold nests two bars.
        if iterable is not None:
            items = list(iterable) if not hasattr(iterable, "__len__") else iterable
            counter.total = counter.total or len(items)  # type: ignore[arg-type]
            return _count_items(original(items, **options), counter)
        counter.total = counter.total or int(total or 0)
        return _CountingBar(original(total=total, **options), counter)

    had_own = "progress_bar" in vars(pipeline)
    pipeline.progress_bar = counting_progress_bar
    try:
        yield kwargs
    finally:
        if had_own:
            pipeline.progress_bar = original
        else:
            del pipeline.progress_bar


def _count_items(bar: Iterable[Any], counter: _DenoiseCounter) -> Iterator[Any]:
    first = True
    for item in bar:
        if not first:
            counter.step_finished()
        first = False
        yield item
    if not first:
        counter.step_finished()
