"""What a worker actor sends, checked before the pool trusts any of it; and the files it ships.

A Ray actor is another process, possibly on another machine and of another dw-lsp version,
and Ray hands the pool whatever the actor's methods returned. So, as on the local worker's
JSON-RPC channel (:mod:`.client`), every answer is data to check, not to trust:

- :func:`check_info` (once, when the actor starts): a :class:`~dw_lsp.protocol.HostInfo` of
  the same protocol major version;
- :func:`read_item` (each item of a run): ``{"progress": ...}`` becomes a checked
  :class:`~dw_lsp.protocol.Progress`; ``{"result": ..., "worker": ..., "poisoned": ...,
  "files"?: ...}`` a :class:`Finished` with a checked result, snapshot and file list;
- :func:`check_keys`, :func:`check_snapshot`, :func:`check_memory`: the control answers.

Anything malformed raises :class:`ActorMalformed` naming the field: the pool stops that
actor, fails the run it had with the reason and starts a fresh one, exactly as a malformed
line ends the local worker. A malformed answer never reaches a front end and never leaves a
run waiting.

:func:`write_shipped` writes the files an actor on another machine sent back as bytes into
the run's output directory with the worker's own writer
(:func:`dw_lsp.output_files.write_atomically`): plain file names only, written whole under a
hidden temporary name, never replacing an existing file (a taken name gets ``_2``, ``_3``
...). No Ray, no torch, no LSP types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dw_lsp import protocol
from dw_lsp.output_files import OutputError, check_output_dir, write_atomically
from dw_lsp.protocol import (
    ExecuteResult,
    HostInfo,
    HostSnapshot,
    MemoryStatus,
    Progress,
    ProtocolError,
    shown,
)
from dw_lsp.session.pool_parts import ActorDied
from dw_lsp.session.rpc import WorkerError

#: At most this many files may come back from one run.
MAX_SHIPPED_FILES = 10_000


class ActorMalformed(ActorDied):
    """An actor sent something that breaks the channel; it must be stopped and replaced."""


def malformed(exc: ProtocolError) -> ActorMalformed:
    return ActorMalformed(f"the worker sent a malformed answer ({exc}), so it was stopped")


@dataclass
class ShippedFile:
    """One output file sent back as bytes: its plain file name and its content."""

    name: str
    data: bytes


@dataclass
class Finished:
    """A run's last item: the result, the actor's snapshot, whether its CUDA context is
    poisoned, and the files it shipped (None when it wrote them itself)."""

    result: ExecuteResult
    snapshot: HostSnapshot | None
    poisoned: bool = False
    files: list[ShippedFile] | None = field(default=None)


def check_info(data: Any) -> HostInfo:
    """The actor's ``info``: :class:`ActorMalformed` when malformed, :class:`WorkerError`
    when it speaks another protocol major version."""
    try:
        info = protocol.host_info_from_json(data)
    except ProtocolError as exc:
        raise malformed(exc) from exc
    if info.protocolVersion.split(".")[0] != protocol.PROTOCOL_VERSION.split(".")[0]:
        raise WorkerError(
            f"the worker on {info.host} speaks protocol {info.protocolVersion!r}; this "
            f"session speaks {protocol.PROTOCOL_VERSION}: install the same dw-lsp on every node"
        )
    return info


def check_keys(data: Any) -> list[str]:
    """The answer to ``load_keys``: a list of strings."""
    if not isinstance(data, list) or not all(isinstance(k, str) for k in data):
        raise malformed(ProtocolError(f"load keys must be a list of strings, got {shown(data)}"))
    return list(data)


def check_snapshot(data: Any) -> HostSnapshot:
    try:
        return protocol.host_snapshot_from_json(data)
    except ProtocolError as exc:
        raise malformed(exc) from exc


def check_memory(data: Any) -> MemoryStatus:
    try:
        return protocol.memory_status_from_json(data)
    except ProtocolError as exc:
        raise malformed(exc) from exc


def read_item(item: Any) -> Progress | Finished:
    """One item of a run's stream, checked."""
    try:
        if not isinstance(item, dict):
            raise ProtocolError(f"a run's item must be an object, got {shown(item)}")
        if "progress" in item:
            return protocol.progress_from_json(item["progress"])
        if "result" not in item:
            raise ProtocolError(f"a run's item holds neither progress nor result: {shown(item)}")
        result = protocol.execute_result_from_json(item["result"])
        worker = item.get("worker")
        snapshot = None if worker is None else protocol.host_snapshot_from_json(worker)
        poisoned = item.get("poisoned", False)
        if not isinstance(poisoned, bool):
            raise ProtocolError(f"poisoned must be true or false, got {shown(poisoned)}")
        files = None if item.get("files") is None else _files(item["files"])
    except ProtocolError as exc:
        raise malformed(exc) from exc
    return Finished(result, snapshot, poisoned, files)


def _files(data: Any) -> list[ShippedFile]:
    if not isinstance(data, list) or len(data) > MAX_SHIPPED_FILES:
        raise ProtocolError(f"files must be a list of at most {MAX_SHIPPED_FILES} entries")
    files: list[ShippedFile] = []
    for entry in data:
        name = entry.get("name") if isinstance(entry, dict) else None
        content = entry.get("data") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(content, bytes):
            raise ProtocolError(f"a file must be {{name: string, data: bytes}}, got {shown(entry)}")
        files.append(ShippedFile(name, content))
    return files


def write_shipped(out_dir: str, files: list[ShippedFile], warnings: list[str]) -> list[str]:
    """Write ``files`` into ``out_dir`` (the run's output directory, as the session sent it)
    with the worker's writer; their paths. A file whose name is not a plain file name, or
    that cannot be written, is left out with a warning."""
    try:
        folder = check_output_dir(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
    except (OutputError, OSError) as exc:
        warnings.append(f"the outputs sent back by the worker were not written: {exc}")
        return []
    written: list[str] = []
    for shipped in files:
        try:
            path = write_atomically(
                folder, shipped.name, Path(shipped.name).suffix, _writer(shipped.data)
            )
        except (OutputError, OSError) as exc:
            warnings.append(f"an output sent back by the worker was refused: {exc}")
            continue
        written.append(str(path))
    return written


def _writer(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(data)

    return write
