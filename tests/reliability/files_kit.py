"""What a run did to the disk, for the fault and attack suites: a snapshot of every file under
a folder (size and SHA-256; a symlink as its target), the difference between two snapshots,
and whether a file under a final output name is complete.

The rule the suites hold every case to: a file that existed before is unchanged, and a file
that appeared lies in the run's output directory and is either complete or a temporary file
clearly named as one (``.dw-partial-*``, README "Output files").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

#: How the worker names a file it is still writing (hidden, never a final output name).
PARTIAL_PREFIX = ".dw-partial-"

Snapshot = dict[Path, str]


def snapshot(root: Path) -> Snapshot:
    """Every file and symlink under ``root`` (links not followed) -> a fingerprint."""
    seen: Snapshot = {}
    for folder, dirs, files in os.walk(root):
        for name in [*files, *dirs]:
            path = Path(folder) / name
            if path.is_symlink():
                seen[path] = "link:" + os.readlink(path)
            elif name in files:
                data = path.read_bytes()
                seen[path] = f"{len(data)}:{hashlib.sha256(data).hexdigest()}"
    return seen


@dataclass
class Damage:
    """Files a case changed that it must not have, with the reason for each."""

    problems: list[str] = field(default_factory=list)
    created: list[Path] = field(default_factory=list)  # new files inside the output dir

    @property
    def ok(self) -> bool:
        return not self.problems


def complete(path: Path) -> str | None:
    """Why the file at a final output name is not a whole file, or None."""
    if path.stat().st_size == 0:
        return "is empty"
    suffix = path.suffix.lower()
    try:
        if suffix in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"):
            with Image.open(path) as image:
                image.load()
        elif suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:
        return f"does not read back ({type(exc).__name__}: {exc})"
    return None


def damage(before: Snapshot, after: Snapshot, out_dir: Path | None) -> Damage:
    """Compare two snapshots: nothing pre-existing changed or vanished, nothing new outside
    ``out_dir`` (None: nothing new anywhere), nothing truncated under a final name."""
    found = Damage()
    for path, print_ in before.items():
        if path not in after:
            found.problems.append(f"{path} was removed")
        elif after[path] != print_:
            why = None if path.is_symlink() else complete(path)
            found.problems.append(f"{path} was overwritten" + (f" and {why}" if why else ""))
    out = out_dir.resolve() if out_dir is not None else None
    for path in sorted(set(after) - set(before)):
        if out is None or path.parent.resolve() != out:
            found.problems.append(f"{path} was written outside the output directory")
            continue
        if path.is_symlink():
            found.problems.append(f"{path} is a symlink the run made")
            continue
        found.created.append(path)
        if path.name.startswith(PARTIAL_PREFIX):
            continue
        why = complete(path)
        if why is not None:
            found.problems.append(f"{path.name} {why}")
    return found
