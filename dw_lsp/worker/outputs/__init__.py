"""Step results written under the output directory.

- :mod:`.save`: dw's naming and one writer per content type (FORMAT.md 1.8);
- :mod:`.files`: where a result's file goes and writing it so that nothing is ever
  destroyed (a hidden temporary file hard-linked to a free name).

Part of the worker: never imports the session, the server or LSP types.
"""
