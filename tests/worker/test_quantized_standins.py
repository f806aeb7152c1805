"""Quantized transformers of two families, through the real worker on stand-ins (issue 15's
"Done when"): a Flux and a Wan workflow whose transformer block carries a
``quantization_config`` (SDNQ int8, torchao int8 weight-only, optimum-quanto int8) run end to
end with ``standIns: all`` - the stand-in transformer is loaded by ``from_pretrained`` with
the config built from the block, the worker logs the quantizer the loaded model carries, the
output is written, the second run reuses the warm pipeline and a prompt-only edit reloads nothing.

GGUF goes through ``from_single_file``: the test writes a GGUF file (the ``gguf`` package's
writer, Q8_0 blocks for the linear weights) of the Flux stand-in transformer's config with
random weights; the workflow loads it with ``GGUFQuantizationConfig`` next to a stood-in
Flux pipeline (``standIns: missing``: the local file is used, the hub model is stood in).
A GGUF file of Q8_0 blocks cannot load without the GGUF quantizer (its weights are packed
bytes), so the run's success shows the config was applied. A GGUF file that is itself stood
in (a from_pretrained folder) runs without its GGUF config, reported as a changed argument.

All tests share the session's stand-in worker (starting one costs seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dwtest_worker import WorkerProcess, ok, write_workflow

pytestmark = pytest.mark.slow

SDNQ = {
    "configuration": {"config_type": "sdnq.SDNQConfig"},
    "arguments": {"weights_dtype": "{int8}", "quantization_device": "cpu", "return_device": "cpu"},
}
TORCHAO = {
    "configuration": {"config_type": "TorchAoConfig"},
    "arguments": {"quant_type": "torchao.quantization.Int8WeightOnlyConfig"},
}
QUANTO = {
    "configuration": {"config_type": "QuantoConfig"},
    "arguments": {"weights_dtype": "{int8}"},
}
#: family -> (pipeline class, transformer class, call arguments, content type).
FAMILIES: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "flux": (
        "FluxPipeline",
        "FluxTransformer2DModel",
        {"height": 1024, "width": 1024},
        "image/png",
    ),
    "wan": (
        "WanPipeline",
        "WanTransformer3DModel",
        {"height": 480, "width": 480, "num_frames": 81},
        "video/mp4",
    ),
}
#: backend -> (quantization_config block, pre_load_modules, the quantizer's class name).
BACKENDS = {
    "sdnq": (SDNQ, ["sdnq"], "SDNQQuantizer"),
    "torchao": (TORCHAO, None, "TorchAo"),
    "quanto": (QUANTO, ["optimum.quanto"], "QuantoQuantizer"),
}


def quantized_workflow(
    path: Path,
    family: str,
    transformer: dict[str, Any],
    prompt: str = "a red fox in the snow",
    modules: list[str] | None = None,
) -> Path:
    pipeline, _transformer_cls, arguments, content = FAMILIES[family]
    configuration: dict[str, Any] = {"component_type": pipeline}
    if modules is not None:
        configuration["pre_load_modules"] = modules
    step = {
        "name": "generate",
        "pipeline": {
            "configuration": configuration,
            "from_pretrained_arguments": {
                "model_name": f"nobody-has/{pipeline}",
                "torch_dtype": "torch.float32",
            },
            "transformer": transformer,
            "arguments": {"prompt": prompt, **arguments, "num_inference_steps": 30},
        },
        "result": {"content_type": content},
    }
    return write_workflow(path, [step], seed=7)


def hub_transformer(family: str, quantization: dict[str, Any]) -> dict[str, Any]:
    pipeline, transformer_cls, _arguments, _content = FAMILIES[family]
    return {
        "configuration": {"component_type": transformer_cls},
        "from_pretrained_arguments": {
            "model_name": f"nobody-has/{pipeline}",
            "subfolder": "transformer",
            "torch_dtype": "torch.bfloat16",
        },
        "quantization_config": quantization,
    }


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_quantized_stand_in_transformer_runs_warm(
    stand_in_worker: WorkerProcess, tmp_path: Path, family: str, backend: str
) -> None:
    quantization, modules, quantizer = BACKENDS[backend]
    transformer = hub_transformer(family, quantization)
    path = quantized_workflow(tmp_path / "q.json", family, transformer, modules=modules)
    first = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300))
    assert first["cache"]["loaded"] == ["generate@q.json"]
    stood = {(m["where"], m["component"]) for m in first["standIn"]["models"]}
    assert ("pipeline.transformer", FAMILIES[family][1]) in stood
    [output] = first["outputs"]
    assert Path(output).is_file() and Path(output).stat().st_size > 100
    log = stand_in_worker.stderr_tail(400)
    assert f"pipeline.transformer: quantized by {quantizer}" in log, log[-3000:]
    second = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="all"))
    assert second["cache"]["reused"] == ["generate@q.json"] and not second["cache"]["loaded"]
    quantized_workflow(path, family, transformer, "a blue owl", modules)
    edited = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="all"))
    assert edited["cache"]["reused"] == ["generate@q.json"] and not edited["cache"]["loaded"]
    assert edited["outputs"] and Path(edited["outputs"][0]).is_file()


def write_flux_gguf(folder: Path) -> tuple[Path, Path]:
    """A GGUF file of the Flux stand-in transformer (random weights; linear weights whose rows
    split into 32-value blocks stored as Q8_0, the rest as F32) and a folder with its
    config.json, which ``from_single_file`` needs offline."""
    import gguf
    import torch
    from diffusers import FluxTransformer2DModel

    from dw_lsp.worker.standins.registry import FAMILIES as REGISTRY

    [flux] = [f for f in REGISTRY if f.name == "flux"]
    torch.manual_seed(0)
    model = FluxTransformer2DModel(**flux.parts["transformer"].config)
    config_dir = folder / "flux-transformer-config"
    model.save_config(config_dir)
    target = folder / "flux-transformer-Q8_0.gguf"
    writer = gguf.GGUFWriter(str(target), "flux")
    packed = 0
    for name, tensor in model.state_dict().items():
        array = tensor.detach().float().numpy()
        if array.ndim == 2 and array.shape[-1] % 32 == 0:
            q8 = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(array, q8), raw_dtype=q8)
            packed += 1
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert packed > 10, "the stand-in transformer should have Q8_0-packable weights"
    return target, config_dir


def test_a_gguf_file_written_here_loads_through_from_single_file(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    gguf_file, config_dir = write_flux_gguf(tmp_path)
    transformer = {
        "configuration": {"component_type": "FluxTransformer2DModel"},
        "from_pretrained_arguments": {
            "from_single_file": str(gguf_file),
            "config": str(config_dir),
            "torch_dtype": "torch.float32",
        },
        "quantization_config": {
            "configuration": {"config_type": "GGUFQuantizationConfig"},
            "arguments": {"compute_dtype": "torch.float32"},
        },
    }
    path = quantized_workflow(tmp_path / "g.json", "flux", transformer, modules=["gguf"])
    first = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="missing", timeout=300))
    assert first["cache"]["loaded"] == ["generate@g.json"]
    wheres = {m["where"] for m in first["standIn"]["models"]}
    assert wheres == {"pipeline"}, "the local GGUF file is used, only the hub model stood in"
    [output] = first["outputs"]
    assert Path(output).is_file()
    log = stand_in_worker.stderr_tail(400)
    assert "pipeline.transformer: quantized by GGUFQuantizer" in log, log[-3000:]
    second = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="missing"))
    assert second["cache"]["reused"] == ["generate@g.json"] and not second["cache"]["loaded"]


def test_a_stood_in_gguf_file_drops_its_gguf_config_and_says_so(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    """dw's FluxGGUF example: a GGUF file nobody has. Its stand-in is a from_pretrained
    folder, which diffusers cannot load under a GGUF config (it failed the smoke run)."""
    transformer = {
        "configuration": {"component_type": "FluxTransformer2DModel"},
        "from_pretrained_arguments": {
            "from_single_file": "https://example.invalid/flux1-dev-Q4_0.gguf",
            "torch_dtype": "torch.bfloat16",
        },
        "quantization_config": {
            "configuration": {"config_type": "GGUFQuantizationConfig"},
            "arguments": {"compute_dtype": "torch.bfloat16"},
        },
    }
    path = quantized_workflow(tmp_path / "h.json", "flux", transformer)
    result = ok(stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300))
    assert result["outputs"] and Path(result["outputs"][0]).is_file()
    changed = {a["name"]: (a["given"], a["used"]) for a in result["standIn"]["arguments"]}
    assert changed["transformer.quantization_config"] == ("GGUFQuantizationConfig", None)
