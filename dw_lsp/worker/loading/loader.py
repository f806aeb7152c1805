"""Loading one pipeline step's pipeline, in dw's order (FORMAT.md 1.4, "Order of a pipeline
load"), from a substituted and type-resolved ``pipeline`` object.

0. import ``pre_load_modules`` (the known quantization packages, or modules the user allowed;
   :mod:`quantize`);
1. load each component block (and ``controlnet``), each by its own source and with its own
   ``quantization_config`` (:func:`quantize.build_config`, passed to ``from_pretrained`` /
   ``from_single_file``);
2. with ``remote_text_encoder``, ``text_encoder`` is null (the prompt is encoded by the
   remote service at call time, :mod:`dw_lsp.worker.remote_encoder`); take
   ``reused_components`` from those published earlier in this run;
3. construct: ``from_pretrained`` with ``model_name``, ``from_single_file``, or the class
   called with the arguments (a pipeline assembled from shared components). A modular
   pipeline (:mod:`modular`) gets its ``components_manager`` here and its components after
   construction: the ready ones registered first, then ``load_components``;
4. attention slicing; ``vae`` / ``unet`` / ``transformer`` / ``text_encoder`` options;
   ``enable_layerwise_casting`` on the denoiser; ``sdnq_optimize`` (where it can run);
   the ``cache`` hooks (:mod:`hooks`);
5. ``scheduler`` then ``audio_scheduler``;
6. publish ``shared_components`` (by the caller, from the loaded object);
7. LoRAs (FORMAT.md 1.4.5; need ``peft``, refused before loading when it is missing): each
   ``loras[]`` entry is loaded with ``load_lora_weights`` under its ``adapter_name`` (default:
   its index as a string), extra keys passed on; then all are activated together with their
   ``scale`` (``float()``, default 1.0) by ``set_adapters``. ``model_name`` is a built-in
   tiny LoRA, a local file or folder (relative to the workflow's folder and inside it, or
   the top-level workflow's folder, as media paths) or a hub id;
8. the IP-Adapter (FORMAT.md 1.4.5): ``load_ip_adapter`` on the ``ip_adapter`` source
   (resolved as a LoRA's), its other keys passed on (``subfolder`` defaults to the top);
   diffusers loads the image encoder from the adapter's ``image_encoder`` folder (or
   ``image_encoder_folder``) unless the pipeline already has one (an ``image_encoder``
   component block); then ``set_ip_adapter_scale(float(scale))`` when a scale is given.
   The reference image is the ordinary ``ip_adapter_image`` argument;
9. placement (:mod:`placement`): ``group_offload`` on an accelerator or ``offload`` on CUDA
   (each skipped with a logged note on a CPU), else ``.to(device)`` unless
   ``preserve_device_placement``; then the ``configuration.components`` entries
   (``truncate_layers``, ``remove_modules``, ``attention_backend``, ``enable_tiling``,
   ``device``, ``residency``, ``group_offload``); then each entry's ``compile``
   (:mod:`compiling`).

Model names ``builtin:tiny-sd`` / ``builtin:tiny-ddpm`` map to the embedded tiny models, and
``builtin:tiny-lora`` / ``builtin:tiny-lora-b`` (in ``loras[]``) to the tiny LoRAs.
Keys this worker cannot honour never reach here: :mod:`support` refuses them first, and
:func:`check_loadable` refuses, before any weights load, what needs the resolved classes or
the device (``residency: on_demand`` on an accelerator).
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dw_lsp.worker import memory, support
from dw_lsp.worker.loading import compiling, hooks, modular, placement, quantize, tiny
from dw_lsp.worker.loading.adapters import (
    IpAdapterLoad,
    LoraLoad,
    apply_ip_adapter,
    apply_loras,
    lora_source,
    plan_ip_adapter,
    plan_loras,
)
from dw_lsp.worker.loading.errors import LoadError

__all__ = [
    "IpAdapterLoad",
    "LoadError",
    "LoraLoad",
    "lora_source",
    "plan_ip_adapter",
    "plan_loras",
]

log = logging.getLogger("dw_lsp.worker.loading.loader")

SCHEDULER_KEYS = ("scheduler", "audio_scheduler")
#: File endings that make a LoRA ``model_name`` a local file rather than a hub id.


def check_loadable(pipeline: Mapping[str, Any], device: str | None = None) -> None:
    """Refusals that need the resolved classes or the device (by default the worker's)
    but must come before any weights load."""
    configuration = pipeline["configuration"]
    target = str(configuration.get("device") or device or memory.default_device())
    problems = placement.refusals(configuration, target)
    if problems:
        raise LoadError(f"{'; '.join(problems)}; no model was loaded")
    component_type = configuration["component_type"]
    if not callable(component_type):
        raise LoadError(f"configuration.component_type {component_type!r} is not a class")
    problems = modular.refusals(configuration, component_type)
    if problems:
        raise LoadError(f"{'; '.join(problems)}; no model was loaded")
    if pipeline.get("ip_adapter") is not None and not hasattr(component_type, "load_ip_adapter"):
        raise LoadError(
            f"pipeline.ip_adapter: {component_type.__name__} does not take IP-Adapters "
            "(it has no load_ip_adapter); no model was loaded"
        )
    if pipeline.get("loras"):
        if not support.peft_available():
            raise LoadError(f"{support.PEFT_MISSING}; no model was loaded")
        # A modular pipeline's class comes from its index (ModularPipeline loads as
        # MiniMaxH3ModularPipeline, which takes LoRAs): apply_loras checks the loaded one.
        if not hasattr(component_type, "load_lora_weights") and not modular.is_modular(
            component_type
        ):
            raise LoadError(
                f"pipeline.loras: {component_type.__name__} does not take LoRAs "
                "(it has no load_lora_weights); no model was loaded"
            )


def construct(kind: Any, arguments: Mapping[str, Any], what: str) -> Any:
    """``from_pretrained`` / ``from_single_file`` / constructor, as FORMAT.md 1.4.1 says."""
    args = dict(arguments)
    name = getattr(kind, "__name__", repr(kind))
    if "model_name" in args:
        source = args.pop("model_name")
        if tiny.is_builtin_lora(source):
            raise LoadError(
                f"{what}: {source} is a LoRA; name it in pipeline.loras[].model_name instead"
            )
        if tiny.is_builtin_model(source):
            source = tiny.resolve_model_name(source)
        if not hasattr(kind, "from_pretrained"):
            raise LoadError(f"{what}: {name} has no from_pretrained()")
        log.info("loading %s: %s.from_pretrained(%r)", what, name, str(source))
        return kind.from_pretrained(source, **args)
    if "from_single_file" in args:
        source = args.pop("from_single_file")
        if not hasattr(kind, "from_single_file"):
            raise LoadError(f"{what}: {name} has no from_single_file()")
        log.info("loading %s: %s.from_single_file(%r)", what, name, str(source))
        return kind.from_single_file(source, **args)
    log.info("building %s: %s(%s)", what, name, ", ".join(args))
    return kind(**args)


def load_component(path: str, block: Mapping[str, Any], device: str) -> Any:
    configuration = block["configuration"]
    arguments = dict(block["from_pretrained_arguments"])
    if block.get("quantization_config") is not None:
        where = f"{path}.quantization_config"
        try:
            arguments["quantization_config"] = quantize.build_config(
                block["quantization_config"], where
            )
        except quantize.QuantizationError as exc:
            raise LoadError(f"{exc}; no model was loaded") from exc
        if not any(k in arguments for k in ("model_name", "from_single_file")):
            raise LoadError(
                f"{where}: a quantized component is loaded with from_pretrained or "
                "from_single_file; give from_pretrained_arguments a model_name or "
                "from_single_file"
            )
    component = construct(configuration["component_type"], arguments, path)
    if "quantization_config" in arguments:
        quantizer = getattr(component, "hf_quantizer", None)
        if quantizer is None:
            log.warning("%s: loaded without a quantizer despite its quantization_config", path)
        else:
            log.info("%s: quantized by %s", path, type(quantizer).__name__)
    target = configuration.get("device")
    if target and not configuration.get("preserve_device_placement") and hasattr(component, "to"):
        component = component.to(target)
    return component


def _apply_sub_configuration(pipe: Any, configuration: Mapping[str, Any]) -> None:
    for name in ("vae", "unet", "transformer", "text_encoder"):
        options = configuration.get(name)
        if not isinstance(options, Mapping):
            continue
        module = getattr(pipe, name, None)
        if module is None:
            raise LoadError(f"configuration.{name}: the pipeline has no loaded {name}")
        for flag in ("enable_slicing", "enable_tiling", "enable_forward_chunking"):
            if options.get(flag):
                getattr(module, flag)()
        if options.get("channels_last"):
            module.to(memory_format=torch.channels_last)
        dtype = options.get("torch_dtype")
        if dtype is not None:
            module.to(dtype=dtype)
        processor = options.get("attn_processor_type")
        if processor is not None:
            module.set_attn_processor(processor())


def _apply_schedulers(pipe: Any, pipeline: Mapping[str, Any]) -> None:
    for name in SCHEDULER_KEYS:
        spec = pipeline.get(name)
        if not isinstance(spec, Mapping):
            continue
        current = getattr(pipe, name, None)
        configuration = spec.get("configuration")
        if isinstance(configuration, Mapping) and configuration.get("scheduler_type") is not None:
            if current is None:
                raise LoadError(f"pipeline.{name}: the pipeline has no {name} to replace")
            kind = configuration["scheduler_type"]
            current = kind.from_config(current.config, **dict(spec.get("from_config_args") or {}))
            setattr(pipe, name, current)
        if spec.get("shift") is not None:
            if current is None or not hasattr(current, "set_shift"):
                raise LoadError(f"pipeline.{name}.shift: {type(current).__name__} has no set_shift")
            current.set_shift(float(spec["shift"]))


def load_pipeline(
    pipeline: Mapping[str, Any],
    *,
    device: str,
    shared: Mapping[str, Any],
    reused: list[str],
    note: Callable[[str], None],
    base_dir: Path | None = None,
    roots: Sequence[Path] = (),
    allowed_modules: tuple[str, ...] = (),
) -> Any:
    """Load the pipeline a resolved ``pipeline`` object describes, placed on ``device``.

    ``base_dir`` is the folder of the workflow file the step is in and ``roots`` the other
    folders local paths may lie in (the top-level workflow's); local LoRA paths resolve
    against them. ``allowed_modules`` (``worker.allowedModules``) extends the modules
    ``pre_load_modules`` may import.
    """
    check_loadable(pipeline, device)
    loras = plan_loras(list(pipeline.get("loras") or []), base_dir, roots)
    try:
        quantize.import_pre_load_modules(
            list(pipeline["configuration"].get("pre_load_modules") or []), allowed_modules
        )
    except quantize.QuantizationError as exc:
        raise LoadError(f"{exc}; no model was loaded") from exc
    adapter = plan_ip_adapter(pipeline.get("ip_adapter"), base_dir, roots)
    configuration = pipeline["configuration"]
    device = str(configuration.get("device") or device)
    arguments = dict(pipeline["from_pretrained_arguments"])
    ready: dict[str, Any] = {}  # loaded components and reused ones, by name
    for key, value in pipeline.items():
        if key == "controlnet" or support.is_component(key, value):
            ready[key] = load_component(f"pipeline.{key}", value, device)
    if pipeline.get("remote_text_encoder"):
        arguments["text_encoder"] = None  # the prompt is encoded remotely, per call
    for name in reused:
        if name not in shared:
            published = ", ".join(sorted(shared)) or "none"
            raise LoadError(
                f"reused_components: {name!r} was not published by an earlier step's "
                f"shared_components in this run (published: {published})"
            )
        ready[name] = shared[name]
    kind = configuration["component_type"]
    if modular.is_modular(kind):
        # A modular pipeline reads only its index here; its components are registered
        # (ready ones first, so no second copy loads) and pulled by modular.finish_load.
        manager = modular.components_manager(configuration, device, note)
        if manager is not None:
            arguments["components_manager"] = manager
        pipe = construct(kind, arguments, "pipeline")
        modular.finish_load(pipe, configuration, ready, note)
    else:
        pipe = construct(kind, {**arguments, **ready}, "pipeline")
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    slicing = configuration.get("enable_attention_slicing")
    if slicing is None and device == "mps":
        slicing = not configuration.get("disable_attention_slicing", False)
    if slicing and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()
    _apply_sub_configuration(pipe, configuration)
    casting = configuration.get("enable_layerwise_casting")
    if casting:
        placement.apply_layerwise_casting(pipe, casting, device)
    if configuration.get("sdnq_optimize"):
        placement.apply_sdnq_optimize(pipe, configuration["sdnq_optimize"], device, note)
    if configuration.get("cache") is not None:
        hooks.enable_cache(pipe, configuration["cache"])
    _apply_schedulers(pipe, pipeline)
    if loras:
        apply_loras(pipe, loras)
    if adapter is not None:
        apply_ip_adapter(pipe, adapter)
    if modular.auto_offload_active(configuration, device):
        # The components manager moves each component onto the device as it runs.
        configuration = {**configuration, "preserve_device_placement": True}
    placement.place(pipe, configuration, device, note, reused)
    compiling.apply(pipe, configuration.get("components"), device, note, reused)
    return pipe


def publish(pipe: Any, names: list[str]) -> dict[str, Any]:
    """The loaded components a step shares with later steps (``shared_components``)."""
    published: dict[str, Any] = {}
    for name in names:
        component = getattr(pipe, name, None)
        if component is None:
            raise LoadError(
                f"shared_components: the pipeline has no loaded component {name!r} to share"
            )
        published[name] = component
    return published


def call_target(pipe: Any, configuration: Mapping[str, Any]) -> tuple[Any, bool]:
    """The method a step calls (``invert`` / ``generate`` / ``__call__``) and whether it
    takes a generator (``invert`` never does)."""
    if configuration.get("inversion"):
        return pipe.invert, False
    if configuration.get("generate"):
        return pipe.generate, True
    return pipe, True


def accepts(method: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return True
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
