"""What the editor keeps from one version of a buffer to the next must never go stale:
the pieces :mod:`dw_lsp.workflow.strict_parse` reuses, the step facts of the outline, and
the lazily read tree of :mod:`dw_lsp.workflow.lazy_tree` all agree with a fresh parse of
the new text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dw_lsp.workflow.document import parse
from dw_lsp.workflow.lazy_tree import lazy_tree
from dw_lsp.workflow.nodes import Node
from dw_lsp.workflow.strict_parse import decode_workflow
from dw_lsp.workflow.tolerant import parse_tree
from dw_lsp.workflow.walk import _FACT_LISTS, document_outline, outline_of

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "workflows").glob("*.json"))

STEPS = """{
  "id": "x",
  "variables": {"prompt": "a cat", "n": 2},
  "steps": [
    {"name": "draw", "pipeline": {"configuration": {"component_type": "StableDiffusionPipeline"},
      "arguments": {"prompt": "variable:prompt"}}, "result": {"content_type": "image/png"}},
    {"name": "caption", "task": {"command": "caption",
      "arguments": {"image": "previous_result:draw"}}},
    {"name": "last", "task": {"command": "caption", "arguments": {"image": "previous_result:draw"}}}
  ]
}"""


def _same_tree(a: Node | None, b: Node | None) -> None:
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    assert (a.kind, a.start, a.end, a.value, a.closed) == (
        b.kind,
        b.start,
        b.end,
        b.value,
        b.closed,
    )
    assert [(m.key, m.key_start, m.key_end, m.colon) for m in a.members] == [
        (m.key, m.key_start, m.key_end, m.colon) for m in b.members
    ]
    for m, n in zip(a.members, b.members, strict=True):
        _same_tree(m.value, n.value)
    assert len(a.items) == len(b.items)
    for x, y in zip(a.items, b.items, strict=True):
        _same_tree(x, y)


def _same_outline(doc_text: str, previous=None) -> None:
    doc = parse(doc_text, previous=previous)
    assert isinstance(doc.value, dict)
    cached = document_outline(doc, frozenset({"reslt"}))
    fresh = outline_of(json.loads(doc_text), watch=frozenset({"reslt"}))
    for name in (*_FACT_LISTS, "steps"):
        assert getattr(cached, name) == getattr(fresh, name), name


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_lazy_tree_is_the_forgiving_parsers_tree(path: Path):
    text = path.read_text(encoding="utf-8")
    _same_tree(lazy_tree(text), parse_tree(text)[0])
    _same_tree(parse(text).tree, parse_tree(text)[0])  # started from the decoder's offsets
    lazy, forgiving = parse(text), parse(text)
    forgiving._tree, _ = parse_tree(text)
    forgiving._tree_built = True
    for offset in range(0, len(text) + 1, 3):
        a, b = lazy.node_at(offset), forgiving.node_at(offset)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert (a.path, a.part, a.span) == (b.path, b.part, b.span), offset


#: JSON values (RFC 8259 has no NaN or Infinity; strict decoding refuses them, tested apart).
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "steps", "x"]), _JSON, max_size=3), st.data())
def test_decoding_by_pieces_accepts_and_rejects_as_json_loads(root, data):
    text = json.dumps(root, indent=data.draw(st.sampled_from([None, 1])))
    # a damaged copy: one character replaced, inserted or removed
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(st.sampled_from(list('{}[],:" \n1a')))
    how = data.draw(st.sampled_from(["insert", "replace", "delete", "none"]))
    if how == "insert":
        text = text[:at] + char + text[at:]
    elif how == "replace":
        text = text[:at] + char + text[at + 1 :]
    elif how == "delete":
        text = text[:at] + text[at + 1 :]
    previous = decode_workflow(json.dumps(root), None)[2]
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            decode_workflow(text, previous)
        return
    if not isinstance(expected, dict):
        with pytest.raises(ValueError):
            decode_workflow(text, previous)
        return
    value, _, _ = decode_workflow(text, previous)
    assert json.dumps(value, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_unchanged_steps_keep_their_values_and_changed_ones_do_not():
    first = parse(STEPS)
    edited = STEPS.replace('"name": "caption"', '"name": "captions"')
    second = parse(edited, previous=first)
    a, b = first.value["steps"], second.value["steps"]
    assert a[0] is b[0] and a[2] is b[2]
    assert b[1]["name"] == "captions" and a[1] is not b[1]
    # "12" is a prefix of "123": a scalar member is decoded again, never reused
    third = parse(edited.replace('"n": 2', '"n": 23'), previous=second)
    assert third.value["variables"]["n"] == 23


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            '"previous_result:draw"}}},\n    {"name": "last"',
            '"previous_result:nope"}}},\n    {"name": "last"',
        ),
        ('"name": "draw"', '"name": "drawn"'),
        ('"variable:prompt"', '"variable:promt"'),
        ('{"name": "last"', '"previous_result:draw", {"name": "last"'),  # a string item
        ('    {"name": "caption"', '    {"name": "new", "task": {}},\n    {"name": "caption"'),
        ('"content_type": "image/png"', '"content_type": "image/png", "reslt": 1'),
    ],
)
def test_the_outline_after_an_edit_is_the_outline_of_the_new_text(old, new):
    first = parse(STEPS)
    document_outline(first, frozenset({"reslt"}))  # the facts the next version may reuse
    edited = STEPS.replace(old, new, 1)
    assert edited != STEPS
    _same_outline(edited, previous=first)
    # and back again, through the edited version's cache
    second = parse(edited, previous=first)
    document_outline(second, frozenset({"reslt"}))
    _same_outline(STEPS, previous=second)


def test_duplicate_keys_and_lone_surrogates_are_found_in_a_reused_document():
    first = parse(STEPS)
    dup = STEPS.replace('"name": "last"', '"name": "last", "name": "again"')
    second = parse(dup, previous=first)
    assert [p.code for p in second.problems] == ["DW011"]
    lone = STEPS.replace('"a cat"', '"a \\udfaa cat"')
    third = parse(lone, previous=second)
    assert [p.code for p in third.problems] == ["DW014"]
    assert parse(STEPS, previous=third).problems == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["x", "", '"', "}", "\n"])), max_size=8
    )
)
def test_a_chain_of_edits_parses_as_each_text_alone(edits):
    text, doc = STEPS, parse(STEPS)
    for where, new in edits:
        at = where % (len(text) + 1)
        text = text[:at] + new + text[at + (1 if new == "" else 0) :]
        fresh = parse(text)
        doc = parse(text, previous=doc)
        assert doc.strict == fresh.strict
        assert doc.value == fresh.value
        assert [(p.code, p.start, p.end) for p in doc.problems] == [
            (p.code, p.start, p.end) for p in fresh.problems
        ]
        if isinstance(doc.value, dict):
            cached = document_outline(doc)
            plain = outline_of(doc.value)
            for name in (*_FACT_LISTS, "steps"):
                assert getattr(cached, name) == getattr(plain, name), name


CHECKED = """{
  "id": "x",
  "variables": {"remote": true, "file": "loader.txt"},
  "steps": [
    {"name": "draw", "pipeline": {
      "configuration": {"component_type": "StableDiffusionPipeline", "offload": "model"},
      "from_pretrained_arguments": {"model_name": "builtin:tiny-sd",
        "trust_remote_code": "variable:remote",
        "variant": "variable:file"},
      "arguments": {"prompt": "a cat", "guidance_scale": 7, "num_inference_step": 2}},
      "result": {"content_type": "image/png"}},
    {"name": "again", "pipeline_reference": {"reference_name": "draw",
      "arguments": {"prompt": "a dog", "negative_promt": "x"}}},
    {"name": "up", "pipeline": {"configuration": {"component_type": "StableDifusionPipeline",
      "scheduler_type": "EulerDiscreteSchedulr"}, "arguments": {}}}
  ]
}"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"file": "loader.txt"', '"file": "loader.py"'),  # the variables a code rule reads
        ('"remote": true', '"remote": false'),
        ('"num_inference_step"', '"num_inference_steps"'),  # a pipeline step's arguments
        ('"negative_promt"', '"negative_prompt"'),  # a reference to an earlier step
        ('"reference_name": "draw"', '"reference_name": "up"'),
        ('"name": "draw"', '"name": "drawn"'),
        ('"StableDifusionPipeline"', '"StableDiffusionPipeline"'),
        ('"EulerDiscreteSchedulr"', '"EulerDiscreteScheduler"'),
    ],
)
def test_the_check_after_an_edit_is_the_check_of_the_new_text(old, new):
    """Each rule that keeps per-step findings across versions (outline facts, catalog,
    code arguments) must see an edit to the step, to an earlier step it refers to, and
    to the variables it reads."""
    from dw_lsp.validation.check import check_document

    def found(doc):
        return [(p.code, p.start, p.end, p.message, p.data) for p in check_document(doc)]

    first = parse(CHECKED)
    assert {"DW301", "DW302", "DW306"} <= {p[0] for p in found(first)}
    edited = CHECKED.replace(old, new, 1)
    assert edited != CHECKED
    second = parse(edited, previous=first)
    if CHECKED.index(old) < CHECKED.index('{"name": "up"'):  # the last step is reused
        assert second.value["steps"][2] is first.value["steps"][2]
    assert found(second) == found(parse(edited))
    assert found(second) != found(first)
    assert found(parse(CHECKED, previous=second)) == found(first)


