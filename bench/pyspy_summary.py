"""Where the time goes, from py-spy's collapsed stacks (``py-spy record --format raw``).

Each line of the input is ``frame;frame;...;frame COUNT`` with frames written
``function (path:line)``, outermost first. :func:`summarise` keeps the samples of the
event-loop thread (stacks through asyncio's ``_run_once``: py-spy leaves out its idle
``select`` but not an executor thread waiting for work) and prints the functions with the
largest share of them: our files and functions inclusive (anywhere on the stack; the
trunk that nearly every sample shares is left out), and any function self (the innermost
frame), keyed by function and file without line numbers.

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
    """``dw_lsp/validation/check.py`` for the repository, ``pygls/...`` for libraries
    (py-spy already writes most paths relative to their ``sys.path`` entry)."""
    if not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).relative_to(repo))
    except ValueError:
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
) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    """(inclusive samples per function, self samples per function, inclusive samples per
    file, total samples), over the stacks that pass through ``focus``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    files: Counter[str] = Counter()
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
        for name in {key.rpartition(" (")[2].rstrip(")") for key in frames}:
            files[name] += count
    return inclusive, own, files, total


def summarise(collapsed: str, repo: Path, top: int = 20, package: str = "dw_lsp/") -> str:
    """Our functions and files by inclusive share (without the trunk, on 95 % of the
    samples or more), and every function by self share."""
    inclusive, own, files, total = parse(collapsed, repo)
    if not total:
        return "no samples of the event-loop thread"

    def ours(counter: Counter[str]) -> Counter[str]:
        return Counter({k: n for k, n in counter.items() if package in k and n < 0.95 * total})

    lines = [f"{total} samples of the event-loop thread while busy"]
    for title, counter, limit in (
        (f"{package} files, inclusive", ours(files), top // 2),
        (f"{package} functions, inclusive", ours(inclusive), top),
        ("functions, self", own, top),
    ):
        lines.append(f"  top {limit} {title}:")
        for key, count in counter.most_common(limit):
            lines.append(f"    {100 * count / total:5.1f} %  {key}")
    return "\n".join(lines)


if __name__ == "__main__":
    text = Path(sys.argv[1]).read_text(encoding="utf-8")
    print(summarise(text, Path(__file__).resolve().parent.parent))
