"""Attacks that try to run code or write files through what a workflow names (DESIGN.md
"Security"; issue 16, hole 1): each is a workflow file run through the **real worker** (sent
straight to it, past the Session's own check, so the worker's refusal is what is tested) and
through the **checker** (what ``dw-lsp check`` and the editor show).

Every attack carries a payload that only writes a marker file under ``tmp_path``. A case
survives when the worker refuses it with a clear message that names the offending value and
the rule, before any model loads; the payload did not run; no file appeared outside the run's
output folder (the test's folder and the Hugging Face home the worker was given are compared
before and after); nothing was copied into the dynamic-modules cache; and the checker reports
an error for it. Each case is counted in the reliability tally as "attacks: code".
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dw_lsp.terminal.checkcmd import check_file
from dw_lsp.workflow.problem import Severity

pytestmark = pytest.mark.slow

SUITE = "attacks: code"
REPO = Path(__file__).resolve().parents[2]


def _harness() -> ModuleType:
    """The worker tests' JSON-RPC client for the real worker (tests/worker/dwtest_worker.py),
    loaded by path: tests/worker is on sys.path only once pytest has collected that folder."""
    spec = importlib.util.spec_from_file_location(
        "dwtest_worker", REPO / "tests" / "worker" / "dwtest_worker.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


HARNESS = _harness()


@dataclass(frozen=True)
class HfHome:
    """The Hugging Face home and dynamic-modules cache the worker was started with."""

    home: Path
    modules: Path

    def modules_files(self) -> list[Path]:
        return sorted(p for p in self.modules.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> HfHome:
    home = tmp_path_factory.mktemp("hf-home")
    return HfHome(home, home / "modules")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, hf_home: HfHome) -> Iterator[Any]:
    """One real worker for the module, with HF_HOME and HF_MODULES_CACHE pointed at a
    temporary folder, so a dynamic module copied by a loader would show up there."""
    logs = tmp_path_factory.mktemp("attack-worker")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(hf_home.home))
        patch.setenv("HF_MODULES_CACHE", str(hf_home.modules))
        patch.setenv("HF_HUB_OFFLINE", "1")
        process = HARNESS.WorkerProcess(tmp_path_factory.mktemp("models"), logs / "stderr.txt")
    try:
        reply = process.result("initialize", {"protocolVersion": "1.0"}, timeout=180)
        assert reply["protocolVersion"] == "1.0"
        yield process
    finally:
        process.close()


# --- payloads --------------------------------------------------------------------------------


def payload_source(marker: Path, extra: str = "") -> str:
    """Python that writes ``marker`` when imported: proof that the attack's code ran."""
    return (
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).parent.mkdir(parents=True, exist_ok=True)\n"
        f"pathlib.Path({str(marker)!r}).write_text('the payload ran')\n" + extra
    )


EVIL_PIPELINE = """
from diffusers import DiffusionPipeline

class Evil(DiffusionPipeline):
    def __init__(self, **components):
        super().__init__()
"""

