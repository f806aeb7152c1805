"""Every kind of quick fix the validators emit, through the language server: the diagnostic
carries typed fix data, the code action it makes is applied as VS Code would, and the
diagnostic is gone from the next publication. A fix kind without a case here fails
:func:`test_every_fix_kind_has_a_case`, so a new kind cannot ship without its code action.

The ``insertKey`` fixes (DW219, DW220, DW229, DW235) and a required key missing in a nested
object (``result.content_type``, ``pipeline.arguments``, ``task.arguments``: issue 11, item
1) are the cases that failed before fix data was typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dwtest_lsp import doc_id, open_document, published, utf16_position
from lsprotocol import types
from pytest_lsp import LanguageClient

from dw_lsp.validation.fixes import (
    EDIT_KINDS,
    AddKey,
    Declare,
    Edit,
    FixData,
    InsertKey,
    Replace,
    parse_fix_data,
)

PIPELINE = {
    "configuration": {"component_type": "StableDiffusionPipeline"},
    "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
    "arguments": {"prompt": "a cat 🐱"},
}


def workflow(*steps: dict[str, Any], variables: dict[str, Any] | None = None) -> str:
    value: dict[str, Any] = {"id": "fixes"}
    if variables is not None:
        value["variables"] = variables
    value["steps"] = list(steps)
    return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class Case:
    text: str
    code: str
    kind: type[FixData]
    title: str


UNDECLARED = workflow(
    {"name": "gen", "pipeline": {**PIPELINE, "arguments": {"prompt": "variable:promt"}}},
    variables={"prompt": "a cat 🐱"},
)
CASES = {
    "replace": Case(UNDECLARED, "DW202", Replace, "Replace with 'variable:prompt'"),
    "declare": Case(UNDECLARED, "DW202", Declare, "Declare variable 'promt' in variables"),
    "misspelt key (DW110)": Case(
        workflow({"name": "gen", "pipline": PIPELINE}), "DW110", Replace, "Replace with 'pipeline'"
    ),
    "required result.content_type": Case(
        workflow({"name": "gen", "pipeline": PIPELINE, "result": {}}),
        "DW101",
        AddKey,
        "Add 'content_type'",
    ),
    "required pipeline.arguments": Case(
        workflow(
            {"name": "gen", "pipeline": {k: v for k, v in PIPELINE.items() if k != "arguments"}}
        ),
        "DW101",
        AddKey,
        "Add 'arguments'",
    ),
    "required task.arguments": Case(
        workflow({"name": "t", "task": {"command": "qr_code"}}), "DW107", AddKey, "Add 'arguments'"
    ),
    "task argument (DW219)": Case(
        workflow({"name": "t", "task": {"command": "qr_code", "arguments": {}}}),
        "DW219",
        InsertKey,
        'Add "qr_code_contents": ""',
    ),
    "pipeline_reference (DW220)": Case(
        workflow(
            {"name": "gen", "pipeline": PIPELINE},
            {
                "name": "decode",
                "task": {
                    "command": "batch_decode_post_process",
                    "arguments": {"generated_ids": "previous_result:gen"},
                },
            },
        ),
        "DW220",
        InsertKey,
        'Add "pipeline_reference": "gen"',
    ),
    "chain fps (DW229)": Case(
        workflow({"name": "gen", "pipeline": {**PIPELINE, "chain": {"save_segments": True}}}),
        "DW229",
        InsertKey,
        'Add "fps": 24',
    ),
    "workflow path (DW235)": Case(
        workflow({"name": "w", "workflow": {}}), "DW235", InsertKey, 'Add "path": "builtin:"'
    ),
    "prepared edit (DW227)": Case(
        workflow(
            {
                "name": "size",
                "task": {
                    "command": "get_image_size",
                    "arguments": {"image": {"location": "variable:image"}},
                },
            },
            variables={"image": "a.png"},
        ),
        "DW227",
        Edit,
        'Replace with "variable:image"',
    ),
}


def test_every_fix_kind_has_a_case() -> None:
    assert {case.kind for case in CASES.values()} == set(EDIT_KINDS)


def utf16_offset(text: str, position: types.Position) -> int:
    """The offset of an LSP position (UTF-16 columns), computed on the client side."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for i, char in enumerate(line):
        if units >= position.character:
            return start + i
        units += 2 if ord(char) > 0xFFFF else 1
    return start + len(line)


def apply_edit(text: str, uri: str, edit: types.WorkspaceEdit | None) -> str:
    """``text`` with the edits a workspace edit makes to ``uri``, as the client applies
    them (all ranges refer to the text before the edit)."""
    assert edit is not None
    edits: list[types.TextEdit] = []
    for change in edit.document_changes or []:
        assert isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri
        edits.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    edits.extend((edit.changes or {}).get(uri, []))
    spans = [(utf16_offset(text, e.range.start), utf16_offset(text, e.range.end), e) for e in edits]
    for start, end, e in sorted(spans, key=lambda s: s[0], reverse=True):
        text = text[:start] + e.new_text + text[end:]
    return text


def value_at(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


@pytest.mark.parametrize("name", list(CASES))
async def test_quick_fix_applies_and_the_diagnostic_goes(
    vscode: LanguageClient, workspace: Path, name: str
) -> None:
    case = CASES[name]
    uri = open_document(vscode, workspace / "flow.json", case.text)
    first = await published(vscode, uri, version=1)
    diagnostic, fix = next(
        (d, f)
        for d in first.diagnostics
        if d.code == case.code
        for f in parse_fix_data(d.data)
        if isinstance(f, case.kind)
    )
    actions = await vscode.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    chosen = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.title == case.title]
    titles = [a.title for a in actions or []]
    assert len(chosen) == 1, f"no action {case.title!r} among {titles}"
    fixed = apply_edit(case.text, uri, chosen[0].edit)
    value = json.loads(fixed)  # still a JSON document
    if isinstance(fix, AddKey | InsertKey):  # the key went into the object the fix names
        assert fix.key in value_at(value, fix.object)

    vscode.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    second = await published(vscode, uri, version=2)
    same = [
        (d.code, d.message)
        for d in second.diagnostics
        if (d.code, d.message) == (diagnostic.code, diagnostic.message)
    ]
    assert same == [], f"{case.code} is still there after {case.title!r}:\n{fixed}"


def test_utf16_offset_counts_astral_characters_twice() -> None:
    text = 'a\n"🐱x"'
    offset = text.index("x")
    assert utf16_offset(text, utf16_position(text, offset)) == offset
