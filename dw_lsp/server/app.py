"""The language server, wired: :func:`create_server` and :func:`serve`. Only wiring.

* :mod:`~dw_lsp.server.language_server`: :class:`DwLanguageServer`, the state (settings,
  trust, open documents, diagnostics, client features, the ``dw.*`` commands);
* :mod:`~dw_lsp.server.lifecycle`: :class:`DwProtocol`, the LSP lifecycle enforced and the
  document synchronisation kept away from pygls's workspace;
* :mod:`~dw_lsp.server.handlers`: one handler per LSP method, thin translations onto the
  feature modules (documents that are not workflows get empty answers, never errors;
  malformed requests get InvalidParams);
* :mod:`~dw_lsp.server.commands`: the ``dw.*`` commands over the Session;
* :mod:`~dw_lsp.server.transport`: the bytes, over stdio or TCP with a token.

Open documents live in one store, ``ls.documents``
(:class:`~dw_lsp.server.documents.DocumentStore`, which says why it is not pygls's
workspace). ``ls.diagnostics`` (:class:`~dw_lsp.server.diagnostics.Diagnostics`) checks,
caches, debounces and publishes the diagnostics, and re-checks the documents that depend on
a file when it changes (an open buffer is opened, edited, saved or closed, or the client
reports a change on disk through ``workspace/didChangeWatchedFiles``, registered
dynamically for ``**/*.json`` where the client allows it). A client that declares pull
diagnostics (``textDocument/diagnostic``) pulls them and gets no pushes, so no problem
shows twice. Settings from the workspace never set the user-only keys
(:mod:`dw_lsp.server.configuration`), and ``ls.trusted``
(``initializationOptions.trusted``) gates everything that starts the worker.

Never imports the worker, torch, diffusers or transformers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dw_lsp.server.commands import not_for_client, register_commands
from dw_lsp.server.handlers import register_features
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.server.language_server import DwLanguageServer
from dw_lsp.server.transport import serve_stdio, serve_tcp, tcp_endpoint


def create_server(knowledge: Knowledge | None = None) -> DwLanguageServer:
    """A server with every LSP feature and the ``dw.*`` commands registered."""
    ls = DwLanguageServer(knowledge)
    register_features(ls)
    ls.commands = register_commands(ls, trusted=lambda: ls.trusted)
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
