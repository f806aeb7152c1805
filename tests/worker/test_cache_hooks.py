"""``configuration.cache`` (all five diffusers cache types) and ``teacache`` on a tiny Flux
pipeline, loaded and called in this process through the worker's own loader and call
context: output exists, and a warm pipeline carries no cache state into its next run (even
after a run that was cut short) — its output equals a fresh load's for the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from dwtest_flux import CALL, save_tiny_flux

from dw_lsp.worker.loading import hooks, teacache
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.support import preflight

pytestmark = pytest.mark.slow
STEPS = 3
CACHES = [
    {"type": "first_block", "threshold": "0.9"},
    {"type": "faster"},
    {"type": "mag", "mag_ratios": "flux", "num_inference_steps": STEPS, "threshold": 0.5},
    {"type": "taylorseer", "cache_interval": 2, "max_order": 1},
    {"type": "text_kv"},
]


class Stop(Exception):
    """Ends a call after its first denoising step (a cancelled run)."""


@pytest.fixture(scope="module")
def flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_flux(tmp_path_factory.mktemp("tiny-flux") / "flux")


def load(folder: Path, configuration: dict[str, Any], notes: list[str]) -> Any:
    spec = {
        "configuration": {"component_type": diffusers.FluxPipeline, **configuration},
        "from_pretrained_arguments": {"model_name": str(folder)},
    }
    return loading.load_pipeline(spec, device="cpu", shared={}, reused=[], note=notes.append)


def call(
    pipe: Any,
    configuration: dict[str, Any],
    notes: list[str],
    stop_early: bool = False,
    **more: Any,
) -> np.ndarray:
    kwargs: dict[str, Any] = {
        **CALL,
        "prompt": "a red cube",
        "num_inference_steps": STEPS,
        "generator": torch.Generator().manual_seed(3),
        "output_type": "np",
        **more,
    }
    if stop_early:

        def stop(*_: Any) -> dict[str, Any]:
            raise Stop

        kwargs["callback_on_step_end"] = stop
    with hooks.call_context(pipe, configuration, kwargs, notes.append):
        return np.asarray(pipe(**kwargs).images[0])


@pytest.mark.parametrize("cache", CACHES, ids=[c["type"] for c in CACHES])
def test_each_cache_type_runs_and_a_warm_pipeline_carries_no_state(
    flux_dir: Path, cache: dict[str, Any]
) -> None:
    notes: list[str] = []
    configuration = {"cache": cache}
    warm = load(flux_dir, configuration, notes)
    assert warm.transformer.is_cache_enabled
    first = call(warm, configuration, notes)
    assert first.shape == (32, 32, 3) and np.isfinite(first).all()
    with pytest.raises(Stop):  # a run cut short after its first step
        call(warm, configuration, notes, stop_early=True)
    again = call(warm, configuration, notes)
    fresh = call(load(flux_dir, configuration, notes), configuration, notes)
    np.testing.assert_array_equal(again, fresh)
    np.testing.assert_array_equal(first, fresh)


def test_teacache_skips_steps_and_leaves_nothing_installed(flux_dir: Path) -> None:
    notes: list[str] = []
    pipe = load(flux_dir, {}, notes)
    plain = call(pipe, {}, notes)
    blocks = [*pipe.transformer.transformer_blocks, *pipe.transformer.single_transformer_blocks]
    configuration = {"teacache": {"rel_l1_thresh": 100.0}}  # skip every step it may
    cached = call(pipe, configuration, notes, num_inference_steps=5)
    assert cached.shape == plain.shape and np.isfinite(cached).all()
    assert not any("forward" in vars(m) for m in [*blocks, pipe.transformer])
    # Skipping changed the image; the warm pipeline is plain again afterwards.
    assert not np.array_equal(cached, call(pipe, {}, notes, num_inference_steps=5))
    np.testing.assert_array_equal(call(pipe, {}, notes), plain)
    # A threshold of 0 computes every step: exactly the plain image.
    exact = call(pipe, {"teacache": {"rel_l1_thresh": 0.0}}, notes)
    np.testing.assert_array_equal(exact, plain)


def test_teacache_without_a_step_count_runs_without_it_and_says_so(flux_dir: Path) -> None:
    notes: list[str] = []
    pipe = load(flux_dir, {}, notes)
    kwargs = {"prompt": "x"}
    with hooks.call_context(pipe, {"teacache": {}}, kwargs, notes.append):
        pass
    assert notes == [
        "teacache needs a num_inference_steps argument; this call runs without TeaCache"
    ]


def test_teacache_refuses_other_transformers_naming_the_class() -> None:
    refused = pytest.raises(teacache.TeaCacheError, match="this pipeline's denoiser is Linear")
    with refused, teacache.applied(torch.nn.Linear(1, 1), {}, {"num_inference_steps": 2}, print):
        pass


def test_cache_shapes_are_checked_before_anything_loads() -> None:
    def problems(cache: Any) -> list[str]:
        step = {
            "name": "s",
            "pipeline": {
                "configuration": {"component_type": "FluxPipeline", "cache": cache},
                "from_pretrained_arguments": {"model_name": "x"},
                "arguments": {},
            },
        }
        return preflight({"id": "w", "steps": [step]}, ())

    assert problems({"type": "first_block", "threshold": 0.1}) == []
    assert problems({"type": "mag", "calibrate": True}) == []
    [mag] = problems({"type": "mag", "threshold": 0.1})
    assert "needs mag_ratios" in mag and "unless calibrate" in mag
    [kind] = problems({"type": "fast"})
    assert "first_block, faster, mag, taylorseer, text_kv" in kind
    [extra] = problems({"type": "faster", "threshold": 1})
    assert "threshold is not a parameter of the faster cache" in extra
    [bad] = problems({"type": "taylorseer", "cache_interval": "often"})
    assert "cache_interval 'often' is not a valid int" in bad


def test_an_unknown_mag_preset_names_the_presets(flux_dir: Path) -> None:
    with pytest.raises(hooks.CacheError, match=r"presets: .*flux"):
        load(flux_dir, {"cache": {"type": "mag", "mag_ratios": "nonesuch"}}, [])
