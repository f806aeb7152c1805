"""Load-time configuration keys (FORMAT.md 1.4.1): device-dependent keys skipped with a note
on a CPU, the keys that work anywhere applied for real on tiny-sd, shape checks before
anything loads, and load keys that change when these keys are edited."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dwtest_worker import WorkerProcess, ok, progress_of, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import placement
from dw_lsp.worker.loading.loadkey import load_key
from dw_lsp.worker.support import preflight

ON_CPU = not torch.cuda.is_available()
on_cpu_only = pytest.mark.skipif(not ON_CPU, reason="the worker runs on an accelerator here")
SEED = 7
COMMANDS = frozenset({"get_image_size"})


def step(configuration: dict[str, Any] | None = None, name: str = "generate") -> dict[str, Any]:
    made = tiny_sd_step(name, steps=2)
    made["pipeline"]["configuration"].update(configuration or {})
    return made


def components(**entries: Any) -> dict[str, Any]:
    return {"components": entries}


def pixels(result: dict[str, Any]) -> np.ndarray:
    [path] = ok(result)["outputs"]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def run(
    worker: WorkerProcess, tmp_path: Path, configuration: dict[str, Any], name: str = "cfg"
) -> dict[str, Any]:
    workflow = write_workflow(tmp_path / f"{name}.json", [step(configuration)], seed=SEED)
    return worker.execute(workflow, tmp_path / "out" / name)


@pytest.fixture(scope="module")
def baseline(worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The tiny-sd image with no configuration keys, for the same seed and prompt."""
    return pixels(run(worker, tmp_path_factory.mktemp("baseline"), {}, "plain"))


# -- device-dependent keys: a note on a CPU ---------------------------------------------------


@pytest.mark.slow
@on_cpu_only
def test_accelerator_keys_are_skipped_on_a_cpu_with_a_note(
    worker: WorkerProcess, tmp_path: Path, baseline: np.ndarray
) -> None:
    offload = {"offload_type": "block_level", "num_blocks_per_group": 1}
    configuration = {
        "group_offload": {"offload_type": "leaf_level", "use_stream": True},
        "sdnq_optimize": ["unet", "text_encoder"],
        **components(
            unet={"group_offload": offload},
            vae={"residency": "on_demand"},
        ),
    }
    result = ok(run(worker, tmp_path, configuration, "notes"))
    warnings = result["warnings"]
    expected = [
        "configuration.group_offload: group offload needs an accelerator; skipped on cpu",
        "configuration.components.unet.group_offload: group offload needs an accelerator; "
        "skipped on cpu",
        "configuration.components.vae.residency 'on_demand' is ignored on cpu",
        "configuration.sdnq_optimize needs CUDA or XPU with triton; skipped on cpu",
    ]
    assert sorted(w for w in warnings if w in expected) == sorted(expected), warnings
    assert np.array_equal(pixels(result), baseline)


@pytest.mark.parametrize(
    ("configuration", "device", "named"),
    [
        (components(vae={"residency": "on_demand"}), "cuda", "components.vae.residency"),
        (components(vae={"residency": "on_demand"}), "mps", "components.vae.residency"),
        (
            {"offload": "model", "group_offload": {"offload_type": "leaf_level"}},
            "cuda:0",
            "configuration.offload and configuration.group_offload",
        ),
    ],
)
def test_what_an_accelerator_cannot_honour_is_refused_before_loading(
    configuration: dict[str, Any], device: str, named: str
) -> None:
    from diffusers import StableDiffusionPipeline

    pipeline = {
        "configuration": {"component_type": StableDiffusionPipeline, **configuration},
        "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
    }
    assert placement.refusals(pipeline["configuration"], "cpu") == []
    with pytest.raises(loading.LoadError, match="no model was loaded") as caught:
        loading.check_loadable(pipeline, device)
    assert named in str(caught.value)


