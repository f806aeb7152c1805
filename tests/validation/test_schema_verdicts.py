"""Verdicts of schemas/workflow.schema.json: the same pass/fail as dw's own schema on the
sample corpus and on every case of FORMAT.md 3.2, plus the quirks of 1.13.

Uses jsonschema_rs (what the server runs) and cross-checks with Python jsonschema.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from dwtest_corpus import DW_EXAMPLES, corpus_files, corpus_id, require_corpus

from dw_lsp.validation.schema import load_schema

CORPUS = DW_EXAMPLES
# The one corpus file that fails the schema (README of the corpus; FORMAT.md 3.2).
CORPUS_INVALID = {"tests/test_data/workflows/invalid_workflow.json"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return load_schema()


@pytest.fixture(scope="module")
def rs(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(schema)


@pytest.fixture(scope="module")
def py(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def _pipeline_step(**extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": "gen",
        "pipeline": {
            "configuration": {"component_type": "FluxPipeline"},
            "from_pretrained_arguments": {"model_name": "black-forest-labs/FLUX.1-dev"},
            "arguments": {"prompt": "a cat"},
        },
        "result": {"content_type": "image/png"},
    }
    step.update(extra)
    return step


def _doc(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": "w", "steps": list(steps) or [_pipeline_step()]}
    doc.update(top)
    return doc


def _with(path: tuple[str | int, ...], value: Any, base: dict[str, Any] | None = None) -> Any:
    """A valid document with the value at ``path`` set (``...`` deletes the key)."""
    doc = copy.deepcopy(base if base is not None else _doc())
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


PIPE = ("steps", 0, "pipeline")
CONF = (*PIPE, "configuration")
FPA = (*PIPE, "from_pretrained_arguments")
RESULT = ("steps", 0, "result")


def _task(**task: Any) -> dict[str, Any]:
    return _doc({"name": "t", "task": {"command": "gather_inputs", **task}})


def _chain(**chain: Any) -> dict[str, Any]:
    return _with((*PIPE, "chain"), chain)


# FORMAT.md 3.2 "Schema behaviour, checked case by case", row by row, then 1.13 and more.
CASES: list[tuple[str, Any, bool]] = [
    ("3.2 workflow step without path", _doc({"name": "w", "workflow": {}}), True),
    ("3.2 seed variable", _doc(seed="variable:s"), False),
    ("3.2 task arguments and inputs", _task(arguments={}, inputs=[1]), False),
    (
        "3.2 step with two kinds",
        _doc(_pipeline_step(task={"command": "x", "arguments": {}})),
        False,
    ),
    ("3.2 unknown step key", _doc(_pipeline_step(colour="blue")), True),
    ("3.2 configuration.ofload", _with((*CONF, "ofload"), "model"), False),
    ("3.2 model_name and from_single_file", _with((*FPA, "from_single_file"), "x.gguf"), False),
    ("3.2 steps empty", _doc(steps=[]), False),
    ("3.2 result without content_type", _with((*RESULT, "content_type"), ...), False),
    ("3.2 result extra key null", _with((*RESULT, "quality"), None), False),
    ("3.2 inputs [null]", _task(inputs=[None]), False),
    ("3.2 component-like key without fpa", _with((*PIPE, "processor"), {"x": 1}), True),
    ("3.2 name 1", _doc(_pipeline_step(name=1)), False),
    (
        "3.2 lora scale variable",
        _with((*PIPE, "loras"), [{"model_name": "a", "scale": "variable:s"}]),
        True,
    ),
    ("3.2 result.fps variable", _with((*RESULT, "fps"), "variable:f"), False),
    # 1.2 top level
    ("id missing", _with(("id",), ...), False),
    ("steps missing", _with(("steps",), ...), False),
    ("unknown top-level key", _doc(content_type="image/png"), True),
    ("variables with null", _doc(variables={"a": None, "b": {}, "c": [1]}), True),
    ("seed integer", _doc(seed=7), True),
    ("step seed variable", _doc(_pipeline_step(seed="variable:s")), False),
    # 1.3 step
    ("step without kind", _doc({"name": "x"}), False),
    ("step without name", _doc({"task": {"command": "x", "arguments": {}}}), False),
    ("release flags", _doc(_pipeline_step(release_pipeline=True, release_models=False)), True),
    ("release flag string", _doc(_pipeline_step(release_models="yes")), False),
    # 1.4 pipeline
    ("pipeline without arguments", _with((*PIPE, "arguments"), ...), False),
    ("pipeline without configuration", _with(CONF, ...), False),
    ("pipeline unknown key", _with((*PIPE, "whatever"), 3), True),
    ("configuration without component_type", _with((*CONF, "component_type"), ...), False),
    ("do_not_send_to_device rejected", _with((*CONF, "do_not_send_to_device"), True), False),
    ("preserve_device_placement", _with((*CONF, "preserve_device_placement"), True), True),
    ("offload enum", _with((*CONF, "offload"), "disk"), False),
    ("offload variable", _with((*CONF, "offload"), "variable:o"), False),
    ("offload sequential", _with((*CONF, "offload"), "sequential"), True),
    ("config boolean as string", _with((*CONF, "no_generator"), "true"), False),
    ("cache type enum", _with((*CONF, "cache"), {"type": "tea"}), False),
    ("cache needs type", _with((*CONF, "cache"), {"threshold": 0.1}), False),
    (
        "cache threshold variable",
        _with((*CONF, "cache"), {"type": "mag", "threshold": "variable:t"}),
        True,
    ),
    (
        "teacache coefficients 5",
        _with((*CONF, "teacache"), {"coefficients": [1, 2, 3, 4, 5]}),
        True,
    ),
    ("teacache coefficients 4", _with((*CONF, "teacache"), {"coefficients": [1, 2, 3, 4]}), False),
    (
        "group_offload needs offload_type",
        _with((*CONF, "group_offload"), {"use_stream": True}),
        False,
    ),
    (
        "components entry",
        _with((*CONF, "components"), {"text_encoder.model": {"residency": "on_demand", "x": 1}}),
        True,
    ),
    ("residency enum", _with((*CONF, "components"), {"vae": {"residency": "sometimes"}}), False),
    (
        "enable_tiling object",
        _with((*CONF, "components"), {"vae": {"enable_tiling": {"a": 1}}}),
        True,
    ),
    ("vae block open", _with((*CONF, "vae"), {"enable_tiling": True, "configuration": {}}), True),
    (
        "layerwise casting needs both",
        _with((*CONF, "enable_layerwise_casting"), {"storage_dtype": "x"}),
        False,
    ),
    ("configs values", _with((*CONF, "configs"), {"a": 1, "b": None, "c": [1]}), True),
    ("configs object value", _with((*CONF, "configs"), {"a": {}}), False),
    # 1.4.2 components, 1.4.3 from_pretrained_arguments, 1.4.4 quantization
    (
        "component block",
        _with(
            (*PIPE, "transformer"),
            {
                "configuration": {"component_type": "T", "preserve_device_placement": True, "x": 1},
                "from_pretrained_arguments": {"model_name": "m", "subfolder": "transformer"},
                "quantization_config": {"configuration": {"config_type": "C"}, "arguments": {}},
            },
        ),
        True,
    ),
    (
        "component without fpa",
        _with((*PIPE, "vae"), {"configuration": {"component_type": "V"}}),
        False,
    ),
    (
        "component config without type",
        _with((*PIPE, "vae"), {"configuration": {}, "from_pretrained_arguments": {}}),
        False,
    ),
    (
        "fpa without source",
        _with(FPA, {"torch_dtype": "torch.float16", "safety_checker": None}),
        True,
    ),
    ("fpa task source", _with(FPA, {"task": "image-to-text"}), True),
    (
        "fpa three sources",
        _with(FPA, {"model_name": "a", "from_single_file": "b", "task": "c"}),
        False,
    ),
    ("fpa model_name and task", _with(FPA, {"model_name": "a", "task": "c"}), False),
    (
        "quantization without arguments",
        _with(
            (*PIPE, "vae"),
            {
                "configuration": {"component_type": "V"},
                "from_pretrained_arguments": {},
                "quantization_config": {"configuration": {"config_type": "C"}},
            },
        ),
        False,
    ),
    (
        "controlnet closed configuration",
        _with(
            (*PIPE, "controlnet"),
            {"configuration": {"component_type": "C", "x": 1}, "from_pretrained_arguments": {}},
        ),
        False,
    ),
    # 1.4.5 loras, ip_adapter; 1.4.6 scheduler; remote text encoder
    ("lora needs model_name", _with((*PIPE, "loras"), [{"scale": 1}]), False),
    ("lora extra key", _with((*PIPE, "loras"), [{"model_name": "m", "revision": "main"}]), True),
    (
        "ip_adapter subfolder null",
        _with((*PIPE, "ip_adapter"), {"model_name": "m", "subfolder": None}),
        True,
    ),
    ("scheduler shift only", _with((*PIPE, "scheduler"), {"shift": 3.0}), True),
    ("scheduler shift variable", _with((*PIPE, "scheduler"), {"shift": "variable:s"}), True),
    ("scheduler shift zero", _with((*PIPE, "scheduler"), {"shift": 0}), False),
    ("scheduler empty", _with((*PIPE, "scheduler"), {"from_config_args": {}}), False),
    (
        "scheduler type",
        _with((*PIPE, "audio_scheduler"), {"configuration": {"scheduler_type": "S"}}),
        True,
    ),
    ("remote text encoder needs url", _with((*PIPE, "remote_text_encoder"), {}), False),
    ("pipeline seed variable", _with((*PIPE, "seed"), "variable:s"), False),
    # 1.4.8 chain
    ("chain segments variable", _chain(segments="variable:n", trim_frames="variable:t"), True),
    ("chain segments 0", _chain(segments=0), False),
    ("chain both length keys", _chain(segments=2, match_audio=False), False),
    ("chain no length key", _chain(continuity="last_frame"), False),
    ("chain closed", _chain(segments=2, colour=1), False),
    ("chain continuity enum", _chain(segments=2, continuity="first_frame"), False),
    (
        "frame_snap closed",
        _chain(match_audio=True, frame_snap={"modulus": 8, "remainder": 1, "x": 1}),
        False,
    ),
    ("frame_snap needs remainder", _chain(segments=2, frame_snap={"modulus": 8}), False),
    ("chain prompts empty", _chain(segments=2, prompts=[]), False),
    # 1.5 pipeline_reference, 1.6 task, 1.7 workflow
    (
        "reference",
        _doc(
            _pipeline_step(),
            {"name": "r", "pipeline_reference": {"reference_name": "gen", "arguments": {}}},
        ),
        True,
    ),
    (
        "reference without arguments",
        _doc({"name": "r", "pipeline_reference": {"reference_name": "gen"}}),
        False,
    ),
    (
        "reference chain",
        _doc(
            {
                "name": "r",
                "pipeline_reference": {"reference_name": "g", "arguments": {}, "chain": {"x": 1}},
            }
        ),
        False,
    ),
    ("task inputs scalars", _task(inputs=["a", 1, 2.5, True, {"k": 1}]), True),
    ("task inputs array item", _task(inputs=[[1]]), False),
    ("task without arguments or inputs", _task(), False),
    ("task without command", _doc({"name": "t", "task": {"arguments": {}}}), False),
    ("task pipeline_reference", _task(arguments={}, pipeline_reference="gen"), True),
    (
        "workflow path variable",
        _doc({"name": "w", "workflow": {"path": "variable:p", "arguments": {"a": 1}}}),
        True,
    ),
    ("workflow path number", _doc({"name": "w", "workflow": {"path": 1}}), False),
    # 1.8 result
    ("result fps integer", _with((*RESULT, "fps"), 24), True),
    ("result fps float", _with((*RESULT, "fps"), 23.976), False),
    ("result bitrate enum", _with((*RESULT, "bitrate_mode"), "FAST"), False),
    ("result compression range", _with((*RESULT, "compression_level"), 2), False),
    ("result file_base_name control char", _with((*RESULT, "file_base_name"), "a\nb"), False),
    ("result file_base_name long", _with((*RESULT, "file_base_name"), "a" * 201), False),
    ("result extra key", _with((*RESULT, "quality"), 90), True),
    ("result null save", _with((*RESULT, "save"), None), False),
]


@pytest.mark.parametrize(("doc", "valid"), [(d, v) for _, d, v in CASES], ids=[c[0] for c in CASES])
def test_case_verdicts(
    doc: Any, valid: bool, rs: jsonschema_rs.Validator, py: jsonschema.Draft202012Validator
) -> None:
    assert rs.is_valid(doc) is valid
    assert py.is_valid(doc) is valid


def test_schema_is_valid_2020_12(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://dw-lsp.dev/schemas/workflow.schema.json"


def _property_schemas(node: Any, where: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            found.append((f"{where}/properties/{name}", sub))
        for key, sub in node.items():
            found.extend(_property_schemas(sub, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found.extend(_property_schemas(sub, f"{where}/{i}"))
    return found


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    props = _property_schemas(schema, "#")
    assert len(props) > 150
    missing = [where for where, sub in props if not str(sub.get("description", "")).strip()]
    assert missing == []
    undocumented_defs = [n for n, d in schema["$defs"].items() if "description" not in d]
    assert undocumented_defs == []


def test_closed_objects_are_exactly_those_of_format_1_13(schema: dict[str, Any]) -> None:
    closed = sorted(n for n, d in schema["$defs"].items() if d.get("additionalProperties") is False)
    assert closed == ["chain", "frameSnap", "pipelineConfiguration"]


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_corpus_verdicts(
    path: Path, rs: jsonschema_rs.Validator, py: jsonschema.Draft202012Validator
) -> None:
    require_corpus()
    doc = json.loads(path.read_text(encoding="utf-8"))
    expected = path.relative_to(CORPUS).as_posix() not in CORPUS_INVALID
    assert rs.is_valid(doc) is expected
    assert py.is_valid(doc) is expected


def test_corpus_invalid_file_misses_steps(rs: jsonschema_rs.Validator) -> None:
    require_corpus()
    (name,) = CORPUS_INVALID
    doc = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    errors = list(rs.iter_errors(doc))
    assert [(e.instance_path, e.kind.name) for e in errors] == [([], "required")]
    assert "steps" in errors[0].message
