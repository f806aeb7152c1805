"""``dw-lsp check``: run as a user runs it, in a subprocess, on temporary files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dw_lsp.terminal.checkcmd import check_file

CLEAN = """{
  "id": "clean",
  "variables": {"text": "hello"},
  "steps": [
    {"name": "a", "task": {"command": "qr_code",
                           "arguments": {"qr_code_contents": "variable:text"}}}
  ]
}
"""
# line 5: "variable:txt" (undeclared); the emoji earlier on that line counts as one column
BROKEN = """{
  "id": "broken",
  "variables": {"text": "hello"},
  "steps": [{"name": "a", "task": {"command": "qr_code", "arguments": {
    "x": "🎨", "qr_code_contents": "variable:txt"}}}]
}
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dw_lsp", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "clean.json").write_text(CLEAN, encoding="utf-8")
    done = run("clean.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0 errors, 0 warnings in 1 file\n"


def test_errors_print_like_a_compiler_and_exit_one(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text(BROKEN, encoding="utf-8")
    done = run("broken.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    first, summary = done.stdout.splitlines()
    column = BROKEN.splitlines()[4].index('"variable:txt"') + 1
    assert first.startswith(f"broken.json:5:{column}: error DW202 Variable 'txt' is not declared")
    assert summary == "1 error, 0 warnings in 1 file"


def test_folders_are_walked_sorted_and_hidden_folders_skipped(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "z.json").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "a.json").write_text(BROKEN, encoding="utf-8")
    (tmp_path / ".hidden" / "c.json").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not json", encoding="utf-8")
    done = run(".", cwd=tmp_path)
    files = [line.split(":")[0] for line in done.stdout.splitlines()[:-1]]
    assert files == ["a.json", "b/z.json"]
    assert done.stdout.splitlines()[-1] == "2 errors, 0 warnings in 2 files"


def test_folders_pass_over_json_that_is_not_a_workflow(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "w.json").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "package.json").write_text('{"name": "x", "version": "1"}', encoding="utf-8")
    (tmp_path / "flow.json").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "no-steps.json").write_text('{"id": "x"}', encoding="utf-8")
    done = run(".", cwd=tmp_path)
    files = [line.split(":")[0] for line in done.stdout.splitlines()[:-1]]
    assert files == ["flow.json", "workflows/no-steps.json"]
    assert done.stdout.splitlines()[-1].endswith("in 2 files (1 other JSON file skipped)")
    named = run("package.json", cwd=tmp_path)  # a file named on the command line is checked
    assert "DW101" in named.stdout and named.returncode == 1


def test_json_format(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text(BROKEN, encoding="utf-8")
    done = run("--format", "json", "broken.json", cwd=tmp_path)
    assert done.returncode == 1
    (item,) = json.loads(done.stdout)
    column = BROKEN.splitlines()[4].index('"variable:txt"') + 1
    assert item == {
        "file": "broken.json",
        "line": 5,
        "column": column,
        "endLine": 5,
        "endColumn": column + len('"variable:txt"'),
        "severity": "error",
        "code": "DW202",
        "message": item["message"],
        "data": {"declare": "txt", "replacements": ["variable:text"]},
    }


def test_missing_path_exits_two_with_a_clear_message(tmp_path: Path) -> None:
    done = run("nope.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "dw-lsp check: nope.json: no such file or directory\n"


def test_non_utf8_file_gets_a_diagnostic_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes('{"id": "caf\u00e9", "steps": []}'.encode("latin-1"))
    done = run("latin1.json", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("latin1.json:1:12: error DW001 The file is not UTF-8 (byte 0xe9")


def test_array_of_workflows_is_checked_element_by_element(tmp_path: Path) -> None:
    text = "[\n" + CLEAN.strip() + ",\n" + BROKEN.strip() + "\n]\n"
    (tmp_path / "tests.json").write_text(text, encoding="utf-8")
    done = run("tests.json", cwd=tmp_path)
    assert done.returncode == 1
    first, summary = done.stdout.splitlines()
    line = text[: text.index('"variable:txt"')].count("\n") + 1
    assert first.startswith(f"tests.json:{line}:")
    assert " error DW202 " in first
    assert summary == "1 error, 0 warnings in 1 file"


def test_a_lone_surrogate_is_reported_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "lone.json").write_text('{"\\uDFAA":0}', encoding="utf-8")
    done = run("lone.json", "--format", "json", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    codes = {p["code"] for p in json.loads(done.stdout)}
    assert {"DW014", "DW101"} <= codes  # the schema check still ran


def test_fix_data_of_an_array_element_points_into_the_whole_file(tmp_path: Path) -> None:
    """In a root array of workflows, an element's fixes name paths and offsets of the whole
    file: a missing key's object gets the element's index, a prepared edit its offset."""
    element = {
        "id": "x",
        "variables": {"image": "a.png"},
        "steps": [
            {
                "name": "size",
                "task": {
                    "command": "get_image_size",
                    "arguments": {"image": {"location": "variable:image"}},
                },
                "result": {},
            }
        ],
    }
    text = json.dumps([element, element], indent=1)
    path = tmp_path / "tests.json"
    path.write_text(text, encoding="utf-8")
    problems = check_file(path).problems
    required = [p.data for p in problems if p.code == "DW101"]
    assert [d["missingKey"]["object"] for d in required if d] == [
        [0, "steps", 0, "result"],
        [1, "steps", 0, "result"],
    ]
    edits = [p.data["edit"] for p in problems if p.code == "DW227" and p.data]
    assert len(edits) == 2
    for edit in edits:
        assert json.loads(text[edit["start"] : edit["end"]]) == {"location": "variable:image"}
