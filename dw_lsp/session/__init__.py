"""The Session every front end drives, and the WorkerClient it uses. asyncio.

- :mod:`.client`: :class:`WorkerClient`, the worker process and its state machine;
  :mod:`.watchdog`: a run's deadlines.
- :mod:`.process`: spawning, reading, killing the worker process and explaining its exit.
- :mod:`.rpc`: the JSON-RPC requests waiting for the worker's answers, and its errors.
- :mod:`.inputs`: the checks every user input passes before it reaches the worker.
- :mod:`.session`: :class:`Session`, one method per user action; :mod:`.warm`: which
  workflows the current worker has run (the reuse messages).
- :mod:`.report`: the plain results (:class:`RunReport`, :class:`SessionStatus`).

May import the pure layers and :mod:`dw_lsp.protocol`. Never imports the server, the
worker, the terminal front ends, pygls, lsprotocol, torch or diffusers.
"""

from dw_lsp.session.client import WorkerClient, WorkerState
from dw_lsp.session.inputs import InputError
from dw_lsp.session.report import RunReport, SessionStatus
from dw_lsp.session.rpc import WorkerError
from dw_lsp.session.session import Session

__all__ = [
    "InputError",
    "RunReport",
    "Session",
    "SessionStatus",
    "WorkerClient",
    "WorkerError",
    "WorkerState",
]
