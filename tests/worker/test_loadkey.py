"""Load keys: call-time edits keep the key, load-time edits and model files change it."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from dw_lsp.worker.loading.loadkey import load_key, reused_component_names, source_identity

BASE: dict[str, Any] = {
    "configuration": {"component_type": "StableDiffusionPipeline"},
    "from_pretrained_arguments": {"model_name": "builtin:tiny-sd", "torch_dtype": "torch.float32"},
    "arguments": {"prompt": "a cat", "num_inference_steps": 4},
}


def edited(change: Any) -> dict[str, Any]:
    pipeline = copy.deepcopy(BASE)
    change(pipeline)
    return pipeline


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["arguments"].update(prompt="a dog"),
        lambda p: p["arguments"].update(num_inference_steps=30),
        lambda p: p.update(seed=5),
        lambda p: p["configuration"].update(no_generator=True, attention_backend="native"),
        lambda p: p.update(shared_components=["vae"]),
        lambda p: p["arguments"].update(ip_adapter_image="face.png"),
    ],
    ids=["prompt", "steps", "seed", "call-time configuration", "shared_components", "ip image"],
)
def test_call_time_edits_keep_the_key(change: Any) -> None:
    assert load_key(edited(change)) == load_key(BASE)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["from_pretrained_arguments"].update(model_name="builtin:tiny-ddpm"),
        lambda p: p["from_pretrained_arguments"].update(torch_dtype="torch.bfloat16"),
        lambda p: p["from_pretrained_arguments"].update(variant="fp16"),
        lambda p: p["configuration"].update(component_type="DDPMPipeline"),
        lambda p: p["configuration"].update(offload="model"),
        lambda p: p.update(loras=[{"model_name": "a/lora", "scale": 0.5}]),
        lambda p: p.update(scheduler={"configuration": {"scheduler_type": "DDIMScheduler"}}),
        lambda p: p.update(
            vae={
                "configuration": {"component_type": "AutoencoderKL"},
                "from_pretrained_arguments": {"model_name": "x/vae"},
            }
        ),
    ],
    ids=["model", "dtype", "variant", "class", "offload", "lora", "scheduler", "component"],
)
def test_load_time_edits_change_the_key(change: Any) -> None:
    assert load_key(edited(change)) != load_key(BASE)


def test_a_lora_scale_change_changes_the_key() -> None:
    one = edited(lambda p: p.update(loras=[{"model_name": "a/lora", "scale": 0.5}]))
    two = edited(lambda p: p.update(loras=[{"model_name": "a/lora", "scale": 0.7}]))
    assert load_key(one) != load_key(two)


def test_the_ip_adapter_is_part_of_the_key(tmp_path: Path) -> None:
    def adapter(**entry: Any) -> dict[str, Any]:
        return edited(lambda p: p.update(ip_adapter={"model_name": "a/ip", **entry}))

    keys = {
        load_key(BASE),
        load_key(adapter()),
        load_key(adapter(scale=0.5)),
        load_key(adapter(scale=0.7)),
        load_key(adapter(weight_name="ip-adapter-plus.bin")),
        load_key(adapter(subfolder="models")),
    }
    assert len(keys) == 6
    local = tmp_path / "ip"
    local.mkdir()
    weights = local / "ip_adapter.safetensors"
    weights.write_bytes(b"one")
    pipeline = edited(lambda p: p.update(ip_adapter={"model_name": "ip"}))
    before = load_key(pipeline, base_dir=tmp_path)
    weights.write_bytes(b"other")
    assert load_key(pipeline, base_dir=tmp_path) != before


def test_reused_components_key_on_their_publisher() -> None:
    pipeline = edited(lambda p: p["configuration"].update(reused_components=["vae"]))
    assert reused_component_names(pipeline) == ["vae"]
    assert load_key(pipeline, {"vae": "publisher-1"}) != load_key(pipeline, {"vae": "publisher-2"})


def test_a_local_model_directory_changes_the_key_when_its_files_change(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    weights = model / "unet" / "weights.safetensors"
    weights.write_bytes(b"one")
    pipeline = edited(lambda p: p["from_pretrained_arguments"].update(model_name=str(model)))
    before = load_key(pipeline)
    assert load_key(pipeline) == before
    weights.write_bytes(b"two!")
    os.utime(weights, ns=(1, 1))
    assert load_key(pipeline) != before


def test_a_relative_local_file_resolves_against_the_workflow_folder(tmp_path: Path) -> None:
    lora = tmp_path / "styles" / "ink.safetensors"
    lora.parent.mkdir()
    lora.write_bytes(b"one")
    pipeline = edited(lambda p: p.update(loras=[{"model_name": "styles/ink.safetensors"}]))
    before = load_key(pipeline, None, tmp_path)
    lora.write_bytes(b"two!")
    os.utime(lora, ns=(1, 1))
    assert load_key(pipeline, None, tmp_path) != before


def test_a_hub_id_is_its_own_identity() -> None:
    assert source_identity("stabilityai/sdxl-does-not-exist-here") == (
        "stabilityai/sdxl-does-not-exist-here"
    )
    assert source_identity("builtin:tiny-sd").startswith("builtin:tiny-sd@")
