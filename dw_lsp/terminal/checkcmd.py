"""``dw-lsp check PATH...``: check workflow files like a compiler does.

Files are checked as given; folders contribute every ``*.json`` below them that is a
workflow by the language server's rules (:mod:`dw_lsp.workflow.detection`: our ``$schema``, the
default ``workflowFiles`` globs, or a top-level ``steps`` array; or a root array of such
objects), sorted, skipping hidden folders and ``node_modules``; the summary says how many
other JSON files were passed over. Output is one ``file:line:col: severity CODE message``
line per problem (1-based lines and code-point columns) and a summary, or with
``--format json`` a JSON list of ``{file, line, column, endLine, endColumn, severity,
code, message, data}``. Exit status: 1 when any error was found, 0 otherwise, 2 when a
path does not exist.

A file whose root is an array of workflow objects (dw's ``tests.json`` test data) is
checked element by element, each element as the workflow it is. A file that is not UTF-8
gets one clear diagnostic. Imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dw_lsp.settings import Settings
from dw_lsp.validation.check import check_workflow_file
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.detection import has_steps, is_workflow
from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.files import without_bom
from dw_lsp.workflow.problem import Problem, Severity


@dataclass(frozen=True)
class FileResult:
    path: Path
    doc: Document
    problems: list[Problem]


def main(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for p in missing:
        print(f"dw-lsp check: {p}: no such file or directory", file=sys.stderr)
    if missing:
        return 2
    allowed = tuple(args.allowed_module or ())
    remote_code = bool(getattr(args, "allow_remote_code", False))
    results: list[FileResult] = []
    skipped = 0
    for path, folder in collect_files(paths):
        result = check_file(path, allowed, remote_code)
        if folder is not None and not _is_workflow_file(result, folder):
            skipped += 1
            continue
        results.append(result)
    if args.format == "json":
        print(json.dumps([_as_json(r, p) for r in results for p in r.problems], indent=2))
    else:
        for result in results:
            for problem in result.problems:
                line, col = result.doc.lines.line_col_1based(problem.start)
                print(
                    f"{result.path}:{line}:{col}: {problem.severity.label} {problem.code} "
                    f"{problem.message}"
                )
        print(_summary(results, skipped))
    errors = any(p.severity == Severity.ERROR for r in results for p in r.problems)
    return 1 if errors else 0


def collect_files(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """The files to check, each with the folder it was found in (None: named directly)."""
    files: list[tuple[Path, Path | None]] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*.json")
                if p.is_file()
                and not any(
                    part.startswith(".") or part == "node_modules"
                    for part in p.relative_to(path).parts
                )
            )
            files.extend((p, path) for p in found)
        else:
            files.append((path, None))
    return files


def _is_workflow_file(result: FileResult, folder: Path) -> bool:
    """Whether a JSON file found in a folder is a workflow (or an array of workflows)."""
    value = result.doc.value
    if isinstance(value, list) and value and all(has_steps(v) for v in value):
        return True
    if result.doc.value is None and result.problems:
        return True  # unreadable, not UTF-8 or not JSON: say so rather than pass over it
    uri = result.path.absolute().as_uri()
    return is_workflow(uri, result.doc, Settings().workflow_files, [folder.absolute()])


def check_file(
    path: Path, allowed_modules: tuple[str, ...] = (), allow_remote_code: bool = False
) -> FileResult:
    """Read and check one file; never raises for unreadable or broken content."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        doc = parse("")
        reason = exc.strerror or str(exc)
        return FileResult(path, doc, [_file_problem(f"The file cannot be read: {reason}.", 0)])
    data = without_bom(data)  # as every reader of workflow bytes does
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        offset = len(data[: exc.start].decode("utf-8", errors="replace"))
        message = (
            f"The file is not UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start}); "
            "workflow files are JSON, which must be UTF-8. Save it as UTF-8."
        )
        return FileResult(path, parse(text), [_file_problem(message, offset)])
    ctx = CheckContext(
        path=path, allowed_modules=allowed_modules, allow_remote_code=allow_remote_code
    )
    doc = parse(text)
    return FileResult(path, doc, check_workflow_file(doc, ctx))


def _file_problem(message: str, offset: int) -> Problem:
    return Problem("DW001", Severity.ERROR, message, offset, offset + 1)


def _as_json(result: FileResult, problem: Problem) -> dict[str, Any]:
    line, column = result.doc.lines.line_col_1based(problem.start)
    end_line, end_column = result.doc.lines.line_col_1based(problem.end)
    return {
        "file": str(result.path),
        "line": line,
        "column": column,
        "endLine": end_line,
        "endColumn": end_column,
        "severity": problem.severity.label,
        "code": problem.code,
        "message": problem.message,
        "data": problem.data,
    }


def _summary(results: list[FileResult], skipped: int = 0) -> str:
    errors = sum(1 for r in results for p in r.problems if p.severity == Severity.ERROR)
    warnings = sum(1 for r in results for p in r.problems if p.severity == Severity.WARNING)
    files = len(results)
    return (
        f"{errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''}"
        + (f" ({skipped} other JSON file{'s' if skipped != 1 else ''} skipped)" if skipped else "")
    )
