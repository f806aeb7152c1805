"""What this worker can honour, checked before anything loads.

A key the worker cannot honour yet fails the run *before any model loads*, naming the key;
nothing is silently ignored that dw would act on. :func:`preflight` walks a substituted
workflow document and returns every problem at once: unsupported keys, malformed values of the
configuration keys that are honoured (``group_offload``, ``enable_layerwise_casting``,
``sdnq_optimize``, ``pre_load_modules``, ``cache`` (:func:`hooks.problems`: its type, parameters
and the ``mag`` calibration rule), the ``components`` entries and their ``compile``, FORMAT.md
1.4.1; ``quantization_config``'s shape, 1.4.4), LoRAs when ``peft`` is not installed or an entry
is malformed and a malformed ``ip_adapter`` (FORMAT.md 1.4.5), unsafe output names (``id``, step
names, ``file_base_name``), result content types without a writer here, unknown task commands
and malformed step objects. Device-dependent keys (``offload``, ``group_offload``,
``residency``, ``sdnq_optimize``) pass here: where they cannot apply they are skipped with a
note at load time (:mod:`placement`), as dw does. Which quantization backends and extra modules
are installed, allowed and able to run on the device is
:func:`dw_lsp.worker.loading.quantize.document_problems`' question.
Pure: imports the output writers, :mod:`.loading.hooks`, :mod:`.loading.compiling` (their heavy
imports are lazy) and the reference helpers; ``peft`` is looked up without importing it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Mapping
from typing import Any

from dw_lsp.worker.loading import compiling, hooks
from dw_lsp.worker.outputs import save as outputs
from dw_lsp.worker.support_keys import (
    CHAIN_KEYS,
    COMPONENT_CONFIGURATION,
    COMPONENT_KEYS,
    CONFIGURATION_KEYS,
    PIPELINE_KEYS,
    PLACEMENT_KEYS,
    REFERENCE_CONFIGURATION,
    RESIDENCIES,
    SUB_CONFIGURATION,
    UNSUPPORTED_CONFIGURATION,
    UNSUPPORTED_PIPELINE_KEYS,
)
from dw_lsp.workflow.outline import STEP_KINDS

__all__ = [
    "CHAIN_KEYS",
    "COMPONENT_CONFIGURATION",
    "COMPONENT_KEYS",
    "CONFIGURATION_KEYS",
    "PIPELINE_KEYS",
    "PLACEMENT_KEYS",
    "REFERENCE_CONFIGURATION",
    "RESIDENCIES",
    "SUB_CONFIGURATION",
    "UNSUPPORTED_CONFIGURATION",
    "UNSUPPORTED_PIPELINE_KEYS",
]


#: Why LoRAs cannot load here (``pipeline.loras`` without ``peft``).
PEFT_MISSING = (
    "pipeline.loras needs the 'peft' package, which is not installed in the worker's "
    "environment (pip install peft)"
)


def peft_available() -> bool:
    """Is ``peft`` (which diffusers needs to load LoRAs) importable in this environment?"""
    return importlib.util.find_spec("peft") is not None


def is_component(key: str, value: Any) -> bool:
    if key in COMPONENT_KEYS:
        return isinstance(value, Mapping)
    return (
        key not in PIPELINE_KEYS
        and isinstance(value, Mapping)
        and ("from_pretrained_arguments" in value)
    )


def preflight(document: Mapping[str, Any], task_commands: Collection[str]) -> list[str]:
    """Every reason this worker cannot run ``document`` as written (empty when it can)."""
    problems: list[str] = []
    problem = outputs.name_problem("the workflow id", document.get("id"))
    if problem:
        problems.append(problem)
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        return [*problems, "the workflow has no steps"]
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, Mapping):
            problems.append(f"{where} is not an object")
            continue
        problem = outputs.name_problem(f"{where}.name", step.get("name"))
        if problem:
            problems.append(problem)
        else:
            where = f"step {step['name']!r}"
        kinds = [k for k in STEP_KINDS if k in step]
        if len(kinds) != 1:
            problems.append(f"{where} needs exactly one of {', '.join(STEP_KINDS)}")
            continue
        body = step[kinds[0]]
        if not isinstance(body, Mapping):
            problems.append(f"{where}: {kinds[0]} must be an object")
            continue
        checker = {
            "pipeline": _pipeline,
            "pipeline_reference": _reference,
            "task": _task,
            "workflow": _workflow,
        }[kinds[0]]
        problems.extend(f"{where}: {p}" for p in checker(body, task_commands))
        result = step.get("result")
        if result is not None:
            problems.extend(f"{where}: {p}" for p in _result(result))
    return problems


def _unsupported(path: str, what: str) -> str:
    return f"{path} ({what}) is not supported by this worker yet; remove it to run here"


def _pipeline(pipeline: Mapping[str, Any], _commands: Collection[str]) -> list[str]:
    problems: list[str] = []
    for key, what in UNSUPPORTED_PIPELINE_KEYS.items():
        if key in pipeline:
            problems.append(_unsupported(f"pipeline.{key}", what))
    configuration = pipeline.get("configuration")
    if not isinstance(configuration, Mapping) or "component_type" not in configuration:
        problems.append("pipeline.configuration.component_type is required")
    else:
        problems.extend(_configuration(configuration))
    if not isinstance(pipeline.get("from_pretrained_arguments"), Mapping):
        problems.append("pipeline.from_pretrained_arguments is required (an object)")
    if not isinstance(pipeline.get("arguments"), Mapping):
        problems.append("pipeline.arguments is required (an object)")
    for key, value in pipeline.items():
        if key == "controlnet" or is_component(key, value):
            problems.extend(_component(f"pipeline.{key}", value))
    if "loras" in pipeline:
        problems.extend(_loras(pipeline["loras"]))
    if "ip_adapter" in pipeline:
        problems.extend(_ip_adapter(pipeline["ip_adapter"]))
    if "chain" in pipeline:
        problems.extend(_chain("pipeline.chain", pipeline["chain"]))
    remote = pipeline.get("remote_text_encoder")
    if remote is not None and not (
        isinstance(remote, Mapping) and isinstance(remote.get("url"), str)
    ):
        problems.append("pipeline.remote_text_encoder must be an object with a url")
    return problems


def _chain(path: str, chain: Any) -> list[str]:
    """The shape of a ``chain`` object (FORMAT.md 1.4.8)."""
    if not isinstance(chain, Mapping):
        return [f"{path} must be an object"]
    problems = [
        f"{path}.{key} is not a chain key (FORMAT.md 1.4.8)"
        for key in chain
        if key not in CHAIN_KEYS
    ]
    if ("segments" in chain) == ("match_audio" in chain):
        problems.append(f"{path} needs exactly one of segments / match_audio")
    if chain.get("continuity", "last_frame") not in ("last_frame", "last_segment"):
        problems.append(f"{path}.continuity must be last_frame or last_segment")
    prompts = chain.get("prompts", ["-"])
    if not isinstance(prompts, list) or not prompts:
        problems.append(f"{path}.prompts must be a non-empty list")
    return problems


def _ip_adapter(entry: Any) -> list[str]:
    """``ip_adapter`` after variable substitution (FORMAT.md 1.4.5)."""
    where = "pipeline.ip_adapter"
    if entry is None:
        return []
    if not isinstance(entry, Mapping):
        return [f"{where} must be an object with a model_name"]
    problems: list[str] = []
    model_name = entry.get("model_name")
    if not isinstance(model_name, str) or not model_name:
        problems.append(f"{where}.model_name must be a non-empty string")
    for key in ("weight_name", "subfolder"):
        value = entry.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}.{key} must be a string, not {value!r}")
    scale = entry.get("scale", 1.0)
    try:
        float(scale)
    except (TypeError, ValueError):
        problems.append(f"{where}.scale {scale!r} is not a number")
    return problems


def _loras(loras: Any) -> list[str]:
    """``loras[]`` after variable substitution (FORMAT.md 1.4.5)."""
    if loras is None:
        return []
    if not isinstance(loras, list) or not all(
        isinstance(x, Mapping) and "model_name" in x for x in loras
    ):
        return ["pipeline.loras must be a list of objects with a model_name"]
    if not loras:
        return []
    problems: list[str] = [] if peft_available() else [PEFT_MISSING]
    names: set[str] = set()
    for index, lora in enumerate(loras):
        where = f"pipeline.loras[{index}]"
        model_name = lora["model_name"]
        if not isinstance(model_name, str) or not model_name:
            problems.append(f"{where}.model_name must be a non-empty string")
        scale = lora.get("scale", 1.0)
        try:
            float(scale)
        except (TypeError, ValueError):
            problems.append(
                f"{where}.scale {scale!r} is not a number (dw converts it with float())"
            )
        adapter = str(lora.get("adapter_name", index))
        if adapter in names:
            problems.append(
                f"{where}.adapter_name {adapter!r} is used by an earlier LoRA of this pipeline"
            )
        names.add(adapter)
    return problems


def _configuration(configuration: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, value in configuration.items():
        path = f"pipeline.configuration.{key}"
        if key in UNSUPPORTED_CONFIGURATION:
            problems.append(_unsupported(path, UNSUPPORTED_CONFIGURATION[key]))
        elif key not in CONFIGURATION_KEYS:
            problems.append(f"{path} is not a configuration key (FORMAT.md 1.4.1)")
        elif key in SUB_CONFIGURATION and isinstance(value, Mapping):
            problems.extend(
                _unsupported(f"{path}.{sub}", f"{key} option {sub!r}")
                for sub in value
                if sub not in SUB_CONFIGURATION[key]
            )
        elif key == "components":
            problems.extend(_components(path, value))
        elif key == "group_offload":
            problems.extend(_group_offload(path, value))
        elif key == "enable_layerwise_casting" and not (
            isinstance(value, Mapping) and {"storage_dtype", "compute_dtype"} <= value.keys()
        ):
            problems.append(f"{path} must be an object with storage_dtype and compute_dtype")
        elif key == "sdnq_optimize" and not _strings(value):
            problems.append(f"{path} must be a list of component names")
        elif key in hooks.OBJECT_KEYS:
            problems.extend(
                hooks.problems(value) if key == "cache" else hooks.not_object(path, value)
            )
        elif key == "pre_load_modules" and not _strings(value):
            problems.append(f"{path} must be a list of module names")
    return problems


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _group_offload(path: str, value: Any) -> list[str]:
    if isinstance(value, Mapping) and isinstance(value.get("offload_type"), str):
        return []
    return [f"{path} must be an object with an offload_type (e.g. block_level, leaf_level)"]


def _components(path: str, entries: Any) -> list[str]:
    """``configuration.components``: entry shapes (FORMAT.md 1.4.1)."""
    if not isinstance(entries, Mapping):
        return [f"{path} must be an object"]
    problems: list[str] = []
    for name, entry in entries.items():
        where = f"{path}.{name}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        problems.extend(
            _unsupported(f"{where}.{sub}", f"component placement option {sub!r}")
            for sub in entry
            if sub not in PLACEMENT_KEYS
        )
        if "group_offload" in entry:
            problems.extend(_group_offload(f"{where}.group_offload", entry["group_offload"]))
        residency = entry.get("residency", "resident")
        if residency not in RESIDENCIES:
            problems.append(f"{where}.residency must be resident or on_demand, not {residency!r}")
        elif residency == "on_demand" and entry.get("group_offload"):
            problems.append(f"{where}: group_offload cannot be combined with residency on_demand")
        truncate = entry.get("truncate_layers", {})
        if not isinstance(truncate, Mapping) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in truncate.values()
        ):
            problems.append(
                f"{where}.truncate_layers must map module paths to a number of layers >= 1"
            )
        if not _strings(entry.get("remove_modules", [])):
            problems.append(f"{where}.remove_modules must be a list of module paths")
        problems.extend(compiling.problems(f"{where}.compile", entry.get("compile")))
        backend = entry.get("attention_backend", "native")
        if not isinstance(backend, str) or not backend:
            problems.append(f"{where}.attention_backend must be a backend name")
    return problems


def _component(path: str, block: Any) -> list[str]:
    if not isinstance(block, Mapping):
        return [f"{path} must be an object"]
    problems: list[str] = []
    quantization = block.get("quantization_config")
    if quantization is not None and not (
        isinstance(quantization, Mapping)
        and isinstance(quantization.get("configuration"), Mapping)
        and quantization["configuration"].get("config_type")
        and isinstance(quantization.get("arguments", {}), Mapping)
    ):
        problems.append(
            f"{path}.quantization_config must be an object with configuration.config_type "
            "and arguments (FORMAT.md 1.4.4)"
        )
    configuration = block.get("configuration")
    if not isinstance(configuration, Mapping) or "component_type" not in configuration:
        problems.append(f"{path}.configuration.component_type is required")
    else:
        problems.extend(
            _unsupported(f"{path}.configuration.{key}", f"component option {key!r}")
            for key in configuration
            if key not in COMPONENT_CONFIGURATION
        )
    if not isinstance(block.get("from_pretrained_arguments"), Mapping):
        problems.append(f"{path}.from_pretrained_arguments is required (an object)")
    return problems


def _reference(reference: Mapping[str, Any], _commands: Collection[str]) -> list[str]:
    problems: list[str] = []
    if not isinstance(reference.get("reference_name"), str):
        problems.append("pipeline_reference.reference_name is required")
    if "chain" in reference:
        problems.extend(_chain("pipeline_reference.chain", reference["chain"]))
    configuration = reference.get("configuration", {})
    if isinstance(configuration, Mapping):
        problems.extend(
            _unsupported(f"pipeline_reference.configuration.{key}", "a load-time option")
            for key in configuration
            if key not in REFERENCE_CONFIGURATION
        )
    return problems


def _task(task: Mapping[str, Any], commands: Collection[str]) -> list[str]:
    problems: list[str] = []
    command = task.get("command")
    if not isinstance(command, str):
        problems.append("task.command is required")
    elif command not in commands:
        problems.append(f"task command {command!r} is not known to this worker")
    reference = task.get("pipeline_reference")
    if reference is not None and not isinstance(reference, str):
        problems.append("task.pipeline_reference must be a step name")
    if ("arguments" in task) == ("inputs" in task):
        problems.append("a task needs exactly one of arguments / inputs")
    return problems


def _workflow(workflow: Mapping[str, Any], _commands: Collection[str]) -> list[str]:
    if not isinstance(workflow.get("path"), str) or not workflow["path"]:
        return ["workflow.path is required (a file or builtin:NAME.json)"]
    return []


def _result(result: Any) -> list[str]:
    if not isinstance(result, Mapping):
        return ["result must be an object"]
    content_type = result.get("content_type")
    if not isinstance(content_type, str) or not content_type:
        return ["result.content_type is required"]
    problems: list[str] = []
    if result.get("save", True) is not False:
        writer = outputs.writer_problem(content_type)
        if writer:
            problems.append(f"result: {writer}")
    base = result.get("file_base_name")
    if base is not None:
        problem = outputs.name_problem("result.file_base_name", base)
        if problem:
            problems.append(problem)
    if result.get("embed_metadata") and content_type != "image/png":
        problems.append(_unsupported("result.embed_metadata", f"metadata in {content_type}"))
    return problems
