"""The checked-in pipeline catalog: what it knows, how it is read, and that it is current.

Only :func:`test_catalog_is_not_stale` imports diffusers (in a subprocess, through the
generator); everything else reads the data as the language server does.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dw_lsp.catalog.catalog as catalog_module
from dw_lsp.catalog import PIPELINE, PIPELINE_KINDS, Catalog, PipelineInfo, load_catalog

REPO = Path(__file__).resolve().parents[2]
DATA = Path(catalog_module.__file__).parent


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_loaded_once(catalog: Catalog) -> None:
    assert load_catalog() is catalog
    assert catalog.diffusers_version.count(".") >= 2


def test_version_is_the_installed_diffusers(catalog: Catalog) -> None:
    try:
        installed = importlib.metadata.version("diffusers")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("diffusers is not installed here")
    assert catalog.diffusers_version == installed, "regenerate: python -m dw_lsp.catalog.gen"


def test_stable_diffusion_pipeline(catalog: Catalog) -> None:
    info = catalog.pipeline("StableDiffusionPipeline")
    assert isinstance(info, PipelineInfo) and info.kind == PIPELINE and info.available
    assert info.callback_on_step_end
    assert info.doc and info.module.startswith("diffusers.pipelines.stable_diffusion")
    params = catalog.call_parameters("StableDiffusionPipeline")
    assert {"prompt", "num_inference_steps", "callback_on_step_end", "generator"} <= set(params)
    steps = params["num_inference_steps"]
    assert steps.default == "50" and steps.annotation == "int" and not steps.required
    assert "denoising steps" in steps.doc
    # Its **kwargs only takes the deprecated callbacks: anything else is dropped silently.
    assert info.call is not None and info.call.has_kwargs and not info.call.var_keyword
    assert info.call.accepts("callback_steps") and not info.call.accepts("num_inference_step")
    assert info.init is not None and {"vae", "unet", "scheduler"} <= set(info.init.parameters)
    assert "safety_checker" in info.optional_components


def test_flux_and_friends(catalog: Catalog) -> None:
    flux = catalog.pipeline("FluxPipeline")
    assert flux is not None and flux.call is not None and not flux.call.has_kwargs
    assert "guidance_scale" in flux.call.parameters
    assert flux.init is not None and "transformer" in flux.init.parameters
    model = catalog.model("FluxTransformer2DModel")
    assert model is not None and model.init is not None
    assert model.init.parameters["num_layers"].default == "19"
    scheduler = catalog.scheduler("FlowMatchEulerDiscreteScheduler")
    assert scheduler is not None and scheduler.init is not None
    assert catalog.pipeline("FluxTransformer2DModel") is None
    assert catalog.model("FluxPipeline") is None
    assert catalog.has_class("BitsAndBytesConfig") and catalog.kind_of("BitsAndBytesConfig")
    assert not catalog.has_class("FluxPipelin")
    assert catalog.call_parameters("NoSuchPipeline") == {}


def test_modular_pipelines(catalog: Catalog) -> None:
    generic = catalog.pipeline("ModularPipeline")
    assert generic is not None and generic.modular
    assert generic.call is not None and generic.call.var_keyword
    h3 = catalog.pipeline("MiniMaxH3ModularPipeline")
    assert h3 is not None and h3.blocks == "MiniMaxH3Blocks"
    assert "references" in catalog.call_parameters("MiniMaxH3ModularPipeline")


def test_class_names_by_kind(catalog: Catalog) -> None:
    pipelines = catalog.class_names(PIPELINE)
    assert "FluxPipeline" in pipelines and "FluxTransformer2DModel" not in pipelines
    assert pipelines == sorted(pipelines)
    both = catalog.class_names(PIPELINE_KINDS)
    assert "ModularPipeline" in both and set(pipelines) < set(both)
    assert len(catalog.class_names()) > len(both)


def test_backend_missing_classes_are_names_only(catalog: Catalog) -> None:
    infos = [catalog.info(name) for name in catalog.class_names()]
    missing = [info for info in infos if info is not None and not info.available]
    assert missing, "this environment lacks some optional backend (e.g. onnx)"
    for info in missing:
        assert info.requires and info.init is None


def test_from_pretrained_parameters(catalog: Catalog) -> None:
    pipeline = catalog.from_pretrained_parameters("FluxPipeline")
    assert {"revision", "variant", "transformer", "vae"} <= set(pipeline)
    assert "pretrained_model_name_or_path" not in pipeline
    assert "subfolder" in catalog.from_pretrained_parameters("FluxTransformer2DModel")


@pytest.mark.parametrize(
    ("name", "kind", "first"),
    [
        ("FluxPipelin", PIPELINE_KINDS, "FluxPipeline"),
        ("fluxpipeline", None, "FluxPipeline"),
        ("StableDifusionPipeline", PIPELINE, "StableDiffusionPipeline"),
        ("EulerDiscreteSchedular", "scheduler", "EulerDiscreteScheduler"),
        ("FluxTransformer2DModle", "model", "FluxTransformer2DModel"),
    ],
)
def test_suggest(
    catalog: Catalog, name: str, kind: str | tuple[str, ...] | None, first: str
) -> None:
    found = catalog.suggest(name, kind)
    assert found and found[0] == first and len(found) <= 3


def test_suggest_nothing_close(catalog: Catalog) -> None:
    assert catalog.suggest("Zqxjkvw") == []


def test_dotted_lookup(catalog: Catalog) -> None:
    for name in (
        "diffusers.FluxPipeline",
        "diffusers.pipelines.FluxPipeline",
        "diffusers.models.attention_processor.AttnProcessor2_0",
        "diffusers.modular_pipelines.minimax_h3.MiniMaxH3ImageReference",
        "diffusers.pipelines.ltx2.latent_upsampler.LTX2LatentUpsamplerModel",
        "diffusers.pipelines.ltx2",
    ):
        assert catalog.lookup_dotted(name).found, name
    typo = catalog.lookup_dotted(
        "diffusers.pipelines.ltx2.pipeline_ltx2_condition.LTX2VideoConditon"
    )
    assert not typo.found and typo.module == "diffusers.pipelines.ltx2.pipeline_ltx2_condition"
    assert typo.missing == "LTX2VideoConditon"
    assert (
        typo.candidates[0] == "diffusers.pipelines.ltx2.pipeline_ltx2_condition.LTX2VideoCondition"
    )
    module = catalog.lookup_dotted("diffusers.modular_pipelines.minimax_h4.MiniMaxH3ImageReference")
    assert module.missing == "minimax_h4"
    assert module.candidates[0] == "diffusers.modular_pipelines.minimax_h3.MiniMaxH3ImageReference"
    assert catalog.module_names("diffusers.no_such_module") is None


def test_both_layouts_read_alike(catalog: Catalog) -> None:
    """The generator's one-line-per-class layout is read lazily; any other is read whole."""
    text = (DATA / "diffusers.json").read_text(encoding="utf-8")
    assert '\n"classes": {\n' in text
    whole = Catalog.from_json(json.dumps(json.loads(text), indent=2))
    assert whole.class_names() == catalog.class_names()
    assert whole.diffusers_version == catalog.diffusers_version
    for name in ("StableDiffusionPipeline", "FluxTransformer2DModel", "LMSDiscreteScheduler"):
        assert whole.info(name) == catalog.info(name)


def test_format_is_checked() -> None:
    with pytest.raises(ValueError, match="format"):
        Catalog.from_json('{"format": 99, "diffusers_version": "0", "classes": {}}')


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_catalog_is_not_stale() -> None:
    """The checked-in data equals a fresh generation from the installed diffusers."""
    if importlib.util.find_spec("diffusers") is None:
        pytest.skip("diffusers is not installed here")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "dw_lsp.catalog.gen", "--check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
