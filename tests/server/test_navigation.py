"""Definition, references and rename of variables and steps, from every reference form;
hover on them and on keys, classes, arguments and task commands."""

from __future__ import annotations

import json

import pytest
from server_samples import SAMPLE, knowledge, nth

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.hover import hover, hover_text
from dw_lsp.server.navigation import (
    RenameError,
    definition,
    prepare_rename,
    references,
    rename,
)
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.symbols import symbols_of

DOC = parse(SAMPLE)
KNOW = knowledge()


def word(span: tuple[int, int] | None) -> str:
    assert span is not None
    return SAMPLE[span[0] : span[1]]


def apply(text: str, edits) -> str:
    for edit in sorted(edits, key=lambda e: e.span, reverse=True):
        text = text[: edit.span[0]] + edit.new_text + text[edit.span[1] :]
    return text


@pytest.mark.parametrize(
    ("needle", "n", "kind_span"),
    [
        ('"variable:prompt"', 0, '"prompt": "a cat'),
        ('"variable:prompt"', 1, '"prompt": "a cat'),
        ('"variable:steps"', 0, '"steps": 20'),
        ('"reference_name": "draw"', 0, '"name": "draw"'),
        ('"previous_result:draw.images"', 0, '"name": "draw"'),
    ],
)
def test_definition_from_each_reference_form(needle: str, n: int, kind_span: str):
    offset = nth(SAMPLE, needle, n, len(needle) - 3)
    span = definition(DOC, offset)
    assert span is not None
    name_start = SAMPLE.index(kind_span)
    assert name_start <= span[0] < name_start + len(kind_span)


def test_definition_of_from_previous_result_and_task_pipeline_reference():
    text = json.dumps(
        {
            "id": "x",
            "steps": [
                {"name": "p", "pipeline": {}},
                {
                    "name": "t",
                    "task": {
                        "command": "batch_decode_post_process",
                        "pipeline_reference": "p",
                        "arguments": {},
                    },
                },
                {
                    "name": "u",
                    "pipeline": {
                        "arguments": {"ref": {"reference_type": "X", "from_previous_result": "t"}}
                    },
                },
            ],
        }
    )
    doc = parse(text)
    span = definition(doc, text.index('"pipeline_reference": "p"') + 23)
    assert span is not None and text[span[0] - 8 : span[1]] == 'name": "p'
    span = definition(doc, text.index('"from_previous_result": "t"') + 25)
    assert span is not None and text[span[0] - 8 : span[1]] == 'name": "t'


def test_references_of_a_variable_from_its_declaration():
    offset = SAMPLE.index('"prompt": "a cat') + 2
    spans = references(DOC, offset, include_declaration=True)
    assert [word(s) for s in spans] == ["prompt"] * 3
    assert len(references(DOC, offset, include_declaration=False)) == 2


def test_references_of_a_step_cover_all_forms():
    offset = SAMPLE.index('"name": "draw"') + 10
    spans = references(DOC, offset)
    assert [word(s) for s in spans] == ["draw"] * 3


def test_rename_variable_updates_declaration_and_references():
    offset = nth(SAMPLE, '"variable:prompt"', 0, 12)
    edits = rename(DOC, offset, "subject")
    result = apply(SAMPLE, edits)
    value = json.loads(result)
    assert "subject" in value["variables"] and "prompt" not in value["variables"]
    assert result.count('"variable:subject"') == 2
    assert '"prompt": "variable:subject"' in result  # argument keys are not renamed


def test_rename_step_keeps_the_property_of_previous_result():
    offset = SAMPLE.index('"reference_name": "draw"') + 20
    result = apply(SAMPLE, rename(DOC, offset, "paint"))
    assert '"previous_result:paint.images"' in result
    assert '"reference_name": "paint"' in result
    assert json.loads(result)["steps"][0]["name"] == "paint"


def test_rename_with_escapes_in_the_reference():
    text = (
        '{"variables": {"a": 1}, '
        '"steps": [{"name": "s", "task": {"arguments": {"x": "variable:\\u0061"}}}]}'
    )
    doc = parse(text)
    result = apply(text, rename(doc, text.index('"a"') + 1, "b"))
    assert json.loads(result)["steps"][0]["task"]["arguments"]["x"] == "variable:b"


