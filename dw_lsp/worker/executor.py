"""Executing a workflow file: the run-start phase and the step loop (FORMAT.md 1.1).

For each file (the top level, then each sub-workflow when its step is reached):

1. read the saved bytes (at most 50 MiB; their SHA-256 joins the run's file digest) and parse;
2. variables: ``constant:`` defaults resolved, caller values coerced to the declared types
   (a failed conversion is an error), realized, and every ``variable:`` substituted;
3. preflight, before anything loads: unsupported keys, unsafe output names, unwritable
   content types, unknown task commands, loading arguments that would run code and names a
   workflow may not use (:mod:`guard`: ``trust_remote_code``, ``numpy.memmap``, functions,
   modules), explicit devices this worker lacks (:mod:`device_rules`; a stand-in run maps
   them to its device instead, reported), quantization backends and ``pre_load_modules`` not
   installed, not allowed or unable to run on this device (:mod:`quantize`), for this file
   and its statically known sub-workflows (none of which may lie in the output directory);
   then every pipeline step's load-time types are resolved and checked (modular classes,
   LoRAs without peft);
4. the seed: the file's ``seed``, else the one the calling step passes down, else random;
5. steps in order, each its own share of the progress; results saved with dw's naming;
   results no later step mentions are dropped; ``release_pipeline`` releases the step's
   pipeline and ``release_models`` every task model; a
   ``gc.collect()`` between steps (not after the last: the run's cleanup comes after the
   reply). Task models live in the same cache as pipelines (:class:`steps.TaskModels`).

Knows nothing of the cache or the transport (pipelines come through a
:class:`PipelineProvider`). May import torch and diffusers through its helpers.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dw_lsp import output_files
from dw_lsp.worker import chain_step, guard, memory, steps, support, tasks, values
from dw_lsp.worker.loading import loader as loading
from dw_lsp.worker.loading import quantize
from dw_lsp.worker.outputs import save as outputs
from dw_lsp.worker.progress import Position, RunCancelled
from dw_lsp.worker.run_state import (
    LoadedStep,
    PipelineProvider,
    PreflightError,
    RunState,
    StepError,
)
from dw_lsp.workflow import device_rules, files, refs
from dw_lsp.workflow.outline import STEP_KINDS

log = logging.getLogger("dw_lsp.worker.executor")


def read_document(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The saved bytes of a workflow file and the object they hold."""
    data = files.read_workflow_bytes(path)
    try:
        document = files.load_workflow_json(files.decode_workflow(data))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: a workflow is a JSON object")
    return data, document


def resolve_workflow_path(value: str, base_dir: Path, top_dir: Path) -> Path:
    """``builtin:NAME.json`` -> the project's built-ins; anything else relative to the
    referencing file's folder, and inside it (or the top-level workflow's folder)."""
    if refs.builtin_name(value) is not None:
        return files.resolve_builtin(value)
    return values.check_path(value, base_dir, roots=[top_dir])


def _mentions(node: Any, name: str) -> bool:
    """Does ``node`` reference step ``name``'s result (either reference form)?"""
    if isinstance(node, str):
        target = refs.previous_result_target(node)
        return target is not None and (target == name or target.startswith(name + "."))
    if isinstance(node, Mapping):
        if node.get("from_previous_result") == name:
            return True
        return any(_mentions(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, name) for v in node)
    return False


