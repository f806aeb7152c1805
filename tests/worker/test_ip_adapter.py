"""IP-Adapters (FORMAT.md 1.4.5): the checks made before any weights load, and real runs
through the worker with a tiny adapter this module writes in the layout diffusers reads
(``ip_adapter.safetensors`` holding the ``image_proj.*`` and ``ip_adapter.*`` tensors sized for
the tiny SD UNet, and a tiny ``CLIPVisionModelWithProjection`` saved in ``image_encoder/``,
written by the stand-in registry's builder): the adapter and its image steer the image, the
scale matters, a second run is warm, editing the adapter reloads that pipeline, editing the
prompt or the reference image reloads nothing. A stand-in run stands in for a hub adapter
(Flux's and SD 1.5's layouts) with the same builder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dwtest_worker import WorkerProcess, cache_of, ok, tiny_ddpm_step, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker import support
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import tiny
from dw_lsp.worker.standins import ip_adapters

pytestmark = pytest.mark.slow

WEIGHTS = "ip_adapter.safetensors"


def write_ip_adapter(folder: Path, unet_dir: Path, seed: int, encoder: bool = True) -> Path:
    """A tiny IP-Adapter for the UNet saved in ``unet_dir``, written by the stand-in
    registry's builder (:mod:`dw_lsp.worker.standins.ip_adapters`: the layout diffusers
    reads, and with ``encoder`` a tiny CLIP image encoder in ``image_encoder/``)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(unet_dir))
    return ip_adapters.write(folder, unet, WEIGHTS, seed=seed, encoder=encoder)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A workflow folder holding two adapters (``ip-a``, ``ip-b``: different seeds), one
    without an image encoder (``ip-bare``) and two reference images."""
    folder = tmp_path_factory.mktemp("ip-project")
    unet = tiny.materialize("tiny-sd", cache_dir) / "unet"
    write_ip_adapter(folder / "ip-a", unet, seed=1)
    write_ip_adapter(folder / "ip-b", unet, seed=2)
    write_ip_adapter(folder / "ip-bare", unet, seed=1, encoder=False)
    Image.new("RGB", (48, 40), (220, 40, 30)).save(folder / "red.png")
    gradient = np.linspace(0, 255, 48 * 40 * 3).reshape(40, 48, 3).astype(np.uint8)
    Image.fromarray(gradient).save(folder / "ramp.png")
    return folder


def pixels(result: dict[str, Any], step: str) -> np.ndarray:
    [path] = [p for p in ok(result)["outputs"] if f"-{step}." in Path(p).name]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def adapted_step(
    name: str, adapter: dict[str, Any] | None = None, image: str = "red.png", **pipeline: Any
) -> dict[str, Any]:
    step = tiny_sd_step(name, steps=2, ip_adapter={"model_name": "ip-a", **(adapter or {})})
    step["pipeline"]["ip_adapter"]["weight_name"] = WEIGHTS
    step["pipeline"]["arguments"]["ip_adapter_image"] = image
    step["pipeline"].update(pipeline)
    return step


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


# -- checks before any weights load ----------------------------------------------------------


def document_with(adapter: Any) -> dict[str, Any]:
    return {"id": "doc", "steps": [tiny_sd_step("steered", ip_adapter=adapter)]}


def test_preflight_accepts_an_ip_adapter_and_names_what_is_wrong() -> None:
    good = {"model_name": "h94/IP-Adapter", "subfolder": None, "weight_name": "a.bin", "scale": 1}
    assert support.preflight(document_with(good), ()) == []
    assert support.preflight(document_with({**good, "scale": "0.6"}), ()) == []
    problems = support.preflight(
        document_with({"model_name": "", "subfolder": 3, "scale": "strong"}), ()
    )
    assert problems == [
        "step 'steered': pipeline.ip_adapter.model_name must be a non-empty string",
        "step 'steered': pipeline.ip_adapter.subfolder must be a string, not 3",
        "step 'steered': pipeline.ip_adapter.scale 'strong' is not a number",
    ]
    assert support.preflight(document_with(["h94/IP-Adapter"]), ()) == [
        "step 'steered': pipeline.ip_adapter must be an object with a model_name"
    ]


def test_sources_resolve_like_loras_and_the_scale_is_a_float(tmp_path: Path) -> None:
    (tmp_path / "ip" / "models").mkdir(parents=True)
    (tmp_path / "ip" / "models" / "a.bin").write_bytes(b"")
    local = loading.plan_ip_adapter(
        {"model_name": "ip", "subfolder": "models", "weight_name": "a.bin", "scale": "0.5"},
        tmp_path,
    )
    assert local is not None
    assert (local.source, local.scale) == (str(tmp_path / "ip"), 0.5)
    assert local.options == {"subfolder": "models", "weight_name": "a.bin"}
    hub = loading.plan_ip_adapter(
        {"model_name": "h94/IP-Adapter", "subfolder": None, "weight_name": "x.bin"}, tmp_path
    )
    assert hub is not None and hub.source == "h94/IP-Adapter" and hub.scale is None
    assert hub.options == {"subfolder": "", "weight_name": "x.bin"}
    assert loading.plan_ip_adapter(None, tmp_path) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"model_name": "../elsewhere"}, "may not climb out"),
        ({"model_name": "ip", "weight_name": "missing.bin"}, "does not exist"),
        ({"model_name": "ip", "subfolder": "../..", "weight_name": "a.bin"}, "may not climb out"),
        ({"model_name": "ip", "image_encoder_folder": "../../enc"}, "may not climb out"),
        ({"model_name": "ip", "scale": "strong"}, r"scale 'strong' is not a number"),
        ({"model_name": "builtin:tiny-sd"}, "not an IP-Adapter"),
        ({"weight_name": "a.bin"}, "non-empty string"),
    ],
    ids=[
        "dotdot",
        "missing-weight",
        "subfolder-dotdot",
        "encoder-dotdot",
        "scale",
        "builtin",
        "none",
    ],
)
def test_bad_entries_are_refused_before_anything_loads(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    (tmp_path / "ip").mkdir()
    with pytest.raises(loading.LoadError, match=message):
        loading.plan_ip_adapter(entry, tmp_path)


# -- real runs through the worker ------------------------------------------------------------


def test_the_adapter_steers_the_image_its_scale_matters_and_a_rerun_is_warm(
    worker: WorkerProcess, project: Path, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    workflow = write_workflow(
        project / "steered.json",
        [
            adapted_step("off", {"scale": 0.0}),
            adapted_step("full", {"scale": 1.0}),
            adapted_step("ramp", {"scale": 1.0}, image="ramp.png"),
        ],
        seed=5,
    )
    first = worker.execute(workflow, tmp_path / "one", timeout=240)
    # "ramp" differs from "full" only in a call argument: it runs on the same loaded pipeline
    assert cache_of(first) == (["ramp@steered.json"], ["full@steered.json", "off@steered.json"], [])
    assert len(first["outputs"]) == 3 and all(Path(p).is_file() for p in first["outputs"])
    off, full, ramp = (pixels(first, s) for s in ("off", "full", "ramp"))
    assert off.shape == full.shape == (64, 64, 3)
    assert not np.array_equal(off, full)  # the scale matters
    assert not np.array_equal(full, ramp)  # so does the reference image
    again = worker.execute(workflow, tmp_path / "two", timeout=240)
    assert cache_of(again) == (
        ["full@steered.json", "off@steered.json", "ramp@steered.json"],
        [],
        [],
    )
    assert np.array_equal(pixels(again, "full"), full)


def test_editing_the_adapter_reloads_that_pipeline_and_a_prompt_edit_reloads_nothing(
    worker: WorkerProcess, project: Path, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    workflow = write_workflow(
        project / "pair.json", [adapted_step("steered"), tiny_ddpm_step("noise", steps=2)], seed=7
    )
    before = pixels(worker.execute(workflow, tmp_path / "before", timeout=240), "steered")

    def prompt_and_image(document: dict[str, Any]) -> None:
        arguments = document["steps"][0]["pipeline"]["arguments"]
        arguments.update(prompt="a whale", ip_adapter_image="ramp.png")

    edit(workflow, prompt_and_image)
    result = worker.execute(workflow, tmp_path / "prompt", timeout=240)
    assert result["fileChanged"] is True
    assert cache_of(result) == (["noise@pair.json", "steered@pair.json"], [], [])
    assert not np.array_equal(pixels(result, "steered"), before)

    edit(workflow, lambda d: d["steps"][0]["pipeline"]["ip_adapter"].update(model_name="ip-b"))
    other = worker.execute(workflow, tmp_path / "other", timeout=240)
    assert cache_of(other) == (["noise@pair.json"], ["steered@pair.json"], ["steered@pair.json"])
    assert not np.array_equal(pixels(other, "steered"), pixels(result, "steered"))

    edit(workflow, lambda d: d["steps"][0]["pipeline"]["ip_adapter"].update(scale=0.3))
    weaker = worker.execute(workflow, tmp_path / "weaker", timeout=240)
    assert cache_of(weaker) == (["noise@pair.json"], ["steered@pair.json"], ["steered@pair.json"])
    assert not np.array_equal(pixels(weaker, "steered"), pixels(other, "steered"))


def test_an_explicit_image_encoder_serves_an_adapter_without_one(
    worker: WorkerProcess, project: Path, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    missing = write_workflow(
        project / "bare.json", [adapted_step("bare", {"model_name": "ip-bare"})]
    )
    failed = worker.execute(missing, tmp_path / "failed", timeout=240)
    assert failed["status"] == "error"
    assert "pipeline.ip_adapter (ip-bare)" in failed["error"]
    encoder = {
        "configuration": {"component_type": "transformers.CLIPVisionModelWithProjection"},
        "from_pretrained_arguments": {"model_name": str(project / "ip-a" / "image_encoder")},
    }
    steps = [
        adapted_step("bundled", {"scale": 1.0}),
        adapted_step("explicit", {"model_name": "ip-bare", "scale": 1.0}, image_encoder=encoder),
    ]
    result = worker.execute(write_workflow(project / "explicit.json", steps, seed=3), tmp_path)
    assert np.array_equal(pixels(result, "bundled"), pixels(result, "explicit"))


def test_a_pipeline_without_ip_adapter_support_fails_before_loading(
    worker: WorkerProcess, project: Path, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    step = tiny_ddpm_step("noise")
    step["pipeline"]["ip_adapter"] = {"model_name": "ip-a", "weight_name": WEIGHTS}
    result = worker.execute(write_workflow(project / "ddpm.json", [step]), tmp_path / "out")
    assert result["status"] == "error"
    assert "DDPMPipeline does not take IP-Adapters" in result["error"]
    assert result["cache"]["loaded"] == []


# -- stand-in adapters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pipeline", "adapter", "content"),
    [
        (
            "FluxPipeline",
            {"model_name": "XLabs-AI/flux-ip-adapter", "weight_name": "ip_adapter.safetensors"},
            "image/png",
        ),
        (
            "StableDiffusionPipeline",
            {
                "model_name": "h94/IP-Adapter",
                "subfolder": "models",
                "weight_name": "ip-adapter-full-face_sd15.bin",
                "scale": 0.5,
            },
            "image/jpeg",
        ),
    ],
)
def test_a_stand_in_run_stands_in_for_the_ip_adapter(
    stand_in_worker: WorkerProcess,
    tmp_path: Path,
    pipeline: str,
    adapter: dict[str, Any],
    content: str,
) -> None:
    """dw's FluxIP (XLabs' safetensors layout) and face-swap (h94's ``.bin`` in a
    ``models`` subfolder) adapters: a stand-in of each, built for the stand-in denoiser and
    loaded by diffusers' ``load_ip_adapter`` with its tiny image encoder."""
    Image.new("RGB", (40, 40), (200, 120, 30)).save(tmp_path / "face.png")
    step = {
        "name": "steered",
        "pipeline": {
            "configuration": {"component_type": pipeline},
            "from_pretrained_arguments": {"model_name": f"nobody-has/{pipeline}"},
            "ip_adapter": adapter,
            "arguments": {"prompt": "a chef", "ip_adapter_image": "face.png"},
        },
        "result": {"content_type": content},
    }
    path = write_workflow(tmp_path / "ip.json", [step], seed=5)
    result = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300))
    [output] = result["outputs"]
    assert Path(output).is_file()
    stood = {(m["where"], m["source"]) for m in result["standIn"]["models"]}
    assert ("pipeline.ip_adapter", adapter["model_name"]) in stood
    assert "loading pipeline.ip_adapter" in stand_in_worker.stderr_tail(300)
