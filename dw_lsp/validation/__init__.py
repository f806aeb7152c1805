"""Validation: a workflow document -> problems with stable codes (DW101 ...).

Owns the whole check (:mod:`.check`), what a check knows beyond the text
(:mod:`.context`), the JSON Schema (:mod:`.schema`, worded by :mod:`.schema_errors` and
:mod:`.schema_words`), the semantic and catalog rules (:mod:`.rules`), the code table
(:mod:`.codes`), the typed fix data that travels with a problem to the editor
(:mod:`.fixes`) and the task command table (:mod:`.tasks_spec`, read by the worker too).

May import :mod:`dw_lsp.workflow` and :mod:`dw_lsp.catalog`; must not import the session,
the server, the worker, pygls, lsprotocol, torch or diffusers.
"""
