"""diffusers cache hooks (``configuration.cache``, FORMAT.md 1.4.1) and the per-call context
that keeps a warm pipeline from carrying cache state into its next run.

``cache`` is applied once, at load (dw's load order step 9), so it is part of the load key;
its hooks keep state (residuals, skip counters, Taylor factors, text K/V) that belongs to
one call. :func:`call_context` wraps every pipeline call: it opens a cache context on the
denoiser (a ``ModularPipeline`` opens none itself, and the stateful hooks need one) and
resets the hooks' state afterwards, even when the call failed or was cancelled, so a second
run of a warm pipeline computes what a fresh load would. TeaCache (``teacache``, a call-time
setting) is entered here too (:mod:`teacache`).

The five types and their parameters: ``first_block`` (``threshold``), ``faster`` (none; its
timestep callback reads the pipeline's current timestep), ``mag`` (``threshold``,
``num_inference_steps``, ``max_skip_steps``, ``retention_ratio``, ``calibrate``,
``mag_ratios``: a list or a preset name such as ``"flux"``; required unless ``calibrate``),
``taylorseer`` (``cache_interval``, ``max_order``) and ``text_kv`` (none).
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

log = logging.getLogger("dw_lsp.worker.loading.hooks")

Note = Callable[[str], None]
#: Where a pipeline keeps its denoiser (a modular MiniMax pipeline names one after its task).
DENOISER_NAMES = ("transformer", "transformer_ref")
CACHE_TYPES = ("first_block", "faster", "mag", "taylorseer", "text_kv")
#: The parameters each type takes, with the conversion each value gets.
PARAMETERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "first_block": {"threshold": float},
    "faster": {},
    "mag": {
        "threshold": float,
        "num_inference_steps": int,
        "max_skip_steps": int,
        "retention_ratio": float,
        "calibrate": bool,
    },
    "taylorseer": {"cache_interval": int, "max_order": int},
    "text_kv": {},
}
CONTEXT_NAME = "dw"
#: Transformer blocks this diffusers has no cache metadata for, each of which takes the
#: hidden states first and returns them alone (module, class): registered before a cache is
#: enabled unless diffusers registers them itself. MiniMax H3's block runs over the one
#: packed sequence, so its residual is that of every row.
SINGLE_OUTPUT_BLOCKS = (
    ("diffusers.models.transformers.transformer_minimax_h3", "MiniMaxH3TransformerBlock"),
)
#: ``configuration`` keys of this module and :mod:`modular` whose value is an object.
OBJECT_KEYS = ("cache", "teacache", "load_components", "configs", "components_manager")


class CacheError(RuntimeError):
    """``cache`` cannot be applied as written (the message names the key)."""


def denoiser(pipe: Any) -> Any:
    for name in DENOISER_NAMES:
        module = getattr(pipe, name, None)
        if module is not None:
            return module
    return None


def problems(spec: Any) -> list[str]:
    """What is wrong with a ``cache`` object, found before anything loads."""
    where = "pipeline.configuration.cache"
    if not isinstance(spec, Mapping):
        return [f"{where} must be an object with a type"]
    kind = spec.get("type")
    if kind not in CACHE_TYPES:
        return [f"{where}.type must be one of {', '.join(CACHE_TYPES)}, not {kind!r}"]
    found: list[str] = []
    allowed = PARAMETERS[kind]
    for key, value in spec.items():
        if key == "type" or (kind == "mag" and key == "mag_ratios"):
            continue
        if key not in allowed:
            found.append(f"{where}.{key} is not a parameter of the {kind} cache")
            continue
        try:
            allowed[key](value)
        except (TypeError, ValueError):
            found.append(f"{where}.{key} {value!r} is not a valid {allowed[key].__name__}")
    if kind == "mag" and spec.get("mag_ratios") is None and not spec.get("calibrate"):
        found.append(
            f"{where}: the mag cache needs mag_ratios (a list, or a preset such as 'flux') "
            "unless calibrate is true"
        )
    return found


def not_object(path: str, value: Any) -> list[str]:
    return [] if value is None or isinstance(value, Mapping) else [f"{path} must be an object"]


def _mag_ratios(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    from diffusers.hooks import mag_cache

    ratios = getattr(mag_cache, f"{value.upper()}_MAG_RATIOS", None)
    if ratios is None:
        presets = sorted(
            n.removesuffix("_MAG_RATIOS").lower()
            for n in dir(mag_cache)
            if n.endswith("_MAG_RATIOS")
        )
        raise CacheError(
            f"pipeline.configuration.cache.mag_ratios {value!r} is not a preset of this "
            f"diffusers (presets: {', '.join(presets) or 'none'}); give a list of ratios instead"
        )
    return ratios


def cache_config(spec: Mapping[str, Any], pipe: Any) -> Any:
    """The diffusers config object a checked ``cache`` object describes."""
    found = problems(spec)
    if found:
        raise CacheError("; ".join(found))
    import diffusers

    kind = str(spec["type"])
    kwargs = {k: PARAMETERS[kind][k](v) for k, v in spec.items() if k in PARAMETERS[kind]}
    if kind == "mag" and spec.get("mag_ratios") is not None:
        kwargs["mag_ratios"] = _mag_ratios(spec["mag_ratios"])
    classes = {
        "first_block": "FirstBlockCacheConfig",
        "faster": "FasterCacheConfig",
        "mag": "MagCacheConfig",
        "taylorseer": "TaylorSeerCacheConfig",
        "text_kv": "TextKVCacheConfig",
    }
    if kind == "faster":
        kwargs.update(_faster_settings(pipe))
    try:
        return getattr(diffusers, classes[kind])(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CacheError(f"pipeline.configuration.cache ({kind}): {exc}") from exc


def _faster_settings(pipe: Any) -> dict[str, Any]:
    """What FasterCache needs from the pipeline: the current timestep on every denoiser call
    (a standard pipeline keeps it in ``_current_timestep``; otherwise the one the denoiser
    was last called with, on the 0-1000 scale), and whether the pipeline batches the
    unconditional pass with the conditional one (a pipeline class with
    ``do_classifier_free_guidance`` does; Flux, guidance-distilled, does not)."""
    seen: dict[str, float] = {}

    def remember(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        timestep = kwargs.get("timestep")
        if timestep is not None and hasattr(timestep, "flatten"):
            value = float(timestep.flatten()[0])
            seen["t"] = value * 1000.0 if value <= 1.0 else value

    model = denoiser(pipe)
    if model is not None:
        model.register_forward_pre_hook(remember, with_kwargs=True)

    def current() -> Any:
        timestep = getattr(pipe, "_current_timestep", None)
        return timestep if timestep is not None else seen.get("t", 1000.0)

    distilled = not hasattr(type(pipe), "do_classifier_free_guidance")
    return {"current_timestep_callback": current, "is_guidance_distilled": distilled}


def enable_cache(pipe: Any, spec: Mapping[str, Any]) -> None:
    """Step 9 of a load: the cache hooks on the pipeline's denoiser."""
    model = denoiser(pipe)
    if model is None:
        raise CacheError("pipeline.configuration.cache: the pipeline has no loaded transformer")
    if not hasattr(model, "enable_cache"):
        raise CacheError(
            f"pipeline.configuration.cache: {type(model).__name__} takes no diffusers cache "
            "(it has no enable_cache)"
        )
    config = cache_config(spec, pipe)
    _register_blocks()
    log.info("enabling %s on %s", type(config).__name__, type(model).__name__)
    try:
        model.enable_cache(config)
    except (TypeError, ValueError) as exc:  # a block class diffusers cannot cache, say
        raise CacheError(
            f"pipeline.configuration.cache ({spec['type']}) on {type(model).__name__}: {exc}"
        ) from exc