EVIL_CONFIG = """
from transformers import PretrainedConfig

class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


@dataclass
class Attack:
    """One attack: the steps of its workflow (built from the case's folder), the fragments
    the worker's error must contain, and the codes the checker must report as errors."""

    name: str
    steps: Callable[[Path], list[dict[str, Any]]]
    refusal: tuple[str, ...]
    codes: frozenset[str]
    arguments: Callable[[Path], dict[str, Any]] | None = None
    variables: dict[str, Any] | None = None


def _marker(case: Path) -> Path:
    return case / "markers" / "ran"


def _py(case: Path, name: str, extra: str = "") -> Path:
    """``evil/<name>.py`` in the case folder, with the payload."""
    path = case / "evil" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(payload_source(_marker(case), extra))
    return path


def _pipeline(component_type: str, loading: dict[str, Any], **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "configuration": {"component_type": component_type},
        "from_pretrained_arguments": loading,
        "arguments": {},
    }
    body.update(more)
    return {"name": "attack", "pipeline": body}


def _tiny(**more: Any) -> dict[str, Any]:
    """The tiny pipeline, so that an attack hides beside an ordinary load."""
    step = _pipeline(
        "StableDiffusionPipeline",
        {"model_name": "builtin:tiny-sd", "torch_dtype": "torch.float32"},
        **more,
    )
    step["name"] = "generate"
    step["pipeline"]["arguments"] = {"prompt": "a fox", "num_inference_steps": 1}
    step["result"] = {"content_type": "image/png"}
    return step


def diffusers_dynamic_module(case: Path) -> list[dict[str, Any]]:
    _py(case, "evil", EVIL_PIPELINE)
    return [
        _pipeline(
            "diffusers.utils.dynamic_modules_utils.get_class_from_dynamic_module",
            {
                "pretrained_model_name_or_path": str(case / "evil"),
                "module_file": "evil.py",
                "class_name": "Evil",
                "trust_remote_code": True,
            },
        )
    ]


def diffusers_cached_module_file(case: Path) -> list[dict[str, Any]]:
    _py(case, "evil")
    return [
        _pipeline(
            "diffusers.utils.dynamic_modules_utils.get_cached_module_file",
            {"pretrained_model_name_or_path": str(case / "evil"), "module_file": "evil.py"},
        )
    ]


def transformers_dynamic_module(case: Path) -> list[dict[str, Any]]:
    _py(case, "evil", EVIL_CONFIG)
    return [
        _pipeline(
            "transformers.dynamic_module_utils.get_class_from_dynamic_module",
            {
                "class_reference": "evil.EvilConfig",
                "pretrained_model_name_or_path": str(case / "evil"),
            },
        )
    ]


def custom_pipeline_local_file(case: Path) -> list[dict[str, Any]]:
    path = _py(case, "evil_pipeline", EVIL_PIPELINE)
    return [
        _pipeline(
            "DiffusionPipeline",
            {
                "model_name": "builtin:tiny-sd",
                "custom_pipeline": str(path),
                "trust_remote_code": True,
            },
        )
    ]


def custom_pipeline_alone(case: Path) -> list[dict[str, Any]]:
    path = _py(case, "evil_pipeline", EVIL_PIPELINE)
    return [
        _pipeline(
            "DiffusionPipeline", {"model_name": "builtin:tiny-sd", "custom_pipeline": str(path)}
        )
    ]


def model_folder_with_code(case: Path) -> list[dict[str, Any]]:
    _py(case, "evil_model", EVIL_PIPELINE)
    folder = case / "evil"
    index = {"_class_name": ["evil_model", "Evil"], "_diffusers_version": "0.42.1"}
    (folder / "model_index.json").write_text(json.dumps(index))
    return [_pipeline("DiffusionPipeline", {"model_name": str(folder), "trust_remote_code": True})]


def _auto_map_folder(case: Path) -> Path:
    _py(case, "evilcfg", EVIL_CONFIG)
    folder = case / "evil"
    config = {
        "model_type": "evil",
        "auto_map": {"AutoConfig": "evilcfg.EvilConfig", "AutoModel": "evilcfg.EvilConfig"},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def transformers_auto_config(case: Path) -> list[dict[str, Any]]:
    folder = _auto_map_folder(case)
    return [
        _pipeline("transformers.AutoConfig", {"model_name": str(folder), "trust_remote_code": True})
    ]


def transformers_auto_model_component(case: Path) -> list[dict[str, Any]]:
    folder = _auto_map_folder(case)
    encoder = {
        "configuration": {"component_type": "transformers.AutoModel"},
        "from_pretrained_arguments": {"model_name": str(folder), "trust_remote_code": True},
    }
    return [_tiny(text_encoder=encoder)]


def transformers_pipeline_remote_code(case: Path) -> list[dict[str, Any]]:
    folder = _auto_map_folder(case)
    return [
        _pipeline(
            "transformers.pipeline",
            {"task": "feature-extraction", "model": str(folder), "trust_remote_code": True},
        )
    ]


def trust_remote_code_from_a_variable(case: Path) -> list[dict[str, Any]]:
    _py(case, "evil_pipeline", EVIL_PIPELINE)
    return [
        _pipeline(
            "DiffusionPipeline",
            {
                "model_name": "builtin:tiny-sd",
                "custom_pipeline": "variable:pipeline_code",
                "trust_remote_code": "variable:trust",
            },
        )
    ]


def caller_switches_remote_code_on(case: Path) -> dict[str, Any]:
    return {"trust": "true", "pipeline_code": str(case / "evil" / "evil_pipeline.py")}


def numpy_memmap(case: Path) -> list[dict[str, Any]]:
    return [
        _pipeline(
            "numpy.memmap",
            {"filename": str(case / "markers" / "anywhere.bin"), "mode": "w+", "shape": [16]},
        )
    ]


def numpy_memmap_in_arguments(case: Path) -> list[dict[str, Any]]:
    """An object description (FORMAT.md 1.9.3) in a later step's arguments: realized only
    when that step runs, after the first step has loaded its model."""
    second = _tiny()
    second["name"] = "second"
    second["pipeline"]["arguments"]["latents"] = {
        "memmap_type": "numpy.memmap",
        "from_arguments": {
            "filename": str(case / "markers" / "late.bin"),
            "mode": "w+",
            "shape": [4],
        },
    }
    return [_tiny(), second]


def numpy_load(case: Path) -> list[dict[str, Any]]:
    target = case / "data.npy"
    target.write_bytes(b"\x93NUMPY")
    return [_pipeline("numpy.load", {"file": str(target), "allow_pickle": True})]


def pil_open(case: Path) -> list[dict[str, Any]]:
    return [_pipeline("PIL.Image.open", {"fp": str(case / "missing.png")})]


def diffusers_utils_function(case: Path) -> list[dict[str, Any]]:
    return [
        _pipeline(
            "diffusers.utils.export_to_video",
            {"video_frames": [], "output_video_path": str(case / "markers" / "video.mp4")},
        )
    ]


def module_name(case: Path) -> list[dict[str, Any]]:
    return [_pipeline("transformers.dynamic_module_utils", {})]


def python_file_argument(case: Path) -> list[dict[str, Any]]:
    path = _py(case, "evil")
    scheduler = {
        "configuration": {"scheduler_type": "DDIMScheduler"},
        "from_config_args": {"timestep_spacing": "leading", "config_file": str(path)},
    }
    return [_tiny(scheduler=scheduler)]


def lora_with_remote_code(case: Path) -> list[dict[str, Any]]:
    path = _py(case, "evil")
    lora = {"model_name": "builtin:tiny-lora", "module_file": str(path)}
    return [_tiny(loras=[lora])]


def quantization_config_remote_code(case: Path) -> list[dict[str, Any]]:
    unet = {
        "configuration": {"component_type": "UNet2DConditionModel"},
        "from_pretrained_arguments": {"model_name": "builtin:tiny-sd", "subfolder": "unet"},
        "quantization_config": {
            "configuration": {"config_type": "BitsAndBytesConfig"},
            "arguments": {"load_in_8bit": True, "trust_remote_code": True},
        },
    }
    return [_tiny(unet=unet)]


def sub_workflow_attack(case: Path) -> list[dict[str, Any]]:
    child = {"id": "child", "steps": numpy_memmap(case)}
    (case / "child.json").write_text(json.dumps(child))
    return [_tiny(), {"name": "call", "workflow": {"path": "child.json"}}]


ATTACKS = [
    Attack(
        "diffusers dynamic module function",
        diffusers_dynamic_module,
        ("get_class_from_dynamic_module", "utils"),
        frozenset({"DW305", "DW306"}),
    ),
    Attack(
        "diffusers get_cached_module_file (copies the .py)",
        diffusers_cached_module_file,
        ("get_cached_module_file", "utils"),
        frozenset({"DW305", "DW306"}),
    ),
    Attack(
        "transformers dynamic module function",
        transformers_dynamic_module,
        ("get_class_from_dynamic_module", "function"),
        frozenset({"DW305"}),
    ),
    Attack(
        "custom_pipeline naming a local .py",
        custom_pipeline_local_file,
        ("custom_pipeline", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "custom_pipeline without trust_remote_code",
        custom_pipeline_alone,
        ("custom_pipeline", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "a model folder whose model_index names a .py",
        model_folder_with_code,
        ("trust_remote_code", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "transformers.AutoConfig with trust_remote_code",
        transformers_auto_config,
        ("transformers.AutoConfig",),
        frozenset({"DW305", "DW306"}),
    ),
    Attack(
        "transformers.AutoModel component with trust_remote_code",
        transformers_auto_model_component,
        ("trust_remote_code", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "transformers.pipeline with trust_remote_code",
        transformers_pipeline_remote_code,
        ("trust_remote_code", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "trust_remote_code and custom_pipeline set by a caller",
        trust_remote_code_from_a_variable,
        ("trust_remote_code", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
        arguments=caller_switches_remote_code_on,
        variables={"trust": False, "pipeline_code": ""},
    ),
    Attack(
        "numpy.memmap writing a file",
        numpy_memmap,
        ("numpy.memmap",),
        frozenset({"DW305"}),
    ),
    Attack(
        "numpy.memmap in a later step's arguments",
        numpy_memmap_in_arguments,
        ("numpy.memmap",),
        frozenset({"DW305"}),
    ),
    Attack("numpy.load with allow_pickle", numpy_load, ("numpy.load",), frozenset({"DW305"})),
    Attack("PIL.Image.open", pil_open, ("PIL.Image.open",), frozenset({"DW305"})),
    Attack(
        "a function under diffusers.utils",
        diffusers_utils_function,
        ("diffusers.utils.export_to_video", "utils"),
        frozenset({"DW305"}),
    ),
    Attack(
        "a module as a type",
        module_name,
        ("transformers.dynamic_module_utils", "is a module"),
        frozenset({"DW305"}),
    ),
    Attack(
        "a .py file in a scheduler's from_config_args",
        python_file_argument,
        ("config_file", ".py", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "module_file on a LoRA",
        lora_with_remote_code,
        ("module_file", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "trust_remote_code in a quantization config",
        quantization_config_remote_code,
        ("trust_remote_code", "worker.allowRemoteCode"),
        frozenset({"DW306"}),
    ),
    Attack(
        "numpy.memmap in a sub-workflow after a model step",
        sub_workflow_attack,
        ("numpy.memmap",),
        frozenset({"DW209"}),
    ),
]


# --- the checks ------------------------------------------------------------------------------


def _files(*roots: Path, skip: Path | None = None) -> set[Path]:
    found: set[Path] = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                if skip is None or not path.is_relative_to(skip):
                    found.add(path)
    return found


def _load_events(worker: Any, run_id: str) -> list[dict[str, Any]]:
    return [
        n
        for n in worker.notifications
        if n.get("method") == "progress"
        and (n.get("params") or {}).get("runId") == run_id
        and (n.get("params") or {}).get("phase") == "load"
    ]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_refused_by_the_worker_and_flagged_by_the_checker(
    attack: Attack, worker: Any, hf_home: HfHome, tmp_path: Path, tally: Any
) -> None:
    tally.tried(SUITE)
    try:
        _attack_case(attack, worker, hf_home, tmp_path)
    except AssertionError as exc:
        tally.lost(SUITE, f"{attack.name}: {str(exc).splitlines()[0][:160]}")
        raise
    tally.survived(SUITE)


def _attack_case(attack: Attack, worker: Any, hf_home: HfHome, tmp_path: Path) -> None:
    case = tmp_path / "case"
    (case / "markers").mkdir(parents=True)
    out = tmp_path / "out"
    top: dict[str, Any] = {"seed": 1}
    if attack.variables is not None:
        top["variables"] = attack.variables
    workflow = HARNESS.write_workflow(case / "attack.json", attack.steps(case), **top)
    before = _files(tmp_path, hf_home.home)
    modules_before = hf_home.modules_files()

    arguments = attack.arguments(case) if attack.arguments is not None else None
    params = HARNESS.execute_params(workflow, out, arguments)
    result = worker.result("execute", params, timeout=120)

    error = str(result.get("error") or "")
    assert not _marker(case).exists(), f"the payload ran: {result['status']} {error[:200]}"
    written = _files(tmp_path, hf_home.home, skip=out) - before
    assert written == set(), f"files written outside the output folder: {sorted(written)}"
    assert hf_home.modules_files() == modules_before, "a module was copied into the cache"
    assert result["status"] == "error", f"the worker ran it: {result}"
    for fragment in attack.refusal:
        assert fragment in error, f"the refusal does not say {fragment!r}: {error}"
    assert result["cache"]["loaded"] == [], f"a model loaded first: {result['cache']}"
    assert _load_events(worker, params["runId"]) == [], "a load began before the refusal"
    assert not out.exists() or not any(out.iterdir()), "the refused run wrote outputs"

    checked = check_file(workflow)
    errors = {p.code for p in checked.problems if p.severity is Severity.ERROR}
    messages = [p.message for p in checked.problems]
    assert attack.codes <= errors, f"the checker reports {sorted(errors)}: {messages}"


def test_the_worker_still_runs_an_ordinary_workflow(
    worker: Any, hf_home: HfHome, tmp_path: Path
) -> None:
    """The control: the same worker runs the tiny pipeline (with trust_remote_code false)."""
    step = _tiny()
    step["pipeline"]["from_pretrained_arguments"]["trust_remote_code"] = False
    workflow = HARNESS.write_workflow(tmp_path / "ok.json", [step], seed=1)
    modules_before = hf_home.modules_files()
    result = worker.result("execute", HARNESS.execute_params(workflow, tmp_path / "out"), 180)
    assert result["status"] == "ok", result
    assert [Path(p).suffix for p in result["outputs"]] == [".png"]
    assert hf_home.modules_files() == modules_before
    errors = [p for p in check_file(workflow).problems if p.severity is Severity.ERROR]
    assert errors == []


def test_the_user_setting_lets_remote_code_arguments_through(
    worker: Any, hf_home: HfHome, tmp_path: Path
) -> None:
    """``allowRemoteCode`` (the user-level ``worker.allowRemoteCode``) is what refusals name:
    with it, the same worker runs a workflow that passes ``trust_remote_code`` (to a model
    that ships no code), and the checker stops reporting it."""
    step = _tiny()
    step["pipeline"]["from_pretrained_arguments"]["trust_remote_code"] = True
    workflow = HARNESS.write_workflow(tmp_path / "trusting.json", [step], seed=1)
    refused = worker.result("execute", HARNESS.execute_params(workflow, tmp_path / "out"), 180)
    assert refused["status"] == "error" and "worker.allowRemoteCode" in refused["error"]
    params = HARNESS.execute_params(workflow, tmp_path / "out", allowRemoteCode=True)
    allowed = worker.result("execute", params, 180)
    assert allowed["status"] == "ok", allowed
    codes = {p.code for p in check_file(workflow, allow_remote_code=True).problems}
    assert "DW306" not in codes and "DW306" in {p.code for p in check_file(workflow).problems}
