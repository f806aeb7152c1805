"""``configuration.prompt_weighting`` (FORMAT.md 1.4.1): A1111 weighting syntax turned into
prompt embeddings, for Flux-family pipelines (CLIP + T5, as dw) and Stable Diffusion 1.x/2.x
(one CLIP encoder).

Syntax: ``(text)`` multiplies the weight of ``text`` by 1.1, ``[text]`` divides it by 1.1,
``(text:1.5)`` sets a factor, brackets nest (``((text))`` = 1.21), ``\\(`` ``\\)`` ``\\[``
``\\]`` are literal brackets, ``BREAK`` is dropped. An unclosed bracket weights the rest.

Each weighted span is tokenized on its own and the per-token weights scale the encoder's
hidden states (for CLIP, rescaled so the mean is kept, as A1111 does; for T5, plainly);
the pooled CLIP output comes from the unweighted text. The call then gets
``prompt_embeds`` (and ``pooled_prompt_embeds`` for Flux) instead of ``prompt``, and the
same for ``negative_prompt`` where given. Prompts longer than one encoder window are cut
(with a log line), as the pipelines' own encoders do. No library fits: compel has its own
syntax (``word++``, ``(word)1.5``), not A1111's. May import torch; never the transport.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("dw_lsp.worker.prompt_weighting")

UP, DOWN = 1.1, 1 / 1.1
_TOKEN = re.compile(
    r"\\[()\[\]\\]|\(|\[|:\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\)|\)|\]|[^\\()\[\]:]+|:|\\"
)


class PromptWeightingError(ValueError):
    """Prompt weighting cannot apply to this pipeline or call (the message says why)."""


def parse(text: str) -> list[tuple[str, float]]:
    """``text`` as (span, weight) pairs; neighbours of equal weight are merged."""
    spans: list[list[Any]] = []
    rounds: list[int] = []
    squares: list[int] = []

    def scale(start: int, factor: float) -> None:
        for span in spans[start:]:
            span[1] *= factor

    for match in _TOKEN.finditer(text):
        piece, weight = match.group(0), match.group(1)
        if piece.startswith("\\") and len(piece) == 2:
            spans.append([piece[1], 1.0])
        elif piece == "(":
            rounds.append(len(spans))
        elif piece == "[":
            squares.append(len(spans))
        elif weight is not None and rounds:
            scale(rounds.pop(), float(weight))
        elif (piece.startswith(":") and piece.endswith(")") and rounds) or (
            piece == ")" and rounds
        ):
            scale(rounds.pop(), UP)
        elif piece == "]" and squares:
            scale(squares.pop(), DOWN)
        else:
            for index, part in enumerate(re.split(r"\s*\bBREAK\b\s*", piece)):
                if index:
                    spans.append([" ", 1.0])
                spans.append([part, 1.0])
    for start in rounds:
        scale(start, UP)
    for start in squares:
        scale(start, DOWN)
    merged: list[tuple[str, float]] = []
    for span, weight in spans:
        if not span:
            continue
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + span, weight)
        else:
            merged.append((span, weight))
    return merged or [("", 1.0)]


def _weighted_ids(
    tokenizer: Any, text: str, length: int, bos: bool
) -> tuple[list[int], list[float]]:
    """Token ids (special tokens included, padded to ``length``) and one weight per id."""
    ids: list[int] = []
    weights: list[float] = []
    for span, weight in parse(text):
        found = tokenizer(span, add_special_tokens=False).input_ids
        ids.extend(found)
        weights.extend([weight] * len(found))
    room = length - (2 if bos else 1)
    if len(ids) > room:
        log.info("weighted prompt cut to %d tokens: %r", room, text[:80])
        ids, weights = ids[:room], weights[:room]
    if bos:
        ids, weights = [tokenizer.bos_token_id, *ids], [1.0, *weights]
    ids, weights = [*ids, tokenizer.eos_token_id], [*weights, 1.0]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    missing = length - len(ids)
    return ids + [pad] * missing, weights + [1.0] * missing


def _clip(pipe: Any, text: str, encoder: Any, tokenizer: Any, keep_mean: bool) -> tuple[Any, Any]:
    """(weighted hidden states, pooled output) of one CLIP encoder."""
    import torch

    length = int(tokenizer.model_max_length)
    ids, weights = _weighted_ids(tokenizer, text, length, bos=True)
    device = encoder.device
    with torch.no_grad():
        out = encoder(torch.tensor([ids], device=device), output_hidden_states=False)
    hidden = out[0]
    pooled = out.pooler_output if hasattr(out, "pooler_output") else out[1]
    if all(w == 1.0 for w in weights):
        return hidden, pooled
    scale = torch.tensor(weights, device=device, dtype=hidden.dtype)[None, :, None]
    weighted = hidden * scale
    mean = weighted.mean()
    if keep_mean and abs(float(mean)) > 1e-4 * float(hidden.abs().mean()):
        # A1111 keeps the mean; a mean near zero (a normalised encoder without bias) would
        # turn the ratio into noise, so it is kept only where it means something.
        weighted = weighted * (hidden.mean() / mean)
    return weighted, pooled


def _t5(text: str, encoder: Any, tokenizer: Any, length: int) -> Any:
    import torch

    ids, weights = _weighted_ids(tokenizer, text, length, bos=False)
    device = encoder.device
    with torch.no_grad():
        hidden = encoder(torch.tensor([ids], device=device), output_hidden_states=False)[0]
    return hidden * torch.tensor(weights, device=device, dtype=hidden.dtype)[None, :, None]


def family(pipe: Any) -> str:
    """``flux`` or ``sd``: which encoder stack the pipeline carries."""
    parts = ("tokenizer", "text_encoder", "tokenizer_2", "text_encoder_2")
    if type(pipe).__name__.startswith("Flux") and all(getattr(pipe, p, None) for p in parts):
        return "flux"
    if (
        hasattr(pipe, "unet")
        and getattr(pipe, "text_encoder", None) is not None
        and getattr(pipe, "text_encoder_2", None) is None
    ):
        return "sd"
    raise PromptWeightingError(
        f"configuration.prompt_weighting: {type(pipe).__name__} is not supported (Flux-family "
        "pipelines with CLIP + T5, and single-encoder Stable Diffusion pipelines are)"
    )


def apply(pipe: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments with weighted embeddings in place of the prompt strings."""
    kind = family(pipe)
    out = dict(arguments)
    prompt = out.pop("prompt", None)
    negative = out.pop("negative_prompt", None)
    for name, value in (("prompt", prompt), ("negative_prompt", negative)):
        if value is not None and not isinstance(value, str):
            raise PromptWeightingError(
                f"configuration.prompt_weighting: {name} must be one string, not "
                f"{type(value).__name__}"
            )
    if prompt is None:
        return dict(arguments)
    dtype = getattr(pipe.text_encoder, "dtype", None)
    if kind == "sd":
        out["prompt_embeds"] = _clip(pipe, prompt, pipe.text_encoder, pipe.tokenizer, True)[0]
        if negative is not None or float(out.get("guidance_scale", 7.5)) > 1:
            out["negative_prompt_embeds"] = _clip(
                pipe, negative or "", pipe.text_encoder, pipe.tokenizer, True
            )[0]
        return out
    out.pop("prompt_2", None)
    length = int(out.get("max_sequence_length", 512))
    for name, text in (("", prompt), ("negative_", negative)):
        if text is None:
            continue
        _hidden, pooled = _clip(pipe, text, pipe.text_encoder, pipe.tokenizer, False)
        embeds = _t5(text, pipe.text_encoder_2, pipe.tokenizer_2, length)
        out[f"{name}prompt_embeds"] = embeds.to(pipe.text_encoder_2.dtype)
        out[f"{name}pooled_prompt_embeds"] = pooled.to(dtype) if dtype is not None else pooled
    return out
