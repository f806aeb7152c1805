"""End to end over stdio with the VS Code and Neovim client profiles: diagnostics (pushed
to VS Code, pulled by Neovim 0.11), completion, hover, navigation, rename, symbols,
folding, selection, links, quick fixes and lenses, on real documents with emoji."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dwtest_lsp import (
    doc_id,
    open_document,
    published,
    utf8_position,
    utf16_position,
    wait_until,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from server_samples import SAMPLE, nth

from dw_lsp.server import names
from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import parse

BROKEN = SAMPLE.replace(
    '"num_inference_steps": "variable:steps"', '"num_inference_steps": "variable:stepz"'
).replace('"content_type": "image/png"', '"content_typ": "image/png"')


def expected_codes(path: Path, text: str) -> list[tuple[str, int, int]]:
    doc = parse(text)
    problems = check_document(doc, CheckContext(path=path, open_documents={path: text}))
    out = []
    for p in problems:
        pos = utf16_position(text, p.start)
        out.append((p.code, pos.line, pos.character))
    return out


async def test_vscode_diagnostics_and_quick_fixes(vscode: LanguageClient, workspace: Path):
    path = workspace / "flow.json"
    uri = open_document(vscode, path, BROKEN)
    params = await published(vscode, uri, version=1)
    got = [(d.code, d.range.start.line, d.range.start.character) for d in params.diagnostics]
    assert got == expected_codes(path, BROKEN)
    assert {"DW202"} <= {d.code for d in params.diagnostics}
    assert all(d.source == "dw-lsp" for d in params.diagnostics)

    undeclared = next(d for d in params.diagnostics if d.code == "DW202")
    actions = await vscode.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=undeclared.range,
            context=types.CodeActionContext(diagnostics=[undeclared]),
        )
    )
    titles = [a.title for a in actions or [] if isinstance(a, types.CodeAction)]
    assert "Replace with 'variable:steps'" in titles
    assert "Declare variable 'stepz' in variables" in titles

    lenses = await vscode.text_document_code_lens_async(
        types.CodeLensParams(text_document=doc_id(uri))
    )
    assert [lens.command.command for lens in lenses or [] if lens.command] == [
        names.RUN,
        names.RUN,  # Smoke run: dw.run with standIn
        names.MEMORY,
        names.CLEAR,
    ]

    vscode.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc_id(uri)))
    await wait_until(lambda: not vscode.diagnostics.get(uri, [None]))  # cleared on close


async def test_vscode_editing_features(vscode: LanguageClient, workspace: Path):
    path = workspace / "flow.json"
    (workspace / "cat.png").write_bytes(b"png")
    text = SAMPLE.replace('"image": "previous_result:draw.images"', '"image": "cat.png"')
    uri = open_document(vscode, path, text)

    def at(offset: int) -> types.Position:
        return utf16_position(text, offset)

    # completion of a variable inside a string on a line with two emoji before it
    ref = nth(text, '"variable:prompt"', 1, 10)
    result = await vscode.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=at(ref))
    )
    assert isinstance(result, types.CompletionList)
    item = next(i for i in result.items if i.label == "variable:prompt")
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.range.start == at(ref - 9)

    # hover on the same reference shows the default, in markdown
    hover = await vscode.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=at(ref))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert "a cat 🐱 on a mat" in hover.contents.value

    # definition and references
    location = await vscode.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=at(ref))
    )
    assert isinstance(location, types.Location)
    assert location.range.start == at(text.index('"prompt": "a cat') + 1)
    refs = await vscode.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(uri),
            position=at(text.index('"name": "draw"') + 10),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert refs is not None and len(refs) == 1  # reference_name (the image is a file now)

    # rename: prepare, apply, reject
    prepared = await vscode.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc_id(uri), position=at(ref))
    )
    assert isinstance(prepared, types.PrepareRenamePlaceholder)
    assert prepared.placeholder == "prompt"
    edit = await vscode.text_document_rename_async(
        types.RenameParams(text_document=doc_id(uri), position=at(ref), new_name="subject")
    )
    assert edit is not None and edit.document_changes
    change = edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and len(change.edits) == 3
    with pytest.raises(JsonRpcException, match="not a valid variable name"):
        await vscode.text_document_rename_async(
            types.RenameParams(text_document=doc_id(uri), position=at(ref), new_name="no spaces")
        )

    # structure
    symbols = await vscode.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(uri))
    )
    assert symbols and [s.name for s in symbols] == ["variables", "steps"]
    folds = await vscode.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=doc_id(uri))
    )
    assert folds and folds[0].start_line == 0
    chain = await vscode.text_document_selection_range_async(
        types.SelectionRangeParams(text_document=doc_id(uri), positions=[at(ref)])
    )
    assert chain and chain[0].parent is not None
    links = await vscode.text_document_document_link_async(
        types.DocumentLinkParams(text_document=doc_id(uri))
    )
    assert links and [link.target for link in links] == [(workspace / "cat.png").as_uri()]
    assert links[0].tooltip == "Open cat.png"


async def test_neovim_pulls_diagnostics_in_utf8(neovim: LanguageClient, workspace: Path):
    path = workspace / "flow.json"
    uri = open_document(neovim, path, BROKEN)
    report = await neovim.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=doc_id(uri))
    )
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    codes = [(d.code, d.range.start.line) for d in report.items]
    assert codes == [(c, line) for c, line, _ in expected_codes(path, BROKEN)]
    again = await neovim.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=doc_id(uri), previous_result_id=report.result_id
        )
    )
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert neovim.published == []  # type: ignore[attr-defined]  # pull clients get no pushes

    # positions are UTF-8 bytes for this client: two 4-byte emoji precede the reference
    ref = nth(BROKEN, '"variable:prompt"', 1, 10)
    result = await neovim.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=utf8_position(BROKEN, ref))
    )
    assert isinstance(result, types.CompletionList)
    item = next(i for i in result.items if i.label == "variable:prompt")
    assert isinstance(item.text_edit, types.TextEdit)
    assert item.text_edit.range.start == utf8_position(BROKEN, ref - 9)
    assert item.insert_text_format == types.InsertTextFormat.PlainText

    hover = await neovim.text_document_hover_async(
        types.HoverParams(text_document=doc_id(uri), position=utf8_position(BROKEN, ref))
    )
    assert hover is not None and hover.range is not None
    assert hover.range.start == utf8_position(BROKEN, ref)  # the name after "variable:"

    symbols = await neovim.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(uri))
    )
    assert symbols and isinstance(symbols[0], types.DocumentSymbol)
    steps = symbols[1]
    assert isinstance(steps, types.DocumentSymbol) and steps.children
    assert next(c.detail for c in steps.children) == "pipeline · StableDiffusionPipeline"

    non_workflow = open_document(neovim, workspace / "package.json", json.dumps({"name": "x"}))
    report = await neovim.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=doc_id(non_workflow))
    )
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport) and not report.items
