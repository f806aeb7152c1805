"""What a worker can do, as it reports in its answer to ``initialize`` (the handshake): its
device and the quantization backends installed in its environment. The server's checker
warns on keys that will fail there (DW308); the session reads it from the handshake.

A wire type beside :mod:`dw_lsp.protocol` (whose errors it raises). Pure: imports only the
standard library and :mod:`dw_lsp.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dw_lsp.protocol import ProtocolError, shown


@dataclass
class Capabilities:
    """What the worker can do, reported in its answer to ``initialize``: the device it runs on
    (``cpu``, ``cuda``, ``mps``, ...) and the quantization backends installed in its
    environment (``backends``: name -> version; names as in
    :data:`dw_lsp.workflow.quant_rules.BACKENDS`)."""

    device: str
    backends: dict[str, str] = field(default_factory=dict)


def capabilities_from_json(data: Any) -> Capabilities:
    """The ``capabilities`` of an ``initialize`` answer, checked."""
    if not isinstance(data, dict):
        raise ProtocolError(f"capabilities must be an object, got {shown(data)}")
    device = data.get("device")
    backends = data.get("backends", {})
    if not isinstance(device, str):
        raise ProtocolError(f"capabilities.device must be a string, got {shown(device)}")
    if not isinstance(backends, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in backends.items()
    ):
        raise ProtocolError(
            f"capabilities.backends must map names to version strings, got {shown(backends)}"
        )
    return Capabilities(device=device, backends=dict(backends))
