"""What a stand-in run changes in a pipeline step's load-time objects besides the model
sources (:mod:`.run` does those), each change passed to ``record(name, given, used)`` for the
report:

- :func:`compile_eager`: ``components.<name>.compile`` on dynamo's ``eager`` backend: the
  model is still traced (graph breaks, ``fullgraph``, regional compilation show up) but no
  code is generated, which on a CPU takes minutes for a run of seconds;
- :func:`load_dtype`: a modular pipeline's ``load_components.dtype`` in half precision becomes
  float32 on a CPU, as a stood-in model's ``torch_dtype`` does;
- :func:`attention_backend`: on a CPU, an attention backend that needs CUDA or a kernel from
  the Hugging Face hub (``flash_hub``, ``sage``, ``xformers`` ...), for the step or one
  component, becomes ``native``, as a device the worker lacks becomes its own;
- :func:`ip_adapter`: the stand-in adapter (:mod:`.ip_adapters`) under the workflow's
  subfolder and weight name, its image encoder named where the pipeline's loader would not
  find it (Flux's looks in a folder relative to the working one by default).

May import torch lazily; never the executor.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dw_lsp.worker.loading import compiling
from dw_lsp.worker.standins import ip_adapters

Record = Callable[[str, Any, Any], None]
#: The ``torch.compile`` backend of a stand-in run.
EAGER = "eager"
HALF_DTYPES = frozenset({"torch.float16", "torch.bfloat16"})
#: diffusers' attention backends that run on a CPU (torch's own kernels).
CPU_ATTENTION = frozenset({"native", "_native_math", "flex"})
NATIVE_ATTENTION = "native"
#: Image-encoder arguments of ``load_ip_adapter`` a stand-in adapter sets to where its own
#: encoder lies (SD's loader reads ``{subfolder}/image_encoder`` by default).
ENCODER_ARGUMENTS = {"image_encoder_folder": "image_encoder"}
FLUX_ENCODER = "image_encoder_pretrained_model_name_or_path"


def compile_eager(configuration: Mapping[str, Any], record: Record) -> Mapping[str, Any]:
    entries = configuration.get("components")
    if not isinstance(entries, Mapping):
        return configuration
    changed = dict(entries)
    for name, entry in entries.items():
        wanted = entry.get("compile") if isinstance(entry, Mapping) else None
        if not wanted:
            continue
        options = dict(wanted) if isinstance(wanted, Mapping) else {}
        backend = options.get("backend")
        if backend not in (None, *compiling.CODEGEN_BACKENDS):
            continue
        record(f"components.{name}.compile.backend", backend, EAGER)
        changed[name] = {**entry, "compile": {**options, "backend": EAGER}}
    return {**configuration, "components": changed}


def load_dtype(configuration: Mapping[str, Any], device: str, record: Record) -> Mapping[str, Any]:
    load = configuration.get("load_components")
    dtype = load.get("dtype") if isinstance(load, Mapping) else None
    if device != "cpu" or str(dtype) not in HALF_DTYPES or not isinstance(load, Mapping):
        return configuration
    import torch

    record("load_components.dtype", str(dtype), "torch.float32")
    return {**configuration, "load_components": {**load, "dtype": torch.float32}}


def attention_backend(
    configuration: Mapping[str, Any], device: str, record: Record
) -> Mapping[str, Any]:
    if device != "cpu":
        return configuration

    def on_cpu(where: str, backend: Any) -> Any:
        if not isinstance(backend, str) or not backend or backend in CPU_ATTENTION:
            return backend
        record(where, backend, NATIVE_ATTENTION)
        return NATIVE_ATTENTION

    changed = dict(configuration)
    if "attention_backend" in configuration:
        changed["attention_backend"] = on_cpu(
            "attention_backend", configuration["attention_backend"]
        )
    entries = configuration.get("components")
    if isinstance(entries, Mapping):
        components = dict(entries)
        for name, entry in entries.items():
            if isinstance(entry, Mapping) and "attention_backend" in entry:
                backend = on_cpu(f"components.{name}.attention_backend", entry["attention_backend"])
                components[name] = {**entry, "attention_backend": backend}
        changed["components"] = components
    return changed


def ip_adapter(pipeline_cls: Any, adapter: Mapping[str, Any], record: Record) -> dict[str, Any]:
    subfolder = adapter.get("subfolder") if isinstance(adapter.get("subfolder"), str) else None
    weight = adapter.get("weight_name") if isinstance(adapter.get("weight_name"), str) else None
    folder = ip_adapters.ip_adapter_dir(pipeline_cls, subfolder, weight)
    new = {**adapter, "model_name": str(folder)}
    if weight is not None:
        new["weight_name"] = Path(weight).name
    encoder = folder / (subfolder or "") / ip_adapters.ENCODER_FOLDER
    loader = getattr(pipeline_cls, "load_ip_adapter", None)
    parameters = inspect.signature(loader).parameters if callable(loader) else {}
    for key, default in ENCODER_ARGUMENTS.items():
        if key in parameters and adapter.get(key, default) != default:
            record(f"ip_adapter.{key}", adapter.get(key), default)
            new[key] = default
    if FLUX_ENCODER in parameters:
        record(f"ip_adapter.{FLUX_ENCODER}", adapter.get(FLUX_ENCODER), str(encoder))
        new[FLUX_ENCODER] = str(encoder)
        new.pop("image_encoder_subfolder", None)
    return new
