"""Schema diagnostics: snippet -> expected codes and the exact text each range covers."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from dwtest_corpus import DW_EXAMPLES, require_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dw_lsp.validation.codes import CODES
from dw_lsp.validation.schema import SchemaChecker, check_schema, load_schema
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.problem import Problem

CORPUS = DW_EXAMPLES

PIPE = (
    '"pipeline": {"configuration": {"component_type": "FluxPipeline"%s}, '
    '"from_pretrained_arguments": {"model_name": "m"%s}, "arguments": {"prompt": "p"}%s}'
)


def pipeline(conf: str = "", fpa: str = "", extra: str = "") -> str:
    """A pipeline member with text spliced into configuration, fpa and the pipeline."""
    return PIPE % (conf, fpa, extra)


def wf(*steps: str, top: str = "") -> str:
    """A workflow text with these step bodies (each without braces)."""
    body = ", ".join("{" + s + "}" for s in steps)
    return '{"id": "w"' + top + ', "steps": [' + body + "]}"


GEN = '"name": "gen", ' + pipeline()
TASK = '"name": "t", "task": {"command": "gather_inputs", %s}'

# (id, text, [(code, exact text of the range), ...]) in position order.
CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    # DW101 required key missing
    ("root misses steps", '{"id": "w"}', [("DW101", "{")]),
    ("root misses id and steps", "{}", [("DW101", "{"), ("DW101", "{")]),
    ("step misses name", wf('"task": {"command": "c", "arguments": {}}'), [("DW101", "{")]),
    (
        "result misses content_type",
        wf(GEN + ', "result": {"fps": 8}'),
        [("DW101", '"result"')],
    ),
    (
        "quantization misses config_type",
        wf(
            '"name": "g", '
            + pipeline(
                extra=', "vae": {"configuration": {"component_type": "V"}, '
                '"from_pretrained_arguments": {}, "quantization_config": '
                '{"configuration": {}, "arguments": {}}}'
            )
        ),
        [("DW101", '"configuration"')],
    ),
    (
        "scheduler needs configuration or shift",
        wf(GEN[:-1] + ', "scheduler": {}}'),
        [("DW101", '"scheduler"')],
    ),
    # DW102 key not allowed
    (
        "configuration typo",
        wf('"name": "g", ' + pipeline(conf=', "ofload": "model"')),
        [("DW102", '"ofload"')],
    ),
    (
        "renamed configuration key",
        wf('"name": "g", ' + pipeline(conf=', "do_not_send_to_device": true')),
        [("DW102", '"do_not_send_to_device"')],
    ),
    (
        "chain and frame_snap are closed",
        wf(
            GEN[:-1] + ', "chain": {"segments": 2, "colour": 1, '
            '"frame_snap": {"modulus": 8, "remainder": 1, "extra": 0}}}'
        ),
        [("DW102", '"colour"'), ("DW102", '"extra"')],
    ),
    # DW110 a near miss of a documented key in an open object; the missing key it
    # explains is not reported as well
    (
        "step kind misspelt",
        wf('"name": "g", ' + pipeline().replace('"pipeline"', '"pipline"', 1)),
        [("DW110", '"pipline"')],
    ),
    ("result misspelt", wf(GEN + ', "reslt": {"content_type": "image"}'), [("DW110", '"reslt"')]),
    (
        "a component block under a name of its own is no misspelling",
        wf(GEN[:-1] + ', "transformer_3": {"from_pretrained_arguments": {"model_name": "m"}}}'),
        [],
    ),
    # DW103 wrong type
    ("seed variable", wf(GEN, top=', "seed": "variable:s"'), [("DW103", '"variable:s"')]),
    (
        "step name number",
        wf('"name": 12, "task": {"command": "c", "arguments": {}}'),
        [("DW103", "12")],
    ),
    (
        "emoji before the error on the same line",
        '{"id": "🦄🎨 unicorn 👩‍👩‍👧", "seed": "🌈", "steps": [{' + GEN + "}]}",
        [("DW103", '"🌈"')],
    ),
    (
        "emoji in a prompt before a nested error",
        wf('"name": "g", ' + pipeline(extra=', "seed": "🎲🎲"').replace('"p"', '"🐱 on a 🛹"')),
        [("DW103", '"🎲🎲"')],
    ),
    (
        "result fps variable",
        wf(GEN + ', "result": {"content_type": "video/mp4", "fps": "variable:f"}'),
        [("DW103", '"variable:f"')],
    ),
    (
        "boolean as string",
        wf('"name": "g", ' + pipeline(conf=', "no_generator": "true"')),
        [("DW103", '"true"')],
    ),
    (
        "step kind of wrong type",
        wf('"name": "g", "pipeline": "FluxPipeline"'),
        [("DW103", '"FluxPipeline"')],
    ),
    ("step not an object", wf().replace("[]", '["gen"]'), [("DW103", '"gen"')]),
    ("root not an object", "[1, 2]", [("DW103", "[1, 2]")]),
    ("task inputs array item", wf(TASK % '"inputs": ["a", [1]]'), [("DW103", "[1]")]),
    # DW104 enum
    (
        "offload enum",
        wf('"name": "g", ' + pipeline(conf=', "offload": "modle"')),
        [("DW104", '"modle"')],
    ),
    (
        "cache type enum",
        wf('"name": "g", ' + pipeline(conf=', "cache": {"type": "teacache"}')),
        [("DW104", '"teacache"')],
    ),
    (
        "residency enum",
        wf('"name": "g", ' + pipeline(conf=', "components": {"vae": {"residency": "ondemand"}}')),
        [("DW104", '"ondemand"')],
    ),
    (
        "continuity enum",
        wf(GEN[:-1] + ', "chain": {"segments": 2, "continuity": "frame"}}'),
        [("DW104", '"frame"')],
    ),
    (
        "bitrate_mode enum",
        wf(GEN + ', "result": {"content_type": "audio/mp3", "bitrate_mode": "cbr"}'),
        [("DW104", '"cbr"')],
    ),
    # DW105 step kind
    ("step without kind", wf('"name": "lonely", "seed": 1'), [("DW105", '"name"')]),
    ("step without kind or name", wf('"seed": 1'), [("DW101", "{"), ("DW105", "{")]),
    (
        "step with two kinds",
        wf(GEN + ', "task": {"command": "c", "arguments": {}}'),
        [("DW105", '"task"')],
    ),
    (
        "step with three kinds",
        wf(GEN + ', "workflow": {}, "task": {"command": "c", "arguments": {}}'),
        [("DW105", '"workflow"'), ("DW105", '"task"')],
    ),
    # DW106 range and form
    ("steps empty", '{"id": "w", "steps": []}', [("DW106", "[]")]),
    (
        "chain trim negative",
        wf(GEN[:-1] + ', "chain": {"segments": 2, "trim_frames": -1}}'),
        [("DW106", "-1")],
    ),
    ("segments zero", wf(GEN[:-1] + ', "chain": {"segments": 0}}'), [("DW106", "0")]),
    ("shift not positive", wf(GEN[:-1] + ', "scheduler": {"shift": 0.0}}'), [("DW106", "0.0")]),
    (
        "compression level",
        wf(GEN + ', "result": {"content_type": "audio/flac", "compression_level": 1.5}'),
        [("DW106", "1.5")],
    ),
    (
        "file_base_name control char",
        wf(GEN + ', "result": {"content_type": "image/png", "file_base_name": "a\\tb"}'),
        [("DW106", '"a\\tb"')],
    ),
    (
        "teacache coefficients",
        wf('"name": "g", ' + pipeline(conf=', "teacache": {"coefficients": [1, 2]}')),
        [("DW106", "[1, 2]")],
    ),
    # DW107 exactly one of these keys
    (
        "two source keys",
        wf('"name": "g", ' + pipeline(fpa=', "from_single_file": "f.gguf"')),
        [("DW107", '"from_single_file"')],
    ),
    (
        "task arguments and inputs",
        wf(TASK % '"arguments": {}, "inputs": [1]'),
        [("DW107", '"inputs"')],
    ),
    (
        "task inputs and arguments",
        wf(TASK % '"inputs": [1], "arguments": {}'),
        [("DW107", '"arguments"')],
    ),
    ("task with neither", wf('"name": "t", "task": {"command": "c"}'), [("DW107", '"task"')]),
    (
        "chain with both length keys",
        wf(GEN[:-1] + ', "chain": {"match_audio": false, "segments": 2}}'),
        [("DW107", '"segments"')],
    ),
    ("chain with no length key", wf(GEN[:-1] + ', "chain": {"fps": 24}}'), [("DW107", '"chain"')]),
    # DW108 null
    (
        "result extra null",
        wf(GEN + ', "result": {"content_type": "image/png", "note": null}'),
        [("DW108", "null")],
    ),
    ("inputs null item", wf(TASK % '"inputs": [null]'), [("DW108", "null")]),
    ("seed null", wf(GEN, top=', "seed": null'), [("DW108", "null")]),
    # nested choices: the inner error is reported where it is, never "not valid under any"
    (
        "component with two source keys",
        wf(
            '"name": "g", '
            + pipeline(
                extra=', "transformer": {"configuration": {"component_type": "T"}, '
                '"from_pretrained_arguments": {"model_name": "a", "task": "b"}}'
            )
        ),
        [("DW107", '"task"')],
    ),
    (
        "controlnet configuration typo",
        wf(
            '"name": "g", '
            + pipeline(
                extra=', "controlnet": {"configuration": '
                '{"component_type": "C", "devise": "cuda"}, "from_pretrained_arguments": {}}'
            )
        ),
        [("DW102", '"devise"')],
    ),
    (
        "reference chain with both length keys",
        wf(
            GEN,
            '"name": "r", "pipeline_reference": {"reference_name": "gen", "arguments": {}, '
            '"chain": {"segments": 1, "match_audio": true}}',
        ),
        [("DW107", '"match_audio"')],
    ),
    (
        "two kinds and an error inside the first",
        wf('"name": "g", ' + pipeline(conf=', "offload": "disk"') + ', "workflow": {"path": 3}'),
        [("DW104", '"disk"'), ("DW105", '"workflow"'), ("DW103", "3")],
    ),
    (
        "second step: null input and both argument keys",
        wf(GEN, TASK % '"inputs": [null], "arguments": {}'),
        [("DW108", "null"), ("DW107", '"arguments"')],
    ),
    # things that pass
    ("unknown keys pass", wf(GEN + ', "colour": "red"', top=', "extra": 1'), []),
    ("workflow without path passes", wf('"name": "w", "workflow": {}'), []),
    (
        "lora scale variable",
        wf(GEN[:-1] + ', "loras": [{"model_name": "l", "scale": "variable:s"}]}'),
        [],
    ),
]


def _found(text: str) -> list[tuple[str, str]]:
    doc = parse(text)
    assert doc.strict, doc.problems
    return [(p.code, doc.text[p.start : p.end]) for p in check_schema(doc)]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES]
)
def test_diagnostics(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_table_covers_every_schema_code_but_the_fallback() -> None:
    covered = {code for _, _, expected in CASES for code, _ in expected}
    schema_codes = {c for c in CODES if c.startswith("DW1")}
    assert schema_codes - covered == {"DW109"}


def _problems(text: str) -> list[Problem]:
    return check_schema(parse(text))


def test_unknown_key_suggests_replacements() -> None:
    (p,) = _problems(wf('"name": "g", ' + pipeline(conf=', "ofload": "model"')))
    assert p.message == "Unknown key 'ofload' in 'configuration'; did you mean 'offload'?"
    assert p.data is not None and p.data["replacements"][0] == "offload"


def test_renamed_key_names_the_new_key() -> None:
    (p,) = _problems(wf('"name": "g", ' + pipeline(conf=', "do_not_send_to_device": true')))
    assert p.data == {"replacements": ["preserve_device_placement"]}
    assert "preserve_device_placement" in p.message


def test_missing_key_message_and_data() -> None:
    (p,) = _problems(wf(GEN + ', "result": {}'))
    assert p.message == "Add the required key 'content_type' to 'result' (e.g. \"image/png\")"
    assert p.data == {"missingKey": {"object": ["steps", 0, "result"], "key": "content_type"}}


def test_enum_offers_the_allowed_values_closest_first() -> None:
    (p,) = _problems(wf('"name": "g", ' + pipeline(conf=', "offload": "sequental"')))
    assert p.data == {"replacements": ["sequential", "model"]}
    assert "did you mean 'sequential'" in p.message


def test_step_kind_messages() -> None:
    (none,) = _problems(wf('"name": "x"'))
    assert none.message == (
        "A step needs exactly one of pipeline, pipeline_reference, task or workflow"
    )
    (two,) = _problems(wf(GEN + ', "workflow": {}'))
    assert two.message.startswith(none.message)
    assert "remove 'workflow' or 'pipeline'" in two.message


def test_variable_in_integer_field_explains_why() -> None:
    (p,) = _problems(wf(GEN, top=', "seed": "variable:s"'))
    assert "before it substitutes variables" in p.message


def test_broken_json_reports_wrong_values_but_not_absent_keys() -> None:
    doc = parse('{"id": "w", "seed": "x", "steps": [{"name": "a", "result": {"content_type": }')
    assert not doc.strict
    found = [(p.code, doc.text[p.start : p.end]) for p in check_schema(doc)]
    assert found == [("DW103", '"x"')]


def test_nothing_parsed_gives_no_schema_problem() -> None:
    assert check_schema(parse("")) == []
    assert check_schema(parse("{")) == []


def test_problems_are_sorted_and_unique() -> None:
    text = wf(
        GEN + ', "result": {"fps": "x", "save": "no"}',
        '"name": 1',
        top=', "seed": 1.5',
    )
    problems = _problems(text)
    assert problems == sorted(problems, key=Problem.sort_key)
    assert len({(p.code, p.start, p.end, p.message) for p in problems}) == len(problems)
    assert len(problems) == 6


# -- the fallbacks, with a schema of our own -------------------------------------------


def test_other_keywords_fall_back_to_dw109() -> None:
    checker = SchemaChecker({"type": "object", "properties": {"tags": {"uniqueItems": True}}})
    doc = parse('{"tags": [1, 1]}')
    (p,) = checker.check(doc)
    assert (p.code, doc.text[p.start : p.end]) == ("DW109", "[1, 1]")


def test_substantive_one_of_reports_the_intended_branch() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "source": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["url"],
                        "properties": {"url": {"type": "string"}},
                    },
                    {
                        "type": "object",
                        "required": ["path"],
                        "properties": {"path": {"type": "string"}, "mode": {"enum": ["r", "w"]}},
                    },
                ]
            }
        },
    }
    checker = SchemaChecker(schema)
    doc = parse('{"source": {"path": "a", "mode": "x"}}')
    found = [(p.code, doc.text[p.start : p.end]) for p in checker.check(doc)]
    assert found == [("DW104", '"x"')]


# -- the corpus ---------------------------------------------------------------------------


def test_corpus_has_exactly_one_schema_problem() -> None:
    require_corpus()
    found: list[tuple[str, str, str]] = []
    for path in sorted(CORPUS.rglob("*.json")):
        doc = parse(path.read_text(encoding="utf-8"))
        for p in check_schema(doc):
            found.append((path.relative_to(CORPUS).as_posix(), p.code, doc.text[p.start : p.end]))
    assert found == [("tests/test_data/workflows/invalid_workflow.json", "DW101", "{")]


# -- property: a strict document has schema problems exactly when it is invalid ------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-2, 2),
    st.sampled_from(["", "variable:x", "model", "sequential", "image/png", "🎨", "last_frame"]),
)
_keys = st.sampled_from(
    [
        "name",
        "pipeline",
        "task",
        "workflow",
        "seed",
        "result",
        "configuration",
        "component_type",
        "offload",
        "from_pretrained_arguments",
        "model_name",
        "task",
        "arguments",
        "inputs",
        "command",
        "content_type",
        "fps",
        "chain",
        "segments",
        "match_audio",
        "path",
        "zzz",
    ]
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.dictionaries(_keys, _values, max_size=5), max_size=3), seed=_scalars)
def test_problems_iff_invalid(steps: list[dict[str, Any]], seed: Any) -> None:
    value = {"id": "w", "seed": seed, "steps": steps}
    text = json.dumps(value, ensure_ascii=False, indent=1)
    doc = parse(text)
    problems = check_schema(doc)
    valid = jsonschema_rs.validator_for(load_schema()).is_valid(value)
    assert (problems == []) is valid
    for p in problems:
        assert 0 <= p.start < p.end <= len(text)
        assert p.code in CODES
