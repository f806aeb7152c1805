"""Quantized components through the real worker (FORMAT.md 1.4.4): the tiny SD pipeline with
its UNet loaded under SDNQ, torchao int8 and quanto int8 runs end to end on this CPU, the
second run reuses the warm pipeline, a prompt-only edit reloads nothing and a change of the
quantization config reloads (it is part of the load key). What cannot run here is refused
before anything loads with a message naming why: bitsandbytes without CUDA, an SDNQ
``quantization_device: cuda`` on a CPU, a ``pre_load_modules`` entry outside the allowlist.
The worker's handshake reports its device and installed backends; the dry run checks
without loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, ok, tiny_sd_step, write_workflow

pytestmark = pytest.mark.slow

SDNQ = (
    {"config_type": "sdnq.SDNQConfig"},
    {
        "weights_dtype": "{int8}",
        "quantization_device": "cpu",
        "return_device": "cpu",
    },
)
TORCHAO = (
    {"config_type": "TorchAoConfig"},
    {"quant_type": "torchao.quantization.Int8WeightOnlyConfig"},
)
QUANTO = {"config_type": "QuantoConfig"}, {"weights_dtype": "{int8}"}


def quantized_step(
    config: tuple[dict[str, Any], dict[str, Any]],
    prompt: str = "a red fox",
    modules: list[str] | None = None,
) -> dict[str, Any]:
    configuration, arguments = config
    step = tiny_sd_step(
        prompt=prompt,
        unet={
            "configuration": {"component_type": "UNet2DConditionModel"},
            "from_pretrained_arguments": {
                "model_name": "builtin:tiny-sd",
                "subfolder": "unet",
                "torch_dtype": "torch.float32",
            },
            "quantization_config": {"configuration": configuration, "arguments": arguments},
        },
    )
    if modules is not None:
        step["pipeline"]["configuration"]["pre_load_modules"] = modules
    return step


@pytest.mark.parametrize(
    ("config", "modules"),
    [(SDNQ, ["sdnq"]), (TORCHAO, None), (QUANTO, ["optimum.quanto"])],
    ids=["sdnq", "torchao-int8", "quanto-int8"],
)
def test_a_quantized_unet_runs_warm_and_a_prompt_edit_reloads_nothing(
    worker: WorkerProcess,
    tmp_path: Path,
    config: tuple[dict[str, Any], dict[str, Any]],
    modules: list[str] | None,
) -> None:
    path = write_workflow(tmp_path / "q.json", [quantized_step(config, modules=modules)], seed=1)
    first = ok(worker.execute(path, tmp_path / "out", timeout=180))
    assert first["cache"]["loaded"] == ["generate@q.json"]
    assert first["outputs"] and all(Path(p).is_file() for p in first["outputs"])
    second = ok(worker.execute(path, tmp_path / "out"))
    assert second["cache"]["reused"] == ["generate@q.json"] and not second["cache"]["loaded"]
    write_workflow(path, [quantized_step(config, "a blue owl", modules)], seed=1)
    edited = ok(worker.execute(path, tmp_path / "out"))
    assert edited["cache"]["reused"] == ["generate@q.json"] and not edited["cache"]["loaded"]


def test_changing_the_quantization_config_reloads(worker: WorkerProcess, tmp_path: Path) -> None:
    path = write_workflow(tmp_path / "k.json", [quantized_step(TORCHAO)], seed=1)
    ok(worker.execute(path, tmp_path / "out", timeout=180))
    changed = (TORCHAO[0], {**TORCHAO[1], "modules_to_not_convert": ["conv_in"]})
    write_workflow(path, [quantized_step(changed)], seed=1)
    result = ok(worker.execute(path, tmp_path / "out", timeout=180))
    assert result["cache"]["loaded"] == ["generate@k.json"]


def refusal(result: dict[str, Any]) -> str:
    assert result["status"] == "error", result
    assert not result["cache"]["loaded"], "nothing may load before the refusal"
    return str(result["error"])


def test_what_cannot_run_on_this_cpu_is_refused_before_loading(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    bnb = ({"config_type": "BitsAndBytesConfig"}, {"load_in_4bit": True})
    cuda_sdnq = (SDNQ[0], {**SDNQ[1], "quantization_device": "cuda"})
    steps = [quantized_step(bnb), {**quantized_step(cuda_sdnq), "name": "second"}]
    path = write_workflow(tmp_path / "gpu.json", steps)
    message = refusal(worker.execute(path, tmp_path / "out"))
    assert "bitsandbytes 4-bit quantization in diffusers needs CUDA" in message
    assert "quantization_device is 'cuda', but this worker runs on cpu" in message


def test_pre_load_modules_outside_the_allowlist_are_refused_before_anything_loads(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path / "m.json", [quantized_step(TORCHAO, modules=["json"])])
    message = refusal(worker.execute(path, tmp_path / "out"))
    assert "importing 'json' is refused" in message and "worker.allowedModules" in message
    allowed = ok(worker.execute(path, tmp_path / "out", allowedModules=["json"], timeout=180))
    assert allowed["outputs"]


def test_the_handshake_reports_the_device_and_the_installed_backends(
    worker: WorkerProcess,
) -> None:
    answer = worker.result("initialize", {"protocolVersion": "1.0"})
    capabilities = answer["capabilities"]
    assert capabilities["device"] == "cpu"
    assert {"sdnq", "torchao", "optimum-quanto", "gguf", "bitsandbytes"} <= set(
        capabilities["backends"]
    )


def test_a_dry_run_checks_everything_and_loads_nothing(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    good = write_workflow(tmp_path / "good.json", [quantized_step(SDNQ, modules=["sdnq"])])
    result = ok(worker.execute(good, tmp_path / "out", dryRun=True))
    assert result["outputs"] == [] and result["cache"] == {
        "reused": [],
        "loaded": [],
        "released": [],
    }
    broken = quantized_step(({"config_type": "TorchAoConfig"}, {}))
    broken["pipeline"]["from_pretrained_arguments"]["model_name"] = "./missing-model"
    bad = write_workflow(tmp_path / "bad.json", [broken, {**tiny_sd_step(), "name": "b"}])
    document = json.loads(bad.read_text())
    document["steps"][1]["pipeline"]["configuration"]["component_type"] = "NoSuchPipeline"
    bad.write_text(json.dumps(document))
    message = refusal(worker.execute(bad, tmp_path / "out", dryRun=True))
    assert "'./missing-model': no such file or folder" in message
    assert "TorchAoConfig" in message and "quant_type" in message
    assert "step 'b'" in message and "NoSuchPipeline" in message
