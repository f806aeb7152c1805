"""Edit fuzzing through a real LSP round trip: the server's copy of a document never drifts.

Each sequence opens a real workflow (the project's ``workflows/`` and the sample corpus) and
sends random incremental ``didChange`` edits drawn from the whole character set: JSON
punctuation, line breaks of every kind (LF, CRLF, CR, and the characters that only
``str.splitlines`` treats as breaks: U+2028, U+2029, U+0085, form feed, vertical tab,
\\x1c-\\x1e), emoji, CJK, a BOM, NUL, ``\\ud800``-style escapes in the text and, where the
client speaks UTF-16 like VS Code, raw lone surrogates (JSON carries them as ``\\u``
escapes); some messages hold several changes, a few replace the whole text. The client keeps
its own copy of the text and converts offsets with its own code (nothing from the server).

Invariants, per sequence: every published (or pulled) diagnostic lies inside the text of
the version it was published for; after the last edit the diagnostics equal a fresh check
of the client's final text; no request waits more than :data:`MAX_WAIT_S`; the server
neither dies nor logs an error. A request's wait is measured as the CPU time the server
spends while the client waits (from ``/proc``; wall time where there is no ``/proc``): on
the shared two-core machine that runs the suite, other processes' load would otherwise
decide the result. The slowest wall time is printed too.

Sessions alternate between a push client speaking UTF-16 (VS Code's capabilities) and a
pull client speaking UTF-8 (Neovim's), several documents edited at once in each.
Deterministic (seeded); the counts go to the reliability tally (suite ``lsp: edit fuzz``).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.problem import Problem, capped

SUITE = "lsp: edit fuzz"
SEED = 162028
SEQUENCES = 1_000
SESSIONS = 8
LANES = 4
# A request unanswered this long (wall clock) is a hang. Generous: at load 20 on 2 cores a
# normal request can wait seconds for the CPU; the CPU-time figures are what the tally reports.
HANG_S = 60.0
MAX_WAIT_S = 1.0
#: Debounce of the push sessions: short, so that pauses between bursts publish too.
DEBOUNCE_MS = 15

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"

ODD_BREAKS = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"]
BREAKS = ["\n", "\r\n", "\r"]
WIDE = ["😀", "🐱", "é", "中", "\ufeff", "\u200f", "\u202e", "\x00", "\x7f", "\t"]
ESCAPES = ["\\ud800", "\\uDFAA", "\\udbff\\udfff", "\\ud83d\\ude00", "\\u2028", "\\n"]
LONE = ["\ud800", "\udfaa", "\udbff"]
STRUCTURE = list('{}[]":,') + ['"', '"', " ", " ", "  "]
WORDS = ["name", "steps", "task", "variables", "true", "null", "1.5", "-", "prompt", "x"]
_BREAK = re.compile(r"\r\n|\r|\n")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def seeds() -> list[tuple[str, str]]:
    """(name, text) of every seed workflow; the corpus must be there in CI."""
    files = sorted((REPO / "workflows").glob("*.json"))
    corpus = sorted(CORPUS.rglob("*.json"))
    if not corpus and os.environ.get("CI") == "true":
        pytest.fail(f"the sample corpus is missing ({CORPUS}); CI must have it")
    return [(p.name, p.read_text(encoding="utf-8")) for p in files + corpus]


# -- the client's own view of positions --------------------------------------------------
def units(s: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(s.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


class Lines:
    """LSP lines of a text (only LF, CRLF and CR end a line), computed by the client."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in _BREAK.finditer(text)]
        ends = [m.start() for m in _BREAK.finditer(text)] + [len(text)]
        self.ends = ends

    def position(self, offset: int, encoding: str) -> types.Position:
        line = bisect.bisect_right(self.starts, offset) - 1
        return types.Position(line, units(self.text[self.starts[line] : offset], encoding))

    def inside(self, pos: types.Position, encoding: str) -> bool:
        if pos.line < 0 or pos.line >= len(self.starts):
            return False
        body = self.text[self.starts[pos.line] : self.ends[pos.line]]
        return 0 <= pos.character <= units(body, encoding)


