"""Document sync and diagnostics through the LSP where they used to go wrong: an edit on a
line holding a character that ``str.splitlines`` breaks at (the server's copy drifted from
the editor's), a lone surrogate (it turned off every semantic check), and 50,000 stray emoji
(minutes of a blocked server, one diagnostic each)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from dwtest_lsp import doc_id, open_document, published, utf16_position
from lsprotocol import types
from pytest_lsp import LanguageClient

from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse

FLOW = (
    '{"id": "t", "variables": {"p": "a%sb"},, "steps": [{"name": "a", "task": '
    '{"command": "qr_code", "arguments": {"qr_code_contents": "variable:p"}}}]}'
)


async def test_an_edit_after_an_odd_line_break_lands_where_the_editor_put_it(
    vscode: LanguageClient, workspace: Path
):
    for n, brk in enumerate(["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1e"]):
        text = FLOW % brk
        uri = open_document(vscode, workspace / f"flow{n}.json", text)
        first = await published(vscode, uri, version=1)
        assert "Unexpected comma." in {d.message for d in first.diagnostics}
        comma = text.index(",,")
        start, end = utf16_position(text, comma), utf16_position(text, comma + 1)
        vscode.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=start, end=end), text=""
                    )
                ],
            )
        )
        after = await published(vscode, uri, version=2)
        final = text[:comma] + text[comma + 1 :]
        want = [
            (p.message, utf16_position(final, p.start), utf16_position(final, p.end))
            for p in check_document(parse(final), CheckContext())
        ]
        got = [(d.message, d.range.start, d.range.end) for d in after.diagnostics]
        assert got == want, repr(brk)
        assert len(want) == (0 if brk in "\u2028\u2029\x85" else 1)  # control characters


async def test_a_lone_surrogate_keeps_every_other_check(vscode: LanguageClient, workspace: Path):
    text = (
        '{"\\ud800": 0, "id": "t", "steps": [{"name": "a", "task": '
        '{"command": "nope", "arguments": {}}}]}'
    )
    uri = open_document(vscode, workspace / "lone.json", text)
    found = await published(vscode, uri, version=1)
    assert {d.code for d in found.diagnostics} == {"DW014", "DW218"}
    lone = next(d for d in found.diagnostics if d.code == "DW014")
    assert lone.range == types.Range(types.Position(0, 1), types.Position(0, 9))


def server_cpu(client: LanguageClient) -> float:
    """The server process's CPU time so far (user + system, from /proc)."""
    assert client._server is not None
    stat = Path(f"/proc/{client._server.pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize(("stray", "count"), [("😀", 1), ("😀 ", 1), ("😀\n", 1001)])
async def test_fifty_thousand_emoji_are_answered_at_once(
    vscode: LanguageClient, workspace: Path, stray: str, count: int
):
    text = '{"id": "t", "steps": [], ' + stray * 50_000 + '"x": 1}'
    began, cpu = time.perf_counter(), server_cpu(vscode)
    uri = open_document(vscode, workspace / "emoji.json", text)
    found = await published(vscode, uri, version=1)
    waited, worked = time.perf_counter() - began, server_cpu(vscode) - cpu
    assert len(found.diagnostics) == count
    last = found.diagnostics[-1]
    if count > 1:  # one per line, capped: 1,000 and one that counts the rest
        assert last.code == "DW015" and last.data == {"hidden": 49_000}
    else:  # one run, one diagnostic, its end in UTF-16 units
        run = (stray * 50_000).rstrip()
        assert last.range.end == types.Position(0, 25 + len(run.encode("utf-16-le")) // 2)
    hover = await asyncio.wait_for(
        vscode.text_document_hover_async(
            types.HoverParams(text_document=doc_id(uri), position=types.Position(0, 3))
        ),
        5,
    )
    assert hover is not None
    print(f"{stray!r} x 50,000: diagnostics after {waited:.3f} s, {worked:.3f} s of server CPU")
    # The server's own time (the shared test machine's load decides the wall time).
    assert worked < 1.0, f"the server worked {worked:.2f} s for these diagnostics"
