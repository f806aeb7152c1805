"""Modular pipelines (FORMAT.md 1.4.1) on a tiny Flux saved with ``save_pretrained``:
``ModularPipeline`` through the real worker (warm on the second run, a prompt-only edit
reloads nothing), and through the loader in this process: ``load_components`` names and
dtype, ``configs`` checked against the declared ones, ``components_manager`` skipped with a
note on a CPU, reused components registered before the weights load, and the modular-only
keys refused on a standard pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import diffusers
import pytest
import torch
from dwtest_flux import CALL, save_tiny_flux
from dwtest_worker import WorkerProcess, write_workflow

from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import modular

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_flux(tmp_path_factory.mktemp("tiny-flux") / "flux")


def load(
    folder: Path,
    configuration: dict[str, Any],
    notes: list[str] | None = None,
    shared: dict[str, Any] | None = None,
    kind: Any = diffusers.ModularPipeline,
) -> Any:
    spec = {
        "configuration": {"component_type": kind, **configuration},
        "from_pretrained_arguments": {"model_name": str(folder)},
    }
    return loading.load_pipeline(
        spec,
        device="cpu",
        shared=shared or {},
        reused=list(shared or {}),
        note=(notes if notes is not None else []).append,
    )


def modular_step(folder: Path, prompt: str) -> dict[str, Any]:
    return {
        "name": "flux",
        "pipeline": {
            "configuration": {
                "component_type": "ModularPipeline",
                "load_components": {"dtype": "torch.float32"},
                "components_manager": {"enable_auto_cpu_offload": True},
            },
            "from_pretrained_arguments": {"model_name": str(folder)},
            "arguments": {
                **{k: v for k, v in CALL.items() if k != "guidance_scale"},
                "prompt": prompt,
                "num_inference_steps": 2,
                "output": "images",
            },
        },
        "result": {"content_type": "image/png"},
    }


def test_a_modular_pipeline_runs_in_the_worker_and_stays_warm(
    worker: WorkerProcess, flux_dir: Path, tmp_path: Path
) -> None:
    path = write_workflow(tmp_path / "modular.json", [modular_step(flux_dir, "a cat")], seed=4)
    first = worker.execute(path, tmp_path / "out")
    assert first["status"] == "ok", first.get("traceback") or first
    assert first["cache"]["loaded"] == ["flux@modular.json"]
    assert [Path(p).suffix for p in first["outputs"]] == [".png"]
    assert any("enable_auto_cpu_offload needs CUDA" in w for w in first["warnings"])
    document = json.loads(path.read_text())
    document["steps"][0]["pipeline"]["arguments"]["prompt"] = "a dog"
    path.write_text(json.dumps(document))
    second = worker.execute(path, tmp_path / "out")
    assert second["status"] == "ok", second.get("traceback") or second
    assert second["cache"]["loaded"] == [] and second["cache"]["reused"] == ["flux@modular.json"]
    assert second["timings"]["load"] == 0


def test_load_components_loads_the_named_components_in_the_dtype(flux_dir: Path) -> None:
    notes: list[str] = []
    names = ["transformer", "vae"]
    pipe = load(flux_dir, {"load_components": {"names": names, "dtype": torch.bfloat16}}, notes)
    assert type(pipe).__name__ == "FluxModularPipeline"
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.vae.dtype == torch.bfloat16
    assert pipe.text_encoder is None  # not named, not loaded


def test_a_reused_component_is_registered_before_the_weights_load(flux_dir: Path) -> None:
    given = diffusers.FluxTransformer2DModel.from_pretrained(flux_dir, subfolder="transformer")
    pipe = load(flux_dir, {"load_components": {}}, shared={"transformer": given})
    assert pipe.transformer is given
    assert pipe.vae is not None and pipe.text_encoder_2 is not None


def test_configs_are_checked_against_the_declared_ones(flux_dir: Path) -> None:
    with pytest.raises(modular.ModularError) as caught:
        load(flux_dir, {"configs": {"canvas_short_edge": 768}})
    assert str(caught.value) == (
        "configuration.configs: FluxModularPipeline declares no config named "
        "canvas_short_edge (it declares: none)"
    )


def test_an_unknown_component_name_is_an_error(flux_dir: Path) -> None:
    with pytest.raises(modular.ModularError, match="has no component unet"):
        load(flux_dir, {"load_components": {"names": ["unet"]}})


def test_modular_keys_on_a_standard_pipeline_are_refused_before_loading() -> None:
    spec = {
        "configuration": {
            "component_type": diffusers.FluxPipeline,
            "load_components": {"dtype": torch.float32},
            "configs": {"x": 1},
        },
        "from_pretrained_arguments": {"model_name": "nowhere"},
    }
    with pytest.raises(loading.LoadError) as caught:
        loading.check_loadable(spec, "cpu")
    message = str(caught.value)
    assert "configuration.load_components is only for modular pipelines" in message
    assert "configuration.configs is only for modular pipelines" in message
    assert message.endswith("no model was loaded")


def test_per_component_quantization_configs_are_built_from_their_descriptions() -> None:
    built = modular.load_arguments(
        {
            "quantization_config": {
                "transformer": {
                    "configuration": {"config_type": diffusers.GGUFQuantizationConfig},
                    "arguments": {"compute_dtype": torch.bfloat16},
                }
            }
        }
    )
    assert built is not None
    config = built["quantization_config"]["transformer"]
    assert isinstance(config, diffusers.GGUFQuantizationConfig)
    assert config.compute_dtype == torch.bfloat16


#: Per-component quantization as dw's MiniMax / LTX-2 workflows write it: the config type
#: by name, an escaped string category, the package imported by pre_load_modules.
SDNQ_BLOCK = {
    "configuration": {"config_type": "sdnq.SDNQConfig"},
    "arguments": {
        "weights_dtype": "{int8}",
        "quantization_device": "cpu",
        "return_device": "cpu",
    },
}
TORCHAO_BLOCK = {
    "configuration": {"config_type": "TorchAoConfig"},
    "arguments": {"quant_type": "torchao.quantization.Int8WeightOnlyConfig"},
}


def test_per_component_quantization_runs_end_to_end_in_the_worker(
    worker: WorkerProcess, flux_dir: Path, tmp_path: Path
) -> None:
    step = modular_step(flux_dir, "a quantized cat")
    configuration = step["pipeline"]["configuration"]
    configuration["pre_load_modules"] = ["sdnq"]
    configuration["load_components"]["quantization_config"] = {
        "transformer": TORCHAO_BLOCK,
        "text_encoder_2": SDNQ_BLOCK,
    }
    path = write_workflow(tmp_path / "quantized.json", [step], seed=4)
    result = worker.execute(path, tmp_path / "out", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    assert [Path(p).suffix for p in result["outputs"]] == [".png"]
    log = worker.stderr_tail(400)
    assert "modular pipeline: transformer quantized by TorchAoHfQuantizer" in log, log[-3000:]
    assert "modular pipeline: text_encoder_2 quantized by SDNQQuantizer" in log, log[-3000:]


def test_per_component_configs_are_built_as_component_blocks_are() -> None:
    from dw_lsp.worker.values.realize import EscapedString

    class SDNQConfig:  # named like the backend's class: build_config checks its package
        def __init__(self, **arguments: Any) -> None:
            self.arguments = arguments

    block = {
        "configuration": {"config_type": SDNQConfig},
        "arguments": {"weights_dtype": EscapedString("int8"), "group": [torch.nn.Identity]},
    }
    built = modular.load_arguments({"quantization_config": {"transformer": block}})
    assert built is not None
    arguments = built["quantization_config"]["transformer"].arguments
    assert type(arguments["weights_dtype"]) is str  # an escaped category, unescaped
    assert isinstance(arguments["group"][0], torch.nn.Identity)  # classes in lists, built
    with pytest.raises(modular.ModularError, match=r"transformer\.configuration\.config_type"):
        modular.load_arguments({"quantization_config": {"transformer": {"configuration": {}}}})


def write_flux_lora(flux_dir: Path, folder: Path) -> Path:
    """A rank-2 LoRA (random weights) of the tiny Flux transformer's attention, saved with
    diffusers' own ``save_lora_weights``."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = diffusers.FluxTransformer2DModel.from_pretrained(
        flux_dir, subfolder="transformer"
    )
    torch.manual_seed(1)
    config = LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k"], init_lora_weights=False)
    transformer.add_adapter(config)
    layers = get_peft_model_state_dict(transformer)
    diffusers.FluxPipeline.save_lora_weights(folder, transformer_lora_layers=layers)
    return folder


