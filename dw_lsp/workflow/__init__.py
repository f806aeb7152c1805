"""Workflow documents: text -> value with source positions, references. Pure: no pygls,
lsprotocol, torch or diffusers."""
