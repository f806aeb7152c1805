"""dw-lsp: language server, warm worker, REPL and CLI for diffusers-workflow files.

The folders are the processes and the layers of DESIGN.md, top to bottom (an
import-linter contract in ``make lint`` keeps every arrow pointing down):

- :mod:`dw_lsp.cli`: ``dw-lsp serve | check | run | repl``, choosing a front end;
- :mod:`dw_lsp.server` (the LSP front end) and :mod:`dw_lsp.terminal` (REPL, run, check);
- :mod:`dw_lsp.session` (the worker client and the Session) and :mod:`dw_lsp.worker` (the
  worker process, the only place torch and diffusers are imported), which never import
  each other: :mod:`dw_lsp.protocol` is all they share;
- :mod:`dw_lsp.validation`: schema and semantic rules -> problems;
- :mod:`dw_lsp.catalog`: the diffusers classes and parameters, as data;
- :mod:`dw_lsp.protocol` and :mod:`dw_lsp.settings`;
- :mod:`dw_lsp.workflow`: the floor, which imports nothing of the package above it.
"""
