"""The value mini-languages at run time (dw_lsp.worker.values): coercion, substitution,
the type allowlist, realization of media / types / objects, and previous_result expansion."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from dw_lsp.worker.values import (
    ALLOWED_MODULES_SETTING,
    DisallowedImport,
    EscapedString,
    MediaError,
    TypeResolver,
    UnresolvedName,
    artifacts,
    check_path,
    coerce_arguments,
    expand_iterations,
    realize,
    resolve_type_strings,
    substitute_variables,
)

# --- coercion (FORMAT.md 1.9.9, with our fix: failures are errors) -------------------------

PICTURE = Image.new("RGB", (4, 4))


@pytest.mark.parametrize(
    ("default", "given", "expected"),
    [
        (True, "true", True),
        (False, "Yes", True),
        (True, "ON", True),
        (True, "off", False),
        (True, "0", False),
        (False, True, True),
        (["a"], "x, y ,z", ["x", "y", "z"]),
        (["a"], "", []),
        (["a"], ["p", "q"], ["p", "q"]),
        (["a"], ("p",), ["p"]),
        (3, "7", 7),
        (3, " 12 ", 12),
        (3, 4.0, 4),
        (3, 5, 5),
        (1.5, "2.25", 2.25),
        (1.5, 3, 3.0),
        ("text", 5, "5"),
        ("text", "hello", "hello"),
        (None, "anything", "anything"),
        (None, [1, 2], [1, 2]),
        ({"a": 1}, '{"b": 2}', {"b": 2}),
        ({"a": 1}, {"c": 3}, {"c": 3}),
        (3, PICTURE, PICTURE),
    ],
)
def test_coerce_converts_to_the_declared_type(default: Any, given: Any, expected: Any) -> None:
    out = coerce_arguments({"v": default, "other": 1}, {"v": given})
    assert out == {"v": expected, "other": 1}
    assert type(out["v"]) is type(expected)


@pytest.mark.parametrize(
    ("default", "given", "expected_type"),
    [
        (True, "maybe", "bool"),
        (True, "2", "bool"),
        (["a"], 5, "list"),
        (3, "abc", "int"),
        (3, "3.5", "int"),
        (3, 4.5, "int"),
        (3, True, "int"),
        (1.5, "x", "float"),
        ("text", [1], "str"),
        ({"a": 1}, "nope", "dict"),
    ],
)
def test_coerce_failure_names_variable_value_and_type(
    default: Any, given: Any, expected_type: str
) -> None:
    with pytest.raises(ValueError) as raised:
        coerce_arguments({"steps": default}, {"steps": given})
    message = str(raised.value)
    assert "'steps'" in message
    assert expected_type in message
    assert repr(given)[:20] in message


@pytest.mark.parametrize(
    ("name", "default", "given"),
    [
        ("image", {}, "photo.png"),
        ("init_image", None, {"location": "a.png"}),
        ("input_video", "clip.mp4", ["a.mp4", "b.mp4"]),
        ("torch_dtype", "torch.float16", "torch.bfloat16"),
    ],
)
def test_media_and_type_variables_keep_their_value(name: str, default: Any, given: Any) -> None:
    assert coerce_arguments({name: default}, {name: given})[name] == given


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"nope": "1"}, "Unknown variable 'nope'; declared: a, b"),
        ({"1bad": "1"}, "not allowed"),
        ({"x" * 101: "1"}, "longer than 100"),
        ({"a": "y" * 10_001}, "at most 10000"),
        ({"a": "bell\x07"}, "control character"),
        ({"a": "nul\x00"}, "control character"),
        ({"a": "del\x7f"}, "control character U+007F"),
        ({"a": "csi\x9b"}, "control character U+009B"),
        ({"a": "rlo\u202e"}, "bidirectional control U+202E"),
        ({"a": "half\ud800"}, "lone surrogate U+D800"),
        ({"a\n": "x"}, "not allowed"),
    ],
)
def test_coerce_refuses_bad_names_and_values(given: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        coerce_arguments({"a": "text", "b": 1}, given)
    assert fragment in str(raised.value)


def test_coerce_allows_tab_cr_lf_and_keeps_defaults() -> None:
    out = coerce_arguments({"a": "x", "b": 2}, {"a": "one\ttwo\r\nthree"})
    assert out == {"a": "one\ttwo\r\nthree", "b": 2}


# --- substitution ----------------------------------------------------------------------------


def test_substitute_replaces_whole_strings_at_any_depth_but_not_keys() -> None:
    values = {"p": "a cat", "n": 2, "tags": ["x"]}
    node = {
        "prompt": "variable:p",
        "literal": "a photo of variable:p",
        "variable:p": "key stays",
        "nested": [{"count": "variable:n"}, "variable:tags", "variable:tags"],
    }
    out = substitute_variables(node, values)
    assert out == {
        "prompt": "a cat",
        "literal": "a photo of variable:p",
        "variable:p": "key stays",
        "nested": [{"count": 2}, ["x"], ["x"]],
    }
    assert out["nested"][1] is not out["nested"][2]
    assert out["nested"][1] is not values["tags"]
    assert node["prompt"] == "variable:p"


def test_substitute_refuses_undeclared_names() -> None:
    with pytest.raises(ValueError, match="'variable:image' names no declared variable"):
        substitute_variables({"a": ["variable:image"]}, {"mage": 1})


# --- the type allowlist ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def resolver() -> TypeResolver:
    return TypeResolver()


def test_resolves_allowed_names(resolver: TypeResolver) -> None:
    import diffusers
    import torch

    assert resolver.resolve("torch.float16") is torch.float16
    assert resolver.resolve("DDIMScheduler") is diffusers.DDIMScheduler
    assert resolver.resolve("diffusers.DDIMScheduler") is diffusers.DDIMScheduler
    assert resolver.resolve("numpy.float32") is np.float32
    assert resolver.resolve("PIL.Image.Resampling.LANCZOS") is Image.Resampling.LANCZOS


@pytest.mark.parametrize(
    "name",
    [
        "os.system",
        "subprocess.Popen",
        "builtins.eval",
        "dw.community_pipelines.pipeline_flux_rf_inversion.RFInversionFluxPipeline",
    ],
)
def test_refuses_names_outside_the_allowlist(resolver: TypeResolver, name: str) -> None:
    with pytest.raises(DisallowedImport, match=ALLOWED_MODULES_SETTING.replace(".", r"\.")):
        resolver.resolve(name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("diffusers.utils.os.system", "under the package 'diffusers.utils'"),
        ("transformers.utils.import_utils.importlib.import_module", "'transformers.utils'"),
        ("diffusers.utils.export_to_video", "nothing under a utils package"),
        ("torch.load", "is a function"),
        ("torch.hub.load", "is a function"),
        ("numpy.load", "is a function"),
        ("PIL.Image.open", "is a function"),
        ("transformers.dynamic_module_utils.get_class_from_dynamic_module", "is a function"),
        ("get_scheduler", "is a function"),
        ("transformers.dynamic_module_utils", "is a module"),
        ("diffusers.loaders", "is a module"),
        ("numpy.memmap", "from torch, PIL and numpy"),
        ("PIL.Image.Image", "from torch, PIL and numpy"),
        ("torch.nn.Module", "from torch, PIL and numpy"),
        ("transformers.AutoConfig", "a class the format does not need"),
        ("transformers.Trainer", "a class the format does not need"),
        ("HookRegistry", "a class the format does not need"),
    ],
)
def test_refuses_what_a_workflow_may_not_name(
    resolver: TypeResolver, name: str, fragment: str
) -> None:
    with pytest.raises(DisallowedImport) as raised:
        resolver.resolve(name)
    message = str(raised.value)
    assert f"'{name}'" in message and fragment in message
    assert "a workflow may name only pipeline, model, scheduler" in message


@pytest.mark.parametrize("name", ["diffusers.__builtins__", "torch._C", "_private"])
def test_refuses_private_names(resolver: TypeResolver, name: str) -> None:
    with pytest.raises(DisallowedImport, match="private"):
        resolver.resolve(name)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("diffusers.NoSuchPipelineAnywhere", UnresolvedName),
        ("a..b", ValueError),
        ("1x", ValueError),
        ("x" * 201, ValueError),
        ("", ValueError),
    ],
)
def test_unresolvable_or_malformed_names(
    resolver: TypeResolver, name: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        resolver.resolve(name)


class _Holder:
    """A class the tests make importable as ``dwtest_objects.Holder``."""

    kind = "image"

    def __init__(self, image: Any = None, label: str = "", weight: float = 1.0) -> None:
        self.image, self.label, self.weight = image, label, weight
        self.extra = None

    @classmethod
    def from_file(cls, location: str, label: str = "") -> _Holder:
        made = cls(image=location, label=label)
        return made


class _Plain:
    def __init__(self, **fields: Any) -> None:
        self.fields = fields


@pytest.fixture
def objects_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("dwtest_objects")
    for cls, name in ((_Holder, "Holder"), (_Plain, "Plain")):
        cls.__module__ = "dwtest_objects"
        setattr(module, name, cls)
    module.SIGMAS = [1.0, [0.5, 0.25]]  # type: ignore[attr-defined]
    module.helper = lambda: None  # type: ignore[attr-defined]
    module.helper.__module__ = "dwtest_objects"
    monkeypatch.setitem(sys.modules, "dwtest_objects", module)
    return module


def test_extra_allowed_prefixes_extend_the_allowlist(objects_module: types.ModuleType) -> None:
    with pytest.raises(DisallowedImport):
        TypeResolver().resolve("dwtest_objects.Holder")
    assert TypeResolver(["dwtest_objects"]).resolve("dwtest_objects.Holder") is _Holder


def test_resolutions_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    calls: list[str] = []
    real = importlib.import_module

    def counting(name: str, package: str | None = None) -> types.ModuleType:
        calls.append(name)
        return real(name, package)

    resolver = TypeResolver()
    monkeypatch.setattr(importlib, "import_module", counting)
    first = resolver.resolve("torch.bfloat16")
    count = len(calls)
    assert resolver.resolve("torch.bfloat16") is first
    assert len(calls) == count > 0


def test_constants(objects_module: types.ModuleType) -> None:
    resolver = TypeResolver(["dwtest_objects"])
    assert resolver.resolve_constant("numpy.pi") == pytest.approx(3.14159, abs=1e-5)
    first = resolver.resolve_constant("dwtest_objects.SIGMAS")
    assert first == [1.0, [0.5, 0.25]]
    assert isinstance(first, list)
    first[1].append(0.0)
    assert objects_module.SIGMAS == [1.0, [0.5, 0.25]]
    assert resolver.resolve_constant("dwtest_objects.SIGMAS") == [1.0, [0.5, 0.25]]


@pytest.mark.parametrize(
    ("name", "error", "fragment"),
    [
        ("dwtest_objects.helper", ValueError, "not a value"),
        ("dwtest_objects.Holder", ValueError, "not a value"),
        ("DDIMScheduler", ValueError, "not a value"),
        ("diffusers.utils", ValueError, "module"),
        ("os.environ", DisallowedImport, ALLOWED_MODULES_SETTING),
        ("os.path.sep", DisallowedImport, ALLOWED_MODULES_SETTING),
        ("a-b", ValueError, "dotted"),
    ],
)
def test_constants_refused(
    objects_module: types.ModuleType, name: str, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as raised:
        TypeResolver(["dwtest_objects"]).resolve_constant(name)
    assert fragment in str(raised.value)


def test_resolve_type_strings(resolver: TypeResolver) -> None:
    import diffusers
    import torch

    block = {
        "component_type": "DDIMScheduler",
        "torch_dtype": "torch.float16",
        "output_type": "{latent}",
        "content_type": "{image/png}",
        "offload_type": "model",
        "nested": {"bnb_4bit_quant_type": "{nf4}", "dtype": "torch.float32", "steps": 4},
        "sigmas": ["constant:numpy.pi", 1],
        "name": "constant:numpy.e",
    }
    out = resolve_type_strings(block, resolver)
    assert out["component_type"] is diffusers.DDIMScheduler
    assert out["torch_dtype"] is torch.float16
    assert out["output_type"] == "latent" and isinstance(out["output_type"], EscapedString)
    assert out["content_type"] == "image/png"
    assert out["offload_type"] == "model"
    assert out["nested"] == {"bnb_4bit_quant_type": "nf4", "dtype": torch.float32, "steps": 4}
    assert out["sigmas"][0] == pytest.approx(np.pi)
    assert out["name"] == pytest.approx(np.e)
    assert block["torch_dtype"] == "torch.float16"
    # An escape stays literal through a second pass.
    assert resolve_type_strings(out, resolver)["output_type"] == "latent"


# --- paths and media -------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Image.new("RGB", (8, 6), (200, 10, 10)).save(tmp_path / "in.png")
    Image.new("L", (5, 5), 128).save(tmp_path / "gray.jpg")
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "clip.mp4").write_bytes(b"not really a video")
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "sub" / "deep.png")
    return tmp_path


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("", "empty"),
        ("a\0b.png", "NUL"),
        ("../in.png", "'..'"),
        ("sub/../in.png", "'..'"),
        ("v1..2.png", "'..'"),
        ("sub\\..\\in.png", "'..'"),
        ("~/in.png", "'~'"),
        ("/dev/null", "system directory"),
        ("/proc/self/environ", "system directory"),
        ("/etc/passwd", "outside the workflow folder"),
        ("missing.png", "does not exist"),
    ],
)
def test_check_path_refusals(folder: Path, path: str, fragment: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_path(path, folder)
    assert fragment in str(raised.value)


def test_check_path_accepts_inside_paths_and_refuses_escaping_links(folder: Path) -> None:
    assert check_path("sub/deep.png", folder) == (folder / "sub" / "deep.png").resolve()
    assert check_path(str(folder / "in.png"), folder) == (folder / "in.png").resolve()
    assert check_path("new.png", folder, must_exist=False).name == "new.png"
    (folder / "link.png").symlink_to("/etc/hostname")
    with pytest.raises(ValueError, match="outside"):
        check_path("link.png", folder)


def test_realize_loads_images_in_every_form(folder: Path, resolver: TypeResolver) -> None:
    loaded = Image.new("RGB", (3, 3))
    out = realize(
        {
            "image": "in.png",
            "mask_image": "gray.jpg",
            "init_image": {"location": "in.png", "size": 512},
            "control_image": {"location": loaded},
            "ip_adapter_image": ["in.png", ["sub/deep.png"], None],
            "style_image": None,
            "ref_image": loaded,
            "depth": {"media_type": "image", "location": "in.png"},
            "extras": [{"media_type": "image", "location": "sub/deep.png"}, 3],
        },
        folder,
        resolver,
    )
    assert isinstance(out["image"], Image.Image) and out["image"].size == (8, 6)
    assert out["image"].mode == "RGB" and out["mask_image"].mode == "RGB"
    assert out["init_image"].size == (8, 6)
    assert out["control_image"] is loaded
    assert [type(x) for x in out["ip_adapter_image"]] == [Image.Image, list, type(None)]
    assert out["ip_adapter_image"][1][0].size == (2, 2)
    assert out["style_image"] is None and out["ref_image"] is loaded
    assert out["depth"].size == (8, 6)
    assert out["extras"][0].size == (2, 2) and out["extras"][1] == 3


def test_realize_leaves_deferred_references(folder: Path, resolver: TypeResolver) -> None:
    arguments = {
        "image": "previous_result:draw",
        "mask_image": {"location": "variable:mask"},
        "prompt": "previous_result:caption.text",
        "list": ["previous_result:a", "variable:b"],
    }
    assert realize(arguments, folder, resolver) == arguments


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"image": "notes.txt"}, "extension"),
        ({"image": "../in.png"}, "'..'"),
        ({"image": "/etc/hostname"}, "outside"),
        ({"image": "nothere.png"}, "does not exist"),
        ({"image": {}}, "location"),
        ({"image": "https://example.com/cat.png"}, "network media is not available"),
        ({"x": {"media_type": "audio", "location": "a.wav"}}, "media_type"),
        ({"video": "in.png"}, "extension"),
    ],
)
def test_realize_refuses_bad_media(
    folder: Path, resolver: TypeResolver, arguments: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError) as raised:
        realize(arguments, folder, resolver)
    assert fragment in str(raised.value)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def served(folder: Path) -> Iterator[str]:
    """``folder`` over http on localhost: the download path without the internet."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_urls_load_only_when_allowed(
    folder: Path, resolver: TypeResolver, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = {"image": f"{served}/in.png"}
    monkeypatch.delenv("DW_LSP_ALLOW_URLS", raising=False)
    with pytest.raises(MediaError, match="DW_LSP_ALLOW_URLS=1"):
        realize(arguments, folder, resolver)
    monkeypatch.setenv("DW_LSP_ALLOW_URLS", "1")
    image = realize(arguments, folder, resolver)["image"]
    assert isinstance(image, Image.Image) and image.size == (8, 6)
    with pytest.raises(MediaError, match="http"):
        realize({"image": "ftp://example.com/x.png"}, folder, resolver)


