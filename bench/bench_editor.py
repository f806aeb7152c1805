"""Benchmark: editor latency through the LSP, ours against Microsoft's JSON language server.

What a user meets: the time from the editor's message to the server's answer, measured
over stdio by a small client (:mod:`lsp_client`) for two servers given the same documents:
ours (``python -m dw_lsp``) and ``vscode-json-language-server`` (npm package
``vscode-langservers-extracted``, pinned, installed on demand into ``.dw-cache/bench-node``)
configured as VS Code configures it (validation on, ``resultLimit`` 5000) and given OUR
schema (``schemas/workflow.schema.json``) through ``json/schemaAssociations``. Before
timing, both must report a schema error on a broken workflow, or the comparison would be
meaningless.

Documents: the shipped ``workflows/tiny-pipeline-tour.json`` (about 2 KB) and the
deterministic workflows of ``bench_check.build_workflow`` (about 220 KB and 1.1 MB). An
edit is one typed character (incremental ``didChange``) at the end of a prompt near the
middle of the document, so the JSON stays valid. Both servers declare pull diagnostics.
Timed, alternating between the servers request by request (the machine is small and
shared), medians of many repetitions after warm-up rounds:

* ``textDocument/diagnostic`` right after an edit, at every size;
* completion, hover and documentSymbol on the 1.1 MB document, right after an edit and
  again with the document unchanged; completion and hover on an argument key
  (``"guid|ance_scale"``) of the step being edited, which only ours knows (the schema
  leaves arguments open), and on a key of its configuration (``"off|load"``), which both
  answer from the schema. Their documentSymbol stops at 5000 symbols, as in VS Code.

"After an edit" runs from the first byte of the ``didChange`` to the last byte of the
answer; "unchanged" from the request to its answer. The table shows our median, theirs,
their ratio, the median of the per-round ratios ("paired", steadier when the load
drifts) and the targets of issue 11 (diagnostics at most 0.5x theirs; on 1.1 MB,
completion, hover and documentSymbol at most 50 ms after an edit and 5 ms unchanged).

``bench/profile_editor.py`` profiles our server under the same load.

Run: ``.venv/bin/python bench/bench_editor.py [--quick]``
Needs Node 20+ and npm (the first run installs the JSON server, about 100 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_check import build_workflow, with_errors
from lsp_client import LspClient

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "workflow.schema.json"
NODE_DIR = REPO / ".dw-cache" / "bench-node"
LOG_DIR = REPO / ".dw-cache" / "bench-editor"  # the servers' stderr, kept for a post-mortem
JSON_PACKAGE = "vscode-langservers-extracted"
JSON_VERSION = "4.10.0"
JSON_BIN = NODE_DIR / "node_modules" / JSON_PACKAGE / "bin" / "vscode-json-language-server"
TYPED = "abcdefghijklmnopqrstuvwxyz"
ARGUMENT_KEY = '"guidance_scale"'
SCHEMA_KEY = '"offload"'
BIG = "1.1 MB"

#: What a VS Code-like client declares (pull diagnostics, snippets, markdown, hierarchy).
CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "textDocument": {
        "synchronization": {"didSave": True},
        "diagnostic": {"dynamicRegistration": False, "relatedDocumentSupport": False},
        "completion": {
            "completionItem": {"snippetSupport": True, "documentationFormat": ["markdown"]},
            "contextSupport": True,
        },
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "documentSymbol": {"hierarchicalDocumentSymbolSupport": True},
    },
    "workspace": {"configuration": False, "workspaceFolders": True},
}

#: The JSON server's settings, as VS Code sends them (json.maxItemsComputed = 5000).
JSON_SETTINGS = {"json": {"validate": {"enable": True}, "resultLimit": 5000}}


@dataclass
class Workload:
    """One document and where the editor types and points in it (line, UTF-16 column)."""

    label: str
    name: str
    text: str
    edit_at: tuple[int, int]
    probes: dict[str, tuple[int, int]]


@dataclass
class Editor:
    """One server with one open document, driven as an editor drives it."""

    client: LspClient
    uri: str = ""
    version: int = 0
    typed: int = 0
    edit_at: tuple[int, int] = (0, 0)
    #: A short account of the last answer (see :func:`_describe`).
    answer: str = ""

    async def open(self, uri: str, work: Workload) -> None:
        self.uri, self.version, self.typed, self.edit_at = uri, 1, 0, work.edit_at
        item = {"uri": uri, "languageId": "json", "version": 1, "text": work.text}
        await self.client.notify("textDocument/didOpen", {"textDocument": item})

    async def close(self) -> None:
        await self.client.notify("textDocument/didClose", {"textDocument": {"uri": self.uri}})

    def keystroke(self) -> tuple[str, Any]:
        """The ``didChange`` of typing the next character at the edit point."""
        line, col = self.edit_at
        pos = {"line": line, "character": col + self.typed}
        char = TYPED[self.typed % len(TYPED)]
        self.typed += 1
        self.version += 1
        change = {"range": {"start": pos, "end": pos}, "text": char}
        params = {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [change],
        }
        return "textDocument/didChange", params


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, UTF-16 column) of ``offset`` in ``text``."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, len(text[start:offset].encode("utf-16-le")) // 2


def workload(label: str, name: str, text: str, with_probes: bool) -> Workload:
    """Type at the end of a literal prompt near the middle; with ``with_probes``, point at
    an argument key of that step (``"guid|ance_scale"``, ours alone knows it: the schema
    leaves arguments open) and at a key of its configuration (``"off|load"``, in the
    schema, so both servers answer)."""
    probes: dict[str, int] = {}
    if with_probes:
        key = min(_find_all(text, ARGUMENT_KEY), key=lambda i: abs(i - len(text) // 2))
        probes["argument key"] = key + len('"guid')
        probes["schema key"] = text.rindex(SCHEMA_KEY, 0, key) + len('"off')
    ends = []
    for i in _find_all(text, '"prompt": "'):
        start = i + len('"prompt": "')
        end = text.index('"', start)
        if ":" not in text[start:end] and (not probes or end < probes["argument key"]):
            ends.append(end)
    target = probes.get("argument key", len(text) // 2)
    edit = min(ends, key=lambda i: abs(i - target))
    at = {where: position(text, offset) for where, offset in probes.items()}
    return Workload(label, name, text, position(text, edit), at)


def _find_all(text: str, needle: str) -> list[int]:
    found, i = [], text.find(needle)
    while i >= 0:
        found.append(i)
        i = text.find(needle, i + 1)
    return found


def workloads() -> list[Workload]:
    tour = (REPO / "workflows" / "tiny-pipeline-tour.json").read_text(encoding="utf-8")
    return [
        workload("2 KB", "tour.json", tour, with_probes=False),
        workload("220 KB", "bench-220k.json", build_workflow(223_000), with_probes=False),
        workload(BIG, "bench-1m.json", build_workflow(1_100_000), with_probes=True),
    ]


def prepare(work_dir: Path) -> Path:
    """The workspace: a workflows/ folder with the media file the variables name."""
    (work_dir / "workflows").mkdir()
    (work_dir / "workflows" / "input.png").write_bytes(b"")  # only its existence is checked
    return work_dir


# -- servers -------------------------------------------------------------------------------
def ensure_json_server() -> Path:
    """The pinned JSON server's launcher, installed into .dw-cache/bench-node if needed."""
    manifest = JSON_BIN.parent.parent / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text())["version"] == JSON_VERSION:
        return JSON_BIN
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        sys.exit("bench_editor needs Node.js 20+ and npm for Microsoft's JSON language server")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"installing {JSON_PACKAGE}@{JSON_VERSION} into {NODE_DIR} ...", flush=True)
    subprocess.run(
        [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent"]
        + [f"{JSON_PACKAGE}@{JSON_VERSION}"],
        check=True,
    )
    return JSON_BIN


async def started(client: LspClient, params: dict[str, Any]) -> None:
    """Start and initialize ``client``'s server; end it if that fails."""
    try:
        await client.start()
        await client.initialize(params)
    except BaseException:
        await client.close()
        raise


async def start_servers(work_dir: Path, ours_only: bool = False) -> list[Editor]:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    root = {"rootUri": work_dir.as_uri(), "processId": os.getpid()}
    root["workspaceFolders"] = [{"uri": work_dir.as_uri(), "name": "bench"}]
    ours = LspClient(
        "ours",
        [sys.executable, "-m", "dw_lsp"],
        cwd=REPO,
        stderr_path=LOG_DIR / "ours.log",
    )
    # No worker: the bench times the editor features, and a prewarm would start torch.
    options = {"worker": {"prewarm": False}}
    await started(ours, {**root, "capabilities": CAPABILITIES, "initializationOptions": options})
    if ours_only:
        return [Editor(ours)]
    try:
        theirs = await start_json_server(root)
    except BaseException:
        await ours.close()
        raise
    return [Editor(ours), Editor(theirs)]


async def start_json_server(root: dict[str, Any]) -> LspClient:
    """Microsoft's JSON server, validating with our schema as VS Code would set it up."""
    theirs = LspClient(
        "theirs",
        ["node", str(ensure_json_server()), "--stdio"],
        cwd=REPO,
        stderr_path=LOG_DIR / "theirs.log",
        settings=JSON_SETTINGS,
    )
    await started(theirs, {**root, "capabilities": CAPABILITIES, "initializationOptions": {}})
    if "diagnosticProvider" not in theirs.capabilities:
        await theirs.close()
        raise SystemExit("the JSON server does not offer pull diagnostics; compare pushes")
    await theirs.notify("workspace/didChangeConfiguration", {"settings": JSON_SETTINGS})
    # One positional parameter, the list of associations: the params are a list around it.
    association = [{"fileMatch": ["*.json"], "uri": SCHEMA.as_uri()}]
    await theirs.notify("json/schemaAssociations", [association])
    return theirs


# -- requests --------------------------------------------------------------------------------
Measure = Callable[[Editor], Awaitable[float]]


def _describe(method: str, result: Any) -> str:
    """A short account of an answer, to show both servers answered something real."""
    if result is None:
        return "null"
    if method == "textDocument/diagnostic":
        items = result.get("items", [])
        first = f" (first: {items[0]['message'].splitlines()[0][:60]!r})" if items else ""
        return f"{len(items)} diagnostics{first}"
    if method == "textDocument/completion":
        items = result.get("items", []) if isinstance(result, dict) else result
        return f"{len(items)} items"
    if method == "textDocument/hover":
        contents = result.get("contents")
        parts = contents if isinstance(contents, list) else [contents]
        text = "".join(p.get("value", "") if isinstance(p, dict) else str(p) for p in parts)
        return f"{len(text)} chars"
    if method == "textDocument/documentSymbol":

        def count(symbols: list[dict[str, Any]]) -> int:
            return sum(1 + count(s.get("children") or []) for s in symbols)

        return f"{count(result)} symbols"
    return "answered"


def request(method: str, edit: bool, probe: tuple[int, int] | None = None) -> Measure:
    async def measure(ed: Editor) -> float:
        params: dict[str, Any] = {"textDocument": {"uri": ed.uri}}
        if probe is not None:
            params["position"] = {"line": probe[0], "character": probe[1]}
        if method == "textDocument/completion":
            params["context"] = {"triggerKind": 1}
        before = [ed.keystroke()] if edit else []
        result, ms = await ed.client.timed(method, params, before)
        ed.answer = _describe(method, result)
        return ms

    return measure


@dataclass
class Results:
    """Milliseconds per (row, server), and what each server last answered per row."""

    samples: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    answered: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))


