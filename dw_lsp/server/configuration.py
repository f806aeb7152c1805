"""Settings as the server receives them: ``initializationOptions`` first, then the
``dwLsp`` section of ``workspace/configuration`` (pulled after ``initialized`` and on
``workspace/didChangeConfiguration``) on top.

Each change is recomputed from the defaults, so a key the user removes goes back to its
default. Invalid values keep the default and produce messages (shown to the user once as
a warning). Pure: plain mappings in, :class:`~dw_lsp.settings.Settings` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dw_lsp.settings import SECTION, Settings, parse_settings


def initialization_section(options: Any) -> Any:
    """The settings inside ``initializationOptions``: either the options themselves or,
    when a client nests them, their ``dwLsp`` member."""
    if isinstance(options, Mapping) and isinstance(options.get(SECTION), Mapping):
        return options[SECTION]
    return options


def pushed_section(settings: Any) -> Any | None:
    """The ``dwLsp`` section of ``didChangeConfiguration``'s settings, when pushed."""
    if isinstance(settings, Mapping) and SECTION in settings:
        return settings[SECTION]
    return None


def combine(init_options: Any, section: Any) -> tuple[Settings, list[str]]:
    """Defaults <- initialization options <- configuration section."""
    settings, messages = parse_settings(initialization_section(init_options))
    if section is not None:
        settings, more = parse_settings(section, settings)
        messages.extend(m for m in more if m not in messages)
    return settings, messages