def test_video_files_need_a_decoder(
    folder: Path, resolver: TypeResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("av", "imageio", "imageio.v3"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    with pytest.raises(MediaError, match="pip install av"):
        realize({"video": "clip.mp4"}, folder, resolver)


def test_video_files_decode_to_frames(tmp_path: Path, resolver: TypeResolver) -> None:
    from diffusers.utils.export_utils import export_to_video

    frames = [Image.new("RGB", (32, 32), (50 * i, 90, 30)) for i in range(5)]
    export_to_video(frames, str(tmp_path / "clip.mp4"), fps=5)
    video = realize({"video": "clip.mp4"}, tmp_path, resolver)["video"]
    assert len(video) == 5 and video[0].size == (32, 32)


def test_loaded_frames_pass_through_video_keys(folder: Path, resolver: TypeResolver) -> None:
    frames = [Image.new("RGB", (2, 2)) for _ in range(3)]
    out = realize({"video": frames, "input_video": None}, folder, resolver)
    assert out["video"] == frames and out["input_video"] is None


def test_realize_types_constants_and_nesting(folder: Path, resolver: TypeResolver) -> None:
    import torch

    out = realize(
        {
            "weights_dtype": "{int8}",
            "output_type": "{pil}",
            "dtype": "torch.float16",
            "sigmas": "constant:numpy.pi",
            "nested": {"torch_dtype": "torch.bfloat16", "items": ["constant:numpy.e"]},
            "steps": 3,
        },
        folder,
        resolver,
    )
    assert out["weights_dtype"] == "int8" and out["output_type"] == "pil"
    assert out["dtype"] is torch.float16
    assert out["sigmas"] == pytest.approx(np.pi)
    assert out["nested"]["torch_dtype"] is torch.bfloat16
    assert out["nested"]["items"][0] == pytest.approx(np.e)


def test_realize_builds_object_descriptions(folder: Path, objects_module: types.ModuleType) -> None:
    resolver = TypeResolver(["dwtest_objects"])
    out = realize(
        {
            "from_args": {
                "condition_type": "dwtest_objects.Plain",
                "from_arguments": {"frames": {"media_type": "image", "location": "in.png"}, "n": 2},
            },
            "from_file": {
                "reference_type": "dwtest_objects.Holder",
                "from_file": "in.png",
                "label": "L",
                "weight": 0.5,
            },
            "references": [
                {"reference_type": "dwtest_objects.Holder", "from_previous_result": "draw"},
                {
                    "condition_type": "dwtest_objects.Plain",
                    "from_arguments": {"frames": "previous_result:draw"},
                },
            ],
            "not_an_object": {"from_file": "in.png"},
        },
        folder,
        resolver,
    )
    built = out["from_args"]
    assert isinstance(built, _Plain) and built.fields["n"] == 2
    assert isinstance(built.fields["frames"], Image.Image)
    holder = out["from_file"]
    assert isinstance(holder, _Holder) and holder.label == "L" and holder.weight == 0.5
    assert holder.image == str((folder / "in.png").resolve())
    # Deferred until the step ran: kept as descriptions, with the type resolved.
    assert out["references"][0]["reference_type"] is _Holder
    assert out["references"][1]["from_arguments"] == {"frames": "previous_result:draw"}
    assert out["not_an_object"] == {"from_file": "in.png"}


@pytest.mark.parametrize(
    ("description", "fragment"),
    [
        (
            {"reference_type": "dwtest_objects.Holder", "from_file": "previous_result:x"},
            "previous result",
        ),
        (
            {"a_type": "dwtest_objects.Holder", "b_type": "dwtest_objects.Plain", "from_file": "x"},
            "more than one type",
        ),
        (
            {"c_type": "dwtest_objects.Plain", "from_arguments": {}, "extra": 1},
            "move extra inside it",
        ),
        ({"c_type": "dwtest_objects.Plain", "from_previous_result": "s"}, "kind"),
        ({"c_type": "dwtest_objects.Plain", "from_file": "in.png"}, "from_file()"),
        ({"r_type": "dwtest_objects.Holder", "from_file": "in.png", "bogus": 1}, "no field"),
        ({"r_type": "dwtest_objects.Holder", "from_file": "notes.txt"}, "extension"),
    ],
)
def test_object_description_errors(
    folder: Path, objects_module: types.ModuleType, description: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError) as raised:
        realize({"value": description}, folder, TypeResolver(["dwtest_objects"]))
    assert fragment in str(raised.value)


# --- artifacts and previous_result expansion -----------------------------------------------------


class _ImagesOutput:
    def __init__(self, images: list[Any]) -> None:
        self.images = images


class _FramesOutput:
    def __init__(self, frames: Any) -> None:
        self.frames = frames


class _Result:
    text = "caption"

    def method(self) -> None:
        return None


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([_ImagesOutput(["i1", "i2"]), _ImagesOutput(["i3"])], ["i1", "i2", "i3"]),
        ([_FramesOutput([["f1", "f2"]])], [["f1", "f2"]]),
        ([[1, 2], 3], [1, 2, 3]),
        ([{"a": 1}], [{"a": 1}]),
        (['  "quoted text"\n'], ["quoted text"]),
        ([], []),
    ],
)
def test_artifacts_flatten(results: list[Any], expected: list[Any]) -> None:
    assert artifacts(results) == expected


