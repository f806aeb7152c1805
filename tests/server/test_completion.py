"""Completion as a plain function: keys from the schema, values from the document, the
catalog and the task table, with text edits that replace exactly what is being typed."""

from __future__ import annotations

import pytest
from lsprotocol import types
from server_samples import SAMPLE, cursor, knowledge

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.completion import complete
from dw_lsp.workflow.document import parse

SNIPPETS = ClientFeatures(snippets=True, completion_markdown=True)
PLAIN = ClientFeatures()
KNOW = knowledge()


def items_at(text: str, client: ClientFeatures = SNIPPETS, encoding: str = "utf-16"):
    text, offset = cursor(text)
    doc = parse(text)
    return doc, complete(doc, offset, KNOW, client, encoding)  # type: ignore[arg-type]


def labels(items: list[types.CompletionItem]) -> list[str]:
    return [i.label for i in items]


def apply(text: str, item: types.CompletionItem, doc_text: str | None = None) -> str:
    """Apply an item's text edit (and additional edits) to the document text."""
    doc = parse(text)
    edits = [item.text_edit, *(item.additional_text_edits or [])]
    spans = []
    for edit in edits:
        assert isinstance(edit, types.TextEdit)
        start = doc.lines.offset(edit.range.start.line, edit.range.start.character)
        end = doc.lines.offset(edit.range.end.line, edit.range.end.character)
        spans.append((start, end, edit.new_text))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def test_top_level_keys_skip_present_ones():
    _, items = items_at('{"id": "x", |}')
    assert labels(items) == ["description", "variables", "seed", "steps"]
    steps = next(i for i in items if i.label == "steps")
    assert steps.insert_text_format == types.InsertTextFormat.Snippet
    assert steps.text_edit.new_text == '"steps": [$1]'
    assert steps.documentation is not None and "executed in order" in steps.documentation.value


def test_plain_text_when_the_client_has_no_snippets():
    _, items = items_at('{"id": "x", |}', PLAIN)
    steps = next(i for i in items if i.label == "steps")
    assert steps.insert_text_format == types.InsertTextFormat.PlainText
    assert steps.text_edit.new_text == '"steps": []'
    assert all("$" not in i.text_edit.new_text for i in items)


def test_partial_key_is_replaced_with_quotes_and_a_comma_is_added():
    text = '{"id": "x",\n "ste|\n "description": "d"}'
    _, items = items_at(text)
    steps = next(i for i in items if i.label == "steps")
    assert steps.filter_text == '"steps"'
    clean, _ = cursor(text)
    assert apply(clean, steps) == '{"id": "x",\n "steps": [$1],\n "description": "d"}'


def test_missing_comma_before_the_new_member_is_inserted():
    text = '{"steps": [{"name": "a", "pipeline": {"configuration": {"component_type": "X"\n |}}}]}'
    _, items = items_at(text, PLAIN)
    offload = next(i for i in items if i.label == "offload")
    clean, _ = cursor(text)
    result = apply(clean, offload)
    assert '"component_type": "X",\n "offload": "model"' in result


def test_step_keys_offer_every_step_kind():
    _, items = items_at('{"steps": [{"name": "a", |}]}')
    assert {"pipeline", "pipeline_reference", "task", "workflow", "result"} <= set(labels(items))


def test_enum_value_choice_snippet_after_key():
    _, items = items_at('{"steps": [{"name": "a", "pipeline": {"configuration": {|}}}]}')
    offload = next(i for i in items if i.label == "offload")
    assert offload.text_edit.new_text == '"offload": "${1|model,sequential|}"'
    component = next(i for i in items if i.label == "component_type")
    assert component.sort_text < offload.sort_text  # required first


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"steps": [{"name": "a", "pipeline": {"configuration": {"offload": "|"}}}]}',
            ["model", "sequential"],
        ),
        ('{"steps": [{"name": "a", "result": {"content_type": "im|"}}]}', ["image/png"]),
        (
            '{"steps": [{"name": "a", "pipeline": {"from_pretrained_arguments": '
            '{"torch_dtype": "|"}}}]}',
            ["torch.bfloat16", "{auto}"],
        ),
        (
            '{"steps": [{"name": "a", "vae": {"configuration": {"compute_dtype": "|"}}}]}',
            ["torch.float16"],
        ),
        (
            '{"steps": [{"name": "a", "workflow": {"path": "|"}}]}',
            ["builtin:augment_prompt.json", "builtin:test.json"],
        ),
        ('{"steps": [{"name": "a", "task": {"command": "qr|"}}]}', ["qr_code", "upscale"]),
        (
            '{"steps": [{"name": "a", "pipeline": {"configuration": {"component_type": "|"}}}]}',
            ["StableDiffusionPipeline", "FluxPipeline"],
        ),
        (
            '{"steps": [{"name": "a", "pipeline": {"unet": {"configuration": '
            '{"component_type": "|"}}}}]}',
            ["UNet2DConditionModel"],
        ),
    ],
)
def test_string_values(text: str, expected: list[str]):
    _, items = items_at(text)
    assert set(expected) <= set(labels(items))


