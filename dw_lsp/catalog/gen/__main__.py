"""Generates the pipeline catalog (:mod:`dw_lsp.catalog`) from the installed diffusers.

``python -m dw_lsp.catalog.gen [--check] [--output DIR]`` writes two JSON files:

* ``diffusers.json`` (:mod:`.catalog_classes`): every public name of the ``diffusers`` top
  level, with its kind, module, docstring summary and, for classes, the parameters a
  workflow fills, each with its default, a short annotation and its docstring entry
  (worded by :mod:`.catalog_text`).
* ``diffusers_modules.json`` (:mod:`.catalog_source`): for every module of the installed
  diffusers package, the public names it defines or re-exports, read from the source
  (nothing is imported), so that dotted type names can be checked.

The output is deterministic (sorted keys, fixed formatting, no addresses in reprs: see
:mod:`.catalog_format`), so the checked-in files diff cleanly and ``--check`` (used by the
test suite) can tell when they are stale for the installed diffusers. This module owns only
the command line. Lives in the worker layer because it imports diffusers; never imports the
session, the server or LSP types.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dw_lsp.catalog.gen.classes import build_classes
from dw_lsp.catalog.gen.layout import CLASSES_FILE, MODULES_FILE, dumps, stale
from dw_lsp.catalog.gen.modules import build_modules

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dw_lsp.catalog.gen")
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    classes, counts, failed = build_classes()
    modules = build_modules()
    outputs = {CLASSES_FILE: dumps(classes, "classes"), MODULES_FILE: dumps(modules, "modules")}
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    print(
        f"catalog: diffusers {classes['diffusers_version']}: {summary}; "
        f"{len(modules['modules'])} modules; {len(failed)} failed; {elapsed:.1f} s",
        file=sys.stderr,
    )
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)

    if args.check:
        problems = [p for n, text in outputs.items() if (p := stale(args.output / n, text))]
        for problem in problems:
            print(f"stale catalog: {problem}", file=sys.stderr)
        if problems:
            print(
                "Regenerate it with: python -m dw_lsp.catalog.gen (and commit the files)",
                file=sys.stderr,
            )
            return 1
        print("catalog is up to date", file=sys.stderr)
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in outputs.items():
        (args.output / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
