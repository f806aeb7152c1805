"""Semantic rules: snippet -> every expected code with the exact text its range covers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dw_lsp.validation.check import check_document
from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.rules.semantic import check_semantics
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.problem import Problem


def pipe(name: str, args: str = '"prompt": "p"', conf: str = "", extra: str = "") -> str:
    """A pipeline step: text spliced into configuration, arguments and the pipeline."""
    return (
        f'"name": "{name}", "pipeline": {{"configuration": {{"component_type": "FluxPipeline"'
        f'{conf}}}, "from_pretrained_arguments": {{"model_name": "m"}}, "arguments": {{{args}}}'
        f"{extra}}}"
    )


def task(name: str, command: str, args: str = "", extra: str = "") -> str:
    return f'"name": "{name}", "task": {{"command": "{command}", "arguments": {{{args}}}{extra}}}'


def ref(name: str, target: str, args: str = '"prompt": "p"', extra: str = "") -> str:
    return (
        f'"name": "{name}", "pipeline_reference": {{"reference_name": "{target}", '
        f'"arguments": {{{args}}}{extra}}}'
    )


def sub(name: str, path: str, args: str = "") -> str:
    arguments = f', "arguments": {{{args}}}' if args else ""
    return f'"name": "{name}", "workflow": {{"path": "{path}"{arguments}}}'


def wf(*steps: str, variables: str | None = None, top: str = "") -> str:
    """A workflow with these step bodies (each without braces)."""
    declared = f', "variables": {{{variables}}}' if variables is not None else ""
    body = ", ".join("{" + s + "}" for s in steps)
    return '{"id": "w"' + declared + top + ', "steps": [' + body + "]}"


GI = task("g", "gather_inputs", '"x": 1')
CHILD_OK = wf(task("c", "gather_inputs", '"x": "variable:v"'), variables='"v": 1')
CHILD_BAD = wf(task("c", "gather_inputs", '"x": "variable:nope"'), variables='"v": 1')
CHILD_NO_VARS = wf(task("c", "gather_inputs", '"x": 1'))
MANY = ", ".join(f'{{"n": {i}}}' for i in range(101))

# (id, text, [(code, exact text of the range), ...] in position order, files beside it).
# With files (even none), the text is saved as main.json in a temporary folder next to
# them and checked as that file; with None it is an unsaved buffer.
Case = tuple[str, str, list[tuple[str, str]], dict[str, str] | None]
CASES: list[Case] = [
    (
        "clean",
        wf(GI, task("h", "get_dict_value", '"dict": "previous_result:g", "key": "x"')),
        [],
        None,
    ),
    # rule 1
    ("duplicate step name", wf(GI, task("g", "gather_inputs")), [("DW201", '"g"')], None),
    # rule 2
    (
        "undeclared variable",
        wf(task("a", "gather_inputs", '"x": "variable:promt"'), variables='"prompt": "p"'),
        [("DW202", '"variable:promt"')],
        None,
    ),
    (
        "reference without a variables block",
        wf(task("a", "gather_inputs", '"x": "variable:y"')),
        [("DW203", '"variable:y"')],
        None,
    ),
    # rule 3, 1.10
    (
        "variable refers to a variable",
        wf(GI, variables='"a": 1, "b": "variable:a"'),
        [("DW204", '"variable:a"')],
        None,
    ),
    ("name a caller cannot set", wf(GI, variables='"my var": 1'), [("DW205", '"my var"')], None),
    # rule 5
    (
        "argument not declared by a built-in child",
        wf(sub("s", "builtin:test.json", '"promt": "x"')),
        [("DW206", '"promt"')],
        None,
    ),
    (
        "child without variables ignores arguments",
        wf(sub("s", "child.json", '"v": 1')),
        [("DW207", '"arguments"')],
        {"child.json": CHILD_NO_VARS},
    ),
    # rule 6
    (
        "unknown built-in",
        wf(sub("s", "builtin:nope.json")),
        [("DW208", '"builtin:nope.json"')],
        None,
    ),
    ("missing child file", wf(sub("s", "gone.json")), [("DW208", '"gone.json"')], {"x": "{}"}),
    ("child not json", wf(sub("s", "child.yaml")), [("DW208", '"child.yaml"')], None),
    (
        "child with an error",
        wf(sub("s", "child.json", '"v": 2')),
        [("DW209", '"child.json"')],
        {"child.json": CHILD_BAD},
    ),
    ("child is this file", wf(sub("s", "main.json")), [("DW209", '"main.json"')], {}),
    ("child clean", wf(sub("s", "child.json", '"v": 2')), [], {"child.json": CHILD_OK}),
    ("workflow without path", wf('"name": "s", "workflow": {}'), [("DW235", '"workflow"')], None),
    (
        "invalid built-in name",
        wf(sub("s", "builtin:a/b.json")),
        [("DW236", '"builtin:a/b.json"')],
        None,
    ),
    ("dotdot in child path", wf(sub("s", "../up.json")), [("DW237", '"../up.json"')], None),
    # rules 7 and 9
    (
        "previous_result to a later step",
        wf(
            task("a", "get_dict_value", '"dict": "previous_result:b", "key": "k"'),
            GI.replace('"g"', '"b"'),
        ),
        [("DW210", '"previous_result:b"')],
        None,
    ),
    (
        "previous_result to no step",
        wf(GI, task("a", "get_dict_value", '"dict": "previous_result:gg.x", "key": "k"')),
        [("DW210", '"previous_result:gg.x"')],
        None,
    ),
    (
        "previous_result outside arguments",
        wf(
            GI,
            task(
                "a",
                "gather_inputs",
                '"x": 1',
                ', "result": {"content_type": "text/plain", "file_base_name": "previous_result:g"}',
            ),
        ),
        [("DW211", '"previous_result:g"')],
        None,
    ),
    (
        "previous_result in task inputs",
        wf(
            GI, '"name": "a", "task": {"command": "gather_inputs", "inputs": ["previous_result:g"]}'
        ),
        [("DW211", '"previous_result:g"')],
        None,
    ),
    # rule 10
    ("reference_name to a task step", wf(GI, ref("r", "g")), [("DW212", '"g"')], None),
    ("reference_name to a later step", wf(ref("r", "p"), pipe("p")), [("DW212", '"p"')], None),
    (
        "reference_name to a released pipeline",
        wf(pipe("p") + ', "release_pipeline": true', ref("r", "p")),
        [("DW213", '"p"')],
        None,
    ),
    # rule 11
    (
        "from_previous_result to no earlier step",
        wf(pipe("p", '"references": [{"reference_type": "a.B", "from_previous_result": "q"}]')),
        [("DW214", '"q"')],
        None,
    ),
    (
        "step consumed only through from_previous_result",
        wf(
            pipe("d"), pipe("v", '"refs": [{"reference_type": "a.B", "from_previous_result": "d"}]')
        ),
        [("DW215", '"d"')],
        None,
    ),
    (
        "from_previous_result kept alive by a previous_result mention",
        wf(
            pipe("d"),
            pipe(
                "v",
                '"refs": [{"reference_type": "a.B", "from_previous_result": '
                '"d"}], "image": "previous_result:d"',
            ),
        ),
        [],
        None,
    ),
    # rule 12
    (
        "description with two type keys",
        wf(pipe("p", '"c": {"a_type": "x.A", "b_type": "x.B", "from_file": "f.png"}')),
        [("DW216", '"b_type"')],
        None,
    ),
    (
        "description without a type key",
        wf(GI, pipe("p", '"c": {"from_previous_result": "g", "x": "previous_result:g"}')),
        [("DW216", '"from_previous_result"')],
        None,
    ),
    (
        "key beside from_arguments",
        wf(pipe("p", '"c": {"a_type": "x.A", "from_arguments": {}, "scale": 1}')),
        [("DW216", '"scale"')],
        None,
    ),
    (
        "from_file with previous_result",
        wf(GI, pipe("p", '"c": {"a_type": "x.A", "from_file": "previous_result:g"}')),
        [("DW216", '"previous_result:g"')],
        None,
    ),
    (
        "from_previous_result with the prefix",
        wf(GI, pipe("p", '"c": {"a_type": "x.A", "from_previous_result": "previous_result:g"}')),
        [("DW216", '"previous_result:g"')],
        None,
    ),
    # rule 13
    (
        "reused component never shared",
        wf(
            pipe("a", extra=', "shared_components": ["vae"]'),
            pipe("b", extra=', "reused_components": ["vae", "text_encoder"]'),
        ),
        [("DW217", '"text_encoder"')],
        None,
    ),
    # rule 15
    (
        "unknown command",
        wf(task("t", "face_detector", '"image": "a.png"')),
        [("DW218", '"face_detector"')],
        None,
    ),
    (
        "missing required argument",
        wf(task("t", "qr_code", '"width": 5')),
        [("DW219", '"arguments"')],
        None,
    ),
    (
        "device for a plumbing command",
        wf(task("t", "qr_code", '"qr_code_contents": "x", "device": "cuda"')),
        [("DW239", '"device"')],
        None,
    ),
    # rule 16
    (
        "batch_decode without pipeline_reference",
        wf(task("t", "batch_decode_post_process", '"generated_ids": 1')),
        [("DW220", '"batch_decode_post_process"')],
        None,
    ),
    (
        "batch_decode naming a task step",
        wf(
            GI,
            task(
                "t",
                "batch_decode_post_process",
                '"generated_ids": 1',
                ', "pipeline_reference": "g"',
            ),
        ),
        [("DW220", '"g"')],
        None,
    ),
    # rule 17
    (
        "inputs item not an object",
        wf('"name": "t", "task": {"command": "canny", "inputs": [7]}'),
        [("DW221", "7")],
        None,
    ),
    # rules 18 / 31
    (
        "unescaped string category",
        wf(pipe("p", '"output_type": "pil"')),
        [("DW222", '"pil"')],
        None,
    ),
    (
        "bare dtype",
        wf(pipe("p", conf=', "vae": {"torch_dtype": "float16"}')),
        [("DW222", '"float16"')],
        None,
    ),
    (
        "escaped and dotted types pass",
        wf(pipe("p", '"output_type": "{latent}", "dtype": "torch.bfloat16", "x_type": "Cls"')),
        [],
        None,
    ),
    # rule 19
    (
        "malformed constant",
        wf(pipe("p", '"sigmas": "constant:1bad.name"')),
        [("DW223", '"constant:1bad.name"')],
        None,
    ),
    # rule 20
    (
        "media file missing",
        wf(pipe("p", '"image": "missing.png"')),
        [("DW224", '"missing.png"')],
        {"there.png": ""},
    ),
    (
        "media file present",
        wf(pipe("p", '"image": ["there.png", {"location": "there.png"}]')),
        [],
        {"there.png": ""},
    ),
    (
        "media extension",
        wf(pipe("p", '"control_image": "photo.txt"')),
        [("DW225", '"photo.txt"')],
        None,
    ),
    (
        "video extension",
        wf(pipe("p", '"video": {"location": "clip.png"}')),
        [("DW225", '"clip.png"')],
        None,
    ),
    (
        "media URL",
        wf(pipe("p", '"image": "https://example.com/a.png"')),
        [("DW226", '"https://example.com/a.png"')],
        None,
    ),
    (
        "media path with dotdot",
        wf(pipe("p", '"image": "../a.png"')),
        [("DW237", '"../a.png"')],
        None,
    ),
    (
        "media URL without host",
        wf(pipe("p", '"image": "https:///a.png"')),
        [("DW237", '"https:///a.png"')],
        None,
    ),
    # rule 21
    (
        "location wraps a media-named variable",
        wf(
            pipe("p", '"image": {"location": "variable:input_image"}'),
            variables='"input_image": "in.png"',
        ),
        [("DW227", '"variable:input_image"')],
        None,
    ),
    (
        "location with a plain-named variable",
        wf(
            pipe("p", '"image": {"location": "variable:image_uri"}'),
            variables='"image_uri": "in.png"',
        ),
        [],
        None,
    ),
    # rule 22
    (
        "cartesian product too large",
        wf(
            '"name": "g", "task": {"command": "gather_inputs", "inputs": [' + MANY + "]}",
            task("t", "gather_inputs", '"a": "previous_result:g", "b": "previous_result:g"'),
        ),
        [("DW228", '"arguments"')],
        None,
    ),
    (
        "empty axis",
        wf(
            '"name": "g", "task": {"command": "gather_inputs", "inputs": []}',
            task("t", "gather_inputs", '"a": "previous_result:g"'),
        ),
        [("DW228", '"previous_result:g"')],
        None,
    ),
    # rule 23
    (
        "too many segments",
        wf(pipe("p", extra=', "chain": {"segments": 2000}')),
        [("DW229", "2000")],
        None,
    ),
    (
        "frame_snap",
        wf(
            pipe(
                "p",
                '"num_frames": 121',
                extra=', "chain": {"segments": 2, "frame_snap": {"modulus": 17, "remainder": 5}}',
            )
        ),
        [("DW229", "121")],
        None,
    ),
    (
        "last_segment target not a list",
        wf(
            pipe(
                "p",
                '"image": "a.png"',
                extra=', "chain": {"segments": 2, "continuity": "last_segment"}',
            )
        ),
        [("DW229", '"a.png"')],
        None,
    ),
    (
        "save_segments without fps",
        wf(pipe("p", extra=', "chain": {"segments": 2, "save_segments": true}')),
        [("DW229", '"save_segments"')],
        None,
    ),
    # rules 24, 28
    (
        "cache and teacache",
        wf(
            pipe(
                "p",
                '"num_inference_steps": 4',
                conf=', "cache": {"type": "faster"}, "teacache": {}',
            )
        ),
        [("DW230", '"teacache"')],
        None,
    ),
    (
        "inversion and generate",
        wf(pipe("p", conf=', "inversion": true, "generate": true')),
        [("DW230", '"generate"')],
        None,
    ),
    (
        "prompt weighting with a remote encoder",
        wf(
            pipe(
                "p",
                conf=', "prompt_weighting": true',
                extra=', "remote_text_encoder": {"url": "https://e.example"}',
            )
        ),
        [("DW230", '"prompt_weighting"')],
        None,
    ),
    # rule 25
    (
        "teacache without num_inference_steps",
        wf(pipe("p", conf=', "teacache": {}')),
        [("DW231", '"teacache"')],
        None,
    ),
    (
        "mag cache without ratios",
        wf(pipe("p", conf=', "cache": {"type": "mag"}')),
        [("DW231", '"mag"')],
        None,
    ),
    # rule 26
    (
        "load_components on a standard pipeline",
        wf(pipe("p", conf=', "load_components": {}')),
        [("DW238", '"load_components"')],
        None,
    ),
    # rule 27
    (
        "group_offload with on_demand",
        wf(
            pipe(
                "p",
                conf=', "components": {"vae": {"group_offload": {"offload_type": '
                '"leaf_level"}, "residency": "on_demand"}}',
            )
        ),
        [("DW232", '"on_demand"')],
        None,
    ),
    # rule 30
    ("unsafe id", wf(GI).replace('"id": "w"', '"id": "../w"'), [("DW233", '"../w"')], None),
    (
        "unsafe file_base_name",
        wf(
            task("t", "gather_inputs", extra=', "x": 1') + ', "result": '
            '{"content_type": "text/plain", "file_base_name": "a/b"}'
        ),
        [("DW233", '"a/b"')],
        None,
    ),
    # rule 32
    (
        "near-miss keyword",
        wf(pipe("p").replace('"model_name": "m"', '"model_name": "m", "use_safe_tensors": true')),
        [("DW234", '"use_safe_tensors"')],
        None,
    ),
    # ranges are code points: an emoji earlier on the same line does not shift them
    (
        "emoji before the range",
        wf(task("a", "gather_inputs", '"p": "🎨🖌️ art", "x": "variable:y"')),
        [("DW203", '"variable:y"')],
        None,
    ),
]


def _check(text: str, tmp_path: Path, files: dict[str, str] | None) -> list[Problem]:
    ctx = CheckContext(check=check_document)
    if files is not None:
        for name, content in files.items():
            (tmp_path / name).write_text(content, encoding="utf-8")
        main = tmp_path / "main.json"
        main.write_text(text, encoding="utf-8")
        ctx = CheckContext(path=main, check=check_document)
    doc = parse(text)
    return sorted(check_semantics(doc, ctx), key=Problem.sort_key)


@pytest.mark.parametrize(
    ("text", "expected", "files"),
    [(t, e, f) for _, t, e, f in CASES],
    ids=[c[0] for c in CASES],
)
def test_semantic_diagnostics(
    text: str, expected: list[tuple[str, str]], files: dict[str, str] | None, tmp_path: Path
) -> None:
    doc_text = parse(text).text
    found = [(p.code, doc_text[p.start : p.end]) for p in _check(text, tmp_path, files)]
    assert found == expected


def test_broken_json_still_checks_what_parses() -> None:
    text = (
        '{"id": "w", "steps": [{"name": "a", "task": {"command": "face_detectr", '
        '"arguments": {"image": "variable:y"}}}, {"name": '
    )
    doc = parse(text)
    assert not doc.strict
    found = [(p.code, text[p.start : p.end]) for p in check_semantics(doc, CheckContext())]
    assert sorted(found) == [("DW203", '"variable:y"'), ("DW218", '"face_detectr"')]


def test_duplicate_is_reported_on_the_later_name() -> None:
    text = wf(GI, task("g", "gather_inputs"))
    (problem,) = check_semantics(parse(text), CheckContext())
    assert problem.start == text.rindex('"g"')
    assert problem.data == {"replacements": ["g_2"]}


def test_undeclared_variable_fix_data() -> None:
    text = wf(
        task("a", "gather_inputs", '"x": "variable:image"'), variables='"mage": 1, "mask_image": 2'
    )
    (problem,) = check_semantics(parse(text), CheckContext())
    assert problem.data == {
        "declare": "image",
        "replacements": ["variable:mage", "variable:mask_image"],
    }


def test_previous_result_suggests_earlier_steps_with_the_property() -> None:
    text = wf(GI, task("a", "get_dict_value", '"dict": "previous_result:gg.x", "key": "k"'))
    (problem,) = check_semantics(parse(text), CheckContext())
    assert problem.data == {"replacements": ["previous_result:g.x"]}


def test_dotted_step_names_use_the_longest_prefix() -> None:
    text = wf(
        task("v1", "gather_inputs"),
        task("v1.0", "gather_inputs"),
        task("a", "get_dict_value", '"dict": "previous_result:v1.0.k", "key": "k"'),
    )
    assert check_semantics(parse(text), CheckContext()) == []


def test_location_variable_edit_replaces_the_wrapper() -> None:
    text = wf(
        pipe("p", '"image": {"location": "variable:input_image"}'),
        variables='"input_image": "in.png"',
    )
    (problem,) = check_semantics(parse(text), CheckContext())
    assert problem.data is not None
    edit = problem.data["edit"]
    assert text[edit["start"] : edit["end"]] == '{"location": "variable:input_image"}'
    assert edit["newText"] == '"variable:input_image"'


def test_unescaped_dtype_offers_torch_first() -> None:
    text = wf(pipe("p", conf=', "vae": {"torch_dtype": "float16"}'))
    (problem,) = check_semantics(parse(text), CheckContext())
    assert problem.data == {"replacements": ["torch.float16", "{float16}"]}


def test_unknown_command_offers_close_commands() -> None:
    (problem,) = check_semantics(
        parse(wf(task("t", "canny_vc", '"image": "a.png"'))), CheckContext()
    )
    assert problem.data is not None and "canny_cv" in problem.data["replacements"]


def test_missing_argument_inserts_the_key() -> None:
    (problem,) = check_semantics(parse(wf(task("t", "qr_code"))), CheckContext())
    assert problem.data == {
        "insertKey": {
            "object": ["steps", 0, "task", "arguments"],
            "key": "qr_code_contents",
            "value": "",
        }
    }


def test_child_error_summary_points_into_the_child(tmp_path: Path) -> None:
    (tmp_path / "child.json").write_text(CHILD_BAD, encoding="utf-8")
    text = wf(sub("s", "child.json", '"v": 2'))
    (problem,) = _check(text, tmp_path, {})
    assert problem.message.startswith("The sub-workflow child.json has 1 error;")
    assert "DW202" in problem.message
    assert problem.data is not None
    assert problem.data["related"]["path"] == str(tmp_path / "child.json")
    assert problem.data["related"]["line"] == 1


def test_cycle_through_two_files(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(wf(sub("back", "main.json")), encoding="utf-8")
    text = wf(sub("s", "b.json"))
    (problem,) = _check(text, tmp_path, {})
    assert problem.code == "DW209"
    assert "main.json -> b.json -> main.json" in problem.message


def test_children_read_through_the_context(tmp_path: Path) -> None:
    main = tmp_path / "main.json"
    reads: list[Path] = []

    def read_text(path: Path) -> str:
        reads.append(path)
        return CHILD_BAD

    ctx = CheckContext(path=main, read_text=read_text, check=check_document)
    (tmp_path / "child.json").write_text(CHILD_OK, encoding="utf-8")
    problems = check_semantics(parse(wf(sub("s", "child.json", '"v": 1'))), ctx)
    assert [p.code for p in problems] == ["DW209"]
    assert reads == [tmp_path / "child.json"]


def test_reference_to_a_pipeline_of_an_earlier_sub_workflow(tmp_path: Path) -> None:
    (tmp_path / "child.json").write_text(wf(pipe("inner")), encoding="utf-8")
    text = wf(sub("s", "child.json"), ref("r", "inner"))
    assert _check(text, tmp_path, {}) == []


def test_media_paths_resolve_against_the_workflow_folder(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.png").write_text("", encoding="utf-8")
    text = wf(pipe("p", '"image": "media/a.png", "mask_image": "media/b.png"'))
    found = [(p.code, text[p.start : p.end]) for p in _check(text, tmp_path, {})]
    assert found == [("DW224", '"media/b.png"')]


def test_no_existence_checks_without_a_path() -> None:
    text = wf(pipe("p", '"image": "nowhere.png"'), sub("s", "nowhere.json"))
    assert check_semantics(parse(text), CheckContext()) == []


def test_non_object_root_gives_nothing() -> None:
    assert check_semantics(parse("[1, 2]"), CheckContext()) == []


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 20_000),
    st.sampled_from(
        [
            "variable:v",
            "variable:",
            "previous_result:a",
            "previous_result:a.b",
            "constant:x.y",
            "constant:1",
            "builtin:test.json",
            "builtin:",
            "a.png",
            "../a.png",
            "https://h/a.png",
            "pil",
            "a",
            "",
        ]
    ),
)
_KEYS = st.sampled_from(
    [
        "name",
        "pipeline",
        "pipeline_reference",
        "task",
        "workflow",
        "arguments",
        "inputs",
        "command",
        "path",
        "reference_name",
        "configuration",
        "chain",
        "prompts",
        "image",
        "mask_image",
        "video",
        "location",
        "media_type",
        "output_type",
        "from_file",
        "from_previous_result",
        "from_arguments",
        "reference_type",
        "variables",
        "steps",
        "result",
        "file_base_name",
        "shared_components",
        "reused_components",
        "cache",
        "teacache",
        "components",
        "residency",
        "group_offload",
        "frame_snap",
        "num_frames",
        "segments",
        "continuity",
        "match_audio",
        "use_safe_tensors",
        "release_pipeline",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=4),
    variables=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["v", "image", "a b"]), _VALUES, max_size=3)
    ),
)
def test_never_raises_and_ranges_lie_in_the_text(
    steps: list[dict[str, object]], variables: dict[str, object] | None
) -> None:
    root: dict[str, object] = {"id": "w", "steps": steps}
    if variables is not None:
        root["variables"] = variables
    text = json.dumps(root, indent=1)
    for problem in check_semantics(parse(text), CheckContext()):
        assert 0 <= problem.start <= problem.end <= len(text)