def join_pairs(text: str) -> str:
    """A UTF-16 editor's view: a high surrogate next to a low one is one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


# -- random edits ---------------------------------------------------------------------------
def piece(rng: random.Random, lone: bool) -> str:
    pools: list[list[str]] = [STRUCTURE, WORDS, BREAKS, ODD_BREAKS, WIDE, ESCAPES]
    if lone:
        pools.append(LONE)
    pool = rng.choice(pools)
    if pool is WORDS and rng.random() < 0.5:
        return chr(rng.randrange(0x21, 0x7F))
    return rng.choice(pool)


def insertion(rng: random.Random, text: str, lone: bool) -> str:
    roll = rng.random()
    if roll < 0.25:
        return ""
    if roll < 0.6:
        return piece(rng, lone)
    if roll < 0.8:
        return "".join(piece(rng, lone) for _ in range(rng.randint(2, 12)))
    if roll < 0.92 and text:  # a paste of the document's own text
        start = rng.randrange(len(text))
        return text[start : start + rng.randint(1, 120)]
    inner = "".join(piece(rng, lone) for _ in range(rng.randint(0, 4)))
    return f'"{rng.choice(WORDS)}{inner}": "{inner}",' + rng.choice(BREAKS)


def boundary(text: str, offset: int) -> int:
    """Never inside a CRLF (no LSP position names that place)."""
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        return offset - 1
    return offset


def random_range(rng: random.Random, text: str) -> tuple[int, int]:
    start = boundary(text, rng.randint(0, len(text)))
    roll = rng.random()
    length = 0 if roll < 0.45 else rng.randint(1, 6) if roll < 0.85 else rng.randint(1, 200)
    return start, boundary(text, min(len(text), start + length))


# -- the client ------------------------------------------------------------------------------
@dataclass
class Record:
    uri: str
    version: int | None
    diagnostics: list[types.Diagnostic]


@dataclass
class Stats:
    sequences: int = 0
    edits: int = 0
    published: int = 0
    out_of_range: int = 0
    mismatched: int = 0
    slow: int = 0
    slowest_s: float = 0.0
    slowest_wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    client.records = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.records.append(Record(params.uri, params.version, params.diagnostics))  # type: ignore[attr-defined]

    def accept_registration(client: LanguageClient, params: types.RegistrationParams) -> None:
        """Real editors accept client/registerCapability."""

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features[types.CLIENT_REGISTER_CAPABILITY] = accept_registration
    register_lsp_features(client, features)
    return client


async def collect_stderr(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode("utf-8", "replace").rstrip())


class Buffer:
    """One open document as the client sees it: every version's text."""

    def __init__(self, client: LanguageClient, uri: str, text: str, encoding: str) -> None:
        self.client, self.uri, self.encoding = client, uri, encoding
        self.version = 1
        self.text = text
        self.texts: dict[int, str] = {1: text}
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="json", version=1, text=text
                )
            )
        )

    def send(self, changes: list[tuple[int, int, str] | str]) -> None:
        """Apply ``changes`` in order (a str replaces the text) and send them in one
        message, each range computed against the text the previous change left."""
        events: list[types.TextDocumentContentChangeEvent] = []
        text = self.text
        for change in changes:
            if isinstance(change, str):
                events.append(types.TextDocumentContentChangeWholeDocument(text=change))
                text = change
                continue
            start, end, new = change
            lines = Lines(text)
            rng = types.Range(
                start=lines.position(start, self.encoding), end=lines.position(end, self.encoding)
            )
            events.append(types.TextDocumentContentChangePartial(range=rng, text=new))
            text = text[:start] + new + text[end:]
            if self.encoding == "utf-16":
                text = join_pairs(text)
        self.version += 1
        self.text = text
        self.texts[self.version] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=events,
            )
        )

    def random_changes(self, rng: random.Random) -> list[tuple[int, int, str] | str]:
        lone = self.encoding == "utf-16"
        if rng.random() < 0.02:
            start, end = random_range(rng, self.text)
            return [self.text[:start] + insertion(rng, self.text, lone) + self.text[end:]]
        out: list[tuple[int, int, str] | str] = []
        text = self.text
        for _ in range(1 if rng.random() < 0.8 else rng.randint(2, 3)):
            start, end = random_range(rng, text)
            new = insertion(rng, text, lone)
            out.append((start, end, new))
            text = text[:start] + new + text[end:]
            if lone:
                text = join_pairs(text)
        return out


