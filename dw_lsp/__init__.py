"""dw-lsp: language server, warm worker, REPL and CLI for diffusers-workflow files."""
