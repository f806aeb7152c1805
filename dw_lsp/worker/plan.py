"""A run's load keys, computed before the run: what a scheduler needs for model affinity.

The Ray pool (:mod:`dw_lsp.session.pool`) routes a run to the actor whose warm cache already
holds the run's pipelines. Only the worker can say which pipelines those are: a load key
(:mod:`.loading.loadkey`) is a hash of the pipeline subtree *after* variable substitution, with
``constant:`` defaults resolved and local model files identified by path, size and mtime,
all of which need the worker's value code. So the session asks an actor, and this module
answers by doing the cheap half of a run's start: read the saved file, coerce the caller's
values to the declared types, substitute them, and hash each top-level pipeline step as
:func:`dw_lsp.worker.steps.run_pipeline` will (``reused_components`` chained through the
keys of the steps that share them).

Deliberately *not* done, because planning must stay cheap and side-effect free: media
variables are not opened or downloaded (a pipeline whose load subtree holds a loaded object
gets a one-off key at run time and is never reused anyway), preflight is skipped (the run
reports it), and sub-workflows are not entered (their pipelines simply earn no affinity).
A key that differs from the run's costs at most a load elsewhere; the actor always decides
reuse with its own keys. Part of the worker (it shares the executor's reader); never imports
the session, the server or a transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dw_lsp.protocol import ExecuteParams
from dw_lsp.worker import values
from dw_lsp.worker.executor import read_document
from dw_lsp.worker.loading import loadkey
from dw_lsp.workflow import refs


def substituted_document(params: ExecuteParams) -> tuple[Path, dict[str, Any]]:
    """The workflow file of ``params`` with the caller's values substituted."""
    path = Path(params.workflowPath).expanduser().resolve()
    _data, document = read_document(path)
    declared = document.get("variables")
    if not isinstance(declared, dict):
        return path, document
    resolver = values.TypeResolver(params.allowedModules)
    defaults: dict[str, Any] = {}
    for name, default in declared.items():
        constant = refs.constant_name(default)
        defaults[name] = resolver.resolve_constant(constant) if constant is not None else default
    given = values.coerce_arguments(defaults, dict(params.arguments))
    body = {k: v for k, v in document.items() if k != "variables"}
    return path, values.substitute_variables(body, given)


def load_keys(params: ExecuteParams) -> list[str]:
    """The load keys of the top-level pipeline steps of a run, in step order."""
    path, document = substituted_document(params)
    keys: list[str] = []
    shared: dict[str, str] = {}
    steps = document.get("steps")
    for step in steps if isinstance(steps, list) else []:
        spec = step.get("pipeline") if isinstance(step, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        reused = loadkey.reused_component_names(spec)
        key = loadkey.load_key(spec, {n: shared.get(n, "") for n in reused}, path.parent)
        keys.append(key)
        shared.update(dict.fromkeys(loadkey.shared_component_names(spec), key))
    return keys