def fresh_check(path: Path, text: str) -> list[Problem]:
    doc = parse(text)
    return capped(check_document(doc, CheckContext(path=path, open_documents={path: text})))


def expected(path: Path, text: str, encoding: str) -> list[tuple[Any, ...]]:
    lines = Lines(text)
    return [
        (
            p.code,
            p.message,
            int(p.severity),
            lines.position(p.start, encoding),
            lines.position(p.end, encoding),
        )
        for p in fresh_check(path, text)
    ]


def got(diagnostics: list[types.Diagnostic]) -> list[tuple[Any, ...]]:
    return [
        (d.code, d.message, int(d.severity or 0), d.range.start, d.range.end) for d in diagnostics
    ]


def count_outside(diagnostics: list[types.Diagnostic], text: str, encoding: str) -> int:
    lines = Lines(text)
    bad = 0
    for d in diagnostics:
        start, end = d.range.start, d.range.end
        ordered = (start.line, start.character) <= (end.line, end.character)
        if not (ordered and lines.inside(start, encoding) and lines.inside(end, encoding)):
            bad += 1
    return bad


# -- one session -----------------------------------------------------------------------------
class Session:
    def __init__(self, client: LanguageClient, root: Path, pull: bool, encoding: str) -> None:
        self.client, self.root, self.pull, self.encoding = client, root, pull, encoding
        self.stats = Stats()
        server = client._server
        self.stat = Path(f"/proc/{server.pid if server else 0}/stat")

    async def timed(self, request: Any) -> Any:
        began, cpu = time.perf_counter(), self.server_cpu()
        result = await asyncio.wait_for(request, HANG_S)
        wall = time.perf_counter() - began
        waited = wall if cpu is None else (self.server_cpu() or 0.0) - cpu
        self.stats.slowest_s = max(self.stats.slowest_s, waited)
        self.stats.slowest_wall_s = max(self.stats.slowest_wall_s, wall)
        if waited > MAX_WAIT_S:
            self.stats.slow += 1
        return result

    def server_cpu(self) -> float | None:
        """The server process's CPU time so far (user + system), or None."""
        try:
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    async def pull_items(self, buffer: Buffer) -> list[types.Diagnostic]:
        report = await self.timed(
            self.client.text_document_diagnostic_async(
                types.DocumentDiagnosticParams(
                    text_document=types.TextDocumentIdentifier(uri=buffer.uri)
                )
            )
        )
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        return list(report.items)

    async def probe(self, buffer: Buffer) -> int:
        """A request mid-sequence: its answer must fit the current text, and come fast."""
        if self.pull:
            items = await self.pull_items(buffer)
            self.stats.published += 1
            return count_outside(items, buffer.text, self.encoding)
        else:
            await self.timed(
                self.client.text_document_document_symbol_async(
                    types.DocumentSymbolParams(
                        text_document=types.TextDocumentIdentifier(uri=buffer.uri)
                    )
                )
            )
        return 0

    async def sequence(self, rng: random.Random, n: int, name: str, seed: str) -> str | None:
        """One edit sequence; the reason it failed, or None."""
        path = self.root / "workflows" / f"s{n}" / name
        uri = path.as_uri()
        buffer = Buffer(self.client, uri, seed, self.encoding)
        edits = rng.randint(5, 40)
        probe_at = rng.randrange(edits)
        outside = 0
        for i in range(edits):
            buffer.send(buffer.random_changes(rng))
            if i == probe_at:
                outside += await self.probe(buffer)
            roll = rng.random()
            await asyncio.sleep(0 if roll < 0.8 else rng.uniform(0.005, 0.04))
        self.stats.edits += edits
        if self.pull:
            final = await self.pull_items(buffer)
            outside += count_outside(final, buffer.text, self.encoding)
        else:
            records: list[Record] = self.client.records  # type: ignore[attr-defined]

            def last() -> Record | None:
                for r in reversed(records):
                    if r.uri == uri and r.version == buffer.version:
                        return r
                return None

            deadline = time.monotonic() + 10
            while last() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            found = last()
            if found is None:
                return f"s{n} {name}: no diagnostics published for the last version"
            final = found.diagnostics
            for r in records:
                if r.uri == uri and r.version is not None:
                    self.stats.published += 1
                    text = buffer.texts.get(r.version)
                    if text is None:
                        return f"s{n} {name}: published for unknown version {r.version}"
                    outside += count_outside(r.diagnostics, text, self.encoding)
            outside += await self.probe(buffer)
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        self.stats.out_of_range += outside
        reasons = [f"{outside} positions out of range"] if outside else []
        try:
            want = expected(path, buffer.text, self.encoding)
        except Exception as exc:
            reasons.append(f"a fresh check of the final text crashed: {exc!r}")
        else:
            if got(final) != want:
                self.stats.mismatched += 1
                reasons.append("final diagnostics differ from a fresh check")
        return f"s{n} {name}: {'; '.join(reasons)}" if reasons else None


