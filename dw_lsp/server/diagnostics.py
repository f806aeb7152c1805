"""Diagnostics: the check of one document, and the debounce that schedules it.

:func:`problems_of` runs :func:`~dw_lsp.validation.check.check_document` with a
:class:`CheckContext` built from the settings and the open buffers (sub-workflows are read
from an open editor buffer before the disk). If a rule crashes, the syntax problems the
parser found are still reported and the error goes to the log: one broken rule must not
hide every diagnostic. :class:`Debouncer` keeps one asyncio task per document; the next
edit cancels the pending one (esbonio style), so only the last text of a burst is checked.

A check depends on other files: the sub-workflows its ``workflow`` steps call, and theirs
(FORMAT.md 1.7). :func:`dependencies_of` lists them after a check (the files the check
read, and every path a ``workflow`` step names, found or not, so that creating a missing
file counts too); :class:`DependencyIndex` keeps each open document's set and the reverse,
so a change to one file re-checks only the documents that depend on it. Paths in the index
are :func:`normalized`. Imports no pygls.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from dw_lsp.settings import Settings
from dw_lsp.validation.check import CheckContext, check_document
from dw_lsp.validation.problem import Problem
from dw_lsp.validation.rules_paths import resolve
from dw_lsp.validation.rules_subworkflow import BUILTINS_DIR
from dw_lsp.workflow.document import Document, parse
from dw_lsp.workflow.refs import BUILTIN, BUILTIN_NAME_RE, VARIABLE

logger = logging.getLogger(__name__)


def check_context(
    path: Path | None,
    settings: Settings,
    open_documents: Mapping[Path, str],
    reads: MutableMapping[Path, str] | None = None,
) -> CheckContext:
    """The context of a check: file path, allowlist extension and open buffers. Every
    file the check reads (a buffer or the disk) goes into ``reads``, if given."""
    by_normalized: dict[Path, str] | None = None

    def read_text(target: Path) -> str:
        nonlocal by_normalized
        text = open_documents.get(target)
        if text is None:  # "../x/child.json": the same file, spelled differently
            if by_normalized is None:
                by_normalized = {normalized(p): t for p, t in open_documents.items()}
            text = by_normalized.get(normalized(target))
        if text is None:
            text = target.read_text(encoding="utf-8")
        if reads is not None:
            reads[target] = text
        return text

    return CheckContext(
        path=path,
        allowed_modules=tuple(settings.worker_allowed_modules),
        allow_remote_code=settings.worker_allow_remote_code,
        read_text=read_text,
        open_documents=dict(open_documents),
    )


def problems_of(doc: Document, ctx: CheckContext) -> list[Problem]:
    """Every problem of ``doc``; the parser's own problems if a rule fails."""
    try:
        return check_document(doc, ctx)
    except Exception:
        logger.exception("The check of %s failed; reporting syntax problems only", ctx.path)
        return list(doc.problems)


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
        if target.startswith(BUILTIN):
            name = target[len(BUILTIN) :]
            if BUILTIN_NAME_RE.match(name):
                out.add(BUILTINS_DIR / name)
            continue
        try:
            found = resolve(target, folder)
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


class Debouncer:
    """At most one pending job per key; scheduling again cancels the pending one."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def schedule(self, key: str, delay_s: float, job: Callable[[], object]) -> asyncio.Task[None]:
        """Run ``job`` after ``delay_s`` seconds unless ``key`` is scheduled or cancelled
        again first."""
        self.cancel(key)
        task = asyncio.ensure_future(self._run(key, delay_s, job))
        self._tasks[key] = task
        return task

    async def _run(self, key: str, delay_s: float, job: Callable[[], object]) -> None:
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            result = job()
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Scheduled job for %s failed", key)
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    def cancel(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()

    def cancel_all(self) -> None:
        for key in list(self._tasks):
            self.cancel(key)

    def pending(self, key: str) -> bool:
        task = self._tasks.get(key)
        return task is not None and not task.done()
