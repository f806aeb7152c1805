"""A local Ray for the pool's tests: started once per module by the test itself, bound to
127.0.0.1 only (Ray's single-machine switch, set before Ray is imported), no dashboard, a
small object store and two CPUs, with the tiny models materialised into a folder of the
module's own. Workflows: ``a.json`` (the tiny Stable Diffusion) and ``b.json`` (the tiny
DDPM, another model, hence other load keys)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only; read when Ray loads
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"

DDPM = {
    "id": "tiny-ddpm",
    "variables": {"steps": 2},
    "seed": 3,
    "steps": [
        {
            "name": "noise",
            "pipeline": {
                "configuration": {"component_type": "DDPMPipeline"},
                "from_pretrained_arguments": {"model_name": "builtin:tiny-ddpm"},
                "arguments": {"num_inference_steps": "variable:steps"},
            },
            "result": {"content_type": "image/png"},
        }
    ],
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pool")
    shutil.copy(TINY, root / "a.json")
    (root / "b.json").write_text(json.dumps(DDPM, indent=2), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Ray on this machine for one module; the actors inherit this environment."""
    os.environ["DW_LSP_CACHE_DIR"] = str(tmp_path_factory.mktemp("models"))
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024 * 1024,
        namespace="dw-lsp-tests",
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        address = ray.get_runtime_context().gcs_address
        assert address.startswith("127.0.0.1:"), f"Ray left the loopback interface: {address}"
        yield ray
    finally:
        ray.shutdown()