def test_diffusers_outputs_give_their_images() -> None:
    from dataclasses import dataclass

    from diffusers.utils import BaseOutput

    @dataclass
    class Output(BaseOutput):
        images: list[str]

    output = Output(images=["x", "y"])
    assert isinstance(output, dict)
    assert artifacts([output]) == ["x", "y"]


def test_frames_array_is_spread_by_batch() -> None:
    batch = np.zeros((2, 3, 4, 4, 3))
    assert [a.shape for a in artifacts([_FramesOutput(batch)])] == [(3, 4, 4, 3)] * 2


THREE = {"draw": [_ImagesOutput(["a", "b", "c"])]}


@pytest.mark.parametrize(
    ("arguments", "results", "count"),
    [
        ({"image": "previous_result:draw"}, THREE, 3),
        ({"image": "previous_result:draw", "mask_image": "previous_result:draw"}, THREE, 9),
        ({"images": ["previous_result:draw", "previous_result:draw"], "x": 1}, THREE, 9),
        ({"deep": {"list": [{"image": "previous_result:draw"}]}}, THREE, 3),
        ({"prompt": "no references"}, THREE, 1),
        ({"image": "previous_result:draw"}, {"draw": [[]]}, 0),
        ({"p": "previous_result:draw", "q": "previous_result:empty"}, {**THREE, "empty": []}, 0),
    ],
)
def test_cartesian_counts(arguments: dict[str, Any], results: dict[str, Any], count: int) -> None:
    iterations = expand_iterations(arguments, results)
    assert len(iterations) == count
    for iteration in iterations:
        assert "previous_result:" not in repr(iteration)


