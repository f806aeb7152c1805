"""Fix data: what a quick fix needs, carried from the rule that found a problem to the
editor's code action in ``Diagnostic.data`` (ruff-lsp style: no code action re-validates).

One small frozen dataclass per kind; a problem may carry several (an undeclared variable:
declare it, or replace it with a close name). :func:`fix_data` writes them as the JSON
object :attr:`~dw_lsp.workflow.problem.Problem.data` holds, each kind under keys of its
own, and
:func:`parse_fix_data` reads that object back (the client returns it with the diagnostic,
so anything malformed is skipped, never trusted):

=================  =======================================  =================================
kind               JSON                                     the quick fix
=================  =======================================  =================================
:class:`Replace`   ``"replacements": [s, ...]``             replace the range with one of
                                                            them (JSON-quoted on a string)
:class:`Declare`   ``"declare": name``                      add ``"name": null`` to
                                                            ``variables``
:class:`AddKey`    ``"missingKey": {object, key}``          add the key to the object at
                                                            that path, with a value of the
                                                            type the schema asks for
:class:`InsertKey` ``"insertKey": {object, key, value}``    add ``"key": value`` to the
                                                            object at that path
:class:`Edit`      ``"edit": {start, end, newText}``        replace the text between two
                                                            offsets
:class:`Related`   ``"related": {path, line, column, ...}`` none: where a sub-workflow's
                                                            first error is
``NeedsSetting``   ``"setting": s`` (+ ``module`` or        none: the user setting that would
                   ``argument``)                            let it through
:class:`Refused`   ``"name": n``                            none: a name no setting allows
=================  =======================================  =================================

:data:`EDIT_KINDS` are the kinds that make a code action (``dw_lsp.server.actions`` turns
each into one; a test walks them all through the language server). Pure: no pygls,
lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

#: A document path: object keys and array indices from the root.
JsonPath = tuple[str | int, ...]


def _json_path(value: object) -> JsonPath | None:
    if not isinstance(value, list):
        return None
    if not all(
        isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in value
    ):
        return None
    return tuple(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Replace:
    """Replace the problem's range with one of ``options``, best first."""

    KEY: ClassVar[str] = "replacements"
    options: tuple[str, ...]

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: list(self.options)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Replace | None:
        value = data.get(cls.KEY)
        if not isinstance(value, list):
            return None
        options = tuple(v for v in value if isinstance(v, str))
        return cls(options) if options else None


def replacing(options: Iterable[str]) -> Replace | None:
    """:class:`Replace` with ``options`` (kept in order), or None when there is none."""
    found = tuple(options)
    return Replace(found) if found else None