@pytest.mark.parametrize(
    ("anchor", "new", "message"),
    [
        ('"prompt": "a cat', "1bad", "not a valid variable name"),
        ('"prompt": "a cat', "steps", "already exists"),
        ('"name": "draw"', "a/b", "path separator"),
        ('"name": "draw"', "caption", "already exists"),
        ('"name": "draw"', " ", "must not be empty"),
    ],
)
def test_rename_rejects_invalid_names(anchor: str, new: str, message: str):
    offset = SAMPLE.index(anchor) + len(anchor) - 4
    if anchor.startswith('"prompt"'):
        offset = SAMPLE.index(anchor) + 2
    with pytest.raises(RenameError, match=message):
        rename(DOC, offset, new)


def test_prepare_rename_gives_the_name_span_and_refuses_undeclared():
    span, name = prepare_rename(DOC, nth(SAMPLE, '"variable:steps"', 0, 12)) or ((0, 0), "")
    assert name == "steps" and SAMPLE[span[0] : span[1]] == "steps"
    assert prepare_rename(DOC, SAMPLE.index('"id"') + 1) is None
    text = (
        '{"variables": {}, "steps": [{"name": "a", "task": {"arguments": {"x": "variable:nope"}}}]}'
    )
    with pytest.raises(RenameError, match="not declared"):
        prepare_rename(parse(text), text.index("nope"))


def test_outline_splits_dotted_step_names_like_dw():
    text = json.dumps(
        {
            "steps": [
                {"name": "v1.0", "task": {}},
                {"name": "b", "task": {"arguments": {"x": "previous_result:v1.0.k"}}},
            ]
        }
    )
    outline = symbols_of(parse(text))
    (ref,) = outline.references
    assert (ref.name, ref.prop) == ("v1.0", "k")


# -- hover ---------------------------------------------------------------------------------
def test_hover_on_variable_reference_shows_the_default():
    text, span = hover_text(DOC, nth(SAMPLE, '"variable:prompt"', 0, 12), KNOW) or ("", (0, 0))
    assert "a cat 🐱 on a mat" in text and "2 references" in text
    assert SAMPLE[span[0] : span[1]] == "prompt"


def test_hover_on_step_reference_summarises_the_step():
    text, _ = hover_text(DOC, SAMPLE.index('"reference_name": "draw"') + 20, KNOW) or ("", 0)
    assert "`pipeline`" in text and "StableDiffusionPipeline" in text and "image/png" in text


def test_hover_on_keys_classes_arguments_and_commands():
    text, _ = hover_text(DOC, SAMPLE.index('"reference_name"') + 3, KNOW) or ("", 0)
    assert "reference_name" in text
    text, _ = hover_text(DOC, SAMPLE.index("StableDiffusionPipeline") + 3, KNOW) or ("", 0)
    assert "text-to-image generation using Stable Diffusion" in text
    text, _ = hover_text(DOC, SAMPLE.index('"num_inference_steps"') + 3, KNOW) or ("", 0)
    assert "denoising steps" in text and "50" in text
    text, _ = hover_text(DOC, SAMPLE.index('"image_to_text"') + 3, KNOW) or ("", 0)
    assert "model_name" in text


def test_hover_markup_follows_the_client_and_emoji_ranges_are_utf16():
    offset = nth(SAMPLE, '"variable:prompt"', 1, 12)
    md = hover(DOC, offset, KNOW, ClientFeatures(hover_markdown=True))
    plain = hover(DOC, offset, KNOW, ClientFeatures())
    assert md is not None and plain is not None
    assert md.contents.kind == "markdown" and plain.contents.kind == "plaintext"
    assert "```" not in plain.contents.value
    line = SAMPLE.splitlines()[DOC.lines.line_of(offset)]
    col = line.index("variable:prompt") + len("variable:")
    assert md.range is not None and md.range.start.character == col + 2  # two emoji before


def test_hover_on_nothing():
    assert hover_text(parse("{}"), 5, KNOW) is None
    assert hover_text(parse(""), 0, KNOW) is None
