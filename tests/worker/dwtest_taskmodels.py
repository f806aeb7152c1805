"""Tiny models for the model-backed task commands, built in code with random weights
(nothing is downloaded), and a Hugging Face cache laid out by hand so that the worker finds
them under the hub ids dw uses (``Qwen/Qwen2.5-1.5B-Instruct``, ``lllyasviel/Annotators``
...) exactly as it would find real downloads.

The language, vision-language, depth, detection, segmentation, upscaling and interpolation
models and the ControlNet-aux checkpoints are the worker's own task stand-ins
(:mod:`dw_lsp.worker.standins.task_models`), so a test and a stand-in run load the same
thing; the Florence-2 processor and the remote-code segmenter are built here only.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from dw_lsp.worker.standins import task_detectors, task_models, task_vision
from dw_lsp.worker.standins.build import seeded

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_folder(cache: Path, repo: str) -> Path:
    """The snapshot folder of ``repo`` in the hub cache ``cache`` (refs/main points to it)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    folder = root / "snapshots" / COMMIT
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_language_model(folder: Path) -> Path:
    """A two-layer Qwen2 chat model with its tokenizer (the worker's stand-in)."""
    with seeded():
        task_models.build_causal_lm(folder)
    return folder


def build_vision_language_model(folder: Path) -> Path:
    """An Idefics3 (SmolVLM) with its processor (the worker's stand-in)."""
    with seeded():
        task_models.build_vision_language_model(folder)
    return folder


def build_depth_model(folder: Path) -> Path:
    """A DPT depth estimator on 32 x 32 inputs (the worker's stand-in)."""
    with seeded():
        task_models.build_depth_model(folder)
    return folder


def build_florence_processor(folder: Path) -> Path:
    """A Florence-2 processor (16 x 16 images, four image tokens) that parses plain text."""
    from transformers import CLIPImageProcessor, Florence2Processor

    tokens = task_models.chat_tokenizer("<image>", "<s>")
    tokens.add_special_tokens({"bos_token": "<s>"})
    images = CLIPImageProcessor(
        size={"height": 16, "width": 16}, crop_size={"height": 16, "width": 16}
    )
    images.image_seq_length = 4
    processor = Florence2Processor(
        image_processor=images, tokenizer=tokens, post_processor_config={"pure_text": {}}
    )
    processor.save_pretrained(folder)
    return folder


def build_upscaler(path: Path, scale: int = 2) -> Path:
    """A Real-ESRGAN Compact upscaler file (the worker's stand-in, any scale)."""
    with seeded():
        return task_vision.save_compact(path, scale)


def build_detector_checkpoints(cache: Path, commands: list[str]) -> None:
    """The checkpoints of the detectors of ``commands``, in the hub cache under their
    repositories (the worker's stand-ins, random weights of the real networks)."""
    from dw_lsp.worker.tasks.detectors import DETECTORS

    for command in commands:
        spec = DETECTORS[command]
        assert spec.repo is not None, command
        with seeded():
            task_detectors.detector_builder(spec.cls)(hub_folder(cache, spec.repo))


#: The model code of the background-removal stand-in: like RMBG-2.0 it comes with its
#: weights (auto_map) and returns a list whose last entry is the mask logits.
SEGMENTER_CODE = """
import torch
from transformers import PretrainedConfig, PreTrainedModel


class TinySegmenterConfig(PretrainedConfig):
    model_type = "tiny_segmenter"


class TinySegmenter(PreTrainedModel):
    config_class = TinySegmenterConfig

    def __init__(self, config):
        super().__init__(config)
        self.head = torch.nn.Conv2d(3, 1, 1)
        self.post_init()

    def forward(self, pixel_values):
        return [self.head(pixel_values)]
"""


def build_remote_code_segmenter(folder: Path) -> Path:
    """A one-convolution image segmenter whose code travels with its weights."""
    import json

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny_segmenter.py").write_text(SEGMENTER_CODE)
    config = {
        "model_type": "tiny_segmenter",
        "architectures": ["TinySegmenter"],
        "auto_map": {
            "AutoConfig": "tiny_segmenter.TinySegmenterConfig",
            "AutoModelForImageSegmentation": "tiny_segmenter.TinySegmenter",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    head = torch.nn.Conv2d(3, 1, 1)
    save_file(
        {"head.weight": head.weight.detach().contiguous(), "head.bias": head.bias.detach()},
        str(folder / "model.safetensors"),
    )
    return folder


def build_x4_upscaler(folder: Path) -> Path:
    """A Stable Diffusion x4 upscaler pipeline (the worker's stand-in)."""
    with seeded():
        task_vision.build_x4_upscaler(folder)
    return folder


def build_grounding_dino(folder: Path) -> Path:
    """A Grounding DINO with its processor (the worker's stand-in)."""
    with seeded():
        task_vision.build_grounding_dino(folder)
    return folder


def build_upernet(folder: Path) -> Path:
    """An UperNet semantic segmenter with ADE20K's labels (the worker's stand-in)."""
    with seeded():
        task_vision.build_upernet(folder)
    return folder


def build_rife(folder: Path, filename: str = "rife-flownet-4.13.2.safetensors") -> Path:
    """A RIFE 4.13 flow network file, every block 8 wide (the worker's stand-in)."""
    with seeded():
        task_vision.build_rife_file(folder, filename)
    return folder / filename


def write_clip(path: Path, colours: list[tuple[int, int, int]], size: tuple[int, int]) -> Path:
    """An MP4 of one flat frame per colour (sides multiples of 16: H.264 keeps them)."""
    from diffusers.utils.export_utils import export_to_video

    path.parent.mkdir(parents=True, exist_ok=True)
    export_to_video([Image.new("RGB", size, colour) for colour in colours], str(path), fps=8)
    return path
