"""TeaCache (``configuration.teacache``, FORMAT.md 1.4.1) on Flux transformers.

TeaCache skips all of a transformer's blocks on a denoising step whose input has changed
little since the last computed step, adding the residual those blocks produced last time
instead. The signal is the first block's timestep-modulated input: its relative L1 change,
rescaled by a 4th-degree polynomial (``coefficients``), accumulates over skipped steps until
it reaches ``rel_l1_thresh``; the first and the last step are always computed.

dw supports it on ``FluxTransformer2DModel`` only (its registry names more classes, each
needing its own forward); so does this worker: any other denoiser is refused with a message
naming its class. ``variant`` may only name ``flux``. TeaCache is a call-time setting: each
call gets fresh state, and the blocks' own ``forward`` is restored when the call ends, so
nothing carries over to the next run or stays installed on the warm pipeline.

Without a ``num_inference_steps`` argument, dw logs a warning and runs without TeaCache;
so does this worker (a note on the run). A call that runs the transformer twice for one
timestep (true classifier-free guidance) fails: the two passes would share the cache.
May import torch and diffusers; never the transport, the session or the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

log = logging.getLogger("dw_lsp.worker.loading.teacache")

Note = Callable[[str], None]
SUPPORTED = "FluxTransformer2DModel"
#: Published TeaCache calibration of FLUX.1 (github.com/ali-vilab/TeaCache), highest power first.
FLUX_COEFFICIENTS = (4.98651651e02, -2.83781631e02, 5.58554382e01, -3.82021401e00, 2.64230861e-01)
FLUX_THRESHOLD = 0.6
VARIANTS = ("flux",)


class TeaCacheError(RuntimeError):
    """TeaCache cannot run as configured (the message names the key or the class)."""


class _State:
    """One call's TeaCache bookkeeping over the transformer's blocks."""

    def __init__(self, steps: int, threshold: float, coefficients: tuple[float, ...]) -> None:
        self.steps = steps
        self.threshold = threshold
        self.coefficients = coefficients
        self.calls = 0
        self.accumulated = 0.0
        self.previous: torch.Tensor | None = None
        self.previous_timestep: torch.Tensor | None = None
        self.residual: torch.Tensor | None = None
        self.first_input: torch.Tensor | None = None
        self.skipping = False
        self.skipped = 0

    def rescale(self, x: float) -> float:
        total = 0.0
        for c in self.coefficients:
            total = total * x + c
        return total

    def decide(self, modulated: torch.Tensor) -> bool:
        """Skip this step? Called once per transformer call, at its first block."""
        step = self.calls % self.steps
        self.calls += 1
        previous, self.previous = self.previous, modulated.detach()
        if step in (0, self.steps - 1) or previous is None or self.residual is None:
            self.accumulated = 0.0
            return False
        change = (modulated - previous).abs().mean() / previous.abs().mean().clamp_min(1e-12)
        self.accumulated += self.rescale(float(change))
        if self.accumulated < self.threshold:
            self.skipped += 1
            return True
        self.accumulated = 0.0
        return False


def _install(model: Any, state: _State) -> list[tuple[Any, Any]]:
    blocks = [*model.transformer_blocks, *model.single_transformer_blocks]
    head, last = blocks[0], blocks[-1]

    def wrap(block: Any) -> None:
        original = block.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            hidden = kwargs["hidden_states"]
            context = kwargs["encoder_hidden_states"]
            if block is head:
                timestep = kwargs["temb"]
                modulated = head.norm1(hidden, emb=timestep)[0]
                state.skipping = state.decide(modulated)
                state.first_input = hidden
            if state.skipping:
                if block is last and state.residual is not None:
                    return context, hidden + state.residual
                return context, hidden
            context, out = original(*args, **kwargs)
            if block is last and state.first_input is not None:
                state.residual = (out - state.first_input).detach()
            return context, out

        block.forward = forward

    # Each module's own ``forward`` attribute (a diffusers hook's, say), put back afterwards.
    saved = [(m, vars(m).get("forward")) for m in [*blocks, model]]
    for block in blocks:
        wrap(block)
    outer = model.forward

    def model_forward(*args: Any, **kwargs: Any) -> Any:
        timestep = kwargs.get("timestep")
        if isinstance(timestep, torch.Tensor):
            if state.previous_timestep is not None and torch.equal(
                timestep, state.previous_timestep
            ):
                raise TeaCacheError(
                    "teacache: the transformer ran twice for one timestep (true "
                    "classifier-free guidance?); one TeaCache cannot serve both passes: "
                    "remove teacache or the negative guidance"
                )
            state.previous_timestep = timestep.detach().clone()
        return outer(*args, **kwargs)

    model.forward = model_forward
    return saved


def _settings(spec: Any, model: Any) -> tuple[float, tuple[float, ...]]:
    where = "pipeline.configuration.teacache"
    if not isinstance(spec, Mapping):
        raise TeaCacheError(f"{where} must be an object")
    name = type(model).__name__ if model is not None else "no transformer"
    if name != SUPPORTED:
        raise TeaCacheError(
            f"{where}: TeaCache supports {SUPPORTED} only; this pipeline's denoiser is {name}"
        )
    variant = spec.get("variant")
    if variant is not None and variant not in VARIANTS:
        raise TeaCacheError(
            f"{where}.variant {variant!r} is not supported here (known: {', '.join(VARIANTS)})"
        )
    try:
        threshold = float(spec.get("rel_l1_thresh", FLUX_THRESHOLD))
        coefficients = tuple(float(c) for c in spec.get("coefficients") or FLUX_COEFFICIENTS)
    except (TypeError, ValueError) as exc:
        raise TeaCacheError(f"{where}: {exc}") from exc
    if len(coefficients) != len(FLUX_COEFFICIENTS):
        raise TeaCacheError(f"{where}.coefficients must be 5 numbers")
    return threshold, coefficients


@contextmanager
def applied(model: Any, spec: Any, arguments: Mapping[str, Any], note: Note) -> Iterator[None]:
    """TeaCache on ``model`` for one call (a no-op with a note without num_inference_steps)."""
    threshold, coefficients = _settings(spec, model)
    steps = arguments.get("num_inference_steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        note("teacache needs a num_inference_steps argument; this call runs without TeaCache")
        yield
        return
    state = _State(steps, threshold, coefficients)
    saved = _install(model, state)
    try:
        yield
    finally:
        for module, forward in saved:
            if forward is None:
                vars(module).pop("forward", None)
            else:
                module.forward = forward
        log.info("teacache: skipped %d of %d transformer calls", state.skipped, state.calls)
