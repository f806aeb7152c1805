"""Completion as a plain function: keys from the schema, values from the document, the
catalog and the task table, with text edits that replace exactly what is being typed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lsprotocol import types
from server_samples import SAMPLE, cursor, knowledge

from dw_lsp.server.candidates import FILE_LIMIT
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.completion import complete
from dw_lsp.server.skeleton import SKELETON, skeleton_text
from dw_lsp.validation.check import check_text
from dw_lsp.workflow.document import parse

SNIPPETS = ClientFeatures(snippets=True, completion_markdown=True)
PLAIN = ClientFeatures()
KNOW = knowledge()


def items_at(
    text: str,
    client: ClientFeatures = SNIPPETS,
    encoding: str = "utf-16",
    base_dir: Path | None = None,
):
    text, offset = cursor(text)
    doc = parse(text)
    return doc, complete(doc, offset, KNOW, client, encoding, base_dir)  # type: ignore[arg-type]


def labels(items: list[types.CompletionItem]) -> list[str]:
    return [i.label for i in items]


def apply(text: str, item: types.CompletionItem, doc_text: str | None = None) -> str:
    """Apply an item's text edit (and additional edits) to the document text."""
    if not text:
        assert isinstance(item.text_edit, types.TextEdit)
        return item.text_edit.new_text
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
    _, items = items_at('{"id": "x"} |')
    assert items == []


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


# -- file paths ----------------------------------------------------------------------------
def media_at(value: str, key: str = "image") -> str:
    return (
        '{"steps": [{"name": "a", "task": {"command": "image_to_text", '
        f'"arguments": {{"{key}": "{value}"}}}}}}]}}'
    )


