"""Offsets <-> LSP positions in every encoding, with CRLF and astral characters."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dw_lsp.workflow.positions import LineIndex

TEXT = 'ab\r\n😀x\n\n"é"'


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
def test_round_trip(offset, utf16, utf8, utf32):
    index = LineIndex(TEXT)
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
    text = "a\u2028b\x0cc\x85\x1c\x1d\x1e\x0b\u2029\nd\r\ne\rf"
    index = LineIndex(text)
    assert index.starts == [0, 12, 15, 17]
    assert index.position(11) == (0, 11) and index.offset(0, 99) == 11
    assert index.position(14) == index.position(13) == (1, 1)  # inside a CRLF: the line end


def test_empty_text_has_one_line():
    index = LineIndex("")
    assert index.starts == [0]
    assert index.position(0) == (0, 0) and index.offset(0, 0) == 0


def _naive(text: str, offset: int, encoding: str) -> tuple[int, int]:
    """The definition, one character at a time (quadratic, for checking only)."""
    line, start, i = 0, 0, 0
    while i < offset:
        if text[i] == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            if i + 1 == offset:
                break  # inside the CRLF: the line's end
            i += 1
        if text[i] in "\r\n":
            line, start = line + 1, i + 1
        i += 1
    prefix = text[start:i]
    if encoding == "utf-8":
        return line, len(prefix.encode("utf-8", "surrogatepass"))
    if encoding == "utf-16":
        return line, len(prefix.encode("utf-16-le", "surrogatepass")) // 2
    return line, len(prefix)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab\r\n\u2028\x85\x0cé中😀\ud800\udfaa"))),
    st.data(),
)
def test_matches_the_definition(text, data):
    index = LineIndex(text)
    offset = data.draw(st.integers(0, len(text)))
    for encoding in ("utf-16", "utf-8", "utf-32"):
        pos = index.position(offset, encoding)
        assert pos == _naive(text, offset, encoding)
        back = index.offset(*pos, encoding)
        assert index.position(back, encoding) == pos


def test_conversion_is_not_quadratic_in_the_line_length():
    text = "😀" * 50_000 + "\n" + "é" * 50_000
    index = LineIndex(text)
    began = time.perf_counter()
    for offset in range(0, len(text), 2):
        index.position(offset, "utf-16")
        index.position(offset, "utf-8")
    assert index.offset(0, 99_999, "utf-16") == 50_000  # rounded up to the emoji's end
    assert index.offset(1, 60_001, "utf-8") == 50_001 + 30_001
    # 100,000 conversions in well under a second; the quadratic way took minutes
    assert time.perf_counter() - began < 30


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab\r\n\u2028é😀\ud83d\ude00"))),
    st.text(alphabet=st.sampled_from(list("x\r\n\ud83d\ude00"))),
    st.data(),
)
def test_an_index_carried_across_a_splice_equals_a_fresh_one(text, new, data):
    """The editor keeps one index per buffer and carries it across each edit; it must
    agree with an index built from scratch, CRLFs and surrogate pairs made or split at
    the seams included."""
    from dw_lsp.server.documents import splice

    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    after = splice(text, start, end, new)
    carried = LineIndex(text).spliced(start, end, after)
    assert carried.starts == LineIndex(after).starts
    for offset in range(len(after) + 1):
        assert carried.position(offset) == LineIndex(after).position(offset)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("a\né😀\ud83d\ude00中"))),
    st.text(alphabet=st.sampled_from(list("xé\n😀\ud83d\ude00"))),
    st.data(),
)
def test_wide_characters_are_carried_across_a_splice(text, new, data):
    """Positions in UTF-16 and UTF-8 after an edit, from an index whose wide characters
    were found before it (non-ASCII texts) and carried across."""
    from dw_lsp.server.documents import splice

    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    before = LineIndex(text)
    before.position(len(text), "utf-16"), before.position(len(text), "utf-8")  # find them
    after = splice(text, start, end, new)
    carried, fresh = before.spliced(start, end, after), LineIndex(after)
    for offset in range(len(after) + 1):
        for encoding in ("utf-16", "utf-8"):
            assert carried.position(offset, encoding) == fresh.position(offset, encoding)
