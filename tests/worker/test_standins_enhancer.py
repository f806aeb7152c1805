"""LTX-2.5's prompt enhancer on stand-ins, in process: the Gemma 4 chat model and its processor
(without the video part transformers cannot build here) are the parts the LTX-2 family gives
for the component blocks that name them; both save and load as a workflow loads them
(``AutoProcessor`` included), the processor puts the image's soft tokens in the prompt, and the
image-to-video pipeline's enhancement runs and hands the enhanced prompt to its text encoder.
The corpus workflow that uses them runs through the worker in ``test_standins_corpus.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import diffusers
import pytest
import torch
import transformers
from diffusers.pipelines.ltx2.utils import LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT
from PIL import Image
from transformers.models.auto.processing_auto import processor_class_from_name

from dw_lsp.worker.standins import build, store

PIPELINE = diffusers.LTX2ImageToVideoPipeline
PROMPT = "a marmot in a top hat sings"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DW_LSP_CACHE_DIR", str(tmp_path / "models"))
    return tmp_path / "models" / "stand-ins"


def enhancer_folders() -> tuple[Path, Path]:
    """The stand-in folders of the enhancer and the processor, as the dw workflow names them."""
    family = build.family_for(PIPELINE.__name__)
    enhancer = build.slot_part(
        family, PIPELINE.__name__, "prompt_enhancer", "transformers.Gemma4ForConditionalGeneration"
    )
    processor = build.slot_part(
        family, PIPELINE.__name__, "processor", "transformers.AutoProcessor"
    )
    return store.component_dir(enhancer), store.component_dir(processor)


def load_enhancer() -> tuple[Any, Any]:
    enhancer_dir, processor_dir = enhancer_folders()
    enhancer = transformers.Gemma4ForConditionalGeneration.from_pretrained(enhancer_dir)
    return enhancer.eval(), transformers.AutoProcessor.from_pretrained(processor_dir)


def test_the_enhancer_and_its_processor_save_and_load_as_a_workflow_loads_them(
    cache: Path,
) -> None:
    enhancer, processor = load_enhancer()
    assert isinstance(processor, transformers.Gemma4Processor)
    assert type(processor.image_processor).__name__ == "Gemma4ImageProcessorPil"
    assert sum(p.numel() for p in enhancer.parameters()) < 100_000
    config = enhancer.config
    tokenizer = processor.tokenizer
    assert tokenizer.image_token_id == config.image_token_id
    assert (tokenizer.boi_token_id, tokenizer.eoi_token_id) == (
        config.boi_token_id,
        config.eoi_token_id,
    )
    assert processor.video_token_id == config.video_token_id
    assert max(tokenizer.get_vocab().values()) < config.text_config.vocab_size
    # The image's soft tokens take the image token's place in the chat template's text.
    messages = [
        {"role": "system", "content": "describe"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = Image.new("RGB", (896, 504), "teal")
    inputs = processor(text=text, images=image, return_tensors="pt")
    [expected] = processor.image_processor(image)["num_soft_tokens_per_image"]
    assert int((inputs.input_ids == config.image_token_id).sum()) == expected > 0
    assert inputs.pixel_values.shape[0] == 1
    # Only the blocks that name them get them: a stand-in pipeline has neither.
    _family, parts = build.pipeline_parts(PIPELINE)
    assert parts["prompt_enhancer"] is None and parts["processor"] is None
    # A real Gemma 4 repository still names transformers' own processor.
    assert processor_class_from_name("Gemma4Processor") is transformers.Gemma4Processor


def test_image_to_video_enhancement_changes_the_prompt_the_text_encoder_gets(
    cache: Path,
) -> None:
    enhancer, processor = load_enhancer()
    pipe = PIPELINE.from_pretrained(
        store.pipeline_dir(PIPELINE), prompt_enhancer=enhancer, processor=processor
    )
    encoded: list[Any] = []
    encode = pipe.encode_prompt

    def recording(*args: Any, **kwargs: Any) -> Any:
        encoded.append(kwargs["prompt"])
        return encode(*args, **kwargs)

    pipe.encode_prompt = recording
    image = Image.new("RGB", (96, 64), "orange")
    pipe(
        prompt=PROMPT,
        image=image,
        enable_prompt_enhancement=True,
        prompt_max_new_tokens=8,
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=1,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )
    [[prompt]] = encoded
    assert prompt and prompt != PROMPT
    # The enhancer's own (greedy) answer for that prompt and image.
    assert pipe.enhance_prompt(
        PROMPT, LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT, max_new_tokens=8, image=image
    ) == [prompt]
