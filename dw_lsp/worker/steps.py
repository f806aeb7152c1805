"""Running one step of each kind: ``pipeline``, ``pipeline_reference``, ``task`` and the
argument side of ``workflow`` (FORMAT.md 1.4-1.7, 1.12).

Each runner realizes the step's arguments (media, types, objects), expands
``previous_result`` references into the cartesian list of iterations, and runs every
iteration, reporting progress per iteration and per denoising step. Seeds follow 1.12: a
pipeline step's generator is seeded from ``pipeline.seed`` > ``step.seed`` > the workflow's
seed, created on the pipeline's device, shared by all iterations of the step; a
``pipeline_reference`` gets none unless the reference step carries its own seed (dw gives it
none at all). In a stand-in run (:mod:`dw_lsp.worker.standins`) a pipeline step's model
sources are replaced by stand-ins before loading, its load key carries the mode, and the
slow call arguments of a stand-in pipeline are shrunk. May import torch and diffusers;
never the transport.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from dw_lsp.worker import prompt_weighting, remote_encoder, tasks, values
from dw_lsp.worker.chain_step import Chained
from dw_lsp.worker.loading import hooks, loadkey
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.outputs import av
from dw_lsp.worker.progress import Position, denoise_hooks
from dw_lsp.worker.run_state import LoadedStep, PipelineProvider, RunState

Results = dict[str, list[Any]]
#: Cache keys of task models start with this (``release_models`` drops them all).
TASK_KEY_PREFIX = "task-"


def _iterations(
    arguments: Mapping[str, Any], base_dir: Path, state: RunState, results: Results
) -> list[dict[str, Any]]:
    realized = values.realize(
        dict(arguments), base_dir, state.resolver, roots=[state.top_dir], media=state.media_loader
    )
    return values.expand_iterations(realized, results)


@contextmanager
def _attention(backend: Any) -> Iterator[None]:
    if not backend:
        yield
        return
    from diffusers.models.attention_dispatch import attention_backend

    with attention_backend(str(backend)):
        yield


def _generator(device: str, seed: int) -> torch.Generator:
    kind = torch.device(device).type
    return torch.Generator(device=kind if kind in ("cuda", "mps") else "cpu").manual_seed(seed)


class PipelineOutput:
    """A pipeline's output read through its attributes only.

    diffusers' ``BaseOutput`` is also an ``OrderedDict``; the format's rules would then treat
    it as one dict artifact (and apply the same-name shortcut to it), while dw reads its
    ``images`` / ``frames`` / ``audios`` attributes. ``previous_result:STEP.PROP`` still
    reads any field as an attribute.
    """

    def __init__(self, fields: Mapping[str, Any], kind: str) -> None:
        self.__dict__.update(fields)
        self._kind = kind

    def __repr__(self) -> str:
        return f"<{self._kind} {', '.join(self.output_fields())}>"

    def output_fields(self) -> dict[str, Any]:
        """The output's fields (what a result saves when it has no images, frames or audios)."""
        return {k: v for k, v in vars(self).items() if k != "_kind"}


def as_output(outcome: Any) -> Any:
    from diffusers.utils.outputs import BaseOutput

    if isinstance(outcome, BaseOutput):
        return PipelineOutput(dict(outcome.items()), type(outcome).__name__)
    return outcome


def with_audio_rate(outcome: Any, pipe: Any) -> Any:
    """An output with generated sound, told the rate the pipeline's vocoder made it at (the
    output itself does not say; the writer needs it to mux the pair)."""
    if isinstance(outcome, PipelineOutput):
        if getattr(outcome, "audio", None) is not None and not hasattr(
            outcome, "audio_sample_rate"
        ):
            setattr(outcome, "audio_sample_rate", av.sample_rate_of(pipe))  # noqa: B010
        return outcome
    pairs = isinstance(outcome, dict) and av.VIDEOS_KEY in outcome and av.AUDIO_KEY in outcome
    if pairs and all(outcome.get(key) is None for key in av.RATE_KEYS):
        return {**outcome, av.RATE_KEYS[0]: av.sample_rate_of(pipe)}
    return outcome


