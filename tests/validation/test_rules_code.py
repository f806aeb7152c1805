"""DW306 (loading arguments that run code) and DW305 in the whole check: exact ranges, the
setting that silences DW306, variables, sub-workflows, and ``dw-lsp check``'s flag."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dw_lsp.validation.check import check_text
from dw_lsp.validation.context import CheckContext
from dw_lsp.workflow.problem import Severity


def workflow(loading: dict[str, Any], variables: dict[str, Any] | None = None, **more: Any) -> str:
    pipeline: dict[str, Any] = {
        "configuration": {"component_type": "DiffusionPipeline"},
        "from_pretrained_arguments": {"model_name": "org/model", **loading},
        "arguments": {"prompt": "main.py", "num_inference_steps": 2},
        **more,
    }
    doc: dict[str, Any] = {"id": "w"}
    if variables is not None:
        doc["variables"] = variables
    doc["steps"] = [{"name": "gen", "pipeline": pipeline}]
    return json.dumps(doc, indent=1)


def found(text: str, ctx: CheckContext | None = None) -> list[tuple[str, str]]:
    doc, problems = check_text(text, ctx)
    return [(p.code, doc.text[p.start : p.end]) for p in problems if p.code in ("DW305", "DW306")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (workflow({"trust_remote_code": True}), [("DW306", "true")]),
        (workflow({"trust_remote_code": False}), []),
        (
            workflow({"custom_pipeline": "lpw_stable_diffusion"}),
            [("DW306", '"lpw_stable_diffusion"')],
        ),
        (
            workflow({"custom_revision": "main", "module_file": "m"}),
            [("DW306", '"main"'), ("DW306", '"m"')],
        ),
        (workflow({"config": "./evil.py"}), [("DW306", '"./evil.py"')]),
        (
            workflow(
                {},
                scheduler={
                    "configuration": {"scheduler_type": "DDIMScheduler"},
                    "from_config_args": {"f": "x.py"},
                },
            ),
            [("DW306", '"x.py"')],
        ),
        (workflow({}, loras=[{"model_name": "l", "module_file": "m.py"}]), [("DW306", '"m.py"')]),
        (
            workflow({"trust_remote_code": "variable:trust"}, variables={"trust": False}),
            [("DW306", '"variable:trust"')],
        ),
        (
            workflow({"subfolder": "variable:f"}, variables={"f": "evil.py"}),
            [("DW306", '"variable:f"')],
        ),
        (workflow({"subfolder": "variable:f"}, variables={"f": "unet"}), []),
        (
            workflow({"trust_remote_code": True}, configuration={"component_type": "numpy.memmap"}),
            [("DW305", '"numpy.memmap"'), ("DW306", "true")],
        ),
    ],
)
def test_code_arguments(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_severity_message_and_data() -> None:
    _doc, problems = check_text(workflow({"trust_remote_code": True}))
    (problem,) = [p for p in problems if p.code == "DW306"]
    assert problem.severity is Severity.ERROR
    assert "worker.allowRemoteCode" in problem.message and "trust_remote_code" in problem.message
    assert problem.data == {"setting": "worker.allowRemoteCode", "argument": "trust_remote_code"}


def test_the_setting_silences_code_arguments_but_not_names() -> None:
    text = workflow({"trust_remote_code": True}, configuration={"component_type": "numpy.load"})
    assert found(text, CheckContext(allow_remote_code=True)) == [("DW305", '"numpy.load"')]


def test_a_child_with_code_arguments_fails_its_parent(tmp_path: Path) -> None:
    (tmp_path / "child.json").write_text(workflow({"trust_remote_code": True}))
    parent = {"id": "p", "steps": [{"name": "c", "workflow": {"path": "child.json"}}]}
    text = json.dumps(parent)
    _doc, problems = check_text(text, CheckContext(path=tmp_path / "parent.json"))
    (child,) = [p for p in problems if p.code == "DW209"]
    assert "DW306" in child.message
    allowed = CheckContext(path=tmp_path / "parent.json", allow_remote_code=True)
    assert [p for p in check_text(text, allowed)[1] if p.code == "DW209"] == []


def test_check_command_reports_and_the_flag_allows(tmp_path: Path) -> None:
    (tmp_path / "w.json").write_text(workflow({"custom_pipeline": "c"}))

    def check(*flags: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "dw_lsp", "check", *flags, str(tmp_path / "w.json")]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    refused = check()
    assert refused.returncode == 1
    assert "error DW306" in refused.stdout and "worker.allowRemoteCode" in refused.stdout
    allowed = check("--allow-remote-code")
    assert allowed.returncode == 0 and "DW306" not in allowed.stdout