async def run_rounds(
    editors: list[Editor],
    rows: list[tuple[str, Measure]],
    reps: int,
    warmup: int,
    results: Results,
) -> None:
    """``warmup`` + ``reps`` rounds; each row runs on every server in turn (the order
    alternates between rounds)."""
    for rnd in range(-warmup, reps):
        order = editors if rnd % 2 == 0 else editors[::-1]
        for row, measure in rows:
            for ed in order:
                ms = await measure(ed)
                results.answered[row][ed.client.name] = ed.answer
                if rnd >= 0:
                    results.samples[(row, ed.client.name)].append(ms)


async def check_schema_is_used(editors: list[Editor], work_dir: Path, tour: str) -> None:
    """Both servers must find schema errors in a broken workflow, and none in the tour."""
    broken = with_errors(tour)
    (work_dir / "workflows" / "broken.json").write_text(broken, encoding="utf-8")
    uri = (work_dir / "workflows" / "broken.json").as_uri()
    for ed in editors:
        await ed.open(uri, Workload("broken", "broken.json", broken, (0, 0), {}))
        report = await ed.client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
        items = report.get("items", [])
        if not items:
            raise SystemExit(f"{ed.client.name} reports nothing on a broken workflow")
        first = items[0]["message"].splitlines()[0][:70]
        print(f"  {ed.client.name:6} broken workflow: {len(items)} diagnostics, e.g. {first!r}")
        await ed.close()


