"""The server's plain parts: incremental edits, workflow recognition, schema walking,
settings merging, client capabilities and the debounce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.configuration import combine, pushed_section
from dw_lsp.server.diagnostics import Debouncer
from dw_lsp.server.documents import DocumentStore, apply_changes
from dw_lsp.server.schema_nav import SchemaNav, value_snippet
from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.schema import load_schema
from dw_lsp.workflow.detection import is_workflow, matches_globs
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.files import uri_to_path


def change(sl: int, sc: int, el: int, ec: int, text: str) -> types.TextDocumentContentChangePartial:
    rng = types.Range(start=types.Position(sl, sc), end=types.Position(el, ec))
    return types.TextDocumentContentChangePartial(range=rng, text=text)


@pytest.mark.parametrize(
    ("encoding", "column"),
    [("utf-16", 5), ("utf-8", 7), ("utf-32", 4)],  # after '"🐱"' + 1 in each unit
)
def test_incremental_edits_after_emoji(encoding, column):
    text = 'x\n"🐱"ab\n'
    out = apply_changes(text, [change(1, column, 1, column + 1, "B")], encoding)
    assert out == 'x\n"🐱"aB\n'


def test_edits_apply_in_order_and_clamp():
    text = "ab\ncd"
    changes = [
        change(0, 0, 0, 1, "A"),
        change(9, 0, 9, 0, "!"),  # past the end: appended
        change(1, 99, 1, 99, "?"),  # past the line end: at its end
        types.TextDocumentContentChangeWholeDocument(text="whole"),
        change(0, 5, 0, 5, "."),
    ]
    assert apply_changes(text, changes, "utf-16") == "whole."


def test_store_tracks_versions(tmp_path: Path):
    store = DocumentStore()
    path = tmp_path / "a b.json"
    doc = store.open(path.as_uri(), "{}", 1, "json")
    assert doc.document.value == {}
    store.change(path.as_uri(), 2, [change(0, 1, 0, 1, '"a": 1')], "utf-16")
    assert doc.version == 2 and doc.document.value == {"a": 1}
    assert store.find(tmp_path / "x" / ".." / "a b.json") is doc  # however it is spelled
    assert store.change("file:///nope.json", 1, [], "utf-16") is None
    store.close(path.as_uri())
    assert store.get(path.as_uri()) is None and store.find(path) is None and len(store) == 0


@pytest.mark.parametrize(
    ("text", "changes", "expected"),
    [
        # characters that str.splitlines() breaks at are inside one LSP line
        (
            "a\u2028b\x85c\x0cd\ne",
            [change(0, 6, 0, 7, "D"), change(1, 0, 1, 1, "E")],
            "a\u2028b\x85c\x0cD\nE",
        ),
        ("a\x1c\x1d\x1e\x0bb\rc", [change(0, 6, 1, 0, "-")], "a\x1c\x1d\x1e\x0bb-c"),
        ("a\r\nb", [change(0, 1, 1, 0, "")], "ab"),
        # the halves of a surrogate pair sent apart become one character
        ("x\ude00", [change(0, 1, 0, 1, "\ud83d")], "x😀"),
        ("😀", [change(0, 2, 0, 2, "y")], "😀y"),
    ],
)
def test_edits_follow_lsp_lines(text, changes, expected):
    assert apply_changes(text, changes, "utf-16") == expected


def test_changes_are_read_never_modified():
    ranged = change(0, 40, 3, 99, "x")  # far past the text: clamped here, not in the params
    assert apply_changes("a\u2028b\nc", [ranged], "utf-16") == "a\u2028bx"
    assert ranged.range == types.Range(types.Position(0, 40), types.Position(3, 99))


@pytest.mark.parametrize(
    ("uri", "text", "expected"),
    [
        (
            "file:///p/x.json",
            '{"$schema": "https://dw-lsp.dev/schemas/workflow.schema.json"}',
            True,
        ),
        ("file:///p/x.json", '{"$schema": "../schemas/workflow.schema.json"}', True),
        ("file:///p/x.json", '{"id": "a", "steps": []}', True),
        ("file:///p/x.json", '{"id": "a", "steps": [{"name": ', True),  # broken, still ours
        ("file:///p/package.json", '{"name": "x", "scripts": {}}', False),
        ("file:///p/x.json", '{"steps": 3}', False),
        ("file:///p/workflows/sub/y.json", '{"name": "x"}', True),  # the default glob
        ("untitled:Untitled-1", '{"a": 1}', False),
        ("file:///p/x.json", "", False),
    ],
)
def test_workflow_recognition(uri, text, expected):
    assert is_workflow(uri, parse(text), ["**/workflows/**/*.json"], [Path("/p")]) is expected


def test_oversized_documents_are_recognised_by_a_cheap_look():
    big = '{"id": "x", "steps": [], "pad": "' + "x" * (50 * 1024 * 1024) + '"}'
    doc = parse(big)
    assert doc.value is None and [p.code for p in doc.problems] == ["DW008"]
    assert is_workflow("file:///p/x.json", doc, [], [])
    assert not is_workflow("file:///p/x.json", parse(big.replace('"steps"', '"other"')), [], [])


def test_globs_relative_to_roots_and_braces():
    path = Path("/ws/flows/a.dw.json")
    assert matches_globs(path, ["flows/*.dw.json"], [Path("/ws")])
    assert not matches_globs(path, ["flows/*.dw.json"], [Path("/other")])
    assert matches_globs(path, ["**/*.{dw,wf}.json"], [])
    assert not matches_globs(Path("/ws/flows/deep/a.json"), ["flows/*.json"], [Path("/ws")])
    assert uri_to_path("file:///C:/x/y.json") == Path("C:/x/y.json")
    assert uri_to_path("file:///a%20b/c.json") == Path("/a b/c.json")
    assert uri_to_path("untitled:1") is None


def test_schema_walk_through_refs_and_combinators():
    nav = SchemaNav(load_schema())
    step_keys = set(nav.property_schemas(("steps", 0)))
    assert {"name", "pipeline", "pipeline_reference", "task", "workflow", "result"} <= step_keys
    assert "component_type" in nav.property_schemas(("steps", 2, "pipeline", "configuration"))
    assert nav.enum(("steps", 0, "pipeline", "configuration", "offload")) == ["model", "sequential"]
    assert nav.describe(("steps", 0, "pipeline")) is not None
    assert nav.required(()) == {"id", "steps"}
    assert nav.at(("nope",)) == []
    assert nav.at(("steps", 0, "pipeline", "arguments", "anything")) == []


def test_schema_walk_with_synthetic_schema():
    schema = {
        "$defs": {"leaf": {"type": "string", "description": "leaf doc"}},
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/leaf", "description": "own doc"}},
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": {"type": "boolean"},
        "anyOf": [{"properties": {"b": {"type": "array", "prefixItems": [{"type": "null"}]}}}],
    }
    nav = SchemaNav(schema)
    assert nav.describe(("a",)) == "own doc"
    assert nav.types(("x_1",)) == {"integer"}
    assert nav.types(("other",)) == {"boolean"}
    assert nav.types(("b", 0)) == {"null"}
    assert set(nav.property_schemas(())) == {"a", "b"}


@pytest.mark.parametrize(
    ("schema", "snippet", "plain"),
    [
        ({"type": "object"}, "{$1}", "{}"),
        ({"type": "array"}, "[$1]", "[]"),
        ({"type": "string"}, '"$1"', '""'),
        ({"type": "string", "default": "a$b"}, '"${1:a\\$b}"', '"a$b"'),
        ({"enum": ["x", "y,z"]}, '"${1|x,y\\,z|}"', '"x"'),
        ({"enum": [1, 2]}, "${1|1,2|}", "1"),
        ({"type": "boolean", "default": True}, "${1|true,false|}", "true"),
        ({"type": "integer", "default": 8}, "${1:8}", "8"),
        ({"type": ["integer", "string"]}, "$1", ""),
    ],
)
def test_value_snippets(schema, snippet, plain):
    assert value_snippet([schema]) == (snippet, plain)


def test_settings_layers_and_messages():
    settings, messages = combine({"diagnostics": {"debounceMs": 20}}, None)
    assert settings.diagnostics_debounce_ms == 20 and messages == []
    settings, messages = combine({"dwLsp": {"outputDir": "o"}}, {"diagnostics.debounceMs": 50})
    assert (settings.output_dir, settings.diagnostics_debounce_ms) == ("o", 50)
    settings, messages = combine(None, {"diagnostics": {"debounceMs": "soon"}, "bogus": 1})
    assert settings.diagnostics_debounce_ms == 150
    assert any("debounceMs" in m for m in messages) and any("bogus" in m for m in messages)
    assert pushed_section({"dwLsp": {"a": 1}}) == {"a": 1}
    assert pushed_section({"other": 1}) is None and pushed_section(None) is None


def test_client_features_of_real_profiles():
    code = ClientFeatures.from_capabilities(client_capabilities("visual-studio-code"))
    nvim = ClientFeatures.from_capabilities(client_capabilities("neovim@v0.11.0"))
    assert code.snippets and code.link_tooltips and not code.pull_diagnostics
    assert nvim.pull_diagnostics and nvim.hierarchical_symbols and not nvim.link_tooltips
    assert ClientFeatures.from_capabilities(None) == ClientFeatures()


async def test_debouncer_runs_only_the_last_job():
    debouncer = Debouncer()
    ran: list[int] = []
    for i in range(5):
        debouncer.schedule("a", 0.02, lambda i=i: ran.append(i))
    debouncer.schedule("b", 0, lambda: ran.append(99))
    assert debouncer.pending("a")
    await asyncio.sleep(0.06)
    assert ran == [99, 4] and not debouncer.pending("a")
    debouncer.schedule("a", 0.02, lambda: ran.append(5))
    debouncer.cancel("a")
    debouncer.schedule("c", 0, lambda: 1 / 0)  # a failing job is logged, not raised
    await asyncio.sleep(0.04)
    assert ran == [99, 4]


def test_a_crashing_rule_keeps_the_syntax_problems(monkeypatch: pytest.MonkeyPatch):
    import dw_lsp.server.diagnostics as diagnostics

    def boom(doc, ctx):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(diagnostics, "check_workflow_file", boom)
    doc = parse('{"id": "x", "steps": [}')
    problems = diagnostics.problems_of(doc, CheckContext())
    assert problems == doc.problems and problems


def test_lenses_follow_the_command_registry():
    from dw_lsp.server import names
    from dw_lsp.server.app import create_server
    from dw_lsp.server.language_server import DwLanguageServer

    assert DwLanguageServer().registered_commands() == set()
    assert {names.RUN, names.MEMORY, names.CLEAR} <= create_server().registered_commands()
