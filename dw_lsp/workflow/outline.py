"""The outline of one workflow: its steps, its variables and every reference, addressed by
document path. The one model of a workflow that the semantic rules
(:mod:`dw_lsp.validation.rules`) and the editor features (through :mod:`.symbols`, which
adds source ranges) both read; :func:`dw_lsp.workflow.walk.outline_of` builds it in one
walk over a workflow's value.

An :class:`Outline` holds the steps (:class:`Step`: name, kind and body), the declared
variables, whole-string references (``variable:``, ``previous_result:``, ``constant:``,
each a :class:`Ref` with the :class:`Region` it sits in), the step names written without a
prefix (``reference_name``, a task's ``pipeline_reference``, ``from_previous_result``),
strings under type keys, media values, object descriptions, ``{"location": "variable:X"}``
and the keys a caller asked to watch. No source range is kept here. Pure: imports no pygls,
lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from dw_lsp.workflow.document import Path

#: The keys that make a step what it is (FORMAT.md 1.3); a step has exactly one.
STEP_KINDS = ("pipeline", "pipeline_reference", "task", "workflow")
DESCRIPTION_FORMS = ("from_file", "from_previous_result", "from_arguments")


class Region(IntEnum):
    """Where a value sits; decides which mini-languages dw resolves there."""

    TOP = 0  # id, description, unknown top-level keys
    VARIABLES = 1
    STEPS = 2  # the steps array itself
    STEP_OBJ = 3  # a step object itself
    STEP = 4  # inside a step, outside the places below
    BODY = 5  # the pipeline / pipeline_reference / task / workflow object itself
    CHAIN = 6  # the chain object itself
    ARGUMENTS = 7  # arguments of any step kind
    CHAIN_PROMPTS = 8
    INPUTS = 9  # task inputs (previous_result is not resolved there)


#: Regions inside a step.
IN_STEP = frozenset(
    {
        Region.STEP_OBJ,
        Region.STEP,
        Region.BODY,
        Region.CHAIN,
        Region.ARGUMENTS,
        Region.CHAIN_PROMPTS,
        Region.INPUTS,
    }
)
#: Regions whose values dw realizes (media, types, object descriptions).
REALIZED = IN_STEP | {Region.VARIABLES}


@dataclass(frozen=True, slots=True)
class Ref:
    """A reference. ``path`` is the string's path; ``body`` the text after the prefix (the
    whole string for a step name written without one); ``step`` the step index (-1
    outside the steps)."""

    path: Path
    body: str
    step: int
    region: Region


@dataclass(frozen=True, slots=True)
class Media:
    """A media location dw loads: ``kind`` is image, video or file (``from_file``)."""

    path: Path
    kind: str
    value: str
    step: int


@dataclass(frozen=True, slots=True)
class Found:
    """A value found at ``path``: a type string, a description object, a key ..."""

    path: Path
    value: Any
    step: int


def step_kind(step: Mapping[str, Any]) -> str | None:
    """The first of :data:`STEP_KINDS` whose value in ``step`` is an object."""
    return next((k for k in STEP_KINDS if isinstance(step.get(k), dict)), None)


def _string_at(node: Any, *keys: str) -> str | None:
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


@dataclass(frozen=True)
class Step:
    """One object of ``steps``: its list index, document path, value, ``name`` (when a
    string), ``kind`` (:func:`step_kind`) and ``body`` (the value under its kind)."""

    index: int
    path: Path
    value: dict[str, Any]
    name: str | None
    kind: str | None
    body: dict[str, Any]

    @property
    def released(self) -> bool:
        return self.value.get("release_pipeline") is True

    @property
    def component_type(self) -> str | None:
        return _string_at(self.body, "configuration", "component_type")

    @property
    def reference_name(self) -> str | None:
        return _string_at(self.body, "reference_name")

    @property
    def command(self) -> str | None:
        return _string_at(self.body, "command")

    @property
    def content_type(self) -> str | None:
        return _string_at(self.value, "result", "content_type")

    @property
    def workflow_path(self) -> str | None:
        return _string_at(self.body, "path")


@dataclass
class Outline:
    """Everything one walk learns about a workflow value (at ``base`` in the document).

    ``variables`` is the ``variables`` object (None when there is none or it is not an
    object); ``name_refs`` are step names written without a prefix (``reference_name``, a
    task's ``pipeline_reference``, ``from_previous_result``); ``watched`` holds the keys
    inside steps that the caller asked :func:`~dw_lsp.workflow.walk.outline_of` to watch."""

    base: Path
    root: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    variables: dict[str, Any] | None = None
    variable_refs: list[Ref] = field(default_factory=list)
    previous_refs: list[Ref] = field(default_factory=list)
    constant_refs: list[Ref] = field(default_factory=list)
    name_refs: list[Ref] = field(default_factory=list)
    type_values: list[Found] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    descriptions: list[Found] = field(default_factory=list)
    location_variables: list[Found] = field(default_factory=list)
    watched: list[Found] = field(default_factory=list)

    @property
    def has_variables_block(self) -> bool:
        return "variables" in self.root

    @cached_property
    def first_index(self) -> dict[str, int]:
        """Step name -> index of the first step with that name."""
        first: dict[str, int] = {}
        for s in self.steps:
            if s.name is not None:
                first.setdefault(s.name, s.index)
        return first

    def earlier(self, index: int) -> Earlier:
        """The names of the steps before ``index``, as a cheap membership view."""
        return Earlier(self.first_index, index)

    def before(self, index: int) -> list[Step]:
        """The steps that run before the step at list index ``index``."""
        return [s for s in self.steps if s.index < index]

    def names_before(self, index: int) -> list[str]:
        return [s.name for s in self.steps if s.index < index and s.name is not None]

    def step_at(self, index: int) -> Step | None:
        return next((s for s in self.steps if s.index == index), None)

    def step(self, name: str) -> Step | None:
        """The first step named ``name``."""
        return next((s for s in self.steps if s.name == name), None)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps if s.name is not None]

    def at(self, path: Path) -> Any:
        """The value at a document path inside this workflow (None if absent)."""
        node: Any = self.root
        for part in path[len(self.base) :]:
            if isinstance(node, dict) and isinstance(part, str):
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return None
        return node


class Earlier:
    """``name in view``: does a step with that name run before ``index``?"""

    __slots__ = ("first", "index")

    def __init__(self, first: dict[str, int], index: int) -> None:
        self.first = first
        self.index = index

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.first.get(name, self.index) < self.index
