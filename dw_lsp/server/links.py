"""Document links: local media files, media URLs and sub-workflow paths.

Media values (under ``image``/``*_image``/``video``/``*_video``, a media object's
``location`` and an object description's ``from_file``) and a ``workflow.path`` link to
their file, resolved against the workflow file's folder as dw does (FORMAT.md 1.7, 1.9.7);
``builtin:NAME.json`` links to our built-in of that name. Only files that exist are linked,
so a link is never dead; references (``variable:`` ...) are left to navigation. Pure
apart from checking that the files exist.
"""

from __future__ import annotations

from pathlib import Path as FsPath

from lsprotocol import types

from dw_lsp.server.convert import to_range
from dw_lsp.server.knowledge import Knowledge
from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.files import existing_builtin, path_to_uri
from dw_lsp.workflow.nodes import Node
from dw_lsp.workflow.positions import Encoding
from dw_lsp.workflow.refs import builtin_name, is_media_key, is_url
from dw_lsp.workflow.symbols import content_span

_REFERENCE_PREFIXES = ("variable:", "previous_result:", "constant:")


def _is_link_key(path: Path) -> bool:
    key = path[-1] if path else None
    if isinstance(key, int):
        key = next((p for p in reversed(path) if isinstance(p, str)), None)
    if not isinstance(key, str):
        return False
    return is_media_key(key) or key in ("location", "from_file")


def _is_workflow_path(path: Path) -> bool:
    return len(path) == 4 and path[0] == "steps" and path[2:] == ("workflow", "path")


def _target(
    value: str, path: Path, base_dir: FsPath | None, know: Knowledge
) -> tuple[str, str] | None:
    """(target URI, tooltip) for a string value, or None."""
    if not value or value.startswith(_REFERENCE_PREFIXES):
        return None
    if _is_workflow_path(path):
        name = builtin_name(value)
        if name is not None:
            builtin = existing_builtin(name)
            return (path_to_uri(builtin), f"Built-in sub-workflow {name}") if builtin else None
    elif not _is_link_key(path):
        return None
    if is_url(value):
        return value, "Open URL"
    if base_dir is None:
        return None
    file = FsPath(value) if FsPath(value).is_absolute() else base_dir / value
    try:
        if not file.is_file():
            return None
    except OSError:
        return None
    return path_to_uri(file), f"Open {file.name}"


def document_links(
    doc: Document,
    base_dir: FsPath | None,
    know: Knowledge,
    tooltips: bool = False,
    encoding: Encoding = "utf-16",
) -> list[types.DocumentLink]:
    """Links for the document's file and URL values."""
    root = doc.tree
    if root is None:
        return []
    out: list[types.DocumentLink] = []
    stack: list[tuple[Node, Path]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if node.kind == "object":
            stack.extend((m.value, path + (m.key,)) for m in node.members if m.value is not None)
        elif node.kind == "array":
            stack.extend((item, path + (i,)) for i, item in enumerate(node.items))
        elif node.kind == "string" and isinstance(node.value, str):
            found = _target(node.value, path, base_dir, know)
            if found is None:
                continue
            start, end = content_span(doc.text, (node.start, node.end))
            out.append(
                types.DocumentLink(
                    range=to_range(doc.lines, start, end, encoding),
                    target=found[0],
                    tooltip=found[1] if tooltips else None,
                )
            )
    out.sort(key=lambda link: (link.range.start.line, link.range.start.character))
    return out
