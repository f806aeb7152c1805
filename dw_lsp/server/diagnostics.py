"""Diagnostics: the check of one document, and the service that publishes them.

:func:`problems_of` runs :func:`~dw_lsp.validation.check.check_workflow_file` with a
:class:`CheckContext` built from the settings and the open buffers (sub-workflows are read
from an open editor buffer before the disk). If a rule crashes, the syntax problems the
parser found are still reported and the error goes to the log: one broken rule must not
hide every diagnostic. At most :data:`~dw_lsp.workflow.problem.MAX_PROBLEMS` problems per
document become diagnostics (then one "N more" diagnostic), so converting them to positions
stays cheap whatever the text.

:class:`Diagnostics` owns everything between a change and a published diagnostic: the
debounce (:class:`Debouncer`, one asyncio task per document; the next edit cancels the
pending one, esbonio style, so only the last text of a burst is checked), the cache (per
document version, revision and settings generation), the dependency index of
:mod:`~dw_lsp.server.dependencies` and the re-check of dependents, and the choice between
pushing (``textDocument/publishDiagnostics``, with the version the diagnostics were computed
for) and a ``workspace/diagnostic/refresh`` for clients that pull. It reads the server's
state through :class:`Host` at each use. Imports no pygls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types

from dw_lsp.capabilities import Capabilities
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.convert import to_diagnostics
from dw_lsp.server.dependencies import DependencyIndex, dependencies_of, normalized
from dw_lsp.server.documents import DocumentStore, OpenDocument
from dw_lsp.settings import Settings
from dw_lsp.validation.check import check_workflow_file
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.files import read_workflow_text, uri_to_path
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.problem import Problem, capped

logger = logging.getLogger(__name__)

#: The debouncer's key for ``workspace/diagnostic/refresh`` (no URI looks like it).
_REFRESH_KEY = "\0workspace/diagnostic/refresh"


def check_context(
    path: Path | None,
    settings: Settings,
    open_documents: Mapping[Path, str],
    reads: MutableMapping[Path, str] | None = None,
    capabilities: Capabilities | None = None,
) -> CheckContext:
    """The context of a check: file path, allowlist extension and open buffers. Every
    file the check reads (a buffer or the disk) goes into ``reads``, if given."""
    by_normalized: dict[Path, str] | None = None

    def read_text(target: Path) -> str:
        nonlocal by_normalized
        text = open_documents.get(target)
        if text is None:  # "../x/child.json": the same file, spelled differently
            if by_normalized is None:
                by_normalized = {normalized(p): t for p, t in open_documents.items()}
            text = by_normalized.get(normalized(target))
        if text is None:
            text = read_workflow_text(target)
        if reads is not None:
            reads[target] = text
        return text

    return CheckContext(
        path=path,
        allowed_modules=tuple(settings.worker_allowed_modules),
        allow_remote_code=settings.worker_allow_remote_code,
        read_text=read_text,
        open_documents=dict(open_documents),
        capabilities=capabilities,
    )


def problems_of(doc: Document, ctx: CheckContext) -> list[Problem]:
    """Every problem of ``doc`` (each workflow of a root array of them, as ``dw-lsp check``
    does); the parser's own problems if a rule fails."""
    try:
        return check_workflow_file(doc, ctx)
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


class Host(Protocol):
    """What :class:`Diagnostics` reads from the server, at each use."""

    settings: Settings
    client: ClientFeatures
    encoding: Encoding
    documents: DocumentStore

    def is_workflow(self, doc: OpenDocument) -> bool: ...

    def text_document_publish_diagnostics(self, params: types.PublishDiagnosticsParams) -> None: ...

    def workspace_diagnostic_refresh(self, params: None) -> Any: ...


