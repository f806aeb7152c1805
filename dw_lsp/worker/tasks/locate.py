"""Finding what a model-backed task command needs, without downloading anything.

A model is a local folder or file (absolute, or relative to the workflow's folder) or a
Hugging Face Hub id that must already be in the local Hugging Face cache (``HF_HOME`` /
``HF_HUB_CACHE``): every lookup is ``local_files_only``, and the libraries are then handed
the local path, so no command ever reaches the network. What is missing is named in a
:class:`TaskUnavailable`, with the command that fetches it. Optional packages are imported
through :func:`require`, whose message names the pip package (all are in the ``tasks``
extra). In a stand-in run, :func:`folder_for` and :func:`file_for` first ask the run's
stand-ins (``context.stand_ins``) for a tiny model of the kind the task needs; the task then
loads it through the same code as a real one. Imports huggingface_hub lazily; nothing else
heavy.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from dw_lsp.worker.tasks.common import TaskContext, TaskUnavailable, needs_package

#: Import name -> pip name of the optional packages the task commands use.
PIP_NAMES = {
    "controlnet_aux": "controlnet-aux",
    "spandrel": "spandrel",
    "cv2": "opencv-python-headless",
    "torchvision": "torchvision",
}


def require(command: str, module: str, what: str = "") -> ModuleType:
    """``module`` imported, or a :class:`TaskUnavailable` naming the package to install
    (or, when it is installed but cannot import, the dependency it lacks)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise unimportable(command, module, exc, what) from exc


def unimportable(command: str, module: str, exc: ImportError, what: str = "") -> TaskUnavailable:
    """Why ``module`` did not import: not installed, or a dependency of it missing."""
    pip_name = PIP_NAMES.get(module.split(".")[0], module)
    missing = getattr(exc, "name", None)
    if missing is None or missing.split(".")[0] == module.split(".")[0]:
        return needs_package(command, module, pip_name, what)
    return TaskUnavailable(
        f"task '{command}' runs through the package '{pip_name}', which is installed but cannot "
        f"be imported here: {exc} (pip install {PIP_NAMES.get(missing, missing)}, built for "
        "this torch)"
    )


def _local(name: str, base_dir: Path) -> Path | None:
    candidate = Path(name).expanduser()
    if not candidate.is_absolute():
        candidate = base_dir / candidate
    return candidate if candidate.exists() else None


def _missing(command: str, repo: str, filename: str | None, what: str) -> TaskUnavailable:
    detail = f"the file {filename!r} of " if filename else ""
    fetch = f"hf download {repo}" + (f" {filename}" if filename else "")
    return TaskUnavailable(
        f"task '{command}' ({what}) needs {detail}the model {repo!r}, which is neither a local "
        f"path nor in the Hugging Face cache; this worker downloads no models: fetch it once "
        f"with `{fetch}` (or point the cache at it with HF_HOME)"
    )


def model_folder(command: str, name: Any, base_dir: Path, what: str) -> Path:
    """The local folder of model ``name`` (a path, or a hub id in the local cache)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"task '{command}': the model name must be a non-empty string")
    local = _local(name, base_dir)
    if local is not None:
        return local
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError) as exc:
        raise _missing(command, name, None, what) from exc


def model_file(
    command: str,
    name: Any,
    filename: str | None,
    base_dir: Path,
    what: str,
    subfolder: str | None = None,
) -> Path:
    """One weights file: ``name`` itself when it is a local file, else ``filename`` (under
    ``subfolder``) of the local folder or cached hub repository ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"task '{command}': the model name must be a non-empty string")
    local = _local(name, base_dir)
    if local is not None and local.is_file():
        return local
    if not filename:
        raise ValueError(
            f"task '{command}': {name!r} is not a local weights file; name the file inside "
            "the repository with 'filename'"
        )
    inner = f"{subfolder}/{filename}" if subfolder else filename
    if local is not None:
        found = local / inner
        if not found.is_file():
            raise TaskUnavailable(f"task '{command}' ({what}): {found} does not exist")
        return found
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(name, inner, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, FileNotFoundError) as exc:
        raise _missing(command, name, inner, what) from exc


def stand_in(
    context: TaskContext, name: Any, kind: str, filename: str | None = None
) -> Path | None:
    """The run's stand-in of ``kind`` for model ``name`` (reported), or None."""
    if context.stand_ins is None or not isinstance(name, str) or not name.strip():
        return None
    return context.stand_ins.model(context.command, kind, name, context.base_dir, filename)


def folder_for(context: TaskContext, name: Any, what: str, kind: str) -> Path:
    """:func:`model_folder`, or the run's stand-in of ``kind`` for ``name``. Called before
    the model is taken from the warm cache (its path is part of the cache identity), so a
    stand-in reused from an earlier run is reported in this one too."""
    stood = stand_in(context, name, kind)
    if stood is not None:
        return stood
    return model_folder(context.command, name, context.base_dir, what)


def file_for(
    context: TaskContext,
    name: Any,
    filename: str | None,
    what: str,
    kind: str,
    subfolder: str | None = None,
) -> Path:
    """:func:`model_file`, or the file of the run's stand-in of ``kind`` for ``name``
    (named ``filename``, or after ``name`` itself when that is a file path)."""
    inner = f"{subfolder}/{filename}" if subfolder and filename else filename
    if inner is None and isinstance(name, str) and Path(name).suffix:
        inner = Path(name).name
    stood = stand_in(context, name, kind, inner)
    if stood is not None:
        return stood / (inner or "model.safetensors")
    return model_file(context.command, name, filename, context.base_dir, what, subfolder)
