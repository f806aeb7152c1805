"""Helpers that drive the real worker process (``python -m dw_lsp.worker``) over its
stdin/stdout, with a timeout on every read so that nothing hangs (the fixtures that start
them are in this folder's ``conftest.py``; tests import the helpers from here, under a name
no other test folder uses).

``WorkerProcess`` is a small test-side JSON-RPC client: a reader thread parses every stdout
line into a queue (a line that is not JSON is recorded as protocol corruption), responses are
matched by id, notifications are kept in arrival order. Workers run with ``HF_HUB_OFFLINE=1``,
``DW_LSP_CACHE_DIR`` set to one temporary folder per test session (so the tiny models are
materialised once) and ``tests/worker`` on ``PYTHONPATH`` for the test pipelines of
``dwtest_pipelines``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test ever reaches the network

HERE = Path(__file__).parent
REPO = HERE.parent.parent
DEFAULT_TIMEOUT = 60.0


class WorkerProcess:
    """One worker process and a JSON-RPC client for it."""

    def __init__(
        self, cache_dir: Path, stderr_path: Path, env_extra: dict[str, str] | None = None
    ) -> None:
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1",
            DW_LSP_CACHE_DIR=str(cache_dir),
            PYTHONPATH=os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
        )
        env.update(env_extra or {})
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dw_lsp.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=REPO,
            env=env,
        )
        self._ids = itertools.count(1)
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending: dict[Any, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.corrupt_lines: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                self.corrupt_lines.append(line)
                continue
            self._inbox.put(message)
        self._inbox.put(None)

    # -- sending --------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        msg_id = next(self._ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}
        self.send_raw((json.dumps(message) + "\n").encode())
        return msg_id

    # -- receiving ------------------------------------------------------------------------

    def _next(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no message from the worker in time; stderr:\n{self.stderr_tail()}")
        try:
            message = self._inbox.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError(
                f"no message from the worker in time; stderr:\n{self.stderr_tail()}"
            ) from None
        if message is None:
            raise EOFError(f"the worker closed its stdout; stderr:\n{self.stderr_tail()}")
        return message

    def _pump(self, deadline: float) -> None:
        message = self._next(deadline)
        if "id" in message and "method" not in message:
            self._pending[message["id"]] = message
        else:
            self.notifications.append(message)

    def response(self, msg_id: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while msg_id not in self._pending:
            self._pump(deadline)
        return self._pending.pop(msg_id)

    def request(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        return self.response(self.send(method, params), timeout)

    def result(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        message = self.request(method, params, timeout)
        assert "result" in message, message
        return message["result"]

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = DEFAULT_TIMEOUT,
        since: int = 0,
    ) -> dict[str, Any]:
        """The first notification matching, among those received from index ``since`` on."""
        deadline = time.monotonic() + timeout
        seen = since
        while True:
            for note in self.notifications[seen:]:
                if predicate(note):
                    return note
            seen = len(self.notifications)
            self._pump(deadline)

    def execute(
        self,
        workflow: Path,
        out_dir: Path,
        arguments: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.result(
            "execute", execute_params(workflow, out_dir, arguments, **extra), timeout
        )

    # -- ending ---------------------------------------------------------------------------

    def stderr_tail(self, lines: int = 40) -> str:
        self._stderr.flush()
        text = self.stderr_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()


def execute_params(
    workflow: Path, out_dir: Path, arguments: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    run_id = extra.pop("runId", None) or f"run-{next(_run_ids)}"
    return {
        "workflowPath": str(workflow),
        "outputDir": str(out_dir),
        "arguments": arguments or {},
        "runId": run_id,
        **extra,
    }


_run_ids = itertools.count(1)


def ok(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` when the run succeeded; else the test fails with its traceback or error."""
    assert result["status"] == "ok", result.get("traceback") or result.get("error") or result
    return result


def cache_of(result: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """What a successful run reused, loaded and released (sorted)."""
    cache = ok(result)["cache"]
    return sorted(cache["reused"]), sorted(cache["loaded"]), sorted(cache["released"])


def progress_of(run_id: str, phase: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """A :meth:`WorkerProcess.wait_for` predicate: a progress event of that run (and phase)."""

    def matches(note: dict[str, Any]) -> bool:
        params = note.get("params") or {}
        return (
            note.get("method") == "progress"
            and params.get("runId") == run_id
            and (phase is None or params.get("phase") == phase)
        )

    return matches


def tiny_sd_step(
    name: str = "generate", prompt: str = "a red fox", steps: int = 3, **pipeline: Any
) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "pipeline": {
            "configuration": {"component_type": "StableDiffusionPipeline"},
            "from_pretrained_arguments": {
                "model_name": "builtin:tiny-sd",
                "torch_dtype": "torch.float32",
            },
            "arguments": {"prompt": prompt, "num_inference_steps": steps, "guidance_scale": 4.0},
        },
        "result": {"content_type": "image/png"},
    }
    step["pipeline"].update(pipeline)
    return step


def tiny_ddpm_step(name: str = "noise", steps: int = 3) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline": {
            "configuration": {"component_type": "DDPMPipeline"},
            "from_pretrained_arguments": {"model_name": "builtin:tiny-ddpm"},
            "arguments": {"num_inference_steps": steps},
        },
        "result": {"content_type": "image/png"},
    }


def write_workflow(path: Path, steps: list[dict[str, Any]], **top: Any) -> Path:
    document = {"id": top.pop("id", path.stem), **top, "steps": steps}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


@dataclass
class CorpusCounts:
    """The stand-in corpus smoke run's tally (``test_standins_corpus``), printed by this
    folder's ``conftest.py`` at the end of the session."""

    total: int = 0
    accepted: int = 0
    runs: int = 0
    failing: list[str] = field(default_factory=list)


CORPUS_COUNTS = CorpusCounts()


def corpus_counts(total: int) -> CorpusCounts:
    """The session's tally, its total set to ``total``."""
    CORPUS_COUNTS.total = total
    return CORPUS_COUNTS
