"""The pipeline catalog: diffusers classes and their parameters, generated and checked in.

:func:`load_catalog` gives the catalog of the diffusers version the data was generated for
(``python -m dw_lsp.catalog.gen`` regenerates it; a test fails when it is stale).
Validation warns with it; completion and hover read class and parameter docs from it.
Pure data access; never imports diffusers.
"""

from __future__ import annotations

from dw_lsp.catalog.catalog import (
    BLOCKS,
    CLASS,
    FUNCTION,
    KINDS,
    MODEL,
    MODULAR_PIPELINE,
    PIPELINE,
    PIPELINE_KINDS,
    SCHEDULER,
    Catalog,
    ClassInfo,
    DottedLookup,
    ParamInfo,
    PipelineInfo,
    Signature,
    load_catalog,
)

__all__ = [
    "BLOCKS",
    "CLASS",
    "FUNCTION",
    "KINDS",
    "MODEL",
    "MODULAR_PIPELINE",
    "PIPELINE",
    "PIPELINE_KINDS",
    "SCHEDULER",
    "Catalog",
    "ClassInfo",
    "DottedLookup",
    "ParamInfo",
    "PipelineInfo",
    "Signature",
    "load_catalog",
]
