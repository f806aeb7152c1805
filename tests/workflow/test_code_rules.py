"""The shared rules of what a workflow may hand to a loader (dw_lsp.workflow.code_rules):
which loading arguments run code, where they are looked for, and how refusals read."""

from __future__ import annotations

from typing import Any

import pytest

from dw_lsp.workflow.code_rules import (
    ALLOW_REMOTE_CODE_SETTING,
    code_arguments,
    names_code_file,
    normalise_prefixes,
    utils_part,
)


def pipeline(**more: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "configuration": {"component_type": "DiffusionPipeline"},
        "from_pretrained_arguments": {"model_name": "m"},
        "arguments": {"prompt": "see main.py", "trust_remote_code": True, "x": "a.py"},
    }
    body.update(more)
    return body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("evil.py", True),
        ("dir/EVIL.PY", True),
        (" x.py ", True),
        ("pkg/", False),
        ("x.pyc", True),
        ("x.pyw", True),
        ("x.pyi.json", False),
        ("python", False),
        ("x.pt", False),
        (3, False),
        (None, False),
    ],
)
def test_names_code_file(value: object, expected: bool) -> None:
    assert names_code_file(value) is expected


def test_call_arguments_are_never_looked_at() -> None:
    assert code_arguments(pipeline()) == []


@pytest.mark.parametrize(
    ("block", "path"),
    [
        (
            {"from_pretrained_arguments": {"trust_remote_code": True}},
            ("from_pretrained_arguments", "trust_remote_code"),
        ),
        (
            {"from_pretrained_arguments": {"custom_pipeline": "lpw"}},
            ("from_pretrained_arguments", "custom_pipeline"),
        ),
        (
            {"from_pretrained_arguments": {"custom_revision": "main"}},
            ("from_pretrained_arguments", "custom_revision"),
        ),
        (
            {"controlnet": {"from_pretrained_arguments": {"module_file": "m"}}},
            ("controlnet", "from_pretrained_arguments", "module_file"),
        ),
        ({"loras": [{"model_name": "l", "weight_name": "w.py"}]}, ("loras", 0, "weight_name")),
        (
            {"ip_adapter": {"model_name": "i", "trust_remote_code": 1}},
            ("ip_adapter", "trust_remote_code"),
        ),
        (
            {"scheduler": {"from_config_args": {"f": ["a", "b.py"]}}},
            ("scheduler", "from_config_args", "f", 1),
        ),
        (
            {"vae": {"quantization_config": {"arguments": {"trust_remote_code": True}}}},
            ("vae", "quantization_config", "arguments", "trust_remote_code"),
        ),
        (
            {"from_pretrained_arguments": {"model_kwargs": {"trust_remote_code": True}}},
            ("from_pretrained_arguments", "model_kwargs", "trust_remote_code"),
        ),
        (
            {
                "configuration": {
                    "component_type": "X",
                    "load_components": {"trust_remote_code": True},
                }
            },
            ("configuration", "load_components", "trust_remote_code"),
        ),
    ],
)
def test_found_wherever_a_loader_can_see_it(block: dict[str, Any], path: tuple[Any, ...]) -> None:
    found = code_arguments(pipeline(**block))
    assert [f.path for f in found] == [path]
    assert ALLOW_REMOTE_CODE_SETTING in found[0].message()
    assert found[0].where in found[0].message()


@pytest.mark.parametrize("value", [False, None])
def test_switched_off_values_are_fine(value: object) -> None:
    loading = {"model_name": "m", "trust_remote_code": value, "custom_pipeline": value}
    assert code_arguments(pipeline(from_pretrained_arguments=loading)) == []


def test_variables_count_for_the_checker_but_wait_for_substitution_in_the_worker() -> None:
    loading = {"trust_remote_code": "variable:t", "subfolder": "variable:f", "x": "variable:y"}
    body = pipeline(from_pretrained_arguments=loading)
    found = code_arguments(body, defaults={"f": "evil.py", "y": "unet", "t": False})
    assert [(f.key, f.variable) for f in found] == [("trust_remote_code", "t"), ("subfolder", "f")]
    assert "variable 't', which a caller can set" in found[0].message()
    assert code_arguments(body, references=False) == []


def test_message_names_the_value_the_rule_and_the_setting() -> None:
    long_path = "/very/long/" + "x" * 100 + "/evil.py"
    loading = {"trust_remote_code": True, "config": long_path}
    first, second = code_arguments(pipeline(from_pretrained_arguments=loading))
    assert first.message() == (
        "pipeline.from_pretrained_arguments.trust_remote_code: 'trust_remote_code' is true; "
        "it lets diffusers or transformers run Python code shipped with the model. This is "
        "refused unless the user-level setting worker.allowRemoteCode is true."
    )
    assert "names a Python file" in second.message() and "evil.py'" in second.message()


def test_utils_part_and_prefixes() -> None:
    assert utils_part("diffusers.utils.export_to_video") == "diffusers.utils"
    assert utils_part("a.b.utils.c.D") == "a.b.utils"
    assert utils_part("diffusers.pipelines.ltx2.utils") is None  # the last part is the name
    assert utils_part("transformers.dynamic_module_utils.f") is None
    assert normalise_prefixes([" mypkg. ", "", ".x", 3]) == ("mypkg", "x")
