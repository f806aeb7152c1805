"""The worker's runtime: executes runs, owns the warm cache and the memory policy.

Transport-agnostic (DESIGN.md "Processes"): the JSON-RPC adapter calls :meth:`execute`,
:meth:`after_run`, :meth:`cancel`, :meth:`memory_status` and :meth:`clear_memory`, and the
same object could be hosted elsewhere unchanged. :meth:`execute` never raises: every failure
becomes an ``error`` result with its traceback, and the models stay loaded.

Reuse: the run's file digest (SHA-256 of the saved bytes of the workflow and of every
sub-workflow it read) tells whether the file changed since its last run (``fileChanged``).
Whether a pipeline is reused is decided per step by its load key, computed on every run
(cheap: a hash of a small JSON subtree and a ``stat`` of local model files): an unchanged
file with unchanged arguments gives the same keys, so every pipeline is reused, while a
changed ``model_name``, dtype or LoRA (also one set through a variable, which dw misses)
reloads exactly that pipeline. After ``clearMemory`` the next run simply loads again (dw's
``'NoneType' object has no attribute 'name'`` bug cannot happen: no state outlives the cache).

Imports torch, diffusers and transformers (at construction); never the transport, the
session or the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers

from dw_lsp.capabilities import Capabilities
from dw_lsp.output_files import output_dir_problems
from dw_lsp.protocol import (
    CANCELLED,
    ERROR,
    OK,
    STAND_INS_OFF,
    ExecuteParams,
    ExecuteResult,
    MemoryStatus,
    Progress,
    Timings,
)
from dw_lsp.worker import dryrun
from dw_lsp.worker.executor import Executor
from dw_lsp.worker.loading import quantize
from dw_lsp.worker.loading.cache import CachedPipeline, PipelineCache
from dw_lsp.worker.memory import MemoryMonitor, default_device, freeze_imports, tensor_bytes
from dw_lsp.worker.progress import CancelToken, Position, Reporter, RunCancelled
from dw_lsp.worker.run_state import PreflightError, RunState
from dw_lsp.worker.standins.run import StandIns, one_thread, output_dir
from dw_lsp.worker.steps import TASK_KEY_PREFIX
from dw_lsp.worker.values import TypeResolver

log = logging.getLogger("dw_lsp.worker.runtime")

#: Messages of CUDA errors after which the context cannot be used again.
POISONING_ERRORS = ("illegal memory access", "CUDA error: an illegal", "device-side assert")


def is_poisoning(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if any(marker in str(seen) for marker in POISONING_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _quiet_libraries() -> None:
    """Progress bars of loading go nowhere useful: our own progress replaces them."""
    libraries: list[Any] = [diffusers.utils.logging, transformers.utils.logging]
    for logging_module in libraries:  # untyped functions, reached through Any
        logging_module.disable_progress_bar()


class Runtime:
    """Runs workflows with a warm pipeline cache; see the module docstring."""

    def __init__(self, device: str | None = None) -> None:
        _quiet_libraries()
        self.device = device or default_device()
        self.memory = MemoryMonitor(self.device)
        self.cache = PipelineCache()
        self.token = CancelToken()
        self.poisoned = False
        self.total_runs = 0
        self._runs: dict[Path, int] = {}
        self._digests: dict[Path, str] = {}
        self._active = threading.Event()
        self._run_id = ""
        self._growth_warning_mb = 500.0
        self._headroom_mb = 1024.0
        freeze_imports()

    def capabilities(self) -> Capabilities:
        """The device and the installed quantization backends (the handshake reports them)."""
        return Capabilities(device=self.device, backends=quantize.installed_backends())

    @staticmethod
    def versions() -> dict[str, str]:
        return {
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
        }

    # -- runs -----------------------------------------------------------------------------

    def execute(
        self, params: ExecuteParams, on_progress: Callable[[Progress], None]
    ) -> ExecuteResult:
        """Run a saved workflow file; every outcome, failures included, is a result."""
        self.token.clear()
        self._run_id = params.runId
        self._active.set()
        self._growth_warning_mb = params.growthWarningMb
        self._headroom_mb = params.headroomMb
        path = Path(params.workflowPath).expanduser().resolve()
        dry = params.dryRun is True
        if not dry:
            self._runs[path] = self._runs.get(path, 0) + 1
            self.total_runs += 1
        state, stand_ins = self._run_state(params, path, on_progress)
        status, error, trace = OK, None, None
        try:
            problems = output_dir_problems(params.outputDir, path)
            if problems:
                raise PreflightError(path, problems)
            if dry:
                dryrun.check(Executor(state, self), path, params.arguments)
            else:
                with one_thread() if stand_ins is not None else contextlib.nullcontext():
                    Executor(state, self).run_file(path, params.arguments, None, Position())
        except RunCancelled:
            status = CANCELLED
            log.info("run %s of %s cancelled", params.runId, path.name)
        except PreflightError as exc:  # the user's to fix; a traceback would be noise
            status, error = ERROR, str(exc)
            log.error("run %s of %s refused: %s", params.runId, path.name, exc)
        except Exception as exc:
            status, error, trace = ERROR, str(exc), traceback.format_exc()
            self.poisoned = is_poisoning(exc)
            log.error("run %s of %s failed: %s", params.runId, path.name, exc)
        finally:
            self._active.clear()
        digest = self._digest(state.files)
        changed = self._digests.get(path) != digest
        if state.files and not dry:
            self._digests[path] = digest
        total = time.perf_counter() - state.started
        return ExecuteResult(
            status=status,
            outputs=list(state.outputs),
            error=error,
            traceback=trace,
            timings=Timings(
                load=round(state.load_seconds, 4),
                inference=round(state.inference_seconds, 4),
                total=round(total, 4),
            ),
            cache=state.report,
            runs=self._runs.get(path, 0),
            memory=None if self.poisoned else self.memory_status(),
            warnings=state.warnings,
            fileChanged=changed,
            standIn=stand_ins.report if stand_ins is not None else None,
        )

    def _run_state(
        self, params: ExecuteParams, path: Path, on_progress: Callable[[Progress], None]
    ) -> tuple[RunState, StandIns | None]:
        stand_ins = None
        if params.standIns != STAND_INS_OFF:
            stand_ins = StandIns(params.standIns, torch.device(self.device).type)
        out_dir = Path(params.outputDir).expanduser().resolve()
        state = RunState(
            run_id=params.runId,
            resolver=TypeResolver(params.allowedModules),
            out_dir=output_dir(out_dir) if stand_ins is not None else out_dir,
            top_dir=path.parent,
            device=self.device,
            reporter=Reporter(params.runId, on_progress, self.token),
            allow_remote_code=params.allowRemoteCode is True,
            stand_ins=stand_ins,
        )
        return state, stand_ins

    def prepare(self, params: ExecuteParams) -> dict[str, Any]:
        """The dry run of a workflow the user opened, for its side effect: the classes it
        names are resolved, so their modules (diffusers' and transformers' lazy imports,
        seconds) are imported before the first run. Loads no weight, counts no run; a
        problem is only reported back (the run will name it in the user's words)."""
        path = Path(params.workflowPath).expanduser().resolve()
        started, modules = time.perf_counter(), len(sys.modules)
        state, _ = self._run_state(params, path, lambda _progress: None)
        error = None
        try:
            dryrun.check(Executor(state, self), path, params.arguments)
        except Exception as exc:  # the run reports it; here it only stops the warming
            error = str(exc)
        seconds = round(time.perf_counter() - started, 4)
        imported = len(sys.modules) - modules
        log.debug("prepared %s in %.2f s, %d modules (%s)", path.name, seconds, imported, error)
        return {
            "status": ERROR if error else OK,
            "error": error,
            "seconds": seconds,
            "imported": imported,
        }

    @staticmethod
    def _digest(files: dict[Path, str]) -> str:
        joined = "\n".join(f"{p}:{d}" for p, d in sorted(files.items()))
        return hashlib.sha256(joined.encode("utf-8")).hexdigest()

    def after_run(self) -> None:
        """Between-runs cleanup; the transport calls it *after* sending the result."""
        warning = self.memory.after_run(self._cached_bytes(), self._growth_warning_mb)
        if warning:
            log.warning("%s", warning)

    def cancel(self, run_id: str | None = None) -> bool:
        """Ask the current run (if ``run_id`` is given: only that run) to stop at its next
        denoising step; False when there is no such run."""
        if not self._active.is_set() or (run_id and run_id != self._run_id):
            return False
        self.token.set()
        return True

    # -- the PipelineProvider side of the executor -------------------------------------------

    def acquire(self, label: str, key: str, loader: Callable[[], Any], state: RunState) -> Any:
        entry = self.cache.get(key, label)
        if entry is not None:
            if label not in state.report.reused:
                state.report.reused.append(label)
            state.used_keys.add(key)
            return entry.pipeline
        old = self.cache.superseded(label, key)
        if old is not None:
            self._release(old, state)
        self._make_room(state)
        started = time.perf_counter()
        pipe = loader()
        seconds = time.perf_counter() - started
        state.load_seconds += seconds
        self.cache.put(
            CachedPipeline(
                key=key,
                pipeline=pipe,
                labels=[label],
                nbytes=tensor_bytes([pipe]),
                load_seconds=seconds,
            )
        )
        state.report.loaded.append(label)
        state.used_keys.add(key)
        log.info("loaded %s in %.2f s", label, seconds)
        return pipe

    def release(self, key: str, state: RunState) -> None:
        entry = self.cache.remove(key)
        if entry is not None:
            self._release(entry, state)

    def release_task_models(self, state: RunState) -> None:
        cached = self.cache.keys()  # a copy: releasing changes the cache
        for key in cached:
            if key.startswith(TASK_KEY_PREFIX):
                self.release(key, state)

    def _release(self, entry: CachedPipeline, state: RunState | None) -> None:
        self.cache.remove(entry.key)
        if state is not None:
            state.report.released.extend(x for x in entry.labels if x not in state.report.released)
        log.info("released %s", ", ".join(entry.labels))
        entry.pipeline = None
        self.memory.full_cleanup()

    def _make_room(self, state: RunState) -> None:
        """Evict least-recently-used pipelines (never one this run uses) while the measured
        free memory is below the headroom."""
        while self.memory.free_mb() < self._headroom_mb:
            victim = self.cache.pop_lru(protected=state.used_keys)
            if victim is None:
                break
            log.info("free memory below %.0f MB: evicting %s", self._headroom_mb, victim.label)
            self._release(victim, state)

    # -- memory -----------------------------------------------------------------------------

    def _cached_bytes(self) -> int:
        return tensor_bytes(self.cache.pipelines())

    def memory_status(self) -> MemoryStatus:
        return self.memory.status(
            runs=self.total_runs, pipelines=self.cache.labels(), cached_bytes=self._cached_bytes()
        )

    def clear_memory(self) -> MemoryStatus:
        """Full cleanup: every cached pipeline and shared component is dropped."""
        entries = self.cache.clear()
        for entry in entries:
            entry.pipeline = None
        del entries
        self._digests.clear()
        self.memory.full_cleanup()
        self.memory.forget_baseline()
        log.info("memory cleared")
        return self.memory_status()
