"""Which models are on this machine, for the ``missing`` stand-in mode: a local path, or a
hub id with a snapshot in the Hugging Face cache. Never touches the network; imports only
``huggingface_hub``'s constants (lazily) and :mod:`dw_lsp.worker.loading.tiny`.
"""

from __future__ import annotations

from pathlib import Path

from dw_lsp.worker.loading import tiny


def in_hf_cache(repo_id: str) -> bool:
    """Has the Hugging Face cache a snapshot of model repo ``repo_id``? (No network.)"""
    if repo_id.count("/") > 1 or not repo_id.strip("/"):
        return False
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    folder = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    try:
        return any(folder.iterdir())
    except OSError:
        return False


def available(source: str, base_dir: Path | None) -> bool:
    """Is the model ``source`` names on this machine (a local path, or in the HF cache)?"""
    if tiny.is_builtin_model(source):
        return True
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        if path.exists():
            return True
    except (OSError, ValueError):
        return False
    return in_hf_cache(source)
