"""The problem-code table: every code is documented (title, severity) and tested."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from dw_lsp.validation.codes import CODES, Code
from dw_lsp.workflow.problem import Severity

TESTS = Path(__file__).resolve().parents[1]


def _semantic_table() -> list[tuple[str, str, list[tuple[str, str]], object]]:
    spec = importlib.util.spec_from_file_location(
        "semantic_table", TESTS / "validation" / "test_semantic.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases: list[tuple[str, str, list[tuple[str, str]], object]] = module.CASES
    return cases


def test_every_code_has_a_title_and_a_severity() -> None:
    for code, entry in CODES.items():
        assert isinstance(entry, Code) and entry.code == code
        assert re.fullmatch(r"DW\d{3}", code)
        assert entry.title.strip() and not entry.title.endswith(".")
        assert isinstance(entry.severity, Severity)


def test_codes_are_in_order_within_their_range() -> None:
    codes = list(CODES)
    assert codes == sorted(codes)


def test_every_semantic_code_has_a_table_row() -> None:
    covered = {code for _, _, expected, _ in _semantic_table() for code, _ in expected}
    semantic = {c for c in CODES if c.startswith("DW2")}
    assert semantic - covered == set()
    assert covered <= set(CODES)


def _tested_codes() -> set[str]:
    """Codes that some test asserts: table rows or quoted codes in the test sources."""
    found: set[str] = set()
    for source in TESTS.rglob("test_*.py"):
        found.update(re.findall(r"[\"'](DW\d{3})[\"']", source.read_text(encoding="utf-8")))
    return found


def test_every_code_is_tested() -> None:
    assert set(CODES) - _tested_codes() == set()
