"""Generates the pipeline catalog (:mod:`dw_lsp.catalog`) from the installed diffusers.

``python -m dw_lsp.worker.catalog_gen [--check] [--output DIR]`` writes two JSON files:

* ``diffusers.json``: every public name of the ``diffusers`` top level, with its kind
  (pipeline, modular pipeline, blocks, model, scheduler, other class, function), its module,
  the first lines of its docstring and, for classes, the parameters that a workflow fills:
  ``__call__`` for pipelines (plus whether it takes ``callback_on_step_end`` and which
  ``**kwargs`` keys it really reads), ``__init__`` for everything else (a model's config, a
  scheduler's config, a pipeline's components). Each parameter carries its default (the
  Python ``repr``), a short annotation and the first lines of its entry in the docstring's
  Args section. Classes whose optional backend is missing here (diffusers' dummy objects)
  are recorded by name and backends only.
* ``diffusers_modules.json``: for every module of the installed diffusers package, the
  public names it defines or re-exports, read from the source (nothing is imported), so
  that dotted type names such as
  ``diffusers.pipelines.ltx2.pipeline_ltx2_condition.LTX2VideoCondition`` can be checked.

The output is deterministic (sorted keys, fixed formatting, no addresses in reprs), so the
checked-in files diff cleanly and ``--check`` (used by the test suite) can tell when they
are stale for the installed diffusers. Lives in the worker layer because it imports
diffusers; never imports the session, the server or LSP types.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import json
import re
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT = 1
GENERATOR = "dw_lsp.worker.catalog_gen"
CLASSES_FILE = "diffusers.json"
MODULES_FILE = "diffusers_modules.json"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "catalog"

DOC_LIMIT = 300
DEFAULT_LIMIT = 120
ANNOTATION_LIMIT = 160
#: Classes whose ``from_pretrained`` every class of their kind shares.
LOADER_BASES = ("DiffusionPipeline", "ModelMixin", "SchedulerMixin", "ModularPipeline")

_ARGS_HEADERS = ("args:", "arguments:", "parameters:", "params:")
_ENTRY_RE = re.compile(r"^\**(?P<name>[A-Za-z_]\w*)\s*(?:\(.*\))?\s*:(?P<rest>.*)$")
_LEADING_TYPE_RE = re.compile(r"^\s*\(.*?\)\s*:\s*")
_DOTTED_RE = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")
_HEADER_RE = re.compile(r"^[ \t]*(?P<name>[A-Za-z_]\w*)[ \t]*\((?P<rest>.*)\):[ \t]*$", re.M)
_DEFAULTS_RE = re.compile(r"defaults to (?P<value>`[^`]*`|[^,)\s]+)")
_COMPOUND = ("if ", "if(", "elif ", "else:", "try:", "except", "finally:")
_STATEMENT_RE = re.compile(
    r"(?:class|def|async\s+def)\s+(?P<def>[A-Za-z_]\w*)"
    r"|(?P<assign>[A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)"
    r"|from\s+\.[\w.]*\s+import\s+(?P<names>.*)"
)

Json = dict[str, Any]


# --- text helpers -----------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    """Whitespace collapsed; cut at a sentence end (or else a word) before ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    stop = head.rfind(". ")
    if stop >= limit // 2:
        return head[: stop + 1]
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head).rstrip(",;:") + " …"


def _summary(doc: str | None) -> str:
    """The docstring's first paragraph, clipped."""
    if not doc:
        return ""
    paragraph: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if not line.strip():
            if paragraph:
                break
            continue
        if line.strip().lower() in _ARGS_HEADERS:
            break
        paragraph.append(line)
    return _clip(" ".join(paragraph), DOC_LIMIT)


