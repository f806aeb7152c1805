"""Property tests: no input makes the parser raise, and its two range engines agree."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dw_lsp.workflow.document import parse
from dw_lsp.workflow.tolerant import parse_tree

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    text = data.decode("utf-8", "replace")
    doc = parse(text)
    for p in doc.problems:
        assert 0 <= p.start <= p.end <= len(text)
    doc.node_at(len(text) // 2)


@settings(max_examples=300)
@given(json_values, st.integers(min_value=0, max_value=10_000))
def test_truncated_json_never_raises(value, cut):
    text = json.dumps({"id": "x", "steps": [value]}, indent=1, ensure_ascii=False)
    prefix = text[: cut % (len(text) + 1)]
    doc = parse(prefix)
    assert all(0 <= p.start <= p.end <= len(prefix) for p in doc.problems)
    if prefix != text:
        assert doc.problems or doc.strict


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


@settings(max_examples=200)
@given(json_values, st.booleans())
def test_tree_and_lazy_ranges_agree_on_valid_json(value, indent):
    text = json.dumps({"root": value}, indent=2 if indent else None, ensure_ascii=False)
    strict = parse(text)
    tree, problems = parse_tree(text)
    assert problems == []
    assert tree is not None and tree.to_python() == json.loads(text)
    broken = parse(text + ",")  # forces the tree path
    for path in _paths(strict.value):
        assert strict.value_span(path) == broken.value_span(path), path
        assert strict.key_span(path) == broken.key_span(path), path
