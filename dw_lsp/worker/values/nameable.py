"""Which resolved objects a workflow may name (DESIGN.md "Security"), decided on the object
itself when the worker resolves a ``*_type`` value or a ``constant:``.

A type value may be:

* a **diffusers** class that is a pipeline, model, scheduler, processor or modular block
  (a subclass of ``ConfigMixin``, ``ModelMixin``, ``SchedulerMixin``, ``DiffusionPipeline``,
  ``ModularPipeline`` or ``ModularPipelineBlocks``), a quantization config
  (``QuantizationConfigMixin``, ``PipelineQuantizationConfig``), an attention processor
  (a ``*Processor*`` class under ``diffusers.models``), an enum, or a dataclass of a pipeline
  module (the ``reference_type`` / ``condition_type`` objects of FORMAT.md 1.9.3);
* a **transformers** model, tokenizer, processor, feature or image extractor, model config or
  quantization config (subclasses of ``PreTrainedModel``, ``PreTrainedTokenizerBase``,
  ``ProcessorMixin``, ``FeatureExtractionMixin``, ``ImageProcessingMixin``,
  ``BaseVideoProcessor``, ``PreTrainedConfig``, ``QuantizationConfigMixin``), an auto class
  that loads one of those (``AutoModel*``, ``AutoTokenizer``, ``AutoProcessor``, ...; not
  ``AutoConfig``), an enum, or the ``transformers.pipeline`` loader;
* a config class of a known quantization package (``sdnq``, ``torchao``,
  ``optimum.quanto``), or a data value of one;
* any class of a module prefix the user allowed (``worker.allowedModules``);
* a torch dtype, a numpy scalar type (``numpy.float16``) or an enum member.

Never a module, a function (but ``transformers.pipeline``), a class of torch, PIL or numpy
other than numpy's scalar types (``numpy.memmap`` writes files), or any other object. A
``constant:`` must be plain data: numbers, strings, ``None``, enum members, dtypes, and
lists, tuples, sets, dicts and dataclass records of those. Base classes are recognised by
their name and the library they come from, so nothing is imported here. Imports only the
standard library and :mod:`dw_lsp.workflow.code_rules`.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import types
from typing import Any

from dw_lsp.workflow.code_rules import (
    CLASS_LIBRARIES,
    LOADER_FUNCTIONS,
    NAMEABLE,
    QUANTIZATION_PACKAGES,
    under,
)

DIFFUSERS_BASES = frozenset(
    {
        "ConfigMixin",
        "ModelMixin",
        "SchedulerMixin",
        "DiffusionPipeline",
        "ModularPipeline",
        "ModularPipelineBlocks",
        "QuantizationConfigMixin",
        "PipelineQuantizationConfig",
    }
)
TRANSFORMERS_BASES = frozenset(
    {
        "PreTrainedModel",
        "PreTrainedTokenizerBase",
        "ProcessorMixin",
        "FeatureExtractionMixin",
        "ImageProcessingMixin",
        "BaseVideoProcessor",
        "PreTrainedConfig",
        "PretrainedConfig",
        "QuantizationConfigMixin",
        "_BaseAutoModelClass",
    }
)
#: transformers' auto classes that are not ``_BaseAutoModelClass`` subclasses but load a
#: tokenizer or processor. ``AutoConfig`` is left out: no workflow needs a bare config.
TRANSFORMERS_AUTO = frozenset(
    {
        "AutoTokenizer",
        "AutoProcessor",
        "AutoImageProcessor",
        "AutoFeatureExtractor",
        "AutoVideoProcessor",
    }
)
#: Modules whose dataclasses are the objects FORMAT.md 1.9.3 builds.
DESCRIPTION_MODULES = ("diffusers.pipelines", "diffusers.modular_pipelines")
PLAIN = (str, int, float, complex, bool, bytes, type(None))
_MAX_DATA_DEPTH = 32


def _origin(value: object) -> str:
    """The module a class or function was defined in (an instance: its type's)."""
    target = value if inspect.isclass(value) or callable(value) else type(value)
    module = getattr(target, "__module__", None)
    return module if isinstance(module, str) else ""


def _bases(cls: type, library: str) -> set[str]:
    return {
        b.__name__ for b in inspect.getmro(cls) if under(getattr(b, "__module__", ""), (library,))
    }


def is_dtype(value: object) -> bool:
    kind = type(value)
    return kind.__name__ == "dtype" and kind.__module__ == "torch"


def _diffusers_class(cls: type) -> bool:
    if _bases(cls, "diffusers") & DIFFUSERS_BASES or issubclass(cls, enum.Enum):
        return True
    origin = cls.__module__
    if under(origin, ("diffusers.models",)) and "Processor" in cls.__name__:
        return True
    parts = origin.split(".")
    return (
        dataclasses.is_dataclass(cls)
        and under(origin, DESCRIPTION_MODULES)
        and not any(p == "utils" or p.endswith("_utils") for p in parts)
    )


def _transformers_class(cls: type) -> bool:
    if _bases(cls, "transformers") & TRANSFORMERS_BASES or issubclass(cls, enum.Enum):
        return True
    return cls.__name__ in TRANSFORMERS_AUTO and under(cls.__module__, ("transformers.models",))


def _quantization_class(cls: type) -> bool:
    return any(
        b.__name__.endswith("Config") or b.__name__ == "QuantizationConfigMixin"
        for b in inspect.getmro(cls)
        if b is not object
    )


def type_refusal(value: object, name: str, extra: tuple[str, ...]) -> str | None:
    """Why ``value`` (resolved from the ``*_type`` value ``name``) may not be named, or None."""
    origin = _origin(value)
    if isinstance(value, types.ModuleType):
        return f"'{name}' is a module, not a class; {NAMEABLE}."
    if inspect.isclass(value):
        return _class_refusal(value, name, origin, extra)
    if callable(value):
        if name in LOADER_FUNCTIONS and under(origin, CLASS_LIBRARIES):
            return None
        return (
            f"'{name}' is a function ({origin}.{getattr(value, '__name__', '?')}); {NAMEABLE}. "
            "A function a workflow names could do anything, so the worker never calls one."
        )
    if is_dtype(value) or isinstance(value, enum.Enum):
        return None
    if under(origin, QUANTIZATION_PACKAGES):
        return None
    return (
        f"'{name}' is a {type(value).__name__} object of '{origin}', not a class, a dtype or "
        f"a constant; {NAMEABLE}."
    )


def is_placeholder(cls: type) -> bool:
    """diffusers' and transformers' stand-in for a class whose optional backend is missing:
    any use raises an ImportError that names the backend, which is the message to show."""
    return type(cls).__name__ == "DummyObject" and under(cls.__module__, CLASS_LIBRARIES)


def _class_refusal(cls: type, name: str, origin: str, extra: tuple[str, ...]) -> str | None:
    if is_placeholder(cls):
        return None
    if under(origin, ("diffusers",)):
        if _diffusers_class(cls):
            return None
    elif under(origin, ("transformers",)):
        if _transformers_class(cls):
            return None
    elif under(origin, QUANTIZATION_PACKAGES):
        if _quantization_class(cls):
            return None
    elif under(origin, extra):
        return None
    elif under(origin, ("numpy",)) and "generic" in _bases(cls, "numpy"):
        return None  # a numpy scalar type (numpy.float16): a dtype, whose call converts a number
    else:
        return (
            f"'{name}' is a class of '{origin}' ({cls.__name__}); from torch, PIL and numpy a "
            f"workflow names only dtypes and enum values ({NAMEABLE})."
        )
    return (
        f"'{name}' is a class the format does not need ({cls.__name__} of '{origin}'); {NAMEABLE}."
    )


def constant_refusal(value: object, name: str) -> str | None:
    """Why the ``constant:`` ``name`` may not be read, or None when it is plain data."""
    if isinstance(value, types.ModuleType):
        return f"constant '{name}' is a module, not a value"
    if callable(value):
        return (
            f"constant '{name}' is a {type(value).__name__}, not a value: 'constant:' reads "
            "data; name a type under a '*_type' key instead"
        )
    if not is_plain_data(value):
        return (
            f"constant '{name}' is a {type(value).__name__} object, not a value: 'constant:' "
            "reads plain data (numbers, strings, lists, dicts, enum values, dtypes)"
        )
    return None


def is_plain_data(value: Any, depth: int = 0) -> bool:
    """Numbers, strings, None, enum members, dtypes, and containers or dataclass records of
    those (bounded depth)."""
    if depth > _MAX_DATA_DEPTH:
        return False
    if isinstance(value, (enum.Enum, *PLAIN)) or is_dtype(value):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return all(is_plain_data(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            is_plain_data(k, depth + 1) and is_plain_data(v, depth + 1) for k, v in value.items()
        )
    if dataclasses.is_dataclass(value) and not inspect.isclass(value):
        return all(
            is_plain_data(getattr(value, f.name, None), depth + 1)
            for f in dataclasses.fields(value)
        )
    return False