def parse_args_section(doc: str | None) -> dict[str, str]:
    """Parameter name -> first paragraph of its entry in the first Args/Parameters section."""
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip().lower() in _ARGS_HEADERS), None)
    if start is None:
        return {}
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    ended = False  # the current entry's first paragraph is complete
    for line in lines[start + 1 :]:
        if not line.strip():
            ended = current is not None and bool(current)
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent:
            match = _ENTRY_RE.match(line.strip())
            if match is None:
                current = None
                continue
            current = entries.setdefault(match["name"], [])
            ended = False
            rest = _LEADING_TYPE_RE.sub("", match["rest"])  # "name: (`type`): text"
            if rest.strip():
                current.append(rest)
        elif indent > entry_indent and current is not None and not ended:
            current.append(line)
    docs = {name: _clip(" ".join(text), DOC_LIMIT) for name, text in entries.items() if text}
    return {name: doc for name, doc in docs.items() if not doc.startswith("TODO")}  # notes


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _annotation(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = _DOTTED_RE.sub(r"\1", text.replace("typing.", ""))
    return _clip(text, ANNOTATION_LIMIT)


def _default(value: Any) -> str:
    """A stable, short ``repr`` of a default value."""
    if isinstance(value, enum.Enum):
        text = f"{type(value).__name__}.{value.name}"
    elif isinstance(value, set | frozenset):
        text = "{" + ", ".join(sorted(_default(v) for v in value)) + "}" if value else "set()"
    elif inspect.isclass(value) or inspect.isroutine(value):
        text = str(getattr(value, "__qualname__", "") or type(value).__name__)
    else:
        text = repr(value)
        if _ADDRESS_RE.search(text):
            text = f"<{type(value).__name__}>"
    return text if len(text) <= DEFAULT_LIMIT else text[: DEFAULT_LIMIT - 1] + "…"


# --- signatures -------------------------------------------------------------------------


def _signature(function: Callable[..., Any], docs: dict[str, str]) -> Json:
    """Parameters of ``function`` (self and ``*args`` left out) and its ``**kwargs`` use."""
    signature = inspect.signature(function)
    parameters: list[Json] = []
    var_keyword: str | None = None
    for index, param in enumerate(signature.parameters.values()):
        if index == 0 and param.name in ("self", "cls"):
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        if param.kind is param.VAR_KEYWORD:
            var_keyword = param.name
            continue
        entry: Json = {"name": param.name}
        if param.default is not param.empty:
            entry["default"] = _default(param.default)
        if (annotation := _annotation(param.annotation)) != "":
            entry["annotation"] = annotation
        if param.name in docs:
            entry["doc"] = docs[param.name]
        parameters.append(entry)
    result: Json = {"parameters": parameters}
    if var_keyword is not None:
        keys = _kwargs_keys(function, var_keyword)
        result["var_keyword"] = keys is None
        if keys:
            result["kwargs_keys"] = keys
    return result


def _kwargs_keys(function: Callable[..., Any], name: str) -> list[str] | None:
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
        return {"kind": "function", "module": obj.__module__, "doc": _summary(obj.__doc__)}
    if not inspect.isclass(obj):
        return None
    entry: Json = {
        "kind": _kind(obj, bases),
        "module": obj.__module__,
        "doc": _summary(obj.__doc__),
    }
    class_docs = parse_args_section(obj.__doc__)
    init = obj.__init__
    if init is not object.__init__:
        docs = {**parse_args_section(init.__doc__), **class_docs}
        entry["init"] = _signature(init, docs)
    if name in LOADER_BASES:
        entry["from_pretrained"] = _from_pretrained(getattr(obj, "from_pretrained"))  # noqa: B009
    if entry["kind"] in ("pipeline", "modular_pipeline") and "__call__" in _own_or_inherited(obj):
        call = obj.__call__
        entry["call"] = _signature(call, parse_args_section(call.__doc__))
        entry["call"]["doc"] = _summary(call.__doc__)
        names = {p["name"] for p in entry["call"]["parameters"]}
        entry["callback_on_step_end"] = "callback_on_step_end" in names
    if entry["kind"] == "pipeline":
        entry["optional_components"] = sorted(getattr(obj, "_optional_components", []) or [])
    if entry["kind"] == "modular_pipeline":
        _add_block_inputs(entry, obj)
    if entry["kind"] == "blocks":
        entry["inputs"] = _block_inputs(obj)
    return entry


def _from_pretrained(function: Callable[..., Any]) -> Json:
    """``from_pretrained``'s parameters, with the keywords its docstring documents for
    ``**kwargs`` added (default: what the entry says after "defaults to", else None)."""
    docs = parse_args_section(function.__doc__)
    result = _signature(function, docs)
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
            entry["default"] = _default(getattr(item, "default", None))
        hint = getattr(item, "type_hint", None)
        if hint is not None:
            entry["annotation"] = _annotation(hint)
        description = getattr(item, "description", None)
        if description:
            entry["doc"] = _clip(str(description), DOC_LIMIT)
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


# --- the module index -------------------------------------------------------------------


def build_modules() -> Json:
    """The ``diffusers_modules.json`` payload: module -> public names, from the source.

    Package ``__init__`` files (diffusers' lazy import tables, nested if/try blocks) are
    parsed with :mod:`ast`; other modules are scanned line by line, which is twenty times
    faster on diffusers' 27 MB of source and finds the same public names."""
    import diffusers

    root = Path(diffusers.__file__).resolve().parent
    modules: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if any(part.startswith("_") for part in parts):
            continue
        try:
            text = path.read_text(encoding="utf-8")
            names = _scan(text) if path.name != "__init__.py" else _collect(ast.parse(text).body)
        except (SyntaxError, UnicodeDecodeError):
            continue
        modules[".".join(parts)] = sorted(n for n in names if not n.startswith("_"))
    for module in list(modules):  # a package's submodules are its attributes too
        parent, _, child = module.rpartition(".")
        if parent in modules and child not in modules[parent]:
            modules[parent] = sorted([*modules[parent], child])
    return {
        "format": FORMAT,
        "generator": GENERATOR,
        "diffusers_version": diffusers.__version__,
        "modules": modules,
    }


def _collect(body: list[ast.stmt], names: set[str] | None = None) -> set[str]:
    """Top-level definitions, assignments and relative re-exports, also under if/try."""
    names = set() if names is None else names
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.update(a.asname or a.name for a in node.names if a.name != "*")
        elif isinstance(node, ast.If):
            _collect(node.body, names)
            _collect(node.orelse, names)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                _collect(block, names)
            for handler in node.handlers:
                _collect(handler.body, names)
    return names


def _scan(text: str) -> set[str]:
    """What :func:`_collect` finds, from the lines at column 0 and the first level of
    top-level if/try blocks (a docstring line that looks like an assignment may add a
    stray name: harmless, it only makes a dotted name look known)."""
    names: set[str] = set()
    compound = False
    block: int | None = None
    pending: str | None = None  # a parenthesised import still open
    for raw in text.splitlines():
        line = raw.split("#", 1)[0] if pending is not None or "import" in raw else raw
        if pending is not None:
            pending += " " + line
            if ")" in line:
                _imported(pending, names)
                pending = None
            continue
        stripped = line.lstrip()
        if not stripped:
            continue
        indent = len(line) - len(stripped)
        if indent == 0:
            compound, block = stripped.startswith(_COMPOUND), None
        elif not compound:
            continue
        else:
            block = indent if block is None else block
            if indent != block:
                continue
        match = _STATEMENT_RE.match(stripped)
        if match is None:
            continue
        if match["def"] or match["assign"]:
            names.add(match["def"] or match["assign"])
        elif "(" in match["names"] and ")" not in match["names"]:
            pending = match["names"]
        else:
            _imported(match["names"], names)
    return names


def _imported(text: str, names: set[str]) -> None:
    """Names bound by the ``a, b as c`` part of an import."""
    for part in text.replace("(", " ").replace(")", " ").replace("\\", " ").split(","):
        bits = part.split()
        if bits:
            names.add(bits[2] if len(bits) == 3 and bits[1] == "as" else bits[0])


# --- output -----------------------------------------------------------------------------


def dumps(payload: Json, table: str) -> str:
    """JSON with one line per entry of ``payload[table]`` (keys sorted inside each line),
    after the other keys: diffs show which entries changed, and the loader can read the
    header and the entry lines it needs without parsing the whole file."""
    head = [
        f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)},"
        for key, value in payload.items()
        if key != table
    ]
    rows = [
        f"{json.dumps(name)}: {json.dumps(entry, sort_keys=True)}"
        for name, entry in sorted(payload[table].items())
    ]
    return "{\n" + "\n".join(head) + f"\n{json.dumps(table)}: {{\n" + ",\n".join(rows) + "\n}}\n"


