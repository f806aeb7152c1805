"""Every editor feature on every sample workflow of the corpus, whole and cut short at
several points (broken JSON): no exception, and ranges that stay inside the text."""

from __future__ import annotations

from pathlib import Path

import pytest
from dwtest_corpus import corpus_files, corpus_id, require_corpus
from server_samples import knowledge

from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.completion import complete
from dw_lsp.server.hover import hover
from dw_lsp.server.links import document_links
from dw_lsp.server.navigation import definition, references
from dw_lsp.server.symbols import document_symbols, folding_ranges, selection_ranges
from dw_lsp.workflow.document import parse
from dw_lsp.workflow.symbols import symbols_of

KNOW = knowledge()
CLIENT = ClientFeatures(snippets=True, hover_markdown=True, completion_markdown=True)


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_id)
def test_features_never_fail_on_real_workflows(path: Path):
    require_corpus()
    full = path.read_text(encoding="utf-8")
    for text in (full, full[: len(full) // 3], full[: 2 * len(full) // 3]):
        doc = parse(text)
        lines = len(text.splitlines()) + 1
        assert all(0 <= r.span[0] <= r.span[1] <= len(text) for r in symbols_of(doc).references)
        for symbol in document_symbols(doc):
            assert symbol.range.end.line < lines
        for fold in folding_ranges(doc):
            assert fold.start_line < fold.end_line < lines
        document_links(doc, path.parent, KNOW)
        offsets = list(range(0, len(text), max(1, len(text) // 25))) + [len(text)]
        selection_ranges(doc, offsets)
        for offset in offsets:
            for item in complete(doc, offset, KNOW, CLIENT):
                assert item.text_edit is not None
            hover(doc, offset, KNOW, CLIENT, base_dir=path.parent)
            span = definition(doc, offset)
            assert span is None or 0 <= span[0] <= span[1] <= len(text)
            references(doc, offset)
