"""IP-Adapters (FORMAT.md 1.4.5): the checks made before any weights load, and real runs
through the worker with a tiny adapter this module writes in the layout diffusers reads
(``ip_adapter.safetensors`` holding the ``image_proj.*`` and ``ip_adapter.*`` tensors sized for
the tiny SD UNet, and a tiny ``CLIPVisionModelWithProjection`` saved in ``image_encoder/``):
the adapter and its image steer the image, the scale matters, a second run is warm, editing
the adapter reloads that pipeline, editing the prompt or the reference image reloads nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dwtest_worker import WorkerProcess, tiny_ddpm_step, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker import support
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import tiny

pytestmark = pytest.mark.slow

WEIGHTS = "ip_adapter.safetensors"
#: Width of the tiny image encoder's image embeddings (its projection_dim).
IMAGE_EMBED_DIM = 32


def write_ip_adapter(folder: Path, unet_dir: Path, seed: int, encoder: bool = True) -> Path:
    """A tiny IP-Adapter for the UNet saved in ``unet_dir``: one ``to_k_ip`` / ``to_v_ip``
    pair per cross-attention processor (numbered 1, 3, 5 ... in processor order, as diffusers
    reads them), an image projection to 4 tokens, and (``encoder``) a CLIP image encoder in
    ``image_encoder/`` (dimensions after diffusers' pipeline tests)."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(unet_dir))
    width = unet.config.cross_attention_dim
    blocks = list(unet.config.block_out_channels)
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, Any] = {}
    number = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue  # self-attention takes no image tokens
        part, index = name.split(".")[:2]
        hidden = {
            "mid_block": blocks[-1],
            "up_blocks": blocks[::-1][int(index)] if index.isdigit() else 0,
            "down_blocks": blocks[int(index)] if index.isdigit() else 0,
        }[part]
        for projection in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{number}.{projection}.weight"] = torch.randn(
                hidden, width, generator=generator
            )
        number += 2
    tensors["image_proj.proj.weight"] = torch.randn(4 * width, IMAGE_EMBED_DIM, generator=generator)
    tensors["image_proj.proj.bias"] = torch.randn(4 * width, generator=generator)
    tensors["image_proj.norm.weight"] = torch.ones(width)
    tensors["image_proj.norm.bias"] = torch.zeros(width)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, folder / WEIGHTS)
    if encoder:
        torch.manual_seed(seed)
        config = CLIPVisionConfig(
            hidden_size=32,
            projection_dim=IMAGE_EMBED_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
        CLIPVisionModelWithProjection(config).save_pretrained(folder / "image_encoder")
    return folder


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


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == "ok", result.get("traceback") or result
    return result


def cache_of(result: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    cache = ok(result)["cache"]
    return sorted(cache["reused"]), sorted(cache["loaded"]), sorted(cache["released"])


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
