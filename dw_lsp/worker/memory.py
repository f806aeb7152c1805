"""Memory figures and the three cleanup levels (DESIGN.md, "What a run does").

- after each step: :func:`step_cleanup` (``gc.collect()``);
- after each run, *after the result was sent*: :meth:`MemoryMonitor.after_run`
  (``gc.collect()``, ``torch.cuda.empty_cache()``, and a warning when allocated memory grew by
  more than the threshold since the previous run);
- full cleanup on ``clearMemory`` and when a pipeline is released:
  :meth:`MemoryMonitor.full_cleanup` (``gc.collect()`` three times, ``empty_cache``,
  ``synchronize``, ``reset_peak_memory_stats``). Dropping the pipelines themselves is the
  cache's job.

Figures on a CUDA device come from the allocator. On a machine without CUDA they describe the
host and are never zeros: ``allocatedMb`` is the size of the tensors held by the cached
pipelines (parameters and buffers, each storage counted once), ``reservedMb`` is the process's
resident set size (what it holds from the operating system), ``freeMb`` and ``totalMb`` are the
host's available and total memory, ``peakAllocatedMb`` is the process's peak resident set.

Collections are cheap because the worker freezes the objects of its imports
(:func:`freeze_imports`): a full ``gc.collect()`` in a process that imported torch, diffusers
and transformers otherwise takes ~0.2 s on a small CPU, which is why dw's warm run was slow.
May import torch and psutil; never the transport, the session or the server.
"""

from __future__ import annotations

import gc
import logging
import resource
from collections.abc import Iterable
from typing import Any

import psutil
import torch

from dw_lsp.protocol import MemoryStatus

log = logging.getLogger("dw_lsp.worker.memory")
MB = 1024 * 1024


def freeze_imports() -> None:
    """Move everything alive now (the imported libraries) out of the collector's sight."""
    gc.collect()
    gc.freeze()


def step_cleanup() -> None:
    gc.collect()


def default_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def tensor_bytes(objects: Iterable[Any]) -> int:
    """Bytes of the parameters and buffers of every ``torch.nn.Module`` reachable as a
    component of the given pipelines (or modules), each storage counted once."""
    seen: set[object] = set()
    total = 0
    for obj in objects:
        for module in _modules_of(obj):
            for tensor in [*module.parameters(), *module.buffers()]:
                key: object
                try:
                    storage = tensor.untyped_storage()
                    pointer, size = storage.data_ptr(), storage.nbytes()
                    key = (tensor.device.type, pointer) if pointer else id(tensor)
                except (RuntimeError, NotImplementedError):
                    key, size = id(tensor), tensor.numel() * tensor.element_size()
                if key in seen:
                    continue
                seen.add(key)
                total += size
    return total


def _modules_of(obj: Any) -> list[torch.nn.Module]:
    """The modules of a pipeline (its ``components``) or of a task model (a module, or an
    object holding modules as attributes: a transformers pipeline, a spandrel descriptor,
    a ControlNet-aux detector)."""
    if isinstance(obj, torch.nn.Module):
        return [obj]
    components = getattr(obj, "components", None)
    if isinstance(components, dict):
        return [c for c in components.values() if isinstance(c, torch.nn.Module)]
    attributes = getattr(obj, "__dict__", None)
    if isinstance(attributes, dict):
        return [c for c in attributes.values() if isinstance(c, torch.nn.Module)]
    return []


class MemoryMonitor:
    """Reads memory figures for one device and runs the cleanup levels."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith("cuda") and torch.cuda.is_available()
        self._process = psutil.Process()
        self._last_allocated_mb: float | None = None

    def allocated_mb(self, cached_bytes: int) -> float:
        if self.cuda:
            return torch.cuda.memory_allocated() / MB
        return cached_bytes / MB

    def free_mb(self) -> float:
        """Free memory where the pipelines live: the GPU's, or the host's available memory."""
        if self.cuda:
            free, _total = torch.cuda.mem_get_info()
            return float(free) / MB
        return float(psutil.virtual_memory().available) / MB

    def status(self, *, runs: int, pipelines: list[str], cached_bytes: int) -> MemoryStatus:
        host = psutil.virtual_memory()
        rss = self._process.memory_info().rss / MB
        if self.cuda:
            free, total = torch.cuda.mem_get_info()
            return MemoryStatus(
                device=self.device,
                cuda=True,
                allocatedMb=round(torch.cuda.memory_allocated() / MB, 2),
                reservedMb=round(torch.cuda.memory_reserved() / MB, 2),
                freeMb=round(free / MB, 2),
                totalMb=round(total / MB, 2),
                runs=runs,
                processRssMb=round(rss, 2),
                hostTotalMb=round(host.total / MB, 2),
                hostAvailableMb=round(host.available / MB, 2),
                peakAllocatedMb=round(torch.cuda.max_memory_allocated() / MB, 2),
                deviceName=torch.cuda.get_device_name(),
                pipelines=pipelines,
            )
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return MemoryStatus(
            device=self.device,
            cuda=False,
            allocatedMb=round(cached_bytes / MB, 3),
            reservedMb=round(rss, 2),
            freeMb=round(host.available / MB, 2),
            totalMb=round(host.total / MB, 2),
            runs=runs,
            processRssMb=round(rss, 2),
            hostTotalMb=round(host.total / MB, 2),
            hostAvailableMb=round(host.available / MB, 2),
            peakAllocatedMb=round(peak_kb / 1024, 2),
            deviceName=f"host ({self.device}, no CUDA)",
            pipelines=pipelines,
        )

    def after_run(self, cached_bytes: int, growth_warning_mb: float) -> str | None:
        """The between-runs cleanup; returns a warning when memory grew past the threshold."""
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
        allocated = self.allocated_mb(cached_bytes)
        previous, self._last_allocated_mb = self._last_allocated_mb, allocated
        if previous is not None and allocated - previous > growth_warning_mb:
            return (
                f"allocated memory grew by {allocated - previous:.0f} MB since the previous "
                f"run (threshold {growth_warning_mb:.0f} MB); 'clear' frees every pipeline"
            )
        return None

    def full_cleanup(self) -> None:
        for _ in range(3):
            gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif self.device == "mps":
            torch.mps.empty_cache()

    def forget_baseline(self) -> None:
        """After a full cleanup the next run's growth is measured from scratch."""
        self._last_allocated_mb = None
