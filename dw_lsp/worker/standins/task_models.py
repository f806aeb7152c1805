"""Stand-ins for the models of the model-backed task commands (FORMAT.md section 2).

A task command asks for a model of a *kind* (``text-generation``, ``depth-estimation`` ...);
:func:`task_model_dir` builds the tiny random-weight model of that kind once, saves it into
the stand-in cache beside the pipeline stand-ins (:func:`.store.root`, under ``task-<model>-
<hash>``, atomically, marked by ``stand-in.json``) and returns the folder, which the task then
loads through its real code path (a transformers pipeline, ``from_pretrained``, spandrel).
:func:`class_for` names the class a kind stands in with for a given source (the report).

The language models share one tokenizer built in code (Qwen2's byte-level BPE over printable
ASCII without merges, so every text encodes; a chat template that also places images); what
they generate is printable noise.
Text: Qwen2 or Qwen3 (the one the source names), the dimensions of :data:`.parts.QWEN3_TEXT`.
Vision-language: Idefics3 (SmolVLM's architecture) with a one-layer SigLIP tower on 32 x 32
images, for every vision-language source (Qwen2.5-VL's processor needs torchvision for its
video part, which has no build for this torch). Depth: DPT on 32 x 32 inputs. The
detection, segmentation, upscaling and interpolation models are in :mod:`.task_vision`, the
ControlNet-aux checkpoints in :mod:`.task_detectors`. Dimensions follow transformers' own
model tests, kept smaller.
Imports torch and transformers lazily; never the executor or the tasks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dw_lsp.worker.standins import task_detectors, task_vision
from dw_lsp.worker.standins.build import NoStandIn, seeded
from dw_lsp.worker.standins.parts import QWEN3_TEXT, VERSION
from dw_lsp.worker.standins.store import MARKER, materialize, root

#: Bump when a task stand-in's recipe changes.
TASK_VERSION = "4"
#: The byte-level symbols of the space and the newline.
BYTE_SPACE, BYTE_NEWLINE = chr(256 + 32), chr(256 + 10)
IMAGE_TOKENS = ("<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for part in m['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chat_tokenizer(*extra: str) -> Any:
    """A Qwen2 tokenizer (byte-level BPE, no merges) whose vocabulary holds only the byte
    symbols of printable ASCII, the space and the newline: every text encodes (other
    characters are dropped) and what a random model generates is printable text, as a
    workflow passing it on expects. ChatML specials and ``extra`` special tokens
    (``<image>`` also becomes the tokenizer's ``image_token``)."""
    import transformers

    lib: Any = transformers
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra]
    symbols = [chr(code) for code in range(33, 127)] + [BYTE_SPACE, BYTE_NEWLINE]
    vocabulary = {token: index for index, token in enumerate([*specials, *symbols])}
    tokenizer = lib.Qwen2Tokenizer(
        vocab=vocabulary,
        merges=[],
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        extra_special_tokens={"image_token": "<image>"} if "<image>" in extra else {},
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _text_config(cls: str, tokens: Any) -> Any:
    import transformers

    config = {k: v for k, v in QWEN3_TEXT.items() if not k.endswith("_token_id")}
    if cls == "LlamaForCausalLM":
        config.pop("head_dim")
    config_class = getattr(transformers, cls.replace("ForCausalLM", "Config"))
    return config_class(
        **{**config, "vocab_size": len(tokens)},
        eos_token_id=tokens.eos_token_id,
        pad_token_id=tokens.pad_token_id,
        bos_token_id=None,
    )


def build_causal_lm(folder: Path, cls: str = "Qwen2ForCausalLM") -> None:
    """A two-layer chat model of class ``cls`` (Qwen2, Qwen3 or Llama) and its tokenizer."""
    import transformers

    tokens = chat_tokenizer()
    getattr(transformers, cls)(_text_config(cls, tokens)).save_pretrained(folder)
    tokens.save_pretrained(folder)


def build_vision_language_model(folder: Path) -> None:
    """An Idefics3 (SmolVLM) of a one-layer SigLIP tower on 32 x 32 images, patches of 8
    merged 2 x 2 (four image tokens), and a two-layer Llama, with its processor."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        Idefics3VisionConfig,
    )

    tokens = chat_tokenizer(*IMAGE_TOKENS)
    images = Idefics3ImageProcessorPil(
        size={"longest_edge": 32}, max_image_size={"longest_edge": 32}, do_image_splitting=False
    )
    processor = Idefics3Processor(
        image_processor=images, tokenizer=tokens, image_seq_len=4, chat_template=CHAT_TEMPLATE
    )
    config = Idefics3Config(
        vision_config=Idefics3VisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        text_config=_text_config("LlamaForCausalLM", tokens),
        scale_factor=2,
        image_token_id=tokens.convert_tokens_to_ids("<image>"),
    )
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokens.eos_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def build_depth_model(folder: Path) -> None:
    """A four-layer DPT depth estimator on 32 x 32 inputs, with its image processor."""
    import transformers

    lib: Any = transformers
    config = lib.DPTConfig(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
        head_hidden_size=8,
        reassemble_factors=[4, 2, 1, 0.5],
    )
    lib.DPTForDepthEstimation(config).save_pretrained(folder)
    images = lib.DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False)
    images.save_pretrained(folder)


@dataclass(frozen=True)
class TaskModel:
    """How one task stand-in is built: the class it is, and the builder that saves it into a
    folder (given the file name a single-file model is to have)."""

    cls: str
    build: Callable[[Path, str | None], None]


def _folder(build: Callable[[Path], None]) -> Callable[[Path, str | None], None]:
    return lambda folder, _filename: build(folder)


MODELS: dict[str, TaskModel] = {
    "qwen2": TaskModel("Qwen2ForCausalLM", _folder(build_causal_lm)),
    "qwen3": TaskModel(
        "Qwen3ForCausalLM", _folder(lambda f: build_causal_lm(f, "Qwen3ForCausalLM"))
    ),
    "idefics3": TaskModel("Idefics3ForConditionalGeneration", _folder(build_vision_language_model)),
    "dpt": TaskModel("DPTForDepthEstimation", _folder(build_depth_model)),
    "grounding-dino": TaskModel(
        "GroundingDinoForObjectDetection", _folder(task_vision.build_grounding_dino)
    ),
    "sam2": TaskModel("Sam2Model", _folder(task_vision.build_sam2)),
    "sd-x4-upscaler": TaskModel(
        "StableDiffusionUpscalePipeline", _folder(task_vision.build_x4_upscaler)
    ),
    "compact": TaskModel("spandrel Compact (SRVGGNet) x4", task_vision.build_compact_file),
    "upernet": TaskModel("UperNetForSemanticSegmentation", _folder(task_vision.build_upernet)),
    "rife": TaskModel("RIFE 4.13 IFNet", task_vision.build_rife_file),
    **{
        f"detector-{cls}": TaskModel(cls, _folder(task_detectors.detector_builder(cls)))
        for cls in task_detectors.NETS
    },
}


def _always(name: str) -> Callable[[str], str]:
    return lambda _source: name


#: What a task asks for (its kind) -> the stand-in model, by what the source names.
KINDS: dict[str, Callable[[str], str]] = {
    "text-generation": lambda source: "qwen3" if "qwen3" in source.lower() else "qwen2",
    "image-text-to-text": lambda source: "idefics3",
    "depth-estimation": lambda source: "dpt",
    "zero-shot-object-detection": lambda source: "grounding-dino",
    "mask-generation": lambda source: "sam2",
    "sd-x4-upscaler": lambda source: "sd-x4-upscaler",
    "super-resolution": lambda source: "compact",
    "semantic-segmentation": lambda source: "upernet",
    "frame-interpolation": lambda source: "rife",
    **{f"detector-{cls}": _always(f"detector-{cls}") for cls in task_detectors.NETS},
}


def _model(kind: str, source: str) -> str:
    pick = KINDS.get(kind)
    if pick is None:
        raise NoStandIn(f"no stand-in for task models of kind {kind!r} yet")
    return pick(source)


def class_for(kind: str, source: str) -> str:
    """The class the stand-in of ``kind`` for ``source`` is (named in the report)."""
    return MODELS[_model(kind, source)].cls


def task_model_dir(kind: str, source: str, filename: str | None = None) -> Path:
    """The folder of the stand-in for a task model of ``kind`` named ``source`` (holding
    ``filename`` for a single-file model), built and saved on first use."""
    name = _model(kind, source)
    model = MODELS[name]
    payload: dict[str, Any] = {"task_model": name, "class": model.cls, "filename": filename}
    payload["task_version"] = TASK_VERSION
    text = json.dumps({"version": VERSION, **payload}, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def save(folder: Path) -> None:
        with seeded():
            model.build(folder, filename)
        (folder / MARKER).write_text(json.dumps(payload, indent=2), encoding="utf-8")

    return materialize(root() / f"task-{name}-{digest}", save)
