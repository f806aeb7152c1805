"""Fixtures of the language-server tests: a temporary workspace folder, and the server
started over stdio and initialized as VS Code or Neovim would (``prewarmed``: VS Code with
``worker.prewarm`` on, the real worker behind it) (:mod:`dwtest_lsp` says how,
and holds the helpers the tests import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from dwtest_lsp import CONFIG, start
from pytest_lsp import LanguageClient


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest_lsp.fixture(config=CONFIG)
async def vscode(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    await start(lsp_client, "visual-studio-code", workspace)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def neovim(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    await start(lsp_client, "neovim@v0.11.0", workspace)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def prewarmed(lsp_client: LanguageClient, workspace: Path) -> AsyncIterator[None]:
    """VS Code, with the real worker started as soon as a workflow opens (its default)."""
    options = {"worker": {"prewarm": True}, "outputDir": str(workspace / "out")}
    await start(lsp_client, "visual-studio-code", workspace, options=options)
    yield
    await lsp_client.shutdown_session()
