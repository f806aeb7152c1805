"""Devices a workflow names explicitly, against the device the worker runs on.

dw's published workflows are written for a GPU: ``components.<name>.device: cuda``, a
component's ``device_map: cuda``, SDNQ's ``quantization_device`` / ``return_device``, group
offload's ``onload_device`` and ``use_stream`` (CUDA or XPU streams), a task's ``device``.
On a worker without that accelerator they fail deep inside torch ("Torch not compiled with
CUDA enabled") after minutes of loading. Two answers, one walk:

* :func:`problems`: a plain run refuses each such device before anything loads (and the
  editor warns on it once the worker has said which device it runs on), naming
  where it is and the worker's device (SDNQ's two keys are left to
  :func:`dw_lsp.workflow.quant_rules.device_problem`, which words them for SDNQ; a stream
  is left alone: group offload is skipped, with a note, where it cannot run);
* :func:`mapped`: a stand-in run (a smoke run of the plumbing on whatever machine the user
  has) gets a copy of the document with each of them moved to the worker's device and
  ``use_stream`` turned off, and the list of what it changed, to report.

Works on a document whose variables are already substituted (a variable holding ``cuda``
is caught where it is used). Pure: the standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: Keys whose string value names a device.
DEVICE_KEYS = frozenset(
    {
        "device",
        "device_map",
        "onload_device",
        "offload_device",
        "quantization_device",
        "return_device",
    }
)
#: SDNQ's keys: a plain run's refusal of them is quant_rules' (same check, SDNQ's words).
QUANT_KEYS = frozenset({"quantization_device", "return_device"})
ACCELERATORS = ("cuda", "xpu", "mps")
#: Devices whose streams group offload's ``use_stream`` can use.
STREAM_DEVICES = ("cuda", "xpu")
STREAM_KEY = "use_stream"


@dataclass(frozen=True)
class NamedDevice:
    """One explicit device the worker does not have: in step ``step`` at ``path`` (keys and
    list indexes inside the step), the ``given`` value and the one a stand-in run uses."""

    step: str
    path: tuple[str | int, ...]
    given: Any
    used: Any

    @property
    def where(self) -> str:
        """The path as text: ``pipeline.configuration.components.vae.device`` (an index or a
        map key that is no plain name in brackets: ``device_map['']``)."""
        text = ""
        for part in self.path:
            if isinstance(part, int) or not part.replace(".", "_").isidentifier():
                text += f"[{part!r}]"
            else:
                text += f".{part}" if text else part
        return text

    @property
    def key(self) -> str:
        """The key that names the device (``device_map`` for an entry of a map)."""
        keys = [p for p in self.path if isinstance(p, str)]
        return keys[-2] if len(keys) > 1 and keys[-2] == "device_map" else keys[-1]


def device_kind(value: Any) -> str:
    """``cuda`` for ``"cuda:1"``, ``""`` for anything that is not a device string."""
    if not isinstance(value, str):
        return ""
    return value.strip().lower().split(":", 1)[0]


def _foreign(value: Any, worker: str) -> bool:
    kind = device_kind(value)
    return kind in ACCELERATORS and kind != worker


Found = tuple[tuple[str | int, ...], Any, Any]


def _walk(node: Any, path: tuple[str | int, ...], worker: str, used: str) -> Iterator[Found]:
    """``(path, given, used)`` of each explicit device below ``node`` the worker lacks."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            at = (*path, str(key))
            if key in DEVICE_KEYS and isinstance(value, str) and _foreign(value, worker):
                yield at, value, used
            elif key == "device_map" and isinstance(value, Mapping):
                for module, target in value.items():
                    if _foreign(target, worker):
                        yield (*at, str(module)), target, used
            elif key == STREAM_KEY and value is True and worker not in STREAM_DEVICES:
                yield at, True, False
            else:
                yield from _walk(value, at, worker, used)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*path, index), worker, used)


def named_devices(document: Mapping[str, Any], worker_device: str) -> list[NamedDevice]:
    """Every explicit device (and group offload stream) in the document's steps that the
    worker, running on ``worker_device``, does not have."""
    return mapped(document, worker_device)[1]


def refused(named: NamedDevice) -> bool:
    """Does a plain run refuse this device? (SDNQ's keys are quant_rules'; a stream is
    skipped with group offload where it cannot run.)"""
    return named.key not in QUANT_KEYS and named.key != STREAM_KEY


def message(named: NamedDevice, worker_device: str) -> str:
    """The refusal of one explicit device, without the step (the worker adds it)."""
    worker = device_kind(worker_device) or "cpu"
    return (
        f"{named.where} is {named.given!r}, but this worker runs on {worker}; set it to the "
        "worker's device (or remove it) to run here, or smoke-run the workflow on stand-ins, "
        "which map it"
    )


def problems(document: Mapping[str, Any], worker_device: str) -> list[str]:
    """A plain run's refusals: each explicit device the worker lacks (SDNQ's keys and
    streams excepted, see the module docstring), before anything loads."""
    return [
        f"step {named.step!r}: {message(named, worker_device)}"
        for named in named_devices(document, worker_device)
        if refused(named)
    ]


def _replace(node: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """A copy of ``node`` with the value at ``path`` replaced (only the path is copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        return {**node, head: _replace(node[head], rest, value)}
    copy = list(node)
    copy[int(head)] = _replace(node[int(head)], rest, value)
    return copy


def mapped(
    document: Mapping[str, Any], worker_device: str
) -> tuple[dict[str, Any], list[NamedDevice]]:
    """The document with each device the worker lacks set to ``worker_device`` (streams
    off), and what was changed. The input is not modified."""
    worker = device_kind(worker_device) or "cpu"
    steps = document.get("steps")
    if not isinstance(steps, list):
        return dict(document), []
    copy = list(steps)
    found: list[NamedDevice] = []
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        name = step.get("name")
        label = name if isinstance(name, str) else f"steps[{index}]"
        for path, given, used in list(_walk(step, (), worker, str(worker_device))):
            copy[index] = _replace(copy[index], path, used)
            found.append(NamedDevice(label, path, given, used))
    return {**document, "steps": copy}, found
