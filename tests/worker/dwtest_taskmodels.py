"""Tiny stand-ins for the models of the model-backed task commands, built in code with
random weights (nothing is downloaded), and a Hugging Face cache laid out by hand so that the
worker finds them under the hub ids dw uses (``Qwen/Qwen2.5-1.5B-Instruct``,
``lllyasviel/Annotators`` ...) exactly as it would find real downloads.

Tokenizers are byte-level BPE without merges (every text encodes), so a chat template and
greedy generation run for real; the text they produce is noise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for part in m['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def hub_folder(cache: Path, repo: str) -> Path:
    """The snapshot folder of ``repo`` in the hub cache ``cache`` (refs/main points to it)."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT)
    folder = root / "snapshots" / COMMIT
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tokenizer(*extra: str) -> Any:
    """Byte-level BPE without merges; ``extra`` special tokens (``<image>`` is also made the
    tokenizer's ``image_token``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {c: i for i, c in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    raw = Tokenizer(models.BPE(vocab=vocabulary, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(["<|im_start|>", "<|im_end|>", "<|endoftext|>", *extra])
    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        extra_special_tokens={"image_token": "<image>"} if "<image>" in extra else {},
    )


def _llama(vocab: int, tokens: Any) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        eos_token_id=tokens.eos_token_id,
        pad_token_id=tokens.pad_token_id,
        bos_token_id=None,
    )


def build_language_model(folder: Path) -> Path:
    """A one-layer Llama chat model with its tokenizer."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    tokens = tokenizer()
    LlamaForCausalLM(_llama(len(tokens), tokens)).save_pretrained(folder)
    tokens.save_pretrained(folder)
    return folder


def build_vision_language_model(folder: Path) -> Path:
    """A LLaVA of a one-layer CLIP vision tower and a one-layer Llama, with its processor."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tokens = tokenizer("<image>")
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
        ),
        tokenizer=tokens,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
        image_token="<image>",
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=16,
            patch_size=8,
            projection_dim=16,
        ),
        text_config=_llama(len(tokens), tokens),
        image_token_id=tokens.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokens.eos_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_depth_model(folder: Path) -> Path:
    """A four-layer DPT depth estimator on 32 x 32 inputs, with its image processor."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
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
    DPTForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(
        folder
    )
    return folder


def save_state(
    path: Path, module: torch.nn.Module, wrap: Callable[[Any], Any] = lambda s: s
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(module.state_dict()), path)
    return path


def build_florence_processor(folder: Path) -> Path:
    """A Florence-2 processor (16 x 16 images, four image tokens) that parses plain text."""
    from transformers import CLIPImageProcessor, Florence2Processor

    tokens = tokenizer("<image>", "<s>")
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
    """A Real-ESRGAN "Compact" (SRVGGNet) state dict, 8 features wide with two inner
    convolutions, laid out as spandrel detects it: ``body.N`` alternating 3 x 3
    convolutions and PReLUs, the last convolution giving 3 * scale**2 channels for the
    pixel shuffle. Built with plain torch layers, so it needs no spandrel."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    features = 8
    layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, features, 3, padding=1)]
    layers.append(torch.nn.PReLU(features))
    for _ in range(2):
        layers += [torch.nn.Conv2d(features, features, 3, padding=1), torch.nn.PReLU(features)]
    layers.append(torch.nn.Conv2d(features, 3 * scale * scale, 3, padding=1))
    body = torch.nn.Sequential(*layers)
    state = {f"body.{k}": v.detach().contiguous() for k, v in body.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


#: The ControlNet-aux checkpoints the tests build: command -> (hub id, file -> net factory
#: and how the file wraps its state dict).
def detector_checkpoints() -> dict[str, tuple[str, dict[str, Callable[[Path], Path]]]]:
    from dw_lsp.worker.tasks.detectors import DETECTORS, detector_class

    detector_class("build", DETECTORS["canny"])  # controlnet_aux, importable module by module
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.lineart import Generator
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large
    from controlnet_aux.pidi.model import pidinet
    from controlnet_aux.teed.ted import TED

    def plain(factory: Callable[[], torch.nn.Module]) -> Callable[[Path], Path]:
        return lambda path: save_state(path, factory())

    annotators = "lllyasviel/Annotators"
    return {
        "teed": ("fal-ai/teed", {"5_model.pth": plain(TED)}),
        "anyline": ("TheMistoAI/MistoLine", {"Anyline/MTEED.pth": plain(TED)}),
        "pidi": (
            annotators,
            {"table5_pidinet.pth": lambda p: save_state(p, pidinet(), lambda s: {"state_dict": s})},
        ),
        "hed": (annotators, {"ControlNetHED.pth": plain(ControlNetHED_Apache2)}),
        "lineart": (
            annotators,
            {
                "sk_model.pth": plain(lambda: Generator(3, 1, 3)),
                "sk_model2.pth": plain(lambda: Generator(3, 1, 3)),
            },
        ),
        "mlsd": (annotators, {"mlsd_large_512_fp32.pth": plain(MobileV2_MLSD_Large)}),
    }


def build_detector_checkpoints(cache: Path, commands: list[str]) -> None:
    torch.manual_seed(0)
    table = detector_checkpoints()
    for command in commands:
        repo, files = table[command]
        folder = hub_folder(cache, repo)
        for name, build in files.items():
            if not (folder / name).exists():
                build(folder / name)


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
    """A Stable Diffusion x4 upscaler (dimensions of diffusers' own pipeline tests): a
    7-channel UNet with class-embedded noise levels, a factor-4 VAE, the tiny CLIP."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    from dw_lsp.worker.loading.tiny import _tiny_clip

    torch.manual_seed(0)
    tokenizer_, text_encoder = _tiny_clip()
    unet = UNet2DConditionModel(
        block_out_channels=(32, 32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_encoder.config.hidden_size,
        attention_head_dim=8,
        norm_num_groups=8,
        use_linear_projection=True,
        num_class_embeds=100,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        norm_num_groups=8,
        scaling_factor=0.08333,
    )
    pipeline = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer_,
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipeline.save_pretrained(folder)
    return folder


def build_grounding_dino(folder: Path) -> Path:
    """A Grounding DINO (one-block Swin backbone, one-layer BERT, two decoder layers, four
    queries) with a WordPiece tokenizer of a dozen words."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "dog", "cat", "fox", "red"]
    raw = Tokenizer(models.WordPiece(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tokens = BertTokenizerFast(
        tokenizer_object=raw,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    images = GroundingDinoImageProcessor(size={"shortest_edge": 32, "longest_edge": 64})
    torch.manual_seed(0)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=32,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=2,
            out_features=["stage2", "stage3", "stage4"],
            out_indices=[2, 3, 4],
        ),
        text_config=BertConfig(
            vocab_size=len(words),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            max_position_embeddings=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=4,
        num_feature_levels=3,
        encoder_n_points=1,
        decoder_n_points=1,
        max_text_len=16,
        use_timm_backbone=False,
        backbone=None,
    )
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    GroundingDinoProcessor(image_processor=images, tokenizer=tokens).save_pretrained(folder)
    return folder
