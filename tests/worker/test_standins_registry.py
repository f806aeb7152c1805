"""The stand-in registry and its builders, in process: the registry agrees with the installed
libraries, stand-ins are deterministic, small and saved once, slot lookup honours the class
a workflow names, and the shrink rules and placeholders do what they say."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

import diffusers
import pytest
from PIL import Image

from dw_lsp import protocol
from dw_lsp.worker.standins import build, shrink, store
from dw_lsp.worker.standins.media import Placeholders
from dw_lsp.worker.standins.registry import FAMILIES, STANDALONE

PIPELINES = sorted(n for n in dir(diffusers) if n.endswith("Pipeline") and n[0].isupper())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DW_LSP_CACHE_DIR", str(tmp_path / "models"))
    return tmp_path / "models" / "stand-ins"


def test_every_family_covers_installed_pipelines_and_every_part_class_exists() -> None:
    for family in FAMILIES:
        covered = [p for p in PIPELINES if build.family_for(p) is family]
        assert covered, f"{family.name} matches no installed pipeline class"
        parts = [*family.parts.values(), *family.alternatives.values()]
        parts += [p for v in family.variants.values() for p in v.values() if p is not None]
        for part in parts:
            assert inspect.isclass(build.resolve_class(part.cls)), part.cls
        for pipeline in [*family.variants, *family.variant_extra, *family.unsupported]:
            assert build.family_for(pipeline) is family, pipeline
    for part in STANDALONE.values():
        assert inspect.isclass(build.resolve_class(part.cls)), part.cls


def test_the_most_specific_pattern_wins() -> None:
    flux, flux2 = build.family_for("FluxPipeline"), build.family_for("Flux2KleinPipeline")
    assert flux is not None and flux.name == "flux"
    assert flux2 is not None and flux2.name == "flux2"
    assert build.family_for("NoSuchPipeline") is None


def test_slots_honour_the_class_a_workflow_names() -> None:
    flux = build.family_for("FluxPipeline")
    assert (
        build.slot_part(flux, "FluxPipeline", "transformer", None).cls == "FluxTransformer2DModel"
    )
    # An Auto class takes the family's part; a known class outside the family its own.
    assert (
        build.slot_part(flux, "FluxPipeline", "tokenizer_2", "AutoTokenizer").cls == "T5Tokenizer"
    )
    assert (
        build.slot_part(None, "pipeline", "model", "AutoModelForCausalLM").cls == "Qwen3ForCausalLM"
    )
    # LTX-2.5's Gemma 4 text encoder, as dw's LTX-2 workflows name it.
    ltx2 = build.family_for("LTX2Pipeline")
    named = "transformers.Gemma4UnifiedForConditionalGeneration"
    part = build.slot_part(ltx2, "LTX2Pipeline", "text_encoder", named)
    assert part.cls == "Gemma4UnifiedForConditionalGeneration"
    # LTX-2.5's prompt enhancer and its processor, for the blocks that name them.
    enhancer = "transformers.Gemma4ForConditionalGeneration"
    part = build.slot_part(ltx2, "LTX2ImageToVideoPipeline", "prompt_enhancer", enhancer)
    assert part.cls == "Gemma4ForConditionalGeneration"
    processor = build.slot_part(ltx2, "LTX2Pipeline", "processor", "transformers.AutoProcessor")
    assert processor.cls == "Gemma4ImageTextProcessor"
    with pytest.raises(build.NoStandIn, match=r"no stand-in for MadeUpModel as FluxPipeline\.vae"):
        build.slot_part(flux, "FluxPipeline", "vae", "MadeUpModel")


def test_a_flux_loaded_without_its_text_encoders_reads_the_real_encoders_widths() -> None:
    """Flux Redux's prior, which has no text encoders, hands on zeros of T5-XXL's and
    CLIP-L's real widths: a FluxPipeline loaded without text encoders is fed those."""
    flux = build.family_for("FluxPipeline")
    assert flux is not None
    both = {"text_encoder": None, "text_encoder_2": None}
    assert flux.is_fed("FluxPipeline", both)
    assert not flux.is_fed("FluxPipeline", {"text_encoder": None})
    assert not flux.is_fed("FluxFillPipeline", both)
    _family, own = build.pipeline_parts(diffusers.FluxPipeline)
    _family, fed = build.pipeline_parts(diffusers.FluxPipeline, fed=True)
    assert own["transformer"] is not None and fed["transformer"] is not None
    assert own["transformer"].config["joint_attention_dim"] == 32
    assert fed["transformer"].config["joint_attention_dim"] == 4096
    assert fed["transformer"].config["pooled_projection_dim"] == 768
    _family, prior = build.pipeline_parts(diffusers.FluxPriorReduxPipeline)
    assert prior.get("text_encoder") is None and prior.get("text_encoder_2") is None
    assert prior["image_embedder"] is not None
    assert prior["image_embedder"].config["txt_in_features"] == 4096


