"""A tiny Flux pipeline for the worker tests of modular pipelines, cache hooks and TeaCache:
the stand-in registry's Flux family (small configs, random weights, seeded), saved with
``save_pretrained`` into a folder; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Call arguments that fit the tiny model (32x32 images, short prompts).
CALL = {"height": 32, "width": 32, "max_sequence_length": 16, "guidance_scale": 3.5}


def build_tiny_flux() -> Any:
    from diffusers import FluxPipeline

    from dw_lsp.worker.standins import build

    family, parts = build.pipeline_parts(FluxPipeline)
    with build.seeded():
        return build.build_pipeline(FluxPipeline, parts, family)


def save_tiny_flux(folder: Path) -> Path:
    """Build the tiny Flux pipeline and save it into ``folder`` (returned)."""
    build_tiny_flux().save_pretrained(folder)
    return folder
