"""A typing session over stdio: a new step typed key by key (with typos and backspaces,
an emoji, an edit after an emoji on another line), the JSON broken after most keystrokes.
The debounce must publish only for the final text, with exactly the diagnostics that
``check_document`` gives for it, and a completion asked mid-burst must be answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dwtest_lsp import Typist, doc_id, open_document, published, utf16_position
from lsprotocol import types
from pytest_lsp import LanguageClient
from server_samples import SAMPLE

from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse

NEW_STEP = (
    '    {"name": "up", "task": {"comand',
    "\b\b\b",
    'mand": "upscale", "arguments": {"image": "previous_result:draw", '
    '"model_name": "x 🐶", "scale": "variable:nope"}}},\n',
)


async def test_typing_session_ends_with_the_final_texts_diagnostics(
    vscode: LanguageClient, workspace: Path
):
    path = workspace / "typing.json"
    uri = open_document(vscode, path, SAMPLE)
    await published(vscode, uri, version=1)
    typist = Typist(vscode, uri, SAMPLE)
    cursor = SAMPLE.index('    {\n      "name": "caption"')
    keystrokes = 0
    completion: types.CompletionList | None = None
    for chunk in NEW_STEP:
        for ch in chunk:
            if ch == "\b":
                typist.edit(cursor - 1, cursor, "")
                cursor -= 1
            else:
                typist.edit(cursor, cursor, ch)
                cursor += 1
            keystrokes += 1
            if keystrokes == 40:  # mid-burst: the JSON is broken here
                assert parse(typist.text).problems
                result = await asyncio.wait_for(
                    vscode.text_document_completion_async(
                        types.CompletionParams(
                            text_document=doc_id(uri),
                            position=utf16_position(typist.text, cursor),
                        )
                    ),
                    5,
                )
                assert isinstance(result, types.CompletionList)
                completion = result
            await asyncio.sleep(0.002)
    assert completion is not None
    # an edit after the emoji of the prompt, on another line: "mat" -> "rug 🐢"
    mat = typist.text.index("mat", typist.text.index("🐱"))
    typist.edit(mat, mat + 3, "rug 🐢")
    assert keystrokes > 100

    final = await published(vscode, uri, version=typist.version, timeout=15)
    await asyncio.sleep(0.5)  # nothing else may follow
    versions = [p.version for p in vscode.published if p.uri == uri]  # type: ignore[attr-defined]
    assert versions[-1] == typist.version
    assert versions == sorted(versions)
    assert len(versions) <= 10  # debounced: not one per keystroke

    doc = parse(typist.text)
    assert doc.strict and doc.value["steps"][2]["task"]["command"] == "upscale"
    expected = check_document(doc, CheckContext(path=path, open_documents={path: typist.text}))
    got = [(d.code, d.message, d.range.start, d.range.end) for d in final.diagnostics]
    want = [
        (
            p.code,
            p.message,
            utf16_position(typist.text, p.start),
            utf16_position(typist.text, p.end),
        )
        for p in expected
    ]
    assert got == want
    assert "DW202" in {d.code for d in final.diagnostics}  # variable:nope
