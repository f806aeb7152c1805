"""The language server: :class:`DwLanguageServer`, its protocol, and how it starts.

The server holds the state (settings, open documents, client features) in typed
attributes; :func:`create_server` registers the LSP handlers of
:mod:`~dw_lsp.server.handlers` (thin translations onto the feature modules) and the
``dw.*`` commands of :mod:`~dw_lsp.server.commands`. Documents that are not workflows get
empty answers, never errors; malformed requests get InvalidParams.

Open documents live in one store, ``ls.documents``
(:class:`~dw_lsp.server.documents.DocumentStore`, which says why it is not pygls's
workspace): :class:`DwProtocol` keeps didOpen/didChange/didClose away from pygls's
workspace, which holds only the workspace folders and the negotiated position encoding.
``ls.diagnostics`` (:class:`~dw_lsp.server.diagnostics.Diagnostics`) checks, caches,
debounces and publishes the diagnostics, and re-checks the documents that depend on a file
when it changes (an open buffer is opened, edited, saved or closed, or the client reports a
change on disk through ``workspace/didChangeWatchedFiles``, registered dynamically for
``**/*.json`` where the client allows it). A client that declares pull diagnostics
(``textDocument/diagnostic``) pulls them and gets no pushes, so no problem shows twice.

Bytes reach the server through :mod:`dw_lsp.server.transport` (stdio, or TCP with a token),
not pygls's own reader; :class:`DwProtocol` enforces the LSP lifecycle. Settings from the
workspace never set the user-only keys (:mod:`dw_lsp.server.configuration`), and
``ls.trusted`` (``initializationOptions.trusted``) gates everything that starts the worker.

Interface for other modules (the ``dw.*`` commands of :mod:`dw_lsp.server.commands`):
``ls.settings`` (current :class:`~dw_lsp.settings.Settings`), ``ls.trusted``, ``ls.documents``
(open buffers), and four hook lists; a hook may be sync or async, and an
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
import os
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from dw_lsp.server import names
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.commands import not_for_client, register_commands
from dw_lsp.server.configuration import combine
from dw_lsp.server.diagnostics import Diagnostics
from dw_lsp.server.documents import DocumentStore, OpenDocument
from dw_lsp.server.handlers import register_features
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.transport import serve_stdio, serve_tcp, tcp_endpoint
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
_SERVER_NOT_INITIALIZED = int(types.ErrorCodes.ServerNotInitialized)
_INVALID_REQUEST = int(types.ErrorCodes.InvalidRequest)


def _version() -> str:
    try:
        return importlib.metadata.version("dw-lsp")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class _Answered:
    """Stands for a message that was already answered while it was being read."""


class DwProtocol(LanguageServerProtocol):
    """pygls's protocol, with the LSP lifecycle enforced and bad params answered:

    * a request whose params do not fit its method is answered with InvalidParams (pygls
      only logs it, leaving the client waiting);
    * before ``initialize``, requests get ServerNotInitialized and notifications are dropped
      (``exit`` excepted); a second ``initialize`` and requests after ``shutdown`` get
      InvalidRequest;
    * document synchronisation goes to the server's own store alone: pygls's workspace never
      sees a document (see :mod:`dw_lsp.server.documents` for why);
    * ``exit`` ends the session with :attr:`exit_code` 0 after ``shutdown``, else 1, for the
      transport to return (pygls raises SystemExit, which its stdio loop turned into 0);
    * a change to a document that is not open is dropped instead of failing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialized = False
        self.exit_code: int | None = None

    @property
    def shutdown_received(self) -> bool:
        return bool(self._shutdown)

    def _refuse(self, data: dict[str, Any], code: int, message: str) -> _Answered:
        if "id" in data:
            error = types.ResponseError(code=code, message=message)
            self._send_response(data["id"], error=error)
        else:
            logger.warning("Dropped %s: %s", data.get("method"), message)
        return _Answered()

    def structure_message(self, data: dict[str, Any]) -> Any:
        method = data.get("method") if isinstance(data, dict) else None
        if method is not None and method != types.EXIT:
            if not self.initialized and method != types.INITIALIZE:
                return self._refuse(
                    data, _SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized"
                )
            if self.initialized and method == types.INITIALIZE:
                return self._refuse(data, _INVALID_REQUEST, "the server is already initialized")
            if self._shutdown:
                return self._refuse(data, _INVALID_REQUEST, f"{method}: the server is shut down")
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
        if getattr(message, "method", None) == types.INITIALIZE:
            self.initialized = True
        super().handle_message(message)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        """End the session: the transport stops reading and exits with :attr:`exit_code`."""
        self.exit_code = 0 if self._shutdown else 1
        logger.info("exit%s", "" if self._shutdown else " without shutdown: exit code 1")
        yield from ()

    def _handlers_of(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """Straight to the handler (and the server's store), not to pygls's workspace."""
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        """Straight to the handler: pygls's workspace would clamp the ranges in place."""
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._handlers_of(types.TEXT_DOCUMENT_DID_CLOSE, params)


class DwLanguageServer(LanguageServer):
    """The dw-lsp language server: settings, open documents, knowledge, hooks."""

    protocol: DwProtocol

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        super().__init__(
            names.SERVER_NAME,
            _version(),
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=DwProtocol,
        )
        self.settings: Settings = Settings()
        self.init_options: Any = None
        #: The client's workspace trust (``initializationOptions.trusted``): without it the
        #: ``dw.*`` commands that need the worker are refused and nothing starts one.
        self.trusted = True
        self.documents = DocumentStore()
        self.knowledge: Knowledge = knowledge or Knowledge.default()
        self.client: ClientFeatures = ClientFeatures()
        self.encoding: Encoding = "utf-16"
        self.diagnostics = Diagnostics(self)
        self.watch_files_dynamically = False
        self.on_settings_changed: list[Hook] = []
        self.on_workflow_opened: list[Hook] = []
        self.on_workflow_saved: list[Hook] = []
        self.on_shutdown: list[Hook] = []
        self._announced: set[str] = set()
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
        """Forget a closed document (its diagnostics too)."""
        self.documents.close(uri)
        self.diagnostics.closed(uri)

    def base_dir(self, uri: str) -> Path | None:
        path = uri_to_path(uri)
        return path.parent if path is not None else None

    def registered_commands(self) -> set[str]:
        """Commands registered with this server (``workspace/executeCommand``)."""
        return set(self.protocol.fm.commands)

    # -- diagnostics -------------------------------------------------------------------
    def recheck_all(self) -> None:
        """Check every open document again (the settings changed)."""
        self.diagnostics.recheck_all()

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
        self.warn_once(messages)
        if settings == self.settings:
            return
        self.settings = settings
        logging.getLogger("dw_lsp").setLevel(settings.log_level)
        self.recheck_all()
        self.fire(self.on_settings_changed, settings)

    def warn_once(self, messages: list[str]) -> None:
        """Log each message and show it to the user as a warning, once per session."""
        fresh = [m for m in messages if m not in self._announced]
        if not fresh:
            return
        self._announced.update(fresh)
        for message in fresh:
            logger.warning("%s", message)
        self.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning, message="dw-lsp settings: " + "; ".join(fresh)
            )
        )

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
        self.diagnostics.debouncer.cancel_all()
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
    commands = register_commands(ls, trusted=lambda: ls.trusted)
    ls.on_settings_changed.append(commands.settings_changed)
    ls.on_workflow_opened.append(commands.workflow_opened)
    ls.on_shutdown.append(commands.shutdown)
    return ls


def serve(args: argparse.Namespace) -> int:
    """Run the server over stdio (default) or TCP (``--tcp --host --port --token``); returns
    the process's exit code."""
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
        return serve_stdio(create_server())
    endpoint = tcp_endpoint(args.host, getattr(args, "token", None), os.environ)
    if isinstance(endpoint, str):
        print(f"dw-lsp: {endpoint}", file=sys.stderr)
        return 2
    return serve_tcp(create_server(), endpoint.host, args.port, endpoint.token, endpoint.announce)
