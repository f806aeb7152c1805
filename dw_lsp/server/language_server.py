"""The language server's state: :class:`DwLanguageServer`.

It holds, in typed attributes, what the handlers (:mod:`~dw_lsp.server.handlers`) and the
``dw.*`` commands (:mod:`~dw_lsp.server.commands`) share: ``settings`` (the current
:class:`~dw_lsp.settings.Settings`), ``trusted`` (the client's workspace trust, which gates
everything that starts the worker), ``documents`` (the one store of open buffers,
:class:`~dw_lsp.server.documents.DocumentStore`), ``diagnostics`` (the
:class:`~dw_lsp.server.diagnostics.Diagnostics` service), ``knowledge``, the client's
features and the negotiated position encoding, and ``commands``: the
:class:`~dw_lsp.server.commands.RunCommands` that :func:`~dw_lsp.server.app.create_server`
wires in. The server tells the commands, directly, when the settings change
(:meth:`apply_settings`), when a workflow document opens (:meth:`workflow_opened`, for
``worker.prewarm``) and when the session ends (:meth:`shutdown`, awaited and bounded).

Never imports the worker, torch, diffusers or transformers.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from dw_lsp.capabilities import Capabilities
from dw_lsp.server import names
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.commands import RunCommands
from dw_lsp.server.configuration import combine
from dw_lsp.server.diagnostics import Diagnostics
from dw_lsp.server.documents import DocumentStore, OpenDocument, workspace_roots
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.lifecycle import DwProtocol
from dw_lsp.settings import SECTION, Settings
from dw_lsp.workflow.detection import is_workflow
from dw_lsp.workflow.files import uri_to_path
from dw_lsp.workflow.positions import Encoding

logger = logging.getLogger(__name__)

#: How long ``shutdown`` waits for the commands to stop the worker.
SHUTDOWN_TIMEOUT_S = 10.0

#: The files whose changes on disk the server asks the client to report.
WATCHED_FILES = "**/*.json"
#: The registration id of that watcher.
WATCHER_ID = "dw-lsp.watchedFiles"


def _version() -> str:
    try:
        return importlib.metadata.version("dw-lsp")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class DwLanguageServer(LanguageServer):
    """The dw-lsp language server: settings, open documents, knowledge, commands."""

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
        #: The ``dw.*`` commands (set by :func:`~dw_lsp.server.app.create_server`).
        self.commands: RunCommands | None = None
        self._announced: set[str] = set()
        self._background: set[asyncio.Future[Any]] = set()

    # -- documents ---------------------------------------------------------------------
    def roots(self) -> list[Path]:
        """Workspace folders as paths (for the workflowFiles globs)."""
        return workspace_roots(self)

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
    @property
    def worker_capabilities(self) -> Capabilities | None:
        """What the worker reported in its handshake (device, quantization backends), if a
        worker has answered; the checker warns on keys that will fail there (DW308)."""
        return self.commands.session.workers.capabilities if self.commands else None

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

    # -- settings, the commands, the end of the session ------------------------------------
    def apply_settings(self, section: Any) -> None:
        """Recompute the settings from the defaults, the initialization options and
        ``section``; warn about invalid values (each message once); on a change, check
        every open document again and hand the settings to the commands' Session."""
        settings, messages = combine(self.init_options, section)
        self.warn_once(messages)
        if settings == self.settings:
            return
        self.settings = settings
        logging.getLogger("dw_lsp").setLevel(settings.log_level)
        self.recheck_all()
        if self.commands is not None:
            try:
                self.commands.settings_changed(settings)
            except Exception:
                logger.exception("The commands could not take the new settings")

    def workflow_opened(self, uri: str) -> None:
        """A workflow document was opened: the commands may start the worker early
        (``worker.prewarm``)."""
        if self.commands is None:
            return
        try:
            self.commands.workflow_opened(uri)
        except Exception:
            logger.exception("Prewarming the worker failed")

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

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; its failure is logged."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Future[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Background work failed", exc_info=task.exception())

    async def shutdown(self) -> None:
        """End the session's work: pending checks are dropped and the commands stop the
        worker (waited for at most :data:`SHUTDOWN_TIMEOUT_S`)."""
        self.diagnostics.debouncer.cancel_all()
        if self.commands is None:
            return
        try:
            await asyncio.wait_for(self.commands.shutdown(), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            logger.error("Stopping the worker took more than %.0f s", SHUTDOWN_TIMEOUT_S)
        except Exception:
            logger.exception("Stopping the worker failed")