@dataclass(frozen=True)
class Declare:
    """Declare the variable ``name`` in the workflow's ``variables``."""

    KEY: ClassVar[str] = "declare"
    name: str

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: self.name}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Declare | None:
        value = data.get(cls.KEY)
        return cls(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class AddKey:
    """Add the required ``key`` to the object at ``object``; the editor picks a value of
    the type the schema asks for."""

    KEY: ClassVar[str] = "missingKey"
    object: JsonPath
    key: str

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: {"object": list(self.object), "key": self.key}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> AddKey | None:
        value = data.get(cls.KEY)
        if not isinstance(value, dict):
            return None
        path, key = _json_path(value.get("object")), value.get("key")
        return cls(path, key) if path is not None and isinstance(key, str) and key else None


@dataclass(frozen=True)
class InsertKey:
    """Add ``"key": value`` to the object at ``object``."""

    KEY: ClassVar[str] = "insertKey"
    object: JsonPath
    key: str
    value: Any

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: {"object": list(self.object), "key": self.key, "value": self.value}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> InsertKey | None:
        value = data.get(cls.KEY)
        if not isinstance(value, dict) or "value" not in value:
            return None
        path, key = _json_path(value.get("object")), value.get("key")
        if path is None or not isinstance(key, str) or not key:
            return None
        return cls(path, key, value["value"])


@dataclass(frozen=True)
class Edit:
    """Replace the text between the offsets ``start`` and ``end`` with ``new_text``."""

    KEY: ClassVar[str] = "edit"
    start: int
    end: int
    new_text: str

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: {"start": self.start, "end": self.end, "newText": self.new_text}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Edit | None:
        value = data.get(cls.KEY)
        if not isinstance(value, dict):
            return None
        start, end, text = _int(value.get("start")), _int(value.get("end")), value.get("newText")
        if start is None or end is None or not isinstance(text, str) or not 0 <= start <= end:
            return None
        return cls(start, end, text)


@dataclass(frozen=True)
class Related:
    """Not a fix: where the first error of a sub-workflow is (1-based line and column)."""

    KEY: ClassVar[str] = "related"
    path: str
    line: int
    column: int
    code: str
    message: str

    def to_data(self) -> dict[str, Any]:
        fields = ("path", "line", "column", "code", "message")
        return {self.KEY: {name: getattr(self, name) for name in fields}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Related | None:
        value = data.get(cls.KEY)
        if not isinstance(value, dict):
            return None
        line, column = _int(value.get("line")), _int(value.get("column"))
        texts = [value.get(k) for k in ("path", "code", "message")]
        if line is None or column is None or not all(isinstance(t, str) for t in texts):
            return None
        return cls(str(texts[0]), line, column, str(texts[1]), str(texts[2]))


@dataclass(frozen=True)
class NeedsSetting:
    """Not a fix: the user-level ``setting`` that would let this through, with what to add
    to it (``module``, for ``worker.allowedModules``) or the loading ``argument`` it lets
    pass (``worker.allowRemoteCode``)."""

    KEY: ClassVar[str] = "setting"
    setting: str
    module: str | None = None
    argument: str | None = None

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {self.KEY: self.setting}
        if self.module is not None:
            data["module"] = self.module
        if self.argument is not None:
            data["argument"] = self.argument
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> NeedsSetting | None:
        setting, module, argument = (data.get(k) for k in (cls.KEY, "module", "argument"))
        if not isinstance(setting, str) or not setting:
            return None
        return cls(
            setting,
            module if isinstance(module, str) else None,
            argument if isinstance(argument, str) else None,
        )


@dataclass(frozen=True)
class Refused:
    """Not a fix: the name a workflow may not use at all (no setting lets it through)."""

    KEY: ClassVar[str] = "name"
    name: str

    def to_data(self) -> dict[str, Any]:
        return {self.KEY: self.name}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Refused | None:
        value = data.get(cls.KEY)
        return cls(value) if isinstance(value, str) and value else None


FixData = Replace | Declare | AddKey | InsertKey | Edit | Related | NeedsSetting | Refused
#: Every kind, in the order :func:`parse_fix_data` reads them.
FIX_KINDS: tuple[type[FixData], ...] = (
    Replace,
    Declare,
    AddKey,
    InsertKey,
    Edit,
    Related,
    NeedsSetting,
    Refused,
)
#: The kinds that make a code action.
EDIT_KINDS: tuple[type[FixData], ...] = (Replace, Declare, AddKey, InsertKey, Edit)


def fix_data(*fixes: FixData | None) -> dict[str, Any] | None:
    """The JSON object of ``fixes`` (None entries skipped); None when there is none."""
    data: dict[str, Any] = {}
    for fix in fixes:
        if fix is not None:
            data.update(fix.to_data())
    return data or None


def parse_fix_data(data: object) -> list[FixData]:
    """The fix data in a diagnostic's ``data``; what is malformed is left out."""
    if not isinstance(data, Mapping):
        return []
    found = (kind.from_data(data) for kind in FIX_KINDS)
    return [fix for fix in found if fix is not None]


def moved(fix: FixData, offset: int, prefix: JsonPath) -> FixData:
    """``fix`` for a workflow that sits at ``offset`` and document path ``prefix`` inside a
    larger document (``dw-lsp check`` on a root array of workflows)."""
    if isinstance(fix, Edit):
        return replace(fix, start=fix.start + offset, end=fix.end + offset)
    if isinstance(fix, AddKey | InsertKey):
        return replace(fix, object=(*prefix, *fix.object))
    return fix
