"""What the server keeps between versions of a buffer (issue 11: the outline and symbols per
version, the decoded steps and their findings per step, the line index across edits) must
follow every edit, through a real LSP round trip: a step renamed by a one-character edit
breaks the reference to it in a later step, which the diagnostics, hover, document symbols
and completion all see at once; undoing the edit mends it; an edit to the variables reaches
a rule that kept its findings for an unchanged step."""

from __future__ import annotations

from pathlib import Path

from dwtest_lsp import Typist, doc_id, open_document, published, utf16_position
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient

from dw_lsp.server.symbols import document_symbols
from dw_lsp.workflow.document import Document

TEXT = """{
  "id": "caches",
  "variables": {"prompt": "a cat", "file": "weights.bin"},
  "steps": [
    {
      "name": "draw",
      "pipeline": {
        "configuration": {"component_type": "StableDiffusionPipeline"},
        "from_pretrained_arguments": {"model_name": "builtin:tiny-sd", "variant": "variable:file"},
        "arguments": {"prompt": "variable:prompt"}
      },
      "result": {"content_type": "image/png"}
    },
    {
      "name": "caption",
      "task": {"command": "get_image_size", "arguments": {"image": "previous_result:draw"}}
    }
  ]
}
"""


class Buffer(Typist):
    """The client's copy of the text; each edit goes out as an incremental didChange."""

    def __init__(self, client: LanguageClient, uri: str) -> None:
        super().__init__(client, uri, TEXT)

    def replace(self, old: str, new: str) -> None:
        start = self.text.index(old)
        self.edit(start, start + len(old), new)

    async def codes(self) -> list[str]:
        found = await published(self.client, self.uri, version=self.version, timeout=15)
        return sorted(str(d.code) for d in found.diagnostics)

    def at(self, needle: str, skip: int = 0) -> types.TextDocumentPositionParams:
        offset = self.text.index(needle) + skip
        return types.TextDocumentPositionParams(
            text_document=doc_id(self.uri), position=utf16_position(self.text, offset)
        )


async def _hover(buf: Buffer, needle: str, skip: int) -> str:
    params = buf.at(needle, skip)
    hover = await buf.client.text_document_hover_async(
        types.HoverParams(text_document=params.text_document, position=params.position)
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value


async def _step_names(buf: Buffer) -> list[str]:
    symbols = await buf.client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(buf.uri))
    )
    assert symbols is not None
    steps = next(s for s in symbols if s.name == "steps")
    assert isinstance(steps, types.DocumentSymbol)
    return [child.name for child in steps.children or []]


async def test_every_feature_follows_an_edit_to_an_earlier_step(
    vscode: LanguageClient, workspace: Path
):
    uri = open_document(vscode, workspace / "caches.json", TEXT)
    buf = Buffer(vscode, uri)
    assert await buf.codes() == []
    # warm every cache on version 1
    assert "No step" not in await _hover(buf, "previous_result:draw", 17)
    assert await _step_names(buf) == ["draw", "caption"]

    buf.replace('"name": "draw"', '"name": "drawn"')  # one step changed, the other not
    assert "DW" in "".join(await buf.codes())  # the reference in "caption" is broken now
    assert "No step of this workflow" in await _hover(buf, "previous_result:draw", 17)
    assert await _step_names(buf) == ["drawn", "caption"]
    completion = await vscode.text_document_completion_async(
        types.CompletionParams(
            text_document=doc_id(uri), position=buf.at("previous_result:draw", 16).position
        )
    )
    labels = [i.label for i in (completion.items if completion is not None else [])]
    assert any("drawn" in label for label in labels) and "draw" not in labels

    buf.replace('"name": "drawn"', '"name": "draw"')  # undone: back to the first text
    assert await buf.codes() == []
    assert "No step" not in await _hover(buf, "previous_result:draw", 17)


async def test_an_edit_to_the_variables_reaches_an_unchanged_steps_findings(
    vscode: LanguageClient, workspace: Path
):
    uri = open_document(vscode, workspace / "vars.json", TEXT)
    buf = Buffer(vscode, uri)
    assert await buf.codes() == []
    buf.replace('"weights.bin"', '"weights.py"')  # the variant now names a Python file
    assert "DW306" in await buf.codes()
    buf.replace('"weights.py"', '"weights.bin"')
    assert await buf.codes() == []


async def test_document_symbols_sent_from_their_cached_json_are_the_symbols(
    vscode: LanguageClient, workspace: Path
):
    """The symbols of a version are converted to JSON once and sent as is: what the client
    reads back, on the first and on a repeated request, is exactly the in-process answer."""
    uri = open_document(vscode, workspace / "symbols.json", TEXT)
    params = types.DocumentSymbolParams(text_document=doc_id(uri))
    first = await vscode.text_document_document_symbol_async(params)
    again = await vscode.text_document_document_symbol_async(params)
    assert first == again
    expected = document_symbols(Document(TEXT), "utf-16")
    unstructure = default_converter().unstructure
    assert unstructure(first) == unstructure(expected)  # the client reads children as tuples
