"""What a value position or an argument map can hold: the candidates behind completion.

:func:`value_candidates` answers "which strings make sense here" for the value at a
document path: declared variables after ``variable:``, earlier steps after
``previous_result:`` and in ``reference_name`` / ``from_previous_result`` / a task's
``pipeline_reference``, pipeline and model classes for ``component_type`` (catalog),
schedulers for ``scheduler_type``, ``torch.*`` dtypes for ``*_dtype`` keys, ``builtin:``
names for a sub-workflow ``path``, ``content_type`` values, task commands, and the schema's
enums and examples. :func:`file_candidates` lists the folder entries a sub-workflow
``path`` or a media path may name (FORMAT.md 1.7, 1.9.7), never outside the workflow's
folder (4.8). :func:`argument_candidates` lists the keys an ``arguments`` map takes: the
pipeline's call parameters (catalog), a task's arguments, a sub-workflow's variables.
Pure apart from listing folders: plain data in and out.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from dw_lsp.server.knowledge import CONTENT_TYPES, TORCH_DTYPES, Knowledge
from dw_lsp.server.schema_nav import Schema, describe_schemas, enum_of, types_of
from dw_lsp.workflow.document import Path
from dw_lsp.workflow.files import builtin_names, existing_builtin, read_workflow_text
from dw_lsp.workflow.outline import Outline, Step
from dw_lsp.workflow.refs import (
    BUILTIN,
    CONSTANT,
    MEDIA_IMAGE_EXTENSIONS,
    MEDIA_VIDEO_EXTENSIONS,
    PREVIOUS_RESULT,
    VARIABLE,
    builtin_name,
    is_type_key,
    media_kind_of_key,
)

#: Candidate kinds; completion maps them to CompletionItemKind.
VARIABLE_KIND, STEP_KIND, CLASS_KIND, CONSTANT_KIND = "variable", "step", "class", "constant"
FILE_KIND, ENUM_KIND, VALUE_KIND, COMMAND_KIND = "file", "enum", "value", "command"
FOLDER_KIND = "folder"

#: At most this many folder entries are offered, and this many are looked at.
FILE_LIMIT = 200
SCAN_LIMIT = 5000
_EXTENSIONS = {
    "image": MEDIA_IMAGE_EXTENSIONS,
    "video": MEDIA_VIDEO_EXTENSIONS,
    "workflow": (".json",),
}
_NOT_PATHS = (VARIABLE, PREVIOUS_RESULT, CONSTANT, BUILTIN, "http://", "https://", "~")


@dataclass(frozen=True)
class Candidate:
    """One value a string may take. ``rank`` orders groups (lower first)."""

    value: str
    kind: str
    detail: str | None = None
    doc: str | None = None
    rank: int = 1


@dataclass(frozen=True)
class ArgumentCandidate:
    """One key an ``arguments`` map takes; ``default`` is a JSON value when known."""

    name: str
    doc: str | None
    has_default: bool
    default: Any = None
    required: bool = False


def _step_detail(step: Step) -> str:
    parts = [step.kind or "step"]
    if step.component_type:
        parts.append(step.component_type)
    elif step.command:
        parts.append(step.command)
    elif step.reference_name:
        parts.append(f"-> {step.reference_name}")
    if step.content_type:
        parts.append(step.content_type)
    return " · ".join(parts)


def _short_json(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _earlier_steps(outline: Outline, path: Path, pipelines_only: bool = False) -> list[Step]:
    current = path[1] if len(path) > 1 and path[0] == "steps" and isinstance(path[1], int) else None
    return [
        s
        for s in outline.steps
        if s.name is not None
        and (current is None or s.index < current)
        and (not pipelines_only or s.kind == "pipeline")
    ]


def variable_candidates(outline: Outline) -> list[Candidate]:
    return [
        Candidate(VARIABLE + name, VARIABLE_KIND, "= " + _short_json(value), rank=0)
        for name, value in (outline.variables or {}).items()
    ]


def step_candidates(
    outline: Outline, path: Path, prefix: str = "", pipelines_only: bool = False
) -> list[Candidate]:
    return [
        Candidate(prefix + str(s.name), STEP_KIND, _step_detail(s), rank=0)
        for s in _earlier_steps(outline, path, pipelines_only)
    ]


def _free_string(schemas: list[Schema]) -> bool:
    """Whether a ``variable:`` string may stand here: no schema, or a string without enum."""
    if not schemas:
        return True
    kinds = types_of(schemas)
    return (not kinds or "string" in kinds) and not enum_of(schemas)


def _in_arguments(path: Path) -> bool:
    return "arguments" in path or "prompts" in path


def _class_kinds(path: Path) -> tuple[str, ...]:
    """Catalog kinds for a ``component_type`` at ``path``."""
    if path[2:] == ("pipeline", "configuration", "component_type"):
        return ("pipeline", "modular_pipeline")
    return ("model",)


def _catalog_classes(know: Knowledge, kinds: tuple[str, ...]) -> list[Candidate]:
    catalog = know.catalog
    if catalog is None:
        return []
    return [
        Candidate(name, CLASS_KIND, catalog.kind_of(name), rank=0)
        for name in catalog.class_names(kinds)
    ]


def _names_pipeline_step(path: Path) -> bool:
    """``reference_name`` of a pipeline_reference step, or a task's ``pipeline_reference``."""
    return path[2:] in (("pipeline_reference", "reference_name"), ("task", "pipeline_reference"))