def call_iterations(
    pipe: Any,
    configuration: Mapping[str, Any],
    iterations: list[dict[str, Any]],
    generator: torch.Generator | None,
    state: RunState,
    position: Position,
    chained: Chained | None = None,
    remote: Any = None,
) -> list[Any]:
    """Call ``pipe`` once per iteration with progress hooks; the generator keeps advancing.
    With ``chained``, each iteration is a chain of segment calls stitched into one video."""
    method, takes_generator = loading.call_target(pipe, configuration)
    outcomes: list[Any] = []

    def call(arguments: Mapping[str, Any], where: Position) -> Any:
        kwargs = dict(arguments)
        if remote is not None:  # wins over prompt_weighting, as in dw
            kwargs = remote_encoder.apply(pipe, remote, kwargs)
        elif configuration.get("prompt_weighting"):
            kwargs = prompt_weighting.apply(pipe, kwargs)
        if (
            generator is not None
            and takes_generator
            and "generator" not in kwargs
            and loading.accepts(method, "generator")
        ):
            kwargs["generator"] = generator
        started = time.perf_counter()
        backend = _attention(configuration.get("attention_backend"))
        cached = hooks.call_context(pipe, configuration, kwargs, state.note)
        with backend, cached, denoise_hooks(pipe, method, kwargs, state.reporter, where) as hooked:
            outcome = as_output(method(**hooked))
        state.inference_seconds += time.perf_counter() - started
        return with_audio_rate(outcome, pipe)

    for index, arguments in enumerate(iterations):
        state.reporter.token.check()
        where = position.for_iteration(index, len(iterations))
        state.progress(
            where, "iteration", f"{position.step}: iteration {index + 1}/{len(iterations)}"
        )
        if chained is None:
            outcomes.append(call(arguments, where))
        else:
            outcomes.append([chained.run(pipe, arguments, index, where, state, call)])
    return outcomes


def run_pipeline(
    step: Mapping[str, Any],
    resolved: Mapping[str, Any],
    label: str,
    workflow_seed: int,
    base_dir: Path,
    state: RunState,
    provider: PipelineProvider,
    results: Results,
    loaded: dict[str, LoadedStep],
    position: Position,
    prefix: str = "",
) -> list[Any]:
    """A ``pipeline`` step: acquire (reuse or load) its pipeline, then call it."""
    spec = step["pipeline"]
    reused = loadkey.reused_component_names(spec)
    stand_ins = state.stand_ins
    key = loadkey.load_key(
        spec,
        {n: state.shared_keys.get(n, "") for n in reused},
        base_dir,
        stand_ins=stand_ins.mode if stand_ins is not None else "",
    )
    configuration = resolved["configuration"]
    device = str(configuration.get("device") or state.device)
    substitution = None
    if stand_ins is not None:
        substitution = stand_ins.substitute(str(step["name"]), resolved, base_dir)
        resolved = substitution.spec
        configuration = resolved["configuration"]  # as a smoke run calls it (attention)

    def load() -> Any:
        message = f"loading the pipeline of step {step['name']!r}"
        with state.reporter.heartbeat(position, "load", message):
            return loading.load_pipeline(
                resolved,
                device=state.device,
                shared=state.shared,
                reused=reused,
                note=state.note,
                base_dir=base_dir,
                roots=[state.top_dir, *(stand_ins.roots if stand_ins is not None else [])],
                allowed_modules=state.resolver.extra,
            )

    pipe = provider.acquire(label, key, load, state)
    if stand_ins is not None and substitution is not None and substitution.stood_in:
        stand_ins.track(pipe, substitution.family)
    published = loading.publish(pipe, loadkey.shared_component_names(spec))
    state.shared.update(published)
    state.shared_keys.update(dict.fromkeys(published, key))
    loaded[str(step["name"])] = LoadedStep(pipe, key, device)
    seed = _first_int(spec.get("seed"), step.get("seed"), workflow_seed)
    generator = None if configuration.get("no_generator") else _generator(device, seed)
    iterations = _iterations(spec.get("arguments") or {}, base_dir, state, results)
    iterations = _shrunk(state, str(step["name"]), pipe, configuration, iterations)
    chained = Chained.of(spec, results, state, prefix) if "chain" in spec else None
    remote = resolved.get("remote_text_encoder")  # a stand-in pipeline encodes locally
    return call_iterations(
        pipe, configuration, iterations, generator, state, position, chained, remote
    )


