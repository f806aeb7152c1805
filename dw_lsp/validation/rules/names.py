"""DW305: a ``*_type`` value that names something a workflow may not name (DESIGN.md
"Security"), decided from the name alone, without importing anything.

The worker decides on the object (:mod:`dw_lsp.worker.values.nameable`); this module reports, as an
error in the editor and in ``dw-lsp check``, what the name already shows:

* anything under a ``utils`` package (``diffusers.utils.export_to_video``);
* a name whose last part starts with a lower-case letter: a function or a module
  (``numpy.load``, ``transformers.dynamic_module_utils``), except torch dtypes
  (``torch.bfloat16``) and ``transformers.pipeline``;
* a dotted diffusers name the catalog lists as a function, or one of the diffusers classes
  the worker refuses (:data:`REFUSED_DIFFUSERS_CLASSES`, kept equal to the worker's verdict by a
  test), and ``transformers.AutoConfig``;
* a class of torch, PIL or numpy (``numpy.memmap``, ``PIL.Image.Image``): from those only
  dtypes (``torch.bfloat16``, ``numpy.float16``) and enum values
  (``PIL.Image.Resampling.LANCZOS``) may be named.

Which transformers classes are models, tokenizers or processors cannot be told from a name,
so the worker alone refuses the rest. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import re

from dw_lsp.catalog import FUNCTION, Catalog
from dw_lsp.workflow.code_rules import (
    ALLOWED_MODULES_SETTING,
    CLASS_LIBRARIES,
    DATA_LIBRARIES,
    LOADER_FUNCTIONS,
    NAMEABLE,
    QUANTIZATION_PACKAGES,
    under,
    utils_part,
    utils_refusal,
)

#: Top-level diffusers classes the worker refuses (not pipelines, models, schedulers,
#: processors, guiders or quantization configs). tests/worker/test_nameable.py recomputes it.
REFUSED_DIFFUSERS_CLASSES = frozenset(
    {
        "AudioPipelineOutput",
        "BlockRefinementSchedulerOutput",
        "CacheMixin",
        "ComponentSpec",
        "ComponentsManager",
        "ConfigSpec",
        "ContextParallelConfig",
        "DiffusersQuantizer",
        "DiscreteDDIMSchedulerOutput",
        "DummyObject",
        "EMAModel",
        "EntropyBoundSchedulerOutput",
        "FasterCacheConfig",
        "FirstBlockCacheConfig",
        "FromOriginalModelMixin",
        "HookRegistry",
        "ImagePipelineOutput",
        "InputParam",
        "LayerSkipConfig",
        "MagCacheConfig",
        "OptionalDependencyNotAvailable",
        "OutputParam",
        "ParallelConfig",
        "PyramidAttentionBroadcastConfig",
        "SeaCacheConfig",
        "SmoothedEnergyGuidanceConfig",
        "StableDiffusionMixin",
        "TaylorSeerCacheConfig",
        "TensorParallelConfig",
        "TextKVCacheConfig",
    }
)
#: transformers classes refused by name: loaders of a bare config (with dynamic code).
REFUSED_TRANSFORMERS_CLASSES = frozenset({"AutoConfig"})
#: torch and numpy dtype names (``torch.<name>``, ``numpy.<name>``), current and future
#: float8/int/uint widths.
_DTYPE = re.compile(
    r"^(u?int\d+|float\d+(_\w+)?|bfloat16|complex\d+|half|float|double|long|int|short|bool"
    r"|cfloat|cdouble|chalf|bits\w+|q(u)?int\w+|bool_|float_|int_|intc|uintc|longlong"
    r"|ulonglong|single|csingle|longdouble|clongdouble)$"
)
#: An enum value spelled in upper case (``PIL.Image.Resampling.LANCZOS``).
_ENUM_VALUE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def name_refusal(value: str, catalog: Catalog, allowed: tuple[str, ...]) -> str | None:
    """Why the worker will refuse the type name ``value`` (a dotted Python name, not
    escaped, not a reference), or None when the name alone does not tell."""
    parts = value.split(".")
    last = parts[-1]
    if len(parts) == 1:  # a bare lower-case word is DW222's (an unescaped string category)
        return _not_needed(value) if value in REFUSED_DIFFUSERS_CLASSES else None
    package = utils_part(value)
    if package is not None:
        return utils_refusal(value, package) + "."
    if value in LOADER_FUNCTIONS:
        return None
    if under(value, DATA_LIBRARIES):
        if parts[0] in ("torch", "numpy") and len(parts) == 2 and _DTYPE.match(last):
            return None
        if _ENUM_VALUE.match(last) and len(parts) > 2:
            return None
        return (
            f"'{value}' is not a dtype or an enum value; from torch, PIL and numpy a workflow "
            f"names only those ({NAMEABLE}). The worker refuses it."
        )
    if last[:1].islower():
        return _function(value, parts[0])
    if under(value, ("diffusers",)) and last in REFUSED_DIFFUSERS_CLASSES:
        return _not_needed(value)
    if under(value, ("diffusers",)) and catalog.kind_of(last) == FUNCTION:
        return _function(value, "diffusers")
    if under(value, ("transformers",)) and last in REFUSED_TRANSFORMERS_CLASSES:
        return _not_needed(value)
    return None


def _function(value: str, library: str) -> str:
    known = under(value, CLASS_LIBRARIES + QUANTIZATION_PACKAGES + DATA_LIBRARIES)
    hint = "" if known else f" Adding '{library}' to {ALLOWED_MODULES_SETTING} would not help."
    return (
        f"'{value}' names a function or a module of {library}, not a class; {NAMEABLE}. "
        f"The worker refuses it.{hint}"
    )


def _not_needed(value: str) -> str:
    return f"'{value}' is a class the format does not need; {NAMEABLE}. The worker refuses it."
