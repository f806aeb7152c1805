"""Fixtures of the worker tests: one temporary model cache per session, and workers
started on demand (closed at the end of the session) or shared by a module's tests. The
helpers they use live in :mod:`dwtest_worker`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dwtest_worker import CORPUS_COUNTS, WorkerProcess


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dw-lsp-models")


@pytest.fixture(scope="session")
def start_worker(
    cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], WorkerProcess]]:
    """A factory of initialized workers; every one is closed at the end of the session."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        logs = tmp_path_factory.mktemp("worker-log")
        worker = WorkerProcess(cache_dir, logs / "stderr.txt")
        started.append(worker)
        reply = worker.result("initialize", {"protocolVersion": "1.0"}, timeout=120)
        assert reply["protocolVersion"] == "1.0"
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture(scope="session")
def stand_in_worker(start_worker: Callable[[], WorkerProcess]) -> Iterator[WorkerProcess]:
    """One worker shared by the stand-in modules (starting one costs seconds; their runs
    share the session's model cache anyway)."""
    process = start_worker()
    yield process
    process.close()


@pytest.fixture(scope="module")
def worker(start_worker: Callable[[], WorkerProcess]) -> Iterator[WorkerProcess]:
    """One worker shared by the tests of a module."""
    process = start_worker()
    yield process
    process.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The stand-in corpus smoke run's tally, when that test ran."""
    counts = CORPUS_COUNTS
    if counts.total:
        terminalreporter.section("stand-in corpus smoke run")
        terminalreporter.write_line(
            f"runs {counts.runs} / accepted {counts.accepted} / total {counts.total}"
        )
        for line in counts.failing:
            terminalreporter.write_line(f"    cannot run yet: {line}")
