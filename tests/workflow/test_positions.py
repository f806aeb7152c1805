"""Offsets <-> LSP positions in every encoding, with CRLF and astral characters."""

from __future__ import annotations

import pytest

from dw_lsp.workflow.positions import LineIndex

TEXT = 'ab\r\n😀x\n\n"é"'


@pytest.mark.parametrize("builder", [LineIndex, LineIndex.fast])
@pytest.mark.parametrize(
    ("offset", "utf16", "utf8", "utf32"),
    [
        (0, (0, 0), (0, 0), (0, 0)),
        (2, (0, 2), (0, 2), (0, 2)),
        (4, (1, 0), (1, 0), (1, 0)),
        (5, (1, 2), (1, 4), (1, 1)),
        (7, (2, 0), (2, 0), (2, 0)),
        (10, (3, 2), (3, 3), (3, 2)),
    ],
)
def test_round_trip(builder, offset, utf16, utf8, utf32):
    index = builder(TEXT)
    for enc, pos in (("utf-16", utf16), ("utf-8", utf8), ("utf-32", utf32)):
        assert index.position(offset, enc) == pos
        assert index.offset(*pos, enc) == offset


def test_out_of_range_positions_clamp():
    index = LineIndex(TEXT)
    assert index.offset(99, 0) == len(TEXT)
    assert index.offset(0, 99) == 2
    assert index.offset(-1, 0) == 0
    assert index.position(999) == index.position(len(TEXT))


def test_one_based_for_compiler_messages():
    assert LineIndex(TEXT).line_col_1based(5) == (2, 2)


def test_only_lsp_line_breaks_count():
    text = "a\u2028b\x0cc\nd"
    assert LineIndex.fast(text).starts == LineIndex(text).starts == [0, 6]


def test_empty_text_has_one_line():
    for index in (LineIndex(""), LineIndex.fast("")):
        assert index.starts == [0]
        assert index.position(0) == (0, 0) and index.offset(0, 0) == 0
