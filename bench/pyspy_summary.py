"""Where the time goes, from py-spy's collapsed stacks (``py-spy record --format raw``).

Each line of the input is ``frame;frame;...;frame COUNT`` with frames written
``function (path:line)``, outermost first. :func:`summarise` keeps the samples of the
event-loop thread (stacks through asyncio's ``_run_once``: py-spy leaves out its idle
``select`` but not an executor thread waiting for work) and prints the functions with the
largest share of them, inclusive (anywhere on the stack; the trunk that every sample
shares is left out) and self (the innermost frame), keyed by function and file.

Run on a saved profile: ``.venv/bin/python bench/pyspy_summary.py PROFILE.txt``
Imports nothing from dw_lsp.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")


def short_path(path: str, repo: Path) -> str:
    """``dw_lsp/validation/check.py`` for the repository, ``pygls/...`` for libraries."""
    try:
        return str(Path(path).resolve().relative_to(repo))
    except (ValueError, OSError):
        pass
    for marker in ("site-packages/", "dist-packages/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return Path(path).name


def frame_key(frame: str, repo: Path) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({short_path(match['path'], repo)})"


#: A frame on every stack of the event-loop thread.
EVENT_LOOP = "BaseEventLoop._run_once (asyncio/base_events.py)"


def parse(
    collapsed: str, repo: Path, focus: str = EVENT_LOOP
) -> tuple[Counter[str], Counter[str], int]:
    """(inclusive samples, self samples, total samples) per function, over the stacks
    that pass through ``focus``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(f, repo) for f in stack.split(";") if f]
        if not frames or focus not in frames:
            continue
        total += count
        own[frames[-1]] += count
        for key in set(frames):
            inclusive[key] += count
    return inclusive, own, total


def summarise(collapsed: str, repo: Path, top: int = 20) -> str:
    inclusive, own, total = parse(collapsed, repo)
    if not total:
        return "no samples of the event-loop thread"
    lines = [f"{total} samples of the event-loop thread while busy"]
    branches = Counter({k: n for k, n in inclusive.items() if n < 0.97 * total})
    for title, counter in (("inclusive", branches), ("self", own)):
        lines.append(f"  top {top} by {title} share:")
        for key, count in counter.most_common(top):
            lines.append(f"    {100 * count / total:5.1f} %  {key}")
    return "\n".join(lines)


if __name__ == "__main__":
    text = Path(sys.argv[1]).read_text(encoding="utf-8")
    print(summarise(text, Path(__file__).resolve().parent.parent))
