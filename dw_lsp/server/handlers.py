"""The LSP handlers of :class:`~dw_lsp.server.language_server.DwLanguageServer`, one per
method.

Each handler is named after its method and does three things: find the open workflow
document (anything else gets an empty answer), convert positions with the negotiated
encoding, and call the feature function. :func:`register_features` attaches them all.
Never imports the worker, torch, diffusers or transformers.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from dw_lsp.server.actions import code_actions, workspace_edits
from dw_lsp.server.clientcaps import ClientFeatures
from dw_lsp.server.completion import complete
from dw_lsp.server.configuration import pushed_section, trust_of
from dw_lsp.server.convert import SOURCE, encoding_of, to_offset, to_range
from dw_lsp.server.crossnav import caller_edits, child_definition
from dw_lsp.server.documents import OpenDocument
from dw_lsp.server.hover import hover
from dw_lsp.server.language_server import DwLanguageServer
from dw_lsp.server.lenses import code_lenses
from dw_lsp.server.lifecycle import Preserialized, preserialize
from dw_lsp.server.links import document_links
from dw_lsp.server.navigation import (
    RenameError,
    definition,
    prepare_rename,
    references,
    rename,
    renamed_variable,
)
from dw_lsp.server.symbols import document_symbols, flat_symbols, folding_ranges, selection_ranges
from dw_lsp.workflow.document import Span

logger = logging.getLogger(__name__)

#: Characters after which clients should ask for completion.
TRIGGER_CHARACTERS = ['"', ":"]

_REQUEST_FAILED = int(types.LSPErrorCodes.RequestFailed)


def _offset(ls: DwLanguageServer, doc: OpenDocument, pos: types.Position) -> int:
    return to_offset(doc.document.lines, pos, ls.encoding)


def _location(ls: DwLanguageServer, doc: OpenDocument, span: Span) -> types.Location:
    rng = to_range(doc.document.lines, span[0], span[1], ls.encoding)
    return types.Location(uri=doc.uri, range=rng)


# -- lifecycle and settings --------------------------------------------------------------
def _dynamic_file_watching(caps: types.ClientCapabilities | None) -> bool:
    workspace = caps.workspace if caps is not None else None
    watched = workspace.did_change_watched_files if workspace is not None else None
    return bool(watched is not None and watched.dynamic_registration)


def initialize(ls: DwLanguageServer, params: types.InitializeParams) -> None:
    """Read the client's capabilities, encoding, workspace trust and initialization options."""
    ls.client = ClientFeatures.from_capabilities(params.capabilities)
    ls.watch_files_dynamically = _dynamic_file_watching(params.capabilities)
    ls.encoding = encoding_of(ls.workspace.position_encoding)
    ls.init_options = params.initialization_options
    ls.trusted, problem = trust_of(ls.init_options)
    if problem is not None:
        ls.warn_once([problem])
    if not ls.trusted:
        logger.info("The client does not trust this workspace: no runs, no worker")
    ls.apply_settings(None)


async def initialized(ls: DwLanguageServer, params: types.InitializedParams) -> None:
    """Register the file watcher (in the background) and pull the ``dwLsp`` section."""
    ls.spawn(ls.watch_files())
    await ls.pull_settings()


async def shutdown(ls: DwLanguageServer, params: None) -> None:
    await ls.shutdown()


