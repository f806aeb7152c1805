"""Building stand-ins from the registry: one part, or a whole pipeline assembled from its
constructor's signature.

A part is built with the global RNG seeded to :data:`SEED` (and restored afterwards), and
with ``torch.empty`` giving zeros, so the few parameters a model leaves uninitialised (pad
tokens, frequency tables) are deterministic too: the same part always has the same weights.
A pipeline's components are the family's parts for every constructor argument without a
default; arguments with a default are built when the family has a part for them, else left
to their default (``safety_checker=None`` ...). May import torch, diffusers and transformers;
never the executor, the session or the server.
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from dw_lsp.worker.standins import vocab
from dw_lsp.worker.standins.registry import FAMILIES, STANDALONE, Family, Part

SEED = 0
#: Constructor arguments that are never components.
NOT_COMPONENTS = frozenset({"self", "args", "kwargs"})


class NoStandIn(LookupError):
    """The registry has no stand-in for this class or pipeline (the message says what to add)."""


def family_for(pipeline: str) -> Family | None:
    """The family whose most specific pattern matches ``pipeline`` (a class name)."""
    best: tuple[int, Family] | None = None
    for family in FAMILIES:
        for pattern in family.pipelines:
            if fnmatch.fnmatchcase(pipeline, pattern):
                score = len(pattern.rstrip("*")) * 2 + (0 if pattern.endswith("*") else 1)
                if best is None or score > best[0]:
                    best = (score, family)
    return best[1] if best else None


def resolve_class(name: str) -> Any:
    """A class of diffusers or transformers by bare name, or by its full dotted path (for
    classes the libraries do not export at the top, e.g. LTX-2's text connectors); else one
    of the stand-in processors of :mod:`.processors`."""
    import importlib

    import diffusers
    import transformers

    module, _, bare = name.rpartition(".")
    if module.startswith(("diffusers.", "transformers.")):
        try:
            found = getattr(importlib.import_module(module), bare, None)
        except ImportError:
            found = None
        if inspect.isclass(found):
            return found
    from dw_lsp.worker.standins import processors

    for library in (diffusers, transformers, processors):
        found = getattr(library, bare, None)
        if inspect.isclass(found):
            return found
    raise NoStandIn(f"{name} is neither a diffusers nor a transformers class")


def _empty_as_zeros() -> Any:
    """A torch function mode in which ``torch.empty`` gives zeros (deterministic storage)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class EmptyAsZeros(TorchFunctionMode):
        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            kwargs = kwargs or {}
            if func is torch.empty:
                return torch.zeros(*args, **kwargs)
            if func is torch.empty_like:
                return torch.zeros_like(*args, **kwargs)
            return func(*args, **kwargs)

    return EmptyAsZeros()


@contextlib.contextmanager
def seeded() -> Iterator[None]:
    import torch

    with torch.random.fork_rng(devices=[]), _empty_as_zeros():
        torch.manual_seed(SEED)
        yield


def build_part(part: Part) -> Any:
    """The object ``part`` describes, with deterministic weights."""
    cls = resolve_class(part.cls)
    config = _as_json(dict(part.config))
    if vocab.is_tokenizer(cls.__name__):
        return vocab.build_tokenizer(cls, config)
    if cls.__name__.endswith("Processor") or cls.__name__.endswith("ProcessorPil"):
        return vocab.build_processor(cls, config)
    with seeded():
        config_class = getattr(cls, "config_class", None)
        if config_class is not None and hasattr(cls, "_from_config"):  # a transformers model
            model = cls(config_class(**config))
        else:
            model = cls(**config)
    if hasattr(model, "eval"):
        model.eval()
    return model


def _as_json(value: Any) -> Any:
    """Tuples become lists, as a config read back from ``config.json`` has them (some
    constructors concatenate them with lists)."""
    if isinstance(value, Mapping):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_as_json(v) for v in value]
    return value


def slot_part(family: Family | None, pipeline: str, slot: str, named: str | None) -> Part:
    """The part standing in for argument ``slot`` of ``pipeline`` when the workflow names
    class ``named`` for it (None: whatever the family uses)."""
    parts = family.parts_for(pipeline) if family is not None else {}
    part = parts.get(slot)
    bare = named.rsplit(".", 1)[-1] if named else None
    if part is not None and (bare is None or part.cls.rsplit(".", 1)[-1] == bare or _is_auto(bare)):
        return part
    if bare is not None and family is not None and bare in family.alternatives:
        return family.alternatives[bare]
    if bare is not None and bare in STANDALONE:
        return STANDALONE[bare]
    where = f"{pipeline}.{slot}" if family is not None else slot
    family_text = f"family {family.name!r}" if family is not None else "no family"
    raise NoStandIn(
        f"no stand-in for {bare or 'the component'} as {where} ({family_text}); add a part "
        "for it to the stand-in registry (dw_lsp/worker/standins/)"
    )


def _fits(annotation: Any, part: Part) -> bool:
    """May ``part`` fill an argument annotated ``annotation``? (Unannotated: yes.) An
    optional argument of another class (Flux's CLIP image encoder for IP-Adapters, say) is
    left to its default rather than filled with the family's part of that name."""
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return True
    import typing

    options = typing.get_args(annotation) or (annotation,)
    try:
        built = resolve_class(part.cls)
    except NoStandIn:
        return False
    return any(
        option is built or (inspect.isclass(option) and issubclass(built, option))
        for option in options
    )


def _is_auto(name: str) -> bool:
    return name.startswith("Auto") or name in ("DiffusionPipeline", "PreTrainedModel")


def pipeline_parts(pipeline_cls: Any, fed: bool = False) -> tuple[Family, dict[str, Part | None]]:
    """The family of a pipeline class and the part for each of its component arguments
    (``fed``: loaded without its text encoders, see :attr:`Family.fed`)."""
    name = pipeline_cls.__name__
    family = family_for(name)
    if family is None:
        raise NoStandIn(
            f"no stand-in family covers {name}; add one to the stand-in registry "
            "(dw_lsp/worker/standins/)"
        )
    if name in family.unsupported:
        raise NoStandIn(f"no stand-in for {name} yet: {family.unsupported[name]}")
    available = family.parts_for(name, fed)
    optional = set(getattr(pipeline_cls, "_optional_components", ()) or ())
    parts: dict[str, Part | None] = {}
    missing: list[str] = []
    for parameter in inspect.signature(pipeline_cls.__init__).parameters.values():
        slot = parameter.name
        if slot in NOT_COMPONENTS or slot in family.extra_for(name):
            continue
        required = parameter.default is inspect.Parameter.empty
        part = available.get(slot)
        if part is not None and (required or _fits(parameter.annotation, part)):
            parts[slot] = part
        elif slot in available and not required:
            continue  # the family leaves it to its default
        elif slot in optional:
            parts[slot] = None  # an optional component the pipeline runs without
        elif required:
            missing.append(slot)
    if missing:
        raise NoStandIn(
            f"the stand-in family {family.name!r} has no part for {', '.join(missing)} of "
            f"{name}; add them to its entry in dw_lsp/worker/standins/"
        )
    return family, parts


def build_pipeline(pipeline_cls: Any, parts: Mapping[str, Part | None], family: Family) -> Any:
    components = {slot: None if p is None else build_part(p) for slot, p in parts.items()}
    accepted = inspect.signature(pipeline_cls.__init__).parameters
    extra = {k: v for k, v in family.extra_for(pipeline_cls.__name__).items() if k in accepted}
    return pipeline_cls(**components, **extra)
