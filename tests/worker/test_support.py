"""Preflight: what the worker refuses before anything loads, and the output naming."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dw_lsp.output_files import safe_path, write_atomically
from dw_lsp.worker.outputs.save import OutputError, ResultWriter
from dw_lsp.worker.support import preflight

COMMANDS = frozenset({"gather_inputs", "get_image_size"})
DOCUMENT: dict[str, Any] = {
    "id": "doc",
    "steps": [
        {
            "name": "draw",
            "pipeline": {
                "configuration": {"component_type": "StableDiffusionPipeline"},
                "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                "arguments": {"prompt": "x"},
            },
            "result": {"content_type": "image/png"},
        },
        {"name": "size", "task": {"command": "get_image_size", "arguments": {}}},
    ],
}


def problems_after(change: Any) -> list[str]:
    document = copy.deepcopy(DOCUMENT)
    change(document)
    return preflight(document, COMMANDS)


def test_a_plain_document_passes() -> None:
    assert preflight(DOCUMENT, COMMANDS) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["steps"][0]["pipeline"].update(chain={"segments": 2, "match_audio": True}),
            "pipeline.chain needs exactly one of segments / match_audio",
        ),
        (
            lambda d: d["steps"][0]["pipeline"]["configuration"].update(cache={"type": "faster"}),
            "pipeline.configuration.cache",
        ),
        (
            lambda d: d["steps"][0]["pipeline"]["configuration"].update(load_components={}),
            "pipeline.configuration.load_components",
        ),
        (
            lambda d: d["steps"][0]["pipeline"].update(remote_text_encoder={"uri": "http://x"}),
            "pipeline.remote_text_encoder must be an object with a url",
        ),
        (
            lambda d: d["steps"][0]["pipeline"]["configuration"].update(
                components={"vae": {"compile": {"mode": "default"}}}
            ),
            "pipeline.configuration.components.vae.compile",
        ),
        (
            lambda d: d["steps"][0]["pipeline"]["configuration"].update(ofload="model"),
            "not a configuration key",
        ),
        (lambda d: d["steps"][1]["task"].update(command="face_detector"), "face_detector"),
        (
            lambda d: d["steps"][0]["result"].update(
                embed_metadata=True, content_type="image/jpeg"
            ),
            "result.embed_metadata",
        ),
        (lambda d: d.update(id="a/b"), "path separator"),
        (lambda d: d["steps"][0].update(name=".."), "'..'"),
        (lambda d: d["steps"][0]["result"].update(file_base_name="../"), "path separator"),
        (lambda d: d["steps"][0].update(task={"command": "gather_inputs"}), "exactly one of"),
    ],
)
def test_refusals_name_the_key(change: Any, expected: str) -> None:
    problems = problems_after(change)
    assert any(expected in p for p in problems), problems


def test_names_with_dots_inside_are_fine() -> None:
    assert problems_after(lambda d: d["steps"][0].update(name="v1.0..2")) == []


def test_files_are_named_as_dw_names_them(tmp_path: Path) -> None:
    image = Image.new("RGB", (4, 4))
    writer = ResultWriter(
        tmp_path,
        "wf",
        "draw",
        3,
        {"content_type": "image/png", "file_base_name": "base-"},
        lambda results: [a for r in results for a in r],
    )
    written = writer.save([[image, image], [{"mask": image, "bordered": image}]])
    assert [Path(p).name for p in written] == [
        "base-wf-draw.3-0.0.png",
        "base-wf-draw.3-0.1.png",
        "base-wf-draw.3-1.0-mask.png",
        "base-wf-draw.3-1.0-bordered.png",
    ]


def test_json_results_are_one_file_per_iteration(tmp_path: Path) -> None:
    writer = ResultWriter(tmp_path, "wf", "size", 0, {"content_type": "application/json"}, list)
    written = writer.save([{"width": 1}, {"width": 2}])
    assert [Path(p).read_text().split() for p in written] == [
        ["{", '"width":', "1", "}"],
        ["{", '"width":', "2", "}"],
    ]


@pytest.mark.parametrize("name", ["../x.png", "a/b.png", "..", "a\\b.png", "ok\x01.png"])
def test_paths_cannot_leave_the_output_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutputError):
        safe_path(tmp_path, name)


def test_a_link_cannot_redirect_an_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "x.png").symlink_to(tmp_path / "elsewhere.png")
    written = write_atomically(out, "x.png", ".png", lambda path: path.write_bytes(b"png"))
    assert written == out / "x_2.png"  # beside the link, never through it
    assert not (tmp_path / "elsewhere.png").exists()
