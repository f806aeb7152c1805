"""Step results written under the output directory.

- :mod:`.save`: dw's naming and one writer per content type (FORMAT.md 1.8). Every file
  goes through :mod:`dw_lsp.output_files` (where a result's file goes, and writing it so
  that nothing is ever destroyed), which is not part of the worker because the session
  writes the files a Ray actor ships back by the same rule.
- :mod:`.arrays`: image-shaped arrays (Marigold's predictions) as PIL images, batched
  waveforms split.

Part of the worker: never imports the session, the server or LSP types.
"""