def _shrunk(
    state: RunState,
    step: str,
    pipe: Any,
    configuration: Mapping[str, Any],
    iterations: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """A stand-in pipeline's calls with the slow arguments shrunk (the others unchanged)."""
    if state.stand_ins is None:
        return iterations
    method, _takes_generator = loading.call_target(pipe, configuration)
    return state.stand_ins.shrink(step, pipe, method, iterations)


def run_reference(
    step: Mapping[str, Any],
    base_dir: Path,
    state: RunState,
    results: Results,
    loaded: Mapping[str, LoadedStep],
    position: Position,
    prefix: str = "",
) -> list[Any]:
    """A ``pipeline_reference`` step: call a pipeline an earlier step of this file loaded."""
    reference = step["pipeline_reference"]
    target = reference["reference_name"]
    if target not in loaded:
        known = ", ".join(sorted(loaded)) or "none"
        raise KeyError(
            f"reference_name {target!r} names no loaded pipeline of an earlier step in this "
            f"file (loaded: {known}); a released pipeline cannot be referenced"
        )
    entry = loaded[target]
    configuration = values.resolve_type_strings(
        dict(reference.get("configuration") or {}), state.resolver
    )
    seed = _first_int(reference.get("seed"), step.get("seed"))
    generator = None
    if seed is not None and not configuration.get("no_generator"):
        generator = _generator(entry.device, seed)
    iterations = _iterations(reference.get("arguments") or {}, base_dir, state, results)
    iterations = _shrunk(state, str(step["name"]), entry.pipeline, configuration, iterations)
    chained = Chained.of(reference, results, state, prefix) if "chain" in reference else None
    return call_iterations(
        entry.pipeline, configuration, iterations, generator, state, position, chained
    )


class TaskModels:
    """The :class:`tasks.ModelStore` of one task step: its models live in the worker's
    pipeline cache (key ``task-`` + a hash of the model's identity, label
    ``step@file#role``), so they are reused across runs, reported as ``loaded`` /
    ``reused``, counted in memory and evicted like pipelines."""

    def __init__(
        self, label: str, state: RunState, provider: PipelineProvider, position: Position
    ) -> None:
        self.label = label
        self.state = state
        self.provider = provider
        self.position = position

    def load(self, role: str, identity: Hashable, loader: Callable[[], Any]) -> Any:
        # a stand-in run's models never serve a real run, nor the other way round
        mode = self.state.stand_ins.mode if self.state.stand_ins is not None else ""
        key = TASK_KEY_PREFIX + hashlib.sha256(repr((identity, mode)).encode("utf-8")).hexdigest()
        label = f"{self.label}#{role}"

        def timed() -> Any:
            with self.state.reporter.heartbeat(self.position, "load", f"loading {label}"):
                return loader()

        return self.provider.acquire(label, key, timed, self.state)


def _with_processor(
    task: Mapping[str, Any], command: str, arguments: Any, loaded: Mapping[str, LoadedStep]
) -> Any:
    """``batch_decode_post_process`` gets the object of the task-level ``pipeline_reference``
    step (FORMAT.md 1.6) as ``processor``."""
    target = task.get("pipeline_reference")
    if target is None or command != "batch_decode_post_process":
        return arguments
    if target not in loaded:
        known = ", ".join(sorted(loaded)) or "none"
        raise KeyError(
            f"task.pipeline_reference {target!r} names no loaded pipeline of an earlier step "
            f"in this file (loaded: {known})"
        )
    if not isinstance(arguments, dict):
        raise ValueError(f"task '{command}' takes an object of arguments")
    return {**arguments, "processor": loaded[target].pipeline}


def run_task(
    step: Mapping[str, Any],
    label: str,
    base_dir: Path,
    state: RunState,
    provider: PipelineProvider,
    results: Results,
    loaded: Mapping[str, LoadedStep],
    position: Position,
) -> list[Any]:
    """A ``task`` step: one call per argument set (``inputs`` items are used as they are)."""
    task = step["task"]
    command = str(task["command"])
    if "pipeline_reference" in task and command != "batch_decode_post_process":
        state.note(
            f"step {step['name']!r}: task.pipeline_reference is read only by "
            f"batch_decode_post_process; '{command}' ignores it (as dw does)"
        )
    if "inputs" in task:
        sets: list[Any] = list(task["inputs"] or [])
    else:
        sets = _iterations(task.get("arguments") or {}, base_dir, state, results)
    models = TaskModels(label, state, provider, position)
    stand_ins = state.stand_ins.for_step(str(step["name"])) if state.stand_ins else None
    outcomes: list[Any] = []
    for index, arguments in enumerate(sets):
        state.reporter.token.check()
        where = position.for_iteration(index, len(sets))
        state.progress(where, "iteration", f"{command} {index + 1}/{len(sets)}")
        started = time.perf_counter()
        outcome = tasks.run_task(
            command,
            _with_processor(task, command, arguments, loaded),
            default_device=state.device,
            base_dir=base_dir,
            models=models,
            allow_remote_code=state.allow_remote_code,
            media=state.media_loader,
            stand_ins=stand_ins,
        )
        outcomes.append(outcome)
        state.inference_seconds += time.perf_counter() - started
    return outcomes


def run_workflow(
    step: Mapping[str, Any],
    child: Path,
    seed: int,
    base_dir: Path,
    state: RunState,
    results: Results,
    position: Position,
    run_child: Callable[[Path, dict[str, Any], int, Position], list[Any]],
) -> list[Any]:
    """A ``workflow`` step: run the child once per argument combination; its result is
    the child's last step's results (of every combination, in order)."""
    iterations = _iterations(step["workflow"].get("arguments") or {}, base_dir, state, results)
    outcomes: list[Any] = []
    for index, arguments in enumerate(iterations):
        state.reporter.token.check()
        outcomes.extend(
            run_child(child, arguments, seed, position.for_iteration(index, len(iterations)))
        )
    return outcomes


def _first_int(*candidates: Any) -> Any:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
