"""Path attacks (suite "attacks: paths"): every key a workflow or a setting uses to name a
file, each given ``..``, an absolute path out of the folder, a symlink out of the folder, a
``file://`` URL and each kind of control character (C0, DEL, C1, a bidi override).

Each case runs twice with the real worker: through the Session (the checker, then the
worker) and straight to the worker (``execute`` with no checker in front), so the worker's
own defences are shown too. An attack must be refused with a message, and nothing may be
written outside the output directory, nor any file changed that existed before; a refused
run writes nothing at all. For output names, the symlink case is a link planted in the output
directory under the very name the run's result gets: the run may succeed, but must write
beside the link, never through it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from files_kit import damage, snapshot
from PIL import Image

from dw_lsp.protocol import ExecuteParams
from dw_lsp.session import Session
from dw_lsp.session.client import WorkerClient
from dw_lsp.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SUITE = "attacks: paths"
REFERENCE = "diffusers.modular_pipelines.minimax_h3.MiniMaxH3ImageReference"
CONTROLS = {"C0": "\x1b", "DEL": "\x7f", "C1": "\x9b", "bidi": "\u202e"}
ATTACKS = ["..", "absolute", "symlink", "file-url", *(f"control-{k}" for k in CONTROLS)]
KEYS = [
    "media location",
    "from_file",
    "gather_images glob",
    "workflow path",
    "id",
    "step name",
    "file_base_name",
    "outputDir",
]
NAME_KEYS = ("id", "step name", "file_base_name")
_numbers = itertools.count()


@dataclass
class Layout:
    """``root/ws`` is the workflow folder (with ``out`` in it), ``root/outside`` the rest of
    the disk an attack aims at."""

    root: Path
    ws: Path
    out: Path
    outside: Path


def _save_step(name: str = "save", base: str = "") -> dict[str, Any]:
    result: dict[str, Any] = {"content_type": "application/json"}
    if base:
        result["file_base_name"] = base
    return {
        "name": name,
        "task": {"command": "gather_inputs", "arguments": {"text": "hello"}},
        "result": result,
    }


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (9, 9, 9)).save(path)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    root = tmp_path_factory.mktemp("paths")
    ws, outside = root / "ws", root / "outside"
    out = ws / "out"
    out.mkdir(parents=True)
    _png(outside / "secret.png")
    _png(outside / "pics" / "b.png")
    (outside / "evil.json").write_text(json.dumps({"id": "evil", "steps": [_save_step()]}))
    (outside / "victim.json").write_text('"a file outside that no run may touch"\n')
    _png(ws / "in.png")
    _png(ws / "pics" / "a.png")
    (ws / "child.json").write_text(json.dumps({"id": "child", "steps": [_save_step()]}))
    (ws / "link_file.png").symlink_to(outside / "secret.png")
    (ws / "link_out").symlink_to(outside)
    (root / "ws_link").symlink_to(ws)
    for char in CONTROLS.values():  # real files, so only the rule can refuse them
        _png(ws / f"in{char}.png")
        _png(ws / f"pics{char}" / "a.png")
        shutil.copy(ws / "child.json", ws / f"child{char}.json")
    return Layout(root, ws, out, outside)


def _value(key: str, attack: str, lay: Layout) -> str:
    """The attacking value of ``key`` (``benign`` gives a value that must work)."""
    char = CONTROLS.get(attack.removeprefix("control-"), "")
    if key in ("media location", "from_file"):
        target = lay.outside / "secret.png"
        table = {"benign": "in.png", "..": "../outside/secret.png", "symlink": "link_file.png"}
        stem, suffix = "in", ".png"
    elif key == "gather_images glob":
        target = lay.outside / "pics"
        table = {"benign": "pics/*.png", "..": "../outside/pics/*.png"}
        table["symlink"] = "link_out/pics/*.png"
        if attack in ("absolute", "file-url"):
            where = str(target) if attack == "absolute" else target.as_uri()
            return where + "/*.png"
        return table.get(attack) or f"pics{char}/*.png"
    elif key == "workflow path":
        target = lay.outside / "evil.json"
        table = {"benign": "child.json", "..": "../outside/evil.json"}
        table["symlink"] = "link_out/evil.json"
        stem, suffix = "child", ".json"
    elif key == "outputDir":
        table = {"benign": str(lay.out), "..": "..", "absolute": str(lay.ws)}
        table["symlink"] = str(lay.root / "ws_link")
        table["file-url"] = lay.out.as_uri()
        return table.get(attack) or str(lay.ws / f"out{char}")
    else:  # output names
        table = {"benign": "fine", "..": "../escape", "symlink": "fine"}
        table["absolute"] = str(lay.outside / "escape")
        table["file-url"] = (lay.outside / "escape").as_uri()
        return table.get(attack) or f"a{char}b"
    if attack == "absolute":
        return str(target)
    if attack == "file-url":
        return target.as_uri()
    return table.get(attack) or f"{stem}{char}{suffix}"


@dataclass
class Case:
    workflow: Path
    output_dir: str  # as the user would set it (relative to the workflow folder)
    planted: Path | None  # a link planted under the result's name


def _case(key: str, attack: str, lay: Layout) -> Case:
    """Write the case's workflow file and plant what it needs."""
    number = next(_numbers)
    value = _value(key, attack, lay)
    flow_id, step_name, base = f"c{number}", "save", ""
    steps: list[dict[str, Any]] = []
    if key == "media location":
        probe = {"command": "get_image_size", "arguments": {"image": {"location": value}}}
        steps.append({"name": "probe", "task": probe})
    elif key == "from_file":
        ref = {"reference_type": REFERENCE, "from_file": value}
        steps.append(
            {"name": "probe", "task": {"command": "gather_inputs", "arguments": {"ref": ref}}}
        )
    elif key == "gather_images glob":
        steps.append(
            {
                "name": "probe",
                "task": {"command": "gather_images", "arguments": {"glob": value}},
                "result": {"content_type": "image/png"},
            }
        )
    elif key == "workflow path":
        steps.append({"name": "probe", "workflow": {"path": value}})
    elif key == "id":
        flow_id = value if attack != "symlink" else f"c{number}sym"
    elif key == "step name":
        step_name = value if attack != "symlink" else f"s{number}"
    elif key == "file_base_name":
        base = value if attack != "symlink" else f"b{number}"
    steps.append(_save_step(step_name, base))
    workflow = lay.ws / f"flow{number}.json"
    workflow.write_text(json.dumps({"id": flow_id, "steps": steps}, indent=2), encoding="utf-8")
    planted = None
    if key in NAME_KEYS and attack == "symlink":
        planted = lay.out / f"{base}{flow_id}-{step_name}.{len(steps) - 1}-0.json"
        planted.symlink_to(lay.outside / "victim.json")
    output_dir = _value(key, attack, lay) if key == "outputDir" else str(lay.out)
    return Case(workflow, output_dir, planted)


