"""What a check may know beyond the text: :class:`CheckContext`.

Its own module so that every rule module can take it without importing the checker: the
whole check (:func:`dw_lsp.validation.check.check_document`) travels in the context, and
the sub-workflow rules call it on each child through :attr:`CheckContext.check`. The
checker imports the rules; no rule imports the checker. Pure: no pygls, lsprotocol, torch
or diffusers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dw_lsp.capabilities import Capabilities
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.files import read_workflow_text
from dw_lsp.workflow.problem import Problem

#: The signature of the whole check (:func:`~dw_lsp.validation.check.check_document`).
Checker = Callable[[Document, "CheckContext"], list[Problem]]


@dataclass(frozen=True)
class CheckContext:
    """What a check may know beyond the text.

    ``path`` is the file on disk (relative media and sub-workflow paths resolve against its
    folder; None for an unsaved buffer). ``allowed_modules`` extends the worker's import
    allowlist (setting ``worker.allowedModules``); ``allow_remote_code`` is the setting
    ``worker.allowRemoteCode`` (code-loading arguments are then not reported). ``read_text``
    reads another workflow file (sub-workflows); the server passes one that prefers open
    editor buffers. ``check`` is the whole check, which the checker puts here before the
    rules run, so that the sub-workflow rules can check a child with it. ``capabilities``
    are what the worker reported in its handshake (device, installed quantization backends),
    None until a worker answered; rules that judge the worker's environment need them."""

    path: Path | None = None
    allowed_modules: tuple[str, ...] = ()
    allow_remote_code: bool = False
    read_text: Callable[[Path], str] | None = None
    open_documents: Mapping[Path, str] = field(default_factory=dict)
    check: Checker | None = field(default=None, compare=False)
    capabilities: Capabilities | None = None

    def read(self, path: Path) -> str:
        """The text of the workflow file ``path``: the front end's reader, else an open
        buffer, else the disk (:func:`~dw_lsp.workflow.files.read_workflow_text`). Raises
        OSError, ValueError or UnicodeDecodeError when it cannot be read."""
        if self.read_text is not None:
            return self.read_text(path)
        if path in self.open_documents:
            return self.open_documents[path]
        return read_workflow_text(path)