def test_a_modular_pipeline_takes_loras_when_its_own_class_does(
    worker: WorkerProcess, flux_dir: Path, tmp_path: Path
) -> None:
    """``ModularPipeline`` has no ``load_lora_weights``, but the class its index names
    (``FluxModularPipeline`` here, ``MiniMaxH3ModularPipeline`` in dw's MiniMax workflows)
    does: the LoRA is not refused before loading, it is loaded into that class."""
    folder = write_flux_lora(flux_dir, tmp_path / "lora")
    step = modular_step(flux_dir, "a cat with a LoRA")
    step["pipeline"]["loras"] = [{"model_name": str(folder), "adapter_name": "style", "scale": 0.8}]
    path = write_workflow(tmp_path / "lora.json", [step], seed=4)
    result = worker.execute(path, tmp_path / "out", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    assert [Path(p).suffix for p in result["outputs"]] == [".png"]
    assert "loading pipeline.loras[0]" in worker.stderr_tail(200)


def test_loras_on_a_loaded_pipeline_without_lora_support_are_an_error() -> None:
    from dw_lsp.worker.loading import adapters

    planned = [adapters.LoraLoad("pipeline.loras[0]", "org/lora", "org/lora", "a", 1.0, {})]
    with pytest.raises(loading.LoadError, match="object does not take LoRAs"):
        adapters.apply_loras(object(), planned)
