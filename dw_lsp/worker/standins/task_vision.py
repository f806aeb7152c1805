"""Stand-in builders for the vision task models (see :mod:`.task_models`, which keys them):
Grounding DINO and SAM 2 (``segment``), UperNet on ConvNeXt (``segmentation``), the Stable
Diffusion x4 upscaler (``diffusion_upscale``), a Real-ESRGAN Compact file (``upscale``) and
a RIFE 4.13 flow network file (``interpolate_frames``).

Each saves a tiny random-weight model with its processor into a folder, as the real
repository lays it out, so the task's own loading code reads it. Dimensions follow the
model tests of transformers and diffusers, kept smaller. Tokenizers are built in code.
Imports torch, transformers and diffusers lazily; never the executor or the tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The words the Grounding DINO stand-in's tokenizer knows (any other word is [UNK]).
DINO_WORDS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "dog", "cat", "fox", "red")
#: File suffixes spandrel reads with torch's (restricted) unpickler, not safetensors.
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def _wordpiece() -> Any:
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(DINO_WORDS)}
    raw = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    raw.normalizer = normalizers.BertNormalizer(lowercase=True)
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    roles = ("unk", "pad", "cls", "sep", "mask")
    specials = {f"{role}_token": f"[{role.upper()}]" for role in roles}
    lib: Any = transformers
    return lib.BertTokenizerFast(tokenizer_object=raw, **specials)


def build_grounding_dino(folder: Path) -> None:
    """A Grounding DINO (one-block Swin backbone, one-layer BERT, two decoder layers, four
    queries) with its processor."""
    import transformers

    lib: Any = transformers  # its config constructors take **kwargs mypy cannot see
    config = lib.GroundingDinoConfig(
        backbone_config=lib.SwinConfig(
            image_size=32,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=2,
            out_features=["stage2", "stage3", "stage4"],
            out_indices=[2, 3, 4],
        ),
        text_config=lib.BertConfig(
            vocab_size=len(DINO_WORDS),
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
    lib.GroundingDinoForObjectDetection(config).save_pretrained(folder)
    # 64 px at least: the last Swin stage of a smaller image is 1 x 1, which the
    # projection's GroupNorm refuses for a batch of one
    images = lib.GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 128})
    processor = lib.GroundingDinoProcessor(image_processor=images, tokenizer=_wordpiece())
    processor.save_pretrained(folder)


def build_sam2(folder: Path) -> None:
    """A SAM 2 of a four-stage Hiera (one block a stage) on 128 x 128 images, with its
    processor: ours on PIL (:class:`.processors.Sam2PilProcessor`), since transformers builds
    SAM 2's image processor on torchvision only."""
    import transformers

    from dw_lsp.worker.standins.processors import Sam2PilImageProcessor, Sam2PilProcessor

    lib: Any = transformers
    backbone = lib.Sam2HieraDetConfig(
        hidden_size=12,
        image_size=128,
        patch_stride=4,
        patch_kernel_size=7,
        patch_padding=3,
        blocks_per_stage=[1, 1, 1, 1],
        embed_dim_per_stage=[12, 24, 48, 96],
        num_attention_heads_per_stage=[1, 2, 4, 8],
    )
    config = lib.Sam2Config(
        vision_config=lib.Sam2VisionConfig(
            backbone_config=backbone,
            backbone_channel_list=[96, 48, 24, 12],
            backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
            fpn_hidden_size=32,
        ),
        prompt_encoder_config=lib.Sam2PromptEncoderConfig(
            image_size=128, patch_size=16, mask_input_channels=8, hidden_size=32
        ),
        mask_decoder_config=lib.Sam2MaskDecoderConfig(
            hidden_size=32,
            mlp_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            iou_head_hidden_dim=32,
        ),
        image_size=128,
    )
    lib.Sam2Model(config).save_pretrained(folder)
    images = Sam2PilImageProcessor(
        size={"height": 128, "width": 128}, mask_size={"height": 32, "width": 32}
    )
    Sam2PilProcessor(image_processor=images).save_pretrained(folder)


