"""User settings shared by every front end: names, defaults and validation.

One typed object, parsed once from a plain mapping (LSP ``initializationOptions`` or the
``dwLsp`` section of ``workspace/configuration``, REPL ``set``, CLI flags). An invalid value
produces a message and keeps the default.

Settings have a scope. Most may come from anywhere, a workspace included; the
:data:`USER_ONLY_KEYS` choose what runs or relax a security rule, so they are taken only from
the user (``initializationOptions``, the REPL, CLI flags): parsed with ``scope="workspace"``,
a value for one of them that differs from the one in effect is ignored with a message.
Pure: imports nothing from the LSP or ML stacks.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

#: The configuration section an LSP client is asked for.
SECTION = "dwLsp"
#: ``worker.standIns``: never, for models not found locally, or for every model (the same
#: names as :data:`dw_lsp.protocol.STAND_IN_MODES`).
STAND_IN_MODES = ("off", "missing", "all")


def _default_worker_command() -> list[str]:
    return [sys.executable, "-m", "dw_lsp.worker"]


@dataclass(frozen=True)
class Settings:
    """Every setting, with its default. Attribute names are the snake_case of the dotted keys."""

    output_dir: str = "outputs"
    workflow_dir: str = ""
    log_level: str = "INFO"
    worker_command: list[str] = field(default_factory=_default_worker_command)
    worker_prewarm: bool = True
    worker_allowed_modules: list[str] = field(default_factory=list)
    worker_allow_remote_code: bool = False
    worker_start_timeout: float = 120.0
    worker_stand_ins: str = "off"
    run_timeout: float = 300.0
    memory_growth_warning_mb: float = 500.0
    cache_headroom_mb: float = 1024.0
    diagnostics_debounce_ms: int = 150
    workflow_files: list[str] = field(default_factory=lambda: ["**/workflows/**/*.json"])
    # -- the worker pool on Ray (worker.backend = ray); see dw_lsp/session/pool.py ----------
    worker_backend: str = "local"
    worker_ray_address: str = ""
    worker_ray_workers: int = 2
    worker_ray_resources: dict[str, float] = field(default_factory=dict)


#: Dotted setting key (as clients send it) -> attribute of :class:`Settings`.
KEYS: dict[str, str] = {
    "outputDir": "output_dir",
    "workflowDir": "workflow_dir",
    "logLevel": "log_level",
    "worker.command": "worker_command",
    "worker.prewarm": "worker_prewarm",
    "worker.allowedModules": "worker_allowed_modules",
    "worker.allowRemoteCode": "worker_allow_remote_code",
    "worker.startTimeout": "worker_start_timeout",
    "worker.standIns": "worker_stand_ins",
    "run.timeout": "run_timeout",
    "memory.growthWarningMb": "memory_growth_warning_mb",
    "cache.headroomMb": "cache_headroom_mb",
    "diagnostics.debounceMs": "diagnostics_debounce_ms",
    "workflowFiles": "workflow_files",
    "worker.backend": "worker_backend",
    "worker.ray.address": "worker_ray_address",
    "worker.ray.workers": "worker_ray_workers",
    "worker.ray.resources": "worker_ray_resources",
}

#: ``worker.backend`` values: today's spawned worker, or a pool of Ray actors.
BACKENDS = ("local", "ray")
#: Settings that choose where runs execute: a Ray cluster exchanges pickled data with this
#: process, so like ``worker.command`` they are user-only (see :data:`USER_ONLY_KEYS`).
RAY_SETTINGS = (
    "worker.backend",
    "worker.ray.address",
    "worker.ray.workers",
    "worker.ray.resources",
)
MAX_RAY_WORKERS = 64

#: Settings a workspace may not set: they choose the program the server starts or where runs
#: execute, or relax a security rule, and a repository's own settings (VS Code's
#: ``.vscode/settings.json``) must not be able to do any of it. A setting that relaxes a rule
#: joins this set when it is added.
USER_ONLY_KEYS: frozenset[str] = frozenset(
    {"worker.command", "worker.allowedModules", "worker.allowRemoteCode", *RAY_SETTINGS}
)

#: Where settings come from: the user (initialization options, REPL, CLI) or a workspace.
Scope = Literal["user", "workspace"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _flatten(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Turn ``{"worker": {"command": [...]}}`` into ``{"worker.command": [...]}``."""
    flat: dict[str, Any] = {}
    for key, value in options.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and dotted not in KEYS:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _check(attr: str, value: Any) -> tuple[Any, str | None]:
    """Return the converted value, or an error message saying what was expected."""
    if attr in ("output_dir", "workflow_dir"):
        if isinstance(value, str) and "\x00" not in value:
            return value, None
        return None, "expected a path string"
    if attr == "log_level":
        if isinstance(value, str) and value.upper() in LOG_LEVELS:
            return value.upper(), None
        return None, f"expected one of {', '.join(LOG_LEVELS)}"
    if attr == "worker_command":
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return list(value), None
        return None, "expected a non-empty list of strings (program and arguments)"
    if attr in ("worker_prewarm", "worker_allow_remote_code"):
        if isinstance(value, bool):
            return value, None
        return None, "expected true or false"
    if attr == "worker_stand_ins":
        if value in STAND_IN_MODES:
            return value, None
        return None, f"expected one of {', '.join(STAND_IN_MODES)}"
    if attr in ("worker_allowed_modules", "workflow_files"):
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return list(value), None
        return None, "expected a list of strings"
    if attr in (
        "run_timeout",
        "worker_start_timeout",
        "memory_growth_warning_mb",
        "cache_headroom_mb",
    ):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value), None
        return None, "expected a positive number"
    if attr == "diagnostics_debounce_ms":
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000:
            return value, None
        return None, "expected a whole number of milliseconds from 0 to 10000"
    if attr.startswith(("worker_backend", "worker_ray_")):
        return _check_ray(attr, value)
    return None, "unknown setting"  # pragma: no cover - KEYS and this table agree


