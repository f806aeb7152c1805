"""The extension in a real VS Code (code-server) in Restricted Mode, then after the user
grants trust.

The workspace is hostile: its ``.vscode/settings.json`` names an interpreter and a worker
command that each leave a mark in code-server's home folder when executed. The user's
keybindings bind the extension's Run and Memory commands and the server's own ``dw.run``
(which vscode-languageclient registers as a VS Code command). In Restricted Mode checking
works, but no lens, palette entry or keybinding runs anything and no worker starts. Once
trust is granted the server restarts and runs, still with the user's interpreter and the
default worker: execution settings never come from the workspace.

One code-server serves the module; the tests run in file order.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from harness import PYTHON, CodeServer, Launch
from install_code_server import REPO
from workbench import Workbench

TINY = (REPO / "workflows" / "tiny-sd.json").read_text(encoding="utf-8")
BAD = TINY.replace('"variable:prompt"', '"variable:undefined"')
EVIL_INTERPRETER = f"""#!/bin/sh
touch "$HOME/pwned-interpreter"
exec "{PYTHON}" "$@"
"""
WORKSPACE_SETTINGS = {
    "dwLsp.interpreter": "${workspaceFolder}/evil-python",
    "dwLsp.worker.command": ["/bin/sh", "-c", 'touch "$HOME/pwned-worker"'],
    "dwLsp.worker.allowedModules": ["os", "subprocess"],
}
FILES = {
    "workflows/tiny-sd.json": TINY,
    "workflows/bad.json": BAD,
    "evil-python": EVIL_INTERPRETER,
    ".vscode/settings.json": json.dumps(WORKSPACE_SETTINGS, indent=2),
}
QUIET_S = 3.0


def _configure(server: CodeServer) -> None:
    uri = (server.workspace / "workflows" / "tiny-sd.json").as_uri()
    server.keybindings = [
        {"key": "ctrl+alt+r", "command": "dwLsp.run"},
        {"key": "ctrl+alt+m", "command": "dwLsp.showMemory"},
        {"key": "ctrl+alt+s", "command": "dwLsp.runSweep"},
        {"key": "ctrl+alt+u", "command": "dw.run", "args": {"uri": uri}},
    ]


@pytest.fixture(scope="module")
def session(launch: Launch) -> tuple[CodeServer, Workbench]:
    server, bench = launch(
        FILES,
        trust=False,
        configure=_configure,
        machine_settings={"dwLsp.interpreter": str(PYTHON)},
    )
    (server.workspace / "evil-python").chmod(0o755)
    return server, bench


@pytest.fixture
def server(session: tuple[CodeServer, Workbench]) -> CodeServer:
    return session[0]


@pytest.fixture
def bench(session: tuple[CodeServer, Workbench]) -> Workbench:
    session[1].reset()
    return session[1]


def _nothing_ran(server: CodeServer, within_s: float = QUIET_S) -> None:
    """For ``within_s`` seconds: no worker below code-server, no output, no mark."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert not server.worker_processes(), "a worker started in Restricted Mode"
        assert not (server.workspace / "outputs").exists(), "a run wrote outputs"
        time.sleep(0.2)
    assert not list(server.home.glob("pwned-*")), "the workspace's programs were executed"


def _wait(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_restricted_mode_checks_but_starts_no_worker(server: CodeServer, bench: Workbench) -> None:
    """Issue 12, defect 1: the worker pre-warmed (started, imported torch) in Restricted
    Mode as soon as a workflow was opened."""
    bench.open_file("bad.json")
    bench.page.locator(".editor-group-container.active .squiggly-error").first.wait_for(
        timeout=60_000
    )
    bench.open_file("tiny-sd.json")
    bench.lens("▶ Run").wait_for(timeout=30_000)
    servers = server.server_processes()
    assert servers, "the language server is not running"
    assert all(Path(p.cmdline()[0]) == PYTHON for p in servers), [p.cmdline() for p in servers]
    _nothing_ran(server)


def test_run_lens_does_not_run(server: CodeServer, bench: Workbench) -> None:
    """Issue 12, defect 1: clicking ▶ Run in Restricted Mode ran the workflow."""
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("▶ Run").click()
    bench.wait_toast(r"only in a trusted workspace", since=since, timeout_s=15)
    _nothing_ran(server)


def test_palette_offers_no_run(server: CodeServer, bench: Workbench) -> None:
    bench.open_file("tiny-sd.json")
    titles = bench.palette_titles("dw-lsp:")
    assert "dw-lsp: Show Status" in titles, titles
    assert "dw-lsp: Run Workflow" not in titles, titles
    assert "dw-lsp: Run Workflow with Arguments..." not in titles, titles
    assert "dw-lsp: Run Sweep..." not in titles, titles
    _nothing_ran(server, 0)


def test_keybindings_do_not_run(server: CodeServer, bench: Workbench) -> None:
    """Keybindings reach commands the palette hides: the extension's Run, Run Sweep and
    Memory, and the server's own dw.run that vscode-languageclient registers."""
    bench.open_file("tiny-sd.json")
    bench.focus_editor()
    for key in ("Control+Alt+R", "Control+Alt+S", "Control+Alt+M", "Control+Alt+U"):
        bench.page.keyboard.press(key)
        time.sleep(0.5)
    _nothing_ran(server)


def test_granting_trust_restarts_the_server_with_the_users_settings_only(
    server: CodeServer, bench: Workbench
) -> None:
    """After trust the lens runs, with the user's interpreter and the default worker: the
    workspace's interpreter and worker.command are not execution settings it may set."""
    before = {p.pid for p in server.server_processes()}
    bench.command("Workspaces: Manage Workspace Trust")
    bench.page.locator(".workspace-trust-editor .monaco-button", has_text="Trust").first.click()
    _wait(
        lambda: {p.pid for p in server.server_processes()} - before,
        60,
        "the language server to restart",
    )
    bench.open_file("tiny-sd.json")
    since = len(bench.toasts())
    bench.lens("▶ Run").click()
    progress = bench.wait_toast(r"dw: running tiny-sd\.json", since=since)
    assert "Cancel" in progress.buttons, progress
    bench.wait_toast(r"Run finished", since=since, timeout_s=120)
    assert not list(server.home.glob("pwned-*")), "the workspace's programs were executed"
    workers = server.worker_processes()
    assert workers and all(Path(p.cmdline()[0]) == PYTHON for p in workers), workers
