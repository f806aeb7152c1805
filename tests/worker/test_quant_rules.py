"""The pure rules of quantized loading and extra modules (FORMAT.md 1.4.4, 1.4.1): which
backend a config needs, which modules ``pre_load_modules`` may import, what cannot run on a
device, and the checker's DW307 / DW308 (the latter only once the worker reported its
capabilities). No torch here."""

from __future__ import annotations

import json

from dw_lsp.capabilities import Capabilities
from dw_lsp.validation.check import check_text
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow import quant_rules


def test_each_config_class_maps_to_its_backend() -> None:
    assert quant_rules.backend_for("sdnq.SDNQConfig").package == "sdnq"
    assert quant_rules.backend_for("BitsAndBytesConfig").package == "bitsandbytes"
    assert quant_rules.backend_for("transformers.TorchAoConfig").package == "torchao"
    assert quant_rules.backend_for("GGUFQuantizationConfig").package == "gguf"
    assert quant_rules.backend_for("QuantoConfig").package == "optimum-quanto"
    assert quant_rules.backend_for("FluxPipeline") is None


def test_pre_load_modules_allows_known_packages_and_the_users_prefixes_only() -> None:
    for module in ("sdnq", "torchao", "bitsandbytes", "gguf", "optimum.quanto"):
        assert quant_rules.pre_load_refusal("m", module, ()) is None
    refusal = quant_rules.pre_load_refusal("m", "os", ())
    assert refusal is not None and "worker.allowedModules" in refusal and "'os'" in refusal
    assert quant_rules.pre_load_refusal("m", "mypkg.sub", ("mypkg",)) is None
    assert "private" in (quant_rules.pre_load_refusal("m", "sdnq._x", ()) or "")
    assert "not a module name" in (quant_rules.pre_load_refusal("m", "a b", ()) or "")


def test_device_rules_name_what_cannot_run_here() -> None:
    bnb = quant_rules.device_problem("q", "BitsAndBytesConfig", {"load_in_4bit": True}, "cpu")
    assert bnb is not None and "bitsandbytes 4-bit" in bnb and "cpu" in bnb
    assert (
        quant_rules.device_problem("q", "BitsAndBytesConfig", {"load_in_8bit": True}, "cuda:0")
        is None
    )
    sdnq = quant_rules.device_problem(
        "q", "sdnq.SDNQConfig", {"quantization_device": "cuda"}, "cpu"
    )
    assert sdnq is not None and "quantization_device" in sdnq
    assert (
        quant_rules.device_problem("q", "sdnq.SDNQConfig", {"quantization_device": "cpu"}, "cpu")
        is None
    )
    assert (
        quant_rules.device_problem("q", "sdnq.SDNQConfig", {"return_device": "cuda"}, "cuda")
        is None
    )


def test_torchao_int4_is_refused_where_its_mslk_kernels_cannot_run() -> None:
    """torchao 0.18's ``Int4WeightOnlyConfig()`` quantizes through mslk ("Requires mslk >=
    1.0.0" half-way through a load); mslk ships as mslk-cuda, CUDA only. The worker says so
    before loading, in the words the dry run classes as needing a GPU."""
    from dw_lsp.worker.loading import quantize

    int4 = {"quant_type": "torchao.quantization.Int4WeightOnlyConfig"}
    assert quant_rules.mslk_config("TorchAoConfig", int4) == "Int4WeightOnlyConfig"
    int8 = {"quant_type": "torchao.quantization.Int8WeightOnlyConfig"}
    assert quant_rules.mslk_config("TorchAoConfig", int8) is None
    assert quant_rules.mslk_config("sdnq.SDNQConfig", int4) is None
    block = {"configuration": {"config_type": "TorchAoConfig"}, "arguments": int4}
    [problem] = quantize.block_problems("pipeline.transformer.quantization_config", block, "cpu")
    assert problem == (
        "pipeline.transformer.quantization_config: torchao's Int4WeightOnlyConfig packs int4 "
        "weights with mslk's CUDA kernels (mslk-cuda), so it needs CUDA; this worker runs on "
        "cpu (use Int8WeightOnlyConfig, or SDNQ's uint4, here)"
    )
    on_cuda = quant_rules.mslk_message("q", "Int4WeightOnlyConfig", "cuda:0", installed=False)
    assert on_cuda is not None and "pip install mslk-cuda" in on_cuda
    assert quant_rules.mslk_message("q", "Int4WeightOnlyConfig", "cuda", installed=True) is None
    assert quantize.block_problems("q", {**block, "arguments": int8}, "cpu") == []


