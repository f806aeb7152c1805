"""One code-server process for the end-to-end suite: a fresh home, profile, extensions
folder and workspace under a temporary folder, the freshly built .vsix installed, bound
to 127.0.0.1 on a port the OS chooses.

HOME and the XDG folders point into the temporary folder and code-server gets its own
``--config``, so nothing is written to the real home folder. The process runs in its own
session so that stopping it ends the language server and the worker it started too.

Also finds what the tests check beside the UI: the worker processes below code-server
(``python -m dw_lsp.worker``) and the dw-lsp output channel's log file.
Imports the standard library and psutil (installed with dw-lsp's worker extra).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from install_code_server import entry_point

#: The interpreter the extension starts the server with: the one running the suite (the
#: project's virtual environment, where dw-lsp is installed).
PYTHON = Path(sys.executable)

if TYPE_CHECKING:
    from workbench import Workbench

_LISTENING = re.compile(r"HTTP server listening on (http://127\.0\.0\.1:\d+/)")
START_TIMEOUT_S = 60.0

#: User settings that keep the workbench quiet and the same from run to run.
QUIET_USER_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "window.restoreWindows": "none",
    "files.autoSave": "off",
    "editor.minimap.enabled": False,
    "editor.hover.delay": 300,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "json.schemaDownload.enable": False,
    "git.enabled": False,
    "chat.disableAIFeatures": True,
}


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


class CodeServer:
    """A code-server process with its own folders; ``start`` then ``stop``."""

    def __init__(
        self,
        install_root: Path,
        base: Path,
        *,
        machine_settings: Mapping[str, Any] | None = None,
        user_settings: Mapping[str, Any] | None = None,
        keybindings: list[dict[str, Any]] | None = None,
    ) -> None:
        self.entry = entry_point(install_root)
        self.base = base
        self.home = base / "home"
        self.user_data = base / "user-data"
        self.extensions = base / "extensions"
        self.workspace = base / "workspace"
        self.config = base / "code-server.yaml"
        self.log_path = base / "code-server.log"
        self.machine_settings = dict(machine_settings or {})
        self.user_settings = {**QUIET_USER_SETTINGS, **(user_settings or {})}
        self.keybindings = list(keybindings or [])
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        for folder in (self.home, self.user_data, self.extensions, self.workspace):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """The environment for code-server and the browser: a home folder of their own."""
        return {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            # The worker's torch would spin one thread per core; on a small, busy machine (CI's
            # two cores) that made the tiny pipeline's 8 steps take 16-24 s instead of ~1 s.
            "OMP_NUM_THREADS": "1",
        }

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _code_server(self, *args: str, log: Any = None, session: bool = False) -> Any:
        command = [
            "node",
            str(self.entry),
            "--config",
            str(self.config),
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
            *args,
        ]
        if log is None:
            return subprocess.run(
                command, env=self.env, capture_output=True, text=True, timeout=120, check=False
            )
        return subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=session
        )

    def install_extension(self, vsix: Path) -> None:
        result = self._code_server("--install-extension", str(vsix), "--force")
        if result.returncode != 0 or "successfully installed" not in result.stdout:
            raise RuntimeError(f"installing {vsix.name} failed:\n{result.stdout}{result.stderr}")

    def start(self, vsix: Path) -> str:
        """Install ``vsix``, write the settings, start code-server; returns its URL."""
        self.config.write_text("bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n")
        self.install_extension(vsix)
        _write_json(self.user_data / "User" / "settings.json", self.user_settings)
        _write_json(self.user_data / "Machine" / "settings.json", self.machine_settings)
        _write_json(self.user_data / "User" / "keybindings.json", self.keybindings)
        log = self.log_path.open("ab")
        try:
            self._process = self._code_server(
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-getting-started-override",
                "--ignore-last-opened",
                log=log,
                session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.url = match.group(1)
                return self.url
            if self._process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"code-server did not start:\n{self.log_path.read_text()[-4000:]}")

    def folder_url(self, folder: Path | None = None) -> str:
        return f"{self.url}?folder={folder or self.workspace}"

    def stop(self) -> None:
        """End code-server and everything it started (its own process group)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    # -- what the tests look at beside the UI -----------------------------------------

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def worker_processes(self) -> list[psutil.Process]:
        """Processes below code-server that run the dw-lsp worker."""
        found = []
        for process in self.descendants():
            with contextlib.suppress(psutil.Error):
                if "dw_lsp.worker" in " ".join(process.cmdline()):
                    found.append(process)
        return found

    def server_processes(self) -> list[psutil.Process]:
        """Processes below code-server that run the dw-lsp language server."""
        found = []
        for process in self.descendants():
            with contextlib.suppress(psutil.Error):
                cmdline = process.cmdline()
                if cmdline[-2:] == ["-m", "dw_lsp"]:
                    found.append(process)
        return found

    def logs(self) -> list[Path]:
        """Every log file of this code-server (the extension host's among them)."""
        return sorted(p for p in (self.user_data / "logs").rglob("*.log") if p.is_file())

    def dw_log(self) -> str:
        """The dw-lsp output channel's text (VS Code keeps a log channel in a file)."""
        texts = [
            p.read_text(errors="replace") for p in self.logs() if p.name.endswith("dw-lsp.log")
        ]
        return "\n".join(texts)


#: The ``launch`` fixture: ``launch(files, trust=..., **settings)`` -> (server, page).
Launch = Callable[..., "tuple[CodeServer, Workbench]"]