def _is_task(path: Path) -> bool:
    return len(path) >= 3 and path[0] == "steps" and path[2] == "task"


def value_candidates(path: Path, prefix: str, outline: Outline, know: Knowledge) -> list[Candidate]:
    """Strings that fit the value at ``path``, whose text so far is ``prefix``."""
    key = path[-1] if path and isinstance(path[-1], str) else None
    if prefix.startswith(VARIABLE):
        return variable_candidates(outline)
    if prefix.startswith(PREVIOUS_RESULT):
        return step_candidates(outline, path, PREVIOUS_RESULT)
    if key == "from_previous_result":
        return step_candidates(outline, path)
    if _names_pipeline_step(path):
        return step_candidates(outline, path, pipelines_only=True)
    out: list[Candidate] = []
    if key == "component_type":
        out += _catalog_classes(know, _class_kinds(path))
    elif key == "scheduler_type":
        out += _catalog_classes(know, ("scheduler",))
    elif key == "command" and _is_task(path):
        out += [
            Candidate(name, COMMAND_KIND, spec.group, spec.description, rank=0)
            for name, spec in sorted(know.tasks.items())
        ]
    elif key == "content_type":
        out += [Candidate(c, VALUE_KIND, rank=0) for c in CONTENT_TYPES]
    elif key is not None and is_type_key(key) and (key.endswith("_dtype") or key == "dtype"):
        out += [Candidate(d, CONSTANT_KIND, rank=0) for d in TORCH_DTYPES]
        if key == "torch_dtype":
            out.append(Candidate("{auto}", CONSTANT_KIND, "let diffusers choose", rank=0))
    elif key == "path" and path[2:] == ("workflow", "path"):
        out += [
            Candidate(BUILTIN + name, FILE_KIND, "built-in sub-workflow", rank=0)
            for name in builtin_names()
        ]
    schemas = know.schema.at(path)
    seen = {c.value for c in out}
    doc = describe_schemas(schemas)
    for value in enum_of(schemas):
        if isinstance(value, str) and value not in seen:
            out.append(Candidate(value, ENUM_KIND, doc=doc, rank=0))
            seen.add(value)
    for schema in schemas:
        for example in schema.get("examples", ()) or ():
            if isinstance(example, str) and example not in seen:
                out.append(Candidate(example, VALUE_KIND, "example", doc, rank=2))
                seen.add(example)
    if not _free_string(schemas):
        return out
    if VARIABLE.startswith(prefix):
        out += [
            Candidate(c.value, c.kind, c.detail, rank=3)
            for c in variable_candidates(outline)
            if c.value not in seen
        ]
    if _in_arguments(path) and PREVIOUS_RESULT.startswith(prefix):
        out += [
            Candidate(c.value, c.kind, c.detail, rank=3)
            for c in step_candidates(outline, path, PREVIOUS_RESULT)
        ]
    return out


# -- file paths ------------------------------------------------------------------------
def _is_workflow_path(path: Path) -> bool:
    return len(path) == 4 and path[0] == "steps" and path[2:] == ("workflow", "path")


def _last_key(path: Path) -> str | None:
    """The innermost key of ``path``, list indices skipped (lists of media paths)."""
    return next((p for p in reversed(path) if isinstance(p, str)), None)


def path_kind(path: Path, media_type: object = None) -> str | None:
    """``"workflow"``, ``"image"`` or ``"video"`` when the string at ``path`` names a file:
    a sub-workflow ``path`` (FORMAT.md 1.7), or a media path (1.9.7) under an ``image`` /
    ``*_image`` / ``video`` / ``*_video`` key, in a list under one, or as the ``location``
    of an object under one or with an explicit ``media_type`` (passed as ``media_type``)."""
    if _is_workflow_path(path):
        return "workflow"
    key = _last_key(path)
    if key is None:
        return None
    if key == "location" and path[-1] == "location":
        if media_type in ("image", "video"):
            return str(media_type)
        key = _last_key(path[:-1])
        return media_kind_of_key(key) if key is not None else None
    return media_kind_of_key(key)


