"""Shared test data for the language-server tests: a workflow with emoji in it, the
knowledge the features use, and helpers that find offsets in a text."""

from __future__ import annotations

from dw_lsp.server.knowledge import Knowledge

SAMPLE = """{
  "id": "demo",
  "variables": {
    "prompt": "a cat 🐱 on a mat",
    "steps": 20
  },
  "steps": [
    {
      "name": "draw",
      "pipeline": {
        "configuration": {"component_type": "StableDiffusionPipeline"},
        "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
        "arguments": {"prompt": "variable:prompt", "num_inference_steps": "variable:steps"}
      },
      "result": {"content_type": "image/png"}
    },
    {
      "name": "again",
      "pipeline_reference": {
        "reference_name": "draw",
        "arguments": {"negative_prompt": "🐶🐶", "prompt": "variable:prompt"}
      }
    },
    {
      "name": "caption",
      "task": {"command": "image_to_text", "arguments": {"image": "previous_result:draw.images"}}
    }
  ]
}
"""


def cursor(text: str, marker: str = "|") -> tuple[str, int]:
    """``text`` without its one ``marker``, and the marker's offset."""
    offset = text.index(marker)
    return text[:offset] + text[offset + len(marker) :], offset


def nth(text: str, needle: str, n: int = 0, shift: int = 0) -> int:
    """Offset of the ``n``-th occurrence of ``needle`` (plus ``shift``)."""
    start = -1
    for _ in range(n + 1):
        start = text.index(needle, start + 1)
    return start + shift


def knowledge() -> Knowledge:
    """The real schema, catalog, tasks and built-ins."""
    return Knowledge.default()
