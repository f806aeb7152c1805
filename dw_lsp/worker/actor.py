"""The worker runtime hosted in-process: the body of a Ray actor (DESIGN.md, "Processes").

The JSON-RPC main (:mod:`.rpc`) is one thin adapter over :class:`~.runtime.Runtime`; this
is the other. :class:`RuntimeHost` builds the same runtime (executor, warm cache, memory
policy, cleanup levels) and exposes it as plain method calls with plain JSON-ready values,
so any in-process host can drive it; the session's Ray backend
(:mod:`dw_lsp.session.ray_backend`) wraps it in an actor by *module name*, as the local
backend starts ``python -m dw_lsp.worker`` by name. Nothing here imports Ray.

- :meth:`RuntimeHost.execute` is a generator: it runs the workflow on a thread of its own
  and yields ``{"progress": ...}`` for every progress event (one per denoising step), then
  one ``{"result": ..., "worker": ...}`` with the result and the host's snapshot (warm load
  keys, memory). The between-run cleanup runs *after* the result was yielded, as in the
  JSON-RPC worker. If the consumer goes away mid-run, the run is cancelled.
- With ``ship_outputs`` (the actor runs on another machine than the session) the run
  writes into a private temporary folder, and the final item carries the files' bytes by
  relative name; the session writes them into its own output directory.
- Every value returned is **plain JSON data** (shipped file bytes aside), as on the JSON-RPC
  channel: whatever transport pickles it, unpickling it on the session's side imports no
  library class (``torch.__version__`` is a torch type, for one).
- A poisoned CUDA context is reported (``poisoned``) rather than acted on: the host's
  owner kills the actor and starts a fresh one.

Imports torch (through the runtime) at construction; never the session, the server or LSP
types.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams, HostInfo, HostSnapshot, Progress

if TYPE_CHECKING:
    from dw_lsp.worker.runtime import Runtime

log = logging.getLogger("dw_lsp.worker.actor")

_EXECUTE_FIELDS = {f.name for f in fields(ExecuteParams)}
#: At most this many bytes of outputs travel back per run when outputs are shipped.
MAX_SHIPPED_BYTES = 2 * 1024**3


def params_from_json(data: dict[str, Any]) -> ExecuteParams:
    """An :class:`ExecuteParams` from its JSON form (unknown keys ignored)."""
    params = ExecuteParams(**{k: v for k, v in data.items() if k in _EXECUTE_FIELDS})
    if not isinstance(params.arguments, dict):
        raise ValueError("arguments must be an object")
    return params


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (str, numbers, lists, dicts), whatever types it held."""
    return json.loads(json.dumps(value, default=str))


def _default_runtime() -> Runtime:
    from dw_lsp.worker.runtime import Runtime

    return Runtime()


def _configure_logging(level: str) -> None:
    """Our records go to stderr, which the host (Ray) keeps in the actor's log file."""
    root = logging.getLogger("dw_lsp")
    if not any(getattr(h, "_dw_actor", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._dw_actor = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else "INFO")


class RuntimeHost:
    """One warm runtime, driven by method calls; see the module docstring."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        log_level: str = "INFO",
        runtime_factory: Callable[[], Runtime] = _default_runtime,
    ) -> None:
        _configure_logging(log_level)
        if threads:
            import torch

            # Workers sharing a machine's cores must not each spawn a thread per core.
            torch.set_num_threads(max(1, int(threads)))
        self.runtime = runtime_factory()
        self._run_id: str | None = None
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """Who this host is (:class:`~dw_lsp.protocol.HostInfo`), plus library versions."""
        info = HostInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            device=str(self.runtime.device),
            protocolVersion=protocol.PROTOCOL_VERSION,
        )
        return {**plain(protocol.to_json(info)), "versions": plain(self.runtime.versions())}

    # -- runs --------------------------------------------------------------------------

    def execute(self, params_json: dict[str, Any], ship_outputs: bool = False) -> Iterator[Any]:
        """Run a workflow, yielding progress items and then the result item."""
        params = params_from_json(params_json)
        staging: Path | None = None
        if ship_outputs:
            staging = Path(tempfile.mkdtemp(prefix="dw-lsp-run-"))
            params = replace(params, outputDir=str(staging))
        events: queue.Queue[Progress | None] = queue.Queue()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self.runtime.execute(params, events.put)
            except BaseException:  # execute never raises; if it ever does, say so
                box["crash"] = traceback.format_exc()
            finally:
                events.put(None)

        with self._lock:
            self._run_id = params.runId
        thread = threading.Thread(target=work, name="dw-actor-run", daemon=True)
        thread.start()
        try:
            while (event := events.get()) is not None:
                yield {"progress": plain(asdict(event))}
        finally:
            if thread.is_alive():  # the consumer went away: stop the run, keep the models
                self.runtime.cancel(params.runId)
            thread.join()
            with self._lock:
                self._run_id = None
        if "crash" in box:
            result = protocol.ExecuteResult(status=protocol.ERROR, error="the run crashed")
            result.traceback = box["crash"]
        else:
            result = box["result"]
        item: dict[str, Any] = {}
        if staging is not None:
            item["files"] = _collect(staging, result)  # rewrites result.outputs
            shutil.rmtree(staging, ignore_errors=True)
        item["result"] = plain(protocol.to_json(result))
        item["worker"] = self.snapshot()
        item["poisoned"] = bool(self.runtime.poisoned)
        yield item
        if not self.runtime.poisoned:
            self.runtime.after_run()  # after the result: cleanup never delays it

    def cancel(self, run_id: str | None = None) -> bool:
        return self.runtime.cancel(run_id)

    def load_keys(self, params_json: dict[str, Any]) -> list[str]:
        """The load keys the run would use (see :mod:`.plan`); [] when they cannot be told."""
        from dw_lsp.worker import plan

        try:
            return [str(key) for key in plan.load_keys(params_from_json(params_json))]
        except Exception as exc:  # the run itself will report the problem
            log.debug("no load keys for %s: %s", params_json.get("workflowPath"), exc)
            return []

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Warm load keys and pipelines, memory, runs, and the run in progress
        (:class:`~dw_lsp.protocol.HostSnapshot`)."""
        with self._lock:
            running = self._run_id
        snapshot = HostSnapshot(
            keys=self.runtime.cache.keys(),
            pipelines=self.runtime.cache.labels(),
            memory=self.runtime.memory_status(),
            runs=self.runtime.total_runs,
            running=running,
        )
        return dict(plain(protocol.to_json(snapshot)))

    def clear_memory(self) -> dict[str, Any]:
        return dict(plain(asdict(self.runtime.clear_memory())))


def _collect(staging: Path, result: protocol.ExecuteResult) -> list[dict[str, Any]]:
    """The run's output files as ``{"name": relative path, "data": bytes}``; the result's
    paths become those relative names."""
    files: list[dict[str, Any]] = []
    total = 0
    names: list[str] = []
    for output in result.outputs:
        path = Path(output)
        try:
            relative = path.resolve().relative_to(staging.resolve())
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            result.warnings.append(f"output {path.name} could not be sent back: {exc}")
            continue
        total += len(data)
        if total > MAX_SHIPPED_BYTES:
            result.warnings.append(
                f"outputs over {MAX_SHIPPED_BYTES // 1024**2} MiB: {relative} was not sent back"
            )
            continue
        files.append({"name": relative.as_posix(), "data": data})
        names.append(relative.as_posix())
    result.outputs = names
    return files