async def workspace_did_change_configuration(
    ls: DwLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    """Apply pushed settings, or pull them when the client only signals a change."""
    section = pushed_section(params.settings)
    if section is not None or not ls.client.configuration:
        ls.apply_settings(section)
    else:
        await ls.pull_settings()


# -- document sync -------------------------------------------------------------------------
def text_document_did_open(ls: DwLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    doc = ls.documents.open(item.uri, item.text, item.version, item.language_id)
    ls.diagnostics.schedule(item.uri, 0)
    ls.diagnostics.recheck_dependents([item.uri], origin=item.uri)  # they read this buffer now
    if ls.is_workflow(doc):
        ls.workflow_opened(item.uri)


def text_document_did_change(
    ls: DwLanguageServer, params: types.DidChangeTextDocumentParams
) -> None:
    uri = params.text_document.uri
    changes = params.content_changes
    if ls.documents.change(uri, params.text_document.version, changes, ls.encoding) is None:
        logger.warning("Ignoring a change to %s, which is not open", uri)
        return
    ls.diagnostics.schedule(uri)
    ls.diagnostics.recheck_dependents([uri], origin=uri)


def text_document_did_save(ls: DwLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    doc = ls.documents.save(uri, params.text)
    if doc is None:
        return
    ls.diagnostics.recheck_dependents([uri], origin=uri)  # a saved file may be a sub-workflow
    ls.diagnostics.schedule(uri, 0)


def text_document_did_close(ls: DwLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.close_document(params.text_document.uri)


def workspace_did_change_watched_files(
    ls: DwLanguageServer, params: types.DidChangeWatchedFilesParams
) -> None:
    """Files changed on disk (created, changed, deleted): check the open documents that
    depend on them again."""
    ls.diagnostics.recheck_dependents([change.uri for change in params.changes])


def text_document_diagnostic(
    ls: DwLanguageServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    """Pull diagnostics: the same diagnostics as pushed ones, or "unchanged"."""
    doc = ls.documents.get(params.text_document.uri)
    if doc is None or not ls.is_workflow(doc):
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    result_id = ls.diagnostics.result_id(doc)
    if params.previous_result_id == result_id:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
    items = ls.diagnostics.of(doc)
    return types.RelatedFullDocumentDiagnosticReport(items=items, result_id=result_id)


# -- language features ---------------------------------------------------------------------
def text_document_completion(
    ls: DwLanguageServer, params: types.CompletionParams
) -> types.CompletionList | None:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return None
    offset = _offset(ls, doc, params.position)
    base = ls.base_dir(doc.uri)
    items = complete(doc.document, offset, ls.knowledge, ls.client, ls.encoding, base)
    return types.CompletionList(is_incomplete=False, items=items)


def text_document_hover(ls: DwLanguageServer, params: types.HoverParams) -> types.Hover | None:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return None
    offset = _offset(ls, doc, params.position)
    base = ls.base_dir(doc.uri)
    return hover(doc.document, offset, ls.knowledge, ls.client, ls.encoding, base)


def text_document_definition(
    ls: DwLanguageServer, params: types.DefinitionParams
) -> types.Location | None:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return None
    offset = _offset(ls, doc, params.position)
    span = definition(doc.document, offset)
    if span is not None:
        return _location(ls, doc, span)
    return child_definition(ls, doc, offset)


def text_document_references(
    ls: DwLanguageServer, params: types.ReferenceParams
) -> list[types.Location]:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    offset = _offset(ls, doc, params.position)
    spans = references(doc.document, offset, params.context.include_declaration)
    return [_location(ls, doc, span) for span in spans]


def text_document_prepare_rename(
    ls: DwLanguageServer, params: types.PrepareRenameParams
) -> types.PrepareRenamePlaceholder | None:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return None
    try:
        found = prepare_rename(doc.document, _offset(ls, doc, params.position))
    except RenameError as exc:
        raise JsonRpcException(str(exc), code=_REQUEST_FAILED) from exc
    if found is None:
        return None
    span, name = found
    rng = to_range(doc.document.lines, span[0], span[1], ls.encoding)
    return types.PrepareRenamePlaceholder(range=rng, placeholder=name)


def text_document_rename(
    ls: DwLanguageServer, params: types.RenameParams
) -> types.WorkspaceEdit | None:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return None
    offset = _offset(ls, doc, params.position)
    try:
        edits = rename(doc.document, offset, params.new_name)
    except RenameError as exc:
        raise JsonRpcException(str(exc), code=_REQUEST_FAILED) from exc
    lines = doc.document.lines
    text_edits = [
        types.TextEdit(
            range=to_range(lines, e.span[0], e.span[1], ls.encoding), new_text=e.new_text
        )
        for e in edits
    ]
    changes = [(doc.uri, doc.version, text_edits)]
    changes += caller_edits(ls, doc, renamed_variable(doc.document, offset), params.new_name)
    return workspace_edits(changes, ls.client)


def text_document_document_symbol(
    ls: DwLanguageServer, params: types.DocumentSymbolParams
) -> list[types.DocumentSymbol] | Preserialized:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    hierarchical = ls.client.hierarchical_symbols

    def answer() -> Preserialized:
        symbols = document_symbols(doc.document, ls.encoding)
        result = symbols if hierarchical else flat_symbols(doc.uri, symbols)
        return preserialize(ls.protocol, result)

    # the JSON is made once per version: a large document's symbols took 1.5 ms to convert
    return doc.document.derived(("document symbols json", ls.encoding, hierarchical), answer)


def text_document_folding_range(
    ls: DwLanguageServer, params: types.FoldingRangeParams
) -> list[types.FoldingRange]:
    doc = ls.workflow(params.text_document.uri)
    return folding_ranges(doc.document) if doc is not None else []


def text_document_selection_range(
    ls: DwLanguageServer, params: types.SelectionRangeParams
) -> list[types.SelectionRange]:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    offsets = [_offset(ls, doc, p) for p in params.positions]
    return selection_ranges(doc.document, offsets, ls.encoding)


def text_document_document_link(
    ls: DwLanguageServer, params: types.DocumentLinkParams
) -> list[types.DocumentLink]:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    base = ls.base_dir(doc.uri)
    return document_links(doc.document, base, ls.knowledge, ls.client.link_tooltips, ls.encoding)


def text_document_code_action(
    ls: DwLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    diagnostics = [d for d in params.context.diagnostics if d.source == SOURCE]
    return code_actions(
        doc.uri, doc.version, doc.document, diagnostics, ls.knowledge, ls.client, ls.encoding
    )


def text_document_code_lens(
    ls: DwLanguageServer, params: types.CodeLensParams
) -> list[types.CodeLens]:
    doc = ls.workflow(params.text_document.uri)
    if doc is None:
        return []
    return code_lenses(doc.uri, doc.document, ls.registered_commands(), ls.encoding)


def register_features(ls: DwLanguageServer) -> None:
    """Attach every handler of this module to ``ls``."""
    table: list[tuple[str, Any, Any]] = [
        (types.INITIALIZE, initialize, None),
        (types.INITIALIZED, initialized, None),
        (types.SHUTDOWN, shutdown, None),
        (types.WORKSPACE_DID_CHANGE_CONFIGURATION, workspace_did_change_configuration, None),
        (types.TEXT_DOCUMENT_DID_OPEN, text_document_did_open, None),
        (types.TEXT_DOCUMENT_DID_CHANGE, text_document_did_change, None),
        (
            types.TEXT_DOCUMENT_DID_SAVE,
            text_document_did_save,
            types.SaveOptions(include_text=False),
        ),
        (types.TEXT_DOCUMENT_DID_CLOSE, text_document_did_close, None),
        (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, workspace_did_change_watched_files, None),
        (
            types.TEXT_DOCUMENT_DIAGNOSTIC,
            text_document_diagnostic,
            types.DiagnosticOptions(
                identifier=SOURCE, inter_file_dependencies=True, workspace_diagnostics=False
            ),
        ),
        (
            types.TEXT_DOCUMENT_COMPLETION,
            text_document_completion,
            types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
        ),
        (types.TEXT_DOCUMENT_HOVER, text_document_hover, None),
        (types.TEXT_DOCUMENT_DEFINITION, text_document_definition, None),
        (types.TEXT_DOCUMENT_REFERENCES, text_document_references, None),
        (types.TEXT_DOCUMENT_PREPARE_RENAME, text_document_prepare_rename, None),
        (types.TEXT_DOCUMENT_RENAME, text_document_rename, None),
        (types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, text_document_document_symbol, None),
        (types.TEXT_DOCUMENT_FOLDING_RANGE, text_document_folding_range, None),
        (types.TEXT_DOCUMENT_SELECTION_RANGE, text_document_selection_range, None),
        (types.TEXT_DOCUMENT_DOCUMENT_LINK, text_document_document_link, None),
        (
            types.TEXT_DOCUMENT_CODE_ACTION,
            text_document_code_action,
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
        ),
        (types.TEXT_DOCUMENT_CODE_LENS, text_document_code_lens, None),
    ]
    for method, handler, options in table:
        ls.feature(method, options)(handler)
