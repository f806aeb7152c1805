"""Data and plumbing task commands (FORMAT.md section 2): ``gather_inputs``,
``gather_images``, ``get_dict_value``, ``format_chat_message``, ``extract_sections`` and
``batch_decode_post_process``.

``gather_images`` globs relative to the workflow folder and path-checks every match;
URLs load only when the worker allows network media (in a stand-in run, an unreachable one
gives a placeholder). Imports PIL through the value loaders.
"""

from __future__ import annotations

import glob as globbing
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, take
from dw_lsp.worker.values.media import (
    IMAGE_EXTENSIONS,
    check_extension,
    check_path,
    check_url,
    load_image_location,
)
from dw_lsp.workflow import refs

MAX_GLOB_MATCHES = 10_000


def gather_inputs(arguments: Any, context: TaskContext) -> Any:
    """The argument set (or one ``inputs`` item) unchanged: fans values out to later steps."""
    return arguments


def glob_files(pattern: str, base_dir: Path, command: str) -> list[Path]:
    """Files matching ``pattern`` under ``base_dir``, sorted, each path-checked."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"task '{command}': 'glob' must be a non-empty pattern string")
    why = refs.unsafe_character(pattern)
    if why is not None:
        raise ValueError(f"task '{command}': the glob {pattern!r} contains {why}")
    matches = sorted(globbing.glob(pattern, root_dir=base_dir, recursive=True))
    if len(matches) > MAX_GLOB_MATCHES:
        raise ValueError(f"task '{command}': '{pattern}' matches more than {MAX_GLOB_MATCHES}")
    files: list[Path] = []
    for match in matches:
        path = check_path(match, base_dir)
        if path.is_file():
            files.append(path)
    return files


def url_list(command: str, urls: Any) -> list[str]:
    if urls is None:
        return []
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, Sequence) or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"task '{command}': 'urls' must be a list of http(s) URLs")
    return [check_url(url) for url in urls]


def gather(
    arguments: Any,
    context: TaskContext,
    kind: str,
    extensions: Sequence[str],
    load: Callable[[str, Path], Any],
) -> list[Any]:
    """Media of one ``kind`` from a ``glob`` (path-checked files) and ``urls``; an error
    when nothing is found (dw's ``gather_images`` / ``gather_videos``)."""
    values = take(context.command, arguments, {"glob": None, "urls": None})
    found: list[Any] = []
    if values["glob"] is not None:
        for path in glob_files(values["glob"], context.base_dir, context.command):
            check_extension(path, extensions, kind)
            found.append(load(str(path), context.base_dir))
    if context.media is not None:  # a stand-in run: unreachable URLs become placeholders
        urls = values["urls"] if not isinstance(values["urls"], str) else [values["urls"]]
        found.extend(context.media.load(kind, url, context.base_dir, ()) for url in urls or [])
    else:
        found.extend(
            load(url, context.base_dir) for url in url_list(context.command, values["urls"])
        )
    if not found:
        raise ValueError(
            f"task '{context.command}' found no {kind}s (glob {values['glob']!r}, "
            f"urls {values['urls']!r})"
        )
    return found


def gather_images(arguments: Any, context: TaskContext) -> list[Any]:
    return gather(arguments, context, "image", IMAGE_EXTENSIONS, load_image_location)


def get_dict_value(arguments: Any, context: TaskContext) -> Any:
    values = take(context.command, arguments, {"dict": REQUIRED, "key": REQUIRED})
    source = values["dict"]
    if not isinstance(source, Mapping):
        raise ValueError(
            f"task '{context.command}': 'dict' must be an object, got {type(source).__name__}"
        )
    return source.get(values["key"])


def format_chat_message(arguments: Any, context: TaskContext) -> dict[str, Any]:
    """``{text_inputs: [system message, user message]}`` for a chat model."""
    values = take(context.command, arguments, {"system_prompt": REQUIRED, "user_message": REQUIRED})
    return {
        "text_inputs": [
            {"role": "system", "content": values["system_prompt"]},
            {"role": "user", "content": values["user_message"]},
        ]
    }


def extract_sections(arguments: Any, context: TaskContext) -> str:
    """Keep the labelled sections ``sections`` of ``text``, once each, in the declared
    order; a section is its ``label:`` line up to the next label or blank line."""
    values = take(
        context.command,
        arguments,
        {"text": REQUIRED, "sections": REQUIRED, "keep_preamble": True},
    )
    text, labels = values["text"], values["sections"]
    if not isinstance(text, str):
        raise ValueError(f"task '{context.command}': 'text' must be a string")
    if isinstance(labels, str):
        labels = [labels]
    if not labels:
        return text.strip()
    pattern = re.compile(
        r"^(" + "|".join(re.escape(str(label)) for label in labels) + r"):", re.MULTILINE
    )
    found = list(pattern.finditer(text))
    if not found:
        return text.strip()
    bodies: dict[str, str] = {}
    for index, match in enumerate(found):
        label = match.group(1)
        if label in bodies:
            continue  # a repeated label is the model starting over
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        body = text[match.end() : end].lstrip()
        paragraph_end = re.search(r"\n[ \t]*\n", body)
        bodies[label] = (body[: paragraph_end.start()] if paragraph_end else body).strip()
    parts = [f"{label}: {bodies[label]}" for label in labels if label in bodies]
    preamble = text[: found[0].start()].strip()
    if values["keep_preamble"] and preamble:
        parts.insert(0, preamble)
    return "\n\n".join(parts)


def batch_decode_post_process(arguments: Any, context: TaskContext) -> Any:
    """Decode a generation with the processor of the task-level ``pipeline_reference``,
    which the executor passes as ``processor``."""
    values = take(
        context.command,
        arguments,
        {"processor": REQUIRED, "generated_ids": REQUIRED, "task": REQUIRED},
    )
    processor = values["processor"]
    if not hasattr(processor, "batch_decode") or not hasattr(processor, "post_process_generation"):
        raise ValueError(
            f"task '{context.command}': the task-level 'pipeline_reference' must name a step "
            "whose object is a processor with batch_decode() and post_process_generation()"
        )
    text = processor.batch_decode(values["generated_ids"], skip_special_tokens=False)[0]
    parsed = processor.post_process_generation(text, task=values["task"])
    return parsed[values["task"]]


COMMANDS: dict[str, Handler] = {
    "gather_inputs": gather_inputs,
    "gather_images": gather_images,
    "get_dict_value": get_dict_value,
    "format_chat_message": format_chat_message,
    "extract_sections": extract_sections,
    "batch_decode_post_process": batch_decode_post_process,
}
