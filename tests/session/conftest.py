"""Fixtures for the Session and WorkerClient tests: a workspace with a small workflow, and
command lines for the fake worker (``fake_worker.py``) in each of its modes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")

WORKFLOW = {
    "id": "fake_test",
    "variables": {"prompt": "a red bicycle", "steps": 2},
    "steps": [
        {
            "name": "draw",
            "pipeline": {
                "configuration": {"component_type": "StableDiffusionPipeline"},
                "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                "arguments": {
                    "prompt": "variable:prompt",
                    "num_inference_steps": "variable:steps",
                    "guidance_scale": 1.0,
                },
            },
            "result": {"content_type": "image/png", "file_base_name": "fake"},
        }
    ],
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "draw.json").write_text(json.dumps(WORKFLOW, indent=2), encoding="utf-8")
    return root


@pytest.fixture
def fake_command() -> Callable[..., list[str]]:
    def command(mode: str = "ok", **options: object) -> list[str]:
        cmd = [sys.executable, str(FAKE_WORKER), "--mode", mode]
        for key, value in options.items():
            cmd += [f"--{key}", str(value)]
        return cmd

    return command
