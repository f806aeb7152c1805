"""The one walk over a workflow's value that builds its
:class:`~dw_lsp.workflow.outline.Outline`: :func:`outline_of`.

Iterative and depth-guarded (:data:`~dw_lsp.workflow.files.MAX_JSON_DEPTH`), it visits
every value once and keeps only what the rules of FORMAT.md 1.11 and the editor look at,
deciding by the :class:`~dw_lsp.workflow.outline.Region` a value sits in which
mini-languages dw resolves there. No source range is computed, so a large valid workflow
costs one pass over its value. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from dw_lsp.workflow.document import Document, Path
from dw_lsp.workflow.files import MAX_JSON_DEPTH
from dw_lsp.workflow.outline import (
    DESCRIPTION_FORMS,
    IN_STEP,
    REALIZED,
    STEP_KINDS,
    Found,
    Media,
    Outline,
    Ref,
    Region,
    Step,
    step_kind,
)
from dw_lsp.workflow.refs import (
    CONSTANT,
    PREVIOUS_RESULT,
    VARIABLE,
    is_type_key,
    media_kind_of_key,
)

_FORMS = frozenset(DESCRIPTION_FORMS)
_PREFIXES = (VARIABLE, PREVIOUS_RESULT, CONSTANT)
_SUFFIXES = ("_type", "dtype", "image", "video")
_MEDIA_SUFFIXES = ("image", "video")
#: Keys whose plain string value names a step (see :attr:`Outline.name_refs`).
_NAME_KEYS = frozenset({"from_previous_result", "reference_name", "pipeline_reference"})


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
    root: dict[str, Any],
    base: Path = (),
    watch: frozenset[str] = frozenset(),
    memo: StepMemo | None = None,
) -> Outline:
    """Walk ``root`` (a workflow object at ``base``) once and gather its outline; keys in
    ``watch`` found inside a step are listed in :attr:`Outline.watched`. ``memo``, if
    given, may supply what is made from one step object alone (its :class:`Step`, and
    what the walk of it finds) from a cache: it is called as ``memo(name, index, step,
    make)`` (see :meth:`Document.step_memo`) and returns ``make()`` or an earlier result
    of it."""
    out = Outline(base, root)
    variables = root.get("variables")
    out.variables = variables if isinstance(variables, dict) else None
    steps = root.get("steps")
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            make = partial(_step, base, i, step)
            out.steps.append(memo(("step", base), i, step, make) if memo else make())
    step_facts = None if memo is None else partial(_memo_facts, memo, base, watch)
    _walk(out, [(root, base, Region.TOP, -1, None)], len(base) + MAX_JSON_DEPTH, watch, step_facts)
    return out


def _memo_facts(
    memo: StepMemo,
    base: Path,
    watch: frozenset[str],
    index: int,
    step: dict[str, Any],
    walk: Callable[[], Facts],
) -> Facts:
    return memo(("outline", base, watch), index, step, walk)  # type: ignore[no-any-return]


def _step(base: Path, index: int, step: dict[str, Any]) -> Step:
    name = step.get("name")
    kind = step_kind(step)
    body = step[kind] if kind else {}
    name = name if isinstance(name, str) else None
    return Step(index, (*base, "steps", index), step, name, kind, body)


def document_outline(doc: Document, watch: frozenset[str] = frozenset()) -> Outline:
    """The outline of ``doc``'s value (an empty one when its root is no object), made
    once per document: the rules and every editor request on the same text share it. An
    outline made watching more keys serves a reader watching fewer; what one unchanged
    step yields is carried from the previous version (:meth:`Document.step_memo`)."""
    held: dict[frozenset[str], Outline] = doc.derived("outline", dict)
    for watched, outline in held.items():
        if watch <= watched:
            return outline
    value = doc.value if isinstance(doc.value, dict) else {}
    outline = held[watch] = outline_of(value, watch=watch, memo=doc.step_memo)
    return outline


#: What the walk of one step finds, in the order of :data:`_FACT_LISTS`.
Facts = tuple[list[Any], ...]
StepFacts = Callable[[int, dict[str, Any], Callable[[], Facts]], Facts]
StepMemo = Callable[[object, int, dict[str, Any], Callable[[], Any]], Any]
_FACT_LISTS = (
    "variable_refs",
    "previous_refs",
    "constant_refs",
    "name_refs",
    "type_values",
    "media",
    "descriptions",
    "location_variables",
    "watched",
)


def _steps_from_facts(
    out: Outline,
    steps: list[Any],
    path: Path,
    limit: int,
    watch: frozenset[str],
    step_facts: StepFacts,
) -> None:
    """The steps array at ``path``, in the order the plain walk visits it (its string
    items first, then its step objects last to first), each step's facts from
    ``step_facts``."""
    refs = (out.variable_refs, out.previous_refs, out.constant_refs)
    for index, value in enumerate(steps):
        if type(value) is str and value.startswith(_PREFIXES):
            _ref(refs, value, (*path, index), -1, Region.STEPS)
    targets = [getattr(out, name) for name in _FACT_LISTS]
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if type(step) is not dict:
            continue
        entry = (step, (*path, index), Region.STEP_OBJ, index, None)

        def walk(entry: _Entry = entry) -> Facts:
            sub = Outline(out.base, out.root)
            _walk(sub, [entry], limit, watch, None)
            return tuple(getattr(sub, name) for name in _FACT_LISTS)

        for target, found in zip(targets, step_facts(index, step, walk), strict=True):
            target.extend(found)


#: (container, path, region, step, media kind of the key the container sits under)
_Entry = tuple[Any, Path, Region, int, str | None]


def _walk(
    out: Outline,
    stack: list[_Entry],
    limit: int,
    watch: frozenset[str],
    step_facts: StepFacts | None,
) -> None:
    refs = (out.variable_refs, out.previous_refs, out.constant_refs)
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
            if region == Region.STEPS and step_facts is not None and _plain_steps(node):
                _steps_from_facts(out, node, path, limit, watch, step_facts)
                continue
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


def _plain_steps(steps: list[Any]) -> bool:
    """Whether a steps array holds only objects and strings (the walk visits those in an
    order :func:`_steps_from_facts` repeats)."""
    return all(type(v) is dict or type(v) is str for v in steps)


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
