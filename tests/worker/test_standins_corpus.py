"""The sample corpus smoke-run on stand-ins: every workflow in ``../shared/corpus/dw-examples``
that the worker accepts today runs end to end on this CPU through the real worker, each in
under 30 s, and each declared output exists with its type and a plausible size.

A workflow the worker refuses before any model loads (unsupported keys, model-backed task
commands, the corpus's deliberate errors) is not accepted: :data:`REFUSED` names each with
the reason the worker gives. :data:`CANNOT_RUN` names the accepted ones that still fail on
stand-ins, each with why. Both tables are exact, so a workflow that starts (or stops) running
fails the test until the table and the README say so. The counts (runs / accepted / total)
are printed in the session summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import soundfile
from dwtest_corpus import corpus_files, corpus_id, require_corpus
from dwtest_worker import WorkerProcess, corpus_counts
from PIL import Image

pytestmark = pytest.mark.slow

SECONDS = 30.0

#: Loading arguments that run code are refused unless the user sets worker.allowRemoteCode.
_REMOTE_CODE = "worker.allowRemoteCode is true"
#: Refused before anything loads: file -> what the worker's refusal says.
REFUSED: dict[str, str] = {
    "dw/workflows/augment_prompt.json": _REMOTE_CODE,  # trust_remote_code
    "dw/workflows/describe_image.json": "'image' must be a path, a URL",  # needs its caller
    "examples/Krea2Edit.json": _REMOTE_CODE,  # custom_pipeline, trust_remote_code
    "examples/flux/FluxRFInversion.json": "outside the worker's allowed modules",
    "examples/flux/FluxFill.json": "'variable:image' names no declared variable",
    "examples/flux/FluxLogo.json": _REMOTE_CODE,  # RMBG-2.0's own model code
    # Int4WeightOnlyConfig() packs with mslk's kernels (mslk-cuda: CUDA only).
    "examples/flux/FluxTorchAO.json": "torchao's Int4WeightOnlyConfig packs int4 weights with mslk",
    "examples/tasks/FaceRestore.json": "task command 'restore_faces' cannot run",
    "examples/tasks/image_processors.json": "task command 'face_detector' is not known",
    "tests/test_data/workflows/invalid_workflow.json": "the workflow has no steps",
}
#: Accepted, but a stand-in run cannot complete: file -> why (also in the README).
CANNOT_RUN: dict[str, str] = {}

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "video/mp4": ".mp4",
    "text/plain": ".txt",
    "audio/wav": ".wav",
    "audio/mp3": ".mp3",
    "audio/mpeg": ".mp3",
}


def declared_types(document: dict[str, Any]) -> set[str]:
    """The content types of the results the top-level workflow saves."""
    return {
        step["result"]["content_type"]
        for step in document.get("steps", [])
        if isinstance(step.get("result"), dict) and step["result"].get("save", True) is not False
    }


def check_output(path: Path, types: set[str]) -> None:
    assert path.is_file() and path.parent.name == "stand-in", path
    suffix = path.suffix
    content = next((t for t in types if EXTENSIONS.get(t) == suffix), None)
    assert content is not None, f"{path.name}: no declared type has the extension {suffix}"
    size = path.stat().st_size
    if content.startswith("image/"):
        with Image.open(path) as image:
            assert image.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[content]
            assert min(image.size) >= 16 and size > 100, (image.size, size)
    elif content == "video/mp4":
        assert path.read_bytes()[4:8] == b"ftyp" and size > 500
    elif content.startswith("audio/"):
        assert soundfile.info(str(path)).frames > 0
    else:
        assert size > 0


FILES = corpus_files()


@pytest.mark.parametrize("path", FILES, ids=corpus_id)
def test_every_accepted_corpus_workflow_runs_on_stand_ins(
    stand_in_worker: WorkerProcess, tmp_path: Path, path: Path
) -> None:
    require_corpus()
    name = corpus_id(path)
    out = tmp_path / "out"
    result = stand_in_worker.execute(path, out, standIns="all", timeout=120)
    counts = corpus_counts(len(FILES))
    error = result.get("error") or ""
    if name in REFUSED:
        assert result["status"] == "error", f"{name} now runs: take it out of REFUSED"
        assert REFUSED[name] in error, error
        return
    counts.accepted += 1
    if name in CANNOT_RUN:
        assert result["status"] == "error", f"{name} now runs: take it out of CANNOT_RUN"
        assert CANNOT_RUN[name] in error, error
        counts.failing.append(f"{name}: {CANNOT_RUN[name]}")
        return
    assert result["status"] == "ok", result.get("traceback") or result
    assert result["timings"]["total"] < SECONDS, result["timings"]
    types = declared_types(json.loads(path.read_text(encoding="utf-8")))
    for output in result["outputs"]:
        check_output(Path(output), types)
    if types and not all(t.startswith("text/") for t in types):
        assert result["outputs"], f"{name} declares {types} but wrote nothing"
    counts.runs += 1


def test_every_exception_is_named_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in (*REFUSED, *CANNOT_RUN) if f"`{name}`" not in readme]
    assert not missing, f"the README does not name {missing}"


def test_the_tables_name_only_corpus_files() -> None:
    require_corpus()
    known = {corpus_id(path) for path in FILES}
    assert set(REFUSED) <= known and set(CANNOT_RUN) <= known
