"""The worker process (``python -m dw_lsp.worker``): the only place torch and diffusers
are imported.

- :mod:`.rpc`: the JSON-RPC adapter on stdin and the private stdout; :mod:`.runtime`: runs,
  the warm cache and the memory policy, knowing nothing of the transport;
- :mod:`.executor` (a run's files and step loop), :mod:`.steps` (one step of each kind),
  :mod:`.run_state`, :mod:`.progress` (progress and cooperative cancel);
- :mod:`.support` and :mod:`.guard`: what this worker can honour and what it refuses, before
  anything loads; :mod:`.memory`: figures and the three cleanup levels;
- families: :mod:`.loading` (pipelines, placement, load keys, the cache, the tiny models),
  :mod:`.values` (the value mini-languages), :mod:`.tasks` (task commands),
  :mod:`.outputs` (results written without destroying a file).

May import :mod:`dw_lsp.workflow`, :mod:`dw_lsp.validation`, :mod:`dw_lsp.catalog` and
:mod:`dw_lsp.protocol`. Never imports the session, the server, the terminal front ends,
pygls or lsprotocol.
"""
