"""The tree of a parsed JSON text: :class:`Node` (a value with its offsets) and
:class:`Member` (``"key": value`` inside an object). The forgiving parser
(:mod:`.tolerant`) builds it; the editor features walk it. Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Member:
    """``"key": value`` inside an object. ``value`` is None when it is missing."""

    key: str
    key_start: int
    key_end: int
    value: Node | None
    colon: int = -1


@dataclass(slots=True)
class Node:
    """A JSON value with its offsets ``[start, end)``. ``kind`` is one of object, array,
    string, number, boolean, null. Containers keep their children; scalars their value."""

    kind: str
    start: int
    end: int
    value: Any = None
    members: list[Member] = field(default_factory=list)
    items: list[Node] = field(default_factory=list)
    closed: bool = True

    def to_python(self) -> Any:
        if self.kind == "object":
            return {m.key: m.value.to_python() for m in self.members if m.value is not None}
        if self.kind == "array":
            return [item.to_python() for item in self.items]
        return self.value

    def member(self, key: str) -> Member | None:
        """The last member named ``key`` (the one a JSON reader keeps)."""
        for m in reversed(self.members):
            if m.key == key:
                return m
        return None