def _inside(path: FsPath, root: FsPath) -> bool:
    return path == root or root in path.parents


def file_candidates(kind: str, typed: str, base_dir: FsPath | None) -> list[Candidate]:
    """Entries of the folder named by ``typed`` (the path typed so far, relative to
    ``base_dir``) whose names start with what follows its last ``/``: sub-folders first
    (with a trailing ``/``), then files with the extensions ``kind`` allows. Hidden entries,
    names dw's path check rejects (``..``) and anything that resolves outside ``base_dir``
    (FORMAT.md 4.8) are left out; nothing for an unsaved buffer (``base_dir`` None)."""
    extensions = _EXTENSIONS.get(kind)
    if base_dir is None or extensions is None or typed.startswith(_NOT_PATHS):
        return []
    normal = typed.replace("\\", "/")
    if ".." in normal or "~/" in normal or "\x00" in normal:
        return []
    cut = max(typed.rfind("/"), typed.rfind("\\")) + 1
    head, stem = typed[:cut], normal[cut:].casefold()
    try:
        root = base_dir.resolve()
        folder = (root / normal[:cut]).resolve()
    except (OSError, RuntimeError, ValueError):
        return []
    if not _inside(folder, root):
        return []
    folders: list[str] = []
    files: list[str] = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= SCAN_LIMIT:
                    break
                name = entry.name
                if name.startswith(".") or ".." in name or not name.casefold().startswith(stem):
                    continue
                try:
                    if entry.is_symlink() and not _inside(FsPath(entry.path).resolve(), root):
                        continue
                    if entry.is_dir():
                        folders.append(name)
                    elif entry.is_file() and name.lower().endswith(extensions):
                        files.append(name)
                except (OSError, RuntimeError):
                    continue
    except (OSError, ValueError):
        return []
    detail = {"workflow": "workflow file", "image": "image file", "video": "video file"}[kind]
    out = [Candidate(head + name + "/", FOLDER_KIND, "folder", rank=0) for name in sorted(folders)]
    out += [Candidate(head + name, FILE_KIND, detail, rank=0) for name in sorted(files)]
    return out[:FILE_LIMIT]


# -- argument maps ---------------------------------------------------------------------
def _literal(text: Any) -> tuple[bool, Any]:
    """A catalog default (a Python repr) as a JSON value, when it is a plain literal."""
    if not isinstance(text, str):
        return text is not None, text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False, None
    if value is None or isinstance(value, (bool, int, float, str)):
        return True, value
    return False, None


def _child_variables(
    step: Step, know: Knowledge, base_dir: FsPath | None
) -> list[ArgumentCandidate]:
    target = step.workflow_path
    if not target:
        return []
    name = builtin_name(target)
    file = existing_builtin(name) if name is not None else None
    if name is None and base_dir is not None and not target.startswith(VARIABLE):
        file = base_dir / target
    if file is None:
        return []
    try:
        value = json.loads(read_workflow_text(file))
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    variables = value.get("variables") if isinstance(value, dict) else None
    if not isinstance(variables, dict):
        return []
    return [
        ArgumentCandidate(k, f"Variable of {file.name}.", True, v) for k, v in variables.items()
    ]


def argument_candidates(
    path: Path, outline: Outline, know: Knowledge, base_dir: FsPath | None = None
) -> list[ArgumentCandidate]:
    """Keys of the ``arguments`` object at ``path`` (``steps/i/<kind>/arguments``)."""
    if len(path) != 4 or path[0] != "steps" or path[3] != "arguments":
        return []
    index, kind = path[1], path[2]
    step = next((s for s in outline.steps if s.index == index), None)
    if step is None:
        return []
    if kind == "task" and step.command:
        spec = know.tasks.get(step.command)
        if spec is None:
            return []
        out = [
            ArgumentCandidate(
                a.name, a.description, a.default is not None, _jsonable(a.default), a.required
            )
            for a in spec.args
        ]
        if spec.device and spec.arg("device") is None:
            out.append(ArgumentCandidate("device", "Device for the task, e.g. cuda.", False))
        return out
    if kind == "workflow":
        return _child_variables(step, know, base_dir)
    pipeline = step.component_type
    if kind == "pipeline_reference" and step.reference_name:
        target = outline.step(step.reference_name)
        pipeline = target.component_type if target else None
    if kind not in ("pipeline", "pipeline_reference") or not pipeline or know.catalog is None:
        return []
    params = know.catalog.call_parameters(pipeline)
    out = []
    for name, info in params.items():
        has_default, default = _literal(info.default)
        out.append(ArgumentCandidate(name, info.doc or None, has_default, default))
    return out


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
