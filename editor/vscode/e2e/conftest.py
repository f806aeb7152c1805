"""Fixtures of the real-VS-Code suite: code-server installed once into the project's cache
(``.dw-cache/``), the extension packaged afresh from ``editor/vscode`` for each session,
Debian's Chromium driven by Playwright (never ``playwright install``), and, on a failed
test, a screenshot and every code-server log (the extension host's and the dw-lsp output
channel among them) kept under ``editor/vscode/e2e/.artifacts/<test>/``.

Each test module starts its own code-server with ``launch`` (a fresh home, profile,
extensions folder and workspace) and keeps it for its tests, which run in file order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CodeServer, Launch
from install_code_server import REPO, SetupError, ensure_installed
from playwright.sync_api import Browser, sync_playwright
from workbench import Workbench

EXTENSION = REPO / "editor" / "vscode"
ARTIFACTS = Path(__file__).resolve().parent / ".artifacts"
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def _chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium is not installed (Debian: apt-get install chromium)", pytrace=False)


_INSTALLED = pytest.StashKey[Path | SetupError]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Install code-server before the first test: a cold install takes minutes, longer than
    a test may take (pytest-timeout); later sessions find it in the cache at once. Clears
    the previous session's failure artifacts."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    try:
        session.config.stash[_INSTALLED] = ensure_installed()
    except SetupError as exc:
        session.config.stash[_INSTALLED] = exc


@pytest.fixture(scope="session")
def code_server_root(request: pytest.FixtureRequest) -> Path:
    installed = request.config.stash.get(_INSTALLED, None) or ensure_installed()
    if isinstance(installed, SetupError):
        pytest.fail(str(installed), pytrace=False)
    return installed


@pytest.fixture(scope="session")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension as it is in the working tree, bundled and packaged now."""
    if not (EXTENSION / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, check=True)
    target = tmp_path_factory.mktemp("vsix") / "dw-lsp.vsix"
    subprocess.run(["npm", "run", "build"], cwd=EXTENSION, check=True, capture_output=True)
    subprocess.run(
        [
            "npx",
            "vsce",
            "package",
            "--no-dependencies",
            "--allow-missing-repository",
            "-o",
            str(target),
        ],
        cwd=EXTENSION,
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    home = tmp_path_factory.mktemp("browser-home")
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True, env=env)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def launch(
    code_server_root: Path,
    vsix: Path,
    browser: Browser,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Launch]:
    """``launch(files, trust=..., configure=..., machine_settings=..., ...)``: a
    code-server on a fresh workspace holding ``files`` (relative path -> text), and a page
    on it; ``configure(server)`` may adjust the settings once the folders are known."""
    started: list[tuple[CodeServer, Any]] = []

    def start(
        files: dict[str, str],
        *,
        trust: bool,
        configure: Callable[[CodeServer], None] | None = None,
        **settings: Any,
    ) -> tuple[CodeServer, Workbench]:
        server = CodeServer(code_server_root, tmp_path_factory.mktemp("code-server"), **settings)
        if configure is not None:
            configure(server)
        for relative, text in files.items():
            path = server.workspace / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        server.start(vsix)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        started.append((server, context))
        bench = Workbench(context.new_page())
        bench.open_folder(server.folder_url(), trust=trust)
        return server, bench

    yield start
    for server, context in started:
        context.close()
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown" or not report.failed:
        return
    funcargs = dict(getattr(item, "funcargs", {}))
    session = funcargs.get("session")
    if isinstance(session, tuple) and len(session) == 2:  # a module's (server, bench)
        funcargs.setdefault("server", session[0])
        funcargs.setdefault("bench", session[1])
    folder = ARTIFACTS / item.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    bench = funcargs.get("bench")
    if isinstance(bench, Workbench):
        try:
            bench.page.screenshot(path=str(folder / "screenshot.png"))
        except Exception as exc:  # the page may be gone; keep the logs anyway
            (folder / "screenshot-failed.txt").write_text(str(exc))
    server = funcargs.get("server")
    if isinstance(server, CodeServer):
        for log in server.logs():
            target = folder / "logs" / log.relative_to(server.user_data / "logs")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, target)
        if server.log_path.exists():
            shutil.copy(server.log_path, folder / "code-server.log")
    report.sections.append(("dw-lsp e2e artifacts", str(folder)))