def test_component_type_of_a_component_offers_models_not_pipelines():
    _, items = items_at(
        '{"steps": [{"name": "a", "pipeline": {"unet": {"configuration": '
        '{"component_type": "|"}}}}]}'
    )
    assert "StableDiffusionPipeline" not in labels(items)


def test_variable_names_replace_the_string_content():
    text = SAMPLE.replace('"prompt": "variable:prompt", "num', '"prompt": "variable:pr|", "num')
    doc, items = items_at(text)
    assert labels(items) == ["variable:prompt", "variable:steps"]
    item = items[0]
    clean, offset = cursor(text)
    start = clean.rindex('"', 0, offset) + 1
    assert item.text_edit.range.start == types.Position(*doc.lines.position(start))
    assert apply(clean, item).count('"variable:prompt"') == 2


def test_earlier_steps_after_previous_result():
    text = SAMPLE.replace('"previous_result:draw.images"', '"previous_result:|"')
    _, items = items_at(text)
    assert labels(items) == ["previous_result:draw", "previous_result:again"]
    assert items[0].detail == "pipeline · StableDiffusionPipeline · image/png"


def test_reference_name_offers_only_earlier_pipeline_steps():
    text = SAMPLE.replace('"reference_name": "draw"', '"reference_name": "|"')
    _, items = items_at(text)
    assert labels(items) == ["draw"]


def test_from_previous_result_offers_earlier_steps():
    text = SAMPLE.replace(
        '"image": "previous_result:draw.images"',
        '"reference": {"reference_type": "X", "from_previous_result": "|"}',
    )
    _, items = items_at(text)
    assert labels(items) == ["draw", "again"]


def test_pipeline_call_arguments_from_the_catalog():
    text = SAMPLE.replace(
        '"arguments": {"prompt": "variable:prompt", "num',
        '"arguments": {| "prompt": "variable:prompt", "num',
    )
    _, items = items_at(text)
    assert "guidance_scale" in labels(items)
    assert "prompt" not in labels(items)  # already there
    guidance = next(i for i in items if i.label == "guidance_scale")
    assert guidance.text_edit.new_text == '"guidance_scale": ${1:7.5},'
    output = next(i for i in items if i.label == "output_type")
    # A string category under a *_type key must be escaped, or dw imports it (DW222).
    assert output.text_edit.new_text == '"output_type": "${1:{pil\\}}",'


def test_pipeline_reference_arguments_use_the_referenced_pipeline():
    text = SAMPLE.replace('{"negative_prompt": "🐶🐶",', '{| "negative_prompt": "🐶🐶",')
    _, items = items_at(text)
    assert "guidance_scale" in labels(items)


def test_task_arguments_and_device():
    text = SAMPLE.replace('"arguments": {"image": "previous', '"arguments": {| "image": "previous')
    _, items = items_at(text)
    assert {"model_name", "max_new_tokens"} <= set(labels(items))
    assert "device" in labels(items)


def test_sub_workflow_arguments_are_the_childs_variables():
    text = '{"steps": [{"name": "a", "workflow": {"path": "builtin:test.json", "arguments": {|}}}]}'
    _, items = items_at(text)
    assert set(labels(items)) == {"prompt", "num_images_per_prompt"}


def test_boolean_and_object_values_after_a_colon():
    _, items = items_at(
        '{"steps": [{"name": "a", "pipeline": {"configuration": {"no_generator": |}}}]}'
    )
    assert labels(items) == ["true", "false"]
    _, items = items_at('{"steps": [{"name": "a", "result": |}]}')
    assert items and items[-1].text_edit.new_text == "{$1}"


def test_bare_word_value_is_replaced_whole():
    text = '{"steps": [{"name": "a", "pipeline": {"configuration": {"offload": mo|}}}]}'
    _, items = items_at(text)
    clean, _offset = cursor(text)
    model = next(i for i in items if i.label == "model")
    assert apply(clean, model) == clean.replace("mo}", '"model"}')


def test_no_variable_suggestions_where_the_schema_forbids_strings():
    _, items = items_at('{"steps": [{"name": "a", "pipeline": {"configuration": {"offload": |}}}]}')
    assert not any(i.label.startswith("variable:") for i in items)


def test_cursor_before_a_string_or_outside_the_document_offers_nothing():
    text = '{"id": |"x"}'
    _, items = items_at(text)
    assert items == []
    doc = parse("")
    assert complete(doc, 0, KNOW, SNIPPETS) == []


def test_emoji_columns_in_utf16_and_utf8():
    line = (
        '{"variables": {"p": "🐱"}, "id": "🐶", '
        '"steps": [{"name": "a", "task": {"command": "q|"}}]}'
    )
    clean, _offset = cursor(line)
    start = clean.index('"q"') + 1
    for encoding, width in (("utf-16", 2), ("utf-8", 4), ("utf-32", 1)):
        _, items = items_at(line, encoding=encoding)
        rng = items[0].text_edit.range
        assert rng.start.character == start + 2 * (width - 1)
