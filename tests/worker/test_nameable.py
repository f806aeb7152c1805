"""What the worker lets a workflow name (dw_lsp.worker.values.nameable, values_types, guard),
against the installed libraries: every name the examples and the sample corpus use still
resolves, the checker's name-only verdicts (DW305) never refuse what the worker accepts, and
its list of refused diffusers classes is the worker's own verdict."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dw_lsp.catalog import FUNCTION, load_catalog
from dw_lsp.validation.rules.names import REFUSED_DIFFUSERS_CLASSES, name_refusal
from dw_lsp.worker import guard
from dw_lsp.worker.values.typenames import DisallowedImport, TypeResolver
from dw_lsp.workflow import refs

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus" / "dw-examples"
#: Names that no installed library here can resolve: dw's own, and quantization packages.
ELSEWHERE = ("dw.", "sdnq.", "torchao.", "optimum.")


@pytest.fixture(scope="module")
def resolver() -> TypeResolver:
    return TypeResolver()


def _documents() -> Iterator[Any]:
    files = [*sorted((REPO / "workflows").rglob("*.json")), *sorted(CORPUS.rglob("*.json"))]
    assert len(files) > 50, "the sample corpus is missing"
    for path in files:
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue


def _used_names() -> tuple[set[str], set[str]]:
    types_, constants = set(), set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and refs.constant_name(value) is not None:
                    constants.add(refs.constant_name(value) or "")
                elif isinstance(value, str) and isinstance(key, str) and refs.is_type_key(key):
                    if "." in value or (value[:1].isupper() and refs.CONSTANT_NAME_RE.match(value)):
                        types_.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for document in _documents():
        walk(document)
    return types_, constants


def test_every_name_the_examples_use_still_resolves(resolver: TypeResolver) -> None:
    used, constants = _used_names()
    assert {"sdnq.SDNQConfig", "transformers.pipeline", "torch.bfloat16"} <= used
    refused = []
    for name in sorted(used):
        try:
            resolver.resolve(name)
        except DisallowedImport as exc:
            if not name.startswith(ELSEWHERE):
                refused.append(f"{name}: {exc}")
        except ValueError:
            assert name.startswith(ELSEWHERE), name
    for name in sorted(constants):
        resolver.resolve_constant(name)
    assert refused == []


def test_the_checker_refuses_no_name_the_worker_accepts(resolver: TypeResolver) -> None:
    catalog = load_catalog()
    used, _ = _used_names()
    names = {*used, *catalog.class_names(), *(f"diffusers.{n}" for n in catalog.class_names())}
    names |= {
        "torch.float8_e4m3fn",
        "torch.int64",
        "numpy.float16",
        "numpy.bool_",
        "PIL.Image.Resampling.LANCZOS",
        "transformers.AutoModel",
        "transformers.AutoTokenizer",
        "transformers.CLIPTextModel",
        "transformers.T5TokenizerFast",
        "transformers.SiglipImageProcessor",
        "transformers.BitsAndBytesConfig",
    }
    wrong = []
    for name in sorted(names):
        if name.startswith(ELSEWHERE) or name_refusal(name, catalog, ()) is None:
            continue
        try:
            resolver.resolve(name)
        except DisallowedImport:
            continue
        except ValueError:
            if catalog.kind_of(name.rpartition(".")[2]) == FUNCTION:
                continue  # a lower-case bare word: DW222's, never resolved as a class
            raise
        wrong.append(name)
    assert wrong == []


def test_refused_diffusers_classes_are_the_workers_verdict(resolver: TypeResolver) -> None:
    catalog = load_catalog()
    refused = set()
    for name in catalog.class_names():
        if catalog.kind_of(name) == FUNCTION:
            continue
        try:
            resolver.resolve(name)
        except DisallowedImport:
            refused.add(name)
    assert refused == REFUSED_DIFFUSERS_CLASSES


@pytest.fixture
def user_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("dwtest_user")

    class Thing:
        def __init__(self, **_: Any) -> None:
            pass

    def helper() -> None:
        pass

    Thing.__module__ = helper.__module__ = "dwtest_user"
    module.Thing = Thing  # type: ignore[attr-defined]
    module.helper = helper  # type: ignore[attr-defined]
    module.record = types.SimpleNamespace(x=1)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dwtest_user", module)
    return module


def test_allowed_modules_add_classes_never_functions(user_module: types.ModuleType) -> None:
    with pytest.raises(DisallowedImport, match=r"worker\.allowedModules"):
        TypeResolver().resolve("dwtest_user.Thing")
    allowed = TypeResolver(["dwtest_user"])
    assert allowed.resolve("dwtest_user.Thing") is user_module.Thing
    with pytest.raises(DisallowedImport, match="is a function"):
        allowed.resolve("dwtest_user.helper")
    with pytest.raises(DisallowedImport, match=r"not plain data|not a value"):
        allowed.resolve_constant("dwtest_user.record")


def test_constants_are_plain_data(resolver: TypeResolver) -> None:
    sigmas = resolver.resolve_constant("diffusers.pipelines.ltx2.utils.DISTILLED_SIGMA_VALUES")
    assert isinstance(sigmas, list) and all(isinstance(s, float) for s in sigmas)
    record = "diffusers.pipelines.ltx2.utils.GEMMA4_PROMPT_ENHANCEMENT_CONFIG"
    assert resolver.resolve_constant(record).max_new_tokens > 0  # a dataclass of plain fields
    for name in ("diffusers.utils.constants", "torch.ops", "numpy.memmap", "PIL.Image.open"):
        with pytest.raises(DisallowedImport, match="not a value"):
            resolver.resolve_constant(name)


def _step(name: str, pipeline: dict[str, Any]) -> dict[str, Any]:
    body = {"configuration": {"component_type": "StableDiffusionPipeline"}, "arguments": {}}
    body["from_pretrained_arguments"] = {"model_name": "builtin:tiny-sd"}
    body.update(pipeline)
    return {"name": name, "pipeline": body}


def test_guard_finds_every_refused_name_once_with_its_first_step(resolver: TypeResolver) -> None:
    memmap = {"x_type": "numpy.memmap", "from_arguments": {"filename": "f", "shape": [1]}}
    document = {
        "variables": {"sigmas": "constant:diffusers.utils.constants"},
        "steps": [
            _step(
                "a",
                {
                    "arguments": {
                        "latents": memmap,
                        "image": {"media_type": "image", "location": "x.png"},
                    }
                },
            ),
            _step(
                "b",
                {"arguments": {"again": memmap, "output_type": "{pil}", "x_dtype": "variable:v"}},
            ),
            {
                "name": "c",
                "task": {"command": "qr_code", "arguments": {"k_type": "transformers.AutoConfig"}},
            },
            _step("d", {"scheduler": {"configuration": {"scheduler_type": "NoSuchScheduler"}}}),
        ],
    }
    problems = guard.name_problems(document, resolver)
    assert [p.split(":")[0] for p in problems] == ["variables", "step 'a'", "step 'c'"]
    assert "'numpy.memmap'" in problems[1] and "'transformers.AutoConfig'" in problems[2]


def test_guard_code_arguments_respect_the_setting() -> None:
    document = {"steps": [_step("a", {"from_pretrained_arguments": {"trust_remote_code": True}})]}
    (problem,) = guard.code_argument_problems(document, allow_remote_code=False)
    assert problem.startswith("step 'a': pipeline.from_pretrained_arguments.trust_remote_code")
    assert guard.code_argument_problems(document, allow_remote_code=True) == []