def _stale(path: Path, fresh: str) -> str | None:
    """Why the file at ``path`` does not match ``fresh``, or None when it does."""
    if not path.is_file():
        return f"{path} is missing"
    old_text = path.read_text(encoding="utf-8")
    if old_text == fresh:
        return None
    old, new = json.loads(old_text), json.loads(fresh)
    if old.get("diffusers_version") != new.get("diffusers_version"):
        return (
            f"{path.name} was generated for diffusers {old.get('diffusers_version')}, "
            f"the installed one is {new.get('diffusers_version')}"
        )
    key = "classes" if "classes" in new else "modules"
    old_items, new_items = old.get(key, {}), new.get(key, {})
    if key == "classes":
        # What this environment cannot import (a backend is missing on one side), it
        # cannot vouch for: such entries are compared by kind only.
        for name in set(old_items) | set(new_items):
            a, b = old_items.get(name), new_items.get(name)
            if a and b and ("requires" in a or "requires" in b) and a["kind"] == b["kind"]:
                old_items[name] = new_items[name] = {"kind": a["kind"]}
        if old == new:
            return None
    added = sorted(set(new_items) - set(old_items))
    removed = sorted(set(old_items) - set(new_items))
    changed = sorted(n for n in set(old_items) & set(new_items) if old_items[n] != new_items[n])
    parts = [
        f"{label} {len(names)}: {', '.join(names[:5])}{' …' if len(names) > 5 else ''}"
        for label, names in (("added", added), ("removed", removed), ("changed", changed))
        if names
    ]
    return f"{path.name} differs from a fresh generation ({'; '.join(parts) or 'formatting'})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dw_lsp.worker.catalog_gen")
    parser.add_argument("--check", action="store_true", help="exit 1 when the files are stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="output folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    classes, counts, failed = build_classes()
    modules = build_modules()
    outputs = {CLASSES_FILE: dumps(classes, "classes"), MODULES_FILE: dumps(modules, "modules")}
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    print(
        f"catalog: diffusers {classes['diffusers_version']}: {summary}; "
        f"{len(modules['modules'])} modules; {len(failed)} failed; {elapsed:.1f} s",
        file=sys.stderr,
    )
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)

    if args.check:
        problems = [p for n, text in outputs.items() if (p := _stale(args.output / n, text))]
        for problem in problems:
            print(f"stale catalog: {problem}", file=sys.stderr)
        if problems:
            print(
                "Regenerate it with: python -m dw_lsp.worker.catalog_gen (and commit the files)",
                file=sys.stderr,
            )
            return 1
        print("catalog is up to date", file=sys.stderr)
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in outputs.items():
        (args.output / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
