"""The extension in a real VS Code (code-server), in a workspace the user trusts.

One code-server serves the module; the tests run in file order and each says what it
needs from the ones before it (the worker is warm after the first run). The workspace
holds the tiny pipeline (``tiny-sd.json``, runs in well under a second once warm), a
copy with 400 steps (``slow.json``, several seconds, to watch and cancel a run), and a
copy to type into (``edit.json``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from harness import PYTHON, CodeServer, Launch
from install_code_server import REPO
from workbench import Workbench

TINY = (REPO / "workflows" / "tiny-sd.json").read_text(encoding="utf-8")


def _variant(workflow_id: str, steps: int) -> str:
    data = json.loads(TINY)
    data["id"] = workflow_id
    data["variables"]["steps"] = steps
    return json.dumps(data, indent=2) + "\n"


FILES = {
    "workflows/tiny-sd.json": TINY,
    "workflows/slow.json": _variant("slow", 400),
    "workflows/edit.json": _variant("edit", 8),
}
EDIT = FILES["workflows/edit.json"]
RUN_TITLE = re.compile(r"dw: running (\S+)")


def position_of(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    """1-based line and column of ``needle`` (plus ``offset`` characters) in ``text``."""
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


@pytest.fixture(scope="module")
def session(launch: Launch) -> tuple[CodeServer, Workbench]:
    return launch(FILES, trust=True, machine_settings={"dwLsp.interpreter": str(PYTHON)})


@pytest.fixture
def server(session: tuple[CodeServer, Workbench]) -> CodeServer:
    return session[0]


@pytest.fixture
def bench(session: tuple[CodeServer, Workbench]) -> Workbench:
    session[1].reset()
    return session[1]


def _outputs(server: CodeServer) -> list[Path]:
    folder = server.workspace / "outputs"
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _assert_run_shown(bench: Workbench, since: int, name: str) -> None:
    """The run had a progress notification with Cancel, its summary, and its image open."""
    progress = bench.wait_toast(rf"dw: running {re.escape(name)}", since=since)
    assert "Cancel" in progress.buttons, progress
    summary = bench.wait_toast(r"Run finished", since=since)
    assert re.search(r"1 output", summary.text), summary
    _wait(
        lambda: any(title.endswith(".png") for title in bench.editor_titles()),
        30,
        f"the image of {name} to open (tabs: {bench.editor_titles()})",
    )


def test_lenses_and_status_bar_appear(bench: Workbench) -> None:
    bench.open_file("tiny-sd.json")
    for title in ("▶ Run", "Smoke run", "Memory", "Clear"):
        bench.lens(title).wait_for(timeout=60_000)
    _wait(lambda: "dw:" in bench.status_text(), 60, "the dw status bar item")


def test_typed_error_gets_a_squiggle_and_a_problem(bench: Workbench) -> None:
    bench.open_file("edit.json")
    line, column = position_of(EDIT, '"variable:prompt"', len('"variable:prompt'))
    bench.go_to(line, column)
    bench.type_text("Typo")
    bench.page.locator(".editor-group-container.active .squiggly-error").first.wait_for(
        timeout=30_000
    )
    _wait(
        lambda: any("promptTypo" in row for row in bench.problems()),
        30,
        "a Problems entry naming the undefined variable",
    )
    bench.command("File: Revert File")


def test_hover_shows_a_variables_default(bench: Workbench) -> None:
    bench.open_file("edit.json")
    assert "a lighthouse on a cliff at dawn" in bench.hover("variable:prompt")


def test_completion_offers_declared_variables(bench: Workbench) -> None:
    bench.open_file("edit.json")
    line, column = position_of(EDIT, '"variable:guidance"', len('"variable:'))
    bench.go_to(line, column)
    labels = bench.suggestions()
    assert any("variable:prompt" in label for label in labels), labels
    assert any("variable:steps" in label for label in labels), labels


def test_run_from_the_lens_shows_progress_image_and_summary(
    server: CodeServer, bench: Workbench
) -> None:
    """Issue 12, defect 2: the lens ran the server command directly, with no
    notification, no Cancel, no image and no summary."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("▶ Run").click()
    _assert_run_shown(bench, since, "tiny-sd.json")
    assert any(p.name.startswith("tiny-sd") for p in _outputs(server))


def test_run_from_the_palette_reuses_the_warm_pipeline(bench: Workbench) -> None:
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Workflow")
    _assert_run_shown(bench, since, "tiny-sd.json")
    assert "models reused" in bench.wait_toast(r"Run finished", since=since).text


def test_status_bar_says_busy_as_soon_as_a_run_starts(bench: Workbench) -> None:
    """Issue 12, defect 4: the status bar said "dw: ready" for the first ~3 s of a run
    (refreshed before dw.run was sent, next poll 3 s later)."""
    bench.open_file("slow.json")
    _wait(lambda: "dw: ready" in bench.status_text(), 30, "a ready worker")
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Workflow")
    bench.wait_toast(r"dw: running slow\.json", since=since, timeout_s=10)
    samples = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        samples.append(bench.status_text())
        time.sleep(0.1)
    bench.command("dw-lsp: Cancel Run")
    bench.wait_toast(r"Run cancelled", since=since)
    assert not any("dw: ready" in s for s in samples[5:]), samples
    assert any("dw: busy" in s for s in samples), samples