def test_group_offload_options_reach_diffusers() -> None:
    """The options an accelerator run passes, checked against diffusers' real API on a CPU
    (onloading to the CPU is allowed there)."""
    from diffusers import UNet2DModel

    model = UNet2DModel(
        sample_size=8,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    spec = {"offload_type": "block_level", "num_blocks_per_group": 1, "onload_device": "cpu"}
    kwargs = placement._group_kwargs(spec, "cuda", "x")
    assert kwargs["onload_device"] == torch.device("cpu")
    assert kwargs["offload_device"] == torch.device("cpu")
    placement._group_offload_module(model, kwargs)
    plain = torch.nn.Sequential(torch.nn.Linear(2, 2))
    placement._group_offload_module(
        plain, placement._group_kwargs({"offload_type": "leaf_level"}, "cpu", "x")
    )
    with torch.no_grad():
        model(torch.zeros(1, 3, 8, 8), 1)
        plain(torch.zeros(1, 2))


# -- keys that work on any device -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "configuration",
    [
        components(unet={"truncate_layers": {"up_blocks.1.resnets": 1}}),
        components(text_encoder={"truncate_layers": {"encoder.layers": 1}}),
        components(unet={"remove_modules": ["conv_norm_out", "mid_block.attentions.0.proj_out"]}),
        {
            "enable_layerwise_casting": {
                "storage_dtype": "torch.float8_e4m3fn",
                "compute_dtype": "torch.float32",
            }
        },
    ],
    ids=["truncate unet", "truncate text encoder", "remove modules", "layerwise casting"],
)
def test_keys_that_change_the_model_change_the_image(
    worker: WorkerProcess, tmp_path: Path, baseline: np.ndarray, configuration: dict[str, Any]
) -> None:
    result = ok(run(worker, tmp_path, configuration, "changed"))
    assert result["cache"]["loaded"] == ["generate@changed.json"]
    assert not result["warnings"]
    assert not np.array_equal(pixels(result), baseline)


@pytest.mark.slow
def test_a_pinned_attention_backend_and_tiling_run(
    worker: WorkerProcess, tmp_path: Path, baseline: np.ndarray
) -> None:
    configuration = components(
        unet={"attention_backend": "native"}, vae={"enable_tiling": True, "device": "cpu"}
    )
    assert np.array_equal(pixels(run(worker, tmp_path, configuration, "pinned")), baseline)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("configuration", "named"),
    [
        (
            components(unet={"truncate_layers": {"up_blocks.9.resnets": 1}}),
            "configuration.components.unet.truncate_layers: unet has no 'up_blocks.9.resnets'",
        ),
        (
            components(unet={"truncate_layers": {"conv_in": 1}}),
            "unet.conv_in is a Conv2d, not a ModuleList",
        ),
        (
            components(unet={"remove_modules": ["mid_block.nothing"]}),
            "configuration.components.unet.remove_modules: unet has no module 'mid_block.nothing'",
        ),
        (
            components(unet={"remove_modules": ["no.such.path"]}),
            "configuration.components.unet.remove_modules: unet has no 'no.such'",
        ),
        (components(nope={"device": "cpu"}), "the pipeline has no 'nope'"),
        (
            components(text_encoder={"attention_backend": "native"}),
            "CLIPTextModel has no set_attention_backend()",
        ),
        (
            components(unet={"attention_backend": "no-such-backend"}),
            "configuration.components.unet.attention_backend 'no-such-backend'",
        ),
        (
            {
                "enable_layerwise_casting": {
                    "storage_dtype": "{fp8}",
                    "compute_dtype": "torch.float32",
                }
            },
            "enable_layerwise_casting.storage_dtype must name a torch dtype",
        ),
    ],
    ids=[
        "truncate missing",
        "truncate not a list",
        "remove missing",
        "remove missing parent",
        "component",
        "backend on a transformers model",
        "unknown backend",
        "dtype",
    ],
)
def test_a_bad_path_or_value_fails_before_inference(
    worker: WorkerProcess, tmp_path: Path, configuration: dict[str, Any], named: str
) -> None:
    workflow = write_workflow(tmp_path / "bad.json", [step(configuration)], seed=SEED)
    since = len(worker.notifications)
    result = worker.execute(workflow, tmp_path / "out", runId="bad-config")
    assert result["status"] == "error"
    assert named in result["error"], result["error"]
    assert not [n for n in worker.notifications[since:] if progress_of("bad-config", "denoise")(n)]
    assert result["outputs"] == []


