"""Benchmark: how long the schema check (and the full check) takes on large workflows.

Builds two deterministic workflows in-process (about 223 KB and 1.1 MB: many steps with
long argument maps), then times, in this one process: ``json.loads``; jsonschema_rs
validation; Python jsonschema validation; our ``check_schema(parse(text))``; the same on a
copy with three schema errors near the end; and the full check
(``dw_lsp.validation.check.check_text``) when it is importable. Each figure is the median
of several runs, in ms, with ratios against ``json.loads`` and against Python jsonschema.

The target: at least twice as fast as Microsoft's JSON language server on the same files
(15 ms for 223 KB and 64 ms for 1.1 MB on the reference machine), so under 7.5 and 32 ms.

Run: ``.venv/bin/python bench/bench_check.py``
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import jsonschema
import jsonschema_rs

from dw_lsp.validation.schema import check_schema, load_schema
from dw_lsp.workflow.document import parse

#: (label, target size in bytes, target time of the full check in ms)
SIZES = (("223 KB", 223_000, 7.5), ("1.1 MB", 1_100_000, 32.0))

PROMPT = (
    "a photorealistic cinematic wide shot of a bio-mechanical daffodil inside a glass dome "
    "on the ocean floor with glowing jellyfish caustic light and ancient coral 🌼🪼"
)
WORDS = tuple(PROMPT.split(" "))


def _prompt(i: int, n: int) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(n))


def _pipeline_step(i: int) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "prompt": _prompt(i, 60),
        "negative_prompt": _prompt(i + 3, 30),
        "num_inference_steps": 20 + i % 30,
        "guidance_scale": 3.5 + (i % 7) / 2,
        "width": 768,
        "height": 768,
        "max_sequence_length": 512,
    }
    # Bulk of a real large workflow: long prompts and tuned schedules, all real arguments of
    # FluxPipeline.__call__, so a correct checker finds nothing to report.
    arguments["prompt_2"] = _prompt(i + 5, 60)
    arguments["sigmas"] = [round(1 - k / 120, 4) for k in range(120)]
    arguments["joint_attention_kwargs"] = {
        f"block_{k}": {"scale": k / 10, "note": f"value {k} of step {i}"} for k in range(12)
    }
    return {
        "name": f"generate_{i}",
        "pipeline": {
            "configuration": {
                "component_type": "FluxPipeline",
                "offload": "model",
                "components": {"vae": {"device": "cuda", "enable_tiling": True}},
            },
            "from_pretrained_arguments": {
                "model_name": "black-forest-labs/FLUX.1-dev",
                "torch_dtype": "torch.bfloat16",
            },
            "transformer": {
                "configuration": {"component_type": "FluxTransformer2DModel"},
                "from_pretrained_arguments": {
                    "model_name": "black-forest-labs/FLUX.1-dev",
                    "subfolder": "transformer",
                },
                "quantization_config": {
                    "configuration": {"config_type": "BitsAndBytesConfig"},
                    "arguments": {"load_in_4bit": True, "bnb_4bit_quant_type": "{nf4}"},
                },
            },
            "loras": [{"model_name": "some/lora", "weight_name": "w.safetensors", "scale": 0.8}],
            "arguments": arguments,
        },
        "result": {"content_type": "image/png", "file_base_name": f"img{i}"},
    }


def _task_step(i: int) -> dict[str, Any]:
    return {
        "name": f"caption_{i}",
        "task": {
            "command": "image_to_text",
            "arguments": {"image": f"previous_result:generate_{i - 1}", "prompt": _prompt(i, 20)},
        },
        "result": {"content_type": "text/plain"},
    }


def build_workflow(target_bytes: int) -> str:
    """A valid workflow text of at least ``target_bytes`` (deterministic)."""
    steps: list[dict[str, Any]] = []
    doc: dict[str, Any] = {
        "id": "bench",
        "description": "Generated for the benchmark.",
        "variables": {"input_image": "input.png", "prompt": _prompt(0, 40)},
        "steps": steps,
    }
    estimate = 0
    i = 1  # step 0 is a pipeline step, so every caption task has an earlier image
    while True:
        step = _pipeline_step(i) if i % 3 != 0 else _task_step(i)
        steps.append(step)
        i += 1
        # Running estimate: the step alone, plus the 4 spaces of indentation each of its
        # lines gets inside "steps"; the exact size is taken near the end.
        alone = json.dumps(step, indent=2, ensure_ascii=False)
        estimate += len(alone.encode("utf-8")) + 4 * (alone.count("\n") + 1) + 2
        if estimate >= 0.97 * target_bytes:
            text = json.dumps(doc, indent=2, ensure_ascii=False)
            if len(text.encode("utf-8")) >= target_bytes:
                return text


def with_errors(text: str) -> str:
    """The same workflow with three schema errors in its last steps."""
    doc = json.loads(text)
    last = doc["steps"][-1]
    pipe = last.get("pipeline") or doc["steps"][-2]["pipeline"]
    pipe["configuration"]["ofload"] = "model"
    pipe["from_pretrained_arguments"]["from_single_file"] = "x.gguf"
    doc["steps"][-1]["result"] = {"fps": "variable:fps", "content_type": "video/mp4"}
    return json.dumps(doc, indent=2, ensure_ascii=False)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up (caches, compiled validators)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def full_check() -> Callable[[str], object] | str:
    """The full validator (syntax, schema, semantics, catalog), or why it is unavailable."""
    for module_name, attr in (("dw_lsp.validation.check", "check_text"),):
        try:
            fn: Callable[[str], object] = getattr(importlib.import_module(module_name), attr)
            fn('{"id": "w", "steps": [{"name": "a", "workflow": {}}]}')
        except Exception as exc:  # a module another helper has not finished yet
            return f"{module_name}.{attr}: {type(exc).__name__}: {exc}"
        return fn
    return "no full validator found"


def report(label: str, target: int, goal: float, full: Callable[[str], object] | str) -> None:
    """Build one workflow, time every stage and print the table."""
    schema = load_schema()
    rs = jsonschema_rs.validator_for(schema)
    py = jsonschema.Draft202012Validator(schema)
    text = build_workflow(target)
    broken = with_errors(text)
    value = json.loads(text)
    assert rs.is_valid(value) and not check_schema(parse(text))
    if callable(full):
        found = full(text)[1]  # type: ignore[index]
        assert not found, f"the benchmark workflow should be clean: {found[:3]}"
    assert len(check_schema(parse(broken))) == 3
    repeat = 15 if target < 500_000 else 7
    rows: list[tuple[str, float]] = [
        ("json.loads", median_ms(lambda: json.loads(text), repeat)),
        ("jsonschema_rs validation", median_ms(lambda: rs.is_valid(value), repeat)),
        ("Python jsonschema validation", median_ms(lambda: py.is_valid(value), 3)),
        ("check_schema(parse(text))", median_ms(lambda: check_schema(parse(text)), repeat)),
        ("  same, 3 schema errors", median_ms(lambda: check_schema(parse(broken)), repeat)),
    ]
    if callable(full):
        rows.append(("full check (check_text)", median_ms(lambda: full(text), repeat)))
    size = len(text.encode("utf-8"))
    print(
        f"\n{label}: {size / 1000:.0f} KB, {len(value['steps'])} steps; target for the full "
        f"check: < {goal:g} ms (Microsoft's JSON server: {goal * 2:g} ms)"
    )
    base, py_ms = rows[0][1], rows[2][1]
    print(f"  {'':32} {'ms':>9} {'x json.loads':>13} {'x jsonschema':>13}")
    for name, ms in rows:
        mark = ""
        if name.startswith(("check_schema", "full")):
            mark = "  meets target" if ms < goal else "  OVER target"
        print(f"  {name:32} {ms:9.2f} {ms / base:13.2f} {ms / py_ms:13.4f}{mark}")


def main() -> None:
    full = full_check()
    for label, target, goal in SIZES:
        report(label, target, goal, full)
    if not callable(full):
        print(f"\nfull check not timed ({full})")


if __name__ == "__main__":
    main()
