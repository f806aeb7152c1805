"""The README's promises: the two-command quickstart, CI calling its test command, and the
problem-code table matching dw_lsp/validation/codes.py."""

from __future__ import annotations

import re
from pathlib import Path

from dw_lsp.validation.codes import CODES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quickstart_is_make_run_and_make_test():
    block = README.split("## Quickstart", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make run", "make test"]


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", script, re.MULTILINE)


def test_code_table_matches_codes_module():
    rows = re.findall(r"^\| (DW\d{3}) \| (\w+) \| (.+?) \|$", README, re.MULTILINE)
    assert {code: (sev, title) for code, sev, title in rows} == {
        c.code: (c.severity.label, c.title) for c in CODES.values()
    }
