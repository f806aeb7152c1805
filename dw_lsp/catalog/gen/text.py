"""How the catalog words things: docstring summaries and Args entries, clipped; short
annotations; stable ``repr`` of defaults.

Plain functions over strings and values, shared by :mod:`.catalog_classes`; they import
neither diffusers nor the rest of the generator, and never the session, the server or LSP
types.
"""

from __future__ import annotations

import enum
import inspect
import re
from typing import Any

DOC_LIMIT = 300
DEFAULT_LIMIT = 120
ANNOTATION_LIMIT = 160

_ARGS_HEADERS = ("args:", "arguments:", "parameters:", "params:")
_ENTRY_RE = re.compile(r"^\**(?P<name>[A-Za-z_]\w*)\s*(?:\(.*\))?\s*:(?P<rest>.*)$")
_LEADING_TYPE_RE = re.compile(r"^\s*\(.*?\)\s*:\s*")
_DOTTED_RE = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def clip(text: str, limit: int) -> str:
    """Whitespace collapsed; cut at a sentence end (or else a word) before ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    stop = head.rfind(". ")
    if stop >= limit // 2:
        return head[: stop + 1]
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head).rstrip(",;:") + " …"


def summary(doc: str | None) -> str:
    """The docstring's first paragraph, clipped."""
    if not doc:
        return ""
    paragraph: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if not line.strip():
            if paragraph:
                break
            continue
        if line.strip().lower() in _ARGS_HEADERS:
            break
        paragraph.append(line)
    return clip(" ".join(paragraph), DOC_LIMIT)


def parse_args_section(doc: str | None) -> dict[str, str]:
    """Parameter name -> first paragraph of its entry in the first Args/Parameters section."""
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().lower() in _ARGS_HEADERS), None)
    if start is None:
        return {}
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    ended = False  # the current entry's first paragraph is complete
    for line in lines[start + 1 :]:
        if not line.strip():
            ended = current is not None and bool(current)
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent:
            match = _ENTRY_RE.match(line.strip())
            if match is None:
                current = None
                continue
            current = entries.setdefault(match["name"], [])
            ended = False
            rest = _LEADING_TYPE_RE.sub("", match["rest"])  # "name: (`type`): text"
            if rest.strip():
                current.append(rest)
        elif indent > entry_indent and current is not None and not ended:
            current.append(line)
    docs = {name: clip(" ".join(text), DOC_LIMIT) for name, text in entries.items() if text}
    return {name: doc for name, doc in docs.items() if not doc.startswith("TODO")}  # notes


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def format_annotation(annotation: Any) -> str:
    """A short annotation: ``typing.`` and module paths dropped, clipped ("" when none)."""
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = _DOTTED_RE.sub(r"\1", text.replace("typing.", ""))
    return clip(text, ANNOTATION_LIMIT)


def format_default(value: Any) -> str:
    """A stable, short ``repr`` of a default value."""
    if isinstance(value, enum.Enum):
        text = f"{type(value).__name__}.{value.name}"
    elif isinstance(value, set | frozenset):
        text = "{" + ", ".join(sorted(format_default(v) for v in value)) + "}" if value else "set()"
    elif inspect.isclass(value) or inspect.isroutine(value):
        text = str(getattr(value, "__qualname__", "") or type(value).__name__)
    else:
        text = repr(value)
        if _ADDRESS_RE.search(text):
            text = f"<{type(value).__name__}>"
    return text if len(text) <= DEFAULT_LIMIT else text[: DEFAULT_LIMIT - 1] + "…"
