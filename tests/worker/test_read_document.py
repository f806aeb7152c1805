"""Reading workflow bytes (issue 11, items 5 and 6): a UTF-8 byte order mark is dropped by
every reader (the Session before a run, the worker's own read), and what Python's json
accepts but JSON forbids is refused with a message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dw_lsp.session.inputs import read_workflow
from dw_lsp.worker.executor import read_document
from dw_lsp.workflow.files import decode_workflow, load_workflow_json

VALUE = {
    "id": "bom",
    "steps": [
        {
            "name": "gen",
            "pipeline": {
                "configuration": {"component_type": "StableDiffusionPipeline"},
                "from_pretrained_arguments": {"model_name": "builtin:tiny-sd"},
                "arguments": {"prompt": "a cat"},
            },
        }
    ],
}


def test_bom_file_is_read_by_the_session_and_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(VALUE).encode("utf-8"))
    assert read_workflow(path, [tmp_path]).name == "bom"
    assert read_document(path)[1] == VALUE


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_the_worker_refuses_nan_and_infinities(tmp_path: Path, word: str) -> None:
    path = tmp_path / "flow.json"
    path.write_text('{"id": "x", "seed": ' + word + ', "steps": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_document(path)
    with pytest.raises(ValueError, match="JSON has no NaN"):
        load_workflow_json(decode_workflow(path.read_bytes()))