def test_unbuildable_pipelines_say_why() -> None:
    with pytest.raises(build.NoStandIn, match="no stand-in family covers DDPMPipeline"):
        build.pipeline_parts(diffusers.DDPMPipeline)


def weights(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.safetensors"))
    }


def test_a_stand_in_is_deterministic_small_saved_once_and_loads_as_usual(
    cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started = time.perf_counter()
    first = store.pipeline_dir(diffusers.FluxPipeline)
    built_in = time.perf_counter() - started
    assert first.parent == cache and first.name.startswith("FluxPipeline-")
    assert built_in < 15, built_in  # generous: the first build takes about 0.3 s on two cores
    marker = (first / store.MARKER).stat().st_mtime_ns
    assert store.pipeline_dir(diffusers.FluxPipeline) == first
    assert (first / store.MARKER).stat().st_mtime_ns == marker  # not rebuilt
    size = sum(p.stat().st_size for p in first.rglob("*.safetensors"))
    assert size < 2_000_000, size
    monkeypatch.setenv("DW_LSP_CACHE_DIR", str(tmp_path / "other"))
    second = store.pipeline_dir(diffusers.FluxPipeline)
    assert second.name == first.name and weights(second) == weights(first)
    assert json.loads((first / store.MARKER).read_text())["family"] == "flux"
    pipe = diffusers.FluxPipeline.from_pretrained(first)
    assert type(pipe.transformer).__name__ == "FluxTransformer2DModel"


def test_a_component_lands_in_its_subfolder_with_its_variant(cache: Path) -> None:
    part = build.slot_part(build.family_for("FluxPipeline"), "FluxPipeline", "transformer", None)
    folder = store.component_dir(part, "transformer", "fp16")
    assert (folder / "transformer" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    model = diffusers.FluxTransformer2DModel.from_pretrained(
        folder, subfolder="transformer", variant="fp16"
    )
    assert model.config.num_layers == 1


def test_one_lora_per_denoiser_under_every_weight_name(cache: Path) -> None:
    default = store.lora_dir(diffusers.FluxPipeline)
    named = store.lora_dir(diffusers.FluxPipeline, "style/v2.safetensors")
    assert (named / "style" / "v2.safetensors").read_bytes() == (
        default / store.DEFAULT_LORA_WEIGHT
    ).read_bytes()


def record() -> tuple[list[tuple[str, Any, Any]], Any]:
    changes: list[tuple[str, Any, Any]] = []
    return changes, lambda name, given, used: changes.append((name, given, used))


def call(
    prompt: str = "",
    num_inference_steps: int = 50,
    height: int | None = None,
    width: int | None = None,
    num_frames: int = 81,
    strength: float = 1.0,
    timesteps: list[int] | None = None,
    guidance_scale: float = 5.0,
) -> None:
    """A stand-in for a pipeline's ``__call__`` signature."""


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {"prompt": "x", "num_inference_steps": 28, "height": 1024, "width": 2048},
            [
                ("num_inference_steps", 28, 2),
                ("height", 1024, 16),
                ("width", 2048, 32),
                ("num_frames", None, 5),
            ],
        ),
        (
            {"num_inference_steps": 1, "height": 16, "width": 16, "num_frames": 3},
            [],
        ),
        (
            {"strength": 0.3},
            [
                ("num_inference_steps", None, 4),
                ("height", None, 16),
                ("width", None, 16),
                ("num_frames", None, 5),
            ],
        ),
        (
            {"height": 768, "width": 1024, "num_frames": 5, "num_inference_steps": "variable"},
            [("height", 768, 16), ("width", 1024, 16)],
        ),
    ],
    ids=["shrinks", "small-kept", "strength", "aspect-and-non-numbers"],
)
def test_shrink_rules(arguments: dict[str, Any], expected: list[tuple[str, Any, Any]]) -> None:
    changes, note = record()
    shrunk = shrink.shrink_call(arguments, call, 16, 5, note)
    assert changes == expected
    assert {name: shrunk[name] for name, _given, _used in changes} == {
        name: used for name, _given, used in expected
    }
    changed = {name for name, _given, _used in changes}
    assert {k: v for k, v in shrunk.items() if k not in changed} == {
        k: v for k, v in arguments.items() if k not in changed
    }


