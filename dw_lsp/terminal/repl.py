"""``dw-lsp repl``: the seed's interactive shell over the same :class:`Session` as the
language server.

Commands (as in dw's REPL guide): ``load [workflow]``, ``reload``, ``status``, ``run``,
``sweep name=v1,v2 ...``, ``arg [name=value ...]``, ``clear_args``, ``clear``, ``memory``,
``set [name=value]`` (``output_dir``, ``log_level``, ``workflow_dir``, ``stand_in``: on / off /
missing, the ``worker.standIns`` setting; ``backend``, ``workers``, ``ray_address``), ``help``,
``exit`` / ``quit``. The seed's messages are kept ("Starting worker process...", "Reusing loaded
models from cache", "GPU Memory Status:", "Workflow completed successfully" ...).

Where it differs from dw, on purpose: values are parsed with shell quoting (``arg
prompt="a cat" steps=4`` stores ``a cat``, not ``"a cat"``); unknown ``set`` names are
refused; ``load`` accepts any path that resolves inside the workflow directory, ``..``
included; every bad input prints an error and the REPL carries on; Ctrl-C during a run
cancels the run (not the REPL; the worker lives in its own session and never sees the
terminal's SIGINT), at the prompt it just abandons the line; a run shows a progress bar.

asyncio under the hood: one event loop runs the Session, each command one ``run_until_complete``.
Line editing and history (``~/.dw_lsp_history``) from readline when available. Never imports
the worker or torch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shlex
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO, TypeVar

from dw_lsp import protocol
from dw_lsp.session import InputError, Session, WorkerError
from dw_lsp.session.inputs import find_workflow, parse_assignment
from dw_lsp.session.sweep import merge_sweeps
from dw_lsp.settings import Settings, parse_settings
from dw_lsp.terminal import console

PROMPT = "dw> "
HISTORY_FILE = Path("~/.dw_lsp_history").expanduser()

#: REPL ``set`` names -> client setting names.
SET_NAMES = {
    "output_dir": "outputDir",
    "log_level": "logLevel",
    "workflow_dir": "workflowDir",
    "stand_in": "worker.standIns",
    "backend": "worker.backend",
    "workers": "worker.ray.workers",
    "ray_address": "worker.ray.address",
}
#: REPL ``set`` names -> attributes of :class:`Settings` (to show them).
SET_ATTRIBUTES = {
    "output_dir": "output_dir",
    "log_level": "log_level",
    "workflow_dir": "workflow_dir",
    "stand_in": "worker_stand_ins",
    "backend": "worker_backend",
    "workers": "worker_ray_workers",
    "ray_address": "worker_ray_address",
}
STAND_IN_ALIASES = {"on": "all", "true": "all", "false": "off"}  #: ``set stand_in=on`` etc.

HELP = """Commands:
  load [workflow]      load a workflow (a name in the workflow directory, or a path inside it)
  reload               re-read and re-check the current workflow
  status               show the workflow, its arguments and the worker
  run                  run the workflow (starts the worker on the first run)
  sweep name=v1,v2 ... run once per combination of the values (name='["a, b","c"]' for commas)
  arg [name=value ...] set arguments (quote values with spaces); alone: show them
  clear_args           clear all arguments
  clear                free the worker's memory (models reload on the next run)
  memory               show the worker's memory
  set [name=value]     set output_dir, log_level, workflow_dir, stand_in (on, off, missing:
                       tiny stand-in models for smoke runs), backend (local or ray), workers
                       or ray_address; alone: show them
  help                 show this help
  exit, quit           leave (shuts the worker down)
