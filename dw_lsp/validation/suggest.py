"""Did-you-mean: the closest valid names for a misspelt one, shared by every rule.

``difflib`` costs about half a millisecond a call against a long list; a large workflow
repeats the same misspelling in many steps, so answers are memoised per (word, candidates).
Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache


def close_matches(
    word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.6
) -> list[str]:
    """Up to ``n`` candidates closest to ``word`` (best first)."""
    return list(_close(word, tuple(candidates), n, cutoff))


@lru_cache(maxsize=8192)
def _close(word: str, candidates: tuple[str, ...], n: int, cutoff: float) -> tuple[str, ...]:
    return tuple(difflib.get_close_matches(word, candidates, n=n, cutoff=cutoff))
