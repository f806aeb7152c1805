"""The language server: :class:`DwLanguageServer`, its protocol, and how it starts.

The server holds the state (settings, open documents, client features, the debounce) in
typed attributes; :func:`create_server` registers the LSP handlers of
:mod:`~dw_lsp.server.handlers` (thin translations onto the feature modules) and the
``dw.*`` commands of :mod:`~dw_lsp.server.commands`. Documents that are not workflows get
empty answers, never errors; malformed requests get InvalidParams.

Diagnostics are pushed (debounced per document, published with the version they were
computed for) to clients that do not pull; a client that declares pull diagnostics
(``textDocument/diagnostic``) pulls them and gets no pushes, so no problem shows twice.

A workflow's diagnostics also depend on the sub-workflows it calls. Each check records the
document's dependency set in ``ls.dependencies``; when a file changes (an open buffer is
opened, edited, saved or closed, or the client reports a change on disk through
``workspace/didChangeWatchedFiles``, registered dynamically for ``**/*.json`` where the
client allows it), :meth:`DwLanguageServer.recheck_dependents` marks the open documents that
depend on it stale and checks them again: pushed through the same debounce (so at their
current version), or, for pull clients, announced with ``workspace/diagnostic/refresh``.
A re-check never triggers further re-checks, so cycles cannot loop.

Interface for other modules (the ``dw.*`` commands of :mod:`dw_lsp.server.commands`):
``ls.settings`` (current :class:`~dw_lsp.settings.Settings`), ``ls.documents`` (open
buffers; ``is_dirty(uri)``), and four hook lists; a hook may be sync or async, and an
exception in one is logged, never propagated:

* ``ls.on_settings_changed``: ``hook(settings)`` after the settings changed;
* ``ls.on_workflow_opened``: ``hook(uri)`` when a workflow document is opened;
* ``ls.on_workflow_saved``: ``hook(uri)`` when a workflow document is saved;
* ``ls.on_shutdown``: ``hook()`` on the LSP ``shutdown`` request (awaited, bounded).

Never imports the worker, torch, diffusers or transformers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import inspect
import logging
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from dw_lsp.server import names
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.commands import not_for_client, register_commands
from dw_lsp.server.configuration import combine
from dw_lsp.server.convert import to_diagnostics
from dw_lsp.server.diagnostics import (
    Debouncer,
    DependencyIndex,
    check_context,
    dependencies_of,
    problems_of,
)
from dw_lsp.server.documents import DocumentStore, OpenDocument
from dw_lsp.server.handlers import register_features
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.settings import SECTION, Settings
from dw_lsp.workflow.files import is_workflow, uri_to_path
from dw_lsp.workflow.positions import Encoding

logger = logging.getLogger(__name__)

Hook = Callable[..., object]

#: How long ``shutdown`` waits for the ``on_shutdown`` hooks.
SHUTDOWN_HOOK_TIMEOUT_S = 10.0

#: The files whose changes on disk the server asks the client to report.
WATCHED_FILES = "**/*.json"
#: The registration id of that watcher.
WATCHER_ID = "dw-lsp.watchedFiles"
#: The debouncer's key for ``workspace/diagnostic/refresh`` (no URI looks like it).
_REFRESH_KEY = "\0workspace/diagnostic/refresh"


def _version() -> str:
    try:
        return importlib.metadata.version("dw-lsp")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class _Answered:
    """Stands for a message that was already answered while it was being read."""


class DwProtocol(LanguageServerProtocol):
    """pygls's protocol, except that a request whose params do not fit its method is
    answered with InvalidParams (pygls only logs it, leaving the client waiting), and a
    change to a document that is not open is dropped instead of failing."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "method" not in data:
                raise
            cause = exc.__cause__ or exc
            if "id" in data:
                error = JsonRpcInvalidParams(f"Invalid params for {data['method']}: {cause}")
                self._send_response(data["id"], error=error.to_response_error())
            else:
                logger.warning("Ignoring %s with invalid params: %s", data["method"], cause)
            return _Answered()

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        super().handle_message(message)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """pygls's change handler, except that a change to a document that was never
        opened (a client bug) is logged and dropped rather than raising KeyError."""
        if unquote(params.text_document.uri) not in self.workspace.text_documents:
            logger.warning("Ignoring a change to %s, which is not open", params.text_document.uri)
            return
        yield from super().lsp_text_document__did_change(params)


