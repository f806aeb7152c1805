"""The VS Code extension's manifest agrees with the server's names and settings.

Reads ``editor/vscode/package.json`` and ``editor/vscode/src/serverCommands.json`` (the only place
the extension names server commands) and checks them against :mod:`dw_lsp.server.names` and
:mod:`dw_lsp.settings`, so neither half can drift. Needs no Node toolchain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dw_lsp import settings
from dw_lsp.server import names

EXTENSION = Path(__file__).resolve().parents[1] / "editor" / "vscode"

#: Settings only the extension reads; it strips them before sending the section to the server.
EXTENSION_ONLY = {"dwLsp.interpreter", "dwLsp.openOutputAfterRun"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXTENSION / "package.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def server_commands() -> dict[str, str]:
    path = EXTENSION / "src" / "serverCommands.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _properties(manifest: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = manifest["contributes"]["configuration"]["properties"]
    return properties


def test_the_extension_calls_exactly_the_server_commands(server_commands: dict[str, str]) -> None:
    assert set(server_commands.values()) == set(names.COMMANDS)


def test_each_server_command_is_called_from_a_contributed_command(
    manifest: dict[str, Any], server_commands: dict[str, str]
) -> None:
    contributed = {command["command"] for command in manifest["contributes"]["commands"]}
    assert set(server_commands) <= contributed
    assert all(command.startswith("dwLsp.") for command in contributed)


def test_configuration_mirrors_the_server_settings(manifest: dict[str, Any]) -> None:
    properties = set(_properties(manifest))
    assert properties >= EXTENSION_ONLY
    server = {f"{settings.SECTION}.{key}" for key in settings.KEYS}
    assert properties - EXTENSION_ONLY == server


@pytest.mark.parametrize("key", list(settings.KEYS))
def test_configuration_defaults_match_the_server(manifest: dict[str, Any], key: str) -> None:
    prop = _properties(manifest)[f"{settings.SECTION}.{key}"]
    assert prop.get("description") or prop.get("markdownDescription")
    default = getattr(settings.Settings(), settings.KEYS[key])
    if key == "worker.command":
        # The server's default is its own interpreter, which the extension cannot know: null
        # lets the server choose, and parse_settings skips null values.
        assert prop["default"] is None
        assert settings.parse_settings({key: prop["default"]})[1] == []
        return
    assert prop["default"] == default
    assert settings.parse_settings({key: prop["default"]})[1] == []


def test_run_commands_need_a_trusted_workspace(manifest: dict[str, Any]) -> None:
    assert manifest["capabilities"]["untrustedWorkspaces"]["supported"] == "limited"
    commands = {command["command"]: command for command in manifest["contributes"]["commands"]}
    for command in ("dwLsp.run", "dwLsp.runWithArguments", "dwLsp.runSweep"):
        assert commands[command]["enablement"] == "isWorkspaceTrusted"


def test_status_answer_has_the_fields_the_extension_reads():
    """editor/vscode/src/results.ts parseStatus reads state, workflow, runs (per workflow)
    and arguments from dw.status; its unit test uses this same shape."""
    from dw_lsp.session.report import SessionStatus, status_json

    status = SessionStatus(
        workflow="/ws/workflows/a.json",
        name="a",
        arguments={"prompt": "a cat"},
        worker_state="ready",
        worker_pid=42,
        running=False,
        run_id=None,
        runs={"/ws/workflows/a.json": 2},
        last_exit=None,
        output_dir="/ws/outputs",
        workflow_dir="/ws/workflows",
    )
    answer = status_json(status)
    assert answer["state"] == "ready"
    assert answer["runs"][answer["workflow"]] == 2
    assert answer["arguments"] == {"prompt": "a cat"}


def test_user_only_settings_are_the_machine_scoped_ones(manifest: dict[str, Any]) -> None:
    """The extension reads a setting from user scope only exactly when the server refuses it
    from a workspace: one list (the server's USER_ONLY_KEYS), two enforcements."""
    scoped = {
        key.removeprefix(f"{settings.SECTION}.")
        for key, prop in _properties(manifest).items()
        if prop.get("scope") in ("machine", "application")
    }
    assert scoped - {"interpreter"} == set(settings.USER_ONLY_KEYS)
    assert "interpreter" in scoped
    restricted = manifest["capabilities"]["untrustedWorkspaces"]["restrictedConfigurations"]
    assert set(restricted) == {f"{settings.SECTION}.{key}" for key in scoped}