# -- the benchmark ---------------------------------------------------------------------------
def plan(quick: bool) -> tuple[dict[str, int], int, int]:
    """(diagnostic rounds per size, feature rounds on 1.1 MB, warm-up rounds)."""
    if quick:
        return {"2 KB": 10, "220 KB": 5, BIG: 3}, 3, 1
    return {"2 KB": 60, "220 KB": 40, BIG: 30}, 15, 3


FEATURES = (
    ("textDocument/completion", "completion"),
    ("textDocument/hover", "hover"),
    ("textDocument/documentSymbol", "documentSymbol"),
)


async def measure_document(
    editors: list[Editor],
    work: Workload,
    path: Path,
    rounds: tuple[int, int, int],
    results: Results,
) -> dict[str, str]:
    """Open ``work`` in both servers, time its rows, close it; returns what each server
    reported on the first pull."""
    diag_reps, feature_reps, warmup = rounds
    path.write_text(work.text, encoding="utf-8")
    first_pull = {}
    for ed in editors:
        await ed.open(path.as_uri(), work)
        await request("textDocument/diagnostic", False)(ed)  # the first check, a warm-up too
        first_pull[ed.client.name] = ed.answer
    diagnostics = request("textDocument/diagnostic", True)
    await run_rounds(
        editors, [(f"{work.label}|diagnostics after edit", diagnostics)], diag_reps, warmup, results
    )
    if work.probes:
        rows: list[tuple[str, Measure]] = []
        for method, short in FEATURES:
            where = {"": None} if short == "documentSymbol" else work.probes
            for name, probe in where.items():
                row = f"{work.label}|{short} {name}".rstrip()
                rows.append((f"{row}, after edit", request(method, True, probe)))
                rows.append((f"{row}, unchanged", request(method, False, probe)))
        await run_rounds(editors, rows, feature_reps, warmup, results)
    for ed in editors:
        await ed.close()
    return first_pull


