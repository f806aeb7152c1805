"""What a workflow's diagnostics depend on: the sub-workflows its ``workflow`` steps call,
and theirs (FORMAT.md 1.7).

:func:`dependencies_of` lists them after a check (the files the check read, and every path
a ``workflow`` step names, found or not, so that creating a missing file counts too);
:class:`DependencyIndex` keeps each open document's set and the reverse, so a change to one
file re-checks only the documents that depend on it. Paths in the index are
:func:`normalized`. Plain data; imports no pygls.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.files import subworkflow_file
from dw_lsp.workflow.refs import VARIABLE


def normalized(path: Path) -> Path:
    """``path`` absolute, without ``..`` and symbolic links: one key per file."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def subworkflow_paths(value: Any, folder: Path | None) -> set[Path]:
    """The files the ``workflow`` steps of the workflow ``value`` call, whether they exist
    or not; relative paths resolve against ``folder`` (skipped when it is None)."""
    steps = value.get("steps") if isinstance(value, dict) else None
    if not isinstance(steps, list):
        return set()
    out: set[Path] = set()
    for step in steps:
        body = step.get("workflow") if isinstance(step, dict) else None
        target = body.get("path") if isinstance(body, dict) else None
        if not isinstance(target, str) or not target or target.startswith(VARIABLE):
            continue
        try:
            found = subworkflow_file(target, folder)
        except ValueError:  # e.g. a NUL in the path
            continue
        if found is not None:
            out.add(found)
    return out


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return parse(text).value  # broken JSON: what the tolerant parser recovers


def dependencies_of(doc: Document, path: Path | None, reads: Mapping[Path, str]) -> frozenset[Path]:
    """The files the check of ``doc`` (at ``path``) depends on, normalized: the
    sub-workflows it names, and for each file the check read (``reads``), that file and
    the sub-workflows it names (so a missing grandchild counts too)."""
    found = subworkflow_paths(doc.value, path.parent) if path is not None else set()
    for child, text in reads.items():
        found.add(child)
        found |= subworkflow_paths(_value(text), child.parent)
    return frozenset(normalized(p) for p in found)


class DependencyIndex:
    """Each open document's dependency set (normalized file paths) and the reverse: which
    documents depend on a file."""

    def __init__(self) -> None:
        self._deps: dict[str, frozenset[Path]] = {}
        self._users: dict[Path, set[str]] = {}

    def update(self, uri: str, deps: Iterable[Path]) -> None:
        """Record ``uri``'s dependencies (replacing the previous set)."""
        self.forget(uri)
        fresh = frozenset(deps)
        if not fresh:
            return
        self._deps[uri] = fresh
        for dep in fresh:
            self._users.setdefault(dep, set()).add(uri)

    def forget(self, uri: str) -> None:
        for dep in self._deps.pop(uri, ()):
            users = self._users.get(dep)
            if users is not None:
                users.discard(uri)
                if not users:
                    del self._users[dep]

    def dependencies(self, uri: str) -> frozenset[Path]:
        return self._deps.get(uri, frozenset())

    def dependents(self, paths: Iterable[Path], path_of: Callable[[str], Path | None]) -> list[str]:
        """The documents that depend on any of ``paths``, directly or through another
        document (``path_of`` gives a document's file), each once, sorted; cycles end."""
        queue = [normalized(p) for p in paths]
        seen = set(queue)
        found: set[str] = set()
        while queue:
            for uri in self._users.get(queue.pop(), ()):
                if uri in found:
                    continue
                found.add(uri)
                own = path_of(uri)
                if own is not None and (key := normalized(own)) not in seen:
                    seen.add(key)
                    queue.append(key)
        return sorted(found)

    def __len__(self) -> int:
        return len(self._deps)
