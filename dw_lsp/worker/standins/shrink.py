"""Shrinking the call arguments that make a stand-in run slow, and nothing else.

Only arguments the called method takes are touched, each to the family's minimum:

- ``num_inference_steps`` to :data:`STEPS` (more when a ``strength`` below 1/2 would leave
  no step at all);
- ``height`` and ``width`` so the shorter side is the family's ``size``, keeping the aspect
  ratio in multiples of ``size`` (a missing pair becomes ``size`` x ``size``);
- ``num_frames`` to the family's ``frames``;
- ``max_area`` (Flux Kontext) to ``size`` squared and ``processing_resolution`` (Marigold)
  to ``size``;
- ``max_new_tokens`` (text generation) to :data:`NEW_TOKENS`, and ``prompt_max_new_tokens``
  (LTX-2's prompt enhancer) when the call enables ``enable_prompt_enhancement``;
- ``audio_end_in_s`` (Stable Audio) to :data:`AUDIO_SECONDS` after ``audio_start_in_s``, and
  ``audio_duration`` (MiniMax Music 3) to :data:`AUDIO_SECONDS`.

An argument is touched when the method names it or the call gives it (a method taking
``**kwargs`` passes it on); one already at or below its minimum is kept. Each change is
reported with the value the workflow gave (None when it left the pipeline's default).
Pure: no torch.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

STEPS = 2
NEW_TOKENS = 16
AUDIO_SECONDS = 1.0
_MISSING = object()


def _parameters(method: Any) -> dict[str, Any]:
    """Parameter name -> default (``_MISSING`` when it has none) of ``method``."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: (_MISSING if p.default is inspect.Parameter.empty else p.default)
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _steps_for(arguments: Mapping[str, Any], defaults: Mapping[str, Any]) -> int:
    strength = _number(arguments.get("strength", defaults.get("strength")))
    if strength is not None and 0 < strength < 1:
        return max(STEPS, math.ceil(1 / strength))
    return STEPS


def _side(value: float, scale: float, size: int) -> int:
    return max(size, round(value * scale / size) * size)


def shrink_call(
    arguments: Mapping[str, Any],
    method: Any,
    size: int,
    frames: int | None,
    record: Callable[[str, Any, Any], None],
) -> dict[str, Any]:
    """A copy of one call's ``arguments`` with the slow ones shrunk; ``record(name, given,
    used)`` is called for each change."""
    defaults = _parameters(method)
    shrunk = dict(arguments)

    def lower(name: str, target: float) -> None:
        if name not in defaults and name not in arguments:
            return
        given = arguments.get(name, _MISSING)
        current = _number(defaults.get(name) if given is _MISSING else given)
        if current is not None and current <= target:
            return
        if current is None and given is not _MISSING and given is not None:
            return  # not a number (a list of timesteps, say): left as given
        shrunk[name] = target
        record(name, None if given is _MISSING else given, target)

    lower("num_inference_steps", _steps_for(arguments, defaults))
    # A modular pipeline's ``__call__`` takes them through ``**kwargs``: the call's are shrunk.
    if all(name in defaults or name in arguments for name in ("height", "width")):
        height, width = _number(arguments.get("height")), _number(arguments.get("width"))
        if height and width:
            scale = size / min(height, width)
            target_h, target_w = _side(height, scale, size), _side(width, scale, size)
        else:
            target_h = target_w = size
        for name, target in (("height", target_h), ("width", target_w)):
            given = arguments.get(name)
            if given != target:
                shrunk[name] = target
                record(name, given, target)
    if frames is not None:
        lower("num_frames", frames)
    lower("max_area", size * size)
    lower("processing_resolution", size)
    lower("max_new_tokens", NEW_TOKENS)
    if arguments.get("enable_prompt_enhancement") is True:
        lower("prompt_max_new_tokens", NEW_TOKENS)
    start = _number(arguments.get("audio_start_in_s")) or 0.0
    lower("audio_end_in_s", start + AUDIO_SECONDS)
    lower("audio_duration", AUDIO_SECONDS)
    return shrunk
