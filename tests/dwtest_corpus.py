"""The sample corpus (``../shared/corpus``, beside the repository) for the tests that read
it, and the one rule for when it is missing: the test is skipped on a developer's machine,
and **fails** under CI (``CI=true``), where the corpus is always provided, so that a broken
checkout can never pass by skipping.

Tests import this module by its name (``pytest`` puts ``tests/`` on the path, see
``pyproject.toml``); the name is unique among the test folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: dw's own examples and test data, as shipped with the project's shared files.
DW_EXAMPLES = REPO.parent / "shared" / "corpus" / "dw-examples"


def require_corpus(folder: Path = DW_EXAMPLES) -> Path:
    """``folder``; when it is missing the calling test is skipped, or fails under CI."""
    if folder.is_dir():
        return folder
    message = f"the sample corpus {folder} is missing"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must provide it", pytrace=False)
    pytest.skip(message)


def corpus_files(folder: Path = DW_EXAMPLES, pattern: str = "*.json") -> list[Path]:
    """The corpus files to parametrize a test over: every ``pattern`` file below
    ``folder``, sorted, or the folder itself when it is missing (a test given it calls
    :func:`require_corpus`, which skips or fails), so that a missing corpus never
    leaves a test with no parameters (pytest would skip it silently)."""
    return sorted(folder.rglob(pattern)) if folder.is_dir() else [folder]


def corpus_id(path: Path, folder: Path = DW_EXAMPLES) -> str:
    """A readable test id: the path inside ``folder``."""
    return path.relative_to(folder).as_posix() if path != folder else "corpus-missing"