def _check_ray(attr: str, value: Any) -> tuple[Any, str | None]:
    """The ``worker.backend`` / ``worker.ray.*`` block."""
    if attr == "worker_backend":
        if isinstance(value, str) and value.lower() in BACKENDS:
            return value.lower(), None
        return None, f"expected one of {', '.join(BACKENDS)}"
    if attr == "worker_ray_address":
        if isinstance(value, str) and _ray_address_ok(value.strip()):
            return value.strip(), None
        return (
            None,
            "expected '' (a local Ray started on demand), 'auto', ray://HOST:PORT or HOST:PORT",
        )
    if attr == "worker_ray_workers":
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RAY_WORKERS:
            return value, None
        return None, f"expected a whole number from 1 to {MAX_RAY_WORKERS}"
    if isinstance(value, Mapping) and all(
        isinstance(k, str)
        and k
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and v >= 0
        for k, v in value.items()
    ):
        return {str(k): float(v) for k, v in value.items()}, None
    return None, 'expected an object of resource name -> amount, e.g. {"GPU": 1}'


def _ray_address_ok(address: str) -> bool:
    if address in ("", "auto"):
        return True
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    return bool(sep and host and port.isdigit()) and not any(c.isspace() for c in address)


def _echoes(attr: str | None, value: Any, settings: Settings) -> bool:
    """Whether ``value`` is no value, or the one ``settings`` already hold for ``attr``."""
    if value is None:
        return True
    if attr is None:
        return False
    converted, error = _check(attr, value)
    return error is None and bool(converted == getattr(settings, attr))


def workspace_refusal(key: str) -> str:
    """The message for a user-only setting that arrived from a workspace (one per key)."""
    return (
        f"{SECTION}.{key} is ignored in workspace settings: it chooses what runs, so only "
        "your user settings (the editor's initialization options) or the command line set it"
    )


def parse_settings(
    options: Mapping[str, Any] | None, base: Settings | None = None, scope: Scope = "user"
) -> tuple[Settings, list[str]]:
    """Apply ``options`` over ``base`` (or the defaults); return the settings and messages.

    Unknown keys and invalid values are reported and otherwise ignored, so a typo in a
    client's configuration never stops the server. With ``scope="workspace"`` the
    :data:`USER_ONLY_KEYS` keep ``base``'s value; one that differs from it is reported
    (a client that echoes the user's own value back, as VS Code does, gets no message).
    """
    settings = base or Settings()
    messages: list[str] = []
    if options is None:
        return settings, messages
    if not isinstance(options, Mapping):
        return settings, [f"{SECTION}: settings must be an object, got {type(options).__name__}"]
    changes: dict[str, Any] = {}
    for key, value in _flatten(options).items():
        attr = KEYS.get(key)
        if scope == "workspace" and key in USER_ONLY_KEYS:
            if not _echoes(attr, value, settings):
                messages.append(workspace_refusal(key))
            continue
        if attr is None:
            messages.append(f"{SECTION}.{key}: unknown setting, ignored")
            continue
        if value is None:
            continue
        converted, error = _check(attr, value)
        if error is not None:
            default = getattr(Settings(), attr)
            messages.append(f"{SECTION}.{key}: {error}; using {default!r}")
            continue
        changes[attr] = converted
    return replace(settings, **changes), messages
