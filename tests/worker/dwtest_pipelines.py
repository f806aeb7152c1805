"""Pipelines that misbehave on purpose, for worker tests that a real pipeline cannot show
(a library that prints to stdout, a slow loop, a CUDA error on a CPU machine).

The worker imports this module by name (``component_type: "dwtest_pipelines.X"``) when a
test passes ``allowedModules: ["dwtest_pipelines"]``; conftest puts this folder on the
worker's ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

Callback = Callable[[Any, int, int, dict[str, Any]], dict[str, Any]] | None


class NoisyPipeline:
    """Writes to stdout at the Python level and at the file-descriptor level."""

    def __init__(self, **_: Any) -> None:
        print("stray print from NoisyPipeline.__init__")
        os.write(1, b"stray bytes on fd 1 from NoisyPipeline.__init__\n")

    def __call__(
        self,
        prompt: str = "",
        num_inference_steps: int = 2,
        generator: Any = None,
        callback_on_step_end: Callback = None,
    ) -> str:
        for step in range(num_inference_steps):
            print(f"stray progress {step}", flush=True)
            sys.stdout.write("{not json\n")
            os.write(1, b"\x00\xff raw bytes on fd 1\n")
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, step, {})
        return f"noisy says {prompt}"


class SlowPipeline:
    """Sleeps per step: a run that lasts long enough to act during it."""

    def __init__(self, **_: Any) -> None:
        pass

    def __call__(
        self,
        num_inference_steps: int = 10,
        delay: float = 0.1,
        generator: Any = None,
        callback_on_step_end: Callback = None,
    ) -> str:
        for step in range(num_inference_steps):
            time.sleep(delay)
            if callback_on_step_end is not None:
                callback_on_step_end(self, step, step, {})
        return "slow and done"


class PoisonPipeline:
    """Fails the way a poisoned CUDA context does."""

    def __init__(self, **_: Any) -> None:
        pass

    def __call__(self, generator: Any = None) -> str:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
