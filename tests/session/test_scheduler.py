"""The routing policy and the sweep grid, as plain data (no worker, no Ray)."""

from __future__ import annotations

import pytest

from dw_lsp.session.inputs import InputError
from dw_lsp.session.scheduler import WorkerView, choose
from dw_lsp.session.sweep import MAX_SWEEP_RUNS, expand_grid, merge_sweeps, parse_sweep_assignment


def _w(id: int, keys: str = "", **kw: object) -> WorkerView:
    return WorkerView(id=id, keys=frozenset(k for k in keys.split(",") if k), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("idle", "keys", "finishing", "expected"),
    [
        ([_w(1), _w(2, "a")], ["a"], [], 2),  # affinity
        ([_w(1, "a"), _w(2, "a,b")], ["a", "b"], [], 2),  # holds more of the keys
        ([_w(1, free_mb=10, cuda=True), _w(2, free_mb=80, cuda=True)], ["x"], [], 2),
        ([_w(1, free_mb=10), _w(2, free_mb=80)], ["x"], [], 1),  # host memory: not per worker
        ([_w(1, "c", pipelines=1), _w(2)], ["x"], [], 2),  # fewer pipelines
        ([_w(1, idle_since=5), _w(2, idle_since=1)], [], [], 2),  # idle longest
        ([_w(1)], ["a"], [_w(2, "a")], None),  # wait for the worker finishing its cleanup
        ([_w(1, "a")], ["a"], [_w(2, "a")], 1),  # an idle one is as warm
        ([], ["a"], [], None),
    ],
)
def test_choose(
    idle: list[WorkerView], keys: list[str], finishing: list[WorkerView], expected: int | None
) -> None:
    chosen = choose(idle, keys, finishing)
    assert (chosen.id if chosen else None) == expected


def test_grid_is_the_cartesian_product_first_name_slowest() -> None:
    assert expand_grid({"prompt": ["a", "b"], "steps": [2, 4], "g": 1}) == [
        {"prompt": "a", "steps": 2, "g": 1},
        {"prompt": "a", "steps": 4, "g": 1},
        {"prompt": "b", "steps": 2, "g": 1},
        {"prompt": "b", "steps": 4, "g": 1},
    ]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({}, "needs a grid"),
        ([1], "needs a grid"),
        ({"prompt": []}, "lists no values"),
        (
            {"prompt": list(range(20)), "steps": list(range(20))},
            f"20 prompt × 20 steps = 400 runs; at most {MAX_SWEEP_RUNS}",
        ),
    ],
)
def test_bad_grids_are_refused_with_what_to_do(grid: object, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        expand_grid(grid)


def test_sweep_assignments() -> None:
    assert parse_sweep_assignment("steps=2, 4,8") == ("steps", ["2", "4", "8"])
    assert parse_sweep_assignment('prompt=["a cat, oil", "a dog"]') == (
        "prompt",
        ["a cat, oil", "a dog"],
    )
    assert merge_sweeps(["a=1,2", "b=x"]) == {"a": ["1", "2"], "b": ["x"]}
    for bad, message in [
        ("steps", "Expected name=v1,v2"),
        ("steps=1,,2", "empty value"),
        ("p=[1", "not valid JSON"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_sweep_assignment(bad)
    with pytest.raises(InputError, match="given twice"):
        merge_sweeps(["a=1", "a=2"])
