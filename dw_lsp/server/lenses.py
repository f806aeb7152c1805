"""Code lenses at the top of a workflow: Run, Smoke run, Memory, Clear.

Each lens calls a ``dw.*`` command with ``[{"uri": ...}]``; Smoke run is ``dw.run`` with
``standIn: true`` (every model stood in by a tiny one, DESIGN.md "Stand-in models"). A lens
is offered only for a command the server has registered, so a server without the session's
commands shows no lens rather than a dead one. Imports lsprotocol only.
"""

from __future__ import annotations

from collections.abc import Collection

from lsprotocol import types

from dw_lsp.server import names
from dw_lsp.server.convert import to_range
from dw_lsp.workflow.document import Document
from dw_lsp.workflow.positions import Encoding

#: (command, title, extra argument keys), in display order.
LENSES: tuple[tuple[str, str, dict[str, object]], ...] = (
    (names.RUN, "▶ Run", {}),
    (names.RUN, "Smoke run", {"standIn": True}),
    (names.MEMORY, "Memory", {}),
    (names.CLEAR, "Clear", {}),
)


def code_lenses(
    uri: str, doc: Document, registered: Collection[str], encoding: Encoding = "utf-16"
) -> list[types.CodeLens]:
    """Lenses on the document's first line for the registered commands."""
    root = doc.tree
    start = root.start if root is not None else 0
    rng = to_range(doc.lines, start, start, encoding)
    return [
        types.CodeLens(
            range=rng,
            command=types.Command(title=title, command=command, arguments=[{"uri": uri, **extra}]),
        )
        for command, title, extra in LENSES
        if command in registered
    ]