def _symbol_at_everywhere(symbols, offset):
    """The definition symbol_at keeps, over every reference, variable and step."""
    for ref in symbols.references:
        if ref.span[0] <= offset <= ref.span[1]:
            return ref.kind, ref.name, ref.span
    for ref in symbols.references:
        if ref.string_span[0] < offset < ref.string_span[1]:
            return ref.kind, ref.name, ref.span
    for var in symbols.variables:
        if var.key_span[0] <= offset <= var.key_span[1]:
            return "variable", var.name, var.name_span
    for step in symbols.steps:
        span = symbols.name_span(step)
        if step.name is not None and span is not None and span[0] - 1 <= offset <= span[1] + 1:
            return "step", step.name, span
    return None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_symbol_under_the_cursor_is_found_from_that_token_alone(path: Path):
    from dw_lsp.workflow.symbols import symbols_of

    text = path.read_text(encoding="utf-8")
    for doc in (parse(text), parse(text.replace("}", "", 1))):  # valid, then broken
        symbols = symbols_of(doc)
        for offset in range(len(text) + 1):
            assert symbols.symbol_at(offset) == _symbol_at_everywhere(symbols, offset), offset


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"name": "caption"', '"name": 5'),  # a step breaks the schema
        ('"command": "get_image_size"', '"command": "get_image_size", "bogus": 1'),
        ('"id": "x"', '"id": 7'),  # the root does
        ('"steps": [', '"extra": true, "steps": ['),
        ('"id": "x"', '"id": "y"'),  # still valid
    ],
)
def test_the_schema_verdict_per_step_is_the_whole_verdict(old, new):
    """The schema check decides a valid document step by step, keeping each step's verdict
    while the step is unchanged; an edit that breaks a step (or the root) must still be
    found, and give the same problems as a fresh check."""
    from dw_lsp.validation.schema import check_schema, default_checker

    text = STEPS.replace('"command": "caption"', '"command": "get_image_size"').replace(
        '"arguments": {"prompt"',
        '"from_pretrained_arguments": {"model_name": "m"},\n"arguments": {"prompt"',
    )
    first = parse(text)
    assert check_schema(first) == []
    edited = text.replace(old, new, 1)
    assert edited != text
    second = parse(edited, previous=first)
    checker = default_checker()
    assert checker._valid_by_parts(second) == checker.validator.is_valid(second.value)
    assert check_schema(second) == check_schema(parse(edited))
    assert check_schema(parse(text, previous=second)) == []
