"""Realizing argument maps at run start (FORMAT.md 1.9.3, 1.9.5-1.9.7): constants,
media, type strings and object descriptions become Python objects.

Owns the value order of 1.9.5 for each ``key: value`` pair, the ``{}`` escape, the media
forms under ``image``/``video`` keys (a path, a URL, ``{location: ...}`` - also when the
location is an already-loaded image from a variable, our fix of dw's bug in 1.9.1 - lists
of those, ``null``), and building ``from_file`` / ``from_arguments`` objects;
``from_previous_result`` descriptions are only checked here and built per iteration by
:mod:`.iterations`. Every function returns a new structure; inputs are not mutated.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from dw_lsp.worker.values.media import (
    ANY_MEDIA_EXTENSIONS,
    MediaError,
    check_extension,
    check_path,
    check_url,
    load_image_location,
    load_video_location,
    looks_like_url,
)
from dw_lsp.worker.values.typenames import TypeResolver
from dw_lsp.workflow import refs

FROM_FILE = "from_file"
FROM_ARGUMENTS = "from_arguments"
FROM_PREVIOUS_RESULT = "from_previous_result"
FROM_KEYS = (FROM_FILE, FROM_ARGUMENTS, FROM_PREVIOUS_RESULT)
#: What a ``from_previous_result`` type must declare as its ``kind``.
MEDIA_KINDS = ("image", "video", "audio")


class MediaLoader(Protocol):
    """Loads media in place of the default loaders (see :func:`realize`)."""

    def load(self, kind: str, location: str, base_dir: Path, roots: Sequence[Path]) -> Any:
        """An image (``kind`` image) or a list of frames (video) for ``location``."""

    def file(self, location: str, base_dir: Path, roots: Sequence[Path]) -> str:
        """The checked path or URL a ``from_file`` object opens."""


class EscapedString(str):
    """A string whose ``{}`` escape was consumed; later passes leave it literal."""


def _deferred(value: object) -> bool:
    """``variable:`` / ``previous_result:`` strings are resolved later, not here."""
    return refs.variable_name(value) is not None or refs.previous_result_target(value) is not None


def type_value(key: str, value: Any, resolver: TypeResolver) -> Any:
    """A value under a ``*_type``/``*_dtype``/``dtype`` key (or an exempt key)."""
    if not isinstance(value, str) or isinstance(value, EscapedString) or _deferred(value):
        return value
    if refs.is_escaped(value):
        return EscapedString(value[1:-1])
    if key in refs.STRING_TYPE_KEYS:
        return value
    return resolver.resolve(value)


def resolve_type_strings(node: Any, resolver: TypeResolver) -> Any:
    """Types and constants of a ``configuration`` / ``from_pretrained_arguments`` /
    component / scheduler block; no media and no objects are built here."""
    constant = refs.constant_name(node)
    if constant is not None:
        return resolver.resolve_constant(constant)
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if refs.constant_name(value) is not None:
                out[key] = resolver.resolve_constant(refs.constant_name(value) or "")
            elif isinstance(key, str) and (refs.is_type_key(key) or key in refs.STRING_TYPE_KEYS):
                out[key] = type_value(key, value, resolver)
            else:
                out[key] = resolve_type_strings(value, resolver)
        return out
    if isinstance(node, list):
        return [resolve_type_strings(item, resolver) for item in node]
    return node


class _Realizer:
    """One realization pass: the base directory, extra roots and resolver travel here."""

    def __init__(
        self,
        base_dir: Path,
        resolver: TypeResolver,
        roots: Sequence[Path],
        media: MediaLoader | None = None,
    ) -> None:
        self.base_dir = base_dir
        self.resolver = resolver
        self.roots = roots
        self.loader = media

    # --- maps and lists -------------------------------------------------------------

    def mapping(self, node: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            out[key] = self.pair(key, value)
        return out

    def pair(self, key: str, value: Any) -> Any:
        constant = refs.constant_name(value)
        if constant is not None:
            return self.resolver.resolve_constant(constant)
        if is_media_object(value):
            return self.media_object(value)
        kind = refs.media_kind_of_key(key) if isinstance(key, str) else None
        if kind is not None:
            return self.media(value, kind, key)
        if isinstance(key, str) and (refs.is_type_key(key) or key in refs.STRING_TYPE_KEYS):
            return type_value(key, value, self.resolver)
        return self.nested(value)

    def nested(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.describe(self.mapping(value))
        if isinstance(value, list):
            return [self.item(item) for item in value]
        return value

    def item(self, item: Any) -> Any:
        constant = refs.constant_name(item)
        if constant is not None:
            return self.resolver.resolve_constant(constant)
        if is_media_object(item):
            return self.media_object(item)
        return self.nested(item)

    # --- media ----------------------------------------------------------------------

    def media_object(self, value: dict[str, Any]) -> Any:
        kind = value.get("media_type")
        if kind not in ("image", "video"):
            raise MediaError(
                f"media_type {kind!r} is not supported here; use 'image' or 'video' "
                "(audio goes through a from_file object)"
            )
        return self.media({"location": value["location"]}, str(kind), "media_type")

    def media(self, value: Any, kind: str, key: str) -> Any:
        """Load the media forms of 1.9.7; already-loaded objects pass through."""
        if value is None or _deferred(value):
            return value
        if isinstance(value, str):
            if self.loader is not None:
                return self.loader.load(kind, value, self.base_dir, self.roots)
            if kind == "image":
                return load_image_location(value, self.base_dir, self.roots)
            return load_video_location(value, self.base_dir, self.roots)
        if isinstance(value, list | tuple):
            return [self.media(item, kind, key) for item in value]
        if isinstance(value, dict):
            if "location" not in value:
                raise MediaError(
                    f"'{key}' must be a path, a URL, {{\"location\": ...}}, a list of those "
                    f"or null; got an object with keys {sorted(value)}"
                )
            location = value["location"]
            if _deferred(location):
                return value
            # Our fix of dw's bug (FORMAT.md 1.9.1): a location that a media-named variable
            # already loaded is used as is.
            return self.media(location, kind, key)
        return value

    # --- object descriptions (1.9.3) ------------------------------------------------

    def describe(self, node: dict[str, Any]) -> Any:
        forms = [k for k in FROM_KEYS if k in node]
        if not forms:
            return node
        type_keys = [k for k in node if isinstance(k, str) and refs.is_type_key(k)]
        if not type_keys:
            return node
        if len(type_keys) > 1:
            raise ValueError(f"an object description names more than one type: {type_keys}")
        if len(forms) > 1:
            raise ValueError(f"an object description may use only one of {forms}")
        type_key, form = type_keys[0], forms[0]
        made = node[type_key]
        if not inspect.isclass(made):
            raise ValueError(f"'{type_key}' must name a class to build, got {made!r}")
        if form == FROM_PREVIOUS_RESULT:
            check_result_description(node, type_key, made)
            return node
        if form == FROM_ARGUMENTS:
            return self.from_arguments(node, type_key, made)
        return self.from_file(node, type_key, made)

    def from_arguments(self, node: dict[str, Any], type_key: str, made: type) -> Any:
        extra = sorted(set(node) - {type_key, FROM_ARGUMENTS})
        if extra:
            raise ValueError(
                f"'{FROM_ARGUMENTS}' holds every argument of {made.__name__}; move "
                f"{', '.join(extra)} inside it"
            )
        arguments = node[FROM_ARGUMENTS]
        if not isinstance(arguments, dict):
            raise ValueError(f"'{FROM_ARGUMENTS}' must be an object, got {arguments!r}")
        if mentions_previous_result(arguments):
            return node  # built per iteration, once the step's output exists
        return construct(made, arguments)

    def from_file(self, node: dict[str, Any], type_key: str, made: type) -> Any:
        location = node[FROM_FILE]
        if not isinstance(location, str):
            raise ValueError(f"'{FROM_FILE}' must be a path or URL string, got {location!r}")
        if refs.previous_result_target(location) is not None:
            raise ValueError(
                f"'{FROM_FILE}' cannot name a previous result; use '{FROM_PREVIOUS_RESULT}'"
            )
        if refs.variable_name(location) is not None:
            raise ValueError(f"'{FROM_FILE}' names {location!r}, which no variable resolved")
        opener = getattr(made, FROM_FILE, None)
        if not callable(opener):
            raise ValueError(f"{made.__name__} cannot be built from a file: it has no from_file()")
        if self.loader is not None:
            target = self.loader.file(location, self.base_dir, self.roots)
        elif looks_like_url(location):
            target = check_url(location)
        else:
            path = check_path(location, self.base_dir, roots=self.roots)
            check_extension(path, ANY_MEDIA_EXTENSIONS, "from_file")
            target = str(path)
        rest = {k: v for k, v in node.items() if k not in (FROM_FILE, type_key)}
        accepted, fields = split_by_signature(opener, rest)
        built = opener(target, **accepted)
        for name, value in fields.items():
            if not hasattr(built, name):
                raise ValueError(
                    f"{made.__name__} has no field '{name}' and its from_file() does not take it"
                )
            setattr(built, name, value)
        return built


def is_media_object(value: object) -> bool:
    """The explicit form ``{"media_type": ..., "location": ...}``."""
    return isinstance(value, dict) and "media_type" in value and "location" in value


def mentions_previous_result(value: Any) -> bool:
    if isinstance(value, dict):
        return any(mentions_previous_result(v) for v in value.values())
    if isinstance(value, list):
        return any(mentions_previous_result(v) for v in value)
    return refs.previous_result_target(value) is not None


def check_result_description(node: dict[str, Any], type_key: str, made: type) -> None:
    step = node[FROM_PREVIOUS_RESULT]
    if not isinstance(step, str) or not step:
        raise ValueError(f"'{FROM_PREVIOUS_RESULT}' must be a step name, got {step!r}")
    kind = getattr(made, "kind", None)
    if kind not in MEDIA_KINDS:
        raise ValueError(
            f"{made.__name__} cannot be built from a step's output: it must declare a 'kind' "
            f"of {', '.join(MEDIA_KINDS)}, and declares {kind!r}"
        )


def split_by_signature(
    function: Any, arguments: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keyword arguments ``function`` accepts, the rest)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return dict(arguments), {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(arguments), {}
    named = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    accepted = {k: v for k, v in arguments.items() if k in named}
    return accepted, {k: v for k, v in arguments.items() if k not in named}


def construct(made: type, arguments: dict[str, Any]) -> Any:
    try:
        return made(**arguments)
    except TypeError as error:
        raise ValueError(
            f"cannot build {made.__name__} from {', '.join(arguments) or 'no arguments'}: {error}"
        ) from error


def realize(
    arguments: dict[str, Any],
    base_dir: Path,
    resolver: TypeResolver,
    *,
    roots: Sequence[Path] = (),
    media: MediaLoader | None = None,
) -> dict[str, Any]:
    """A realized copy of ``arguments`` (a step's arguments or the ``variables`` map).

    Media paths resolve against ``base_dir`` and must stay inside it (or one of ``roots``).
    ``previous_result:`` and ``variable:`` strings are left for later. ``media``, when
    given, loads media instead of the default loaders (a stand-in run's placeholders).
    """
    return _Realizer(Path(base_dir), resolver, roots, media).mapping(arguments)
