"""The whole checker over dw's sample corpus: exactly the errors and warnings its README
lists (``../shared/corpus/dw-examples/README.md``), and nothing a user would call noise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dwtest_corpus import DW_EXAMPLES, require_corpus

from dw_lsp.terminal.checkcmd import FileResult, check_file
from dw_lsp.workflow.problem import Severity

CORPUS = DW_EXAMPLES


@pytest.fixture(autouse=True)
def _corpus() -> None:
    require_corpus()


#: (file, code, accepted texts of the range): the README's error table.
ERRORS = [
    ("tests/test_data/workflows/invalid_workflow.json", "DW101", {"{", '"id"'}),
    ("examples/flux/FluxFill.json", "DW202", {'"variable:image"'}),
    ("examples/tasks/image_processors.json", "DW218", {'"face_detector"'}),
]
#: Not in the README's table (it predates the rule): loading arguments that run code, which
#: the worker refuses unless the user-level setting worker.allowRemoteCode is true (DW306,
#: DESIGN.md "Security"). With the setting on, the corpus has exactly the README's errors.
REMOTE_CODE = [
    ("dw/workflows/augment_prompt.json", "DW306", {"true"}),
    ("dw/workflows/describe_image.json", "DW306", {"true"}),
    ("dw/workflows/describe_image.json", "DW306", {"true"}),
    ("examples/Krea2Edit.json", "DW306", {'"ostris/Krea2OstrisEdit"', "true"}),
    ("examples/Krea2Edit.json", "DW306", {'"ostris/Krea2OstrisEdit"', "true"}),
]
#: The README's warning table.
WARNINGS = [
    ("examples/flux/FluxOutpaint.json", "DW227", '"variable:input_image"'),
    ("examples/flux/FluxRedux.json", "DW227", '"variable:input_image"'),
    ("examples/flux/FluxFill.json", "DW227", '"variable:mask_image"'),
    ("examples/MiniMaxH3Ref2VAGeneratedSubject.json", "DW215", '"draw_subject"'),
]
#: Other warnings a user would thank us for: the installed diffusers does not know a
#: class or a pipeline call argument (DW301, DW302); a module that our worker refuses to
#: import until the user allows it, so the run would fail (DW303, once per file).
THANKED = {"DW301", "DW302", "DW303"}


@pytest.fixture(scope="module")
def results() -> list[FileResult]:
    files = sorted(CORPUS.rglob("*.json"))
    assert len(files) > 50
    return [check_file(path) for path in files]


@pytest.fixture(scope="module")
def results_allowing_remote_code() -> list[FileResult]:
    return [check_file(path, allow_remote_code=True) for path in sorted(CORPUS.rglob("*.json"))]


def _found(results: list[FileResult], severity: Severity) -> Iterator[tuple[str, str, str, str]]:
    for r in results:
        for p in r.problems:
            if p.severity == severity:
                rel = r.path.relative_to(CORPUS).as_posix()
                yield rel, p.code, r.doc.text[p.start : p.end], p.message


def _assert_exactly(found: list[tuple[str, str, str, str]], expected: list[Any]) -> None:
    assert sorted((f, c) for f, c, _, _ in found) == sorted((f, c) for f, c, _ in expected), found
    for file, code, texts in expected:
        ranges = [t for f, c, t, _ in found if (f, c) == (file, code)]
        wanted = len([e for e in expected if e[:2] == (file, code)])
        assert len(ranges) == wanted and all(r in texts for r in ranges), (file, code, ranges)


def test_exactly_the_listed_errors(results: list[FileResult]) -> None:
    _assert_exactly(list(_found(results, Severity.ERROR)), ERRORS + REMOTE_CODE)


def test_with_remote_code_allowed_exactly_the_readme_errors(
    results_allowing_remote_code: list[FileResult],
) -> None:
    _assert_exactly(list(_found(results_allowing_remote_code, Severity.ERROR)), ERRORS)


def test_the_listed_warnings(results: list[FileResult]) -> None:
    found = {(f, c, t) for f, c, t, _ in _found(results, Severity.WARNING)}
    for expected in WARNINGS:
        assert expected in found


def test_other_warnings_are_ones_a_user_would_thank_us_for(results: list[FileResult]) -> None:
    listed = set(WARNINGS)
    others = [w for w in _found(results, Severity.WARNING) if w[:3] not in listed]
    for file, code, text, message in others:
        print(f"{file}: {code} {text} {message}")
    assert {code for _, code, _, _ in others} <= THANKED


def test_no_near_miss_noise(results: list[FileResult]) -> None:
    hinted = {f for f, c, _, _ in _found(results, Severity.HINT) if c == "DW234"}
    assert hinted == set()
