"""Validation: the JSON Schema and the semantic rules -> Problems with stable codes. Pure."""
