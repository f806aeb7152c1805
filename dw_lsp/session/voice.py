"""Where the session's words go: :class:`Voice` sends machinery diagnostics to the front
end's log sink (else to :mod:`logging`) and user-facing lines ("Starting worker process...")
to its notify sink (else to the log at INFO). The Session and the worker pool each speak
through one. No LSP types, no torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

LogSink = Callable[[int, str], None]
Notify = Callable[[str], None]


class Voice:
    """A log sink and a notify sink, each optional; see the module docstring."""

    def __init__(self, log: LogSink | None, say: Notify | None, logger: logging.Logger) -> None:
        self._log_sink = log
        self._say_sink = say
        self._logger = logger

    def log(self, level: int, message: str) -> None:
        """To the front end's log sink when there is one, else to logging."""
        if self._log_sink is not None:
            self._log_sink(level, message)
        else:
            self._logger.log(level, message)

    def say(self, message: str) -> None:
        """A line for the user: to the notify sink, else to the log at INFO."""
        if self._say_sink is not None:
            self._say_sink(message)
        else:
            self.log(logging.INFO, message)