def _workflow(modules: list[str], config_type: str, arguments: dict[str, object]) -> str:
    return json.dumps(
        {
            "id": "q",
            "steps": [
                {
                    "name": "s",
                    "pipeline": {
                        "configuration": {
                            "component_type": "FluxPipeline",
                            "pre_load_modules": modules,
                        },
                        "from_pretrained_arguments": {"model_name": "x/y"},
                        "transformer": {
                            "configuration": {"component_type": "FluxTransformer2DModel"},
                            "from_pretrained_arguments": {"model_name": "x/y"},
                            "quantization_config": {
                                "configuration": {"config_type": config_type},
                                "arguments": arguments,
                            },
                        },
                        "arguments": {"prompt": "p"},
                    },
                }
            ],
        },
        indent=1,
    )


def _codes(text: str, ctx: CheckContext) -> dict[str, list[str]]:
    _doc, problems = check_text(text, ctx)
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.code, []).append(problem.message)
    return found


def test_dw307_refuses_a_module_the_worker_would_refuse_unless_allowed() -> None:
    text = _workflow(["sdnq", "os"], "sdnq.SDNQConfig", {"weights_dtype": "{int8}"})
    codes = _codes(text, CheckContext())
    assert len(codes["DW307"]) == 1 and "'os'" in codes["DW307"][0]
    assert "DW307" not in _codes(text, CheckContext(allowed_modules=("os",)))


def test_dw308_speaks_only_once_the_worker_reported_its_capabilities() -> None:
    text = _workflow(["sdnq"], "sdnq.SDNQConfig", {"quantization_device": "cuda"})
    assert "DW308" not in _codes(text, CheckContext())
    lacking = _codes(text, CheckContext(capabilities=Capabilities(device="cpu", backends={})))
    assert any("'sdnq' package" in m and "pip install sdnq" in m for m in lacking["DW308"])
    installed = Capabilities(device="cpu", backends={"sdnq": "0.2.8"})
    on_cpu = _codes(text, CheckContext(capabilities=installed))
    assert [m for m in on_cpu["DW308"] if "quantization_device" in m]
    on_gpu = Capabilities(device="cuda", backends={"sdnq": "0.2.8"})
    assert "DW308" not in _codes(text, CheckContext(capabilities=on_gpu))
    bnb = _workflow([], "BitsAndBytesConfig", {"load_in_4bit": True})
    cpu = Capabilities(device="cpu", backends={"bitsandbytes": "0.50.2"})
    assert any(
        "bitsandbytes 4-bit" in m for m in _codes(bnb, CheckContext(capabilities=cpu))["DW308"]
    )
    int4 = _workflow(
        [], "TorchAoConfig", {"quant_type": "torchao.quantization.Int4WeightOnlyConfig"}
    )
    torchao = Capabilities(device="cpu", backends={"torchao": "0.18.0"})
    messages = _codes(int4, CheckContext(capabilities=torchao))["DW308"]
    assert any("Int4WeightOnlyConfig packs int4 weights with mslk" in m for m in messages)


def test_dw308_warns_on_a_device_the_worker_lacks_in_the_worker_s_words() -> None:
    document = json.loads(_workflow([], "sdnq.SDNQConfig", {"weights_dtype": "{int8}"}))
    pipeline = document["steps"][0]["pipeline"]
    pipeline["configuration"]["components"] = {"vae": {"device": "cuda"}}
    pipeline["transformer"]["from_pretrained_arguments"]["device_map"] = "variable:where"
    text = json.dumps(document, indent=1)
    assert "DW308" not in _codes(text, CheckContext())
    cpu = Capabilities(device="cpu", backends={"sdnq": "0.2.8"})
    assert _codes(text, CheckContext(capabilities=cpu))["DW308"] == [
        "pipeline.configuration.components.vae.device is 'cuda', but this worker runs on cpu; "
        "set it to the worker's device (or remove it) to run here, or smoke-run the workflow "
        "on stand-ins, which map it; the run will be refused"
    ]
    gpu = Capabilities(device="cuda:0", backends={"sdnq": "0.2.8"})
    assert "DW308" not in _codes(text, CheckContext(capabilities=gpu))
