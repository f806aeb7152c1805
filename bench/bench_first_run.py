"""The first run after a prewarmed open vs a warm run, through the language server.

Issue 11 measured the first ``dw.run`` after opening a workflow with ``worker.prewarm`` on at
5.8x a warm run (2.66 s vs 0.46 s): the prewarm started the worker and imported torch, but
diffusers and transformers import a pipeline's classes lazily, on the first run. Now the
prewarm also sends the opened file's dry run to the worker, which resolves those classes.

Each round starts ``python -m dw_lsp`` over stdio in a fresh workspace holding the embedded
tiny Stable Diffusion workflow, opens it (``didOpen``: the prewarm starts), polls
``dw.status`` until ``worker.prewarming`` is false, then times ``dw.run`` from the request to
its answer (the image is on disk by then; the bench checks) once (the first run) and
``--warm`` more times (warm runs: the pipeline is cached). A second server per round, with
``worker.prewarm`` off, times a cold first run (worker start included) for scale. Prints the
medians over the rounds and the ratio first / warm (target <= 1.5x).

    .venv/bin/python bench/bench_first_run.py [--rounds 3] [--warm 5]

Needs the worker extra (torch, diffusers); offline, a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsp_client import LspClient

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "workflows" / "tiny-sd.json"
PREWARM_WAIT_S = 300.0


async def command(client: LspClient, name: str, argument: dict[str, Any]) -> Any:
    params = {"command": name, "arguments": [argument]}
    return await client.request("workspace/executeCommand", params, timeout=600)


async def timed_run(client: LspClient, uri: str) -> float:
    started = time.perf_counter()
    result = await command(client, "dw.run", {"uri": uri})
    seconds = time.perf_counter() - started
    if result.get("status") != "ok":
        raise SystemExit(f"dw.run failed: {result.get('error')}")
    if not all(Path(p).is_file() for p in result["outputs"]) or not result["outputs"]:
        raise SystemExit(f"dw.run reported outputs that are not on disk: {result['outputs']}")
    return seconds


async def session(folder: Path, prewarm: bool, warm: int) -> tuple[float, list[float], float]:
    """(first run s, warm runs s, seconds the prewarm took) in a fresh server."""
    folder.mkdir(parents=True)
    path = folder / WORKFLOW.name
    shutil.copy(WORKFLOW, path)
    uri = path.as_uri()
    client = LspClient(
        "ours",
        [sys.executable, "-m", "dw_lsp"],
        cwd=REPO,
        stderr_path=folder / "server.log",
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    await client.start()
    try:
        options = {"worker": {"prewarm": prewarm}, "outputDir": str(folder / "out")}
        await client.initialize(
            {
                "processId": os.getpid(),
                "rootUri": folder.as_uri(),
                "workspaceFolders": [{"uri": folder.as_uri(), "name": "bench"}],
                "capabilities": {},
                "initializationOptions": options,
            }
        )
        item = {"uri": uri, "languageId": "json", "version": 1, "text": path.read_text()}
        opened = time.perf_counter()
        await client.notify("textDocument/didOpen", {"textDocument": item})
        prewarm_s = 0.0
        if prewarm:
            await asyncio.sleep(0.2)
            while True:
                status = await command(client, "dw.status", {})
                if status["worker"]["state"] == "ready" and not status["worker"]["prewarming"]:
                    break
                if time.perf_counter() - opened > PREWARM_WAIT_S:
                    raise SystemExit(f"the prewarm did not end in {PREWARM_WAIT_S:g} s")
                await asyncio.sleep(0.05)
            prewarm_s = time.perf_counter() - opened
            await asyncio.sleep(1.0)  # let the worker's post-prepare work settle
        first = await timed_run(client, uri)
        warm_runs = [await timed_run(client, uri) for _ in range(warm)]
        return first, warm_runs, prewarm_s
    finally:
        await client.close()


async def main(rounds: int, warm: int) -> None:
    firsts: list[float] = []
    warms: list[float] = []
    colds: list[float] = []
    prewarms: list[float] = []
    with tempfile.TemporaryDirectory(prefix="dw-first-run-") as tmp:
        for index in range(rounds):
            first, warm_runs, prewarm_s = await session(Path(tmp, f"p{index}"), True, warm)
            cold, _, _ = await session(Path(tmp, f"c{index}"), False, 0)
            firsts.append(first)
            warms.extend(warm_runs)
            colds.append(cold)
            prewarms.append(prewarm_s)
            print(
                f"round {index + 1}/{rounds}: prewarm {prewarm_s:.2f} s, first run {first:.3f} s,"
                f" warm runs {', '.join(f'{w:.3f}' for w in warm_runs)} s;"
                f" cold first run (no prewarm) {cold:.3f} s",
                flush=True,
            )
    first_m, warm_m = statistics.median(firsts), statistics.median(warms)
    print(f"\ntiny-sd through dw.run over stdio, medians of {rounds} rounds")
    print(
        f"  prewarm (open -> worker ready, classes resolved): {statistics.median(prewarms):.2f} s"
    )
    print(f"  first run after the prewarm: {first_m:.3f} s")
    print(f"  warm run:                    {warm_m:.3f} s")
    print(f"  cold first run, no prewarm:  {statistics.median(colds):.3f} s")
    print(f"first run after prewarm / warm run: {first_m / warm_m:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.warm))
