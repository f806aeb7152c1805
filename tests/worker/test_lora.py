"""LoRAs (FORMAT.md 1.4.5): the tiny built-in LoRAs, the checks made before any weights load,
and real runs through the worker: a LoRA changes the image, editing a LoRA reloads exactly
that pipeline, editing a prompt reloads nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dwtest_worker import WorkerProcess, cache_of, ok, tiny_ddpm_step, tiny_sd_step, write_workflow
from PIL import Image

from dw_lsp.worker import support
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import tiny

pytest.importorskip("peft")
pytestmark = pytest.mark.slow

#: Local LoRA paths resolve against the workflow's folder once the step runner passes it on.


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def pixels(result: dict[str, Any], step: str) -> np.ndarray:
    [path] = [p for p in ok(result)["outputs"] if f"-{step}." in Path(p).name]
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).copy()


def lora(name: str = "builtin:tiny-lora", **extra: Any) -> dict[str, Any]:
    return {"model_name": name, **extra}


# -- the tiny LoRAs --------------------------------------------------------------------------


def test_the_tiny_loras_are_deterministic_distinct_and_materialised_once(tmp_path: Path) -> None:
    first = tiny.materialize("tiny-lora", tmp_path / "a")
    again = tiny.materialize("tiny-lora", tmp_path / "b")
    other = tiny.materialize("tiny-lora-b", tmp_path / "a")
    weights = first / tiny.LORA_WEIGHT_NAME
    assert first.name == f"tiny-lora-{tiny.VERSION}"
    assert weights.read_bytes() == (again / tiny.LORA_WEIGHT_NAME).read_bytes()
    assert weights.read_bytes() != (other / tiny.LORA_WEIGHT_NAME).read_bytes()
    assert weights.stat().st_size < 200_000
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [first.name, other.name]
    assert tiny.materialize("tiny-lora", tmp_path / "a") == first
    assert tiny.resolve_model_name("builtin:tiny-lora-b", tmp_path / "a") == str(other)
    assert tiny.is_builtin_lora("builtin:tiny-lora") and not tiny.is_builtin_lora("builtin:tiny-sd")


def test_a_builtin_lora_is_not_a_pipeline_and_a_pipeline_is_not_a_lora() -> None:
    from diffusers import StableDiffusionPipeline

    with pytest.raises(loading.LoadError, match=r"is a LoRA; name it in pipeline\.loras"):
        loading.construct(StableDiffusionPipeline, {"model_name": "builtin:tiny-lora"}, "pipe")
    with pytest.raises(loading.LoadError, match="is not a LoRA"):
        loading.plan_loras([lora("builtin:tiny-sd")], None)


# -- checks before any weights load ----------------------------------------------------------


def test_sources_resolve_relative_to_the_workflow_folder_or_stay_hub_ids(tmp_path: Path) -> None:
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "style.safetensors").write_bytes(b"")
    planned = loading.plan_loras(
        [
            lora(),
            lora("loras/style.safetensors", scale="0.5", adapter_name="style"),
            lora("loras", weight_name="style.safetensors", revision="main"),
            lora("someone/some-lora", scale=2),
        ],
        tmp_path,
    )
    assert [p.source for p in planned] == [
        tiny.resolve_model_name("builtin:tiny-lora"),
        str(tmp_path / "loras" / "style.safetensors"),
        str(tmp_path / "loras"),
        "someone/some-lora",
    ]
    assert [p.adapter for p in planned] == ["0", "style", "2", "3"]
    assert [p.scale for p in planned] == [1.0, 0.5, 1.0, 2.0]
    assert planned[2].options == {"weight_name": "style.safetensors", "revision": "main"}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([lora("../elsewhere/style.safetensors")], "may not climb out"),
        ([lora("/etc/style.safetensors")], "outside the workflow folder"),
        ([lora("loras/missing.safetensors")], "does not exist"),
        ([lora("loras", weight_name="missing.safetensors")], "does not exist"),
        ([lora("loras", weight_name="../../x.safetensors")], "may not climb out"),
        ([lora(scale="strong")], r"scale 'strong' is not a number"),
        ([lora(), lora("builtin:tiny-lora-b", adapter_name="0")], "used by an earlier LoRA"),
        ([lora("")], "non-empty string"),
        ([lora("bad\0name")], "NUL byte"),
    ],
    ids=[
        "dotdot",
        "absolute",
        "missing-file",
        "missing-weight",
        "weight-dotdot",
        "scale",
        "dup",
        "empty",
        "nul",
    ],
)
def test_bad_entries_are_refused_before_anything_loads(
    tmp_path: Path, entries: list[dict[str, Any]], message: str
) -> None:
    (tmp_path / "loras").mkdir()
    with pytest.raises(loading.LoadError, match=message):
        loading.plan_loras(entries, tmp_path)


def document_with(loras: Any) -> dict[str, Any]:
    return {"id": "doc", "steps": [tiny_sd_step("styled", loras=loras)]}


def test_preflight_accepts_loras_and_names_what_is_wrong() -> None:
    assert support.preflight(document_with([lora(scale="0.7", revision="main")]), ()) == []
    problems = support.preflight(
        document_with([lora(scale="x"), lora(adapter_name="0"), {"model_name": 3}]), ()
    )
    assert problems == [
        "step 'styled': pipeline.loras[0].scale 'x' is not a number (dw converts it with float())",
        "step 'styled': pipeline.loras[1].adapter_name '0' is used by an earlier LoRA of this "
        "pipeline",
        "step 'styled': pipeline.loras[2].model_name must be a non-empty string",
    ]
    assert support.preflight(document_with([{"scale": 1}]), ()) == [
        "step 'styled': pipeline.loras must be a list of objects with a model_name"
    ]


def test_without_peft_preflight_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(support, "peft_available", lambda: False)
    [problem] = support.preflight(document_with([lora()]), ())
    assert "'peft' package" in problem and "pip install peft" in problem
    assert support.preflight(document_with([]), ()) == []


# -- real runs through the worker ------------------------------------------------------------


def test_a_lora_changes_the_image_and_the_same_seed_repeats_it(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    workflow = write_workflow(
        tmp_path / "styled.json",
        [tiny_sd_step("plain"), tiny_sd_step("styled", loras=[lora(scale=1.0)])],
        seed=5,
    )
    first = worker.execute(workflow, tmp_path / "out")
    assert cache_of(first) == ([], ["plain@styled.json", "styled@styled.json"], [])
    plain, styled = pixels(first, "plain"), pixels(first, "styled")
    assert plain.shape == styled.shape == (64, 64, 3)
    assert not np.array_equal(plain, styled)
    again = worker.execute(workflow, tmp_path / "again")
    assert cache_of(again)[0] == ["plain@styled.json", "styled@styled.json"]
    assert np.array_equal(pixels(again, "styled"), styled)


@pytest.fixture()
def styled_pair(tmp_path: Path) -> Path:
    return write_workflow(
        tmp_path / "pair.json",
        [tiny_sd_step("styled", loras=[lora(scale=1.0)]), tiny_ddpm_step("noise")],
        seed=7,
    )


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("another LoRA", lambda entry: entry.update(model_name="builtin:tiny-lora-b")),
        ("its scale", lambda entry: entry.update(scale=0.25)),
    ],
)
def test_editing_the_lora_reloads_exactly_that_pipeline(
    worker: WorkerProcess, styled_pair: Path, tmp_path: Path, what: str, change: Any
) -> None:
    worker.result("clearMemory")  # no pipeline shared with an earlier test's workflow
    before = worker.execute(styled_pair, tmp_path / "before")
    edit(styled_pair, lambda d: change(d["steps"][0]["pipeline"]["loras"][0]))
    after = worker.execute(styled_pair, tmp_path / "after")
    assert after["fileChanged"] is True
    assert cache_of(after) == (["noise@pair.json"], ["styled@pair.json"], ["styled@pair.json"])
    assert not np.array_equal(pixels(before, "styled"), pixels(after, "styled")), what
    assert np.array_equal(pixels(before, "noise"), pixels(after, "noise"))


def test_editing_only_the_prompt_reloads_nothing(
    worker: WorkerProcess, styled_pair: Path, tmp_path: Path
) -> None:
    worker.execute(styled_pair, tmp_path / "out")
    edit(styled_pair, lambda d: d["steps"][0]["pipeline"]["arguments"].update(prompt="a whale"))
    result = worker.execute(styled_pair, tmp_path / "out")
    assert result["fileChanged"] is True
    assert cache_of(result) == (["noise@pair.json", "styled@pair.json"], [], [])


def test_variables_choose_the_lora_and_its_scale(worker: WorkerProcess, tmp_path: Path) -> None:
    step = tiny_sd_step("styled", loras=[lora("variable:lora", scale="variable:strength")])
    workflow = write_workflow(
        tmp_path / "chosen.json",
        [step],
        seed=3,
        variables={"lora": "builtin:tiny-lora", "strength": "1.0"},
    )
    worker.result("clearMemory")
    first = worker.execute(workflow, tmp_path / "out")
    same = worker.execute(workflow, tmp_path / "out", {"strength": "1.0"})
    assert cache_of(same) == (["styled@chosen.json"], [], [])
    weaker = worker.execute(workflow, tmp_path / "weaker", {"strength": "0.5"})
    assert cache_of(weaker) == ([], ["styled@chosen.json"], ["styled@chosen.json"])
    assert not np.array_equal(pixels(first, "styled"), pixels(weaker, "styled"))
    bad = worker.execute(workflow, tmp_path / "out", {"strength": "strong"})
    assert bad["status"] == "error" and "scale 'strong' is not a number" in bad["error"]


def test_loras_on_a_pipeline_without_lora_support_fail_before_loading(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    worker.result("clearMemory")
    step = tiny_ddpm_step("noise")
    step["pipeline"]["loras"] = [lora()]
    result = worker.execute(write_workflow(tmp_path / "ddpm.json", [step]), tmp_path / "out")
    assert result["status"] == "error"
    assert "DDPMPipeline does not take LoRAs" in result["error"]
    assert result["cache"]["loaded"] == []


def test_a_local_lora_file_next_to_the_workflow_loads(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    (folder / "loras").mkdir(parents=True)
    source = Path(tiny.resolve_model_name("builtin:tiny-lora-b")) / tiny.LORA_WEIGHT_NAME
    shutil.copy(source, folder / "loras" / "b.safetensors")
    workflow = write_workflow(
        folder / "local.json",
        [
            tiny_sd_step("builtin", loras=[lora("builtin:tiny-lora-b")]),
            tiny_sd_step("local", loras=[lora("loras/b.safetensors")]),
            tiny_sd_step("folder", loras=[lora("loras", weight_name="b.safetensors")]),
        ],
        seed=11,
    )
    result = worker.execute(workflow, tmp_path / "out")
    builtin = pixels(result, "builtin")
    assert np.array_equal(builtin, pixels(result, "local"))
    assert np.array_equal(builtin, pixels(result, "folder"))
