"""Typed fix data: each kind written into a problem's data and read back unchanged, several
kinds side by side, malformed data left out, and fixes moved into a larger document."""

from __future__ import annotations

from typing import Any

import pytest

from dw_lsp.validation.fixes import (
    FIX_KINDS,
    AddKey,
    Declare,
    Edit,
    FixData,
    InsertKey,
    NeedsSetting,
    Refused,
    Related,
    Replace,
    fix_data,
    moved,
    parse_fix_data,
    replacing,
)

ONE_OF_EACH: list[FixData] = [
    Replace(("variable:prompt", "variable:prefix")),
    Declare("promt"),
    AddKey(("steps", 0, "result"), "content_type"),
    InsertKey(("steps", 1, "task"), "pipeline_reference", "gen"),
    Edit(10, 42, '"variable:image"'),
    Related("/w/child.json", 3, 7, "DW202", "Variable 'x' is not declared."),
    NeedsSetting("worker.allowedModules", module="subprocess"),
    Refused("numpy.memmap"),
]


def test_every_kind_has_an_example() -> None:
    assert [type(f) for f in ONE_OF_EACH] == list(FIX_KINDS)


@pytest.mark.parametrize("fix", ONE_OF_EACH, ids=lambda f: type(f).__name__)
def test_each_kind_round_trips(fix: FixData) -> None:
    assert parse_fix_data(fix_data(fix)) == [fix]


def test_kinds_travel_together() -> None:
    data = fix_data(Declare("promt"), None, replacing(["variable:prompt"]))
    assert data == {"declare": "promt", "replacements": ["variable:prompt"]}
    assert parse_fix_data(data) == [Replace(("variable:prompt",)), Declare("promt")]
    assert fix_data() is None and replacing([]) is None


@pytest.mark.parametrize(
    "data",
    [
        None,
        "replacements",
        {"replacements": [1, 2]},
        {"declare": ""},
        {"missingKey": "content_type"},
        {"missingKey": {"object": ["a", True], "key": "k"}},
        {"insertKey": {"object": [], "key": "k"}},
        {"edit": {"start": 3, "end": 1, "newText": "x"}},
        {"related": {"path": "p", "line": "1", "column": 1, "code": "c", "message": "m"}},
        {"setting": 5},
        {"hidden": 3},
    ],
)
def test_malformed_data_is_left_out(data: Any) -> None:
    assert parse_fix_data(data) == []


def test_moved_into_a_larger_document() -> None:
    assert moved(Edit(1, 2, "x"), 100, (3,)) == Edit(101, 102, "x")
    assert moved(AddKey(("steps",), "k"), 100, (3,)) == AddKey((3, "steps"), "k")
    assert moved(InsertKey((), "k", 1), 100, (3,)) == InsertKey((3,), "k", 1)
    assert moved(Declare("v"), 100, (3,)) == Declare("v")
