"""The value mini-languages at run time (FORMAT.md 1.9): the worker's one entry point for
turning a workflow's JSON values into Python objects.

The work is split by concept, and this package's ``__init__`` only gathers the public
names:

- :mod:`.typenames`: :class:`TypeResolver` (``*_type`` names and ``constant:`` inside an
  allowlist of module prefixes) and :class:`DisallowedImport`, deciding on the resolved
  object with :mod:`.nameable`;
- :mod:`.variables`: :func:`coerce_arguments` and :func:`substitute_variables`;
- :mod:`.media`: :func:`check_path` and the image / video loaders;
- :mod:`.realize`: :func:`realize` (FORMAT.md 1.9.5 order) and
  :func:`resolve_type_strings` for configuration blocks;
- :mod:`.iterations`: :func:`expand_iterations` and :func:`artifacts`.

Imports PIL and numpy; torch, diffusers and transformers load only when a workflow names
them. Never imports the session, the server or LSP types.
"""

from __future__ import annotations

from dw_lsp.worker.values.iterations import (
    MAX_ITERATIONS,
    artifacts,
    clean_string,
    expand_iterations,
)
from dw_lsp.worker.values.media import (
    ALLOW_URLS_ENV,
    MediaError,
    check_path,
    decode_video,
    open_image,
)
from dw_lsp.worker.values.realize import (
    EscapedString,
    is_media_object,
    realize,
    resolve_type_strings,
)
from dw_lsp.worker.values.typenames import (
    ALLOWED_MODULES_SETTING,
    DisallowedImport,
    TypeResolver,
    UnresolvedName,
)
from dw_lsp.worker.values.variables import (
    coerce_arguments,
    coerce_value,
    substitute_variables,
)

__all__ = [
    "ALLOWED_MODULES_SETTING",
    "ALLOW_URLS_ENV",
    "MAX_ITERATIONS",
    "DisallowedImport",
    "EscapedString",
    "MediaError",
    "TypeResolver",
    "UnresolvedName",
    "artifacts",
    "check_path",
    "clean_string",
    "coerce_arguments",
    "coerce_value",
    "decode_video",
    "expand_iterations",
    "is_media_object",
    "open_image",
    "realize",
    "resolve_type_strings",
    "substitute_variables",
]
