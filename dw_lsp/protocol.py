"""The wire format between the session (client) and the worker process (server).

This is the only module both processes share. Transport: JSON-RPC 2.0, one JSON object per
line (UTF-8, ``\\n``-terminated) on the worker's stdin (requests, notifications from the
session) and its *private* stdout (responses, notifications); its stderr: log text only.
Handshake: the session's first request is ``initialize`` with ``protocolVersion``; the worker
answers with its own version, pid, library versions and ``capabilities`` (:class:`Capabilities`:
its device and the quantization backends installed in its environment), or an error when the
major version differs.

Messages from the other process are data to check, not to trust: the ``*_from_json``
functions rebuild a dataclass only when every field it carries has the declared type (a
number is finite, a list of strings holds strings, a status is a known one), and raise
:class:`ProtocolError` naming the field otherwise. Unknown keys are ignored, so a newer
minor version may add fields. Pure: no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, TypeVar

PROTOCOL_VERSION = "1.0"

# Requests (session -> worker)
INITIALIZE = "initialize"
EXECUTE = "execute"
PREPARE = "prepare"  # ExecuteParams' dry run, queued like a run: imports a workflow's classes
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
    ``allowedModules`` adds module prefixes whose classes a workflow may name;
    ``allowRemoteCode`` (only the JSON value ``true`` counts) lets loading arguments such as
    ``trust_remote_code`` and ``custom_pipeline`` through. Both are user-level settings.
    ``dryRun`` asks for every check a run makes before loading, and nothing else: the result
    is ``ok`` with no outputs, or ``error`` listing each problem (``dw-lsp run --dry-run``).
    """

    workflowPath: str
    outputDir: str
    arguments: dict[str, Any] = field(default_factory=dict)
    runId: str = ""
    allowedModules: list[str] = field(default_factory=list)
    allowRemoteCode: bool = False
    growthWarningMb: float = 500.0
    headroomMb: float = 1024.0
    dryRun: bool = False
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
    """A value a stand-in run changed: a slow call argument (``given`` None when left to the
    default), or in ``devices`` a device the worker lacks, moved to the worker's."""

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
    devices: list[ShrunkArgument] = field(default_factory=list)


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


@dataclass
class LogMessage:
    """A ``log`` notification: one record of the worker's own logging."""

    level: str
    message: str


# -- an in-process host of the runtime (a Ray actor: dw_lsp.worker.actor) -------------------
# Its runs yield the same Progress and ExecuteResult; these are the other things it says.


@dataclass
class HostInfo:
    """Who a host is, answered once when it starts (unknown keys, such as library versions
    and Ray's node id, are ignored)."""

    pid: int
    host: str
    device: str
    protocolVersion: str


@dataclass
class HostSnapshot:
    """A host's cache and state, sent with each run's result and when asked: the load keys
    and pipeline labels it holds warm, its memory, its runs, the run in progress."""

    keys: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    memory: MemoryStatus | None = None
    runs: int = 0
    running: str | None = None


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


class ProtocolError(ValueError):
    """A message that breaks the protocol: not an object, a field of the wrong type, a
    required field missing. The message names the field and what it held."""


_T = TypeVar("_T")
#: Longest rendering of a bad value in an error message.
_SHOWN = 60


def shown(value: Any) -> str:
    """``repr(value)``, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _nested(name: str) -> type[Any] | None:
    return {
        "Timings": Timings,
        "CacheReport": CacheReport,
        "MemoryStatus": MemoryStatus,
        "StandInReport": StandInReport,
        "StandInModel": StandInModel,
        "ShrunkArgument": ShrunkArgument,
        "PlaceholderMedia": PlaceholderMedia,
    }.get(name)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _typed(annotation: str, value: Any, where: str) -> Any:
    """``value`` if it has the type ``annotation`` names (the dataclass field's annotation
    text: ``str``, ``int``, ``float``, ``bool``, ``list[str]``, a nested dataclass, a list
    of one, ``Any`` (any JSON value), ``X | None``), converted where JSON is loose (an
    integer for a float); else ProtocolError."""
    for option in annotation.split(" | "):
        if option == "Any":
            return value
        if option == "None" and value is None:
            return None
        if option == "str" and isinstance(value, str):
            return value
        if option == "bool" and isinstance(value, bool):
            return value
        if option == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option == "float" and _finite(value):
            return float(value)
        if (
            option == "list[str]"
            and isinstance(value, list)
            and all(isinstance(v, str) for v in value)
        ):
            return list(value)
        nested = _nested(option)
        if nested is not None and isinstance(value, dict):
            return from_json(nested, value, where)
        item = _nested(option[5:-1]) if option.startswith("list[") else None
        if item is not None and isinstance(value, list):
            return [from_json(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    words = {
        "None": "null",
        "str": "a string",
        "bool": "true or false",
        "int": "an integer",
        "float": "a finite number",
        "list[str]": "a list of strings",
    }
    wanted = " or ".join(
        words.get(o, f"a list of {o[5:-1]} objects" if o.startswith("list[") else f"a {o} object")
        for o in annotation.split(" | ")
    )
    raise ProtocolError(f"{where} must be {wanted}, got {shown(value)}")


def from_json(cls: type[_T], data: Any, what: str) -> _T:
    """Rebuild dataclass ``cls`` from its JSON form, checking the type of every field
    (``what`` names the message in errors); unknown keys are ignored."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} must be an object, got {shown(data)}")
    values: dict[str, Any] = {}
    for spec in fields(cls):  # type: ignore[arg-type]
        if spec.name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ProtocolError(f"{what} lacks the field '{spec.name}'")
            continue
        values[spec.name] = _typed(str(spec.type), data[spec.name], f"{what}.{spec.name}")
    return cls(**values)


def execute_result_from_json(data: Any) -> ExecuteResult:
    """The answer to ``execute``, checked (see :func:`from_json`); ``status`` is one of
    ``ok``, ``error`` and ``cancelled``."""
    result = from_json(ExecuteResult, data, "the execute result")
    if result.status not in (OK, ERROR, CANCELLED):
        raise ProtocolError(
            f"the execute result.status must be ok, error or cancelled, got {shown(result.status)}"
        )
    if result.standIn is not None and result.standIn.mode not in STAND_IN_MODES:
        raise ProtocolError(
            "the execute result.standIn.mode must be one of "
            f"{', '.join(STAND_IN_MODES)}, got {shown(result.standIn.mode)}"
        )
    return result


def progress_from_json(data: Any) -> Progress:
    """A ``progress`` notification's params, checked; ``percent`` is clamped to [0, 100]."""
    progress = from_json(Progress, data, "progress")
    progress.percent = min(100.0, max(0.0, progress.percent))
    return progress


def log_from_json(data: Any) -> LogMessage:
    """A ``log`` notification's params, checked."""
    return from_json(LogMessage, data, "log")


def memory_status_from_json(data: Any) -> MemoryStatus:
    """The answer to ``memoryStatus`` and ``clearMemory``, checked."""
    return from_json(MemoryStatus, data, "the memory status")


def host_info_from_json(data: Any) -> HostInfo:
    """A host's answer to ``info``, checked."""
    return from_json(HostInfo, data, "the worker's info")


def host_snapshot_from_json(data: Any) -> HostSnapshot:
    """A host's snapshot, checked."""
    return from_json(HostSnapshot, data, "the worker's snapshot")
