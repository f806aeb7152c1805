"""Issue 11 (correctness), through the language server: value completion before a key on
the next line, misspelt keys reported on the key with a rename that clears them, a root
array of workflows checked element by element, a UTF-8 byte order mark accepted, and
what Python's json reads but JSON forbids (NaN, the infinities, raw control characters)
reported. Each failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dwtest_lsp import doc_id, open_document, published, utf16_position
from lsprotocol import types
from pytest_lsp import LanguageClient
from test_e2e_fixes import PIPELINE, apply_edit

from dw_lsp.terminal.checkcmd import check_file


def workflow(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"id": "issue11", **top, "steps": list(steps)}


def dumped(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


async def diagnostics_of(client: LanguageClient, path: Path, text: str) -> list[types.Diagnostic]:
    uri = open_document(client, path, text)
    return list((await published(client, uri, version=1)).diagnostics)


# -- item 2: a value, not a key, after "key": on a line followed by a key ---------------
@pytest.mark.parametrize(
    ("key", "expected"),
    [("seed", None), ("release_pipeline", "true"), ("result", '{"content_type": "image"}')],
)
async def test_value_completion_before_a_key_on_the_next_line(
    vscode: LanguageClient, workspace: Path, key: str, expected: str | None
) -> None:
    step = dumped(workflow({"name": "gen", "pipeline": PIPELINE}))
    typed = f'"name": "gen",\n      "{key}": '
    text = step.replace('"name": "gen",', typed, 1)
    offset = text.index(typed) + len(typed)
    uri = open_document(vscode, workspace / "flow.json", text)
    found = await vscode.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=utf16_position(text, offset))
    )
    items = found.items if isinstance(found, types.CompletionList) else found or []
    new_texts = [i.text_edit.new_text for i in items if i.text_edit is not None]
    assert not [t for t in new_texts if t.startswith('"')], new_texts  # no keys
    assert all(i.kind != types.CompletionItemKind.Property for i in items)
    if expected == "true":
        assert {"true", "false"} <= set(new_texts)
    elif expected is not None:
        assert any(t.startswith("{") for t in new_texts), new_texts


# -- item 3: misspelt keys ----------------------------------------------------------------
MISSPELT = {
    "reslt in a step": (
        workflow({"name": "gen", "pipeline": PIPELINE, "reslt": {"content_type": "image"}}),
        "reslt",
        "result",
    ),
    "pipline in a step": (workflow({"name": "gen", "pipline": PIPELINE}), "pipline", "pipeline"),
    "argumens in a pipeline": (
        workflow(
            {
                "name": "gen",
                "pipeline": {
                    **{k: v for k, v in PIPELINE.items() if k != "arguments"},
                    "argumens": {"prompt": "a cat"},
                },
            }
        ),
        "argumens",
        "arguments",
    ),
    "varibles at the root": (
        workflow(
            {"name": "gen", "pipeline": {**PIPELINE, "arguments": {"prompt": "variable:p"}}},
            varibles={"p": "a cat"},
        ),
        "varibles",
        "variables",
    ),
    "argumens in a task": (
        workflow({"name": "t", "task": {"command": "qr_code", "argumens": {"x": 1}}}),
        "argumens",
        "arguments",
    ),
}


@pytest.mark.parametrize("name", list(MISSPELT))
async def test_misspelt_key_is_reported_on_it_and_renamed_away(
    vscode: LanguageClient, workspace: Path, name: str
) -> None:
    value, wrong, right = MISSPELT[name]
    text = dumped(value)
    uri = open_document(vscode, workspace / "flow.json", text)
    first = (await published(vscode, uri, version=1)).diagnostics
    key_start = text.index(f'"{wrong}"')
    on_key = [d for d in first if d.range.start == utf16_position(text, key_start)]
    assert on_key, [(d.code, d.message) for d in first]
    diagnostic = on_key[0]
    assert f"did you mean '{right}'" in diagnostic.message
    # the misspelling explains the rest: no cascade elsewhere
    assert {d.code for d in first} <= {"DW110", "DW219"}, [(d.code, d.message) for d in first]

    actions = await vscode.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    chosen = [a for a in actions or [] if a.title == f"Replace with '{right}'"]
    assert len(chosen) == 1
    assert isinstance(chosen[0], types.CodeAction)
    fixed = apply_edit(text, uri, chosen[0].edit)
    assert f'"{right}"' in fixed and f'"{wrong}"' not in fixed
    vscode.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    second = (await published(vscode, uri, version=2)).diagnostics
    assert [d for d in second if d.code in ("DW110", "DW101", "DW105", "DW203")] == []


# -- item 4: a root array of workflows ---------------------------------------------------
async def test_root_array_of_workflows_is_checked_element_by_element(
    vscode: LanguageClient, workspace: Path
) -> None:
    folder = workspace / "workflows"
    folder.mkdir()
    path = folder / "tests.json"
    good = workflow({"name": "gen", "pipeline": PIPELINE})
    bad = workflow({"name": "gen", "pipeline": {**PIPELINE, "arguments": {"prompt": "variable:x"}}})
    text = dumped([good, bad])
    path.write_text(text, encoding="utf-8")
    got = await diagnostics_of(vscode, path, text)
    codes = [d.code for d in got]
    assert "DW103" not in codes
    assert codes == ["DW203"]
    reference = text.index('"variable:x"')
    assert got[0].range.start == utf16_position(text, reference)
    cli = [(p.code, p.start) for p in check_file(path).problems]
    assert cli == [("DW203", reference)]  # the same as dw-lsp check


# -- item 5: a UTF-8 byte order mark ------------------------------------------------------
async def test_byte_order_mark_is_accepted_by_editor_and_check(
    vscode: LanguageClient, workspace: Path
) -> None:
    path = workspace / "flow.json"
    text = dumped(workflow({"name": "gen", "pipeline": PIPELINE}))
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert await diagnostics_of(vscode, path, "\ufeff" + text) == []
    assert check_file(path).problems == []


# -- item 6: what JSON forbids -------------------------------------------------------------
NOT_JSON = {
    "NaN": ("1.5", "NaN"),
    "Infinity": ("1.5", "Infinity"),
    "-Infinity": ("1.5", "-Infinity"),
    "raw tab in a string": ('"a cat"', '"a\tcat"'),
}


@pytest.mark.parametrize("name", list(NOT_JSON))
async def test_what_json_forbids_is_a_json_error(
    vscode: LanguageClient, workspace: Path, name: str
) -> None:
    valid, invalid = NOT_JSON[name]
    pipeline = {**PIPELINE, "arguments": {"prompt": "a cat", "guidance_scale": 1.5}}
    if valid.startswith('"'):
        pipeline["arguments"]["prompt"] = "a cat"
    text = dumped(workflow({"name": "gen", "pipeline": pipeline}))
    assert valid in text
    text = text.replace(valid, invalid, 1)
    path = workspace / "flow.json"
    path.write_text(text, encoding="utf-8")
    got = await diagnostics_of(vscode, path, text)
    assert [d.code for d in got] == ["DW001"], [(d.code, d.message) for d in got]
    where = text.index(invalid) + (2 if "\t" in invalid else 0)
    assert got[0].range.start == utf16_position(text, where)
    assert [p.code for p in check_file(path).problems] == ["DW001"]


# -- item 8: navigation across files -------------------------------------------------------
CHILD = {
    "id": "child",
    "variables": {"subject": "a cat"},
    "steps": [
        {
            "name": "gen",
            "pipeline": {**PIPELINE, "arguments": {"prompt": "variable:subject"}},
        }
    ],
}
PARENT = workflow(
    {"name": "call", "workflow": {"path": "child.json", "arguments": {"subject": "a dog"}}}
)


def at(text: str, needle: str, inside: int = 1) -> types.Position:
    return utf16_position(text, text.index(needle) + inside)


async def test_rename_in_a_child_renames_the_parents_argument_key(
    vscode: LanguageClient, workspace: Path
) -> None:
    child_text, parent_text = dumped(CHILD), dumped(PARENT)
    (workspace / "child.json").write_text(child_text, encoding="utf-8")
    (workspace / "parent.json").write_text(parent_text, encoding="utf-8")
    child_uri = open_document(vscode, workspace / "child.json", child_text)
    parent_uri = (workspace / "parent.json").as_uri()
    edit = await vscode.text_document_rename_async(
        types.RenameParams(
            text_document=doc_id(child_uri),
            position=at(child_text, '"subject": "a cat"'),
            new_name="animal",
        )
    )
    assert edit is not None
    new_child = apply_edit(child_text, child_uri, _only(edit, child_uri))
    new_parent = apply_edit(parent_text, parent_uri, _only(edit, parent_uri))
    assert json.loads(new_child)["variables"] == {"animal": "a cat"}
    assert json.loads(new_parent)["steps"][0]["workflow"]["arguments"] == {"animal": "a dog"}


def _only(edit: types.WorkspaceEdit, uri: str) -> types.WorkspaceEdit:
    """The part of ``edit`` that changes ``uri``."""
    changes = [
        c
        for c in edit.document_changes or []
        if isinstance(c, types.TextDocumentEdit) and c.text_document.uri == uri
    ]
    assert changes, f"no edit of {uri}"
    return types.WorkspaceEdit(document_changes=changes)


async def test_definition_on_a_subworkflow_path_and_argument_key(
    vscode: LanguageClient, workspace: Path
) -> None:
    child_text, parent_text = dumped(CHILD), dumped(PARENT)
    (workspace / "child.json").write_text(child_text, encoding="utf-8")
    uri = open_document(vscode, workspace / "parent.json", parent_text)
    on_path = await vscode.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=at(parent_text, '"child.json"'))
    )
    assert isinstance(on_path, types.Location)
    assert on_path.uri == (workspace / "child.json").as_uri()
    on_key = await vscode.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=at(parent_text, '"subject"'))
    )
    assert isinstance(on_key, types.Location)
    assert on_key.uri == (workspace / "child.json").as_uri()
    assert on_key.range.start == at(child_text, '"subject": "a cat"', 0)
