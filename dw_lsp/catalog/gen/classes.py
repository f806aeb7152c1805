"""The class catalog (``diffusers.json``): every public name of the ``diffusers`` top level,
described by importing it.

An entry has the name's kind (pipeline, modular pipeline, blocks, model, scheduler, other
class, function), its module, the first lines of its docstring and, for classes, the
parameters that a workflow fills: ``__call__`` for pipelines (plus whether it takes
``callback_on_step_end`` and which ``**kwargs`` keys it really reads), ``__init__`` for
everything else, ``from_pretrained`` for the loader bases. Classes whose optional backend is
missing here (diffusers' dummy objects) are recorded by name and backends only. Imports
diffusers (lazily) and :mod:`.catalog_text` / :mod:`.catalog_format`; never the session,
the server or LSP types.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

from dw_lsp.catalog.gen.layout import FORMAT, GENERATOR, Json
from dw_lsp.catalog.gen.text import (
    DOC_LIMIT,
    clip,
    format_annotation,
    format_default,
    parse_args_section,
    summary,
)

#: Classes whose ``from_pretrained`` every class of their kind shares.
LOADER_BASES = ("DiffusionPipeline", "ModelMixin", "SchedulerMixin", "ModularPipeline")

_HEADER_RE = re.compile(r"^[ \t]*(?P<name>[A-Za-z_]\w*)[ \t]*\((?P<rest>.*)\):[ \t]*$", re.M)
_DEFAULTS_RE = re.compile(r"defaults to (?P<value>`[^`]*`|[^,)\s]+)")


# --- signatures -------------------------------------------------------------------------


def signature(function: Callable[..., Any], docs: dict[str, str]) -> Json:
    """Parameters of ``function`` (self and ``*args`` left out) and its ``**kwargs`` use."""
    parameters: list[Json] = []
    var_keyword: str | None = None
    for index, param in enumerate(inspect.signature(function).parameters.values()):
        if index == 0 and param.name in ("self", "cls"):
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.VAR_KEYWORD:
            var_keyword = param.name
            continue
        entry: Json = {"name": param.name}
        if param.default is not param.empty:
            entry["default"] = format_default(param.default)
        if (annotation := format_annotation(param.annotation)) != "":
            entry["annotation"] = annotation
        if param.name in docs:
            entry["doc"] = docs[param.name]
        parameters.append(entry)
    result: Json = {"parameters": parameters}
    if var_keyword is not None:
        keys = kwargs_keys(function, var_keyword)
        result["var_keyword"] = keys is None
        if keys:
            result["kwargs_keys"] = keys
    return result


def kwargs_keys(function: Callable[..., Any], name: str) -> list[str] | None:
    """The literal keys ``function`` reads from its ``**name`` (``name.pop("k")``,
    ``name.get("k")``, ``name["k"]``), or None when it uses the mapping any other way
    (passes it on, iterates it), i.e. when it accepts arbitrary keywords."""
    try:
        source = textwrap.dedent(inspect.getsource(inspect.unwrap(function)))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    keys: set[str] = set()
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
            and node.func.attr in ("pop", "get")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.add(node.args[0].value)
            allowed.add(id(node.func.value))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == name
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            keys.add(node.slice.value)
            allowed.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and id(node) not in allowed:
            return None
    return sorted(keys)


def _from_pretrained(function: Callable[..., Any]) -> Json:
    """``from_pretrained``'s parameters, with the keywords its docstring documents for
    ``**kwargs`` added (default: what the entry says after "defaults to", else None)."""
    docs = parse_args_section(function.__doc__)
    result = signature(function, docs)
    known = {p["name"] for p in result["parameters"]}
    headers = {
        m["name"]: m["rest"] for m in _HEADER_RE.finditer(inspect.cleandoc(function.__doc__ or ""))
    }
    for name, doc in docs.items():
        if name not in known and name != "kwargs":
            found = _DEFAULTS_RE.search(headers.get(name, ""))
            default = found["value"].strip("`") if found else "None"
            result["parameters"].append({"name": name, "default": default, "doc": doc})
    return result


# --- classes ----------------------------------------------------------------------------


def _describe(name: str, obj: Any, bases: dict[str, type]) -> Json | None:
    """The catalog entry of one top-level diffusers name (None for modules and data)."""
    if inspect.isclass(obj) and type(obj).__name__ == "DummyObject":
        return {
            "kind": _guess_kind(name),
            "module": "diffusers",
            "requires": sorted(getattr(obj, "_backends", [])),
        }
    if inspect.isroutine(obj):
        return {"kind": "function", "module": obj.__module__, "doc": summary(obj.__doc__)}
    if not inspect.isclass(obj):
        return None
    entry: Json = {
        "kind": _kind(obj, bases),
        "module": obj.__module__,
        "doc": summary(obj.__doc__),
    }
    class_docs = parse_args_section(obj.__doc__)
    init = obj.__init__
    if init is not object.__init__:
        docs = {**parse_args_section(init.__doc__), **class_docs}
        entry["init"] = signature(init, docs)
    if name in LOADER_BASES:
        entry["from_pretrained"] = _from_pretrained(getattr(obj, "from_pretrained"))  # noqa: B009
    if entry["kind"] in ("pipeline", "modular_pipeline") and "__call__" in _own_or_inherited(obj):
        call = obj.__call__
        entry["call"] = signature(call, parse_args_section(call.__doc__))
        entry["call"]["doc"] = summary(call.__doc__)
        names = {p["name"] for p in entry["call"]["parameters"]}
        entry["callback_on_step_end"] = "callback_on_step_end" in names
    if entry["kind"] == "pipeline":
        entry["optional_components"] = sorted(getattr(obj, "_optional_components", []) or [])
    if entry["kind"] == "modular_pipeline":
        _add_block_inputs(entry, obj)
    if entry["kind"] == "blocks":
        entry["inputs"] = _block_inputs(obj)
    return entry


def _own_or_inherited(cls: type) -> set[str]:
    """Attribute names defined by ``cls`` or a base other than ``object``."""
    return {n for klass in cls.__mro__ if klass is not object for n in vars(klass)}


def _kind(cls: type, bases: dict[str, type]) -> str:
    for kind, base in bases.items():
        if issubclass(cls, base):
            return kind
    return "class"


def _guess_kind(name: str) -> str:
    for suffix, kind in (("Pipeline", "pipeline"), ("Scheduler", "scheduler"), ("Model", "model")):
        if name.endswith(suffix):
            return kind
    return "class"


def _add_block_inputs(entry: Json, cls: type) -> None:
    """A modular pipeline's call takes its default blocks' inputs as keywords."""
    import diffusers

    blocks_name = getattr(cls, "default_blocks_name", None)
    blocks = getattr(diffusers, blocks_name, None) if isinstance(blocks_name, str) else None
    if blocks is None or "call" not in entry:
        return
    entry["blocks"] = blocks_name
    known = {p["name"] for p in entry["call"]["parameters"]}
    for item in _block_inputs(blocks):
        if item["name"] not in known:
            entry["call"]["parameters"].append(item)
            known.add(item["name"])


def _block_inputs(blocks: type) -> list[Json]:
    try:
        inputs = blocks().inputs
    except Exception:  # blocks that cannot be built without arguments have no fixed inputs
        return []
    result: list[Json] = []
    for item in inputs:
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            continue
        entry: Json = {"name": name}
        if getattr(item, "required", False) is not True:
            entry["default"] = format_default(getattr(item, "default", None))
        hint = getattr(item, "type_hint", None)
        if hint is not None:
            entry["annotation"] = format_annotation(hint)
        description = getattr(item, "description", None)
        if description:
            entry["doc"] = clip(str(description), DOC_LIMIT)
        result.append(entry)
    return result


def build_classes() -> tuple[Json, dict[str, int], list[str]]:
    """The ``diffusers.json`` payload, counts per kind, and names that failed."""
    import diffusers
    from diffusers import DiffusionPipeline, ModelMixin, SchedulerMixin

    bases: dict[str, type] = {
        "pipeline": DiffusionPipeline,
        "model": ModelMixin,
        "scheduler": SchedulerMixin,
    }
    try:
        from diffusers.modular_pipelines import ModularPipeline, ModularPipelineBlocks

        bases["modular_pipeline"] = ModularPipeline
        bases["blocks"] = ModularPipelineBlocks
    except ImportError:  # diffusers without modular pipelines
        pass

    classes: Json = {}
    failed: list[str] = []
    counts: dict[str, int] = {}
    for name in sorted(n for n in dir(diffusers) if not n.startswith("_")):
        try:
            entry = _describe(name, getattr(diffusers, name), bases)
        except Exception as error:  # one broken class must not stop the catalog
            failed.append(f"{name}: {type(error).__name__}: {error}"[:200])
            continue
        if entry is None:
            continue
        classes[name] = entry
        label = entry["kind"] + (" (backend missing)" if "requires" in entry else "")
        counts[label] = counts.get(label, 0) + 1
    payload: Json = {
        "format": FORMAT,
        "generator": GENERATOR,
        "diffusers_version": diffusers.__version__,
        "kinds": {name: entry["kind"] for name, entry in sorted(classes.items())},
        "classes": classes,
    }
    return payload, counts, failed
