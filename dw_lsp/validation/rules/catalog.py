"""Checks a workflow against the pipeline catalog (codes DW301–DW304).

* **DW301** (warning): a ``*_type`` / ``*_dtype`` / ``dtype`` value names no class of the
  installed diffusers: a bare class-like name (``FluxPipelin``), or a dotted
  ``diffusers.…`` name whose module or attribute does not exist. Other bare words
  (``pil``, ``bfloat16``) are string categories: the unescaped-category rule (DW222 in
  :mod:`dw_lsp.validation.rules.values`) reports them, so each value gets one problem.
* **DW302** (warning): a key of a pipeline step's ``arguments`` (or of a
  ``pipeline_reference`` to it) that the pipeline class's ``__call__`` does not take.
* **DW303** (warning): a dotted name or a ``pre_load_modules`` entry outside the worker's
  import allowlist (``worker.allowedModules`` extends it): this tool will refuse it.
* **DW304** (info): a ``dw.…`` name, which only diffusers-workflow itself can resolve.
* **DW305** (error): a type name a workflow may not use at all - a function, a module,
  anything under ``utils``, a class of torch/PIL/numpy, a class the format does not need
  (:mod:`dw_lsp.validation.rules.names`); the worker refuses it whatever the settings.

Warnings, not errors: the catalog is generated from one diffusers version and the user's
may differ. Dotted names are reported once per distinct name (DW303: per module) per file,
at the first place, with a count of the others. Escaped ``"{x}"`` values and ``variable:``
/ ``constant:`` references are not checked. Pure: reads the catalog's data; never imports
diffusers, torch, pygls or lsprotocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from dw_lsp.catalog import MODEL, PIPELINE_KINDS, SCHEDULER, Catalog, PipelineInfo, load_catalog
from dw_lsp.validation.codes import severity_of
from dw_lsp.validation.context import CheckContext
from dw_lsp.validation.fixes import FixData, NeedsSetting, Refused, fix_data, replacing
from dw_lsp.validation.rules.names import REFUSED_DIFFUSERS_CLASSES, name_refusal
from dw_lsp.validation.suggest import close_matches
from dw_lsp.workflow.code_rules import (
    ALLOWED_MODULES_SETTING,
    CLASS_LIBRARIES,
    DATA_LIBRARIES,
    QUANTIZATION_PACKAGES,
    normalise_prefixes,
)
from dw_lsp.workflow.document import Document, Path, Span
from dw_lsp.workflow.problem import Problem
from dw_lsp.workflow.refs import CONSTANT_NAME_RE, is_escaped, is_type_key

#: The worker resolves classes (each by its rule) under these module prefixes ...
TRUSTED_MODULES = CLASS_LIBRARIES + QUANTIZATION_PACKAGES
#: ... and dtypes and enum values under these (dw_lsp.worker.values.typenames).
DATA_MODULES = DATA_LIBRARIES
#: Names that only diffusers-workflow can resolve (``dw.community_pipelines.…``).
DW_PACKAGE = "dw"

#: Bare values checked here; other bare words are string categories (DW222's case).
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_REFERENCES = ("variable:", "constant:", "previous_result:")
#: Keys whose call targets another method than ``__call__`` (FORMAT.md 1.4.1).
_OTHER_METHODS = ("inversion", "generate")


def check_catalog(doc: Document, ctx: CheckContext) -> list[Problem]:
    """Every catalog problem of ``doc`` (unsorted; ``check_document`` sorts)."""
    if not isinstance(doc.value, dict):
        return []
    checker = _Checker(doc, load_catalog(), normalise_prefixes(ctx.allowed_modules))
    checker.run(doc.value)
    return checker.problems


#: What a walk finds, replayed into problems by :meth:`_Checker.replay`: ``("at", code,
#: path, message, fix)`` (on the value at path), ``("key", code, key path, path, message,
#: fix)`` (on a key, else the value at path) or ``("once", code, name, path, message,
#: fix)`` (one problem per name and file).
_Event = tuple[Any, ...]


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@dataclass
class _Group:
    """The first place of a name reported once per file, and how many places it has."""

    code: str
    path: Path
    message: str
    fix: FixData | None
    count: int = 1


class _Checker:
    def __init__(self, doc: Document, catalog: Catalog, allowed: tuple[str, ...]) -> None:
        self.doc = doc
        self.catalog = catalog
        self.allowed = allowed
        self.version = catalog.diffusers_version
        self.problems: list[Problem] = []
        self.groups: dict[tuple[str, str], _Group] = {}
        self.events: list[_Event] = []
        #: The findings of a step depend on these and on the step alone.
        self.memo_name = ("catalog", id(catalog), allowed)

    def run(self, root: dict[str, Any]) -> None:
        variables = root.get("variables")
        if isinstance(variables, dict):
            self.walk(variables, ("variables",))
        steps = root.get("steps")
        if isinstance(steps, list):
            for index, step in enumerate(steps):
                if not isinstance(step, dict):
                    continue
                # what the step alone decides, found again by identity when it is unchanged
                self.events.extend(
                    self.doc.step_memo(self.memo_name, index, step, partial(self.own, step, index))
                )
                if not isinstance(step.get("pipeline"), dict):  # may name an earlier step
                    self.step_arguments(steps, index, step)
        self.replay()

    def own(self, step: dict[str, Any], index: int) -> list[_Event]:
        """The events of ``step`` that depend on it alone: its type names and, for a
        ``pipeline`` step, its call arguments."""
        outer, self.events = self.events, []
        try:
            self.walk(step, ("steps", index))
            if isinstance(step.get("pipeline"), dict):
                self.step_arguments([], index, step)
            return self.events
        finally:
            self.events = outer

    def replay(self) -> None:
        """The recorded events as problems, in the order they were found."""
        for event in self.events:
            if event[0] == "at":
                _, code, path, message, fix = event
                self.report(code, self.value_span(path), message, fix)
            elif event[0] == "key":
                _, code, key_path, path, message, fix = event
                span = self.doc.key_span(key_path) or self.value_span(path)
                self.report(code, span, message, fix)
            else:
                _, code, name, path, message, fix = event
                group = self.groups.get((code, name))
                if group is None:
                    self.groups[(code, name)] = _Group(code, path, message, fix)
                else:
                    group.count += 1
        for group in self.groups.values():
            message = group.message
            if group.count > 1:
                more = group.count - 1
                message += f" ({more} more place{'s' if more > 1 else ''} in this file.)"
            self.report(group.code, self.value_span(group.path), message, group.fix)

    # --- type names -------------------------------------------------------------------
    def walk(self, node: Any, path: Path) -> None:
        """Type names in document order (the parser bounds the depth at MAX_JSON_DEPTH)."""
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, (dict, list)):
                    self.walk(item, (*path, index))
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    if is_type_key(key) and not (key == "media_type" and "location" in node):
                        self.type_name(key, value, (*path, key))
                elif key == "pre_load_modules" and path[-1:] == ("configuration",):
                    self.modules(value, (*path, key))
                elif isinstance(value, (dict, list)):
                    self.walk(value, (*path, key))

    def type_name(self, key: str, value: str, path: Path) -> None:
        if not value or is_escaped(value) or value.startswith(_REFERENCES):
            return
        if "." in value:
            if CONSTANT_NAME_RE.match(value):
                self.dotted(value, path)
            return
        if value in REFUSED_DIFFUSERS_CLASSES:
            message = name_refusal(value, self.catalog, self.allowed) or ""
            self.once("DW305", value, path, message, Refused(value))
            return
        if self.catalog.has_class(value) or not _CLASS_NAME.match(value):
            return
        replacements = self.catalog.suggest(value, _kinds_for(key, path))
        message = f"'{value}' is not a class of diffusers {self.version}"
        if replacements:
            message += f"; did you mean {replacements[0]}?"
        else:
            message += (
                "; a bare name is looked up in diffusers: write a dotted name "
                f"(e.g. transformers.{value}) for another library's class."
            )
        self.events.append(("at", "DW301", path, message, replacing(replacements)))

    def dotted(self, value: str, path: Path) -> None:
        parts = value.split(".")
        if any(part.startswith("_") for part in parts):
            self.once(
                "DW303",
                value,
                path,
                f"'{value}' reaches a private name (a part starting "
                "with '_'); this tool will refuse to load it.",
            )
        elif parts[0] != DW_PACKAGE and (
            refusal := name_refusal(value, self.catalog, self.allowed)
        ):
            self.once("DW305", value, path, refusal, Refused(value))
        elif _under(value, ("diffusers",)):
            found = self.catalog.lookup_dotted(value)
            if not found.found:
                message = (
                    f"'{value}' does not exist in diffusers {self.version}: "
                    f"'{found.module}' has no '{found.missing}'"
                )
                if found.candidates:
                    message += f"; did you mean {found.candidates[0]}?"
                else:
                    message += " (it may come from another diffusers version)."
                self.once("DW301", value, path, message, replacing(found.candidates))
        elif _under(value, self.allowed):
            return
        elif parts[0] == DW_PACKAGE:
            self.once(
                "DW304",
                value,
                path,
                f"'{value}' is resolvable only inside "
                "diffusers-workflow; this tool cannot load it.",
            )
        elif not _under(value, TRUSTED_MODULES + DATA_MODULES):
            self.outside(parts[0], value, path)

    def modules(self, value: Any, path: Path) -> None:
        """``configuration.pre_load_modules``: module names the worker would import."""
        if not isinstance(value, list):
            return
        for index, module in enumerate(value):
            if not isinstance(module, str) or not CONSTANT_NAME_RE.match(module):
                continue
            if not _under(module, TRUSTED_MODULES + DATA_MODULES + self.allowed):
                self.outside(module.split(".")[0], module, (*path, index))

    def outside(self, module: str, value: str, path: Path) -> None:
        allowed = ", ".join(TRUSTED_MODULES + DATA_MODULES + self.allowed)
        what = f"Module '{module}'" if value == module else f"'{value}' (module '{module}')"
        message = (
            f"{what} is outside the worker's import allowlist ({allowed}); this tool will "
            f"refuse to load it. Add '{module}' to the setting {ALLOWED_MODULES_SETTING} if "
            "you trust it."
        )
        fix = NeedsSetting(ALLOWED_MODULES_SETTING, module=module)
        self.once("DW303", module, path, message, fix)

    # --- call arguments -----------------------------------------------------------------
    def step_arguments(self, steps: list[Any], index: int, step: dict[str, Any]) -> None:
        body = step.get("pipeline")
        if isinstance(body, dict):
            self.arguments(self.pipeline_of(body), body, ("steps", index, "pipeline"))
            return
        reference = step.get("pipeline_reference")
        if not isinstance(reference, dict):
            return
        name = reference.get("reference_name")
        for earlier in reversed(steps[:index]):
            if isinstance(earlier, dict) and earlier.get("name") == name:
                target = earlier.get("pipeline")
                info = self.pipeline_of(target) if isinstance(target, dict) else None
                self.arguments(info, reference, ("steps", index, "pipeline_reference"))
                return

    def pipeline_of(self, body: dict[str, Any]) -> PipelineInfo | None:
        """The catalog pipeline a ``pipeline`` object loads, when its call is known."""
        configuration = body.get("configuration")
        loading = body.get("from_pretrained_arguments")
        if not isinstance(configuration, dict):
            return None
        if isinstance(loading, dict) and loading.get("custom_pipeline") is not None:
            return None  # diffusers loads a community pipeline instead of the class
        name = configuration.get("component_type")
        if not isinstance(name, str):
            return None
        if name.startswith("diffusers."):
            if not self.catalog.lookup_dotted(name).found:
                return None
            name = name.rpartition(".")[2]
        return self.catalog.pipeline(name)

    def arguments(self, info: PipelineInfo | None, body: dict[str, Any], path: Path) -> None:
        arguments = body.get("arguments")
        configuration = body.get("configuration")
        if info is None or info.call is None or not isinstance(arguments, dict):
            return
        if isinstance(configuration, dict) and any(
            configuration.get(k) is True for k in _OTHER_METHODS
        ):
            return  # the arguments go to invert() / generate(), not __call__
        call = info.call
        if call.var_keyword:
            return
        for key in arguments:
            if key == "generator" or call.accepts(key):
                continue
            replacements = close_matches(key, call.parameters)
            message = f"'{key}' is not an argument of {info.name} in diffusers {self.version}"
            message += f"; did you mean '{replacements[0]}'?" if replacements else "."
            message += (
                " The pipeline silently ignores unknown arguments."
                if call.has_kwargs
                else " The call fails with an unexpected-keyword error."
            )
            key_path = (*path, "arguments", key)
            self.events.append(("key", "DW302", key_path, path, message, replacing(replacements)))

    # --- reporting ------------------------------------------------------------------------
    def once(
        self, code: str, name: str, path: Path, message: str, fix: FixData | None = None
    ) -> None:
        self.events.append(("once", code, name, path, message, fix))

    def report(self, code: str, span: Span, message: str, fix: FixData | None) -> None:
        data = fix_data(fix)
        self.problems.append(Problem(code, severity_of(code), message, span[0], span[1], data))

    def value_span(self, path: Path) -> Span:
        while path:
            span = self.doc.value_span(path)
            if span is not None:
                return span
            path = path[:-1]
        return self.doc.value_span(()) or (0, 0)


def _kinds_for(key: str, path: Path) -> tuple[str, ...] | None:
    """The kinds a did-you-mean prefers for a type key at ``path``."""
    if key == "scheduler_type":
        return (SCHEDULER,)
    if key == "component_type":
        if path[-3:-1] == ("pipeline", "configuration"):
            return PIPELINE_KINDS
        return (MODEL,)
    return None
