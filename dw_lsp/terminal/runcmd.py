"""``dw-lsp run FILE [name=value ...] [--output-dir D] [--timeout S] [--repeat N]
[--stand-in | --stand-in-missing] [--sweep name=v1,v2 ...] [--backend local|ray] [--workers N]
[--ray-address A] [--dry-run]``.

Runs a workflow in a worker and prints the output paths (stdout). Messages and the progress
bar go to stderr (``--quiet`` drops both). With ``--repeat N`` the workflow runs N times in
one warm worker and each run's load and inference times are printed, which shows what the
warm cache saves. With ``--stand-in`` every model is stood in by a tiny random one of the
same class (``--stand-in-missing``: only models not found locally or in the Hugging Face
cache), slow arguments are shrunk, outputs go to ``OUTPUT_DIR/stand-in/`` and what was
replaced is printed (stderr). The file named on the command line is trusted: the folder
that holds it is the root the path check confines it to.

With ``--dry-run`` the worker makes every check it makes before loading (classes through the
allowlist, keys it honours on its device, packages installed, paths) and loads nothing: exit
0 when the workflow would start, else 1 with each problem named in the words of a real run
(a workflow the checker refuses is a problem too, not bad input).

``--sweep`` (repeatable) runs the workflow once per combination of the listed values: one
after another in the warm worker, or spread over the Ray workers with ``--backend ray``.
One bar shows the whole sweep; each run's outputs are printed after its values.

Exit codes: 0 every run succeeded, 1 a run failed, 2 bad input (path, argument, a workflow
with validation errors), 130 cancelled (Ctrl-C cancels the run cleanly and stops the
worker). Never imports the worker or torch.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.session import InputError, Session
from dw_lsp.session.inputs import parse_assignment
from dw_lsp.session.sweep import SweepReport, merge_sweeps
from dw_lsp.settings import parse_settings
from dw_lsp.terminal import console

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:  # Ctrl-C before the handler was installed
        return EXIT_CANCELLED


async def _main(args: argparse.Namespace) -> int:
    err = sys.stderr
    options: dict[str, Any] = {"logLevel": "WARNING"}
    if args.output_dir:
        options["outputDir"] = args.output_dir
    if args.timeout is not None:
        options["run.timeout"] = args.timeout
    if getattr(args, "stand_in", None):
        options["worker.standIns"] = args.stand_in
    if args.backend is not None:
        options["worker.backend"] = args.backend
    if args.workers is not None:
        options["worker.ray.workers"] = args.workers
    if args.ray_address is not None:
        options["worker.ray.address"] = args.ray_address
    if getattr(args, "allow_remote_code", False):
        options["worker.allowRemoteCode"] = True
    if getattr(args, "allowed_module", None):
        options["worker.allowedModules"] = list(args.allowed_module)
    settings, messages = parse_settings(options)
    try:
        if messages:
            raise InputError("; ".join(messages))
        if args.repeat < 1:
            raise InputError("--repeat must be at least 1.")
        if args.sweep and args.repeat != 1:
            raise InputError("--sweep and --repeat cannot be combined.")
        assignments = dict(parse_assignment(a) for a in args.assignments)
        grid = merge_sweeps(args.sweep)
    except InputError as exc:
        print(f"Error: {exc}", file=err)
        return EXIT_BAD_INPUT
    path = Path(args.file).expanduser().resolve()

    def say(message: str) -> None:
        if not args.quiet:
            bar.finish()
            print(message, file=err, flush=True)

    bar = console.ProgressBar(err)
    session = Session(
        settings,
        roots=[path.parent],
        notify=say,
        log=lambda level, message: say(message) if level >= 30 else None,
    )
    loop = asyncio.get_running_loop()
    cancelled = False
    tasks: set[asyncio.Task[bool]] = set()

    def on_sigint() -> None:
        nonlocal cancelled
        cancelled = True
        say("Cancelling the run...")
        task = loop.create_task(session.cancel())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        if getattr(args, "dry_run", False):
            return await _dry_run(session, assignments, path, err)
        if grid:
            progress = None if args.quiet else bar.update
            sweep = await session.run_sweep(grid, path, progress, assignments)
            bar.finish()
            return _sweep_exit(sweep, cancelled, say)
        for index in range(1, args.repeat + 1):
            progress = None if args.quiet else bar.update
            report = await session.run(assignments, path, progress)
            bar.finish()
            if report.refused:
                print(f"Error: {report.error}", file=err)
                return EXIT_BAD_INPUT
            if report.status == protocol.CANCELLED or cancelled:
                print("Run cancelled", file=err)
                return EXIT_CANCELLED
            if report.status != protocol.OK:
                for line in console.error_lines(report):
                    print(line, file=err)
                return EXIT_FAILED
            for output in report.outputs:
                print(output)
            for line in console.stand_in_lines(report):
                say(line)
            for warning in report.warnings:
                say(f"Warning: {warning}")
            label = f"Run {index}/{args.repeat}" if args.repeat > 1 else "Run"
            print(f"{label}: {console.timing_line(report)} ({console.cache_line(report)})")
        return EXIT_OK
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        await session.shutdown()


async def _dry_run(session: Session, assignments: dict[str, Any], path: Path, err: Any) -> int:
    """One dry run: every problem on stderr (exit 1), or a line saying it would run (exit 0)."""
    report = await session.run(assignments, path, None, dry_run=True)
    if report.status == protocol.CANCELLED:
        print("Run cancelled", file=err)
        return EXIT_CANCELLED
    if report.status != protocol.OK:
        for line in console.error_lines(report, traceback=False):
            print(line, file=err)
        return EXIT_FAILED
    for warning in report.warnings:
        print(f"Warning: {warning}", file=err)
    print(f"{path.name}: ready to run (dry run: nothing was loaded)")
    return EXIT_OK


def _sweep_exit(sweep: SweepReport, cancelled: bool, say: Callable[[str], None]) -> int:
    """Print a sweep's runs (values, then outputs) and choose the exit code."""
    err = sys.stderr
    if sweep.refused:
        print(f"Error: {sweep.error}", file=err)
        return EXIT_BAD_INPUT
    for run in sweep.runs:
        values = " ".join(f"{k}={v}" for k, v in run.arguments.items())
        report = run.report
        if report.ok:
            where = f" on worker {report.worker}" if report.worker else ""
            print(f"Run {run.index}/{sweep.total} ({values}){where}: {console.timing_line(report)}")
            for output in report.outputs:
                print(output)
        else:
            print(f"Run {run.index}/{sweep.total} ({values}): {report.status}", file=err)
            if report.status == protocol.ERROR:
                for line in console.error_lines(report):
                    print(f"  {line}", file=err)
    say(f"Sweep: {sweep.done}/{sweep.total} runs ok in {sweep.seconds:.1f} s; see {sweep.folder}")
    if sweep.status == protocol.CANCELLED or cancelled:
        print("Sweep cancelled", file=err)
        return EXIT_CANCELLED
    return EXIT_OK if sweep.status == protocol.OK else EXIT_FAILED
