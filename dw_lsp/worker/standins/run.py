"""One run's stand-ins: which models are stood in, the shrunk arguments, the placeholders.

:class:`StandIns` is created per ``execute`` with the run's mode (``missing`` or ``all``;
a run with ``off`` has none). For each pipeline step, :meth:`StandIns.substitute` returns a
copy of the step's resolved ``pipeline`` object in which every model source that is to be
stood in - the pipeline's own ``model_name`` (or ``from_single_file``), each component
block's, each LoRA's, the IP-Adapter's (:mod:`.ip_adapters`) - names the stand-in's folder
instead (built and saved on first use,
:mod:`.store`). The loading code then runs unchanged on it: ``from_pretrained`` with its
``subfolder``, ``variant`` and ``torch_dtype``, component blocks, shared components,
schedulers, LoRAs, offload and casting. A ``from_single_file`` source becomes a
``from_pretrained`` of the stand-in (single-file checkpoints keep the original layout,
which a stand-in does not have); the report names it so. A stood-in component keeps its
``quantization_config`` except a GGUF one, which only describes a GGUF file: it is dropped
and reported as a changed argument.

On a CPU, a stood-in model asked for in float16 or bfloat16 is loaded in float32 (named in
the report with the shrunk arguments); ``compile`` runs on dynamo's ``eager`` backend
and an attention backend it cannot run there becomes ``native``
(:mod:`.adjust`, reported too). Explicit devices this worker lacks are mapped to its own
(:meth:`StandIns.map_devices`, before the preflight). In ``missing`` mode a source is stood
in only when it is neither a local path nor a hub id with a snapshot in the Hugging Face
cache (:mod:`.availability`); built-in models (``builtin:``) never are. A task step's models
are stood in the same way (:meth:`StandIns.for_step`, :mod:`.task_models`), reported under
``task.<command>``. The report (:class:`dw_lsp.protocol.StandInReport`) lists every model
stood in, every argument shrunk and every placeholder. Imports torch-free modules at the
top; building imports the libraries lazily. Never the executor, the session or the server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from dw_lsp.protocol import (
    STAND_INS_ALL,
    STAND_INS_MISSING,
    ShrunkArgument,
    StandInModel,
    StandInReport,
)
from dw_lsp.worker import support
from dw_lsp.worker.loading import modular, tiny
from dw_lsp.worker.standins import adjust, build, shrink, store, task_models
from dw_lsp.worker.standins import modular as modular_standins
from dw_lsp.worker.standins.availability import available
from dw_lsp.worker.standins.media import Placeholders
from dw_lsp.worker.standins.registry import Family
from dw_lsp.workflow import device_rules, quant_rules

#: Folder name, under the run's output directory, of a stand-in run's outputs.
OUTPUT_FOLDER = "stand-in"
SOURCE_KEYS = ("model_name", "from_single_file")
DEFAULT_SIZE = 32
#: Task arguments lowered for a stood-in task model, as for a stood-in pipeline.
TASK_LIMITS = {"max_new_tokens": shrink.NEW_TOKENS}


class StandInError(RuntimeError):
    """A model was to be stood in but the registry cannot build it (the message says why)."""


class Substitution(NamedTuple):
    """A pipeline object with stand-in sources, whether anything in it was stood in, and the
    family of its pipeline class (None when no family covers it)."""

    spec: dict[str, Any]
    stood_in: bool
    family: Family | None


class StandIns:
    """The stand-ins of one run (see the module docstring)."""

    def __init__(self, mode: str, device: str = "cpu") -> None:
        if mode not in (STAND_INS_MISSING, STAND_INS_ALL):
            raise ValueError(
                f"stand-in mode {mode!r} is not {STAND_INS_MISSING} or {STAND_INS_ALL}"
            )
        self.mode = mode
        self.device = device
        self.report = StandInReport(mode=mode)
        self.media = Placeholders(self.report.media, store.root() / "media")
        self._families: dict[int, tuple[Any, Family | None]] = {}

    @property
    def roots(self) -> list[Path]:
        """Folders whose models a stand-in run may load besides the workflow's own: the
        stand-in cache (its LoRAs are local folders there)."""
        return [store.root()]

    # -- which models ------------------------------------------------------------------

    def _wanted(self, source: Any, base_dir: Path | None) -> bool:
        if not isinstance(source, str) or not source or tiny.is_builtin_model(source):
            return False
        return self.mode == STAND_INS_ALL or not available(source, base_dir)

    def _note(self, step: str, where: str, component: Any, source: str) -> None:
        name = getattr(component, "__name__", str(component))
        entry = StandInModel(step=step, where=where, component=name, source=source)
        if entry not in self.report.models:
            self.report.models.append(entry)

    def _source(self, arguments: Mapping[str, Any]) -> tuple[str | None, Any]:
        for key in SOURCE_KEYS:
            if key in arguments:
                return key, arguments[key]
        return None, None

    def substitute(
        self, step: str, resolved: Mapping[str, Any], base_dir: Path | None
    ) -> Substitution:
        """The ``pipeline`` object with stand-in sources where the mode says."""
        spec = dict(resolved)
        pipeline_cls = resolved["configuration"]["component_type"]
        name = getattr(pipeline_cls, "__name__", str(pipeline_cls))
        family = build.family_for(name)
        stood = False

        def record(argument: str, given: Any, used: Any) -> None:
            self._shrunk(step, argument, given, used)

        configuration = adjust.compile_eager(resolved["configuration"], record)
        configuration = adjust.attention_backend(configuration, self.device, record)
        spec["configuration"] = adjust.load_dtype(configuration, self.device, record)
        try:
            key, source = self._source(resolved["from_pretrained_arguments"])
            if key is not None and self._wanted(source, base_dir):
                arguments = dict(resolved["from_pretrained_arguments"])
                del arguments[key]
                arguments["model_name"] = str(
                    modular_standins.modular_dir(str(source))
                    if modular.is_modular(pipeline_cls)
                    else store.pipeline_dir(
                        pipeline_cls,
                        arguments.get("variant"),
                        family is not None and family.is_fed(name, arguments),
                    )
                )
                spec["from_pretrained_arguments"] = self._dtype(step, arguments)
                self._note(step, "pipeline", pipeline_cls, str(source))
                stood = True
                if resolved.get("remote_text_encoder"):
                    self._without_remote_encoder(step, name, family, spec)
            for slot, block in resolved.items():
                if slot == "controlnet" or support.is_component(slot, block):
                    new = self._component(step, name, family, slot, block, base_dir)
                    if new is not None:
                        spec[slot] = new
                        stood = True
            loras = resolved.get("loras") or []
            if loras:
                modular_source = (
                    source if modular.is_modular(pipeline_cls) and isinstance(source, str) else None
                )
                spec["loras"] = [
                    self._lora(step, pipeline_cls, i, lora, base_dir, modular_source)
                    for i, lora in enumerate(loras)
                ]
                stood = stood or spec["loras"] != list(loras)
            adapter = resolved.get("ip_adapter")
            if isinstance(adapter, Mapping) and self._wanted(adapter.get("model_name"), base_dir):
                self._note(step, "pipeline.ip_adapter", "IP-Adapter", str(adapter["model_name"]))
                spec["ip_adapter"] = adjust.ip_adapter(pipeline_cls, adapter, record)
                stood = True
        except (build.NoStandIn, LookupError) as exc:
            raise StandInError(f"step {step!r}: cannot stand in: {exc}") from exc
        return Substitution(spec, stood, family)

    def _without_remote_encoder(
        self, step: str, pipeline: str, family: Family | None, spec: dict[str, Any]
    ) -> None:
        """A stood-in pipeline encodes its prompt with its own tiny text encoder instead of
        the remote service: the service answers embeddings as wide as the real model reads,
        which no stand-in does (and a smoke run needs no network). Reported as a model
        stood in, the encoder's class in place of the remote one."""
        remote = spec.pop("remote_text_encoder")
        part = family.parts_for(pipeline).get("text_encoder") if family is not None else None
        if part is None:
            raise build.NoStandIn(
                f"{pipeline} encodes with no text encoder of its own to stand in for "
                "pipeline.remote_text_encoder"
            )
        url = remote.get("url") if isinstance(remote, Mapping) else remote
        where = "pipeline.remote_text_encoder"
        self._note(step, where, part.cls.rsplit(".", 1)[-1], str(url))

    def _component(
        self,
        step: str,
        pipeline: str,
        family: Family | None,
        slot: str,
        block: Mapping[str, Any],
        base_dir: Path | None,
    ) -> dict[str, Any] | None:
        key, source = self._source(block["from_pretrained_arguments"])
        if key is None or not self._wanted(source, base_dir):
            return None
        kind = block["configuration"]["component_type"]
        named = getattr(kind, "__name__", str(kind))
        arguments = dict(block["from_pretrained_arguments"])
        del arguments[key]
        part = build.slot_part(family, pipeline, slot, named)
        folder = store.component_dir(part, arguments.get("subfolder"), arguments.get("variant"))
        arguments["model_name"] = str(folder)
        self._note(step, f"pipeline.{slot}", kind, str(source))
        new = {**block, "from_pretrained_arguments": self._dtype(step, arguments, f"{slot}.")}
        return self._without_gguf(step, slot, new)

    def _without_gguf(self, step: str, slot: str, block: dict[str, Any]) -> dict[str, Any]:
        """A GGUF quantization config describes how a GGUF file's weights are packed; the
        stand-in is a ``from_pretrained`` folder, which diffusers cannot load under it, so
        the config is dropped for the smoke run and reported (other backends quantize the
        stand-in as they would the real model)."""
        quantization = block.get("quantization_config")
        configuration = (
            quantization.get("configuration") if isinstance(quantization, Mapping) else None
        )
        kind = configuration.get("config_type") if isinstance(configuration, Mapping) else None
        backend = quant_rules.backend_for(kind) if kind is not None else None
        if backend is None or backend.name != "gguf":
            return block
        name = getattr(kind, "__name__", str(kind))
        self._shrunk(step, f"{slot}.quantization_config", name, None)
        return {k: v for k, v in block.items() if k != "quantization_config"}

    def _lora(
        self,
        step: str,
        pipeline_cls: Any,
        index: int,
        lora: Mapping[str, Any],
        base_dir: Path | None,
        modular_source: str | None = None,
    ) -> Mapping[str, Any]:
        """A stand-in for one LoRA; a modular pipeline's (``modular_source``: the repository
        it loads) is made for the denoiser of that repository's stand-in."""
        source = lora.get("model_name")
        if not self._wanted(source, base_dir):
            return lora
        weight = lora.get("weight_name")
        weight = weight if isinstance(weight, str) else None
        folder = (
            modular_standins.lora_dir(modular_source, weight)
            if modular_source is not None
            else store.lora_dir(pipeline_cls, weight)
        )
        self._note(step, f"pipeline.loras[{index}]", "LoRA", str(source))
        return {**lora, "model_name": str(folder)}

    def _dtype(self, step: str, arguments: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        """Half precision becomes float32 on a CPU: slow there and partly unimplemented
        (interpolation in float16), which would fail a smoke run for no fault of the
        workflow's."""
        dtype = arguments.get("torch_dtype")
        if self.device != "cpu" or str(dtype) not in adjust.HALF_DTYPES:
            return arguments
        import torch

        self._shrunk(step, f"{prefix}torch_dtype", str(dtype), "torch.float32")
        return {**arguments, "torch_dtype": torch.float32}

    def _shrunk(self, step: str, name: str, given: Any, used: Any) -> None:
        entry = ShrunkArgument(step=step, name=name, given=_plain(given), used=used)
        if entry not in self.report.arguments:
            self.report.arguments.append(entry)

    # -- devices ---------------------------------------------------------------------

    def map_devices(self, document: dict[str, Any], note: Any) -> dict[str, Any]:
        """The document with each explicit device this worker lacks (``cuda`` on a CPU:
        components, ``device_map``, SDNQ's devices, a task's device, group offload streams)
        moved to the worker's, each reported and passed to ``note`` (the run's warnings)."""
        new, moved = device_rules.mapped(document, self.device)
        for named in moved:
            entry = ShrunkArgument(
                step=named.step, name=named.where, given=named.given, used=named.used
            )
            if entry not in self.report.devices:
                self.report.devices.append(entry)
            note(
                f"stand-in run: step {named.step!r}: {named.where} {named.given!r} -> "
                f"{named.used!r} (this worker runs on {self.device})"
            )
        return new

    # -- task models -----------------------------------------------------------------

    def for_step(self, step: str) -> StepStandIns:
        """The stand-ins a task step's commands ask for their models."""
        return StepStandIns(self, step)

    def task_model(
        self,
        step: str,
        command: str,
        kind: str,
        source: str,
        base_dir: Path | None,
        filename: str | None = None,
    ) -> Path | None:
        """The folder of a stand-in for task model ``source`` where the mode says (None:
        the task loads the real one)."""
        if not self._wanted(source, base_dir):
            return None
        try:
            folder = task_models.task_model_dir(kind, source, filename)
            component = task_models.class_for(kind, source)
        except build.NoStandIn as exc:
            raise StandInError(f"step {step!r}: cannot stand in: {exc}") from exc
        self._note(step, f"task.{command}", component, source)
        return folder

    # -- calls -----------------------------------------------------------------------

    def track(self, pipe: Any, family: Family | None) -> None:
        """Remember that ``pipe`` (loaded for this run) is made of stand-ins."""
        self._families[id(pipe)] = (pipe, family)

    def stood_in(self, pipe: Any) -> bool:
        return id(pipe) in self._families

    def shrink(
        self, step: str, pipe: Any, method: Any, iterations: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The iterations' arguments with the slow ones shrunk (for a stood-in ``pipe``)."""
        if id(pipe) not in self._families:
            return iterations
        family = self._families[id(pipe)][1]
        size = family.size if family is not None else DEFAULT_SIZE
        frames = family.frames if family is not None else None

        def record(name: str, given: Any, used: Any) -> None:
            self._shrunk(step, name, given, used)

        return [shrink.shrink_call(args, method, size, frames, record) for args in iterations]


class StepStandIns:
    """The :class:`dw_lsp.worker.tasks.common.TaskStandIns` of one task step."""

    def __init__(self, stand_ins: StandIns, step: str) -> None:
        self.stand_ins = stand_ins
        self.step = step

    def model(
        self, command: str, kind: str, source: str, base_dir: Path, filename: str | None
    ) -> Path | None:
        return self.stand_ins.task_model(self.step, command, kind, source, base_dir, filename)

    def shrink(self, command: str, name: str, given: int) -> int:
        small = TASK_LIMITS.get(name)
        if small is None or given <= small:
            return given
        self.stand_ins._shrunk(self.step, name, given, small)
        return small


def _plain(value: Any) -> Any:
    """A JSON-ready rendering of a given value (anything else as its repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one intra-op thread for the run: a stand-in's tensors are tiny, so thread
    hand-offs cost more than they save (seven times the time on two busy cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def output_dir(base: Path) -> Path:
    """Where a stand-in run writes: its own folder, never mistaken for real results."""
    return base / OUTPUT_FOLDER
