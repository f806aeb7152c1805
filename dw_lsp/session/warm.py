"""What the current worker has run: which workflow files, so that the Session can word what a
run did with the models (the seed's "Reusing loaded models from cache" messages).

The worker decides what it reuses, by load keys; this record only says whether the worker has
run the file before (a first run says "Loading models" up front), and the words after a run
come from the worker's own cache report. Pure: no LSP types, no torch.
"""

from __future__ import annotations

from pathlib import Path

from dw_lsp.protocol import ExecuteResult


class WarmWorkflows:
    """Per workflow file: the worker process (pid) that last ran it without an error."""

    def __init__(self) -> None:
        self._ran: dict[Path, int | None] = {}

    def before(self, path: Path, pid: int | None) -> str | None:
        """What to say before a run of ``path`` in worker ``pid``: only that a worker that has
        not run it yet will load its models (what a warm worker does, it says afterwards)."""
        if path in self._ran and self._ran[path] == pid:
            return None
        return "Loading models (this worker has not run this workflow yet)..."

    @staticmethod
    def after(result: ExecuteResult) -> str | None:
        """What a warm worker did with the models, from its cache report."""
        if result.cache.loaded:
            lead = "Workflow file changed - reloaded" if result.fileChanged else "Loaded"
            return f"{lead} models: {', '.join(result.cache.loaded)}"
        if result.cache.reused:
            return "Reusing loaded models from cache"
        return None

    def ran(self, path: Path, pid: int | None) -> None:
        """Worker ``pid`` ran ``path``."""
        self._ran[path] = pid

    def clear(self) -> None:
        """The worker changed or dropped its models: nothing is warm."""
        self._ran.clear()