async def run_session(index: int, root: Path) -> tuple[Stats, list[str]]:
    pull = index % 2 == 1
    profile = "neovim@v0.11.0" if pull else "visual-studio-code"
    client = make_client()
    await client.start_io(sys.executable, "-m", "dw_lsp")
    stderr: list[str] = []
    if client._stderr_forwarder is not None:  # read the log ourselves, to count errors
        client._stderr_forwarder.cancel()
    assert client._server is not None and client._server.stderr is not None
    reader = asyncio.ensure_future(collect_stderr(client._server.stderr, stderr))
    (root / "workflows").mkdir(parents=True)
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(profile),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
            initialization_options={
                "worker": {"prewarm": False},
                "diagnostics": {"debounceMs": DEBOUNCE_MS},
            },
        )
    )
    negotiated = result.capabilities.position_encoding or "utf-16"
    encoding = str(getattr(negotiated, "value", negotiated))
    assert encoding == ("utf-8" if pull else "utf-16")
    session = Session(client, root, pull, encoding)
    files = seeds()
    rng = random.Random(f"{SEED}:{index}")
    per_session = SEQUENCES // SESSIONS
    jobs = [(n, *rng.choice(files)) for n in range(index * per_session, (index + 1) * per_session)]
    outcome: list[str | None] = [None] * len(jobs)

    async def lane(k: int) -> None:
        lane_rng = random.Random(f"{SEED}:{index}:{k}")
        for j in range(k, len(jobs), LANES):
            n, name, text = jobs[j]
            outcome[j] = await session.sequence(lane_rng, n, name, text)
            session.stats.sequences += 1

    await asyncio.gather(*(lane(k) for k in range(LANES)))
    alive = client._server is not None and client._server.returncode is None
    await client.shutdown_session()
    await client.stop()
    await asyncio.wait_for(reader, 5)
    failures = [f for f in outcome if f is not None]
    if not alive:
        failures.append("the server died")
    logged = [line for line in stderr if " ERROR " in line or line.startswith("Traceback")]
    failures.extend(f"server log: {line}" for line in logged[:5])
    return session.stats, failures


@pytest.mark.parametrize("index", range(SESSIONS))
async def test_edit_sequences_never_drift(index: int, tmp_path: Path, tally: Any) -> None:
    stats, failures = await run_session(index, tmp_path / "ws")
    tally.tried(SUITE, stats.sequences)
    failed_sequences = {f.split(":")[0] for f in failures if not f.startswith(("server", "the"))}
    tally.survived(SUITE, stats.sequences - len(failed_sequences))
    for why in failures:
        tally.lost(SUITE, why)
    summary = (
        f"session {index}: {stats.sequences} sequences, {stats.edits} edits, "
        f"{stats.published} diagnostic sets, {stats.out_of_range} positions out of range, "
        f"{stats.mismatched} final mismatches, {stats.slow} requests over {MAX_WAIT_S} s "
        f"(slowest {stats.slowest_s:.3f} s of server CPU, {stats.slowest_wall_s:.3f} s wall), "
        f"{len(failures)} failures"
    )
    print(summary)
    assert stats.sequences == SEQUENCES // SESSIONS
    assert not failures and stats.slow == 0, summary + "\n" + "\n".join(failures[:10])
