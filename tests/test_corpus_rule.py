"""The rule for tests that need the sample corpus: skipped without it on a developer's
machine, failed without it under CI (``CI=true``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dwtest_corpus import DW_EXAMPLES, corpus_files, corpus_id, require_corpus


def test_a_missing_corpus_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require_corpus(tmp_path / "absent")


def test_a_missing_corpus_skips_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="is missing"):
        require_corpus(tmp_path / "absent")


def test_a_missing_corpus_still_gives_a_parameter(tmp_path: Path):
    missing = tmp_path / "absent"
    assert corpus_files(missing) == [missing]
    assert corpus_id(missing, missing) == "corpus-missing"


def test_the_corpus_is_found_beside_the_repository():
    assert require_corpus() == DW_EXAMPLES
    assert corpus_files(), "the corpus holds workflows"
