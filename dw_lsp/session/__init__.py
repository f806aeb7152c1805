"""The Session every front end drives, and the WorkerClient it uses. asyncio.

- :mod:`.client`: :class:`WorkerClient`, the worker process and its state machine;
  :mod:`.watchdog`: a run's deadlines.
- :mod:`.process`: spawning, reading, killing the worker process and explaining its exit.
- :mod:`.rpc`: the JSON-RPC requests waiting for the worker's answers, and its errors.
- :mod:`.inputs`: the checks every user input passes before it reaches the worker.
- :mod:`.session`: :class:`Session`, one method per user action; :mod:`.warm`: which
  workflows the current worker has run (the reuse messages).
- :mod:`.report`: the plain results (:class:`RunReport`, :class:`SessionStatus`).
- :mod:`.pool`, :mod:`.pool_parts`, :mod:`.scheduler`: the pool of warm worker actors of
  ``worker.backend: ray``, its vocabulary and its routing policy; :mod:`.ray_backend`: the
  only module that imports Ray (lazily).
- :mod:`.sweep`: a workflow over a grid of arguments.

May import the pure layers, :mod:`dw_lsp.protocol` and :mod:`dw_lsp.output_files` (the one
writer of result files, for the files a Ray actor ships back). Never imports the server, the
worker, the terminal front ends, pygls, lsprotocol, torch or diffusers; only
:mod:`.ray_backend` imports Ray.
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
