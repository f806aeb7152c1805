"""The catalog generator, a build-time tool: ``python -m dw_lsp.catalog.gen [--check]``
writes the catalog files of :mod:`dw_lsp.catalog` from the installed diffusers.

- :mod:`.__main__`: the command line, and the staleness check the test suite runs;
- :mod:`.classes`: ``diffusers.json``, every public class of diffusers described by
  importing it; :mod:`.modules`: ``diffusers_modules.json``, the public names of every
  diffusers module, read from the source;
- :mod:`.text`: how entries are worded; :mod:`.layout`: the files' layout and what makes
  them stale.

The one part of :mod:`dw_lsp.catalog` that imports diffusers. Nothing at run time imports
this package (an import-linter contract); it must not import the session, the server, the
worker, pygls or lsprotocol.
"""