def _register_blocks() -> None:
    """Cache metadata for the blocks of :data:`SINGLE_OUTPUT_BLOCKS` diffusers lacks."""
    import importlib

    from diffusers.hooks._helpers import TransformerBlockMetadata, TransformerBlockRegistry

    for module_name, name in SINGLE_OUTPUT_BLOCKS:
        try:
            block = getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue  # another diffusers: it has no such block to cache
        try:
            TransformerBlockRegistry.get(block)
        except ValueError:
            metadata = TransformerBlockMetadata(return_hidden_states_index=0)
            TransformerBlockRegistry.register(model_class=block, metadata=metadata)


@contextmanager
def call_context(
    pipe: Any, configuration: Mapping[str, Any], arguments: Mapping[str, Any], note: Note
) -> Iterator[None]:
    """Around one pipeline call: the cache context and its reset, and TeaCache."""
    from dw_lsp.worker.loading import teacache

    model = denoiser(pipe)
    with ExitStack() as stack:
        if model is not None and getattr(model, "is_cache_enabled", False):
            stack.callback(model._reset_stateful_cache)
            stack.enter_context(model.cache_context(CONTEXT_NAME))
        spec = configuration.get("teacache")
        if spec is not None:
            if configuration.get("cache") is not None:
                note("cache and teacache are meant to be exclusive (FORMAT.md 1.4.1); both apply")
            stack.enter_context(teacache.applied(model, spec, arguments, note))
        yield
