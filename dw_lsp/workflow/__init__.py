"""The floor every layer stands on: a workflow document and what is known about it.

Owns the text -> document parse with source positions (:mod:`.document`, :mod:`.tolerant`,
:mod:`.nodes`, :mod:`.positions`), the one model of a workflow's steps, variables and
references (:mod:`.outline`, built by :mod:`.walk`, with ranges in :mod:`.symbols`), the
value mini-languages (:mod:`.refs`), the names and loading arguments a workflow may use
(:mod:`.code_rules`), a workflow's files (:mod:`.files`: built-ins, size and nesting
limits, sub-workflow resolution, reading; :mod:`.paths`: path rules), which documents are
workflows (:mod:`.detection`) and :class:`~.problem.Problem`, the unit of every check.

Must not import any other part of dw_lsp, nor pygls, lsprotocol, torch or diffusers.
"""