def test_iterations_enumerate_every_combination_and_leave_the_template_alone() -> None:
    arguments = {"a": "previous_result:draw", "nested": {"b": "previous_result:draw"}, "k": [1]}
    iterations = expand_iterations(arguments, THREE)
    pairs = [(it["a"], it["nested"]["b"]) for it in iterations]
    assert pairs == [(x, y) for x in "abc" for y in "abc"]
    assert arguments["nested"] == {"b": "previous_result:draw"}
    assert iterations[0]["k"] is arguments["k"]  # untouched values are shared, not copied


def test_same_name_shortcut() -> None:
    results = {
        "messages": [{"text_inputs": ["sys", "user"], "other": 1}],
        "ask": [{"prompt": "P", "seed": 3}],
    }
    out = expand_iterations(
        {
            "text_inputs": "previous_result:messages",
            "prompt": "previous_result:ask",
            "whole": "previous_result:ask",
        },
        results,
    )
    assert out == [
        {"text_inputs": ["sys", "user"], "prompt": "P", "whole": {"prompt": "P", "seed": 3}}
    ]


def test_dotted_step_names_resolve_by_longest_prefix() -> None:
    results = {
        "v1": [{"0": "wrong"}],
        "v1.0": [{"k": 5}, {"k": 6}, {"other": 0}],
    }
    assert [it["x"] for it in expand_iterations({"x": "previous_result:v1.0.k"}, results)] == [5, 6]
    assert len(expand_iterations({"x": "previous_result:v1.0"}, results)) == 3
    assert expand_iterations({"x": "previous_result:v1.0"}, results)[0]["x"] == {"k": 5}


