"""The outline of one workflow: its steps, its variables and every reference, from one walk
over its value. The one model of a workflow that the semantic rules
(:mod:`dw_lsp.validation.rules`) and the editor features (through :mod:`.symbols`, which adds
source ranges) both read.

:func:`outline_of` walks a workflow's value **once**, iteratively and depth-guarded, and
keeps what the rules of FORMAT.md 1.11 and the editor look at: the steps (name, kind and
body), the declared variables, whole-string references (``variable:``,
``previous_result:``, ``constant:``) with the region they sit in, the step names written
without a prefix (``reference_name``, a task's ``pipeline_reference``,
``from_previous_result``), strings under type keys, media values, object descriptions,
``{"location": "variable:X"}`` and any keys the caller asks to watch. Everything is
addressed by document path; no source range is computed here, so a large valid workflow
costs one pass over its value. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from dw_lsp.workflow.document import Path
from dw_lsp.workflow.files import MAX_JSON_DEPTH
from dw_lsp.workflow.refs import (
    CONSTANT,
    PREVIOUS_RESULT,
    VARIABLE,
    is_type_key,
    media_kind_of_key,
)

#: The keys that make a step what it is (FORMAT.md 1.3); a step has exactly one.
STEP_KINDS = ("pipeline", "pipeline_reference", "task", "workflow")
DESCRIPTION_FORMS = ("from_file", "from_previous_result", "from_arguments")

_FORMS = frozenset(DESCRIPTION_FORMS)
_PREFIXES = (VARIABLE, PREVIOUS_RESULT, CONSTANT)
_SUFFIXES = ("_type", "dtype", "image", "video")
_MEDIA_SUFFIXES = ("image", "video")
#: Keys whose plain string value names a step (see :attr:`Outline.name_refs`).
_NAME_KEYS = frozenset({"from_previous_result", "reference_name", "pipeline_reference"})


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
    inside steps that the caller asked :func:`outline_of` to watch."""

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


def _child_region(region: Region, key: str | int) -> Region:
    """The region of a child of a container in a structural region."""
    if region == Region.TOP:
        return (
            Region.VARIABLES
            if key == "variables"
            else (Region.STEPS if key == "steps" else Region.TOP)
        )
    if region == Region.STEPS:
        return Region.STEP_OBJ
    if region == Region.STEP_OBJ:
        return Region.BODY if key in STEP_KINDS else Region.STEP
    if region == Region.BODY:
        if key == "arguments":
            return Region.ARGUMENTS
        if key == "inputs":
            return Region.INPUTS
        return Region.CHAIN if key == "chain" else Region.STEP
    if region == Region.CHAIN:
        return Region.CHAIN_PROMPTS if key == "prompts" else Region.STEP
    return region


_STRUCTURAL = frozenset({Region.TOP, Region.STEPS, Region.STEP_OBJ, Region.BODY, Region.CHAIN})


def outline_of(
    root: dict[str, Any], base: Path = (), watch: frozenset[str] = frozenset()
) -> Outline:
    """Walk ``root`` (a workflow object at ``base``) once and gather its outline; keys in
    ``watch`` found inside a step are listed in :attr:`Outline.watched`."""
    out = Outline(base, root)
    variables = root.get("variables")
    out.variables = variables if isinstance(variables, dict) else None
    steps = root.get("steps")
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            name = step.get("name")
            kind = step_kind(step)
            body = step[kind] if kind else {}
            out.steps.append(
                Step(
                    i,
                    (*base, "steps", i),
                    step,
                    name if isinstance(name, str) else None,
                    kind,
                    body,
                )
            )
    _walk(out, root, base, watch)
    return out


