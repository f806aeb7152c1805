"""``previous_result:`` expansion (FORMAT.md 1.9.2, 1.9.3): one argument set per
combination of earlier results.

Owns :func:`artifacts` (how a step's iteration results flatten into artifacts),
the per-reference axes (every occurrence at any depth is its own axis, so two references to
a three-artifact step give 9 runs), the same-name shortcut, the 10,000-combination limit,
and building ``from_previous_result`` / deferred ``from_arguments`` objects per iteration.
Iterations share nested values they do not replace: only the containers along a
substituted path are copied.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dw_lsp.worker.outputs import av
from dw_lsp.worker.values.realize import (
    FROM_ARGUMENTS,
    FROM_PREVIOUS_RESULT,
    check_result_description,
    construct,
)
from dw_lsp.workflow import refs

MAX_ITERATIONS = 10_000
_ARTIFACT_LISTS = ("images", "frames", "audios")
#: The method of a pipeline output (the worker's wrapper of diffusers' ``BaseOutput``) that
#: gives its fields, for an output without those lists (Marigold's ``prediction``): saved as
#: a dict artifact, key by key, as dw saves a ``BaseOutput`` (it is a dict).
OUTPUT_FIELDS = "output_fields"

ArgPath = tuple[str | int, ...]


def clean_string(value: str) -> str:
    """String results lose surrounding whitespace and quotes (FORMAT.md 1.8)."""
    return value.strip().strip('"').strip()


def artifacts(iteration_results: list[Any]) -> list[Any]:
    """The artifacts of a step: pipeline outputs give their ``images`` / ``frames`` /
    ``audios`` (frames with their ``audio``, and a modular pipeline's ``videos`` with its
    ``audio``, as audio+video pairs; else one dict of their fields), lists are spread, a dict
    is one artifact, a string one cleaned string."""
    out: list[Any] = []
    for result in iteration_results:
        out.extend(_artifacts_of(result))
    return out


def _artifacts_of(result: Any) -> list[Any]:
    if isinstance(result, str):
        return [clean_string(result)]
    if isinstance(result, list | tuple):
        return [clean_string(r) if isinstance(r, str) else r for r in result]
    paired = av.paired_artifacts(result)  # videos with their sound: one artifact each
    if paired is not None:
        return paired
    # diffusers' outputs are also ordered dicts: their lists win; any other dict is one.
    for name in _ARTIFACT_LISTS:
        listed = getattr(result, name, None)
        if listed is not None and not callable(listed):
            return list(listed)
    fields = getattr(result, OUTPUT_FIELDS, None)
    if callable(fields):  # a pipeline output without those lists: a dict of its fields
        return [fields()]
    return [result]


def property_values(iteration_results: list[Any], step: str, prop: str) -> list[Any]:
    """``PROP`` of each iteration result: a dict's key (missing: skipped) or an object's
    data attribute (missing, or a method: an error)."""
    values: list[Any] = []
    for result in iteration_results:
        if isinstance(result, Mapping):
            if prop in result:
                values.append(result[prop])
            continue
        if not hasattr(result, prop):
            raise ValueError(
                f"previous_result:{step}.{prop}: a result of step '{step}' is a "
                f"{type(result).__name__}, which has no '{prop}'"
            )
        value = getattr(result, prop)
        if inspect.isroutine(value):
            raise ValueError(
                f"previous_result:{step}.{prop}: '{prop}' is a method of "
                f"{type(result).__name__}, not a value"
            )
        values.append(value)
    return values


@dataclass(frozen=True)
class Axis:
    """One reference occurrence: where it sits and what it can take."""

    path: ArgPath
    values: list[Any]
    description: dict[str, Any] | None = None  # set for from_previous_result objects


def _find(node: Any, path: ArgPath, found: list[tuple[ArgPath, Any]]) -> None:
    if refs.previous_result_target(node) is not None:
        found.append((path, node))
    elif isinstance(node, dict):
        if FROM_PREVIOUS_RESULT in node and _type_key(node) is not None:
            found.append((path, node))
            return
        for key, value in node.items():
            _find(value, (*path, key), found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _find(item, (*path, index), found)


def _type_key(node: Mapping[str, Any]) -> str | None:
    keys = [k for k in node if isinstance(k, str) and refs.is_type_key(k)]
    return keys[0] if len(keys) == 1 else None


def _axis(path: ArgPath, reference: Any, results: dict[str, list[Any]]) -> Axis:
    if isinstance(reference, dict):
        step = reference[FROM_PREVIOUS_RESULT]
        if step not in results:
            raise _unknown(str(step), results)
        return Axis(path, artifacts(results[step]), reference)
    target = refs.previous_result_target(reference) or ""
    step, prop = refs.split_previous_result(target, results)
    if step not in results:
        raise _unknown(step, results)
    if prop is None:
        return Axis(path, artifacts(results[step]))
    return Axis(path, property_values(results[step], step, prop))


def _unknown(step: str, results: dict[str, list[Any]]) -> ValueError:
    known = ", ".join(sorted(results)) or "(none)"
    return ValueError(
        f"previous_result names step '{step}', which has no result here (results: {known}); "
        "it must be an earlier step of the same workflow file"
    )


def _replace(container: Any, path: ArgPath, value: Any) -> Any:
    """A copy of ``container`` with ``value`` at ``path``; only the path is copied."""
    head, rest = path[0], path[1:]
    inner = value if not rest else _replace(container[head], rest, value)
    if isinstance(container, list):
        copied_list = list(container)
        copied_list[int(head)] = inner
        return copied_list
    copied = dict(container)
    copied[head] = inner
    return copied


def _same_name(path: ArgPath, value: Any) -> Any:
    """The shortcut: a dict artifact holding the argument's own name gives that value."""
    key = path[-1]
    if isinstance(key, str) and isinstance(value, dict) and key in value:
        return value[key]
    return value


