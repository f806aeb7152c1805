"""Tokenizers and processors of stand-in models, built in code (nothing is downloaded).

Each tokenizer kind has a small fixed vocabulary whose special tokens sit at fixed ids, so the
text encoders of :mod:`.registry` can name them in their configs (``bos_token_id`` ...):

- ``byte-bpe``: byte-level BPE with no merges, as CLIP and Qwen2 use: every prompt tokenizes,
  byte by byte (CLIP adds a ``</w>`` copy of each byte symbol);
- ``unigram``: a Unigram model over printable ASCII, as T5 / UMT5 use;
- ``char-bpe``: a BPE vocabulary of printable ASCII with ``▁``, as Gemma, Llama and Mistral
  use (other characters become ``<unk>``); Gemma 4's (``"vocabulary": "gemma4"`` in a
  tokenizer part's config) adds its video and audio tokens and names its image and audio
  tokens, as its multimodal processor requires.

:func:`build_tokenizer` makes the transformers class a part names (its constructor takes the
vocabulary directly in transformers 5); :func:`build_processor` makes image processors and
multimodal processors around them. Every vocabulary fits in :data:`VOCAB_SIZE` ids. Imports
``tokenizers`` and transformers lazily; never torch-level model code.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Every stand-in vocabulary has fewer ids than this; text encoders use it as vocab_size.
VOCAB_SIZE = 1024
PRINTABLE = [chr(code) for code in range(32, 127)]
SPACE = "▁"

#: Special tokens of each vocabulary, in id order from 0.
CLIP_SPECIALS = ("<|startoftext|>", "<|endoftext|>")
QWEN_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
T5_SPECIALS = ("<pad>", "</s>", "<unk>")
GEMMA_SPECIALS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_image>",
    "<image_soft_token>",
    "<end_of_image>",
)
#: Gemma 4 adds video and audio tokens after Gemma's; the ids match the media ids of the
#: Gemma 4 stand-ins' configs (:data:`GEMMA4_MEDIA_IDS`).
GEMMA4_SPECIALS = (
    *GEMMA_SPECIALS,
    "<|video|>",
    "<start_of_audio>",
    "<end_of_audio>",
    "<audio_soft_token>",
)
#: The tokens Gemma 4's processor reads from its tokenizer by name.
GEMMA4_NAMED = {
    "boi_token": "<start_of_image>",
    "image_token": "<image_soft_token>",
    "eoi_token": "<end_of_image>",
    "boa_token": "<start_of_audio>",
    "eoa_token": "<end_of_audio>",
    "audio_token": "<audio_soft_token>",
}
LLAMA_SPECIALS = ("<unk>", "<s>", "</s>", "[IMG]", "[IMG_BREAK]", "[IMG_END]")

#: Ids the text encoders' configs refer to.
CLIP_IDS = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
QWEN_IDS = {
    "eos_token_id": 0,
    "pad_token_id": 0,
    "vision_start_token_id": 3,
    "vision_end_token_id": 4,
    "vision_token_id": 5,
    "image_token_id": 6,
    "video_token_id": 7,
}
T5_IDS = {"pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
GEMMA_IDS = {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
GEMMA_IMAGE_IDS = {"boi_token_index": 5, "image_token_index": 6, "eoi_token_index": 7}
GEMMA4_MEDIA_IDS = {
    "boi_token_id": 5,
    "image_token_id": 6,
    "eoi_token_id": 7,
    "video_token_id": 8,
    "boa_token_id": 9,
    "eoa_token_index": 10,
    "audio_token_id": 11,
}
LLAMA_IDS = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


def _byte_symbols() -> list[str]:
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def byte_vocab(
    specials: tuple[str, ...], word_end: bool = False, specials_last: bool = False
) -> dict[str, int]:
    """Specials first (or last), then the 256 byte symbols (and their ``</w>`` forms for
    CLIP)."""
    symbols = _byte_symbols()
    body = [*symbols, *((s + "</w>" for s in symbols) if word_end else ())]
    tokens = [*body, *specials] if specials_last else [*specials, *body]
    return {token: index for index, token in enumerate(tokens)}


def clip_tokenizer(cls: Any, max_length: int = 77, vocab: dict[str, int] | None = None) -> Any:
    """A CLIP tokenizer over :func:`byte_vocab` (or ``vocab``); built through files, the one
    path that transformers 4 and 5 share."""
    vocab = vocab if vocab is not None else byte_vocab(CLIP_SPECIALS, word_end=True)
    with tempfile.TemporaryDirectory(prefix="dw-stand-in-tokenizer-") as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
        return cls.from_pretrained(folder, model_max_length=max_length)


#: The ChatML layout Qwen's tokenizers use (pipelines call ``apply_chat_template``).
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% else %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


#: A plain chat layout for the other tokenizers (text parts only; images as [IMG]).
PLAIN_CHAT = (
    "{% for message in messages %}[{{ message['role'] }}]"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% else %}[IMG]{% endif %}{% endfor %}{% endif %}{% endfor %}"
)
#: The plain layout with Gemma 4's image token for an image part, where its processor puts
#: the image's soft tokens.
GEMMA4_CHAT = PLAIN_CHAT.replace("[IMG]", GEMMA4_NAMED["image_token"])


def _qwen(cls: Any, max_length: int) -> Any:
    tokenizer = cls(vocab=byte_vocab(QWEN_SPECIALS), merges=[], model_max_length=max_length)
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIALS[1:])})
    tokenizer.chat_template = CHATML
    return tokenizer


def _unigram(cls: Any, max_length: int) -> Any:
    pieces = [(token, 0.0) for token in T5_SPECIALS]
    pieces += [
        (SPACE, -2.0),
        *((c, -3.0) for c in PRINTABLE),
        *((SPACE + c, -2.5) for c in PRINTABLE),
    ]
    return cls(vocab=pieces, extra_ids=0, model_max_length=max_length)


def _char_bpe(
    cls: Any,
    specials: tuple[str, ...],
    max_length: int,
    named: Mapping[str, str] | None = None,
    chat_template: str = PLAIN_CHAT,
) -> Any:
    """``named``: model-specific special tokens by attribute name (``image_token`` ...)."""
    tokens = [*specials, SPACE, *PRINTABLE]
    vocab = {token: index for index, token in enumerate(tokens)}
    names = {"<pad>": "pad_token", "<unk>": "unk_token", "<s>": "bos_token", "</s>": "eos_token"}
    names.update({"<eos>": "eos_token", "<bos>": "bos_token", "<mask>": "mask_token"})
    special = {names[t]: t for t in specials if t in names}
    if "pad_token" not in special:
        special["pad_token"] = specials[0]
    special.update(named or {})
    tokenizer = cls(vocab=vocab, merges=[], model_max_length=max_length, **special)
    extra = [t for t in specials if t not in special.values()]
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": extra})
    tokenizer.chat_template = chat_template
    return tokenizer


#: Tokenizer class name -> vocabulary kind.
TOKENIZER_KINDS = {
    "CLIPTokenizer": "clip",
    "CLIPTokenizerFast": "clip",
    "Qwen2Tokenizer": "qwen",
    "Qwen2TokenizerFast": "qwen",
    "T5Tokenizer": "unigram",
    "T5TokenizerFast": "unigram",
    "GemmaTokenizer": "gemma",
    "GemmaTokenizerFast": "gemma",
    "LlamaTokenizer": "llama",
    "LlamaTokenizerFast": "llama",
}


def build_tokenizer(cls: Any, config: Mapping[str, Any]) -> Any:
    """A tokenizer of class ``cls``; ``config`` may give ``model_max_length`` and the
    ``vocabulary`` (a kind other than the class's own, as ``gemma4`` for a GemmaTokenizer)."""
    kind = config.get("vocabulary", TOKENIZER_KINDS.get(cls.__name__))
    max_length = int(config.get("model_max_length", 512))
    if kind == "clip":
        return clip_tokenizer(cls, int(config.get("model_max_length", 77)))
    if kind == "qwen":
        return _qwen(cls, max_length)
    if kind == "unigram":
        return _unigram(cls, max_length)
    if kind == "gemma":
        return _char_bpe(cls, GEMMA_SPECIALS, max_length)
    if kind == "gemma4":
        return _char_bpe(cls, GEMMA4_SPECIALS, max_length, GEMMA4_NAMED, GEMMA4_CHAT)
    if kind == "llama":
        return _char_bpe(cls, LLAMA_SPECIALS, max_length)
    raise ValueError(f"no stand-in tokenizer for {cls.__name__}")


def is_tokenizer(name: str) -> bool:
    return name in TOKENIZER_KINDS


def build_processor(cls: Any, config: Mapping[str, Any]) -> Any:
    """An image processor (its config as keyword arguments) or a multimodal processor whose
    ``config`` names its ``tokenizer`` and ``image_processor`` classes and their configs."""
    import transformers

    options = dict(config)
    parts: dict[str, Any] = {}
    for role in ("tokenizer", "image_processor"):
        spec = options.pop(role, None)
        if spec is None:
            continue
        name, sub = spec
        kind = getattr(transformers, name)
        parts[role] = build_tokenizer(kind, sub) if is_tokenizer(name) else kind(**sub)
    return cls(**parts, **options)
