"""Progress positions and the heartbeat of long operations (no worker process needed)."""

from __future__ import annotations

import time

import pytest

from dw_lsp.protocol import Progress
from dw_lsp.worker.progress import CancelToken, Position, Reporter, RunCancelled


def test_positions_nest_steps_iterations_and_fractions() -> None:
    step = Position().for_step("b", 1, 4)
    assert (step.lo, step.hi) == (25.0, 50.0)
    iteration = step.for_iteration(1, 2)
    assert (iteration.lo, iteration.hi) == (37.5, 50.0)
    assert iteration.at(0.5) == 43.75
    assert iteration.at(7.0) == 50.0
    child = iteration.for_step("child-step", 0, 2)
    assert (child.lo, child.hi) == (37.5, 43.75)


def test_a_heartbeat_repeats_while_a_long_operation_runs() -> None:
    events: list[Progress] = []
    reporter = Reporter("r1", events.append, CancelToken())
    with reporter.heartbeat(Position().for_step("load", 0, 1), "load", "loading", every=0.05):
        time.sleep(0.3)
    count = len(events)
    time.sleep(0.15)
    assert count >= 4 and len(events) == count  # it stops with the block
    assert {e.phase for e in events} == {"load"} and events[-1].message.endswith("s)")


def test_the_cancel_token_raises_once_set() -> None:
    token = CancelToken()
    token.check()
    token.set()
    with pytest.raises(RunCancelled):
        token.check()
