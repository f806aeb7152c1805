"""DW307 and DW308 over a real LSP round trip (pytest-lsp, stdio, the VS Code profile) with
the real worker: a ``pre_load_modules`` entry outside the allowlist is an error (DW307) from
the first check, before any worker exists; a ``quantization_config`` that cannot run on the
worker's device (bitsandbytes 8-bit on this CPU) is warned about on its ``config_type`` key
(DW308) only once the worker, started by ``worker.prewarm``, has reported its device and
backends in the handshake and the server has checked the open document again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dwtest_lsp import open_document, utf16_position, wait_until
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.slow

WORKFLOW = {
    "id": "quant_keys",
    "steps": [
        {
            "name": "draw",
            "pipeline": {
                "configuration": {
                    "component_type": "StableDiffusionPipeline",
                    "pre_load_modules": ["json"],
                },
                "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                "unet": {
                    "configuration": {"component_type": "UNet2DConditionModel"},
                    "from_pretrained_arguments": {
                        "model_name": "builtin:tiny-sd",
                        "subfolder": "unet",
                    },
                    "quantization_config": {
                        "configuration": {"config_type": "BitsAndBytesConfig"},
                        "arguments": {"load_in_8bit": True},
                    },
                },
                "arguments": {"prompt": "a red fox", "num_inference_steps": 2},
            },
            "result": {"content_type": "image/png"},
        }
    ],
}


def at(position: types.Position) -> tuple[int, int]:
    return position.line, position.character


def codes_at(client: LanguageClient, uri: str) -> list[tuple[str, tuple[int, int]]]:
    """The codes and start positions of the latest diagnostics published for ``uri``."""
    found = [p for p in client.published if p.uri == uri][-1:]  # type: ignore[attr-defined]
    return [(str(d.code), at(d.range.start)) for p in found for d in p.diagnostics]


async def test_dw308_appears_once_the_worker_reports_it_cannot_run_the_key(
    prewarmed: LanguageClient, workspace: Path
) -> None:
    path = workspace / "quant.json"
    text = json.dumps(WORKFLOW, indent=2)
    path.write_text(text, encoding="utf-8")
    uri = open_document(prewarmed, path, text)
    module_at = at(utf16_position(text, text.index('"json"')))
    config_at = at(utf16_position(text, text.index('"BitsAndBytesConfig"')))

    await wait_until(lambda: bool(codes_at(prewarmed, uri)), timeout=60)
    first = codes_at(prewarmed, uri)
    assert ("DW307", module_at) in first, first
    assert not any(code == "DW308" for code, _ in first), "no worker has answered yet"

    await wait_until(lambda: any(c == "DW308" for c, _ in codes_at(prewarmed, uri)), 240)
    latest = [p for p in prewarmed.published if p.uri == uri][-1]  # type: ignore[attr-defined]
    by_code = {(str(d.code), at(d.range.start)): d for d in latest.diagnostics}
    warning = by_code[("DW308", config_at)]
    assert warning.severity == types.DiagnosticSeverity.Warning
    assert "bitsandbytes 8-bit quantization in diffusers needs CUDA or XPU" in warning.message
    assert "this worker runs on cpu" in warning.message
    refused = by_code[("DW307", module_at)]
    assert refused.severity == types.DiagnosticSeverity.Error
    assert "importing 'json' is refused" in refused.message
