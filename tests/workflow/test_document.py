"""The document model: values, syntax problems with short ranges, lazy and tree ranges."""

from __future__ import annotations

import json

import pytest

from dw_lsp.workflow.document import parse
from dw_lsp.workflow.files import MAX_JSON_DEPTH, MAX_WORKFLOW_BYTES
from dw_lsp.workflow.problem import MAX_PROBLEMS

SAMPLE = """{
  "id": "demo",
  "variables": {"prompt": "a cat 😀", "steps": 4},
  "steps": [
    {"name": "one", "pipeline": {"configuration": {"component_type": "X"},
      "from_pretrained_arguments": {"model_name": "m"},
      "arguments": {"prompt": "variable:prompt", "n": [1, 2, {"deep": true}]}}},
    {"name": "two", "task": {"command": "gather_inputs", "arguments": {"x": null}}}
  ]
}"""


def spans_of(doc, path):
    v = doc.value_span(path)
    k = doc.key_span(path)
    return (doc.text[v[0] : v[1]] if v else None, doc.text[k[0] : k[1]] if k else None)


@pytest.mark.parametrize(
    ("path", "value_text", "key_text"),
    [
        ((), SAMPLE, None),
        (("id",), '"demo"', '"id"'),
        (("variables", "prompt"), '"a cat 😀"', '"prompt"'),
        (("steps", 0, "name"), '"one"', '"name"'),
        (("steps", 0, "pipeline", "arguments", "n", 2, "deep"), "true", '"deep"'),
        (("steps", 1, "task", "arguments", "x"), "null", '"x"'),
        (("steps", 2), None, None),
        (("nope",), None, None),
        (("id", 0), None, None),
    ],
)
def test_strict_and_tree_ranges_agree(path, value_text, key_text):
    strict = parse(SAMPLE)
    assert strict.strict
    assert spans_of(strict, path) == (value_text, key_text)
    # The same questions answered from the forgiving parser's tree give the same answers.
    broken = parse(SAMPLE + "\n,")
    assert not broken.strict
    assert spans_of(broken, path) == (value_text, key_text)


def test_strict_value_matches_json_loads():
    doc = parse(SAMPLE)
    assert doc.value == json.loads(SAMPLE)
    assert doc.problems == []


def test_duplicate_keys_keep_the_last_value_and_warn():
    text = '{"a": 1, "b": {"c": 0}, "a": 2}'
    for doc in (parse(text), parse(text + " ,")):
        assert doc.value == {"a": 2, "b": {"c": 0}}
        assert doc.text[slice(*doc.value_span(("a",)))] == "2"
        assert doc.key_span(("a",)) == (24, 27)
        dups = [p for p in doc.problems if p.code == "DW011"]
        assert [(p.start, p.end, p.severity.label) for p in dups] == [(24, 27, "warning")]
        assert "line 1" in dups[0].message
    assert parse(text).strict


@pytest.mark.parametrize(
    ("text", "code", "where", "value"),
    [
        ('{"id": "x",}', "DW003", ",", {"id": "x"}),
        ('{"a": [1, 2,]}', "DW003", ",", {"a": [1, 2]}),
        ('{"id": "unclosed\n}', "DW002", '"unclosed', {"id": "unclosed"}),
        ('// note\n{"a": 1}', "DW004", "// note", {"a": 1}),
        ('{"a": 1 /* c */}', "DW004", "/* c */", {"a": 1}),
        ('{"a": 1\n "b": 2}', "DW005", '"', {"a": 1, "b": 2}),
        ("[1 2]", "DW005", "2", [1, 2]),
        ('{"a": }', "DW006", '"a"', {}),
        ('{"a": {"b": 1}', "DW007", "{", {"a": {"b": 1}}),
        ('{"a" 1}', "DW012", '"a"', {"a": 1}),
        ('{"a": 1} x', "DW013", "x", {"a": 1}),
        ('{"a": tru}', "DW001", "tru", {}),
        ('{"a": True}', "DW001", "True", {}),
        ("{'a': 1}", "DW001", "'a'", {"a": 1}),
        ("{a: 1}", "DW001", "a", {"a": 1}),
        ('{"a": 01}', "DW001", "01", {}),
        ("", "DW010", "", None),
        ("   \n ", "DW010", "", None),
    ],
)
def test_syntax_problems_have_short_ranges_and_keep_what_parsed(text, code, where, value):
    doc = parse(text)
    assert not doc.strict
    assert doc.value == value
    hits = [p for p in doc.problems if p.code == code]
    assert hits, [(p.code, p.message) for p in doc.problems]
    assert text[hits[0].start : hits[0].end] == where
    for p in doc.problems:
        assert 0 <= p.start <= p.end <= len(text)


def test_unclosed_containers_reported_once():
    doc = parse('{"steps": [{"name": "a", "task": {"command": "x"')
    assert [p.code for p in doc.problems] == ["DW007"]
    assert doc.value == {"steps": [{"name": "a", "task": {"command": "x"}}]}


def test_deep_nesting_is_a_diagnostic_not_a_crash():
    text = "[" * (MAX_JSON_DEPTH * 10) + "]" * (MAX_JSON_DEPTH * 10)
    doc = parse(text)
    assert [p.code for p in doc.problems] == ["DW009"]


