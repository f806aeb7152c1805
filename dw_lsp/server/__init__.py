"""The LSP front end (pygls). Never imports the worker, torch, diffusers or transformers."""
