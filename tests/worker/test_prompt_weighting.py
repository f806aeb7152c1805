"""``configuration.prompt_weighting`` (FORMAT.md 1.4.1): the A1111 parser, weighted embeddings
on the tiny SD and a tiny Flux (equal to the pipelines' own encoders when nothing is
weighted), and a weighted run through the real worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from dwtest_worker import WorkerProcess, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker import prompt_weighting as pw
from dw_lsp.worker.loading import tiny

pytestmark = pytest.mark.slow


def test_the_a1111_syntax() -> None:
    assert pw.parse("a red fox") == [("a red fox", 1.0)]
    assert pw.parse("a (red:1.5) fox") == [("a ", 1.0), ("red", 1.5), (" fox", 1.0)]
    assert pw.parse("((red)) [fox]") == [
        ("red", pytest.approx(1.21)),
        (" ", 1.0),
        ("fox", pytest.approx(1 / 1.1)),
    ]
    assert pw.parse(r"\(red\) fox") == [("(red) fox", 1.0)]
    assert pw.parse("(unclosed red") == [("unclosed red", pytest.approx(1.1))]
    assert pw.parse("a BREAK b") == [("a b", 1.0)]
    assert pw.parse("") == [("", 1.0)]
    assert pw.parse("((a:2) b)") == [("a", pytest.approx(2.2)), (" b", pytest.approx(1.1))]


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from diffusers import StableDiffusionPipeline

    folder = tiny.materialize("tiny-sd", tmp_path_factory.mktemp("models"))
    return StableDiffusionPipeline.from_pretrained(folder)


def test_sd_embeddings_match_the_pipeline_and_weights_change_them(sd: Any) -> None:
    own, own_negative = sd.encode_prompt("a red fox", "cpu", 1, True, "blurry")
    plain = pw.apply(sd, {"prompt": "a red fox", "negative_prompt": "blurry"})
    assert "prompt" not in plain and "negative_prompt" not in plain
    assert torch.allclose(plain["prompt_embeds"], own, atol=1e-5)
    assert torch.allclose(plain["negative_prompt_embeds"], own_negative, atol=1e-5)
    weighted = pw.apply(sd, {"prompt": "a (red:1.8) fox"})["prompt_embeds"]
    assert weighted.shape == own.shape and not torch.allclose(weighted, own, atol=1e-3)


def test_flux_embeddings_match_the_pipeline_and_weights_change_them() -> None:
    from dwtest_flux import build_tiny_flux

    pipe = build_tiny_flux()
    own, own_pooled, _ids = pipe.encode_prompt("a red fox", None, max_sequence_length=16)
    plain = pw.apply(pipe, {"prompt": "a red fox", "max_sequence_length": 16})
    assert torch.allclose(plain["prompt_embeds"], own, atol=1e-5)
    assert torch.allclose(plain["pooled_prompt_embeds"], own_pooled, atol=1e-5)
    weighted = pw.apply(pipe, {"prompt": "a (red:1.8) fox", "max_sequence_length": 16})
    assert not torch.allclose(weighted["prompt_embeds"], own, atol=1e-3)
    image = pipe(**weighted, height=16, width=16, num_inference_steps=1, output_type="np").images
    assert image.shape == (1, 16, 16, 3)
    with pytest.raises(pw.PromptWeightingError, match="must be one string"):
        pw.apply(pipe, {"prompt": ["a", "b"]})


def pixels(result: dict[str, Any]) -> np.ndarray:
    assert result["status"] == "ok", result.get("traceback") or result
    with Image.open(result["outputs"][0]) as image:
        return np.asarray(image.convert("RGB")).copy()


def test_a_weighted_run_through_the_worker(worker: WorkerProcess, tmp_path: Path) -> None:
    def run(prompt: str, weighting: bool, out: str) -> dict[str, Any]:
        step = tiny_sd_step("sd", prompt=prompt, steps=2)
        step["pipeline"]["configuration"]["prompt_weighting"] = weighting
        return worker.execute(write_workflow(tmp_path / "w.json", [step], seed=1), tmp_path / out)

    plain = pixels(run("a red fox", False, "a"))
    same = run("a red fox", True, "b")
    assert same["cache"]["loaded"] == []  # prompt_weighting is a call-time setting
    weighted = pixels(run("a (red:1.8) fox", True, "c"))
    assert np.array_equal(pixels(same), plain)
    assert not np.array_equal(weighted, plain)
    bad = worker.execute(write_workflow(tmp_path / "w.json", [tiny_sd_step_ddpm()]), tmp_path / "d")
    assert bad["status"] == "error" and "DDPMPipeline is not supported" in bad["error"]


def tiny_sd_step_ddpm() -> dict[str, Any]:
    from dwtest_worker import tiny_ddpm_step

    step = tiny_ddpm_step("noise", steps=1)
    step["pipeline"]["configuration"]["prompt_weighting"] = True
    step["pipeline"]["arguments"]["prompt"] = "x"
    return step
