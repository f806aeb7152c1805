"""The dependency index of the language server, without a client: which files a check
depends on (sub-workflows, found or missing, transitively), the reverse index, and the
re-check of dependents when a file changes (only them, at most once, cycles included)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lsprotocol import types

from dw_lsp.server import handlers
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.dependencies import (
    DependencyIndex,
    dependencies_of,
    normalized,
    subworkflow_paths,
)
from dw_lsp.server.diagnostics import check_context, problems_of
from dw_lsp.server.documents import OpenDocument
from dw_lsp.server.language_server import DwLanguageServer
from dw_lsp.settings import Settings
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.files import BUILTINS_DIR


def caller(*paths: str, arguments: dict[str, Any] | None = None) -> str:
    steps = [
        {"name": f"call{i}", "workflow": {"path": p, "arguments": arguments or {}}}
        for i, p in enumerate(paths)
    ]
    return json.dumps({"id": "caller", "steps": steps}, indent=2)


def callee(*variables: str, calls: tuple[str, ...] = ()) -> str:
    value = json.loads(caller(*(calls or ("builtin:test.json",))))
    value["variables"] = {v: "x" for v in variables}
    return json.dumps(value, indent=2)


def test_subworkflow_paths_resolve_files_and_builtins(tmp_path: Path):
    value = json.loads(caller("child.json", "../up/other.json", "builtin:test.json"))
    value["steps"].append({"name": "v", "workflow": {"path": "variable:p"}})
    value["steps"].append({"name": "bad", "workflow": {"path": "builtin:a/b.json"}})
    found = subworkflow_paths(value, tmp_path)
    assert found == {
        tmp_path / "child.json",
        tmp_path / "../up/other.json",
        BUILTINS_DIR / "test.json",
    }
    assert subworkflow_paths(value, None) == {BUILTINS_DIR / "test.json"}
    assert subworkflow_paths({"steps": 3}, tmp_path) == set()
    assert subworkflow_paths([1], tmp_path) == set()


def test_dependencies_include_missing_files_and_grandchildren(tmp_path: Path):
    parent = tmp_path / "parent.json"
    (tmp_path / "child.json").write_text(callee("prompt", calls=("sub/grand.json",)))
    text = caller("child.json", "missing.json", arguments={"prompt": "a"})
    reads: dict[Path, str] = {}
    doc = parse(text)
    problems = problems_of(doc, check_context(parent, Settings(), {}, reads))
    assert "DW208" in {p.code for p in problems}  # missing.json
    deps = dependencies_of(doc, parent, reads)
    assert deps == {
        normalized(tmp_path / "child.json"),
        normalized(tmp_path / "missing.json"),
        normalized(tmp_path / "sub/grand.json"),  # missing too: the child names it
    }


def test_check_context_reads_buffers_under_another_spelling(tmp_path: Path):
    (tmp_path / "d").mkdir()
    child = tmp_path / "d" / "child.json"
    child.write_text("on disk")
    reads: dict[Path, str] = {}
    ctx = check_context(None, Settings(), {child: "in the buffer"}, reads)
    assert ctx.read_text is not None
    other = tmp_path / "d" / ".." / "d" / "child.json"
    assert ctx.read_text(other) == "in the buffer"
    assert reads == {other: "in the buffer"}


def test_index_finds_transitive_dependents_once_and_survives_cycles(tmp_path: Path):
    a, b, c = (tmp_path / n for n in ("a.json", "b.json", "c.json"))
    index = DependencyIndex()
    index.update(a.as_uri(), [normalized(b)])
    index.update(b.as_uri(), [normalized(a), normalized(c)])  # a <-> b, b -> c
    path_of = {u.as_uri(): u for u in (a, b, c)}.get
    assert index.dependents([c], path_of) == sorted([a.as_uri(), b.as_uri()])
    assert index.dependents([a], path_of) == sorted([a.as_uri(), b.as_uri()])
    assert index.dependents([tmp_path / "x.json"], path_of) == []
    index.update(b.as_uri(), [])
    assert index.dependents([c], path_of) == [] and len(index) == 1
    index.forget(a.as_uri())
    assert len(index) == 0 and index.dependencies(a.as_uri()) == frozenset()


class Recorder:
    def __init__(self, ls: DwLanguageServer) -> None:
        self.published: list[types.PublishDiagnosticsParams] = []
        self.refreshes = 0
        ls.text_document_publish_diagnostics = self.published.append  # type: ignore[method-assign]
        ls.workspace_diagnostic_refresh = self.refresh  # type: ignore[method-assign]

    def refresh(self, params: None) -> None:
        self.refreshes += 1


def server(tmp_path: Path, pull: bool = False) -> tuple[DwLanguageServer, Recorder]:
    ls = DwLanguageServer()  # no dw.* commands: nothing starts a worker
    caps: dict[str, Any] = {}
    if pull:
        diagnostic = types.DiagnosticClientCapabilities()
        caps = {"text_document": types.TextDocumentClientCapabilities(diagnostic=diagnostic)}
    ls.client = ClientFeatures.from_capabilities(
        types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(
                diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
            ),
            **caps,
        )
    )
    ls.settings = Settings(diagnostics_debounce_ms=0)
    return ls, Recorder(ls)


def open_doc(ls: DwLanguageServer, path: Path, text: str) -> str:
    handlers.text_document_did_open(
        ls,
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="json", version=1, text=text
            )
        ),
    )
    return path.as_uri()


def edit(ls: DwLanguageServer, uri: str, version: int, text: str) -> None:
    handlers.text_document_did_change(
        ls,
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        ),
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def codes(published: list[types.PublishDiagnosticsParams], uri: str) -> list[set[Any]]:
    return [{d.code for d in p.diagnostics} for p in published if p.uri == uri]


async def test_an_edit_rechecks_only_the_dependents(tmp_path: Path):
    ls, rec = server(tmp_path)
    (tmp_path / "child.json").write_text(callee("prompt"))
    parent = open_doc(ls, tmp_path / "parent.json", caller("child.json", arguments={"prompt": "a"}))
    child = open_doc(ls, tmp_path / "child.json", callee("prompt"))
    other = open_doc(ls, tmp_path / "other.json", callee("x"))
    await settle()
    assert ls.diagnostics.dependencies.dependencies(parent) == {
        normalized(tmp_path / "child.json"),
        normalized(BUILTINS_DIR / "test.json"),  # the child calls it
    }
    rec.published.clear()

    edit(ls, child, 2, callee("subject"))
    await settle()
    assert sorted((p.uri, p.version) for p in rec.published) == sorted([(child, 2), (parent, 1)])
    assert codes(rec.published, parent) == [{"DW206"}]
    rec.published.clear()

    edit(ls, other, 2, callee("y"))  # nobody calls other.json
    await settle()
    assert [p.uri for p in rec.published] == [other]
    assert rec.refreshes == 0  # a push client


async def test_cycles_end(tmp_path: Path):
    ls, rec = server(tmp_path)
    a_text = callee("p", calls=("b.json",))
    b_text = callee("p", calls=("a.json",))
    (tmp_path / "a.json").write_text(a_text)
    (tmp_path / "b.json").write_text(b_text)
    a = open_doc(ls, tmp_path / "a.json", a_text)
    b = open_doc(ls, tmp_path / "b.json", b_text)
    await settle()
    rec.published.clear()
    edit(ls, a, 2, a_text + " ")
    await settle()
    assert sorted(p.uri for p in rec.published) == sorted([a, b])


async def test_pull_clients_get_fresh_result_ids_and_one_refresh(tmp_path: Path):
    ls, rec = server(tmp_path, pull=True)
    (tmp_path / "child.json").write_text(callee("prompt"))
    parent = open_doc(ls, tmp_path / "parent.json", caller("child.json", arguments={"prompt": "a"}))
    child = open_doc(ls, tmp_path / "child.json", callee("prompt"))
    parent_doc = ls.documents.get(parent)
    assert isinstance(parent_doc, OpenDocument)
    assert "DW206" not in {d.code for d in ls.diagnostics.of(parent_doc)}
    before = ls.diagnostics.result_id(parent_doc)
    edit(ls, child, 2, callee("subject"))
    edit(ls, child, 3, callee("subjects"))
    await settle()
    assert rec.published == [] and rec.refreshes == 1  # debounced
    assert ls.diagnostics.result_id(parent_doc) != before
    assert "DW206" in {d.code for d in ls.diagnostics.of(parent_doc)}


async def test_watched_file_creation_and_close(tmp_path: Path):
    ls, rec = server(tmp_path)
    parent = open_doc(ls, tmp_path / "parent.json", caller("child.json", arguments={"prompt": "a"}))
    await settle()
    assert codes(rec.published, parent) == [{"DW208"}]
    (tmp_path / "child.json").write_text(callee("prompt"))
    handlers.workspace_did_change_watched_files(
        ls,
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=(tmp_path / "child.json").as_uri(), type=types.FileChangeType.Created
                )
            ]
        ),
    )
    await settle()
    assert codes(rec.published, parent)[-1] == set()
    # an open buffer of the child overrides the disk until it is closed
    child = open_doc(ls, tmp_path / "child.json", callee("other"))
    await settle()
    assert codes(rec.published, parent)[-1] == {"DW206"}
    handlers.text_document_did_close(
        ls, types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(child))
    )
    await settle()
    assert codes(rec.published, parent)[-1] == set()
