"""The wire format between the session (client) and the worker process (server).

This is the only module both processes share. Transport: JSON-RPC 2.0, one JSON object per
line (UTF-8, ``\\n``-terminated) on the worker's stdin (requests, notifications from the
session) and the worker's *private* stdout (responses, notifications from the worker).
The worker's stderr carries free-form log text only.

Handshake: the session's first request is ``initialize`` with ``protocolVersion``; the worker
answers with its own version, pid and library versions, or an error when the major version
differs. Pure: no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PROTOCOL_VERSION = "1.0"

# Requests (session -> worker)
INITIALIZE = "initialize"
EXECUTE = "execute"
CANCEL = "cancel"
MEMORY_STATUS = "memoryStatus"
CLEAR_MEMORY = "clearMemory"
SHUTDOWN = "shutdown"
PING = "ping"

# Notifications (worker -> session)
PROGRESS = "progress"
LOG = "log"

# JSON-RPC error codes used by the worker
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
BUSY = -32001  # another execute is running
VERSION_MISMATCH = -32002

# Run statuses
OK = "ok"
ERROR = "error"
CANCELLED = "cancelled"

#: Stand-in modes (``ExecuteParams.standIns``): never, for models not found locally or in
#: the Hugging Face cache, or for every model.
STAND_INS_OFF = "off"
STAND_INS_MISSING = "missing"
STAND_INS_ALL = "all"
STAND_IN_MODES = (STAND_INS_OFF, STAND_INS_MISSING, STAND_INS_ALL)


@dataclass
class ExecuteParams:
    """Run one saved workflow file.

    ``arguments`` maps declared variable names to values; strings are coerced to the
    declared default's type by the worker (a failed conversion is an error).
    """

    workflowPath: str
    outputDir: str
    arguments: dict[str, Any] = field(default_factory=dict)
    runId: str = ""
    allowedModules: list[str] = field(default_factory=list)
    growthWarningMb: float = 500.0
    headroomMb: float = 1024.0
    standIns: str = STAND_INS_OFF


@dataclass
class Timings:
    load: float = 0.0
    inference: float = 0.0
    total: float = 0.0


@dataclass
class CacheReport:
    """Which pipelines (by load-key label ``step@file``) a run reused, loaded and released."""

    reused: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


@dataclass
class MemoryStatus:
    """Memory figures in MiB. On a machine without CUDA ``device`` is ``"cpu"``, ``cuda`` is
    false and the allocator figures describe host memory (never zeros)."""

    device: str
    cuda: bool
    allocatedMb: float
    reservedMb: float
    freeMb: float
    totalMb: float
    runs: int
    processRssMb: float
    hostTotalMb: float
    hostAvailableMb: float
    peakAllocatedMb: float = 0.0
    deviceName: str = ""
    pipelines: list[str] = field(default_factory=list)


@dataclass
class StandInModel:
    """A model a stand-in run replaced: ``where`` in step ``step`` (``pipeline``,
    ``pipeline.transformer``, ``pipeline.loras[0]`` ...), its class and what the workflow
    named (a hub id or a path)."""

    step: str
    where: str
    component: str
    source: str


@dataclass
class ShrunkArgument:
    """A call argument a stand-in run changed because it makes the run slow; ``given`` is
    None when the workflow left it to the pipeline's default."""

    step: str
    name: str
    given: Any
    used: Any


@dataclass
class PlaceholderMedia:
    """Media that could not be had (a URL without network, a missing file), replaced by a
    generated placeholder of its ``kind`` (image, video, audio)."""

    kind: str
    location: str


@dataclass
class StandInReport:
    """What a run with stand-ins replaced (DESIGN.md "Stand-in models")."""

    mode: str = STAND_INS_OFF
    models: list[StandInModel] = field(default_factory=list)
    arguments: list[ShrunkArgument] = field(default_factory=list)
    media: list[PlaceholderMedia] = field(default_factory=list)


@dataclass
class ExecuteResult:
    status: str  # OK | ERROR | CANCELLED
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    timings: Timings = field(default_factory=Timings)
    cache: CacheReport = field(default_factory=CacheReport)
    runs: int = 0
    memory: MemoryStatus | None = None
    warnings: list[str] = field(default_factory=list)
    fileChanged: bool = False
    standIn: StandInReport | None = None  # None when the run used no stand-in mode


@dataclass
class Progress:
    """One progress event of a run (notification ``progress``).

    ``percent`` is the fraction of the whole run in [0, 100]; the other fields say where the
    run is. ``phase`` is ``load``, ``step``, ``iteration``, ``denoise`` or ``save``.
    """

    runId: str
    phase: str
    message: str
    percent: float
    step: str = ""
    stepIndex: int = 0
    stepCount: int = 0
    iteration: int = 0
    iterationCount: int = 0
    denoiseStep: int = 0
    denoiseTotal: int = 0


def to_json(obj: Any) -> Any:
    """Dataclass (nested) -> plain JSON-ready value."""
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return obj


def request(msg_id: int, method: str, params: Any = None) -> str:
    return _line({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": to_json(params)})


def notification(method: str, params: Any = None) -> str:
    return _line({"jsonrpc": "2.0", "method": method, "params": to_json(params)})


def response(msg_id: int | str | None, result: Any) -> str:
    return _line({"jsonrpc": "2.0", "id": msg_id, "result": to_json(result)})


def error_response(msg_id: int | str | None, code: int, message: str, data: Any = None) -> str:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return _line({"jsonrpc": "2.0", "id": msg_id, "error": err})


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def execute_result_from_json(data: dict[str, Any]) -> ExecuteResult:
    """Rebuild an :class:`ExecuteResult` from its JSON form (unknown keys ignored)."""
    memory = data.get("memory")
    stand_in = data.get("standIn")
    return ExecuteResult(
        status=data.get("status", ERROR),
        outputs=list(data.get("outputs") or []),
        error=data.get("error"),
        traceback=data.get("traceback"),
        timings=Timings(**(data.get("timings") or {})),
        cache=CacheReport(**(data.get("cache") or {})),
        runs=int(data.get("runs") or 0),
        memory=MemoryStatus(**memory) if isinstance(memory, dict) else None,
        warnings=list(data.get("warnings") or []),
        fileChanged=bool(data.get("fileChanged")),
        standIn=stand_in_report_from_json(stand_in) if isinstance(stand_in, dict) else None,
    )


def stand_in_report_from_json(data: dict[str, Any]) -> StandInReport:
    """Rebuild a :class:`StandInReport` from its JSON form."""
    return StandInReport(
        mode=str(data.get("mode") or STAND_INS_OFF),
        models=[StandInModel(**m) for m in data.get("models") or []],
        arguments=[ShrunkArgument(**a) for a in data.get("arguments") or []],
        media=[PlaceholderMedia(**m) for m in data.get("media") or []],
    )
