"""The terminal front ends over the same Session as the language server.

- :mod:`.repl`: ``dw-lsp repl``, the interactive commands (load, run, arg, memory ...);
- :mod:`.runcmd`: ``dw-lsp run FILE name=value ...``, one or more runs, then exit;
- :mod:`.checkcmd`: ``dw-lsp check PATH...``, the checker like a compiler;
- :mod:`.console`: how they draw progress, reports and memory on a terminal.

May import the session and the pure layers. Never imports the server, the worker, pygls,
torch, diffusers or transformers.
"""
