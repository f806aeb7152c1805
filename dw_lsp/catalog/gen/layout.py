"""The catalog files' layout: their names and header, one line per entry, and what makes a
checked-in file stale.

Pure (JSON in, JSON out): imports neither diffusers nor the rest of the generator, and never
the session, the server or LSP types. :mod:`dw_lsp.catalog` reads what :func:`dumps` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMAT = 1
GENERATOR = "dw_lsp.catalog.gen"
CLASSES_FILE = "diffusers.json"
MODULES_FILE = "diffusers_modules.json"

Json = dict[str, Any]


def dumps(payload: Json, table: str) -> str:
    """JSON with one line per entry of ``payload[table]`` (keys sorted inside each line),
    after the other keys: diffs show which entries changed, and the loader can read the
    header and the entry lines it needs without parsing the whole file."""
    head = [
        f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)},"
        for key, value in payload.items()
        if key != table
    ]
    rows = [
        f"{json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"
        for name, entry in sorted(payload[table].items())
    ]
    return "{\n" + "\n".join(head) + f"\n{json.dumps(table)}: {{\n" + ",\n".join(rows) + "\n}}\n"


def stale(path: Path, fresh: str) -> str | None:
    """Why the file at ``path`` does not match ``fresh``, or None when it does."""
    if not path.is_file():
        return f"{path} is missing"
    old_text = path.read_text(encoding="utf-8")
    if old_text == fresh:
        return None
    old, new = json.loads(old_text), json.loads(fresh)
    if old.get("diffusers_version") != new.get("diffusers_version"):
        return (
            f"{path.name} was generated for diffusers {old.get('diffusers_version')}, "
            f"the installed one is {new.get('diffusers_version')}"
        )
    key = "classes" if "classes" in new else "modules"
    old_items, new_items = old.get(key, {}), new.get(key, {})
    if key == "classes":
        # What this environment cannot import (a backend is missing on one side), it
        # cannot vouch for: such entries are compared by kind only.
        for name in set(old_items) | set(new_items):
            a, b = old_items.get(name), new_items.get(name)
            if a and b and ("requires" in a or "requires" in b) and a["kind"] == b["kind"]:
                old_items[name] = new_items[name] = {"kind": a["kind"]}
        if old == new:
            return None
    added = sorted(set(new_items) - set(old_items))
    removed = sorted(set(old_items) - set(new_items))
    changed = sorted(n for n in set(old_items) & set(new_items) if old_items[n] != new_items[n])
    parts = [
        f"{label} {len(names)}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
        for label, names in (("added", added), ("removed", removed), ("changed", changed))
        if names
    ]
    return f"{path.name} differs from a fresh generation ({'; '.join(parts) or 'formatting'})"
