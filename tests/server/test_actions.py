"""Quick fixes from the fix data carried by diagnostics, and Problem -> Diagnostic."""

from __future__ import annotations

import json

from lsprotocol import types
from server_samples import knowledge

from dw_lsp.server.actions import code_actions, fixes_for
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import SOURCE, to_diagnostic
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.problem import Problem, Severity

KNOW = knowledge()
CLIENT = ClientFeatures(code_action_literals=True, document_changes=True)


def apply_fix(text: str, fix) -> str:
    for start, end, new in sorted(fix.edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def test_replacements_are_quoted_when_the_range_is_a_string():
    text = '{"steps": [{"name": "a", "pipeline": {"configuration": {"offlaod": "model"}}}]}'
    start = text.index('"offlaod"')
    fixes = fixes_for(parse(text), start, start + 9, {"replacements": ["offload"]}, KNOW)
    assert [f.title for f in fixes] == ["Replace with 'offload'"]
    assert fixes[0].preferred
    assert '"offload": "model"' in apply_fix(text, fixes[0])


def test_replacement_of_an_unquoted_range():
    text = '{"seed": 4x}'
    fixes = fixes_for(parse(text), 9, 11, {"replacements": ["4"]}, KNOW)
    assert apply_fix(text, fixes[0]) == '{"seed": 4}'


def test_declare_adds_to_an_existing_variables_block():
    text = '{\n  "variables": {\n    "a": 1\n  },\n  "steps": []\n}'
    (fix,) = fixes_for(parse(text), 0, 1, {"declare": "b"}, KNOW)
    result = apply_fix(text, fix)
    assert json.loads(result)["variables"] == {"b": None, "a": 1}
    assert '    "b": null,\n    "a": 1' in result


def test_declare_creates_the_variables_block():
    text = '{\n  "id": "x",\n  "steps": []\n}'
    (fix,) = fixes_for(parse(text), 0, 1, {"declare": "prompt"}, KNOW)
    result = apply_fix(text, fix)
    assert json.loads(result)["variables"] == {"prompt": None}
    assert result.startswith('{\n  "variables": {"prompt": null},\n  "id"')
    empty = '{"variables": {}, "steps": []}'
    (fix,) = fixes_for(parse(empty), 0, 1, {"declare": "p"}, KNOW)
    assert json.loads(apply_fix(empty, fix))["variables"] == {"p": None}


def test_missing_key_is_added_with_a_value_of_its_type():
    text = '{"id": "x", "steps": [{"name": "a", "result": {"save": true}}]}'
    anchor = text.index('{"save"')
    data = {"missingKey": {"object": ["steps", 0, "result"], "key": "content_type"}}
    (fix,) = fixes_for(parse(text), anchor, anchor + 1, data, KNOW)
    value = json.loads(apply_fix(text, fix))
    assert value["steps"][0]["result"] == {"content_type": "", "save": True}
    root = '{"id": "x"}'
    (fix,) = fixes_for(parse(root), 0, 1, {"missingKey": {"object": [], "key": "steps"}}, KNOW)
    assert json.loads(apply_fix(root, fix)) == {"steps": [], "id": "x"}


def test_missing_key_goes_into_the_object_the_data_names_not_the_one_under_the_range():
    """DW101 for a missing nested key is reported on the parent's key ("result"), which
    lies in the step object: the key still goes into ``result`` (issue 11, item 1)."""
    text = '{"id": "x", "steps": [{"name": "a", "result": {"save": true}}]}'
    anchor = text.index('"result"')
    data = {"missingKey": {"object": ["steps", 0, "result"], "key": "content_type"}}
    (fix,) = fixes_for(parse(text), anchor, anchor + len('"result"'), data, KNOW)
    step = json.loads(apply_fix(text, fix))["steps"][0]
    assert step == {"name": "a", "result": {"content_type": "", "save": True}}


def test_insert_key_adds_the_member_it_carries():
    text = '{"steps": [{"name": "t", "task": {"command": "qr_code", "arguments": {}}}]}'
    path = ["steps", 0, "task", "arguments"]
    data = {"insertKey": {"object": path, "key": "qr_code_contents", "value": ""}}
    (fix,) = fixes_for(parse(text), 0, 1, data, KNOW)
    assert fix.title == 'Add "qr_code_contents": ""'
    value = json.loads(apply_fix(text, fix))
    assert value["steps"][0]["task"]["arguments"] == {"qr_code_contents": ""}
    assert fixes_for(parse(apply_fix(text, fix)), 0, 1, data, KNOW) == []  # present now


def test_malformed_fix_data_is_skipped():
    text = '{"id": "x"}'
    for data in (
        {"replacements": "x"},
        {"declare": 3},
        {"missingKey": "steps"},
        {"insertKey": {"object": "steps", "key": "k", "value": 1}},
        {"edit": {"start": 5, "end": 2, "newText": "x"}},
        {"edit": {"start": 0, "end": 99, "newText": "x"}},
        ["replacements"],
        None,
    ):
        assert fixes_for(parse(text), 0, 1, data, KNOW) == []


def test_prepared_edit():
    text = '{"image": {"location": "variable:image"}}'
    start = text.index("{", 1)
    data = {"edit": {"start": start, "end": len(text) - 1, "newText": '"variable:image"'}}
    (fix,) = fixes_for(parse(text), start, start + 1, data, KNOW)
    assert apply_fix(text, fix) == '{"image": "variable:image"}'


def test_code_actions_from_diagnostics_round_trip():
    text = (
        '{"variables": {"prompt": "🐱"}, "steps": [{"name": "a", "task": {"command": "qr_code", '
        '"arguments": {"qr_code_contents": "variable:promt"}}}]}'
    )
    doc = parse(text)
    start = text.index('"variable:promt"')
    problem = Problem(
        "DW202",
        Severity.ERROR,
        "undeclared",
        start,
        start + 16,
        {"declare": "promt", "replacements": ["variable:prompt"]},
    )
    diag = to_diagnostic(problem, doc.lines, "utf-16")
    assert (diag.code, diag.source, diag.data) == ("DW202", SOURCE, problem.data)
    assert diag.range.start.character == start + 1  # one emoji before: 2 UTF-16 units
    actions = code_actions("file:///w.json", 3, doc, [diag], KNOW, CLIENT)
    assert [a.title for a in actions] == [
        "Replace with 'variable:prompt'",
        "Declare variable 'promt' in variables",
    ]
    edit = actions[0].edit
    assert edit is not None and edit.document_changes is not None
    change = edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 3
    assert change.edits[0].new_text == '"variable:prompt"'
    assert change.edits[0].range == diag.range


def test_code_actions_ignore_foreign_diagnostics_and_literal_less_clients():
    doc = parse('{"a": 1}')
    rng = types.Range(start=types.Position(0, 1), end=types.Position(0, 4))
    foreign = types.Diagnostic(range=rng, message="x", source="other", data={"replacements": ["b"]})
    assert code_actions("file:///w.json", 1, doc, [foreign], KNOW, CLIENT) == []
    ours = types.Diagnostic(range=rng, message="x", source=SOURCE, data={"replacements": ["b"]})
    assert code_actions("file:///w.json", 1, doc, [ours], KNOW, ClientFeatures()) == []
    plain = code_actions(
        "file:///w.json", 1, doc, [ours], KNOW, ClientFeatures(code_action_literals=True)
    )
    assert plain[0].edit is not None and plain[0].edit.changes is not None
