"""Catalog rules DW301–DW305: snippet -> every expected code with the exact text its range
covers, plus the rows that must stay silent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dw_lsp.catalog import load_catalog
from dw_lsp.validation.check import check_text
from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.rules.catalog import DATA_MODULES, TRUSTED_MODULES, check_catalog
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.problem import Problem, Severity


def pipeline(
    component: Any = "FluxPipeline",
    arguments: dict[str, Any] | None = None,
    name: str = "gen",
    **extra: Any,
) -> dict[str, Any]:
    """A pipeline step; ``extra`` keys go into the pipeline object (``configuration`` keys
    are merged into its configuration)."""
    configuration = {"component_type": component, **extra.pop("configuration", {})}
    body = {
        "configuration": configuration,
        "from_pretrained_arguments": {"model_name": "m", **extra.pop("loading", {})},
        "arguments": {"prompt": "p"} if arguments is None else arguments,
        **extra,
    }
    return {"name": name, "pipeline": body}


def reference(target: str, arguments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"reference_name": target, "arguments": arguments, **extra}
    return {"name": "again", "pipeline_reference": body}


def workflow(*steps: dict[str, Any], variables: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {"id": "w"}
    if variables is not None:
        doc["variables"] = variables
    doc["steps"] = list(steps)
    return json.dumps(doc, indent=1)


def quantized(config_type: str, **arguments: Any) -> dict[str, Any]:
    """A pipeline step whose transformer has a quantization config."""
    block = {
        "configuration": {"component_type": "FluxTransformer2DModel"},
        "from_pretrained_arguments": {"model_name": "m"},
        "quantization_config": {
            "configuration": {"config_type": config_type},
            "arguments": arguments,
        },
    }
    return pipeline(transformer=block)


def described(type_name: str) -> dict[str, Any]:
    """A pipeline step with an object description in its arguments."""
    reference_object = {"reference_type": type_name, "from_file": "a.png"}
    return pipeline("ModularPipeline", {"references": [reference_object]})


H3 = "diffusers.modular_pipelines.minimax_h3.MiniMaxH3ImageReference"
ATTENTION = "diffusers.models.attention_processor.AttnProcessor2_0"
H4 = "diffusers.modular_pipelines.minimax_h4.MiniMaxH3ImageReference"

# (id, document, [(code, exact text of the range), ...] in position order, allowed modules)
Case = tuple[str, str, list[tuple[str, str]], tuple[str, ...]]
CASES: list[Case] = [
    # --- DW301: unknown classes --------------------------------------------------------
    ("pipeline typo", workflow(pipeline("FluxPipelin")), [("DW301", '"FluxPipelin"')], ()),
    (
        "component typo",
        workflow(
            pipeline(
                transformer={
                    "configuration": {"component_type": "FluxTransformer2DModle"},
                    "from_pretrained_arguments": {"model_name": "m"},
                }
            )
        ),
        [("DW301", '"FluxTransformer2DModle"')],
        (),
    ),
    (
        "scheduler typo",
        workflow(pipeline(scheduler={"configuration": {"scheduler_type": "EulerSchedular"}})),
        [("DW301", '"EulerSchedular"')],
        (),
    ),
    (
        "bare transformers class",
        workflow(
            pipeline(
                text_encoder_2={
                    "configuration": {"component_type": "T5EncoderModel"},
                    "from_pretrained_arguments": {"model_name": "m"},
                }
            )
        ),
        [("DW301", '"T5EncoderModel"')],
        (),
    ),
    (
        "type in variables",
        workflow(pipeline(), variables={"my_type": "FluxPipelin"}),
        [("DW301", '"FluxPipelin"')],
        (),
    ),
    (
        "unknown diffusers module, once per name",
        workflow(described(H4), described(H4)),
        [("DW301", json.dumps(H4))],
        (),
    ),
    (
        "unknown diffusers attribute",
        workflow(pipeline("diffusers.pipelines.flux.pipeline_flux.FluxPipelin")),
        [("DW301", '"diffusers.pipelines.flux.pipeline_flux.FluxPipelin"')],
        (),
    ),
    # --- DW302: unknown call arguments -------------------------------------------------
    (
        "argument typo",
        workflow(pipeline(arguments={"prompt": "p", "num_inference_step": 4})),
        [("DW302", '"num_inference_step"')],
        (),
    ),
    (
        "argument a pipeline ignores",
        workflow(pipeline("StableDiffusionPipeline", {"prompt": "p", "guidance": 7})),
        [("DW302", '"guidance"')],
        (),
    ),
    (
        "dotted pipeline class",
        workflow(pipeline("diffusers.FluxPipeline", {"prompt": "p", "steps": 4})),
        [("DW302", '"steps"')],
        (),
    ),
    (
        "reference arguments",
        workflow(pipeline(), reference("gen", {"prompt": "p", "num_steps": 2})),
        [("DW302", '"num_steps"')],
        (),
    ),
    # --- DW303: outside the allowlist ----------------------------------------------------
    (
        "class outside",
        workflow(pipeline("subprocess.Popen")),
        [("DW303", '"subprocess.Popen"')],
        (),
    ),
    (
        "private name",
        workflow(pipeline("transformers._private.Thing")),
        [("DW303", '"transformers._private.Thing"')],
        (),
    ),
    (
        "project module outside the worker",
        workflow(pipeline("dw_lsp.session.Session")),
        [("DW303", '"dw_lsp.session.Session"')],
        (),
    ),
    # --- DW305: never nameable -------------------------------------------------------------
    ("os function", workflow(pipeline("os.system")), [("DW305", '"os.system"')], ()),
    (
        "function under diffusers.utils",
        workflow(pipeline("diffusers.utils.export_to_video")),
        [("DW305", '"diffusers.utils.export_to_video"')],
        (),
    ),
    (
        "class under transformers.utils",
        workflow(quantized("transformers.utils.quantization_config.BitsAndBytesConfig")),
        [("DW305", '"transformers.utils.quantization_config.BitsAndBytesConfig"')],
        (),
    ),
    (
        "module",
        workflow(pipeline("transformers.dynamic_module_utils")),
        [("DW305", '"transformers.dynamic_module_utils"')],
        (),
    ),
    (
        "transformers function",
        workflow(pipeline("transformers.dynamic_module_utils.get_class_from_dynamic_module")),
        [("DW305", '"transformers.dynamic_module_utils.get_class_from_dynamic_module"')],
        (),
    ),
    (
        "dotted diffusers function",
        workflow(pipeline("diffusers.get_scheduler")),
        [("DW305", '"diffusers.get_scheduler"')],
        (),
    ),
    ("numpy class", workflow(pipeline("numpy.memmap")), [("DW305", '"numpy.memmap"')], ()),
    ("PIL class", workflow(pipeline("PIL.Image.Image")), [("DW305", '"PIL.Image.Image"')], ()),
    ("torch function", workflow(pipeline("torch.load")), [("DW305", '"torch.load"')], ()),
    ("torch class", workflow(pipeline("torch.Tensor")), [("DW305", '"torch.Tensor"')], ()),
    (
        "AutoConfig",
        workflow(pipeline("transformers.AutoConfig")),
        [("DW305", '"transformers.AutoConfig"')],
        (),
    ),
    (
        "diffusers class not needed",
        workflow(pipeline("HookRegistry")),
        [("DW305", '"HookRegistry"')],
        (),
    ),
    (
        "dotted diffusers class not needed",
        workflow(pipeline("diffusers.ComponentsManager")),
        [("DW305", '"diffusers.ComponentsManager"')],
        (),
    ),
    (
        "a function of an allowed module",
        workflow(pipeline("mypkg.helper")),
        [("DW305", '"mypkg.helper"')],
        ("mypkg",),
    ),
    # --- DW304: dw's own classes ---------------------------------------------------------
    (
        "dw community pipeline",
        workflow(
            pipeline("dw.community_pipelines.pipeline_flux_rf_inversion.RFInversionFluxPipeline")
        ),
        [("DW304", '"dw.community_pipelines.pipeline_flux_rf_inversion.RFInversionFluxPipeline"')],
        (),
    ),
    # --- silent ----------------------------------------------------------------------------
    (
        "known pipeline and arguments",
        workflow(
            pipeline(
                arguments={
                    "prompt": "p",
                    "num_inference_steps": 4,
                    "guidance_scale": 3.5,
                    "output_type": "{np}",
                    "callback_on_step_end_tensor_inputs": ["latents"],
                    "generator": None,
                }
            )
        ),
        [],
        (),
    ),
    (
        "transformers classes and functions",
        workflow(
            pipeline("transformers.AutoProcessor"), pipeline("transformers.pipeline", name="p2")
        ),
        [],
        (),
    ),
    ("torch dtype", workflow(pipeline(loading={"torch_dtype": "torch.bfloat16"})), [], ()),
    ("escaped value", workflow(pipeline(loading={"torch_dtype": "{auto}"})), [], ()),
    (
        "variable and constant",
        workflow(pipeline("variable:cls"), pipeline("constant:diffusers.x.Y", name="p2")),
        [],
        (),
    ),
    (
        "string category is DW222's",
        workflow(pipeline(arguments={"prompt": "p", "output_type": "pil"})),
        [],
        (),
    ),
    (
        "PIL and numpy",
        workflow(
            quantized(
                "BitsAndBytesConfig",
                bnb_4bit_compute_dtype="numpy.float16",
                bnb_4bit_quant_type="{nf4}",
            )
        ),
        [],
        (),
    ),
    ("known modular reference", workflow(described(H3)), [], ()),
    (
        "known diffusers path",
        workflow(pipeline(configuration={"unet": {"attn_processor_type": ATTENTION}})),
        [],
        (),
    ),
    (
        "class whose backend is missing here",
        workflow(pipeline(scheduler={"configuration": {"scheduler_type": "LMSDiscreteScheduler"}})),
        [],
        (),
    ),
    (
        "deprecated callback of SD",
        workflow(pipeline("StableDiffusionPipeline", {"prompt": "p", "callback_steps": 1})),
        [],
        (),
    ),
    (
        "modular pipeline takes anything",
        workflow(pipeline("ModularPipeline", {"anything": 1})),
        [],
        (),
    ),
    (
        "inversion calls invert()",
        workflow(pipeline(arguments={"source": "x"}, configuration={"inversion": True})),
        [],
        (),
    ),
    (
        "custom pipeline replaces the class",
        workflow(pipeline(arguments={"source": "x"}, loading={"custom_pipeline": "c"})),
        [],
        (),
    ),
    ("reference to an unknown step", workflow(reference("nowhere", {"zzz": 1})), [], ()),
    (
        "media object",
        workflow(
            pipeline(
                "FluxImg2ImgPipeline",
                {"prompt": "p", "image": {"media_type": "Image", "location": "a.png"}},
            )
        ),
        [],
        (),
    ),
    (
        "quantization package config",
        workflow(quantized("sdnq.SDNQConfig", weights_dtype="{int8}")),
        [],
        (),
    ),
    (
        "pre_load_modules of a quantization package",
        workflow(
            quantized("sdnq.SDNQConfig") | pipeline(configuration={"pre_load_modules": ["sdnq"]})
        ),
        [],
        (),
    ),
    (
        "quant_type class of torchao",
        workflow(
            quantized("TorchAoConfig", quant_type="torchao.quantization.Int8WeightOnlyConfig")
        ),
        [],
        (),
    ),
    ("class of an allowed module", workflow(pipeline("mypkg.Thing")), [], ("mypkg",)),
    (
        "allowed, written loosely",
        workflow(pipeline("mypkg.sub.Thing")),
        [],
        (" mypkg. ",),
    ),
    ("torch dtype", workflow(pipeline(loading={"torch_dtype": "torch.float8_e4m3fn"})), [], ()),
    (
        "enum value of PIL",
        workflow(pipeline(loading={"resample_type": "PIL.Image.Resampling.LANCZOS"})),
        [],
        (),
    ),
    ("the transformers pipeline loader", workflow(pipeline("transformers.pipeline")), [], ()),
    ("transformers auto model", workflow(pipeline("transformers.AutoModelForCausalLM")), [], ()),
    ("dw allowed by the setting", workflow(pipeline("dw.community_pipelines.x.Y")), [], ("dw",)),
]


def _check(text: str, allowed: tuple[str, ...] = ()) -> tuple[str, list[Problem]]:
    doc = parse(text)
    problems = sorted(
        check_catalog(doc, CheckContext(allowed_modules=allowed)), key=Problem.sort_key
    )
    return doc.text, problems


@pytest.mark.parametrize(
    ("text", "expected", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_catalog_rules(
    text: str, expected: list[tuple[str, str]], allowed: tuple[str, ...]
) -> None:
    source, problems = _check(text, allowed)
    assert [(p.code, source[p.start : p.end]) for p in problems] == expected, [
        p.message for p in problems
    ]


def test_severities_and_messages() -> None:
    version = load_catalog().diffusers_version
    text = workflow(
        pipeline("FluxPipelin", {"prompt": "p"}),
        pipeline(arguments={"num_inference_step": 1}, name="b"),
        pipeline("subprocess.Popen", name="c"),
        pipeline("dw.community_pipelines.x.Y", name="d"),
        pipeline("numpy.memmap", name="e"),
    )
    _, problems = _check(text)
    by_code = {p.code: p for p in problems}
    assert by_code["DW301"].severity == Severity.WARNING
    assert by_code["DW301"].message.startswith(
        f"'FluxPipelin' is not a class of diffusers {version}"
    )
    assert "did you mean FluxPipeline?" in by_code["DW301"].message
    assert by_code["DW301"].data == {
        "replacements": load_catalog().suggest("FluxPipelin", ("pipeline", "modular_pipeline"))
    }
    assert by_code["DW301"].data["replacements"][0] == "FluxPipeline"
    assert by_code["DW302"].severity == Severity.WARNING
    assert by_code["DW302"].data is not None
    assert by_code["DW302"].data["replacements"][0] == "num_inference_steps"
    assert "unexpected-keyword error" in by_code["DW302"].message
    assert by_code["DW303"].severity == Severity.WARNING
    assert "refuse to load it" in by_code["DW303"].message
    assert "worker.allowedModules" in by_code["DW303"].message
    assert by_code["DW303"].data == {"module": "subprocess", "setting": "worker.allowedModules"}
    assert by_code["DW304"].severity == Severity.INFO
    assert "only inside diffusers-workflow" in by_code["DW304"].message
    assert by_code["DW305"].severity == Severity.ERROR
    assert by_code["DW305"].message.startswith("'numpy.memmap' is not a dtype or an enum value")
    assert "a workflow may name only pipeline, model, scheduler" in by_code["DW305"].message
    assert by_code["DW305"].data == {"name": "numpy.memmap"}


def test_ignored_argument_message() -> None:
    _, problems = _check(
        workflow(pipeline("StableDiffusionPipeline", {"prompt": "p", "guidance": 7}))
    )
    assert "silently ignores unknown arguments" in problems[0].message


def test_repeated_name_counts_the_other_places() -> None:
    _, problems = _check(workflow(described(H4), described(H4), described(H4)))
    assert len(problems) == 1 and "(2 more places in this file.)" in problems[0].message
    assert problems[0].data == {"replacements": [H3]}


def test_allowlist_mirrors_the_worker() -> None:
    from dw_lsp.worker.values import typenames as values_types

    assert TRUSTED_MODULES == values_types.TRUSTED_PREFIXES
    assert DATA_MODULES == values_types.DATA_PREFIXES


def test_one_problem_per_type_value_in_the_whole_check() -> None:
    """The catalog and the unescaped-category rule (DW222) never report the same value."""
    text = workflow(pipeline("FluxPipelin", {"prompt": "p", "output_type": "pil"}))
    _, problems = check_text(text)
    spans = [(p.start, p.end) for p in problems if p.code in ("DW222", "DW301")]
    assert len(spans) == 2 and len(set(spans)) == 2


def test_a_misspelt_call_argument_gets_one_problem_not_two() -> None:
    """The near-miss hint (DW234) gives way to the catalog's DW302 on the same key."""
    text = workflow(pipeline("StableDiffusionPipeline", {"num_inference_step": 4}))
    _, problems = check_text(text)
    on_key = [p for p in problems if text[p.start : p.end] == '"num_inference_step"']
    assert [p.code for p in on_key] == ["DW302"]
    assert on_key[0].data == {"replacements": ["num_inference_steps"]}


def test_broken_documents_are_fine() -> None:
    for text in (
        "",
        "[]",
        '{"steps": 3}',
        '{"steps": [1, {"pipeline": []}]',
        '{"id": "w", "steps": [',
    ):
        check_catalog(parse(text), CheckContext())