During a run, Ctrl-C cancels the run."""

T = TypeVar("T")


class Repl:
    """The command interpreter; ``out`` receives everything it prints."""

    def __init__(self, settings: Settings, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.loop = asyncio.new_event_loop()
        self.session = Session(settings, notify=self.say, log=self._log)
        self.bar = console.ProgressBar(out)
        self.done = False
        self._tasks: set[asyncio.Task[bool]] = set()
        self._commands: dict[str, Callable[[list[str]], None]] = {
            "load": self.do_load,
            "reload": self.do_reload,
            "status": self.do_status,
            "run": self.do_run,
            "sweep": self.do_sweep,
            "arg": self.do_arg,
            "clear_args": self.do_clear_args,
            "clear": self.do_clear,
            "memory": self.do_memory,
            "set": self.do_set,
            "help": self.do_help,
            "exit": self.do_exit,
            "quit": self.do_exit,
        }

    # -- output ----------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.bar.finish()
        print(message, file=self.out, flush=True)

    def _log(self, level: int, message: str) -> None:
        threshold = logging.getLevelNamesMapping().get(self.session.settings.log_level, 30)
        if level >= threshold:
            self.say(f"[{logging.getLevelName(level).lower()}] {message}")

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    # -- dispatch --------------------------------------------------------------------

    def onecmd(self, line: str) -> None:
        """Run one input line; errors are printed, never raised."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.say(f"Error: {exc} (check the quotes)")
            return
        if not words:
            return
        name, *rest = words
        command = self._commands.get(name)
        if command is None:
            self.say(f"Error: unknown command '{name}'. Type 'help' for the commands.")
            return
        try:
            command(rest)
        except InputError as exc:
            self.say(f"Error: {exc}")
        except WorkerError as exc:
            self.say(f"Error: {exc}")

    # -- workflows -------------------------------------------------------------------

    def do_load(self, args: list[str]) -> None:
        if len(args) != 1:
            names = sorted(p.stem for p in self.session.workflow_dir.glob("*.json"))
            self.say("Usage: load WORKFLOW")
            if names:
                self.say(f"Workflows in {self.session.workflow_dir}: {', '.join(names)}")
            return
        path = find_workflow(args[0], self.session.workflow_dir)
        workflow = self.session.load(path)
        self.say(f"Loaded workflow: {workflow.name}")
        self._validated(len(workflow.warnings))

    def do_reload(self, args: list[str]) -> None:
        workflow = self.session.reload()
        self.say(f"Reloaded workflow: {workflow.name}")
        self._validated(len(workflow.warnings))

    def _validated(self, warnings: int) -> None:
        suffix = f" ({warnings} warning(s))" if warnings else ""
        self.say(f"Workflow validated successfully{suffix}")

    def do_status(self, args: list[str]) -> None:
        status = self.session.status()
        if status.workflow is None:
            self.say("No workflow loaded")
        else:
            self.say(f"Workflow: {status.name} ({status.workflow})")
            shown = ", ".join(f"{k}={v}" for k, v in status.arguments.items()) or "(none)"
            self.say(f"Arguments: {shown}")
        if status.pool is None:
            pid = f" (pid {status.worker_pid})" if status.worker_pid else ""
            self.say(f"Worker: {status.worker_state}{pid}")
        else:
            for line in console.pool_lines(status.pool):
                self.say(line)
        self.say(f"Output directory: {status.output_dir}")

    # -- running ---------------------------------------------------------------------

    def do_run(self, args: list[str]) -> None:
        if args:
            raise InputError("run takes no arguments; set them with arg name=value.")
        if self.session.current is None:
            raise InputError("No workflow loaded (use load first).")
        with self._sigint_cancels():
            report = self._await(self.session.run(on_progress=self.bar.update))
        self.bar.finish()
        if report.status != protocol.OK:
            for line in console.error_lines(report):
                self.say(line)
            return
        for output in report.outputs:
            self.say(f"Output: {output}")
        for line in console.stand_in_lines(report):
            self.say(line)
        self.say(f"Timings: {console.timing_line(report)}")
        self.say(console.cache_line(report))
        for warning in report.warnings:
            self.say(f"Warning: {warning}")
        if report.memory is not None:
            self.say("")
            for line in console.memory_lines(report.memory):
                self.say(line)
            self.say("")
        self.say("Workflow completed successfully")
        self.say(f"(Workflow has been executed {report.runs} time(s) in this session)")

    def do_sweep(self, args: list[str]) -> None:
        if not args:
            raise InputError("Usage: sweep name=v1,v2 [name=v1,v2 ...]")
        if self.session.current is None:
            raise InputError("No workflow loaded (use load first).")
        grid = merge_sweeps(args)
        with self._sigint_cancels():
            sweep = self._await(self.session.run_sweep(grid, on_progress=self.bar.update))
        self.bar.finish()
        if sweep.refused:
            raise InputError(sweep.error or "the sweep was refused")
        for run in sweep.runs:
            values = " ".join(f"{k}={v}" for k, v in run.arguments.items())
            worker = f" on worker {run.report.worker}" if run.report.worker else ""
            self.say(f"Run {run.index}/{sweep.total} ({values}){worker}: {run.report.status}")
            for output in run.report.outputs:
                self.say(f"  Output: {output}")
            if run.report.status == protocol.ERROR:
                for line in console.error_lines(run.report, traceback=False):
                    self.say(f"  {line}")
        self.say(
            f"Sweep {sweep.status}: {sweep.done}/{sweep.total} runs ok in {sweep.seconds:.1f} s"
        )
        self.say(f"Results: {sweep.folder}")

    @contextlib.contextmanager
    def _sigint_cancels(self) -> Any:
        """While a run is awaited, Ctrl-C cancels it instead of raising KeyboardInterrupt."""

        def on_sigint() -> None:
            self.say("Cancelling the run...")
            task = self.loop.create_task(self.session.cancel())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            self.loop.add_signal_handler(signal.SIGINT, on_sigint)
            installed = True
        except (NotImplementedError, RuntimeError, ValueError):
            installed = False  # not the main thread, or no signals here
        try:
            yield
        finally:
            if installed:
                self.loop.remove_signal_handler(signal.SIGINT)

    # -- arguments -------------------------------------------------------------------

    def do_arg(self, args: list[str]) -> None:
        if args[:1] == ["set"]:
            args = args[1:]
        if not args or args == ["show"]:
            shown = self.session.arguments()
            if not shown:
                self.say("No arguments set")
            for key, value in shown.items():
                self.say(f"  {key}={value}")
            return
        pairs = dict(parse_assignment(a) for a in args)
        self.session.set_arguments(pairs)
        for key, value in pairs.items():
            self.say(f"Set argument {key}={value}")

    def do_clear_args(self, args: list[str]) -> None:
        self.session.clear_arguments()
        self.say("Arguments cleared")

    # -- memory ----------------------------------------------------------------------

    def do_clear(self, args: list[str]) -> None:
        self.say("Clearing GPU memory...")
        status = self._await(self.session.clear())
        if status is None:
            self.say("Worker not running: nothing to clear")
            return
        for line in console.memory_lines(status):
            self.say(line)
        self.say("GPU memory cleared successfully")

    def do_memory(self, args: list[str]) -> None:
        figures = self._await(self.session.memory_by_worker())
        for worker, status in figures:
            if worker:
                self.say(f"Worker {worker}:")
            for line in console.memory_lines(status):
                self.say(line)

    # -- settings and the rest -------------------------------------------------------

    def do_set(self, args: list[str]) -> None:
        if not args:
            for name, attribute in SET_ATTRIBUTES.items():
                self.say(f"  {name}={getattr(self.session.settings, attribute)}")
            return
        for arg in args:
            name, sep, value = arg.partition("=")
            if not sep:
                raise InputError(f"Expected name=value, got {arg!r}.")
            if name not in SET_NAMES:
                raise InputError(f"Unknown setting '{name}' (use {', '.join(SET_NAMES)}).")
            if name == "workflow_dir" and not (self.session.base_dir / value).is_dir():
                raise InputError(f"{value} is not a directory.")
            converted: object = int(value) if name == "workers" and value.isdigit() else value
            if name == "stand_in":
                converted = STAND_IN_ALIASES.get(value.lower(), value.lower())
            self.session.configure(SET_NAMES[name], converted)
            self.say(f"Set {name}={getattr(self.session.settings, SET_ATTRIBUTES[name])}")

    def do_help(self, args: list[str]) -> None:
        self.say(HELP)

    def do_exit(self, args: list[str]) -> None:
        self.say("Shutting down worker...")
        self._await(self.session.shutdown())
        self.say("Goodbye")
        self.done = True

    def close(self) -> None:
        if not self.done:
            self._await(self.session.shutdown())
        self.loop.close()