class DwLanguageServer(LanguageServer):
    """The dw-lsp language server: settings, open documents, knowledge, hooks."""

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        super().__init__(
            names.SERVER_NAME,
            _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=DwProtocol,
        )
        self.settings: Settings = Settings()
        self.init_options: Any = None
        self.documents = DocumentStore()
        self.knowledge: Knowledge = knowledge or Knowledge.default()
        self.client: ClientFeatures = ClientFeatures()
        self.encoding: Encoding = "utf-16"
        self.debouncer = Debouncer()
        self.dependencies = DependencyIndex()
        self.watch_files_dynamically = False
        self.on_settings_changed: list[Hook] = []
        self.on_workflow_opened: list[Hook] = []
        self.on_workflow_saved: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self._announced: set[str] = set()
        self.published: set[str] = set()
        self._generation = 0
        self._cache: dict[str, tuple[tuple[int | None, int, int], list[types.Diagnostic]]] = {}
        self._background: set[asyncio.Future[Any]] = set()

    # -- documents ---------------------------------------------------------------------
    def roots(self) -> list[Path]:
        """Workspace folders as paths (for the workflowFiles globs)."""
        try:
            uris = [f.uri for f in self.workspace.folders.values()]
            if self.workspace.root_uri:
                uris.append(self.workspace.root_uri)
        except RuntimeError:
            return []
        return [p for p in (uri_to_path(u) for u in uris) if p is not None]

    def is_workflow(self, doc: OpenDocument) -> bool:
        return is_workflow(doc.uri, doc.document, self.settings.workflow_files, self.roots())

    def workflow(self, uri: str) -> OpenDocument | None:
        """The open document at ``uri`` if it is a workflow."""
        doc = self.documents.get(uri)
        return doc if doc is not None and self.is_workflow(doc) else None

    def close_document(self, uri: str) -> None:
        """Forget a closed document: its pending check, its cache, its diagnostics, its
        dependencies; the documents that read it now read the disk, so check them again."""
        self.debouncer.cancel(uri)
        self.documents.close(uri)
        self._cache.pop(uri, None)
        self.dependencies.forget(uri)
        if uri in self.published:
            self.clear_diagnostics(uri)
        self.recheck_dependents([uri])

    def base_dir(self, uri: str) -> Path | None:
        path = uri_to_path(uri)
        return path.parent if path is not None else None

    def registered_commands(self) -> set[str]:
        """Commands registered with this server (``workspace/executeCommand``)."""
        return set(self.protocol.fm.commands)

    # -- diagnostics -------------------------------------------------------------------
    @property
    def pushes_diagnostics(self) -> bool:
        return not self.client.pull_diagnostics

    def diagnostics_for(self, doc: OpenDocument) -> list[types.Diagnostic]:
        """The diagnostics of ``doc``'s current text (cached per version, revision and
        settings); records the files they depend on in ``self.dependencies``."""
        key = (doc.version, doc.revision, self._generation)
        cached = self._cache.get(doc.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        open_texts = {p: d.text for d in self.documents if (p := uri_to_path(d.uri)) is not None}
        path = uri_to_path(doc.uri)
        reads: dict[Path, str] = {}
        ctx = check_context(path, self.settings, open_texts, reads)
        problems = problems_of(doc.document, ctx)
        result = to_diagnostics(problems, doc.document.lines, self.encoding)
        self._cache[doc.uri] = (key, result)
        try:
            self.dependencies.update(doc.uri, dependencies_of(doc.document, path, reads))
        except Exception:  # the index is an optimisation; never lose the diagnostics
            logger.exception("Could not record the dependencies of %s", doc.uri)
        return result

    def result_id(self, doc: OpenDocument) -> str:
        return f"{self._generation}:{doc.version}:{doc.revision}"

    def schedule_check(self, uri: str, delay_s: float | None = None) -> None:
        """Publish ``uri``'s diagnostics after the debounce (a later call cancels this)."""
        if not self.pushes_diagnostics:
            return
        delay = self.settings.diagnostics_debounce_ms / 1000 if delay_s is None else delay_s
        self.debouncer.schedule(uri, delay, lambda: self.publish(uri))

    def publish(self, uri: str) -> None:
        """Push the current diagnostics of ``uri`` (or clear them if not a workflow)."""
        doc = self.documents.get(uri)
        if doc is None:
            return
        if not self.is_workflow(doc):
            self.dependencies.forget(uri)
            if uri in self.published:
                self.clear_diagnostics(uri)
            return
        diagnostics = self.diagnostics_for(doc)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version)
        )
        self.published.add(uri)

    def clear_diagnostics(self, uri: str) -> None:
        self.published.discard(uri)
        self._cache.pop(uri, None)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def recheck_all(self) -> None:
        """Check every open document again (settings or a file on disk changed)."""
        self._generation += 1
        if self.pushes_diagnostics:
            for doc in self.documents:
                self.schedule_check(doc.uri)
        elif self.client.diagnostic_refresh and len(self.documents):
            self.workspace_diagnostic_refresh(None)

    def recheck_dependents(self, changed: list[str], origin: str | None = None) -> list[str]:
        """Check again the open documents that depend on the files ``changed`` (URIs),
        directly or transitively, except ``origin`` (the edited buffer, checked anyway):
        their cached diagnostics and result ids go stale; push clients get them through
        the debounce, pull clients a (debounced) ``workspace/diagnostic/refresh``. Returns
        the URIs re-checked."""
        paths = [p for p in (uri_to_path(u) for u in changed) if p is not None]
        if not paths or not len(self.dependencies):
            return []
        stale: list[str] = []
        for uri in self.dependencies.dependents(paths, uri_to_path):
            doc = self.documents.get(uri)
            if doc is None:
                self.dependencies.forget(uri)
                continue
            if uri == origin:
                continue
            doc.invalidate()
            self._cache.pop(uri, None)
            stale.append(uri)
            self.schedule_check(uri)
        if stale:
            logger.debug("%s changed; checking %s again", ", ".join(changed), ", ".join(stale))
            if not self.pushes_diagnostics and self.client.diagnostic_refresh:
                delay = self.settings.diagnostics_debounce_ms / 1000
                self.debouncer.schedule(_REFRESH_KEY, delay, self._refresh_pulled)
        return stale

    def _refresh_pulled(self) -> None:
        self.workspace_diagnostic_refresh(None)

    async def watch_files(self) -> None:
        """Ask the client to report changes of ``**/*.json`` on disk (when it supports
        the dynamic registration of ``workspace/didChangeWatchedFiles``)."""
        if not self.watch_files_dynamically:
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=WATCHED_FILES)]
        )
        registration = types.Registration(
            id=WATCHER_ID,
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        try:
            await self.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:
            logger.warning("The client did not register the file watcher: %s", exc)

    # -- settings and hooks --------------------------------------------------------------
    def apply_settings(self, section: Any) -> None:
        """Recompute the settings from the defaults, the initialization options and
        ``section``; warn about invalid values (each message once); run the hooks on a
        change."""
        settings, messages = combine(self.init_options, section)
        fresh = [m for m in messages if m not in self._announced]
        if fresh:
            self._announced.update(fresh)
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message="dw-lsp settings: " + "; ".join(fresh),
                )
            )
        if settings == self.settings:
            return
        self.settings = settings
        logging.getLogger("dw_lsp").setLevel(settings.log_level)
        self.recheck_all()
        self.fire(self.on_settings_changed, settings)

    async def pull_settings(self) -> None:
        """Ask the client for the ``dwLsp`` section and apply it."""
        if not self.client.configuration:
            return
        try:
            result = await self.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            )
        except Exception:
            logger.warning("workspace/configuration failed; keeping the settings", exc_info=True)
            return
        self.apply_settings(result[0] if result else None)

    def fire(self, hooks: list[Hook], *args: Any) -> None:
        """Call each hook; an async one runs as a background task."""
        for hook in list(hooks):
            try:
                result = hook(*args)
            except Exception:
                logger.exception("Hook %r failed", hook)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._background.add(task)
                task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Hook failed", exc_info=task.exception())

    async def run_shutdown_hooks(self) -> None:
        self.debouncer.cancel_all()
        pending = []
        for hook in list(self.on_shutdown):
            try:
                result = hook()
            except Exception:
                logger.exception("Shutdown hook %r failed", hook)
                continue
            if inspect.isawaitable(result):
                pending.append(asyncio.ensure_future(result))
        if pending:
            done, late = await asyncio.wait(pending, timeout=SHUTDOWN_HOOK_TIMEOUT_S)
            for task in late:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.error("Shutdown hook failed", exc_info=task.exception())


def create_server(knowledge: Knowledge | None = None) -> DwLanguageServer:
    """A server with every LSP feature and the ``dw.*`` commands registered."""
    ls = DwLanguageServer(knowledge)
    register_features(ls)
    commands = register_commands(ls)
    ls.on_settings_changed.append(commands.settings_changed)
    ls.on_workflow_opened.append(commands.workflow_opened)
    ls.on_shutdown.append(commands.shutdown)
    return ls


def serve(args: argparse.Namespace) -> int:
    """Run the server over stdio (default) or TCP (``--tcp --host --port``)."""
    level = str(getattr(args, "log_level", "INFO") or "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=level if level in logging.getLevelNamesMapping() else "INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pygls logs every message it sends at INFO; keep that for DEBUG sessions only.
    logging.getLogger("pygls").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    if not getattr(args, "tcp", False):
        # The stdio client shows stderr too: what it got as window/logMessage is not repeated.
        for handler in logging.getLogger().handlers:
            handler.addFilter(not_for_client)
    ls = create_server()
    if getattr(args, "tcp", False):
        ls.start_tcp(args.host, args.port)
    else:
        ls.start_io()
    return 0
