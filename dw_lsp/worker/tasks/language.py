"""Text from language models (FORMAT.md section 2): ``text_generation`` and
``image_to_text``, both through transformers pipelines.

Without an image, ``text_generation`` runs the ``text-generation`` pipeline on a chat (an
optional system message, then the prompt); with one, the ``image-text-to-text`` pipeline on
a chat whose user message holds the image and the prompt. ``image_to_text`` is the second
form with its own defaults. Decoding is greedy (the same input gives the same text);
``generate_kwargs`` is applied last and may override that. The model is a local folder or a
hub id in the local cache (:mod:`locate`), loaded once per (pipeline task, model, device,
dtype) and kept warm. In a stand-in run a stood-in model's ``max_new_tokens`` is lowered
(reported). Imports transformers and torch only when a command runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, as_image, take, whole

TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
VISION_MODEL = "HuggingFaceTB/SmolVLM-256M-Instruct"
#: Greedy decoding makes vision models repeat themselves; dw's measured default.
VISION_REPETITION_PENALTY = 1.15


def _messages(prompt: str, system_prompt: Any, image: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if image is None:
        if system_prompt is not None:
            messages.append({"role": "system", "content": str(system_prompt)})
        messages.append({"role": "user", "content": prompt})
        return messages
    if system_prompt is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}],
        }
    )
    return messages


def _dtype(device: str) -> Any:
    import torch

    return torch.float16 if device.startswith(("cuda", "mps")) else torch.float32


def generate(
    context: TaskContext,
    prompt: Any,
    *,
    image: Any,
    model_name: Any,
    system_prompt: Any,
    max_new_tokens: Any,
    repetition_penalty: Any,
    generate_kwargs: Any,
) -> str:
    """One generation; returns the stripped text."""
    command = context.command
    if not isinstance(prompt, str):
        raise ValueError(f"task '{command}': 'prompt' must be a string, got {prompt!r}")
    tokens = whole(command, "max_new_tokens", max_new_tokens, minimum=1)
    if generate_kwargs is not None and not isinstance(generate_kwargs, Mapping):
        raise ValueError(f"task '{command}': 'generate_kwargs' must be an object")
    picture = None if image in (None, "") else as_image(command, image)
    task = "text-generation" if picture is None else "image-text-to-text"
    name = model_name or (TEXT_MODEL if picture is None else VISION_MODEL)
    device = context.target
    dtype = _dtype(device)
    stood = locate.stand_in(context, name, task)
    folder = stood or locate.model_folder(command, name, context.base_dir, f"{task} model")
    if stood is not None and context.stand_ins is not None:
        tokens = context.stand_ins.shrink(command, "max_new_tokens", tokens)

    def load() -> Any:
        transformers = locate.require(command, "transformers")
        return transformers.pipeline(task, model=str(folder), device=device, dtype=dtype)

    pipe = context.models.load("model", (command, task, str(folder), device, str(dtype)), load)
    generation: dict[str, Any] = {"do_sample": False}
    if picture is not None:
        generation["repetition_penalty"] = float(repetition_penalty)
    generation.update(generate_kwargs or {})
    messages = _messages(prompt, system_prompt, picture)
    if picture is None:
        outputs = pipe(messages, max_new_tokens=tokens, return_full_text=False, **generation)
    else:
        # this pipeline forwards only generate_kwargs to generate(); the chat goes in as text
        outputs = pipe(
            text=messages,
            max_new_tokens=tokens,
            return_full_text=False,
            generate_kwargs=generation,
        )
    return str(outputs[0]["generated_text"]).strip()


def text_generation(arguments: Any, context: TaskContext) -> str:
    values = take(
        context.command,
        arguments,
        {
            "prompt": REQUIRED,
            "system_prompt": None,
            "model_name": None,
            "image": None,
            "max_new_tokens": 500,
            "repetition_penalty": VISION_REPETITION_PENALTY,
            "generate_kwargs": None,
        },
    )
    prompt = values.pop("prompt")
    return generate(context, prompt, **values)


def image_to_text(arguments: Any, context: TaskContext) -> str:
    values = take(
        context.command,
        arguments,
        {
            "image": REQUIRED,
            "model_name": VISION_MODEL,
            "prompt": "Describe this image.",
            "system_prompt": None,
            "max_new_tokens": 50,
        },
    )
    if values["image"] is None:
        raise ValueError(f"task '{context.command}' needs an image")
    prompt = values.pop("prompt")
    return generate(
        context,
        prompt,
        repetition_penalty=VISION_REPETITION_PENALTY,
        generate_kwargs=None,
        **values,
    )


COMMANDS: dict[str, Handler] = {
    "text_generation": text_generation,
    "image_to_text": image_to_text,
}
