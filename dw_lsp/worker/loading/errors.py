"""The loading error: a pipeline cannot be loaded as described. Pure."""

from __future__ import annotations


class LoadError(RuntimeError):
    """A pipeline cannot be loaded as described (the message says which key and why)."""