async def benchmark(quick: bool) -> None:
    diag_reps, feature_reps, warmup = plan(quick)
    works = workloads()
    results = Results()
    first_pulls: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="dw-bench-editor-") as tmp:
        work_dir = prepare(Path(tmp))
        editors = await start_servers(work_dir)
        try:
            print("schema check:")
            await check_schema_is_used(editors, work_dir, works[0].text)
            for work in works:
                path = work_dir / "workflows" / work.name
                rounds = (diag_reps[work.label], feature_reps, warmup)
                first_pulls[work.label] = await measure_document(
                    editors, work, path, rounds, results
                )
        finally:
            for ed in editors:
                await ed.client.close()
    print("\nfirst pull on each clean document (both should report 0):")
    for label, by_server in first_pulls.items():
        print(f"  {label:7} {_both(by_server)}")
    print("\nwhat each server answered (last round):")
    for row, by_server in results.answered.items():
        print(f"  {row.replace('|', ' '):46} {_both(by_server)}")
    print_table(results.samples, diag_reps, feature_reps)


def _both(by_server: dict[str, str]) -> str:
    return ", ".join(f"{name}: {by_server[name]}" for name in ("ours", "theirs"))


def target_of(row: str) -> tuple[str, Callable[[float, float], bool]] | None:
    size, request_name = row.split("|")
    if request_name.startswith("diagnostics"):
        return "<= 0.5x theirs", lambda ours, theirs: ours <= 0.5 * theirs
    if size == BIG and request_name.endswith(", after edit"):
        return "<= 50 ms", lambda ours, theirs: ours <= 50
    if size == BIG and request_name.endswith(", unchanged"):
        return "<= 5 ms", lambda ours, theirs: ours <= 5
    return None


def print_table(
    samples: dict[tuple[str, str], list[float]], diag_reps: dict[str, int], feature_reps: int
) -> None:
    rows = list(dict.fromkeys(row for row, _ in samples))
    print(
        f"\nmedians in ms; diagnostics rounds per size {diag_reps}, feature rounds {feature_reps};"
        f" ours = python -m dw_lsp, theirs = vscode-json-language-server {JSON_VERSION};"
        "\n'paired' is the median of each round's ratio (both servers measured back to back),"
        " steadier than the ratio of medians when the machine's load drifts"
    )
    header = (
        f"{'size':7} {'request':38} {'ours':>8} {'theirs':>8} {'ours/theirs':>12}"
        f" {'paired':>7}  target"
    )
    print(header)
    print("-" * (len(header) + 22))
    for row in rows:
        mine, other = samples[(row, "ours")], samples[(row, "theirs")]
        ours, theirs = statistics.median(mine), statistics.median(other)
        paired = statistics.median(a / b for a, b in zip(mine, other, strict=True))
        size, name = row.split("|")
        target = target_of(row)
        verdict = ""
        if target is not None:
            verdict = f"{target[0]:15} {'met' if target[1](ours, theirs) else 'NOT met'}"
        print(
            f"{size:7} {name:38} {ours:8.1f} {theirs:8.1f} {ours / theirs:11.2f}x"
            f" {paired:6.2f}x  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds: a smoke run")
    options = parser.parse_args()
    asyncio.run(benchmark(options.quick))


if __name__ == "__main__":
    main()
