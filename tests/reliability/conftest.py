"""The reliability suite's tally: each module counts what it tried, what survived and what was
lost (a crash, a wrong result, a file written outside a run's output), and the totals are
printed at the end of the session, so `make test` shows them and the README can quote them.

A test takes the ``tally`` fixture and calls ``tally.tried(suite)``, then ``tally.survived(suite)``
or ``tally.lost(suite, why)``; a lost case must also fail its test (the tally only reports).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Counts:
    tried: int = 0
    survived: int = 0
    lost: list[str] = field(default_factory=list)


class Tally:
    """Counts per suite name, shared by every test of the session."""

    def __init__(self) -> None:
        self.suites: dict[str, Counts] = {}

    def _of(self, suite: str) -> Counts:
        return self.suites.setdefault(suite, Counts())

    def tried(self, suite: str, n: int = 1) -> None:
        self._of(suite).tried += n

    def survived(self, suite: str, n: int = 1) -> None:
        self._of(suite).survived += n

    def lost(self, suite: str, why: str) -> None:
        self._of(suite).lost.append(why)

    def lines(self) -> list[str]:
        out = []
        for name in sorted(self.suites):
            c = self.suites[name]
            out.append(f"{name}: tried {c.tried}, survived {c.survived}, lost {len(c.lost)}")
            out.extend(f"    lost: {why}" for why in c.lost[:10])
        return out


_TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Iterator[Tally]:
    yield _TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TALLY.suites:
        terminalreporter.section("reliability tally")
        for line in _TALLY.lines():
            terminalreporter.write_line(line)
