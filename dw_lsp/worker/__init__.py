"""The worker process: the only place torch and diffusers are imported. Never imports the
session, the server or LSP types."""
