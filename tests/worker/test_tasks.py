"""The task commands at run time (dw_lsp.worker.tasks) and the built-in sub-workflows
(dw_lsp/builtins): real behaviour on small images, clear refusals for the rest."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dw_lsp.worker.tasks import (
    DEVICE_COMMANDS,
    TASK_COMMANDS,
    TaskUnavailable,
    available_commands,
    run_task,
)
from dw_lsp.worker.values import (
    coerce_arguments,
    expand_iterations,
    substitute_variables,
)

#: FORMAT.md section 2, by family.
SECTION_2 = {
    "data": [
        "qr_code",
        "gather_images",
        "gather_videos",
        "gather_inputs",
        "concat_videos",
        "slice_audio",
        "crossfade_audio",
        "video_frames",
        "pair_audio",
        "format_chat_message",
        "get_dict_value",
        "extract_sections",
        "batch_decode_post_process",
    ],
    "models": [
        "upscale",
        "diffusion_upscale",
        "restore_faces",
        "segment",
        "interpolate_frames",
        "image_to_text",
        "text_generation",
    ],
    "video": ["get_frame", "get_first_frame", "get_last_frame"],
    "image": [
        "get_image_size",
        "add_border_and_mask",
        "add_border_and_mask_with_size",
        "remove_background",
        "canny_cv",
        "segmentation",
        "zoe_depth",
        "depth",
        "depth_estimator",
        "depth_estimator_tensor",
        "resize_center_crop",
        "resize_rescale",
        "resize_resample",
        "resize_bucket",
        "crop_square",
        "strip_exif",
        "add_watermark",
    ],
    "detectors": [
        "canny",
        "mlsd",
        "normal_bae",
        "lineart",
        "lineart_standard",
        "openpose",
        "dw_pose",
        "hed",
        "scribble",
        "pidi",
        "midas",
        "zoe",
        "leres",
        "teed",
        "anyline",
        "sam",
        "shuffle",
    ],
}
ALL_COMMANDS = {name for names in SECTION_2.values() for name in names}
#: Known commands this worker still refuses (a reason each); the model-backed ones that run
#: are tested end to end in test_task_models.py.
REFUSED = [
    "restore_faces",
    "zoe_depth",
    "dw_pose",
]


def picture(width: int = 64, height: int = 48, color: tuple[int, int, int] = (10, 120, 200)) -> Any:
    return Image.new("RGB", (width, height), color)


# --- the command table -----------------------------------------------------------------------


def test_task_commands_are_exactly_section_2() -> None:
    assert TASK_COMMANDS == ALL_COMMANDS


@pytest.mark.parametrize("name", ["face_detector", "tile", "Crop_Square", "eval", ""])
def test_unknown_commands(name: str) -> None:
    with pytest.raises(ValueError, match=r"Unknown task command .*; known: .*crop_square"):
        run_task(name, {})


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_commands_this_worker_cannot_run_refuse_with_a_reason(name: str) -> None:
    with pytest.raises(TaskUnavailable) as raised:
        run_task(name, {"image": picture(), "prompt": "p", "device": "cpu"})
    assert isinstance(raised.value, RuntimeError)
    message = str(raised.value)
    assert f"'{name}'" in message
    assert any(word in message for word in ("not available in this worker", "does not support"))


def test_available_commands() -> None:
    available = available_commands()
    assert {"crop_square", "gather_inputs", "extract_sections", "get_last_frame"} <= available
    assert not available & set(REFUSED)
    assert ("qr_code" in available) == (importlib.util.find_spec("qrcode") is not None)


# --- data and plumbing -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [{"a": 1, "device": "cpu"}, "scalar item", 7, True])
def test_gather_inputs_returns_its_input(value: Any) -> None:
    assert run_task("gather_inputs", value) == value


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"dict": {"generated_text": "hi"}, "key": "generated_text"}, "hi"),
        ({"dict": {"a": 1}, "key": "b"}, None),
    ],
)
def test_get_dict_value(arguments: dict[str, Any], expected: Any) -> None:
    assert run_task("get_dict_value", arguments) == expected


@pytest.mark.parametrize(
    ("command", "arguments", "fragment"),
    [
        ("get_dict_value", {"dict": "text", "key": "a"}, "must be an object"),
        ("get_dict_value", {"dict": {}}, "needs the argument 'key'"),
        ("get_dict_value", {"dict": {}, "key": "a", "device": "cpu"}, "unexpected argument"),
        ("format_chat_message", {"user_message": "u"}, "'system_prompt'"),
        ("crop_square", {"image": "photo.png"}, "needs a loaded image"),
        ("crop_square", {"image": picture(), "zoom": 2}, "unexpected argument(s) 'zoom'"),
        ("add_border_and_mask_with_size", {"image": picture()}, "needs the argument 'width'"),
        ("resize_rescale", {"image": picture(), "width": 0}, "at least 1"),
        ("add_watermark", {"image": picture(), "position": "middle"}, "'position'"),
        ("add_watermark", {"image": picture(), "opacity": 300}, "at most 255"),
        ("resize_bucket", {"image": picture(), "ratios": [[1]]}, "[width, height]"),
        ("get_frame", {"video": [picture()], "frame_index": 5}, "outside"),
        ("get_first_frame", {"video": "clip.mp4"}, "needs a video"),
        ("extract_sections", {"text": 3, "sections": []}, "'text' must be a string"),
    ],
)
def test_argument_errors(command: str, arguments: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        run_task(command, arguments)
    assert fragment in str(raised.value)


def test_format_chat_message_shape() -> None:
    out = run_task("format_chat_message", {"system_prompt": "S", "user_message": "U"})
    assert out == {
        "text_inputs": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    }


GENERATED = """For the target video, at 0.00 seconds, <Picture 1> is fully referenced.