def _setup_readline() -> Callable[[], None]:
    """Enable line editing and history if readline exists; returns the saver."""
    try:
        import readline
    except ImportError:
        return lambda: None
    with contextlib.suppress(OSError):
        readline.read_history_file(HISTORY_FILE)
    readline.set_history_length(1000)

    def save() -> None:
        with contextlib.suppress(OSError):
            readline.write_history_file(HISTORY_FILE)

    return save


def default_settings(args: argparse.Namespace) -> Settings:
    """Settings from the command line. The workflow directory defaults to ``./workflows``
    when it exists, else the current directory; the log level to WARNING (the seed's
    messages are printed whatever the level; the level governs extra log lines)."""
    workflow_dir = args.workflow_dir or ("workflows" if Path("workflows").is_dir() else ".")
    options: dict[str, Any] = {"workflowDir": workflow_dir, "logLevel": "WARNING"}
    if args.output_dir:
        options["outputDir"] = args.output_dir
    if args.log_level:
        options["logLevel"] = args.log_level
    settings, messages = parse_settings(options)
    if messages:
        raise InputError("; ".join(messages))
    return settings


def main(args: argparse.Namespace) -> int:
    try:
        settings = default_settings(args)
    except InputError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    repl = Repl(settings)
    save_history = _setup_readline()
    repl.say("dw-lsp REPL. Type 'help' for the commands.")
    try:
        while not repl.done:
            try:
                line = input(PROMPT)
            except KeyboardInterrupt:
                print(file=repl.out)
                continue
            except EOFError:
                print(file=repl.out)
                repl.do_exit([])
                break
            repl.onecmd(line)
    finally:
        save_history()
        repl.close()
    return 0
