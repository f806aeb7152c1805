"""Work-done progress for ``dw.run``: begin, one report per worker progress event, end.

The token is the client's ``progressToken`` when it sent one; otherwise the server creates
one with ``window/workDoneProgress/create`` if the client supports that (else the run just
has no progress bar). Percentages never go down. The client cancelling the progress
(``window/workDoneProgress/cancel``, which pygls turns into cancelling the token's future)
calls ``on_cancel``: pygls does not stop a running command on ``$/cancelRequest``, so this
and ``dw.cancel`` are the two ways to stop a run.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from dw_lsp.protocol import Progress

logger = logging.getLogger(__name__)

#: Seconds to wait for the client to accept a server-created token.
CREATE_TIMEOUT = 5.0


def client_supports_progress(ls: LanguageServer) -> bool:
    try:
        window = ls.client_capabilities.window
    except AttributeError:  # not initialized
        return False
    return bool(window is not None and window.work_done_progress)


class RunProgress:
    """One run's progress bar in the client."""

    def __init__(
        self,
        ls: LanguageServer,
        title: str,
        token: types.ProgressToken | None,
        on_cancel: Callable[[], None],
    ) -> None:
        self._ls = ls
        self._title = title
        self.token = token
        self._on_cancel = on_cancel
        self._percent = 0
        self._last: tuple[int, str] | None = None
        self._active = False

    async def begin(self) -> None:
        """Create the token if needed, then send ``begin`` (cancellable)."""
        progress = self._ls.work_done_progress
        if self.token is None:
            if not client_supports_progress(self._ls):
                return
            token = f"dw-run-{uuid.uuid4().hex}"
            try:
                await asyncio.wait_for(progress.create_async(token), CREATE_TIMEOUT)
            except Exception as exc:  # the client refused or did not answer: no bar
                logger.info("window/workDoneProgress/create failed: %s", exc)
                return
            self.token = token
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=self._title, cancellable=True, percentage=0),
        )
        self._active = True
        future: Future[Any] | None = progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(self._done)

    def _done(self, future: Future[Any]) -> None:
        if future.cancelled() and self._active:
            self._on_cancel()

    def report(self, event: Progress) -> None:
        """Relay one worker progress event (percentages never decrease)."""
        if not self._active or self.token is None:
            return
        self._percent = max(self._percent, min(100, int(event.percent)))
        key = (self._percent, event.message)
        if key == self._last:
            return
        self._last = key
        self._ls.work_done_progress.report(
            self.token,
            types.WorkDoneProgressReport(
                message=event.message, percentage=self._percent, cancellable=True
            ),
        )

    def end(self, message: str) -> None:
        """Send ``end`` and forget the token."""
        if not self._active or self.token is None:
            return
        self._active = False
        progress = self._ls.work_done_progress
        progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        progress.tokens.pop(self.token, None)