def test_arguments_a_method_takes_through_kwargs_are_shrunk_when_given() -> None:
    def generate(text_inputs: Any, **kwargs: Any) -> None:
        """A transformers pipeline's call."""

    changes, note = record()
    shrunk = shrink.shrink_call(
        {"text_inputs": "hi", "max_new_tokens": 500}, generate, 16, None, note
    )
    assert shrunk["max_new_tokens"] == shrink.NEW_TOKENS
    assert changes == [("max_new_tokens", 500, shrink.NEW_TOKENS)]


def test_a_modular_calls_height_and_width_are_shrunk_through_kwargs() -> None:
    def modular_call(state: Any = None, output: Any = None, **kwargs: Any) -> None:
        """A ModularPipeline's __call__: every input through **kwargs."""

    changes, note = record()
    given = {"prompt": "x", "height": 544, "width": 960}
    assert shrink.shrink_call(given, modular_call, 32, None, note) == {
        "prompt": "x",
        "height": 32,
        "width": 64,
    }
    assert shrink.shrink_call({"prompt": "x"}, modular_call, 32, None, note) == {"prompt": "x"}
    assert changes == [("height", 544, 32), ("width", 960, 64)]


def test_the_prompt_enhancers_tokens_are_lowered_only_when_it_runs() -> None:
    def ltx2_call(
        prompt: str = "",
        enable_prompt_enhancement: bool = False,
        prompt_max_new_tokens: int | None = None,
    ) -> None:
        """LTX-2's call, as far as its prompt enhancer goes."""

    changes, note = record()
    assert shrink.shrink_call({"prompt": "x"}, ltx2_call, 64, None, note) == {"prompt": "x"}
    given = {"enable_prompt_enhancement": True, "prompt_max_new_tokens": 600}
    shrunk = shrink.shrink_call(given, ltx2_call, 64, None, note)
    assert shrunk["prompt_max_new_tokens"] == shrink.NEW_TOKENS
    enabled = shrink.shrink_call({"enable_prompt_enhancement": True}, ltx2_call, 64, None, note)
    assert enabled["prompt_max_new_tokens"] == shrink.NEW_TOKENS  # the default is 600
    assert [c for c in changes if c[0] == "prompt_max_new_tokens"] == [
        ("prompt_max_new_tokens", 600, shrink.NEW_TOKENS),
        ("prompt_max_new_tokens", None, shrink.NEW_TOKENS),
    ]


def test_placeholders_stand_in_only_for_media_that_cannot_be_had(tmp_path: Path) -> None:
    report: list[protocol.PlaceholderMedia] = []
    media = Placeholders(report, tmp_path / "cache")
    Image.new("RGB", (20, 10), "red").save(tmp_path / "real.png")
    assert media.load("image", "real.png", tmp_path, ()).size == (20, 10)
    assert media.load("image", "gone.png", tmp_path, ()).size == (64, 64)
    assert len(media.load("video", "https://example.invalid/v.mp4", tmp_path, ())) == 16
    audio = Path(media.file("voice.wav", tmp_path, ()))
    assert audio.suffix == ".wav" and audio.parent == tmp_path / "cache"
    assert [(m.kind, m.location) for m in report] == [
        ("image", "gone.png"),
        ("video", "https://example.invalid/v.mp4"),
        ("audio", "voice.wav"),
    ]
    for escape in ("../outside.png", "/etc/passwd.png"):
        with pytest.raises(ValueError):
            media.load("image", escape, tmp_path / "inner", ())
    assert len(report) == 3


def test_the_report_survives_the_wire() -> None:
    report = protocol.StandInReport(
        mode="all",
        models=[protocol.StandInModel("s", "pipeline", "FluxPipeline", "org/model")],
        arguments=[protocol.ShrunkArgument("s", "height", None, 16)],
        media=[protocol.PlaceholderMedia("image", "https://x.invalid/a.png")],
        devices=[protocol.ShrunkArgument("s", "pipeline.configuration.device", "cuda", "cpu")],
    )
    result = protocol.ExecuteResult(status="ok", standIn=report)
    wire = json.loads(json.dumps(protocol.to_json(result)))
    assert protocol.execute_result_from_json(wire).standIn == report
    assert protocol.execute_result_from_json({"status": "ok"}).standIn is None