def _walk(out: Outline, root: dict[str, Any], base: Path, watch: frozenset[str]) -> None:
    refs = (out.variable_refs, out.previous_refs, out.constant_refs)
    limit = len(base) + MAX_JSON_DEPTH
    # (container, path, region, step, media kind of the key the container sits under)
    stack: list[tuple[Any, Path, Region, int, str | None]] = [(root, base, Region.TOP, -1, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, path, region, step, mkind = pop()
        if len(path) > limit:
            continue
        structural = region in _STRUCTURAL
        if type(node) is dict:
            if region not in REALIZED:
                # id, description, unknown top-level keys: only references matter here
                for key, value in node.items():
                    t = type(value)
                    if t is str:
                        if value.startswith(_PREFIXES):
                            _ref(refs, value, (*path, key), step, region)
                        elif key == "from_previous_result":
                            out.name_refs.append(Ref((*path, key), value, step, region))
                    elif t is dict or t is list:
                        r = _child_region(region, key) if structural else region
                        push((value, (*path, key), r, step, None))
                continue
            if "location" in node or not _FORMS.isdisjoint(node):
                _dict_facts(out, node, path, step, mkind)
            in_step = region in IN_STEP
            for key, value in node.items():
                t = type(value)
                if t is str:
                    if value.startswith(_PREFIXES):
                        _ref(refs, value, (*path, key), step, region)
                    elif key.endswith(_SUFFIXES):
                        _keyed_string(out, node, key, value, (*path, key), step)
                    elif key in _NAME_KEYS and _names_step(path, key, region):
                        out.name_refs.append(Ref((*path, key), value, step, region))
                elif t is dict or t is list:
                    r = _child_region(region, key) if structural else region
                    k = media_kind_of_key(key) if key.endswith(_MEDIA_SUFFIXES) else None
                    push((value, (*path, key), r, step, k))
                if key in watch and in_step:
                    out.watched.append(Found((*path, key), key, step))
        elif type(node) is list:
            for index, value in enumerate(node):
                t = type(value)
                if t is str:
                    if value.startswith(_PREFIXES):
                        _ref(refs, value, (*path, index), step, region)
                    elif mkind is not None:
                        out.media.append(Media((*path, index), mkind, value, step))
                elif t is dict or t is list:
                    r = _child_region(region, index) if structural else region
                    s = index if region == Region.STEPS else step
                    push((value, (*path, index), r, s, mkind))


def _names_step(path: Path, key: str, region: Region) -> bool:
    """Whether the string under ``key`` of the object at ``path`` is a step name:
    ``from_previous_result`` anywhere, ``reference_name`` of a ``pipeline_reference`` step,
    the task-level ``pipeline_reference`` of a ``task`` step."""
    if key == "from_previous_result":
        return True
    if region != Region.BODY or not path:
        return False
    return (key, path[-1]) in (
        ("reference_name", "pipeline_reference"),
        ("pipeline_reference", "task"),
    )


def _ref(
    refs: tuple[list[Ref], list[Ref], list[Ref]],
    value: str,
    path: Path,
    step: int,
    region: Region,
) -> None:
    if value.startswith(VARIABLE):
        refs[0].append(Ref(path, value[len(VARIABLE) :], step, region))
    elif value.startswith(PREVIOUS_RESULT):
        refs[1].append(Ref(path, value[len(PREVIOUS_RESULT) :], step, region))
    else:
        refs[2].append(Ref(path, value[len(CONSTANT) :], step, region))


def _keyed_string(
    out: Outline, node: dict[str, Any], key: str, value: str, path: Path, step: int
) -> None:
    """A plain string under a type key or a media key."""
    kind = media_kind_of_key(key)
    if kind is not None:
        out.media.append(Media(path, kind, value, step))
    elif is_type_key(key) and not (key == "media_type" and "location" in node):
        out.type_values.append(Found(path, value, step))


def _dict_facts(
    out: Outline, node: dict[str, Any], path: Path, step: int, mkind: str | None
) -> None:
    """Media objects and object descriptions (FORMAT.md 1.9.3, 1.9.7)."""
    if "location" in node:
        explicit = node.get("media_type")
        kind = explicit if explicit in ("image", "video") else mkind
        location = node["location"]
        if kind is not None and isinstance(location, str):
            if location.startswith(VARIABLE):
                out.location_variables.append(
                    Found((*path, "location"), location[len(VARIABLE) :], step)
                )
            elif not location.startswith(_PREFIXES):
                out.media.append(Media((*path, "location"), kind, location, step))
    if not _FORMS.isdisjoint(node):
        out.descriptions.append(Found(path, node, step))
        source = node.get("from_file")
        if isinstance(source, str) and not source.startswith(_PREFIXES):
            out.media.append(Media((*path, "from_file"), "file", source, step))
