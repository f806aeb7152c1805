"""``components.<name>.compile`` on the tiny-sd UNet: compiled once per load and kept warm
(a second call compiles no new graph; a prompt-only edit in the worker reloads nothing), an
error for regional compilation on a model without it, a note where torch cannot compile.

The compile uses ``backend: "eager"`` (a key passed on to ``torch.compile``): Dynamo traces
and guards the UNet for real, without the minutes of C++ code generation inductor would
spend on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import diffusers
import pytest
import torch
from dwtest_worker import WorkerProcess, tiny_sd_step, write_workflow

from dw_lsp.worker.loading import compiling, tiny
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading.loadkey import load_key

pytestmark = pytest.mark.slow
COMPILE = {"backend": "eager", "fullgraph": False, "dynamic": False}


@pytest.fixture(autouse=True)
def models_in_the_session_cache(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_LSP_CACHE_DIR", str(cache_dir))


def load(entry: dict[str, Any], notes: list[str], name: str = "unet") -> Any:
    spec = {
        "configuration": {
            "component_type": diffusers.StableDiffusionPipeline,
            "components": {name: entry},
        },
        "from_pretrained_arguments": {
            "model_name": tiny.resolve_model_name("builtin:tiny-sd"),
            "torch_dtype": torch.float32,
        },
    }
    return loading.load_pipeline(spec, device="cpu", shared={}, reused=[], note=notes.append)


def generate(pipe: Any, prompt: str) -> Any:
    generator = torch.Generator().manual_seed(0)
    return pipe(prompt, num_inference_steps=2, generator=generator, output_type="np").images


def test_the_unet_is_compiled_once_and_reused_by_later_calls() -> None:
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    notes: list[str] = []
    pipe = load({"compile": COMPILE}, notes)
    compiled = pipe.unet._compiled_call_impl
    assert compiled is not None and notes == []
    assert counters["stats"]["unique_graphs"] == 0  # compiled lazily, by the first call
    generate(pipe, "a red fox")
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    generate(pipe, "a blue bird")  # another prompt: same shapes, no new graph
    assert counters["stats"]["unique_graphs"] == graphs
    assert pipe.unet._compiled_call_impl is compiled


def test_repeated_blocks_compiles_only_the_repeated_blocks() -> None:
    pipe = load({"compile": {**COMPILE, "repeated_blocks": True}}, [])
    assert pipe.unet._compiled_call_impl is None
    regional = [m for m in pipe.unet.modules() if m._compiled_call_impl is not None]
    assert regional and all(type(m).__name__ in pipe.unet._repeated_blocks for m in regional)


def test_regional_compilation_needs_a_model_with_repeated_blocks() -> None:
    with pytest.raises(compiling.CompileError) as caught:
        load({"compile": {**COMPILE, "repeated_blocks": True}}, [], name="text_encoder")
    assert str(caught.value) == (
        "configuration.components.text_encoder.compile.repeated_blocks: CLIPTextModel has no "
        "regional compilation (compile_repeated_blocks)"
    )


def test_no_compile_without_a_compiler_or_on_mps(monkeypatch: pytest.MonkeyPatch) -> None:
    assert compiling.cannot_compile("mps", "inductor") == "torch.compile is not supported on MPS"
    monkeypatch.setattr(compiling, "_compiler", lambda: None)
    reason = compiling.cannot_compile("cpu", "inductor")
    assert reason is not None and "needs a C++ compiler" in reason
    assert compiling.cannot_compile("cpu", "eager") is None
    notes: list[str] = []
    pipe = load({"compile": {"mode": "reduce-overhead"}}, notes)
    assert pipe.unet._compiled_call_impl is None
    assert notes == [
        "configuration.components.unet.compile: the inductor backend needs a C++ compiler "
        "on a CPU and none was found; skipped"
    ]


def test_a_prompt_edit_keeps_the_compiled_pipeline_warm(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    step = tiny_sd_step("fox", steps=2)
    step["pipeline"]["configuration"]["components"] = {"unet": {"compile": COMPILE}}
    path = write_workflow(tmp_path / "compiled.json", [step], seed=1)
    first = worker.execute(path, tmp_path / "out", timeout=300)
    assert first["status"] == "ok", first.get("traceback") or first
    assert first["cache"]["loaded"] == ["fox@compiled.json"]
    document = json.loads(path.read_text())
    document["steps"][0]["pipeline"]["arguments"]["prompt"] = "a grey wolf"
    path.write_text(json.dumps(document))
    second = worker.execute(path, tmp_path / "out", timeout=120)
    assert second["status"] == "ok", second.get("traceback") or second
    assert second["cache"]["reused"] == ["fox@compiled.json"] and second["cache"]["loaded"] == []
    # Another compile option is another load: the options are part of the load key.
    pipeline = document["steps"][0]["pipeline"]
    changed = json.loads(json.dumps(pipeline))
    changed["configuration"]["components"]["unet"]["compile"]["dynamic"] = True
    assert load_key(changed) != load_key(pipeline)


def test_a_stand_in_run_compiles_on_the_eager_backend(
    stand_in_worker: WorkerProcess, tmp_path: Path
) -> None:
    """dw's FluxDevFast compiles the transformer's repeated blocks with inductor, which
    generates C++ for a minute and more on a CPU (97 s measured for a 10 s smoke run): a
    stand-in run traces the same blocks on dynamo's eager backend instead, and says so."""
    step = {
        "name": "fast",
        "pipeline": {
            "configuration": {
                "component_type": "FluxPipeline",
                "components": {"transformer": {"compile": {"repeated_blocks": True}}},
            },
            "from_pretrained_arguments": {"model_name": "nobody-has/FluxPipeline"},
            "arguments": {"prompt": "a fast fox", "num_inference_steps": 28},
        },
        "result": {"content_type": "image/png"},
    }
    path = write_workflow(tmp_path / "fast.json", [step], seed=2)
    result = stand_in_worker.execute(path, tmp_path / "out", standIns="all", timeout=300)
    assert result["status"] == "ok", result.get("traceback") or result.get("error")
    shrunk = {(a["name"], a["given"], a["used"]) for a in result["standIn"]["arguments"]}
    assert ("components.transformer.compile.backend", None, "eager") in shrunk
    log = stand_in_worker.stderr_tail(300)
    assert "compiling the repeated blocks ({'backend': 'eager'})" in log, log[-2000:]
