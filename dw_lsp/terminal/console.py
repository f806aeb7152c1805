"""Terminal rendering shared by the REPL and ``dw-lsp run``: the progress bar, the seed's
"GPU Memory Status:" block, the lines that describe a finished run and the Ray pool.

Plain text only (the bar is redrawn with a carriage return). Never imports the worker,
torch or the LSP stack.
"""

from __future__ import annotations

import shutil
from typing import TextIO

from dw_lsp import protocol
from dw_lsp.protocol import MemoryStatus, Progress
from dw_lsp.session.pool import PoolStatus
from dw_lsp.session.report import RunReport

BAR_WIDTH = 28


class ProgressBar:
    """A one-line bar, ``[#####-----]  42% denoising step 3/8``, redrawn in place on a
    terminal. Into a pipe or a log file it writes one plain line per step, load and save
    instead (no carriage returns; denoising only at its first step and each quarter)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._percent = 0.0
        self._shown = False
        self._width = 0
        isatty = getattr(stream, "isatty", None)
        self._tty = bool(isatty and isatty())

    def update(self, event: Progress) -> None:
        self._percent = max(self._percent, min(100.0, event.percent))
        if not self._tty:
            if event.phase in ("step", "load", "save", "queue") or _milestone(event):
                self._stream.write(f"{self._percent:3.0f}% {event.message}\n")
                self._stream.flush()
            return
        filled = int(BAR_WIDTH * self._percent / 100)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        columns = shutil.get_terminal_size((100, 20)).columns
        line = f"[{bar}] {self._percent:3.0f}% {event.message}"[: max(columns - 1, 20)]
        pad = " " * max(self._width - len(line), 0)
        self._stream.write(f"\r{line}{pad}")
        self._stream.flush()
        self._width = len(line)
        self._shown = True

    def finish(self) -> None:
        """End the bar's line (if one was drawn) so the next output starts clean."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
        self._shown = False
        self._percent = 0.0
        self._width = 0


def _milestone(event: Progress) -> bool:
    """The first, each quarter and the last denoising step of an iteration."""
    step, total = event.denoiseStep, event.denoiseTotal
    if event.phase != "denoise" or total <= 0:
        return False
    return step in (1, total) or (step * 4) // total != ((step - 1) * 4) // total


def memory_lines(memory: MemoryStatus) -> list[str]:
    """The seed's block; without CUDA it says so and shows host memory."""
    if memory.cuda:
        device = memory.deviceName or memory.device
    else:
        device = f"{memory.device} (no CUDA) — host memory"
    lines = [
        "GPU Memory Status:",
        f"  Device: {device}",
        f"  Allocated: {memory.allocatedMb:.1f} MB",
        f"  Reserved: {memory.reservedMb:.1f} MB",
        f"  Free: {memory.freeMb:.1f} MB",
        f"  Total: {memory.totalMb:.1f} MB",
        f"  Process RSS: {memory.processRssMb:.1f} MB",
        f"  Runs in this session: {memory.runs}",
    ]
    if memory.pipelines:
        lines.append(f"  Cached pipelines: {', '.join(memory.pipelines)}")
    return lines


def timing_line(report: RunReport) -> str:
    t = report.timings
    return f"load {t.load:.2f} s, inference {t.inference:.2f} s, total {t.total:.2f} s"


def cache_line(report: RunReport) -> str:
    cache = report.cache
    parts = [
        f"{label}: {', '.join(items)}"
        for label, items in (
            ("reused", cache.reused),
            ("loaded", cache.loaded),
            ("released", cache.released),
        )
        if items
    ]
    return "Models " + "; ".join(parts) if parts else "Models: none"


def error_lines(report: RunReport, traceback: bool = True) -> list[str]:
    """``Error: ...`` plus the worker's traceback, indented."""
    if report.status == protocol.CANCELLED:
        return ["Run cancelled"] + [f"  {w}" for w in report.warnings if "killed" in w]
    lines = [f"Error: {report.error or 'the run failed'}"]
    if traceback and report.traceback:
        lines += ["  " + line for line in report.traceback.rstrip().splitlines()]
    return lines


def stand_in_lines(report: RunReport) -> list[str]:
    """What a stand-in run replaced: models, shrunk arguments, devices, placeholder media."""
    stand_in = report.standIn
    if stand_in is None:
        return []
    lines = [f"Stand-in run ({stand_in.mode}): tiny random models, not real results"]
    for model in stand_in.models:
        lines.append(
            f"  stood in: step {model.step!r} {model.where} {model.component} for {model.source}"
        )
    for argument in stand_in.arguments:
        given = "default" if argument.given is None else repr(argument.given)
        lines.append(
            f"  shrunk: step {argument.step!r} {argument.name} {given} -> {argument.used!r}"
        )
    for device in stand_in.devices:
        lines.append(
            f"  device: step {device.step!r} {device.name} {device.given!r} -> {device.used!r}"
        )
    for media in stand_in.media:
        lines.append(f"  placeholder {media.kind}: {media.location}")
    return lines


def pool_lines(pool: PoolStatus) -> list[str]:
    """The pool's workers (state, where, memory, what is warm, runs) and its queue."""
    lines = [f"Workers (Ray, {pool.address}):"]
    for w in pool.workers:
        where = f" pid {w.pid} on {w.host}, {w.device}" if w.pid else ""
        memory = f", {w.memory.allocatedMb:.0f} MB allocated" if w.memory else ""
        warm = ", ".join(w.pipelines) or "nothing warm"
        run = f", running {w.run_id}" if w.run_id else ""
        error = f" ({w.error})" if w.error and w.state != "ready" else ""
        lines.append(f"  {w.id}: {w.state}{error}{where}{memory}; {warm}; {w.runs} run(s){run}")
    queued = ", ".join(f"{q['name'] or q['runId']} (#{q['position']})" for q in pool.queue)
    lines.append(f"Queue: {queued or 'empty'}")
    return lines
