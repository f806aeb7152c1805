"""What the Session hands its execution backends: the parameters of one checked run
(:func:`execute_params`, the same for the local worker and every actor) and of the dry run
that prewarms a workflow's classes (:func:`prepare_params`), and the default factories of the
local worker process and of the Ray pool. No LSP types, no torch; Ray only inside
:func:`default_pool_factory`, when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.protocol import ExecuteParams
from dw_lsp.session.client import LogSink, WorkerClient
from dw_lsp.session.inputs import CheckedWorkflow, InputError, read_workflow, stand_in_mode
from dw_lsp.session.pool import WorkerPool
from dw_lsp.session.voice import Notify
from dw_lsp.settings import Settings

ClientFactory = Callable[[Settings, LogSink], WorkerClient]
PoolFactory = Callable[[Settings, LogSink, Notify], WorkerPool]
#: The run id of a prewarm's dry run (never a user's run: ids are uuids).
PREPARE_RUN_ID = "prewarm"


def execute_params(
    settings: Settings,
    workflow: CheckedWorkflow,
    values: dict[str, Any],
    out_dir: Path,
    run_id: str,
    stand_ins: str = protocol.STAND_INS_OFF,
    dry_run: bool = False,
) -> ExecuteParams:
    """What the worker is told for one checked run: the saved file, the checked values, the
    output folder, and the user-level rules it enforces itself (``worker.allowedModules``,
    ``worker.allowRemoteCode``); the same for the local worker and every actor."""
    return ExecuteParams(
        workflowPath=str(workflow.path),
        outputDir=str(out_dir),
        arguments=dict(values),
        runId=run_id,
        allowedModules=list(settings.worker_allowed_modules),
        allowRemoteCode=settings.worker_allow_remote_code,
        growthWarningMb=settings.memory_growth_warning_mb,
        headroomMb=settings.cache_headroom_mb,
        standIns=stand_ins,
        dryRun=dry_run,
    )


def prepare_params(
    settings: Settings,
    path: Path,
    roots: Iterable[Path],
    stored: Mapping[Path, dict[str, Any]],
    out_dir: Path,
) -> ExecuteParams | None:
    """The dry run a prewarm sends for an opened workflow file, or None when the file fails
    its check (its run will say why). The worker resolves every class the file names,
    importing their modules, and loads no weight: the first real run then does not pay for
    diffusers' and transformers' lazy imports. ``stored`` holds the Session's arguments."""
    try:
        workflow = read_workflow(
            path, roots, settings.worker_allowed_modules, settings.worker_allow_remote_code
        )
    except InputError:
        return None
    values = dict(stored.get(workflow.path, {}))
    stand_ins = stand_in_mode(None, settings.worker_stand_ins)
    return execute_params(
        settings, workflow, values, out_dir, PREPARE_RUN_ID, stand_ins, dry_run=True
    )


def default_client_factory(settings: Settings, log: LogSink) -> WorkerClient:
    """The real worker, started with ``worker.command``."""
    return WorkerClient(
        settings.worker_command,
        log=log,
        initialize_params={"logLevel": settings.log_level},
        start_timeout=settings.worker_start_timeout,
    )


def default_pool_factory(settings: Settings, log: LogSink, say: Notify) -> WorkerPool:
    """A pool of Ray actors as ``worker.ray.*`` say (Ray is imported here, not before)."""
    from dw_lsp.session.ray_backend import RayBackend

    backend = RayBackend(
        settings.worker_ray_address,
        settings.worker_ray_resources,
        workers=settings.worker_ray_workers,
        log_level=settings.log_level,
    )
    return WorkerPool(
        backend,
        settings.worker_ray_workers,
        log=log,
        say=say,
        start_timeout=settings.worker_start_timeout,
        run_timeout=settings.run_timeout,
    )
