"""The dry run (``dw-lsp run --dry-run FILE``): everything a run checks before it loads a
weight, without loading one, with every problem listed at once in the words a real run uses.

1. the run start of :meth:`Executor.prepare`: the file read and parsed, variables coerced and
   substituted, the preflight of this file and its statically known sub-workflows (keys this
   worker cannot honour, unsafe output names, code-loading arguments, names outside the
   allowlist, quantization backends and ``pre_load_modules`` missing, refused or unable to run
   on this device, unavailable task commands);
2. each pipeline step's types resolved through the allowlist and checked as before a load
   (modular classes, LoRAs without peft, device refusals), its quantization configs built
   (config objects hold no weights) and its local model paths present.

Problems of step 2 are collected for every step, not only the first, so one dry run names
everything to fix. A dry run neither loads nor releases cached pipelines. May import torch
and diffusers through its helpers; never the transport, the session or the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dw_lsp.worker.executor import Executor, resolve_workflow_path
from dw_lsp.worker.loading import quantize
from dw_lsp.worker.run_state import PreflightError
from dw_lsp.workflow import refs

#: ``from_pretrained_arguments`` keys naming weights that may be local.
SOURCE_KEYS = ("model_name", "from_single_file")


def check(executor: Executor, path: Path, arguments: Mapping[str, Any]) -> None:
    """Raise :class:`PreflightError` listing every problem a run of ``path`` would meet
    before loading; return when there is none."""
    document = executor.prepare(path, arguments, top=True)
    problems: list[str] = []
    for step in document["steps"]:
        if "pipeline" in step:
            problems.extend(_pipeline_problems(executor, step, path.parent))
        elif "workflow" in step:
            target = step["workflow"].get("path")
            if isinstance(target, str):
                try:
                    resolve_workflow_path(target, path.parent, executor.state.top_dir)
                except (OSError, ValueError) as exc:
                    problems.append(f"step {step['name']!r}: workflow.path {target!r}: {exc}")
    if problems:
        raise PreflightError(path, problems)


def _pipeline_problems(executor: Executor, step: Mapping[str, Any], base_dir: Path) -> list[str]:
    name = step["name"]
    try:
        resolved = executor.resolve_pipeline(step)
    except Exception as exc:
        return [str(exc)]
    problems: list[str] = []
    for where, block in quantize.quantization_blocks(resolved):
        try:
            quantize.build_config(block, where)
        except quantize.QuantizationError as exc:
            problems.append(f"step {name!r}: {exc}")
    problems.extend(f"step {name!r}: {p}" for p in _missing_sources(resolved, base_dir))
    return problems


def _missing_sources(pipeline: Mapping[str, Any], base_dir: Path) -> list[str]:
    """Local model files or folders named in the pipeline's or a component's
    ``from_pretrained_arguments`` that do not exist."""
    holders: list[tuple[str, Any]] = [("pipeline", pipeline)]
    holders.extend((f"pipeline.{k}", v) for k, v in pipeline.items() if isinstance(v, Mapping))
    problems: list[str] = []
    for where, holder in holders:
        arguments = holder.get("from_pretrained_arguments") if isinstance(holder, Mapping) else None
        if not isinstance(arguments, Mapping):
            continue
        for key in SOURCE_KEYS:
            value = arguments.get(key)
            if isinstance(value, str) and _local(value) and not _exists(value, base_dir):
                problems.append(
                    f"{where}.from_pretrained_arguments.{key} {value!r}: no such file or folder"
                )
    return problems


def _local(value: str) -> bool:
    text = value.replace("\\", "/")
    if refs.builtin_name(text) is not None or text.startswith("builtin:"):
        return False
    if "://" in text:
        return False
    return (
        text.startswith(("/", "./", "../", "~"))
        or text.count("/") > 1
        or text.lower().endswith((".safetensors", ".gguf", ".ckpt", ".pt", ".pth", ".bin"))
    )


def _exists(value: str, base_dir: Path) -> bool:
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
