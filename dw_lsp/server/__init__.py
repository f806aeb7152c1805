"""The LSP front end (pygls): one module per feature, translating LSP onto plain functions.

- :mod:`.app` wires it (:func:`~.app.create_server`, :func:`~.app.serve`);
  :mod:`.language_server` holds the state, :mod:`.lifecycle` the LSP lifecycle,
  :mod:`.transport` and :mod:`.framing` the bytes, :mod:`.handlers` one handler per method;
- documents and diagnostics: :mod:`.documents`, :mod:`.diagnostics`, :mod:`.dependencies`;
- features: :mod:`.completion` (:mod:`.candidates`, :mod:`.skeleton`), :mod:`.hover`,
  :mod:`.navigation`, :mod:`.symbols`, :mod:`.links`, :mod:`.lenses`, :mod:`.actions`,
  reading :mod:`.knowledge` (schema via :mod:`.schema_nav`, catalog, tasks);
- the ``dw.*`` commands over the Session: :mod:`.commands`, :mod:`.run_progress`;
- settings and client features: :mod:`.configuration`, :mod:`.clientcaps`, :mod:`.convert`
  (offsets <-> LSP), :mod:`.names`.

May import the session and the pure layers. Never imports the worker, the terminal front
ends, torch, diffusers or transformers.
"""
