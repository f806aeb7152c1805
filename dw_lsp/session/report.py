"""Plain results of Session actions: what a run did, and where the session stands.

A :class:`RunReport` *is* the worker's :class:`~dw_lsp.protocol.ExecuteResult` (one type for
a run's outcome, from the worker's answer to the front ends) with what the Session adds:
which workflow ran, the run id, the validation problems that stopped it, and whether it was
refused before reaching the worker. Front ends render these (the REPL prints them, the LSP
commands turn them into camelCase JSON with :func:`run_report_json` and friends). No LSP
types, no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteResult, MemoryStatus
from dw_lsp.workflow.problem import Problem

if TYPE_CHECKING:
    from dw_lsp.session.pool import PoolStatus


@dataclass
class RunReport(ExecuteResult):
    """The outcome of :meth:`Session.run`: the worker's result, plus the workflow's path
    and name and the run id. ``problems`` are the validation errors that stopped a run;
    ``refused`` is true when the run never reached the worker because an input was refused
    (a bad path, argument or workflow)."""

    workflow: str = ""
    name: str = ""
    run_id: str = ""
    problems: list[Problem] = field(default_factory=list)
    refused: bool = False
    worker: int = 0  # the pool's worker that ran it (0: the local worker)
    queued_seconds: float = 0.0
    retried: bool = False  # its first worker died before the run started

    def take(self, result: ExecuteResult) -> None:
        """Take the worker's fields from ``result``; its warnings follow the Session's."""
        warnings = [*self.warnings, *result.warnings]
        for worker_field in fields(ExecuteResult):
            setattr(self, worker_field.name, getattr(result, worker_field.name))
        self.warnings = warnings

    @property
    def ok(self) -> bool:
        return self.status == protocol.OK


@dataclass
class SessionStatus:
    """Where the session stands (``status`` / ``dw.status``)."""

    workflow: str | None
    name: str | None
    arguments: dict[str, Any]
    worker_state: str
    worker_pid: int | None
    running: bool
    run_id: str | None
    runs: dict[str, int]
    last_exit: str | None
    output_dir: str
    workflow_dir: str
    backend: str = "local"
    pool: PoolStatus | None = None
    #: ``worker.prewarm`` is still starting the worker or resolving an opened file's classes
    prewarming: bool = False


def memory_json(memory: MemoryStatus | None) -> dict[str, Any] | None:
    """``dw.memory``'s JSON: the worker's figures, plus a ``note`` when there is no CUDA."""
    if memory is None:
        return None
    data = asdict(memory)
    if not memory.cuda:
        data["note"] = "No CUDA device: the figures are host memory."
    return data


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "code": problem.code,
        "severity": problem.severity.label,
        "message": problem.message,
        "start": problem.start,
        "end": problem.end,
    }


def run_report_json(report: RunReport) -> dict[str, Any]:
    """``dw.run``'s JSON result (camelCase keys, plain values)."""
    error = None
    if report.error is not None:
        error = {"message": report.error, "traceback": report.traceback}
    return {
        "status": report.status,
        "workflow": report.workflow,
        "name": report.name,
        "runId": report.run_id,
        "outputs": list(report.outputs),
        "error": error,
        "timings": asdict(report.timings),
        "cache": asdict(report.cache),
        "runs": report.runs,
        "memory": memory_json(report.memory),
        "warnings": list(report.warnings),
        "problems": [problem_json(p) for p in report.problems],
        "fileChanged": report.fileChanged,
        "standIn": asdict(report.standIn) if report.standIn is not None else None,
        "worker": report.worker,
        "queuedSeconds": report.queued_seconds,
        "retried": report.retried,
    }


def status_json(status: SessionStatus) -> dict[str, Any]:
    """``dw.status``'s JSON result."""
    return {
        "state": status.worker_state,
        "workflow": status.workflow,
        "name": status.name,
        "arguments": dict(status.arguments),
        "worker": {
            "state": status.worker_state,
            "pid": status.worker_pid,
            "lastExit": status.last_exit,
            "prewarming": status.prewarming,
        },
        "running": status.running,
        "runId": status.run_id,
        "runs": dict(status.runs),
        "outputDir": status.output_dir,
        "workflowDir": status.workflow_dir,
        "backend": status.backend,
        "pool": status.pool.to_json() if status.pool is not None else None,
    }
