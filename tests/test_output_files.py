"""Nothing a run writes destroys a file (output_files): results reach their final name only
whole, never replace an existing file or write through a link, take a numbered name when
theirs is taken, and the output directory must be a folder path apart from the workflows."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from dw_lsp import output_files
from dw_lsp.output_files import (
    PARTIAL_PREFIX,
    OutputError,
    apart_problem,
    check_output_dir,
    numbered,
    output_dir_problems,
    remove_stale_partials,
    write_atomically,
)
from dw_lsp.worker.outputs.save import ResultWriter
from dw_lsp.worker.values import artifacts


def _text(value: str) -> Callable[[Path], int]:
    return lambda path: path.write_text(value, encoding="utf-8")


def test_a_result_gets_its_name_and_no_temporary_file_stays(tmp_path: Path) -> None:
    path = write_atomically(tmp_path, "a.json", ".json", _text("{}"))
    assert path == tmp_path / "a.json" and path.read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_taken_name_is_never_replaced_but_numbered(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_text("earlier result")
    (tmp_path / "a_2.png").write_text("another earlier result")
    path = write_atomically(tmp_path, "a.png", ".png", _text("new"))
    assert path.name == "a_3.png" and path.read_text() == "new"
    assert (tmp_path / "a.png").read_text() == "earlier result"
    assert (tmp_path / "a_2.png").read_text() == "another earlier result"


def test_a_link_under_the_name_is_not_written_through(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    out.mkdir()
    victim.write_text("precious")
    (out / "a.txt").symlink_to(victim)
    (out / "b.txt").symlink_to(tmp_path / "missing.txt")  # dangling: still taken
    assert write_atomically(out, "a.txt", ".txt", _text("x")).name == "a_2.txt"
    assert write_atomically(out, "b.txt", ".txt", _text("x")).name == "b_2.txt"
    assert victim.read_text() == "precious" and not (tmp_path / "missing.txt").exists()


def test_a_failing_writer_leaves_nothing(tmp_path: Path) -> None:
    def broken(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path, "a.txt", ".txt", broken)
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_keeps_the_extension_writers_go_by(tmp_path: Path) -> None:
    seen: list[Path] = []

    def save(path: Path) -> None:
        seen.append(path)
        Image.new("RGB", (4, 4)).save(path)  # PIL picks the format from the suffix

    final = write_atomically(tmp_path, "img.png", ".png", save)
    assert seen[0].name.startswith(PARTIAL_PREFIX) and seen[0].suffix == ".png"
    with Image.open(final) as image:
        assert image.format == "PNG"


def test_without_hard_links_the_name_is_reserved_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(_src: object, _dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(output_files.os, "link", no_links)
    (tmp_path / "a.txt").write_text("earlier")
    path = write_atomically(tmp_path, "a.txt", ".txt", _text("new"))
    assert path.name == "a_2.txt" and path.read_text() == "new"
    assert (tmp_path / "a.txt").read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "a_2.txt"]


def test_numbered_names() -> None:
    assert numbered("x-s.0-0.0.png", ".png", 2) == "x-s.0-0.0_2.png"
    assert numbered("x-s.0-0", "", 3) == "x-s.0-0_3"


def test_stale_partials_are_removed_and_nothing_else(tmp_path: Path) -> None:
    stale = tmp_path / f"{PARTIAL_PREFIX}1-aa.png"
    fresh = tmp_path / f"{PARTIAL_PREFIX}2-bb.png"
    kept = tmp_path / "old-result.png"
    for path in (stale, fresh, kept):
        path.write_text("x")
    old = stale.stat().st_mtime - 2 * output_files.STALE_PARTIAL_S
    os.utime(stale, (old, old))
    os.utime(kept, (old, old))
    remove_stale_partials(tmp_path)
    assert not stale.exists() and fresh.exists() and kept.exists()


def test_the_writer_numbers_a_rerun_and_reports_the_new_name(tmp_path: Path) -> None:
    def save() -> list[str]:
        writer = ResultWriter(
            tmp_path, "flow", "step", 0, {"content_type": "text/plain"}, artifacts
        )
        return writer.save(["hello"])

    first, second = save(), save()
    assert [Path(p).name for p in first] == ["flow-step.0-0.0.txt"]
    assert [Path(p).name for p in second] == ["flow-step.0-0.0_2.txt"]


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("relative/out", "not an absolute path"),
        ("file:///tmp/out", "is a URL"),
        ("/tmp/out\x1b", "U+001B"),
        ("/tmp/out\u202e", "U+202E"),
        ("", "is empty"),
    ],
)
def test_an_unfit_output_directory_is_refused(raw: str, complaint: str) -> None:
    with pytest.raises(OutputError, match=re.escape(complaint)):
        check_output_dir(raw)


def test_an_output_directory_holding_the_workflow_is_refused(tmp_path: Path) -> None:
    workflow = tmp_path / "flows" / "w.json"
    workflow.parent.mkdir()
    workflow.write_text("{}")
    assert "contains the workflow" in (apart_problem(tmp_path / "flows", workflow) or "")
    assert "contains the workflow" in (apart_problem(tmp_path, workflow) or "")
    assert apart_problem(tmp_path / "out", workflow) is None
    assert output_dir_problems(str(tmp_path / "out"), workflow) == []
    assert output_dir_problems(str(tmp_path), workflow)
