"""Document symbols, folding ranges, selection ranges, document links and code lenses."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from lsprotocol import types
from server_samples import SAMPLE, knowledge, nth

from dw_lsp.server import names
from dw_lsp.server.lenses import code_lenses
from dw_lsp.server.links import document_links
from dw_lsp.server.symbols import (
    document_symbols,
    flat_symbols,
    folding_ranges,
    selection_ranges,
)
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.files import BUILTINS_DIR

DOC = parse(SAMPLE)
KNOW = knowledge()


def test_symbols_group_variables_and_steps_with_kind_and_class():
    symbols = document_symbols(DOC)
    assert [s.name for s in symbols] == ["variables", "steps"]
    variables, steps = symbols
    assert [c.name for c in variables.children or []] == ["prompt", "steps"]
    assert variables.children and variables.children[0].detail == '"a cat 🐱 on a mat"'
    details = [(c.name, c.detail, c.kind) for c in steps.children or []]
    assert details == [
        ("draw", "pipeline · StableDiffusionPipeline", types.SymbolKind.Class),
        ("again", "pipeline_reference · draw", types.SymbolKind.Method),
        ("caption", "task · image_to_text", types.SymbolKind.Function),
    ]
    draw = (steps.children or [])[0]
    assert draw.selection_range.start.line == draw.range.start.line + 1


def test_flat_symbols_keep_containers():
    flat = flat_symbols("file:///w.json", document_symbols(DOC))
    assert ("draw", "steps") in [(s.name, s.container_name) for s in flat]


def test_symbols_of_broken_and_empty_documents():
    broken = parse('{"variables": {"a": 1}, "steps": [{"name": "x", "task": {')
    assert [s.name for s in document_symbols(broken)] == ["variables", "steps"]
    assert document_symbols(parse("")) == []
    assert document_symbols(parse("[1, 2]")) == []


def test_folding_ranges_keep_the_closing_line_visible():
    text = '{\n  "a": {\n    "b": 1\n  },\n  "c": [1,\n 2]\n}\n'
    ranges = [(r.start_line, r.end_line) for r in folding_ranges(parse(text))]
    assert ranges == [(0, 5), (1, 2)]  # "c" closes on the next line: nothing to fold


def test_folding_of_the_sample_covers_each_step():
    starts = {r.start_line for r in folding_ranges(DOC)}
    for name in ("draw", "again", "caption"):
        line = DOC.lines.line_of(SAMPLE.index(f'"name": "{name}"')) - 1
        assert line in starts


def test_selection_ranges_grow_outwards():
    offset = nth(SAMPLE, "variable:prompt", 0, 3)
    (chain,) = selection_ranges(DOC, [offset])
    spans = []
    node = chain
    while node is not None:
        start = DOC.lines.offset(node.range.start.line, node.range.start.character)
        end = DOC.lines.offset(node.range.end.line, node.range.end.character)
        spans.append(SAMPLE[start:end])
        node = node.parent
    assert spans[0] == "variable:prompt"
    assert spans[1] == '"variable:prompt"'
    assert spans[2] == '"prompt": "variable:prompt"'
    assert spans[-1] == SAMPLE.strip()
    for inner, outer in itertools.pairwise(spans):
        assert inner in outer


def test_links_to_local_media_builtins_and_urls(tmp_path: Path):
    (tmp_path / "cat.png").write_bytes(b"png")
    (tmp_path / "child.json").write_text("{}", encoding="utf-8")
    text = json.dumps(
        {
            "steps": [
                {"name": "a", "workflow": {"path": "builtin:test.json"}},
                {"name": "b", "workflow": {"path": "child.json"}},
                {
                    "name": "c",
                    "pipeline": {
                        "arguments": {
                            "image": "cat.png",
                            "mask_image": "missing.png",
                            "control_image": "https://example.com/x.png",
                            "ref": {"reference_type": "X", "from_file": "cat.png"},
                            "prompt": "cat.png",
                            "ip_adapter_image": "variable:img",
                        }
                    },
                },
            ]
        }
    )
    links = document_links(parse(text), tmp_path, KNOW, tooltips=True)
    targets = [link.target for link in links]
    assert targets == [
        (BUILTINS_DIR / "test.json").as_uri(),
        (tmp_path / "child.json").as_uri(),
        (tmp_path / "cat.png").as_uri(),
        "https://example.com/x.png",
        (tmp_path / "cat.png").as_uri(),
    ]
    assert links[0].tooltip == "Built-in sub-workflow test.json"
    no_tips = document_links(parse(text), tmp_path, KNOW, tooltips=False)
    assert all(link.tooltip is None for link in no_tips)
    first = links[0].range
    assert text[first.start.character : first.end.character] == "builtin:test.json"


def test_lenses_only_for_registered_commands():
    uri = "file:///w.json"
    lenses = code_lenses(uri, DOC, {names.RUN, names.MEMORY, names.CLEAR, names.STATUS})
    assert [
        (lens.command.title, lens.command.command, lens.command.arguments)
        for lens in lenses
        if lens.command
    ] == [
        ("▶ Run", names.RUN, [{"uri": uri}]),
        ("Smoke run", names.RUN, [{"uri": uri, "standIn": True}]),
        ("Memory", names.MEMORY, [{"uri": uri}]),
        ("Clear", names.CLEAR, [{"uri": uri}]),
    ]
    assert lenses[0].range.start == types.Position(line=0, character=0)
    assert code_lenses(uri, DOC, set()) == []
    assert [
        lens.command.command for lens in code_lenses(uri, DOC, {names.RUN}) if lens.command
    ] == [names.RUN, names.RUN]
