"""Package docstring: see below."""
