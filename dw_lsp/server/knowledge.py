"""What the editor features know beyond the document: the schema, the pipeline catalog
and the task commands (the built-in sub-workflows are :mod:`dw_lsp.workflow.files`'s).

One :class:`Knowledge` object is built per server and handed to the feature functions.
The catalog is loaded on first use (about 0.1 s). Pure data access: no pygls, never
diffusers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dw_lsp.catalog import Catalog, load_catalog
from dw_lsp.server.schema_nav import SchemaNav
from dw_lsp.validation.schema import load_schema
from dw_lsp.validation.tasks_spec import TASKS, TaskSpec

#: ``torch.*`` dtype strings offered for ``*_dtype`` keys (FORMAT.md 1.9.6).
TORCH_DTYPES = (
    "torch.bfloat16",
    "torch.float16",
    "torch.float32",
    "torch.float8_e4m3fn",
    "torch.float8_e5m2",
    "torch.float64",
    "torch.int8",
    "torch.uint8",
)

#: ``result.content_type`` values that pick a writer (FORMAT.md 1.8).
CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "video/mp4",
    "audio/wav",
    "audio/flac",
    "audio/mpeg",
    "audio/ogg",
    "text/plain",
    "application/json",
)


@dataclass
class Knowledge:
    """Schema, catalog and tasks, as the features read them."""

    schema: SchemaNav
    tasks: Mapping[str, TaskSpec] = field(default_factory=lambda: TASKS)
    catalog_loader: Callable[[], Catalog | None] = load_catalog
    _catalog: Catalog | None = field(default=None, repr=False)
    _catalog_loaded: bool = field(default=False, repr=False)

    @classmethod
    def default(cls) -> Knowledge:
        return cls(schema=SchemaNav(load_schema()))

    @property
    def catalog(self) -> Catalog | None:
        """The pipeline catalog, loaded on first use."""
        if not self._catalog_loaded:
            self._catalog_loaded = True
            self._catalog = self.catalog_loader()
        return self._catalog
