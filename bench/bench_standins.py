"""Stand-in models: the first build of each family's pipeline against loading it afterwards.

For every family of the stand-in registry, in a fresh cache folder: the first
``store.pipeline_dir`` (build the parts from their configs with seeded random weights and
``save_pretrained`` them), then the cached lookup (a ``stat`` of the marker), then the
ordinary ``from_pretrained`` of the saved folder - the baseline every later run pays. Prints
the seconds, the size of the weights and the ratio first build / load. The goal is a first
build under 3 s for every family.

    .venv/bin/python bench/bench_standins.py [--threads 1]

Needs the worker extra (torch, diffusers); offline; about a minute on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (runs use 1)")
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="dw-bench-stand-ins-") as cache:
        os.environ["DW_LSP_CACHE_DIR"] = cache
        import diffusers
        import torch

        from dw_lsp.worker.standins import store
        from dw_lsp.worker.standins.registry import FAMILIES

        torch.set_num_threads(args.threads)
        diffusers.utils.logging.disable_progress_bar()
        diffusers.utils.logging.set_verbosity_error()
        print(
            f"{'family':<24}{'pipeline':<30}{'build s':>8}{'cached s':>10}{'load s':>8}"
            f"{'weights':>10}{'build/load':>11}"
        )
        worst = 0.0
        for family in FAMILIES:
            name = family.example
            cls = getattr(diffusers, name)
            started = time.perf_counter()
            folder = store.pipeline_dir(cls)
            built = time.perf_counter() - started
            started = time.perf_counter()
            store.pipeline_dir(cls)
            cached = time.perf_counter() - started
            started = time.perf_counter()
            cls.from_pretrained(folder)
            loaded = time.perf_counter() - started
            size = sum(p.stat().st_size for p in folder.rglob("*.safetensors"))
            worst = max(worst, built)
            print(
                f"{family.name:<24}{name:<30}{built:8.2f}{cached:10.4f}{loaded:8.2f}"
                f"{size / 1e6:8.2f} MB{built / loaded:11.2f}"
            )
        print(f"slowest first build: {worst:.2f} s (goal: under 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
