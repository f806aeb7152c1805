"""Settings as the server receives them: ``initializationOptions`` first, then the
``dwLsp`` section of ``workspace/configuration`` (pulled after ``initialized`` and on
``workspace/didChangeConfiguration``) on top.

The initialization options are the user's (the editor reads them from user settings; a
client without such a distinction is the user); the configuration section is the
workspace's, so the user-only settings (:data:`~dw_lsp.settings.USER_ONLY_KEYS`: what runs,
what relaxes a security rule) are never taken from it. Two initialization options are no
settings but facts about the connection: ``trusted`` (the workspace trust the editor grants,
true when absent) and ``token`` (the TCP token, checked by :mod:`dw_lsp.server.transport`).

Each change is recomputed from the defaults, so a key the user removes goes back to its
default. Invalid values keep the default and produce messages (shown to the user once as
a warning). Pure: plain mappings in, :class:`~dw_lsp.settings.Settings` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dw_lsp.settings import SECTION, Settings, parse_settings

#: Top-level initialization options that describe the connection, not settings.
TRUSTED = "trusted"
TOKEN = "token"  # noqa: S105 (the option's name, not a secret)
CONNECTION_OPTIONS = (TRUSTED, TOKEN)


def initialization_section(options: Any) -> Any:
    """The settings inside ``initializationOptions``: either the options themselves or,
    when a client nests them, their ``dwLsp`` member (without the connection options)."""
    if isinstance(options, Mapping) and isinstance(options.get(SECTION), Mapping):
        return options[SECTION]
    if isinstance(options, Mapping):
        return {k: v for k, v in options.items() if k not in CONNECTION_OPTIONS}
    return options


def trust_of(options: Any) -> tuple[bool, str | None]:
    """Whether the client trusts the workspace, and a message for a value that is no
    boolean. Only ``true``, or no ``trusted`` option at all, is trust: anything else a
    client sends is read as distrust, the safe side."""
    if not isinstance(options, Mapping) or TRUSTED not in options:
        return True, None
    value = options[TRUSTED]
    if isinstance(value, bool):
        return value, None
    return False, (
        f"initializationOptions.{TRUSTED}: expected true or false, got {value!r}; "
        "treating the workspace as untrusted"
    )


def pushed_section(settings: Any) -> Any | None:
    """The ``dwLsp`` section of ``didChangeConfiguration``'s settings, when pushed."""
    if isinstance(settings, Mapping) and SECTION in settings:
        return settings[SECTION]
    return None


def combine(init_options: Any, section: Any) -> tuple[Settings, list[str]]:
    """Defaults <- initialization options (user) <- configuration section (workspace)."""
    settings, messages = parse_settings(initialization_section(init_options))
    if section is not None:
        settings, more = parse_settings(section, settings, scope="workspace")
        messages.extend(m for m in more if m not in messages)
    return settings, messages