def build_upernet(folder: Path) -> None:
    """An UperNet on a four-stage ConvNeXt (one block a stage) with ADE20K's 150 labels,
    and the Segformer image processor of ``openmmlab/upernet-convnext-small`` at 32 x 32."""
    import transformers

    lib: Any = transformers
    config = lib.UperNetConfig(
        backbone_config=lib.ConvNextConfig(
            hidden_sizes=[8, 16, 24, 32],
            depths=[1, 1, 1, 1],
            out_features=["stage1", "stage2", "stage3", "stage4"],
        ),
        hidden_size=16,
        pool_scales=[1, 2],
        use_auxiliary_head=False,
        num_labels=150,
    )
    lib.UperNetForSemanticSegmentation(config).save_pretrained(folder)
    lib.SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)


def build_x4_upscaler(folder: Path) -> None:
    """A Stable Diffusion x4 upscaler (the shape of diffusers' own pipeline tests): a
    7-channel UNet with class-embedded noise levels, a factor-4 VAE, the tiny CLIP."""
    import diffusers

    from dw_lsp.worker.loading.tiny import _tiny_clip

    lib: Any = diffusers  # its constructors are untyped
    tokenizer, text_encoder = _tiny_clip()
    unet = lib.UNet2DConditionModel(
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
    vae = lib.AutoencoderKL(
        block_out_channels=[8, 8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        norm_num_groups=8,
        scaling_factor=0.08333,
    )
    pipeline = lib.StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=lib.DDPMScheduler(),
        scheduler=lib.DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipeline.save_pretrained(folder)


def compact_state(scale: int = 4, features: int = 8, convolutions: int = 2) -> dict[str, Any]:
    """A Real-ESRGAN "Compact" (SRVGGNet) state dict as spandrel detects it: ``body.N``
    alternating 3 x 3 convolutions and PReLUs, the last convolution giving
    3 * scale**2 channels for the pixel shuffle. Plain torch layers (no spandrel)."""
    import torch

    layers: list[torch.nn.Module] = [torch.nn.Conv2d(3, features, 3, padding=1)]
    layers.append(torch.nn.PReLU(features))
    for _ in range(convolutions):
        layers += [torch.nn.Conv2d(features, features, 3, padding=1), torch.nn.PReLU(features)]
    layers.append(torch.nn.Conv2d(features, 3 * scale * scale, 3, padding=1))
    body = torch.nn.Sequential(*layers)
    return {f"body.{k}": v.detach().contiguous() for k, v in body.state_dict().items()}


def save_compact(path: Path, scale: int = 4) -> Path:
    """A Compact upscaler saved at ``path``: pickled for ``.pth`` and kin (as most
    published upscalers are), safetensors otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_state(path, compact_state(scale))
    return path


def _inside(folder: Path, filename: str | None, default: str) -> Path:
    relative = Path(filename or default)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"the weights file name {filename!r} leaves its repository")
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save_state(path: Path, state: dict[str, Any]) -> None:
    import torch
    from safetensors.torch import save_file

    if path.suffix.lower() in PICKLE_SUFFIXES + (".pkl",):
        torch.save(state, path)
    else:
        save_file(state, str(path))


def build_rife_file(folder: Path, filename: str | None) -> None:
    """A RIFE 4.13 flow network in the published layout, every block 8 wide, saved in
    ``folder`` under ``filename``."""
    from dw_lsp.worker.tasks.rife import IFNet

    net = IFNet(widths=(8, 8, 8, 8), head_width=8)
    state = {key: value.detach().contiguous() for key, value in net.state_dict().items()}
    _save_state(_inside(folder, filename, "rife.safetensors"), state)


def build_compact_file(folder: Path, filename: str | None) -> None:
    """The x4 Compact upscaler saved in ``folder`` under ``filename`` (a relative path
    inside the folder; anything else is refused)."""
    save_compact(_inside(folder, filename, "model.safetensors"))
