"""GPU check: smoke-run one workflow per pipeline family on CUDA with stand-in models.

    make gpu-check          (or: .venv/bin/python bench/gpu_check.py [--family flux ...])

Verifies the CUDA paths a CPU never takes - placement on the device, model offload, group
offload, the allocator figures, ``empty_cache`` - without downloading a model: each family
runs a one-step workflow on its stand-in (the real pipeline class and loading code, tiny
random weights), through the worker's runtime in this process. After each run it prints the
device memory after each of the three cleanup levels (DESIGN.md "What a run does"): the
step level (``gc.collect``), the run level (``Runtime.after_run``: collect, ``empty_cache``,
growth check) and the full level (``Runtime.clear_memory``: every pipeline dropped,
``synchronize``, peak reset). The Flux workflow runs three times: placed on the device, with
``offload: model``, and with ``group_offload`` (block level). Exits 1 when a run fails or
memory is left allocated after a full cleanup; on a machine without CUDA it says so and
exits 0 (``--device cpu`` runs the same check on the CPU, where the offload runs are skipped
with a note: a way to try this script without a GPU). Outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PROMPT = "a lighthouse on a cliff at dawn"
IMAGE = "https://example.invalid/input.png"  # a placeholder in a stand-in run
#: MiB still allocated after a full cleanup that counts as a leak.
LEAK_MB = 1.0

#: family -> (pipeline class, call arguments, result content type or None).
FAMILIES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "sd15": ("StableDiffusionPipeline", {"prompt": PROMPT}, "image/png"),
    "sdxl": ("StableDiffusionXLPipeline", {"prompt": PROMPT}, "image/png"),
    "sd3": ("StableDiffusion3Pipeline", {"prompt": PROMPT}, "image/png"),
    "flux": ("FluxPipeline", {"prompt": PROMPT}, "image/png"),
    "flux2": ("Flux2KleinPipeline", {"prompt": PROMPT}, "image/png"),
    "z-image": ("ZImagePipeline", {"prompt": PROMPT}, "image/png"),
    "qwen-image": ("QwenImagePipeline", {"prompt": PROMPT}, "image/png"),
    "krea2": ("Krea2Pipeline", {"prompt": PROMPT}, "image/png"),
    "kandinsky3": ("Kandinsky3Pipeline", {"prompt": PROMPT}, "image/png"),
    "wan": ("WanPipeline", {"prompt": PROMPT}, "video/mp4"),
    "ltx2": ("LTX2Pipeline", {"prompt": PROMPT}, "video/mp4"),
    "cogvideox": ("CogVideoXPipeline", {"prompt": PROMPT}, "video/mp4"),
    "hunyuan-video": ("HunyuanVideoPipeline", {"prompt": PROMPT}, "video/mp4"),
    "mochi": ("MochiPipeline", {"prompt": PROMPT}, "video/mp4"),
    "stable-video-diffusion": ("StableVideoDiffusionPipeline", {"image": IMAGE}, "video/mp4"),
    "stable-audio": ("StableAudioPipeline", {"prompt": PROMPT}, "audio/wav"),
    "marigold": ("MarigoldDepthPipeline", {"image": IMAGE}, None),
}
#: Extra Flux runs: the placements only an accelerator takes.
PLACEMENTS: dict[str, dict[str, Any]] = {
    "flux+offload": {"offload": "model"},
    "flux+group_offload": {
        "group_offload": {"offload_type": "block_level", "num_blocks_per_group": 1}
    },
}


def workflow(
    folder: Path,
    name: str,
    pipeline: str,
    arguments: dict[str, Any],
    content: str | None,
    configuration: dict[str, Any],
) -> Path:
    step: dict[str, Any] = {
        "name": "generate",
        "pipeline": {
            "configuration": {"component_type": pipeline, **configuration},
            "from_pretrained_arguments": {
                "model_name": f"gpu-check/{pipeline}",
                "torch_dtype": "torch.bfloat16",
            },
            "arguments": {**arguments, "num_inference_steps": 2},
        },
    }
    if content is not None:
        step["result"] = {"content_type": content}
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"id": name, "seed": 1, "steps": [step]}, indent=2))
    return path


def memory_line(level: str, runtime: Any) -> tuple[str, float]:
    """The runtime's memory figures (the allocator's on CUDA) after one cleanup level."""
    status = runtime.memory_status()
    return (
        f"    after {level:<4} cleanup: allocated {status.allocatedMb:9.1f} MiB, reserved "
        f"{status.reservedMb:9.1f} MiB, free {status.freeMb:9.0f} / {status.totalMb:.0f} MiB",
        status.allocatedMb,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu to try it")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu-check: no CUDA device on this machine (torch sees none); nothing to check.")
        return 0
    from dw_lsp.protocol import ExecuteParams
    from dw_lsp.worker import memory
    from dw_lsp.worker.runtime import Runtime

    runtime = Runtime(args.device)
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else args.device
    print(f"gpu-check on {where} (torch {torch.__version__})")
    chosen = args.family or [*FAMILIES, *PLACEMENTS]
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dw-gpu-check-") as scratch:
        folder = Path(scratch)
        for name in chosen:
            family = name.split("+", 1)[0]
            if family not in FAMILIES:
                print(f"{name}: unknown family (known: {', '.join(FAMILIES)})")
                failures.append(name)
                continue
            pipeline, arguments, content = FAMILIES[family]
            path = workflow(folder, name, pipeline, arguments, content, PLACEMENTS.get(name, {}))
            params = ExecuteParams(
                workflowPath=str(path), outputDir=str(folder / "out"), runId=name, standIns="all"
            )
            result = runtime.execute(params, lambda _progress: None)
            timings = result.timings
            print(
                f"{name:<24} {result.status:<5} load {timings.load:6.2f} s, inference "
                f"{timings.inference:6.2f} s, outputs {len(result.outputs)}"
            )
            for warning in result.warnings:
                print(f"    note: {warning}")
            if result.status != "ok":
                print(f"    error: {(result.error or '').splitlines()[0]}")
                failures.append(name)
            memory.step_cleanup()
            print(memory_line("step", runtime)[0])
            runtime.after_run()
            print(memory_line("run", runtime)[0])
            runtime.clear_memory()
            line, left = memory_line("full", runtime)
            print(line)
            if left > LEAK_MB:
                print(f"    leak: {left:.1f} MiB still allocated after a full cleanup")
                failures.append(f"{name} (leak)")
    print(f"gpu-check: {len(chosen) - len(failures)} of {len(chosen)} passed")
    for failure in failures:
        print(f"    failed: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
