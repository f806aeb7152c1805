"""The runtime hosted in-process (the body of a Ray actor), without Ray: a run streams its
progress and then its result as plain JSON data, the planned load keys are the keys the
run put in the cache, and outputs can travel back as bytes."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dw_lsp import protocol
from dw_lsp.protocol import Progress
from dw_lsp.session.actor_channel import (
    Finished,
    check_info,
    check_keys,
    check_memory,
    check_snapshot,
    read_item,
)
from dw_lsp.worker.actor import RuntimeHost

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "workflows" / "tiny-sd.json"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeHost]:
    patch = pytest.MonkeyPatch()
    patch.setenv("DW_LSP_CACHE_DIR", str(tmp_path_factory.mktemp("models")))
    patch.setenv("HF_HUB_OFFLINE", "1")
    logger = logging.getLogger("dw_lsp")  # the host sets up an actor's logging: put it back
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield RuntimeHost(log_level="WARNING")  # threads: left as they are in this process
    logger.handlers[:], logger.propagate, logger.level = saved
    patch.undo()


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wf") / "tiny-sd.json"
    shutil.copy(TINY, path)
    return path


def _params(workflow: Path, out: Path, **arguments: Any) -> dict[str, Any]:
    return {
        "workflowPath": str(workflow),
        "outputDir": str(out),
        "arguments": {"steps": 2, **arguments},
        "runId": "r1",
    }


def test_a_run_streams_plain_progress_then_its_result(
    host: RuntimeHost, workflow: Path, tmp_path: Path
) -> None:
    params = _params(workflow, tmp_path)
    planned = host.load_keys(params)
    items = list(host.execute(params))
    *progress, last = items
    assert [
        i["progress"]["denoiseStep"] for i in progress if i["progress"]["phase"] == "denoise"
    ] == [1, 2]
    assert last["result"]["status"] == "ok" and last["poisoned"] is False
    assert Path(last["result"]["outputs"][0]).is_file()
    assert all(json.loads(json.dumps(item)) == item for item in items)  # plain data only
    assert json.loads(json.dumps(host.info())) == host.info()
    assert len(planned) == 1 and last["worker"]["keys"] == planned
    assert last["worker"]["pipelines"] == ["generate@tiny-sd.json"]
    assert host.load_keys(_params(workflow, tmp_path, prompt="another")) == planned
    assert host.load_keys({**params, "workflowPath": str(tmp_path / "missing.json")}) == []


def test_what_the_host_says_passes_the_sessions_checks(
    host: RuntimeHost, workflow: Path, tmp_path: Path
) -> None:
    """The two halves of the actor channel agree: everything the host sends is accepted by
    the checks the pool applies (dw_lsp.session.actor_channel), shipped files included."""
    info = check_info(host.info())
    assert info.pid > 0 and info.protocolVersion == protocol.PROTOCOL_VERSION
    items = [read_item(item) for item in host.execute(_params(workflow, tmp_path), True)]
    *progress, finished = items
    assert progress and all(isinstance(p, Progress) for p in progress)
    assert isinstance(finished, Finished) and finished.result.status == "ok"
    assert finished.files and finished.files[0].data.startswith(b"\x89PNG")
    assert finished.snapshot is not None and finished.snapshot.memory is not None
    assert check_snapshot(host.snapshot()).keys == finished.snapshot.keys
    assert check_keys(host.load_keys(_params(workflow, tmp_path))) == finished.snapshot.keys
    assert check_memory(host.clear_memory()).runs >= 1


def test_outputs_can_travel_back_as_bytes(
    host: RuntimeHost, workflow: Path, tmp_path: Path
) -> None:
    out = tmp_path / "never-written"
    *_, last = host.execute(_params(workflow, out), ship_outputs=True)
    assert not out.exists()
    (name,) = last["result"]["outputs"]
    (shipped,) = last["files"]
    assert shipped["name"] == name and not Path(name).is_absolute()
    assert shipped["data"].startswith(b"\x89PNG")


def test_the_host_applies_the_local_workers_rules(
    host: RuntimeHost, workflow: Path, tmp_path: Path
) -> None:
    """An actor runs the same runtime, so the rules that travel with each run hold there too:
    a code-loading argument is refused before anything loads unless allowRemoteCode, and an
    output directory that holds the workflow is refused."""
    data = json.loads(workflow.read_text(encoding="utf-8"))
    data["steps"][0]["pipeline"]["from_pretrained_arguments"]["trust_remote_code"] = True
    remote = tmp_path / "flows" / "remote.json"
    remote.parent.mkdir()
    remote.write_text(json.dumps(data), encoding="utf-8")
    params = _params(remote, tmp_path / "out")
    *_, refused = host.execute(params)
    assert refused["result"]["status"] == "error"
    assert "trust_remote_code" in refused["result"]["error"], refused["result"]["error"]
    *_, allowed = host.execute({**params, "allowRemoteCode": True})
    assert "trust_remote_code" not in (allowed["result"]["error"] or "")
    *_, apart = host.execute(_params(workflow, workflow.parent))
    assert apart["result"]["status"] == "error" and not apart["result"]["outputs"]