def test_huge_document_is_one_diagnostic():
    text = '{"a": "' + "x" * (MAX_WORKFLOW_BYTES + 10) + '"}'
    doc = parse(text)
    assert [p.code for p in doc.problems] == ["DW008"]
    assert doc.value is None


def test_unicode_offsets_are_code_points():
    text = '{"p": "😀😀", "q": 1}'
    doc = parse(text)
    start, end = doc.value_span(("q",))
    assert text[start:end] == "1"
    assert doc.lines.position(start) == (0, 19)  # two emoji count twice in UTF-16
    assert doc.lines.position(start, "utf-32") == (0, 17)
    assert doc.lines.offset(0, 19) == start


@pytest.mark.parametrize(
    ("offset_of", "path", "part"),
    [
        ('"command"', ("steps", 1, "task", "command"), "key"),
        ('"gather_inputs"', ("steps", 1, "task", "command"), "value"),
        ("true", ("steps", 0, "pipeline", "arguments", "n", 2, "deep"), "value"),
    ],
)
def test_node_at(offset_of, path, part):
    doc = parse(SAMPLE)
    hit = doc.node_at(SAMPLE.index(offset_of) + 1)
    assert hit is not None
    assert (hit.path, hit.part) == (path, part)


def test_node_at_between_members_is_inside_the_object():
    text = '{"a": 1,   "b": 2}'
    hit = parse(text).node_at(9)
    assert hit is not None and hit.path == () and hit.part == "inside"


def test_node_at_after_colon_without_value():
    text = '{"steps": [{"name": '
    hit = parse(text).node_at(len(text))
    assert hit is not None and hit.path == ("steps", 0, "name") and hit.part == "value"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"\\ud800": 0, "b": 1}', '"\\ud800"'),  # an escape in a key (valid JSON)
        ('{"\\uDFAA":0}', '"\\uDFAA"'),
        ('{"a": "x\\udbff"}', '"x\\udbff"'),  # the high half alone
        ('{"a": "\udfaa"}', '"\udfaa"'),  # a raw half, as an LSP client can send
        ('{"a": "\\ud800", "b": }', '"\\ud800"'),  # broken JSON: the tolerant parser
        ("{'a': '\udfaa'}", "'\udfaa'"),  # single quotes hold the text as it is
        ('{"a": "\\ud800', '"\\ud800'),  # unterminated
    ],
)
def test_a_lone_surrogate_is_a_clear_problem_and_leaves_no_trace_in_the_value(text, where):
    doc = parse(text)
    hits = [p for p in doc.problems if p.code == "DW014"]
    assert len(hits) == 1 and text[hits[0].start : hits[0].end] == where
    assert "Lone surrogate" in hits[0].message
    json.dumps(doc.value, ensure_ascii=False).encode("utf-8")  # every later check can
    assert "\ufffd" in json.dumps(doc.value, ensure_ascii=False)


def test_whole_surrogate_pairs_are_characters():
    doc = parse('{"a": "\\ud83d\\ude00"}')
    assert doc.problems == [] and doc.value == {"a": "😀"}


def test_a_run_of_stray_characters_is_one_problem():
    text = '{"a": 1, ' + "😀" * 50_000 + ' "b": [2, ¿¿, 3]}'
    doc = parse(text)
    got = [(p.code, text[p.start : p.end]) for p in doc.problems]
    assert got == [("DW001", "😀" * 50_000), ("DW001", "¿¿")]
    assert doc.problems[0].message.startswith("50000 unexpected characters '😀😀")
    assert doc.value == {"a": 1, "b": [2, 3]}


def test_many_members_parse_in_linear_time():
    import time

    text = "{" + ", ".join(f'"k": {i}' for i in range(50_000)) + ", x}"
    began = time.perf_counter()
    doc = parse(text)
    assert time.perf_counter() - began < 30  # about 1 s; quadratic, it took minutes
    dups = [p for p in doc.problems if p.code == "DW011"]
    assert len(dups) == MAX_PROBLEMS and "line 1" in dups[-1].message
    summary = doc.problems[-1]  # the parser keeps 1,000 and counts the rest
    assert summary.code == "DW015" and summary.data == {
        "hidden": 49_001
    }  # 48,999 duplicates, 2 for the bare x
    assert doc.value == {"k": 49_999}


@pytest.mark.parametrize(
    ("text", "lone"),
    [
        ('{"a": "\\ud800"}', True),
        ('{"a": "\\ud83d\\ude00"}', False),  # a whole pair
        ('{"a": "\\uDBFF\\uDFFF"}', False),
        ('{"a": "\\uDFFF\\uDBFF"}', True),  # the halves the wrong way round
        ('{"a": "\\\\ud800"}', False),  # an escaped backslash, then text
        ('{"a": "\\\\ud83d\\ude00"}', True),  # the low half alone after one
        ('{"a": "\\\\\\ud800"}', True),
        ('{"a": "\udfaa"}', True),  # raw
        ('{"a": "😀"}', False),
    ],
)
def test_strict_documents_find_exactly_the_lone_surrogates(text, lone):
    doc = parse(text)
    assert doc.strict and ("DW014" in {p.code for p in doc.problems}) is lone
    assert doc.value == {
        "a": json.loads(text)["a"].encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    }