def media_fields(kind: str, artifact: Any) -> dict[str, Any]:
    """The constructor fields a media ``kind`` takes from an artifact."""
    if kind == "image":
        return {"image": artifact}
    if kind == "video":
        fields: dict[str, Any] = {"frames": getattr(artifact, "frames", artifact)}
        audio = getattr(artifact, "audio", None)
        if audio is not None:
            fields["audio"] = audio
            fields["sample_rate"] = getattr(artifact, "sample_rate", None)
        return fields
    if isinstance(artifact, tuple) and len(artifact) == 2:
        return {"audio": artifact[0], "sample_rate": artifact[1]}
    fields = {"audio": getattr(artifact, "audio", artifact)}
    rate = getattr(artifact, "sample_rate", None)
    if rate is not None:
        fields["sample_rate"] = rate
    return fields


def build_from_result(description: dict[str, Any], artifact: Any) -> Any:
    type_key = _type_key(description)
    if type_key is None:
        raise ValueError(f"'{FROM_PREVIOUS_RESULT}' needs exactly one '*_type' key")
    made = description[type_key]
    if not inspect.isclass(made):
        raise ValueError(f"'{type_key}' must name a class to build, got {made!r}")
    check_result_description(description, type_key, made)
    fields = media_fields(str(getattr(made, "kind", "")), artifact)
    fields.update(
        {k: v for k, v in description.items() if k not in (FROM_PREVIOUS_RESULT, type_key)}
    )
    return construct(made, fields)


def build_deferred(node: Any) -> Any:
    """Build ``from_arguments`` descriptions whose references are now substituted."""
    if isinstance(node, dict):
        type_key = _type_key(node)
        if FROM_ARGUMENTS in node and type_key and inspect.isclass(node[type_key]):
            return construct(node[type_key], build_deferred(node[FROM_ARGUMENTS]))
        built = {k: build_deferred(v) for k, v in node.items()}
        return built if any(built[k] is not v for k, v in node.items()) else node
    if isinstance(node, list):
        items = [build_deferred(item) for item in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    return node


def expand_iterations(
    arguments: dict[str, Any], results: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    """One fresh argument dict per combination of the referenced results.

    ``results`` maps each earlier step name to its list of iteration results. An empty
    axis gives no iterations; more than 10,000 combinations is an error.
    """
    found: list[tuple[ArgPath, Any]] = []
    for key, value in arguments.items():
        _find(value, (key,), found)
    if not found:
        return [dict(arguments)]
    axes = [_axis(path, reference, results) for path, reference in found]
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_ITERATIONS:
        raise ValueError(
            f"the previous_result references give {count} combinations, more than "
            f"{MAX_ITERATIONS}; split the work across steps"
        )
    iterations: list[dict[str, Any]] = []
    for combination in itertools.product(*(axis.values for axis in axes)):
        current: dict[str, Any] = dict(arguments)
        for axis, value in zip(axes, combination, strict=True):
            if axis.description is not None:
                replacement = build_from_result(axis.description, value)
            else:
                replacement = _same_name(axis.path, value)
            current = _replace(current, axis.path, replacement)
        iterations.append(build_deferred(current))
    return iterations
