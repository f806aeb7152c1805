"""Explicit CUDA devices on a CPU worker (issue 15): dw's published workflows name ``cuda``
in ``components.<name>.device``, ``device_map``, SDNQ's ``quantization_device`` /
``return_device`` and group offload's ``use_stream``. A plain run refuses them before
anything loads, naming each (not torch's "Torch not compiled with CUDA enabled" half-way
through a load); a stand-in run maps each to the worker's device and reports it, in the
run's warnings and in the stand-in report; the dry run says what the plain run says.

The worker tests use the built-in tiny SD (a stand-in run maps devices whether or not a
model was stood in), through the real worker."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, tiny_sd_step, write_workflow

from dw_lsp.workflow import device_rules

SDNQ = {
    "configuration": {"config_type": "sdnq.SDNQConfig"},
    "arguments": {
        "weights_dtype": "{int8}",
        "quantization_device": "cuda",
        "return_device": "cuda:0",
    },
}


def gpu_step(quantized: bool) -> dict[str, Any]:
    """A tiny SD step written for a GPU: the VAE on ``variable:where`` (cuda), the UNet
    loaded with ``device_map: cuda`` (and SDNQ on CUDA), the text encoder group offloaded
    with a stream."""
    unet: dict[str, Any] = {
        "configuration": {"component_type": "UNet2DConditionModel"},
        "from_pretrained_arguments": {
            "model_name": "builtin:tiny-sd",
            "subfolder": "unet",
            "device_map": "cuda",
        },
    }
    if quantized:
        unet["quantization_config"] = SDNQ
    step = tiny_sd_step(steps=2, unet=unet)
    step["pipeline"]["configuration"]["components"] = {
        "vae": {"device": "variable:where"},
        "text_encoder": {"group_offload": {"offload_type": "leaf_level", "use_stream": True}},
    }
    return step


def gpu_workflow(path: Path, quantized: bool) -> Path:
    return write_workflow(path, [gpu_step(quantized)], seed=3, variables={"where": "cuda"})


# -- the rules (pure) ---------------------------------------------------------------------


def test_mapped_moves_each_foreign_device_and_leaves_the_input_alone() -> None:
    step = gpu_step(quantized=True)
    step["pipeline"]["configuration"]["components"]["vae"]["device"] = "cuda"
    step["pipeline"]["configuration"]["components"]["transformer.blocks"] = {"device": "cuda:1"}
    document = {"id": "x", "steps": [step, {"name": "t", "task": {"device": "mps"}}]}
    before = copy.deepcopy(document)
    new, moved = device_rules.mapped(document, "cpu")
    assert document == before
    assert {(m.step, m.where, m.given, m.used) for m in moved} == {
        ("generate", "pipeline.configuration.components.vae.device", "cuda", "cpu"),
        (
            "generate",
            "pipeline.configuration.components.transformer.blocks.device",
            "cuda:1",
            "cpu",
        ),
        (
            "generate",
            "pipeline.configuration.components.text_encoder.group_offload.use_stream",
            True,
            False,
        ),
        ("generate", "pipeline.unet.from_pretrained_arguments.device_map", "cuda", "cpu"),
        (
            "generate",
            "pipeline.unet.quantization_config.arguments.quantization_device",
            "cuda",
            "cpu",
        ),
        ("generate", "pipeline.unet.quantization_config.arguments.return_device", "cuda:0", "cpu"),
        ("t", "task.device", "mps", "cpu"),
    }
    components = new["steps"][0]["pipeline"]["configuration"]["components"]
    assert components["transformer.blocks"] == {"device": "cpu"}
    assert components["text_encoder"]["group_offload"]["use_stream"] is False
    assert new["steps"][1]["task"]["device"] == "cpu"
    assert device_rules.named_devices(new, "cpu") == []


def test_a_worker_that_has_the_device_keeps_it() -> None:
    document = {"id": "x", "steps": [gpu_step(quantized=True)]}
    document["steps"][0]["pipeline"]["configuration"]["components"]["vae"]["device"] = "cuda"
    assert device_rules.named_devices(document, "cuda:0") == []
    on_mps = {m.where for m in device_rules.named_devices(document, "mps")}
    assert "pipeline.configuration.components.text_encoder.group_offload.use_stream" in on_mps
    assert device_rules.mapped({"id": "x", "steps": [{"name": "a", "task": {}}]}, "cpu")[1] == []
    nested = {"name": "a", "pipeline": {"from_pretrained_arguments": {"device_map": {"": "cuda"}}}}
    [entry] = device_rules.named_devices({"steps": [nested]}, "cpu")
    assert entry.key == "device_map" and entry.given == "cuda"
    assert entry.where == "pipeline.from_pretrained_arguments.device_map['']"
    assert device_rules.mapped({"steps": [nested]}, "cpu")[0]["steps"][0]["pipeline"] == {
        "from_pretrained_arguments": {"device_map": {"": "cpu"}}
    }


def test_problems_name_each_device_but_leave_sdnq_and_streams_to_their_own_rules() -> None:
    document = {"id": "x", "steps": [gpu_step(quantized=True)]}
    document["steps"][0]["pipeline"]["configuration"]["components"]["vae"]["device"] = "cuda"
    found = device_rules.problems(document, "cpu")
    assert len(found) == 2, found
    assert found[0].startswith(
        "step 'generate': pipeline.configuration.components.vae.device is 'cuda', "
        "but this worker runs on cpu"
    )
    assert "pipeline.unet.from_pretrained_arguments.device_map is 'cuda'" in found[1]


# -- through the worker -------------------------------------------------------------------


@pytest.mark.slow
def test_a_plain_run_refuses_cuda_on_a_cpu_before_loading(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    path = gpu_workflow(tmp_path / "gpu.json", quantized=False)
    result = worker.execute(path, tmp_path / "out", timeout=120)
    assert result["status"] == "error"
    error = result["error"]
    assert (
        "pipeline.configuration.components.vae.device is 'cuda', but this worker runs on cpu"
        in error
    )
    assert "device_map is 'cuda', but this worker runs on cpu" in error
    assert "Torch not compiled with CUDA" not in error
    assert result["cache"]["loaded"] == [] and result["outputs"] == []


@pytest.mark.slow
def test_a_stand_in_run_maps_cuda_to_the_worker_and_reports_it(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    path = gpu_workflow(tmp_path / "gpu.json", quantized=True)
    result = stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    [output] = result["outputs"]
    assert Path(output).is_file()
    devices = {(d["name"], d["given"], d["used"]) for d in result["standIn"]["devices"]}
    assert devices == {
        ("pipeline.configuration.components.vae.device", "cuda", "cpu"),
        ("pipeline.configuration.components.text_encoder.group_offload.use_stream", True, False),
        ("pipeline.unet.from_pretrained_arguments.device_map", "cuda", "cpu"),
        ("pipeline.unet.quantization_config.arguments.quantization_device", "cuda", "cpu"),
        ("pipeline.unet.quantization_config.arguments.return_device", "cuda:0", "cpu"),
    }
    warnings = "\n".join(result["warnings"])
    assert (
        "stand-in run: step 'generate': pipeline.configuration.components.vae.device "
        "'cuda' -> 'cpu' (this worker runs on cpu)"
    ) in warnings
    assert "quantization_device 'cuda' -> 'cpu'" in warnings
    log = stand_in_worker.stderr_tail(400)
    assert "pipeline.unet: quantized by SDNQQuantizer" in log, log[-3000:]


@pytest.mark.slow
def test_the_dry_run_refuses_cuda_on_a_cpu_in_the_run_s_words(tmp_path: Path) -> None:
    gpu_workflow(tmp_path / "gpu.json", quantized=True)
    done = subprocess.run(
        [sys.executable, "-m", "dw_lsp", "run", "--dry-run", "gpu.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "components.vae.device is 'cuda', but this worker runs on cpu" in done.stderr
    assert "quantization_device is 'cuda', but this worker runs on cpu" in done.stderr