class Executor:
    """Runs workflow files for one ``execute`` request."""

    def __init__(self, state: RunState, provider: PipelineProvider) -> None:
        self.state = state
        self.provider = provider

    # -- run start ------------------------------------------------------------------------

    def read(self, path: Path) -> dict[str, Any]:
        apart = output_files.apart_problem(self.state.out_dir, path)
        if apart is not None:  # a sub-workflow named by a variable, found only now
            raise output_files.OutputError(apart)
        data, document = read_document(path)
        self.state.files[path] = hashlib.sha256(data).hexdigest()
        return document

    def prepare(self, path: Path, arguments: Mapping[str, Any], top: bool) -> dict[str, Any]:
        """Parse, apply variables and preflight one file; nothing is loaded here."""
        document = self.read(path)
        declared = document.get("variables")
        if declared is not None:
            if not isinstance(declared, dict):
                raise ValueError(f"{path.name}: 'variables' must be an object")
            defaults = {
                name: self.state.resolver.resolve_constant(refs.constant_name(v) or "")
                if refs.constant_name(v) is not None
                else v
                for name, v in declared.items()
            }
            given = values.coerce_arguments(defaults, dict(arguments))
            realized = values.realize(
                given,
                path.parent,
                self.state.resolver,
                roots=[self.state.top_dir],
                media=self.state.media_loader,
            )
            body = {k: v for k, v in document.items() if k != "variables"}
            document = values.substitute_variables(body, realized)
        elif arguments:
            names = ", ".join(sorted(arguments))
            if top:
                raise ValueError(f"{path.name} declares no variables, so {names} cannot be set")
            self.state.note(
                f"{path.name} declares no variables: arguments {names} are ignored (as dw does)"
            )
        if self.state.stand_ins is not None:
            document = self.state.stand_ins.map_devices(document, self.state.note)
        problems = self._preflight(document)
        problems.extend(self._unavailable_tasks(document))
        if top:
            problems.extend(self._children_problems(document, path.parent, {path}))
        if problems:
            raise PreflightError(path, problems)
        return document

    def _preflight(self, document: Mapping[str, Any]) -> list[str]:
        """The checks of step 3 (module docstring) that need no file but this one. A stand-in
        run checks the document with its devices mapped (its own file's were, and noted)."""
        if self.state.stand_ins is not None:
            document = device_rules.mapped(document, self.state.device)[0]
        problems = support.preflight(document, tasks.TASK_COMMANDS)
        problems.extend(guard.code_argument_problems(document, self.state.allow_remote_code))
        problems.extend(guard.name_problems(document, self.state.resolver))
        problems.extend(device_rules.problems(document, self.state.device))
        problems.extend(
            quantize.document_problems(document, self.state.device, self.state.resolver.extra)
        )
        return problems

    def _unavailable_tasks(self, document: Mapping[str, Any]) -> list[str]:
        available = tasks.available_commands()
        problems: list[str] = []
        for step in document.get("steps", []):
            if not isinstance(step, Mapping) or not isinstance(step.get("task"), Mapping):
                continue
            command = step["task"].get("command")
            if command in tasks.TASK_COMMANDS and command not in available:
                problems.append(
                    f"step {step.get('name')!r}: task command {command!r} cannot run in this "
                    "worker (its model or package is not available here)"
                )
            elif command in tasks.REMOTE_CODE_COMMANDS and not self.state.allow_remote_code:
                problems.append(
                    f"step {step.get('name')!r}: task command {command!r} runs the model code "
                    "that comes with its weights; it runs only when worker.allowRemoteCode is true"
                )
        return problems

    def _children_problems(
        self, document: Mapping[str, Any], base_dir: Path, seen: set[Path]
    ) -> list[str]:
        """Preflight sub-workflows whose paths are known before the run (no variables)."""
        problems: list[str] = []
        for step in document.get("steps", []):
            workflow = step.get("workflow") if isinstance(step, Mapping) else None
            target = workflow.get("path") if isinstance(workflow, Mapping) else None
            if not isinstance(target, str) or refs.variable_name(target) is not None:
                continue
            try:
                child = resolve_workflow_path(target, base_dir, self.state.top_dir)
                _data, raw = read_document(child)
            except (OSError, ValueError) as exc:
                problems.append(f"step {step.get('name')!r}: workflow.path {target!r}: {exc}")
                continue
            apart = output_files.apart_problem(self.state.out_dir, child)
            if apart is not None:
                problems.append(f"step {step.get('name')!r}: {apart}")
            if child in seen or len(seen) > files.MAX_NESTING:
                continue
            problems.extend(f"{child.name}: {p}" for p in self._preflight(raw))
            problems.extend(self._children_problems(raw, child.parent, seen | {child}))
        return problems

    def resolve_pipeline(self, step: Mapping[str, Any]) -> dict[str, Any]:
        """One pipeline step's load-time objects with types resolved, and checked."""
        spec = {k: v for k, v in step["pipeline"].items() if k != "arguments"}
        try:
            resolved: dict[str, Any] = values.resolve_type_strings(spec, self.state.resolver)
            loading.check_loadable(resolved, self.state.device)
        except Exception as exc:
            raise StepError(f"step {step['name']!r}: {exc}") from exc
        return resolved

    def resolve_pipelines(self, document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Every pipeline step's load-time objects with types resolved, and checked."""
        return {
            step["name"]: self.resolve_pipeline(step)
            for step in document["steps"]
            if "pipeline" in step
        }

    # -- the step loop --------------------------------------------------------------------

    def run_file(
        self,
        path: Path,
        arguments: Mapping[str, Any],
        inherited_seed: int | None,
        position: Position,
        depth: int = 0,
    ) -> list[Any]:
        """Run one workflow file; returns its last step's results."""
        if depth > files.MAX_NESTING:
            raise ValueError(f"sub-workflows nest deeper than {files.MAX_NESTING} (a cycle?)")
        document = self.prepare(path, arguments, top=depth == 0)
        resolved = self.resolve_pipelines(document)
        seed = document.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool):
            # A seed for image noise, not a secret (S311 is about cryptography).
            seed = inherited_seed if inherited_seed is not None else random.randrange(2**32)  # noqa: S311
            if depth == 0:
                log.info("%s: no seed given, drawn %d", path.name, seed)
        workflow_id = str(document["id"])
        step_list = document["steps"]
        results: steps.Results = {}
        loaded: dict[str, LoadedStep] = {}
        for index, step in enumerate(step_list):
            self.state.reporter.token.check()
            name = str(step["name"])
            where = position.for_step(name, index, len(step_list))
            kind = next(k for k in STEP_KINDS if k in step)
            self.state.progress(where, "step", f"step {index + 1}/{len(step_list)}: {name}")
            try:
                outcome = self._run_step(
                    kind, step, path, seed, resolved, results, loaded, where, depth, workflow_id
                )
                results[name] = outcome
                if isinstance(step.get("result"), Mapping):
                    self._save(step, index, workflow_id, outcome, resolved, where)
                chain_step.finish(outcome, self.state)
            except RunCancelled:
                raise
            except Exception as exc:
                raise StepError(f"step {name!r} ({kind}) of {path.name} failed: {exc}") from exc
            if step.get("release_pipeline") and name in loaded:
                self.provider.release(loaded.pop(name).key, self.state)
            if step.get("release_models"):
                self.provider.release_task_models(self.state)
            for earlier in list(results):
                later = step_list[index + 1 :]
                if earlier != name and not any(_mentions(s, earlier) for s in later):
                    del results[earlier]
            if index < len(step_list) - 1:
                memory.step_cleanup()
        return results[str(step_list[-1]["name"])]

    def _run_step(
        self,
        kind: str,
        step: Mapping[str, Any],
        path: Path,
        seed: int,
        resolved: Mapping[str, dict[str, Any]],
        results: steps.Results,
        loaded: dict[str, LoadedStep],
        where: Position,
        depth: int,
        workflow_id: str,
    ) -> list[Any]:
        base_dir = path.parent
        prefix = f"{workflow_id}-{step['name']}"
        if kind == "pipeline":
            label = f"{step['name']}@{path.name}"
            return steps.run_pipeline(
                step,
                resolved[step["name"]],
                label,
                seed,
                base_dir,
                self.state,
                self.provider,
                results,
                loaded,
                where,
                prefix,
            )
        if kind == "pipeline_reference":
            return steps.run_reference(step, base_dir, self.state, results, loaded, where, prefix)
        if kind == "task":
            label = f"{step['name']}@{path.name}"
            return steps.run_task(
                step, label, base_dir, self.state, self.provider, results, loaded, where
            )
        child = resolve_workflow_path(step["workflow"]["path"], base_dir, self.state.top_dir)
        own = step.get("seed")
        step_seed = own if isinstance(own, int) and not isinstance(own, bool) else seed

        def run_child(
            child_path: Path, arguments: dict[str, Any], child_seed: int, position: Position
        ) -> list[Any]:
            return self.run_file(child_path, arguments, child_seed, position, depth + 1)

        return steps.run_workflow(
            step, child, step_seed, base_dir, self.state, results, where, run_child
        )

    def _save(
        self,
        step: Mapping[str, Any],
        index: int,
        workflow_id: str,
        outcome: list[Any],
        resolved: Mapping[str, dict[str, Any]],
        where: Position,
    ) -> None:
        result = step["result"]
        metadata: dict[str, Any] = {"step": step["name"]}
        if "pipeline" in step:
            source = step["pipeline"].get("from_pretrained_arguments", {})
            metadata["model_name"] = source.get("model_name") or source.get("from_single_file")
            metadata["arguments"] = step["pipeline"].get("arguments")
        self.state.progress(where, "save", f"saving the results of {step['name']}", 1.0)
        writer = outputs.ResultWriter(
            self.state.out_dir,
            workflow_id,
            str(step["name"]),
            index,
            result,
            values.artifacts,
            metadata,
        )
        self.state.outputs.extend(writer.save(outcome))