def test_cancel_keeps_the_models_for_the_next_run(server: CodeServer, bench: Workbench) -> None:
    bench.open_file("slow.json")
    workers = {p.pid for p in server.worker_processes()}
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Workflow")
    bench.wait_toast(r"denoising step", since=since)
    toast = bench.visible_toast(r"dw: running slow\.json")
    toast.get_by_role("button", name="Cancel").click()
    bench.wait_toast(r"Run cancelled", since=since)
    assert {p.pid for p in server.worker_processes()} == workers
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Workflow with Arguments...")
    box = bench.page.locator(".quick-input-widget input")
    box.wait_for()
    box.fill("steps=2")
    bench.page.keyboard.press("Enter")
    summary = bench.wait_toast(r"Run finished", since=since)
    assert "models reused" in summary.text, summary


def test_memory_lens_shows_the_memory(bench: Workbench) -> None:
    """Issue 12, defect 2: the Memory lens showed nothing."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("Memory").click()
    toast = bench.wait_toast(r"dw-lsp memory:", since=since, timeout_s=30)
    assert "worker RSS" in toast.text or "allocated" in toast.text, toast


def test_clear_lens_reports_and_refreshes_the_status_bar(bench: Workbench) -> None:
    """Issue 12, defect 2: the Clear lens gave no feedback and left the status bar stale."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("Clear").click()
    bench.wait_toast(r"Memory cleared", since=since, timeout_s=30)
    _wait(lambda: "dw: ready" in bench.status_text(), 10, "the status bar to show the worker")


def test_status_message_counts_runs_once(bench: Workbench) -> None:
    """Issue 12, defect 4: the status message said "2 runs" twice."""
    since = len(bench.toasts())
    bench.page.locator("#dw-lsp\\.dw-lsp\\.dwLsp\\.worker").click()
    toast = bench.wait_toast(r"dw-lsp: Worker", since=since, timeout_s=30)
    assert len(re.findall(r"\b\d+ runs?\b", toast.text)) == 1, toast.text


def test_each_server_log_line_reaches_the_output_channel_once(
    server: CodeServer, bench: Workbench
) -> None:
    """Issue 12, defect 3: every server log line appeared twice, once tagged [error]
    (written to stderr and sent as window/logMessage)."""
    before = len(server.dw_log().splitlines())
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Workflow")
    bench.wait_toast(r"Run finished", since=since)
    _wait(
        lambda: "runs of this workflow" in "\n".join(server.dw_log().splitlines()[before:]),
        10,
        "the run's lines in the log",
    )
    lines = server.dw_log().splitlines()[before:]
    started = [line for line in lines if "Running workflow: tiny-sd" in line]
    assert len(started) == 1, lines
    assert not [line for line in lines if "[error]" in line], lines


def test_smoke_run_lens_runs_on_stand_ins_into_their_own_folder(
    server: CodeServer, bench: Workbench
) -> None:
    """The Smoke run lens is the extension's smoke-run command (trust, save, progress,
    result), not a plain run: its result lands in ``outputs/stand-in/``."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("Smoke run").click()
    progress = bench.wait_toast(r"dw: smoke run of tiny-sd\.json", since=since)
    assert "Cancel" in progress.buttons, progress
    summary = bench.wait_toast(r"Run finished", since=since)
    assert re.search(r"1 output", summary.text), summary
    folder = server.workspace / "outputs" / "stand-in"
    assert any(p.name.startswith("tiny-sd") for p in folder.glob("*.png")), sorted(folder.glob("*"))


def test_sweep_from_the_palette_shows_a_gallery_of_its_images(
    server: CodeServer, bench: Workbench
) -> None:
    """Issue 13: *Run Sweep...* asks for the grid, shows one progress with Cancel for the
    whole sweep, and opens a gallery beside the workflow with each run's image."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.command("dw-lsp: Run Sweep...")
    box = bench.page.locator(".quick-input-widget input")
    box.wait_for()
    box.fill("prompt=a red fox,a grey owl")
    bench.page.keyboard.press("Enter")
    progress = bench.wait_toast(r"dw: sweep of tiny-sd\.json", since=since)
    assert "Cancel" in progress.buttons, progress
    summary = bench.wait_toast(r"Sweep finished: 2/2 runs ok", since=since, timeout_s=120)
    assert "Cancel" not in summary.buttons, summary
    _wait(
        lambda: any(title.startswith("Sweep: ") for title in bench.editor_titles()),
        30,
        f"the gallery to open (tabs: {bench.editor_titles()})",
    )
    gallery = bench.webview("Sweep: ")
    images = gallery.locator("figure.run img")
    _wait(lambda: images.count() == 2, 30, "two images in the gallery")
    for index in range(2):  # loaded through the webview: the CSP and resource root allow them
        _wait(
            lambda i=index: images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"),
            30,
            f"image {index + 1} to load",
        )
    captions = [gallery.locator("figure.run figcaption").nth(i).inner_text() for i in range(2)]
    assert "a red fox" in captions[0] and "a grey owl" in captions[1], captions
    written = sorted((server.workspace / "outputs").glob("sweep-*/run-*/*.png"))
    assert [p.parent.name for p in written] == ["run-001", "run-002"], written
    assert len(list((server.workspace / "outputs").glob("sweep-*/sweep.json"))) == 1
