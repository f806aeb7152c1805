"""The rules a check runs after the schema, each a plain function over the workflow's
:class:`~dw_lsp.workflow.outline.Outline` (or its document) that reports problems by path.

- :mod:`.semantic` runs the semantic rules of FORMAT.md 1.11: :mod:`.variables`,
  :mod:`.steps`, :mod:`.tasks`, :mod:`.values`, :mod:`.pipeline`, :mod:`.subworkflow`;
- :mod:`.catalog` checks type names and call arguments against the pipeline catalog,
  with the names a workflow may never use (:mod:`.names`);
- :mod:`.code` reports loading arguments that would run code;
- :mod:`.base` is what they share: the reporter and the words of "did you mean".

Must not import :mod:`dw_lsp.validation.check` (the checker imports the rules and hands
itself over in the :class:`~dw_lsp.validation.context.CheckContext`), nor the session, the
server, the worker, pygls, lsprotocol, torch or diffusers.
"""