class Diagnostics:
    """The diagnostics of the open documents: checked, cached, debounced, published."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.debouncer = Debouncer()
        self.dependencies = DependencyIndex()
        #: URIs whose last push was not empty (a close or a non-workflow clears them).
        self.published: set[str] = set()
        self._generation = 0
        self._cache: dict[str, tuple[tuple[int | None, int, int], list[types.Diagnostic]]] = {}

    @property
    def pushes(self) -> bool:
        return not self._host.client.pull_diagnostics

    def of(self, doc: OpenDocument) -> list[types.Diagnostic]:
        """The diagnostics of ``doc``'s current text (cached per version, revision and
        settings); records the files they depend on in :attr:`dependencies`."""
        key = (doc.version, doc.revision, self._generation)
        cached = self._cache.get(doc.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        host = self._host
        open_texts = {p: d.text for d in host.documents if (p := uri_to_path(d.uri)) is not None}
        path = uri_to_path(doc.uri)
        reads: dict[Path, str] = {}
        capabilities = getattr(host, "worker_capabilities", None)
        ctx = check_context(path, host.settings, open_texts, reads, capabilities)
        problems = capped(problems_of(doc.document, ctx))
        result = to_diagnostics(problems, doc.lines, host.encoding) if problems else []
        self._cache[doc.uri] = (key, result)
        try:
            self.dependencies.update(doc.uri, dependencies_of(doc.document, path, reads))
        except Exception:  # the index is an optimisation; never lose the diagnostics
            logger.exception("Could not record the dependencies of %s", doc.uri)
        return result

    def result_id(self, doc: OpenDocument) -> str:
        """The pull result id of ``doc``'s current diagnostics."""
        return f"{self._generation}:{doc.version}:{doc.revision}"

    def schedule(self, uri: str, delay_s: float | None = None) -> None:
        """Publish ``uri``'s diagnostics after the debounce (a later call cancels this)."""
        if not self.pushes:
            return
        delay = self._host.settings.diagnostics_debounce_ms / 1000 if delay_s is None else delay_s
        self.debouncer.schedule(uri, delay, lambda: self.publish(uri))

    def publish(self, uri: str) -> None:
        """Push the current diagnostics of ``uri`` (or clear them if not a workflow)."""
        doc = self._host.documents.get(uri)
        if doc is None:
            return
        if not self._host.is_workflow(doc):
            self.dependencies.forget(uri)
            if uri in self.published:
                self.clear(uri)
            return
        diagnostics = self.of(doc)
        self._host.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version)
        )
        self.published.add(uri)

    def clear(self, uri: str) -> None:
        """Publish an empty set for ``uri``."""
        self.published.discard(uri)
        self._cache.pop(uri, None)
        self._host.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def closed(self, uri: str) -> None:
        """Forget a closed document: its pending check, its cache, its diagnostics, its
        dependencies; the documents that read it now read the disk, so check them again."""
        self.debouncer.cancel(uri)
        self._cache.pop(uri, None)
        self.dependencies.forget(uri)
        if uri in self.published:
            self.clear(uri)
        self.recheck_dependents([uri])

    def recheck_all(self) -> None:
        """Check every open document again (settings or a file on disk changed)."""
        self._generation += 1
        if self.pushes:
            for doc in self._host.documents:
                self.schedule(doc.uri)
        elif self._host.client.diagnostic_refresh and len(self._host.documents):
            self._host.workspace_diagnostic_refresh(None)

    def recheck_dependents(self, changed: list[str], origin: str | None = None) -> list[str]:
        """Check again the open documents that depend on the files ``changed`` (URIs),
        directly or transitively, except ``origin`` (the edited buffer, checked anyway):
        their cached diagnostics and result ids go stale; push clients get them through
        the debounce, pull clients a (debounced) ``workspace/diagnostic/refresh``. A
        re-check never triggers further re-checks, so cycles cannot loop. Returns the URIs
        re-checked."""
        paths = [p for p in (uri_to_path(u) for u in changed) if p is not None]
        if not paths or not len(self.dependencies):
            return []
        stale: list[str] = []
        for uri in self.dependencies.dependents(paths, uri_to_path):
            doc = self._host.documents.get(uri)
            if doc is None:
                self.dependencies.forget(uri)
                continue
            if uri == origin:
                continue
            doc.invalidate()
            self._cache.pop(uri, None)
            stale.append(uri)
            self.schedule(uri)
        if stale:
            logger.debug("%s changed; checking %s again", ", ".join(changed), ", ".join(stale))
            if not self.pushes and self._host.client.diagnostic_refresh:
                delay = self._host.settings.diagnostics_debounce_ms / 1000
                self.debouncer.schedule(_REFRESH_KEY, delay, self._refresh_pulled)
        return stale

    def _refresh_pulled(self) -> None:
        self._host.workspace_diagnostic_refresh(None)