Runner = Callable[[Case], Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(
    layout: Layout, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Session]:
    env = {**os.environ, "DW_LSP_CACHE_DIR": str(tmp_path_factory.mktemp("path-models"))}

    def factory(settings: Settings, log: Any) -> WorkerClient:
        return WorkerClient(settings.worker_command, log=log, env=env, start_timeout=120)

    made = Session(
        Settings(output_dir=str(layout.out), worker_prewarm=False, run_timeout=60),
        roots=[layout.ws],
        base_dir=layout.ws,
        client_factory=factory,
    )
    yield made
    await made.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WorkerClient]:
    env = {**os.environ, "DW_LSP_CACHE_DIR": str(tmp_path_factory.mktemp("path-models"))}
    client = WorkerClient([sys.executable, "-m", "dw_lsp.worker"], env=env, start_timeout=120)
    yield client
    await client.stop()


async def _through_session(session: Session, case: Case, lay: Layout) -> tuple[str, str]:
    """(status, error) of the run through the Session, with ``outputDir`` as the case says."""
    try:
        session.configure("outputDir", case.output_dir)
    except Exception as exc:  # an output dir refused as a setting is a refusal too
        return "error", f"outputDir refused: {exc}"
    try:
        report = await session.run(None, case.workflow)
    finally:
        session.configure("outputDir", str(lay.out))
    return report.status, report.error or ""


async def _straight_to_worker(worker: WorkerClient, case: Case, lay: Layout) -> tuple[str, str]:
    """(status, error) of ``execute`` sent to the worker with no checker in front; a relative
    ``outputDir`` is made absolute against the workflow folder, as the Session does."""
    out = case.output_dir
    if not out.startswith("file:"):
        out = os.path.normpath(os.path.join(lay.ws, out))
    params = ExecuteParams(workflowPath=str(case.workflow), outputDir=out, runId="attack")
    result = await worker.execute(params, None, 60.0)
    return result.status, result.error or ""


def _judge(
    tally: Any,
    label: str,
    key: str,
    attack: str,
    lay: Layout,
    outcome: tuple[str, str],
    before: Any,
) -> None:
    status, error = outcome
    found = damage(before, snapshot(lay.root), lay.out)
    problems = list(found.problems)
    tolerated = key in NAME_KEYS and attack == "symlink"  # a benign name; the link is the attack
    if not tolerated and (status != "error" or not error.strip()):
        problems.append(f"not refused: {status} {error[:200]}")
    if status == "error" and found.created:
        problems.append(f"a refused run wrote {[p.name for p in found.created]}")
    tally.tried(SUITE)
    if problems:
        tally.lost(SUITE, f"{label} {key} x {attack!r}: {'; '.join(problems)}")
        pytest.fail(f"{label}: {key} x {attack}: " + "\n".join(problems))
    tally.survived(SUITE)


@pytest.mark.parametrize("key", KEYS)
async def test_the_benign_value_of_each_key_runs(
    key: str, layout: Layout, session: Session, worker: WorkerClient
) -> None:
    """The templates are sound: with a harmless value each case runs (so a refusal below is
    the attack's doing)."""
    case = _case(key, "benign", layout)
    status, error = await _through_session(session, case, layout)
    assert status == "ok", error
    status, error = await _straight_to_worker(worker, case, layout)
    assert status == "ok", error


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.parametrize("key", KEYS)
async def test_a_path_attack_is_refused_and_writes_nothing_outside(
    key: str, attack: str, layout: Layout, session: Session, worker: WorkerClient, tally: Any
) -> None:
    case = _case(key, attack, layout)
    before = snapshot(layout.root)
    outcome = await _through_session(session, case, layout)
    _judge(tally, "session", key, attack, layout, outcome, before)
    case = _case(key, attack, layout)
    before = snapshot(layout.root)
    outcome = await _straight_to_worker(worker, case, layout)
    _judge(tally, "worker", key, attack, layout, outcome, before)
