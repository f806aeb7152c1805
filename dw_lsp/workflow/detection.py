"""Which documents are workflows.

A document is a workflow when (first match wins):

1. its top-level ``$schema`` names our schema (its id, or any URL or path ending in
   ``workflow.schema.json``);
2. its path matches one of the ``workflowFiles`` globs (relative to a workspace folder, or
   absolute; ``**`` spans folders, ``*`` and ``?`` stay inside one);
3. its parsed value is an object with a ``steps`` array (FORMAT.md 1.2).

The decision looks only at the parsed value and the path, so it costs nothing beyond the
parse that diagnostics need anyway. A document too large to parse (DW008) counts when its
text mentions ``"steps"``, so that it gets its one diagnostic. Pure: no pygls.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from dw_lsp.workflow.document import Document
from dw_lsp.workflow.files import uri_to_path

#: The ``$id`` of schemas/workflow.schema.json.
SCHEMA_ID = "https://dw-lsp.dev/schemas/workflow.schema.json"
SCHEMA_SUFFIX = "workflow.schema.json"


def names_our_schema(value: object) -> bool:
    """Whether a document value's ``$schema`` names the workflow schema."""
    if not isinstance(value, dict):
        return False
    schema = value.get("$schema")
    return isinstance(schema, str) and (
        schema == SCHEMA_ID or schema.rstrip("#").endswith(SCHEMA_SUFFIX)
    )


def has_steps(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("steps"), list)


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a ``**``-aware glob into a regex over POSIX paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            close = pattern.find("]", i + 1)
            if close < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : close].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = close + 1
        elif c == "{":
            close = pattern.find("}", i + 1)
            if close < 0:
                out.append(re.escape(c))
                i += 1
            else:
                options = pattern[i + 1 : close].split(",")
                out.append("(?:" + "|".join(re.escape(o) for o in options) + ")")
                i = close + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches_globs(path: Path, globs: Iterable[str], roots: Sequence[Path]) -> bool:
    """Whether ``path`` matches a glob, taken relative to any root or as an absolute path."""
    posix = PurePosixPath(path.as_posix())
    candidates = [str(posix)]
    for root in roots:
        try:
            candidates.append(str(PurePosixPath(path.as_posix()).relative_to(root.as_posix())))
        except ValueError:
            continue
    for glob in globs:
        regex = _glob_regex(glob.replace("\\", "/"))
        if any(regex.match(c) for c in candidates):
            return True
    return False


def is_workflow(uri: str, doc: Document, globs: Iterable[str], roots: Sequence[Path] = ()) -> bool:
    """Whether the document at ``uri`` is a workflow (see the module docstring)."""
    value = doc.value
    if names_our_schema(value):
        return True
    path = uri_to_path(uri)
    if path is not None and matches_globs(path, globs, roots):
        return True
    if value is None and any(p.code == "DW008" for p in doc.problems):
        return '"steps"' in doc.text  # too large to parse: its one diagnostic says so
    return has_steps(value)
