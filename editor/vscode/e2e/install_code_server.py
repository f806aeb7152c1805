"""Installs code-server (VS Code 1.100.3 served to a browser) from the npm registry into a
cache folder, once; later calls find it there and return at once.

npm 11 runs a dependency's install script only when the project's ``allowScripts`` names
it, so the install is done by hand, as code-server's own ``postinstall.sh`` would do it:

1. ``npm install code-server@4.100.3`` in a small project that allows argon2's build and
   keeps code-server's postinstall off;
2. in ``lib/vscode``: allow the native modules' builds (node-gyp, against the headers of
   the Node.js that runs npm), deny ``@vscode/ripgrep``'s download of its own binary and
   link Debian's ``rg`` in its place; ``npm install --omit=dev`` there and in
   ``extensions/``;
3. make the links the postinstall makes (``node_modules.asar``,
   ``bin/remote-cli/code-server``, ``bin/helpers/browser.sh``).

The work is done in a scratch folder that is renamed into place at the end, so an
interrupted install is never taken for a finished one; a recipe change (version, module
list) installs again. Needs Node.js 20, npm, a C++ toolchain, ``rg`` (Debian:
``ripgrep``) and the Kerberos headers (Debian: ``libkrb5-dev``).

Run alone: ``python editor/vscode/e2e/install_code_server.py [CACHE_DIR]``.
Imports only the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERSION = "4.100.3"
REPO = Path(__file__).resolve().parents[3]
DEFAULT_CACHE = REPO / ".dw-cache"

#: lib/vscode's dependencies whose install scripts build native code it needs on Linux.
NATIVE_MODULES = (
    "@parcel/watcher",
    "@vscode/deviceid",
    "@vscode/spdlog",
    "kerberos",
    "native-watchdog",
    "node-pty",
)
#: Install scripts that must not run: a binary download (replaced by Debian's rg) and
#: Windows-only builds.
DENIED_SCRIPTS = ("@vscode/ripgrep", "@vscode/windows-process-tree", "@vscode/windows-registry")

RECIPE = {
    "code-server": VERSION,
    "native": list(NATIVE_MODULES),
    "denied": list(DENIED_SCRIPTS),
    "recipe": 1,
}
STAMP = ".dw-installed.json"


class SetupError(RuntimeError):
    """Something the install needs is missing; the message says what to install."""


def install_dir(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / f"code-server-{VERSION}"


def entry_point(root: Path) -> Path:
    """code-server's server script inside an install folder."""
    return root / "node_modules" / "code-server" / "out" / "node" / "entry.js"


def is_installed(root: Path) -> bool:
    try:
        stamp = json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp == RECIPE and entry_point(root).is_file()


def check_requirements() -> None:
    """Fail with the package to install when a tool the install needs is missing."""
    missing = []
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        missing.append("Node.js 20 and npm (Debian: nodejs npm)")
    else:
        major = subprocess.run(
            [node, "-p", "process.versions.node.split('.')[0]"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if major != "20":
            missing.append(f"Node.js 20 (found {major or 'an unreadable version'})")
    if shutil.which("rg") is None:
        missing.append("ripgrep (Debian: apt-get install ripgrep)")
    if shutil.which("krb5-config") is None and not Path("/usr/include/krb5.h").exists():
        missing.append("the Kerberos headers (Debian: apt-get install libkrb5-dev)")
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (Debian: apt-get install build-essential)")
    if missing:
        raise SetupError("code-server cannot be installed; missing: " + "; ".join(missing))


def _npm(args: list[str], cwd: Path) -> None:
    env = {
        **os.environ,
        # node-pty's install script runs `npx node-gyp`, which would ask before fetching it.
        "npm_config_yes": "true",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    started = time.monotonic()
    result = subprocess.run(
        ["npm", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    print(f"  npm {' '.join(args)} in {cwd.name}: {time.monotonic() - started:.0f} s", flush=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise SetupError(f"npm {' '.join(args)} failed in {cwd}:\n{tail}")


def _edit_package(path: Path, **fields: object) -> None:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(fields)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _link(target: str, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def _build(work: Path) -> None:
    work.mkdir(parents=True)
    (work / "package.json").write_text(
        json.dumps(
            {
                "name": "dw-lsp-e2e-code-server",
                "version": "0.0.0",
                "private": True,
                "allowScripts": {"argon2": True, "code-server": False},
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    _npm(["install", f"code-server@{VERSION}"], work)
    vscode = work / "node_modules" / "code-server" / "lib" / "vscode"
    allow: dict[str, bool] = dict.fromkeys(NATIVE_MODULES, True)
    allow.update(dict.fromkeys(DENIED_SCRIPTS, False))
    _edit_package(vscode / "package.json", allowScripts=allow)
    _npm(["install", "--omit=dev"], vscode)
    rg = shutil.which("rg")
    assert rg is not None  # checked by check_requirements
    ripgrep_bin = vscode / "node_modules" / "@vscode" / "ripgrep" / "bin"
    ripgrep_bin.mkdir(parents=True, exist_ok=True)
    _link(rg, ripgrep_bin / "rg")
    _npm(["install", "--omit=dev"], vscode / "extensions")
    _link("node_modules", vscode / "node_modules.asar")
    _link("code-linux.sh", vscode / "bin" / "remote-cli" / "code-server")
    _link("browser-linux.sh", vscode / "bin" / "helpers" / "browser.sh")
    (work / STAMP).write_text(json.dumps(RECIPE) + "\n", encoding="utf-8")


def ensure_installed(cache: Path = DEFAULT_CACHE) -> Path:
    """The install folder, installing code-server there first if needed."""
    root = install_dir(cache)
    if is_installed(root):
        return root
    check_requirements()
    cache.mkdir(parents=True, exist_ok=True)
    work = cache / f".code-server-{VERSION}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    print(f"Installing code-server {VERSION} into {root} (once; later runs reuse it)", flush=True)
    try:
        _build(work)
        shutil.rmtree(root, ignore_errors=True)
        work.rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"code-server installed in {time.monotonic() - started:.0f} s", flush=True)
    return root


def main(argv: list[str]) -> int:
    cache = Path(argv[1]).resolve() if len(argv) > 1 else DEFAULT_CACHE
    try:
        root = ensure_installed(cache)
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(entry_point(root))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
