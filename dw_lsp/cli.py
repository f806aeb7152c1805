"""The ``dw-lsp`` command: ``serve`` (the language server, the default), ``check``,
``run`` and ``repl``. Each sub-command lives in its own module; this one only dispatches,
importing the chosen module lazily so that ``dw-lsp check`` never loads pygls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dw-lsp",
        description="Check, edit and run diffusers-workflow JSON files.",
    )
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server (default)")
    serve.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (default)")
    serve.add_argument(
        "--tcp", action="store_true", help="listen on a TCP port instead (loopback only)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="a loopback address (TCP)")
    serve.add_argument("--port", type=int, default=2087, help="TCP port (0: any free one)")
    serve.add_argument(
        "--token",
        default=None,
        help="the token TCP clients must send (default: $DW_LSP_TOKEN, else a random one, "
        "printed on stderr)",
    )
    serve.add_argument("--log-level", default="INFO")

    check = sub.add_parser("check", help="check workflow files or folders")
    check.add_argument("paths", nargs="+", help="files or folders (folders: every *.json)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--allowed-module",
        action="append",
        default=[],
        help="extra module prefix the worker may import (like worker.allowedModules)",
    )
    check.add_argument(
        "--allow-remote-code",
        action="store_true",
        help="do not report trust_remote_code, custom_pipeline, ... (like worker.allowRemoteCode)",
    )

    run = sub.add_parser("run", help="run a workflow in a worker and print the outputs")
    run.add_argument("file", help="the workflow file")
    run.add_argument("assignments", nargs="*", metavar="name=value", help="variable values")
    run.add_argument("--output-dir", default=None, help="where results are written")
    run.add_argument("--timeout", type=float, default=None, help="seconds without progress")
    run.add_argument("--repeat", type=int, default=1, help="run N times in one warm worker")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--stand-in",
        dest="stand_in",
        action="store_const",
        const="all",
        default=None,
        help="smoke run: tiny random stand-ins for every model, outputs in OUTPUT_DIR/stand-in",
    )
    run.add_argument(
        "--stand-in-missing",
        dest="stand_in",
        action="store_const",
        const="missing",
        help="stand in only for models not found locally or in the Hugging Face cache",
    )
    run.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="name=v1,v2",
        help="run once per combination of these values (repeatable: cartesian product)",
    )
    run.add_argument(
        "--backend", choices=("local", "ray"), default=None, help="like worker.backend"
    )
    run.add_argument("--workers", type=int, default=None, help="Ray workers (worker.ray.workers)")
    run.add_argument("--ray-address", default=None, help="like worker.ray.address")
    run.add_argument(
        "--allow-remote-code",
        action="store_true",
        help="let trust_remote_code, custom_pipeline, ... run model code (worker.allowRemoteCode)",
    )
    run.add_argument(
        "--allowed-module",
        action="append",
        default=[],
        help="extra module prefix the worker may import (like worker.allowedModules)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything the worker checks before loading, load nothing; exit 0 or 1",
    )

    repl = sub.add_parser("repl", help="the interactive shell (load, arg, run, memory, ...)")
    repl.add_argument("--workflow-dir", default=None)
    repl.add_argument("--output-dir", default=None)
    repl.add_argument("--log-level", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # ``run F --repeat 2 prompt=x``: argparse stops collecting name=value pairs at the
        # first option, so the later ones arrive here.
        if args.command == "run" and all("=" in e and not e.startswith("-") for e in extra):
            args.assignments = [*args.assignments, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    command = args.command or "serve"
    if command == "check":
        from dw_lsp.terminal.checkcmd import main as check_main

        return check_main(args)
    if command == "run":
        from dw_lsp.terminal.runcmd import main as run_main

        return run_main(args)
    if command == "repl":
        from dw_lsp.terminal.repl import main as repl_main

        return repl_main(args)
    from dw_lsp.server.app import serve

    if args.command is None:
        args = build_parser().parse_args(["serve"])
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