integrated_multimodal_description: [Shot 1] A fox trots.
It keeps trotting.

overall_soundscape:
Wind in the pines.

Some commentary the model added.

non_diegetic_music: Soft piano.

integrated_multimodal_description: the model starting over."""


@pytest.mark.parametrize(
    ("sections", "keep_preamble", "expected"),
    [
        (
            ["integrated_multimodal_description", "overall_soundscape", "non_diegetic_music"],
            True,
            "For the target video, at 0.00 seconds, <Picture 1> is fully referenced.\n\n"
            "integrated_multimodal_description: [Shot 1] A fox trots.\nIt keeps trotting.\n\n"
            "overall_soundscape: Wind in the pines.\n\n"
            "non_diegetic_music: Soft piano.",
        ),
        (
            ["non_diegetic_music", "overall_soundscape", "summary"],
            False,
            "non_diegetic_music: Soft piano.\n\noverall_soundscape: Wind in the pines.",
        ),
        (["summary"], True, GENERATED.strip()),
        ([], True, GENERATED.strip()),
    ],
)
def test_extract_sections(sections: list[str], keep_preamble: bool, expected: str) -> None:
    arguments = {"text": GENERATED + "\n", "sections": sections, "keep_preamble": keep_preamble}
    assert run_task("extract_sections", arguments) == expected


class _Processor:
    def batch_decode(self, ids: list[list[int]], skip_special_tokens: bool) -> list[str]:
        assert skip_special_tokens is False
        return ["<s>" + " ".join(map(str, ids[0]))]

    def post_process_generation(self, text: str, task: str) -> dict[str, str]:
        return {task: text.removeprefix("<s>")}


def test_batch_decode_post_process() -> None:
    arguments = {"processor": _Processor(), "generated_ids": [[1, 2]], "task": "<CAPTION>"}
    assert run_task("batch_decode_post_process", arguments) == "1 2"
    with pytest.raises(ValueError, match="pipeline_reference"):
        run_task("batch_decode_post_process", {**arguments, "processor": object()})


@pytest.fixture
def images_folder(tmp_path: Path) -> Path:
    picture(4, 4, (255, 0, 0)).save(tmp_path / "b.png")
    picture(6, 3, (0, 255, 0)).save(tmp_path / "a.jpg")
    (tmp_path / "sub").mkdir()
    picture(2, 2).save(tmp_path / "sub" / "c.png")
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    return tmp_path


@pytest.mark.parametrize(
    ("pattern", "sizes"),
    [
        ("*.png", [(4, 4)]),
        ("*.*", [(6, 3), (4, 4)]),
        ("**/*.png", [(4, 4), (2, 2)]),
    ],
)
def test_gather_images(images_folder: Path, pattern: str, sizes: list[tuple[int, int]]) -> None:
    images = run_task("gather_images", {"glob": pattern}, base_dir=images_folder)
    assert [image.size for image in images] == sizes
    assert all(image.mode == "RGB" for image in images)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"glob": "*.gif"}, "found no images"),
        ({}, "found no images"),
        ({"glob": "sub/*"}, "extension"),
        ({"glob": "../*/*.png"}, "'..'"),
        ({"glob": "/etc/*"}, "outside"),
        ({"urls": ["https://example.com/x.png"]}, "network media is not available"),
        ({"urls": ["file:///etc/passwd"]}, "not an http(s) URL"),
    ],
)
def test_gather_images_refusals(
    images_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    arguments: dict[str, Any],
    fragment: str,
) -> None:
    monkeypatch.delenv("DW_LSP_ALLOW_URLS", raising=False)
    with pytest.raises(ValueError) as raised:
        run_task("gather_images", arguments, base_dir=images_folder)
    assert fragment in str(raised.value)


# --- image processors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "arguments", "size"),
    [
        ("crop_square", {}, (48, 48)),
        ("resize_center_crop", {"width": 32, "height": 16}, (32, 16)),
        ("resize_center_crop", {}, (768, 768)),
        ("resize_rescale", {"width": 20, "height": 10}, (20, 10)),
        ("resize_resample", {"resolution": 64}, (64, 64)),
        ("resize_resample", {"resolution": 128}, (192, 128)),
        ("resize_bucket", {"resolution": 128}, (128, 128)),
        ("resize_bucket", {"resolution": 128, "ratios": [[2, 1], [1, 1]]}, (128, 128)),
        ("resize_bucket", {"resolution": 256, "ratios": [[16, 9]], "alignment": 32}, (352, 192)),
        ("strip_exif", {}, (64, 48)),
        ("add_watermark", {}, (64, 48)),
    ],
)
def test_image_processors_sizes(
    command: str, arguments: dict[str, Any], size: tuple[int, int]
) -> None:
    out = run_task(command, {"image": picture(), **arguments})
    assert isinstance(out, Image.Image)
    assert out.size == size


def test_get_image_size_and_lists_of_frames() -> None:
    assert run_task("get_image_size", {"image": picture(7, 5)}) == {"width": 7, "height": 5}
    frames = [picture(7, 5), picture(3, 9)]
    assert run_task("get_image_size", {"image": frames}) == [
        {"width": 7, "height": 5},
        {"width": 3, "height": 9},
    ]
    array = np.zeros((5, 7, 3), dtype=np.uint8)
    assert run_task("get_image_size", {"image": array}) == {"width": 7, "height": 5}


def test_crop_square_keeps_the_centre() -> None:
    image = Image.new("RGB", (30, 10), (0, 0, 0))
    image.paste((255, 255, 255), (10, 0, 20, 10))
    out = run_task("crop_square", {"image": image})
    assert out.size == (10, 10)
    assert out.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize(
    ("arguments", "size", "kept"),
    [
        ({"zoom_all": 2.0}, (128, 96), (32, 24, 96, 72)),
        ({"zoom_left": 0.5}, (96, 64), (32, 0, 96, 48)),
        ({"zoom_down": 1.0}, (64, 96), (0, 0, 64, 48)),
    ],
)
def test_add_border_and_mask(
    arguments: dict[str, Any], size: tuple[int, int], kept: tuple[int, int, int, int]
) -> None:
    out = run_task("add_border_and_mask", {"image": picture(), **arguments})
    bordered, mask = out["bordered_image"], out["mask"]
    assert bordered.size == mask.size == size
    left, top, right, bottom = kept
    assert bordered.getpixel((left + 1, top + 1)) == (10, 120, 200)
    assert mask.getpixel((left + 1, top + 1)) == 0
    assert mask.getpixel((right - 1, bottom - 1)) == 0
    if left > 0:
        assert mask.getpixel((left - 1, top)) == 255
        assert bordered.getpixel((left - 1, top)) == (0, 0, 0)


def test_add_border_and_mask_overlap_shrinks_the_kept_area() -> None:
    out = run_task("add_border_and_mask", {"image": picture(64, 64), "overlap": 0.25})
    mask = out["mask"]
    assert mask.getpixel((2, 2)) == 255
    assert mask.getpixel((32, 32)) == 0


def test_add_border_and_mask_with_size_fits_and_centres() -> None:
    out = run_task(
        "add_border_and_mask_with_size", {"image": picture(64, 32), "width": 64, "height": 64}
    )
    bordered, mask = out["bordered_image"], out["mask"]
    assert bordered.size == mask.size == (64, 64)
    assert mask.getpixel((32, 2)) == 255 and mask.getpixel((32, 32)) == 0
    assert bordered.getpixel((32, 32)) == (10, 120, 200)


def test_strip_exif_drops_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    path = tmp_path / "with.jpg"
    picture().save(path, exif=exif)
    with Image.open(path) as opened:
        assert opened.getexif()
        clean = run_task("strip_exif", {"image": opened, "device": "cpu"})
    clean.save(tmp_path / "clean.jpg")
    with Image.open(tmp_path / "clean.jpg") as reopened:
        assert not reopened.getexif()
        assert reopened.size == (64, 48)


@pytest.mark.parametrize(
    ("position", "marked", "untouched"),
    [
        ("bottom-right", (150, 90), (5, 5)),
        ("top-left", (20, 10), (150, 90)),
        ("center", (80, 50), (5, 5)),
    ],
)
def test_add_watermark_draws_where_asked(
    position: str, marked: tuple[int, int], untouched: tuple[int, int]
) -> None:
    image = Image.new("RGB", (160, 100), (0, 0, 0))
    out = run_task(
        "add_watermark",
        {"image": image, "position": position, "opacity": 255, "text": "██████", "font_size": 20},
    )
    pixels = np.asarray(out)
    x, y = marked
    assert pixels[max(0, y - 15) : y + 15, max(0, x - 30) : x + 30].max() > 0
    ux, uy = untouched
    assert pixels[uy, ux].max() == 0
    assert out.mode == "RGB"


def test_canny_cv() -> None:
    image = Image.new("RGB", (32, 32), (0, 0, 0))
    image.paste((255, 255, 255), (8, 8, 24, 24))
    if importlib.util.find_spec("cv2") is None:
        with pytest.raises(TaskUnavailable, match="pip install opencv"):
            run_task("canny_cv", {"image": image})
        return
    edges = run_task("canny_cv", {"image": image})
    assert edges.size == (32, 32)
    assert np.asarray(edges).max() == 255


def test_qr_code() -> None:
    arguments = {"qr_code_contents": "https://example.com", "width": 256, "height": 128}
    if importlib.util.find_spec("qrcode") is None:
        with pytest.raises(TaskUnavailable, match="pip install qrcode"):
            run_task("qr_code", arguments)
        return
    code = run_task("qr_code", arguments)
    assert code.size == (256, 256)


def test_device_is_taken_only_by_processors() -> None:
    assert "crop_square" in DEVICE_COMMANDS and "get_dict_value" not in DEVICE_COMMANDS
    assert run_task("crop_square", {"image": picture(), "device": "cuda"}).size == (48, 48)
    with pytest.raises(ValueError, match="unexpected argument"):
        run_task("format_chat_message", {"system_prompt": "", "user_message": "", "device": "x"})


# --- video -----------------------------------------------------------------------------------


def _frames() -> list[Any]:
    return [picture(8, 6, (i * 40, 0, 0)) for i in range(4)]


@pytest.mark.parametrize(
    "video",
    [
        _frames(),
        [_frames()],
        np.stack([np.asarray(frame) for frame in _frames()]),
        np.stack([np.asarray(frame) for frame in _frames()])[None].astype(np.float32) / 255.0,
    ],
    ids=["frames", "batch", "array", "float-batch"],
)
def test_frame_picks(video: Any) -> None:
    first = run_task("get_first_frame", {"video": video})
    last = run_task("get_last_frame", {"video": video})
    second = run_task("get_frame", {"video": video, "frame_index": 1, "device": "cpu"})
    assert [frame.getpixel((0, 0))[0] for frame in (first, second, last)] == [0, 40, 120]
    stacked = run_task("video_frames", {"video": video})
    assert stacked.shape == (4, 6, 8, 3) and stacked.dtype == np.uint8


def test_frames_of_a_pipeline_output() -> None:
    output = SimpleNamespace(frames=[_frames()])
    assert run_task("get_last_frame", {"video": output}).getpixel((0, 0))[0] == 120


def test_gather_videos_needs_a_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    for name in ("av", "imageio", "imageio.v3"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    with pytest.raises(ValueError, match="pip install av"):
        run_task("gather_videos", {"glob": "*.mp4"}, base_dir=tmp_path)


def test_gather_videos_decodes_each_file(tmp_path: Path) -> None:
    from diffusers.utils.export_utils import export_to_video

    for count in (3, 4):
        clip = [Image.new("RGB", (16, 16), (60 * i, 0, 0)) for i in range(count)]
        export_to_video(clip, str(tmp_path / f"clip{count}.mp4"), fps=4)
    videos = run_task("gather_videos", {"glob": "*.mp4"}, base_dir=tmp_path)
    assert [len(v) for v in videos] == [3, 4]


# --- built-in sub-workflows ------------------------------------------------------------------

BUILTINS = Path(__file__).resolve().parents[2] / "dw_lsp" / "builtins"
DECLARED = {
    "augment_prompt.json": {"prompt"},
    "describe_image.json": {"image"},
    "h3_context_ir.json": {
        "prompt",
        "image",
        "system_prompt",
        "model_name",
        "max_new_tokens",
        "device",
        "sections",
        "keep_preamble",
    },
    "test.json": {"prompt", "num_images_per_prompt"},
}


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((BUILTINS / name).read_text(encoding="utf-8"))
    return document


def test_builtins_are_exactly_dws_names() -> None:
    assert {path.name for path in BUILTINS.glob("*.json")} == set(DECLARED)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_builtin_declares_dws_variables_and_valid_steps(name: str) -> None:
    document = _load(name)
    assert set(document["variables"]) == DECLARED[name]
    names = [step["name"] for step in document["steps"]]
    assert len(names) == len(set(names)) > 0
    for step in document["steps"]:
        if "task" in step:
            assert step["task"]["command"] in TASK_COMMANDS
            assert isinstance(step["task"]["arguments"], dict)
    # Every variable reference is declared.
    substitute_variables(document["steps"], document["variables"])


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_builtin_passes_the_schema(name: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = BUILTINS.parents[1] / "schemas" / "workflow.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(_load(name)))
    assert [error.message for error in errors] == []


def test_builtin_test_runs_the_tiny_model() -> None:
    document = _load("test.json")
    (step,) = document["steps"]
    assert step["pipeline"]["from_pretrained_arguments"]["model_name"] == "builtin:tiny-sd"
    assert step["pipeline"]["configuration"]["component_type"] == "StableDiffusionPipeline"
    assert step["result"]["content_type"] == "image/png"
    values = coerce_arguments(document["variables"], {"num_images_per_prompt": "2"})
    arguments = substitute_variables(step["pipeline"]["arguments"], values)
    assert arguments["num_images_per_prompt"] == 2
    assert arguments["num_inference_steps"] <= 4


def test_h3_context_ir_trims_a_generation() -> None:
    document = _load("h3_context_ir.json")
    values = coerce_arguments(document["variables"], {"keep_preamble": "false"})
    steps = substitute_variables(document["steps"], values)
    trim = steps[1]["task"]
    iterations = expand_iterations(trim["arguments"], {"rewrite": [GENERATED]})
    (arguments,) = iterations
    out = run_task(trim["command"], arguments)
    assert out.startswith("integrated_multimodal_description: [Shot 1] A fox trots.")
    assert "commentary" not in out and "starting over" not in out
    assert steps[0]["task"]["arguments"]["device"] == "cpu"
