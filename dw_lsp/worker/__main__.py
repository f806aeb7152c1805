"""``python -m dw_lsp.worker``: the worker process's entry point.

Its first act, before anything heavy is imported, is to move standard output onto standard
error at both levels: the C file descriptor 1 (``os.dup2(2, 1)``, so native code and
subprocesses that write to fd 1 land on stderr) and Python's ``sys.stdout``. The real stdout
survives only as a private duplicate that the JSON-RPC channel alone writes to, so a stray
``print`` or progress bar in a library can never corrupt the protocol. Then it hands over to
:mod:`dw_lsp.worker.rpc`. Imports nothing heavy itself.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO


def claim_stdout() -> BinaryIO:
    """Keep a private handle on the real stdout and point fd 1 and ``sys.stdout`` at stderr."""
    sys.stdout.flush()
    private_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(private_fd, "wb", buffering=0)


def main() -> int:
    channel = claim_stdout()
    from dw_lsp.worker.rpc import serve

    return serve(sys.stdin.buffer, channel)


if __name__ == "__main__":
    sys.exit(main())
