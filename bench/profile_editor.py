"""Where our server spends its time under the editor bench's load (py-spy).

Starts our server alone (:func:`bench_editor.start_servers`), opens the 1.1 MB workflow
of ``bench_editor`` and runs, each under ``py-spy record --format raw`` attached to the
server: edit+pull cycles, completion and hover right after edits, and completion and hover
on the unchanged document. The collapsed stacks go to DIR (one file per load) and
:func:`pyspy_summary.summarise` prints where the time goes. Sampling slows the server:
the milliseconds printed here are no benchmark (``bench_editor.py`` is).

Run: ``.venv/bin/python bench/profile_editor.py DIR [--quick]`` (needs ``pip install
py-spy``; ``bench/pyspy_summary.py FILE`` summarises a saved profile again).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_editor import BIG, REPO, prepare, request, start_servers, workloads
from pyspy_summary import summarise


async def profile(out_dir: Path, quick: bool) -> None:
    """Our server alone under py-spy on the 1.1 MB document: edit+pull cycles, completion
    and hover right after edits, and the same on the unchanged document; the collapsed
    stacks go to ``out_dir``."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    cycles = 10 if quick else 60
    work = workloads()[2]
    with tempfile.TemporaryDirectory(prefix="dw-bench-editor-") as tmp:
        work_dir = prepare(Path(tmp))
        path = work_dir / "workflows" / work.name
        path.write_text(work.text, encoding="utf-8")
        (ed,) = await start_servers(work_dir, ours_only=True)
        try:
            await ed.open(path.as_uri(), work)
            probe = work.probes["argument key"]
            loads = {
                "edit-pull": [request("textDocument/diagnostic", True)],
                "edit-completion-hover": [
                    request("textDocument/completion", True, probe),
                    request("textDocument/hover", True, probe),
                ],
                "unchanged-completion-hover": [
                    request("textDocument/completion", False, probe),
                    request("textDocument/hover", False, probe),
                ],
            }
            for name, measures in loads.items():
                for measure in measures:  # warm up
                    await measure(ed)
                target = out_dir / f"{name}.txt"
                spy = subprocess.Popen(
                    [py_spy, "record", "--pid", str(ed.client.pid), "--format", "raw"]
                    + ["--rate", "200", "-o", str(target)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                await asyncio.sleep(1.0)  # let py-spy attach
                times = []
                for _ in range(cycles):
                    for measure in measures:
                        times.append(await measure(ed))
                spy.send_signal(signal.SIGINT)
                _, err = spy.communicate(timeout=60)
                if not target.is_file():
                    sys.exit(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
                print(
                    f"\n== {name}: {cycles} cycles on {BIG}, median {statistics.median(times):.0f}"
                    f" ms per request (slowed by sampling); stacks in {target}"
                )
                print(summarise(target.read_text(encoding="utf-8"), REPO))
        finally:
            await ed.client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, metavar="DIR", help="where the stacks go")
    parser.add_argument("--quick", action="store_true", help="10 cycles instead of 60")
    options = parser.parse_args()
    asyncio.run(profile(options.out_dir, options.quick))


if __name__ == "__main__":
    main()
