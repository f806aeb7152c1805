"""Diagnostics: the check of one document, and the debounce that schedules it.

:func:`problems_of` runs :func:`~dw_lsp.validation.check.check_document` with a
:class:`CheckContext` built from the settings and the open buffers (sub-workflows are read
from an open editor buffer before the disk). If a rule crashes, the syntax problems the
parser found are still reported and the error goes to the log: one broken rule must not
hide every diagnostic. :class:`Debouncer` keeps one asyncio task per document; the next
edit cancels the pending one (esbonio style), so only the last text of a burst is checked.
Imports no pygls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from dw_lsp.settings import Settings
from dw_lsp.validation.check import CheckContext, check_document
from dw_lsp.validation.problem import Problem
from dw_lsp.workflow.document import Document

logger = logging.getLogger(__name__)


def check_context(
    path: Path | None, settings: Settings, open_documents: Mapping[Path, str]
) -> CheckContext:
    """The context of a check: file path, allowlist extension and open buffers."""

    def read_text(target: Path) -> str:
        text = open_documents.get(target)
        return text if text is not None else target.read_text(encoding="utf-8")

    return CheckContext(
        path=path,
        allowed_modules=tuple(settings.worker_allowed_modules),
        read_text=read_text,
        open_documents=dict(open_documents),
    )


def problems_of(doc: Document, ctx: CheckContext) -> list[Problem]:
    """Every problem of ``doc``; the parser's own problems if a rule fails."""
    try:
        return check_document(doc, ctx)
    except Exception:
        logger.exception("The check of %s failed; reporting syntax problems only", ctx.path)
        return list(doc.problems)


class Debouncer:
    """At most one pending job per key; scheduling again cancels the pending one."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def schedule(self, key: str, delay_s: float, job: Callable[[], object]) -> asyncio.Task[None]:
        """Run ``job`` after ``delay_s`` seconds unless ``key`` is scheduled or cancelled
        again first."""
        self.cancel(key)
        task = asyncio.ensure_future(self._run(key, delay_s, job))
        self._tasks[key] = task
        return task

    async def _run(self, key: str, delay_s: float, job: Callable[[], object]) -> None:
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            result = job()
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Scheduled job for %s failed", key)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()

    def cancel_all(self) -> None:
        for key in list(self._tasks):
            self.cancel(key)

    def pending(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()
