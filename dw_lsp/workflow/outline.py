"""What every semantic rule module shares: the one walk over a workflow, and the reporter.

:func:`collect` walks a workflow's value **once**, iteratively and depth-guarded, and keeps
only what the rules of FORMAT.md 1.11 look at: whole-string references (``variable:``,
``previous_result:``, ``constant:``) with the region they sit in, strings under type keys,
media values, object descriptions, ``{"location": "variable:X"}`` and near-miss keys. No
source range is computed during the walk; :class:`Reporter` asks the document for the
range of a path only when a problem is reported, so a large valid workflow costs one pass
over its value. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from typing import Any

from dw_lsp.validation.codes import severity_of
from dw_lsp.validation.suggest import close_matches
from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.problem import Problem
from dw_lsp.workflow.refs import CONSTANT, PREVIOUS_RESULT, VARIABLE, is_type_key
from dw_lsp.workflow.tolerant import MAX_DEPTH

STEP_KINDS = ("pipeline", "pipeline_reference", "task", "workflow")
DESCRIPTION_FORMS = ("from_file", "from_previous_result", "from_arguments")

#: Near-miss spellings of real keyword arguments (rule 32). Kept small: each entry is a
#: misspelling seen in real workflows or a one-letter slip of a common diffusers kwarg.
NEAR_MISSES: dict[str, str] = {
    "use_safe_tensors": "use_safetensors",
    "use_safetensor": "use_safetensors",
    "low_cpu_memory_usage": "low_cpu_mem_usage",
    "num_inference_step": "num_inference_steps",
    "guidence_scale": "guidance_scale",
    "torch_type": "torch_dtype",
}

_FORMS = frozenset(DESCRIPTION_FORMS)
_PREFIXES = (VARIABLE, PREVIOUS_RESULT, CONSTANT)
_SUFFIXES = ("_type", "dtype", "image", "video")
_MEDIA_SUFFIXES = ("image", "video")


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
    """A whole-string reference. ``path`` is the string's path; ``body`` the text after
    the prefix; ``step`` the step index (-1 outside the steps)."""

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


@dataclass(frozen=True)
class StepInfo:
    index: int
    path: Path
    step: dict[str, Any]
    name: str | None
    kind: str | None
    body: dict[str, Any]

    @property
    def released(self) -> bool:
        return self.step.get("release_pipeline") is True


@dataclass
class Facts:
    """Everything the rules need from one workflow value (at ``base`` in the document)."""

    base: Path
    root: dict[str, Any]
    steps: list[StepInfo] = field(default_factory=list)
    variables: dict[str, Any] | None = None
    variable_refs: list[Ref] = field(default_factory=list)
    previous_refs: list[Ref] = field(default_factory=list)
    constant_refs: list[Ref] = field(default_factory=list)
    type_values: list[Found] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    descriptions: list[Found] = field(default_factory=list)
    location_variables: list[Found] = field(default_factory=list)
    near_misses: list[Found] = field(default_factory=list)

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

    def before(self, index: int) -> list[StepInfo]:
        """The steps that run before the step at list index ``index``."""
        return [s for s in self.steps if s.index < index]

    def names_before(self, index: int) -> list[str]:
        return [s.name for s in self.steps if s.index < index and s.name is not None]

    def step_at(self, index: int) -> StepInfo | None:
        return next((s for s in self.steps if s.index == index), None)

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


def media_kind(key: str) -> str | None:
    if key == "image" or key.endswith("_image"):
        return "image"
    if key == "video" or key.endswith("_video"):
        return "video"
    return None


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


def collect(root: dict[str, Any], base: Path = ()) -> Facts:
    """Walk ``root`` (a workflow object at ``base``) once and gather the facts."""
    facts = Facts(base, root)
    variables = root.get("variables")
    facts.variables = variables if isinstance(variables, dict) else None
    steps = root.get("steps")
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            name = step.get("name")
            kind = next((k for k in STEP_KINDS if isinstance(step.get(k), dict)), None)
            body = step[kind] if kind else {}
            facts.steps.append(
                StepInfo(
                    i,
                    (*base, "steps", i),
                    step,
                    name if isinstance(name, str) else None,
                    kind,
                    body,
                )
            )
    _walk(facts, root, base)
    return facts


def _walk(facts: Facts, root: dict[str, Any], base: Path) -> None:
    refs = (facts.variable_refs, facts.previous_refs, facts.constant_refs)
    near = facts.near_misses
    limit = len(base) + MAX_DEPTH
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
                    elif t is dict or t is list:
                        r = _child_region(region, key) if structural else region
                        push((value, (*path, key), r, step, None))
                continue
            if "location" in node or not _FORMS.isdisjoint(node):
                _dict_facts(facts, node, path, step, mkind)
            in_step = region in IN_STEP
            for key, value in node.items():
                t = type(value)
                if t is str:
                    if value.startswith(_PREFIXES):
                        _ref(refs, value, (*path, key), step, region)
                    elif key.endswith(_SUFFIXES):
                        _keyed_string(facts, node, key, value, (*path, key), step)
                elif t is dict or t is list:
                    r = _child_region(region, key) if structural else region
                    k = media_kind(key) if key.endswith(_MEDIA_SUFFIXES) else None
                    push((value, (*path, key), r, step, k))
                if key in NEAR_MISSES and in_step:
                    near.append(Found((*path, key), key, step))
        elif type(node) is list:
            for index, value in enumerate(node):
                t = type(value)
                if t is str:
                    if value.startswith(_PREFIXES):
                        _ref(refs, value, (*path, index), step, region)
                    elif mkind is not None:
                        facts.media.append(Media((*path, index), mkind, value, step))
                elif t is dict or t is list:
                    r = _child_region(region, index) if structural else region
                    s = index if region == Region.STEPS else step
                    push((value, (*path, index), r, s, mkind))


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
    facts: Facts, node: dict[str, Any], key: str, value: str, path: Path, step: int
) -> None:
    """A plain string under a type key or a media key."""
    kind = media_kind(key)
    if kind is not None:
        facts.media.append(Media(path, kind, value, step))
    elif is_type_key(key) and not (key == "media_type" and "location" in node):
        facts.type_values.append(Found(path, value, step))


def _dict_facts(
    facts: Facts, node: dict[str, Any], path: Path, step: int, mkind: str | None
) -> None:
    """Media objects and object descriptions (FORMAT.md 1.9.3, 1.9.7)."""
    if "location" in node:
        explicit = node.get("media_type")
        kind = explicit if explicit in ("image", "video") else mkind
        location = node["location"]
        if kind is not None and isinstance(location, str):
            if location.startswith(VARIABLE):
                facts.location_variables.append(
                    Found((*path, "location"), location[len(VARIABLE) :], step)
                )
            elif not location.startswith(_PREFIXES):
                facts.media.append(Media((*path, "location"), kind, location, step))
    if not _FORMS.isdisjoint(node):
        facts.descriptions.append(Found(path, node, step))
        source = node.get("from_file")
        if isinstance(source, str) and not source.startswith(_PREFIXES):
            facts.media.append(Media((*path, "from_file"), "file", source, step))


class Reporter:
    """Collects problems; computes a range only for what is reported."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def value(
        self, code: str, path: Path, message: str, data: dict[str, Any] | None = None
    ) -> None:
        """Report on the value at ``path`` (a string's range includes its quotes)."""
        self.span(code, self._value_span(path), message, data)

    def key(self, code: str, path: Path, message: str, data: dict[str, Any] | None = None) -> None:
        """Report on the key of the member at ``path`` (falls back to its value)."""
        span = self.doc.key_span(path)
        self.span(code, span or self._value_span(path), message, data)

    def span(self, code: str, span: Span, message: str, data: dict[str, Any] | None = None) -> None:
        self.problems.append(Problem(code, severity_of(code), message, span[0], span[1], data))

    def _value_span(self, path: Path) -> Span:
        while True:
            span = self.doc.value_span(path)
            if span is not None:
                return span
            if not path:
                return (0, 0)
            if isinstance(path[-1], str):
                key = self.doc.key_span(path)
                if key is not None:
                    return key
            path = path[:-1]


def close_names(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Candidates that look like ``name``, best first."""
    return close_matches(name, candidates, n=limit)


def quoted(names: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    items = [f"'{n}'" for n in names]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
