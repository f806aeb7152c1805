"""A ``chain`` on a ``pipeline`` or ``pipeline_reference`` step, inside the run (FORMAT.md
1.4.8): resolving the chain's ``prompts`` (``previous_result:`` gives the step's first
artifact; ``variable:`` was substituted with the document), progress per segment (each
segment is its share of the iteration, with its own denoising steps inside), cancel between
segments (and within them, through the denoising hooks), and ``save_segments`` files named
``{id}-{step}.{k}.segment-NNN.mp4`` in the output directory, removed once the step's result
is saved unless ``keep_segments`` (then they join the run's outputs). A segment with sound
is saved with it (:mod:`dw_lsp.worker.outputs.av`), as is the stitched video.

Segment planning and stitching live in :mod:`dw_lsp.worker.chain`. May import torch and
diffusers (lazily, for the video writer); never the transport.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dw_lsp import output_files
from dw_lsp.worker import chain, values
from dw_lsp.worker.outputs import av
from dw_lsp.worker.outputs import save as outputs
from dw_lsp.worker.progress import Position
from dw_lsp.worker.run_state import RunState
from dw_lsp.worker.values.iterations import property_values
from dw_lsp.workflow import refs

log = logging.getLogger("dw_lsp.worker.chain")

#: Calls the pipeline once with these arguments at this position (progress, cancel hooks).
Call = Callable[[Mapping[str, Any], Position], Any]


def resolve_prompts(prompts: Any, results: Mapping[str, list[Any]]) -> Any:
    """``previous_result:STEP[.PROP]`` entries of ``chain.prompts`` -> the first artifact."""
    if not isinstance(prompts, list):
        return prompts
    resolved: list[Any] = []
    for index, prompt in enumerate(prompts):
        target = refs.previous_result_target(prompt)
        if target is None:
            resolved.append(prompt)
            continue
        step, prop = refs.split_previous_result(target, results)
        if step not in results:
            raise chain.ChainError(
                f"chain.prompts[{index}]: {prompt!r} names no earlier step's result"
            )
        found = (
            values.artifacts(results[step])
            if prop is None
            else property_values(results[step], step, prop)
        )
        if not found:
            raise chain.ChainError(f"chain.prompts[{index}]: step {step!r} has no result")
        resolved.append(found[0])
    return resolved


@dataclass
class Chained:
    """A step's chain definition with its prompts resolved for this run."""

    definition: dict[str, Any]
    prefix: str
    out_dir: Path

    @classmethod
    def of(
        cls, step: Mapping[str, Any], results: Mapping[str, list[Any]], state: RunState, prefix: str
    ) -> Chained:
        definition = step["chain"]
        if not isinstance(definition, Mapping):
            raise chain.ChainError("chain must be an object")
        resolved = dict(definition)
        if "prompts" in resolved:
            resolved["prompts"] = resolve_prompts(resolved["prompts"], results)
        return cls(resolved, prefix, state.out_dir)

    def run(
        self,
        pipe: Any,
        arguments: Mapping[str, Any],
        iteration: int,
        where: Position,
        state: RunState,
        call: Call,
    ) -> chain.ChainedVideo:
        config = chain.settings(self.definition, arguments)
        write = self._writer(config, iteration, state) if config.save_segments else None

        def run_segment(current: dict[str, Any], index: int, count: int) -> Any:
            state.reporter.token.check()
            part = where.for_part(index, count)
            frames = current.get("num_frames")
            state.progress(
                part,
                "segment",
                f"{where.step}: segment {index + 1}/{count}"
                + (f" ({frames} frames)" if frames else ""),
            )
            return call(current, part)

        video = chain.run_chain(config, arguments, run_segment, av.sample_rate_of(pipe), write)
        video.keep_files = config.keep_segments
        return video

    def _writer(
        self, config: chain.ChainSettings, iteration: int, state: RunState
    ) -> chain.WriteSegment:
        problem = outputs.writer_problem("video/mp4")
        if problem is not None:
            raise chain.ChainError(f"chain.save_segments: {problem}")
        if config.fps is None:
            raise chain.ChainError(
                "chain.save_segments needs the frame rate: set chain.fps or a frame_rate argument"
            )
        fps = config.fps

        def write(
            index: int, frames: list[Image.Image], audio: np.ndarray | None, rate: int | None
        ) -> Path:
            from diffusers.utils.export_utils import export_to_video

            def save(partial: Path) -> None:
                if audio is not None and rate:  # the segment's own sound, muxed
                    av.write_mp4(partial, list(frames), round(fps), audio, rate)
                else:
                    export_to_video(list(frames), str(partial), fps=round(fps))

            name = f"{self.prefix}.{iteration}.segment-{index:03d}.mp4"
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = output_files.write_atomically(self.out_dir, name, ".mp4", save)
            log.info("saved chain segment %s", path.name)
            return path

        return write


def finish(outcome: list[Any], state: RunState) -> None:
    """After a step's result is saved: keep (as outputs) or remove its segment files."""
    for iteration in outcome:
        for item in iteration if isinstance(iteration, list) else [iteration]:
            if not isinstance(item, chain.ChainedVideo):
                continue
            for path in item.segment_files:
                if item.keep_files:
                    state.outputs.append(str(path))
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            item.segment_files = []
