"""Examples are tests: every workflow in ``workflows/`` checks with zero problems (no
errors, warnings, infos or hints), through the same path as ``dw-lsp check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dw_lsp.terminal.checkcmd import check_file

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
FILES = sorted(WORKFLOWS.glob("*.json"))


def test_there_are_examples() -> None:
    assert len(FILES) >= 3


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_example_checks_clean(path: Path) -> None:
    result = check_file(path)
    found = [
        f"{p.severity.label} {p.code} {result.doc.text[p.start : p.end]!r}: {p.message}"
        for p in result.problems
    ]
    assert found == []
