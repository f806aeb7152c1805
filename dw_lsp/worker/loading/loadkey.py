"""Load keys: when may a loaded pipeline be reused? (DESIGN.md, "What a run does", step 3)

A pipeline step's load key is a SHA-256 over its load-relevant subtree *after* variable
substitution: ``component_type`` and the rest of the load-time ``configuration``,
``from_pretrained_arguments``, component blocks, ``controlnet``, ``loras``, ``ip_adapter``,
``scheduler`` / ``audio_scheduler``; plus, for ``reused_components``, the load key of the
pipeline that published each one in this run; plus the identity (resolved path, size,
modification time) of local model files and directories that the subtree names. Call-time
settings (``arguments``, ``seed``, ``chain``, ``no_generator``, ``attention_backend``,
``prompt_weighting``, ``inversion``, ``generate``, ``teacache``) and ``shared_components``
(publishing happens every run, from the loaded object) are left out, so editing a prompt
or a step count never reloads a model, while editing a model name, a dtype or a LoRA does.

Pure: standard library only (the built-in model version comes from :mod:`tiny`, which imports
torch lazily).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dw_lsp.worker.loading import tiny

#: Pipeline keys that only matter when the pipeline is called (``reused_components`` is
#: accounted for by the publishers' keys instead).
CALL_TIME_KEYS = frozenset({"arguments", "seed", "chain", "shared_components", "reused_components"})
#: ``configuration`` keys that only matter when the pipeline is called.
CALL_TIME_CONFIGURATION = frozenset(
    {
        "no_generator",
        "attention_backend",
        "prompt_weighting",
        "inversion",
        "generate",
        "teacache",
        "shared_components",
        "reused_components",
    }
)
#: Keys whose string values name model weights (a hub id or a local file or directory).
SOURCE_KEYS = frozenset({"model_name", "from_single_file", "pretrained_model_name_or_path"})
MAX_FILES = 10_000


def load_subtree(pipeline: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a ``pipeline`` step object that decides what gets loaded."""
    subtree = {k: v for k, v in pipeline.items() if k not in CALL_TIME_KEYS}
    configuration = pipeline.get("configuration")
    if isinstance(configuration, Mapping):
        subtree["configuration"] = {
            k: v for k, v in configuration.items() if k not in CALL_TIME_CONFIGURATION
        }
    return subtree


def reused_component_names(pipeline: Mapping[str, Any]) -> list[str]:
    """``reused_components`` from the step and its ``configuration`` (both are read)."""
    return _names(pipeline, "reused_components")


def shared_component_names(pipeline: Mapping[str, Any]) -> list[str]:
    return _names(pipeline, "shared_components")


def _names(pipeline: Mapping[str, Any], key: str) -> list[str]:
    names: list[str] = []
    configuration = pipeline.get("configuration")
    for holder in (pipeline, configuration if isinstance(configuration, Mapping) else {}):
        value = holder.get(key)
        if isinstance(value, list):
            names.extend(str(v) for v in value if str(v) not in names)
    return names


def load_key(
    pipeline: Mapping[str, Any],
    reused_from: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    stand_ins: str = "",
) -> str:
    """The load key of a substituted ``pipeline`` object.

    ``reused_from`` maps each reused component's name to the load key of the pipeline that
    published it in this run; relative local model paths resolve against ``base_dir`` (the
    workflow's folder), as the loader resolves them. ``stand_ins`` is the run's stand-in
    mode (empty when off): a stand-in pipeline never shares a key with a real one.
    """
    subtree = load_subtree(pipeline)
    identity: dict[str, Any] = {
        "subtree": subtree,
        "reused": dict(sorted((reused_from or {}).items())),
        "sources": sorted(_source_identities(subtree, base_dir)),
    }
    if stand_ins:
        identity["standIns"] = stand_ins
    text = json.dumps(identity, sort_keys=True, default=_opaque, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _opaque(value: Any) -> str:
    # A loaded object (an image passed through a variable, say) has no stable identity:
    # its id makes the key differ from every other run, so such a pipeline is reloaded.
    return f"<{type(value).__name__} {id(value)}>"


def _source_identities(node: Any, base_dir: Path | None) -> list[str]:
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in SOURCE_KEYS and isinstance(value, str):
                found.append(source_identity(value, base_dir))
            else:
                found.extend(_source_identities(value, base_dir))
    elif isinstance(node, list):
        for item in node:
            found.extend(_source_identities(item, base_dir))
    return found


def source_identity(name: str, base_dir: Path | None = None) -> str:
    """A string that changes when the weights behind ``name`` change on this machine."""
    if tiny.is_builtin_model(name):
        return f"{name}@{tiny.VERSION}"
    path = Path(name).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        if not path.exists():
            return name  # a hub id: the name is all we know
        resolved = path.resolve()
        if resolved.is_file():
            stat = resolved.stat()
            return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
        entries: list[str] = []
        for root, dirs, files in os.walk(resolved):
            dirs.sort()
            for file in sorted(files):
                full = Path(root, file)
                stat = full.stat()
                entries.append(f"{full.relative_to(resolved)}:{stat.st_size}:{stat.st_mtime_ns}")
                if len(entries) >= MAX_FILES:
                    break
            if len(entries) >= MAX_FILES:
                break
        digest = hashlib.sha256("\n".join(entries).encode("utf-8")).hexdigest()
        return f"{resolved}/:{digest}"
    except OSError as exc:
        return f"{name}:unreadable:{exc.errno}"
