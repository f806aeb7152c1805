"""Names the language server shares with its clients: ``workspace/executeCommand``
commands and the language id. The VS Code extension's ``package.json`` is tested against
this module so that the two halves cannot drift. Settings names live in
:mod:`dw_lsp.settings`."""

from __future__ import annotations

RUN = "dw.run"
MEMORY = "dw.memory"
CLEAR = "dw.clear"
STATUS = "dw.status"
CANCEL = "dw.cancel"
SET_ARGUMENTS = "dw.setArguments"
CLEAR_ARGUMENTS = "dw.clearArguments"
RESTART_WORKER = "dw.restartWorker"
RUN_SWEEP = "dw.runSweep"

#: Every command the server registers, in the order the README documents them.
COMMANDS: tuple[str, ...] = (
    RUN,
    MEMORY,
    CLEAR,
    STATUS,
    CANCEL,
    RUN_SWEEP,
    SET_ARGUMENTS,
    CLEAR_ARGUMENTS,
    RESTART_WORKER,
)

#: The server's name in ``initialize``'s serverInfo.
SERVER_NAME = "dw-lsp"
