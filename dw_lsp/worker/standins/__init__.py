"""Stand-in models (DESIGN.md "Stand-in models")."""
