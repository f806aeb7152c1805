"""What the current worker has run: which workflow files, as which bytes and with which
stand-in mode, so that the Session can say before a run whether the worker will reuse its
loaded models (the seed's "Reusing loaded models from cache" messages).

The worker decides what it reuses by load keys; this record only words the expectation.
Pure: no LSP types, no torch.
"""

from __future__ import annotations

from pathlib import Path


class WarmWorkflows:
    """Per workflow file: the worker process (pid) that last ran it without an error, and
    the run's key (the file's sha256 and the stand-in mode)."""

    def __init__(self) -> None:
        self._ran: dict[Path, tuple[int | None, str]] = {}

    def message(self, path: Path, pid: int | None, key: str) -> str:
        """What the next run of ``path`` with ``key`` in worker ``pid`` is about to do."""
        previous = self._ran.get(path)
        if previous == (pid, key):
            return "Reusing loaded models from cache"
        if previous is not None and previous[0] == pid:
            return "Workflow file changed - reloading models..."
        return "Loading models (this worker has not run this workflow yet)..."

    def ran(self, path: Path, pid: int | None, key: str) -> None:
        """Worker ``pid`` ran ``path`` with ``key``."""
        self._ran[path] = (pid, key)

    def clear(self) -> None:
        """The worker changed or dropped its models: nothing is warm."""
        self._ran.clear()