def test_property_of_objects_and_missing_dict_keys() -> None:
    assert expand_iterations({"t": "previous_result:cap.text"}, {"cap": [_Result()]}) == [
        {"t": "caption"}
    ]
    assert expand_iterations({"t": "previous_result:d.missing"}, {"d": [{"a": 1}]}) == []


@pytest.mark.parametrize(
    ("arguments", "results", "fragment"),
    [
        ({"t": "previous_result:cap.method"}, {"cap": [_Result()]}, "method"),
        ({"t": "previous_result:cap.nothing"}, {"cap": [_Result()]}, "has no 'nothing'"),
        ({"t": "previous_result:s.index"}, {"s": [["a"]]}, "method"),
        ({"t": "previous_result:ghost"}, {"draw": []}, "'ghost'"),
        ({"t": "previous_result:ghost.x"}, {"draw": []}, "'ghost'"),
        (
            {"a": "previous_result:big", "b": "previous_result:big"},
            {"big": [list(range(101))]},
            "10201 combinations",
        ),
    ],
)
def test_expansion_errors(
    arguments: dict[str, Any], results: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError) as raised:
        expand_iterations(arguments, results)
    assert fragment in str(raised.value)


def test_objects_are_built_per_iteration(folder: Path, objects_module: types.ModuleType) -> None:
    resolver = TypeResolver(["dwtest_objects"])
    realized = realize(
        {
            "references": [
                {
                    "reference_type": "dwtest_objects.Holder",
                    "from_previous_result": "draw",
                    "label": "subject",
                },
                {
                    "condition_type": "dwtest_objects.Plain",
                    "from_arguments": {"frames": "previous_result:draw", "index": 0},
                },
            ]
        },
        folder,
        resolver,
    )
    iterations = expand_iterations(realized, {"draw": [_ImagesOutput(["p", "q"])]})
    assert len(iterations) == 4
    holder, plain = iterations[1]["references"]
    assert isinstance(holder, _Holder) and holder.image == "p" and holder.label == "subject"
    assert isinstance(plain, _Plain) and plain.fields == {"frames": "q", "index": 0}


def test_from_previous_result_names_a_known_step(objects_module: types.ModuleType) -> None:
    description = {"reference_type": _Holder, "from_previous_result": "nowhere"}
    with pytest.raises(ValueError, match="'nowhere'"):
        expand_iterations({"r": description}, {"draw": []})


class _VideoHolder:
    kind: ClassVar[str] = "video"

    def __init__(self, frames: Any, audio: Any = None, sample_rate: Any = None) -> None:
        self.frames, self.audio, self.sample_rate = frames, audio, sample_rate


def test_video_kind_takes_frames_and_audio() -> None:
    clip = types.SimpleNamespace(frames=["f"], audio="wave", sample_rate=16000)
    out = expand_iterations(
        {"r": {"reference_type": _VideoHolder, "from_previous_result": "v"}}, {"v": [[clip]]}
    )
    built = out[0]["r"]
    assert (built.frames, built.audio, built.sample_rate) == (["f"], "wave", 16000)