@pytest.mark.slow
def test_entries_for_a_reused_component_are_left_to_the_step_that_shared_it(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    sharer = step(name="sharer")
    sharer["pipeline"]["shared_components"] = ["unet"]
    # The path does not exist: were the entry applied, the run would fail.
    consumer = step({**components(unet={"remove_modules": ["no_such_module"]})}, "consumer")
    consumer["pipeline"]["reused_components"] = ["unet"]
    workflow = write_workflow(tmp_path / "share.json", [sharer, consumer], seed=SEED)
    ok(worker.execute(workflow, tmp_path / "out"))


# -- preflight and load keys ------------------------------------------------------------------


def document(configuration: dict[str, Any]) -> dict[str, Any]:
    return {"id": "doc", "steps": [step(configuration)]}


@pytest.mark.parametrize(
    "configuration",
    [
        {"group_offload": {"offload_type": "leaf_level", "use_stream": True}},
        {"sdnq_optimize": ["transformer"]},
        {"enable_layerwise_casting": {"storage_dtype": "x", "compute_dtype": "y"}},
        components(
            transformer={"group_offload": {"offload_type": "block_level"}},
            vae={"residency": "on_demand", "device": "cuda", "enable_tiling": {"tile": 64}},
            **{"text_encoder.model": {"truncate_layers": {"layers": 2}, "remove_modules": ["a"]}},
        ),
        components(unet={"attention_backend": "native", "residency": "resident"}),
    ],
)
def test_honoured_keys_pass_preflight(configuration: dict[str, Any]) -> None:
    assert preflight(document(configuration), COMMANDS) == []


@pytest.mark.parametrize(
    ("configuration", "expected"),
    [
        (
            {"group_offload": {"use_stream": True}},
            "group_offload must be an object with an offload_type",
        ),
        ({"sdnq_optimize": "transformer"}, "sdnq_optimize must be a list"),
        ({"enable_layerwise_casting": {"storage_dtype": "x"}}, "storage_dtype and compute_dtype"),
        (components(vae={"residency": "sometimes"}), "vae.residency must be resident or on_demand"),
        (
            components(
                vae={"residency": "on_demand", "group_offload": {"offload_type": "leaf_level"}}
            ),
            "group_offload cannot be combined with residency on_demand",
        ),
        (components(unet={"truncate_layers": {"up_blocks": 0}}), "number of layers >= 1"),
        (components(unet={"truncate_layers": {"up_blocks": True}}), "number of layers >= 1"),
        (components(unet={"remove_modules": "conv_in"}), "remove_modules must be a list"),
        (components(unet={"compile": {"fullgraph": "yes"}}), "unet.compile.fullgraph must be"),
        ({"components_manager": True}, "components_manager must be an object"),
        ({"cache": {"type": "faster", "threshold": 1}}, "not a parameter of the faster cache"),
    ],
)
def test_malformed_or_unsupported_keys_are_named(
    configuration: dict[str, Any], expected: str
) -> None:
    problems = preflight(document(configuration), COMMANDS)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "configuration",
    [
        components(unet={"truncate_layers": {"up_blocks.1.resnets": 1}}),
        components(unet={"remove_modules": ["conv_norm_out"]}),
        components(unet={"attention_backend": "native"}),
        components(vae={"group_offload": {"offload_type": "leaf_level"}}),
        components(vae={"residency": "on_demand"}),
        {"enable_layerwise_casting": {"storage_dtype": "a", "compute_dtype": "b"}},
        {"group_offload": {"offload_type": "leaf_level"}},
        {"sdnq_optimize": ["unet"]},
        components(unet={"compile": {"mode": "default", "dynamic": None}}),
        {"cache": {"type": "mag", "calibrate": True}},
        {"cache": {"type": "first_block", "threshold": "0.2"}, "teacache": {}},
    ],
)
def test_editing_a_load_time_key_changes_the_load_key(configuration: dict[str, Any]) -> None:
    plain = step()["pipeline"]
    edited = copy.deepcopy(plain)
    edited["configuration"].update(configuration)
    assert load_key(edited) != load_key(plain)
    again = json.loads(json.dumps(edited))
    assert load_key(again) == load_key(edited)


@pytest.mark.slow
def test_editing_truncate_layers_reloads_only_that_pipeline(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    first = run(worker, tmp_path, components(unet={"truncate_layers": {"mid_block.resnets": 1}}))
    assert ok(first)["cache"]["loaded"] == ["generate@cfg.json"]
    same = run(worker, tmp_path, components(unet={"truncate_layers": {"mid_block.resnets": 1}}))
    assert ok(same)["cache"]["reused"] == ["generate@cfg.json"]
    edited = run(worker, tmp_path, components(unet={"truncate_layers": {"mid_block.resnets": 2}}))
    assert ok(edited)["cache"]["loaded"] == ["generate@cfg.json"]


@pytest.mark.skipif(
    importlib.util.find_spec("flash_attn") is not None, reason="flash-attn is installed"
)
def test_a_backend_whose_package_is_missing_is_a_clear_error_and_leaves_the_default() -> None:
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    model = UNet2DConditionModel(
        sample_size=8,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=8,
        attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    pipe = type("Pipe", (), {"unet": model, "components": {"unet": model}})()
    active = _AttentionBackendRegistry._active_backend
    with pytest.raises(placement.PlacementError, match="attention_backend 'flash'"):
        placement.place(pipe, components(unet={"attention_backend": "flash"}), "cpu", print)
    placement.place(pipe, components(unet={"attention_backend": "native"}), "cpu", print)
    assert _AttentionBackendRegistry._active_backend == active