def sub_workflow_at(value: str) -> str:
    return f'{{"steps": [{{"name": "a", "workflow": {{"path": "{value}"}}}}]}}'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A workflow folder: media, sibling workflows, sub-folders and things to skip."""
    base = tmp_path / "wf"
    for name in ("inputs/cat.png", "inputs/car.JPG", "inputs/cat.txt", "inputs/clip.mp4"):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text("x")
    (base / "inputs" / "cats").mkdir()
    (base / "inputs" / ".hidden.png").write_text("x")
    (base / "inputs" / ".git").mkdir()
    (base / "inputs" / "v1..2.png").write_text("x")
    (base / "child.json").write_text("{}")
    (base / "notes.md").write_text("x")
    (base / "photo.webp").write_text("x")
    (tmp_path / "outside.png").write_text("x")
    (tmp_path / "outside").mkdir()
    return base


def test_media_paths_list_folders_first_and_filter_extensions(folder: Path):
    _, items = items_at(media_at("|"), base_dir=folder)
    names = labels(items)
    assert names[:2] == ["inputs/", "photo.webp"]
    assert "child.json" not in names and "notes.md" not in names
    assert items[0].kind == types.CompletionItemKind.Folder
    assert items[1].kind == types.CompletionItemKind.File
    _, items = items_at(media_at("inputs/ca|"), base_dir=folder)
    assert [n for n in labels(items) if n.startswith("inputs/")] == [
        "inputs/cats/",
        "inputs/car.JPG",
        "inputs/cat.png",
    ]


def test_video_keys_list_videos(folder: Path):
    _, items = items_at(media_at("inputs/|", key="control_video"), base_dir=folder)
    assert [n for n in labels(items) if n.startswith("inputs/")] == [
        "inputs/cats/",
        "inputs/clip.mp4",
    ]


def test_path_edit_replaces_the_string_content(folder: Path):
    text = media_at("inputs/ca|t")
    doc, items = items_at(text, base_dir=folder)
    cat = next(i for i in items if i.label == "inputs/cat.png")
    clean, offset = cursor(text)
    start = clean.rindex('"', 0, offset) + 1
    assert cat.text_edit.range.start == types.Position(*doc.lines.position(start))
    assert apply(clean, cat) == media_at("inputs/cat.png").replace("|", "")


def test_path_range_is_in_utf16_units(folder: Path):
    (folder / "🐱").mkdir()
    (folder / "🐱" / "cat.png").write_text("x")
    text = '{"id": "🐶", ' + media_at("🐱/|")[1:]
    _, items = items_at(text, base_dir=folder)
    cat = next(i for i in items if i.label == "🐱/cat.png")
    clean, _offset = cursor(text)
    start = clean.index('"🐱/') + 1
    assert cat.text_edit.range.start.character == start + 1  # the 🐶 takes two units
    assert cat.text_edit.range.end.character == start + 4  # 🐱/ is three units
    assert apply(clean, cat) == clean.replace('"🐱/"', '"🐱/cat.png"')


@pytest.mark.parametrize(
    "text",
    [
        media_at("inputs/|", key="image"),
        media_at("inputs/|", key="ref_image"),
        '{"variables": {"image": "inputs/|"}, "steps": []}',
        '{"steps": [{"name": "a", "task": {"arguments": {"image": ["x.png", "inputs/|"]}}}]}',
        '{"steps": [{"name": "a", "task": {"arguments": {"image": {"location": "inputs/|"}}}}]}',
        '{"steps": [{"name": "a", "pipeline": {"arguments": {"x": '
        '{"media_type": "image", "location": "inputs/|"}}}}]}',
    ],
)
def test_media_positions(folder: Path, text: str):
    _, items = items_at(text, base_dir=folder)
    assert "inputs/cat.png" in labels(items)


@pytest.mark.parametrize(
    "text",
    [
        media_at("inputs/|", key="images"),
        media_at("inputs/|", key="prompt"),
        '{"steps": [{"name": "a", "task": {"arguments": {"x": {"location": "inputs/|"}}}}]}',
        '{"steps": [{"name": "a", "task": {"arguments": {"image": {"other": "inputs/|"}}}}]}',
    ],
)
def test_no_paths_elsewhere(folder: Path, text: str):
    _, items = items_at(text, base_dir=folder)
    assert not any(i.label.startswith("inputs/") for i in items)


def test_explicit_media_type_picks_the_extensions(folder: Path):
    text = (
        '{"steps": [{"name": "a", "pipeline": {"arguments": {"image": '
        '{"media_type": "video", "location": "inputs/|"}}}}]}'
    )
    _, items = items_at(text, base_dir=folder)
    assert "inputs/clip.mp4" in labels(items) and "inputs/cat.png" not in labels(items)


def test_sub_workflow_path_lists_json_files_and_builtins(folder: Path):
    _, items = items_at(sub_workflow_at("|"), base_dir=folder)
    names = labels(items)
    assert names[:2] == ["inputs/", "child.json"]
    assert "builtin:test.json" in names and "photo.webp" not in names
    _, items = items_at(sub_workflow_at("builtin:|"), base_dir=folder)
    assert "child.json" not in labels(items) and "builtin:test.json" in labels(items)


@pytest.mark.parametrize(
    "value", ["../|", "inputs/../|", "inputs/../../|", "~/|", "variable:|", "https://x/|"]
)
def test_paths_never_leave_the_workflow_folder(folder: Path, value: str):
    _, items = items_at(media_at(value), base_dir=folder)
    assert not any(
        i.kind in (types.CompletionItemKind.File, types.CompletionItemKind.Folder) for i in items
    )


def test_absolute_paths_outside_the_folder_list_nothing(folder: Path):
    outside = folder.parent.as_posix()
    _, items = items_at(media_at(outside + "/|"), base_dir=folder)
    assert not any("outside" in i.label for i in items)
    _, items = items_at(media_at(folder.as_posix() + "/inputs/c|"), base_dir=folder)
    assert folder.as_posix() + "/inputs/cat.png" in labels(items)


def test_symlinks_out_of_the_folder_are_skipped(folder: Path):
    try:
        (folder / "link").symlink_to(folder.parent / "outside", target_is_directory=True)
        (folder / "pic.png").symlink_to(folder.parent / "outside.png")
    except OSError:
        pytest.skip("no symlinks here")
    _, items = items_at(media_at("|"), base_dir=folder)
    assert "link/" not in labels(items) and "pic.png" not in labels(items)
    _, items = items_at(media_at("link/|"), base_dir=folder)
    assert items == [] or not any(i.label.startswith("link/") for i in items)


def test_no_paths_for_an_unsaved_buffer():
    _, items = items_at(media_at("|"))
    assert not any(i.kind == types.CompletionItemKind.Folder for i in items)
    _, items = items_at(sub_workflow_at("|"))
    assert all(i.label.startswith("builtin:") for i in items)


def test_file_list_is_capped(tmp_path: Path):
    for n in range(FILE_LIMIT + 50):
        (tmp_path / f"img{n:03d}.png").write_text("x")
    _, items = items_at(media_at("|"), base_dir=tmp_path)
    assert sum(i.kind == types.CompletionItemKind.File for i in items) == FILE_LIMIT


def test_escaped_backslashes_are_read_as_separators(folder: Path):
    _, items = items_at(media_at("inputs\\\\ca|"), base_dir=folder)
    cat = next(i for i in items if i.label == "inputs\\cat.png")
    assert cat.text_edit.new_text == "inputs\\\\cat.png"


# -- a new document ------------------------------------------------------------------------
def test_skeleton_in_an_empty_document():
    for text in ("|", "\n  |\n"):
        _, items = items_at(text)
        assert labels(items) == ["New workflow"]
        item = items[0]
        assert item.insert_text_format == types.InsertTextFormat.Snippet
        assert item.text_edit.new_text == SKELETON
        clean, offset = cursor(text)
        assert item.text_edit.range.start == item.text_edit.range.end
        assert apply(clean, item) == clean[:offset] + SKELETON + clean[offset:]


def test_skeleton_replaces_an_empty_root_object():
    text = "{\n  |\n}"
    _, items = items_at(text, PLAIN)
    assert items[0].label == "New workflow"
    assert "steps" in labels(items)  # the keys are still there
    clean, _ = cursor(text)
    result = apply(clean, items[0])
    assert result == skeleton_text()
    assert json.loads(result)["steps"][0]["pipeline"]["arguments"] == {"prompt": "variable:prompt"}


def test_no_skeleton_once_the_root_has_members_or_below_the_root():
    _, items = items_at('{"id": "x", |}')
    assert "New workflow" not in labels(items)
    _, items = items_at('{"steps": [{"name": "a", "result": {|}}]}')
    assert "New workflow" not in labels(items)


def test_skeleton_checks_clean_with_its_defaults():
    expanded = re.sub(r"\$\{\d+:([^}]*)\}|\$\d+", lambda m: m.group(1) or "", SKELETON)
    assert expanded == skeleton_text()
    value = json.loads(expanded)
    assert value["steps"][0]["pipeline"]["configuration"] == {
        "component_type": "StableDiffusionPipeline"
    }
    assert value["steps"][0]["result"] == {"content_type": "image/png"}
    assert set(value) == {"id", "description", "variables", "steps"}
    _, problems = check_text(expanded)
    assert problems == []
