"""Warm run through the worker vs the same pipeline call made directly.

dw's warm REPL run of a workflow took 4.6x the direct pipeline call (0.50 s vs 0.11 s),
mostly two full ``gc.collect()`` passes before the reply. This bench starts the real worker
(``python -m dw_lsp.worker``) over its JSON-RPC stdin/stdout, warms it with one run of the
embedded tiny Stable Diffusion workflow, then alternates warm runs through the worker with
the same call made directly in this process (same model directory, arguments, seed, and the
PNG written too), and prints the medians and their ratio (close to 1 is the goal).

    .venv/bin/python bench/bench_warm_run.py [--runs 15] [--steps 8]

Needs the worker extra (torch, diffusers); runs offline on a CPU in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SEED = 42
PROMPT = "a lighthouse on a cliff at dawn"


class Worker:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dw_lsp.worker"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._next = 0

    def call(self, method: str, params: dict[str, Any]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._next += 1
        request = {"jsonrpc": "2.0", "id": self._next, "method": method, "params": params}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            message = json.loads(line)
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]
        raise EOFError("the worker exited")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=8)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dw-bench-"))
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        DW_LSP_CACHE_DIR=os.environ.get("DW_LSP_CACHE_DIR", str(work / "models")),
    )
    os.environ.update(env)
    workflow = REPO / "workflows" / "tiny-sd.json"
    arguments = {"prompt": PROMPT, "steps": options.steps}

    worker = Worker(env)
    worker.call("initialize", {"protocolVersion": "1.0"})
    params = {
        "workflowPath": str(workflow),
        "outputDir": str(work / "worker-out"),
        "arguments": arguments,
        "runId": "bench",
    }
    first = worker.call("execute", params)
    assert first["status"] == "ok", first

    import torch
    from diffusers import StableDiffusionPipeline

    from dw_lsp.worker.loading import tiny

    document = json.loads(workflow.read_text())
    call_arguments = dict(document["steps"][0]["pipeline"]["arguments"])
    call_arguments.update(
        prompt=PROMPT,
        num_inference_steps=options.steps,
        guidance_scale=document["variables"]["guidance"],
    )
    pipe = StableDiffusionPipeline.from_pretrained(
        tiny.materialize("tiny-sd"), torch_dtype=torch.float32
    )
    pipe.set_progress_bar_config(disable=True)

    def direct() -> float:
        started = time.perf_counter()
        generator = torch.Generator("cpu").manual_seed(SEED)
        image = pipe(**call_arguments, generator=generator).images[0]
        image.save(work / "direct.png")
        return time.perf_counter() - started

    def through_worker() -> float:
        started = time.perf_counter()
        result = worker.call("execute", params)
        elapsed = time.perf_counter() - started
        assert result["status"] == "ok" and result["cache"]["loaded"] == [], result
        return elapsed

    direct()  # warm this process too
    direct_times: list[float] = []
    worker_times: list[float] = []
    for _ in range(options.runs):
        worker_times.append(through_worker())
        direct_times.append(direct())
    worker.close()

    same = (work / "direct.png").read_bytes() == Path(first["outputs"][0]).read_bytes()
    direct_median = statistics.median(direct_times)
    worker_median = statistics.median(worker_times)
    print(
        f"tiny-sd, {options.steps} denoising steps, {options.runs} warm runs each, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"direct pipeline call + PNG : median {direct_median * 1000:7.1f} ms "
        f"(min {min(direct_times) * 1000:.1f})"
    )
    print(
        f"warm run through the worker: median {worker_median * 1000:7.1f} ms "
        f"(min {min(worker_times) * 1000:.1f})"
    )
    print(f"ratio worker/direct: {worker_median / direct_median:.2f}x (dw: 4.6x)")
    print(f"same image bytes from both: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
