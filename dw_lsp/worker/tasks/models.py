"""The model-backed task commands (FORMAT.md section 2) this worker has no runner for
yet, refused with a reason instead of pretending: the refusal names the command, the
weights it would use and any package missing. Pure data and one handler; imports nothing
heavy.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from dw_lsp.worker.tasks.common import Handler, TaskContext, TaskUnavailable


@dataclass(frozen=True)
class Needs:
    """What a command would need: a description, its weights, and packages beyond ours."""

    what: str
    weights: str | None  # None: the command needs no downloaded weights
    packages: tuple[tuple[str, str], ...] = ()  # (import name, pip name)


MODEL_COMMANDS: dict[str, Needs] = {
    # dw detects, aligns and pastes faces back with facexlib, whose RetinaFace detector is
    # built on torchvision and whose detection and parsing weights it downloads on first use.
    "restore_faces": Needs(
        "face restoration",
        "the checkpoint named by model_name, and facexlib's RetinaFace and face-parsing "
        "weights, which facexlib downloads on first use",
        (("facexlib", "facexlib"), ("torchvision", "torchvision")),
    ),
    "zoe_depth": Needs(
        "ZoeDepth estimation",
        "the isl-org/ZoeDepth weights (torch.hub)",
        (("matplotlib", "matplotlib"),),
    ),
    "dw_pose": Needs("ControlNet-aux DWPose detector", "the DWPose checkpoints"),
}


def refusal(command: str, needs: Needs) -> TaskUnavailable:
    """Why ``command`` cannot run here: the weights it would download, the packages missing."""
    reasons = []
    if needs.weights is not None:
        reasons.append(f"this worker has no runner for it yet (it would use {needs.weights})")
    missing = [pip for module, pip in needs.packages if importlib.util.find_spec(module) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        reasons.append(f"it runs through {' and '.join(missing)}, which {verb} not installed")
    if not reasons:
        reasons.append("this worker has no runner for it")
    return TaskUnavailable(
        f"task '{command}' ({needs.what}) is not available in this worker: " + "; ".join(reasons)
    )


def refuse(arguments: Any, context: TaskContext) -> Any:
    raise refusal(context.command, MODEL_COMMANDS[context.command])


COMMANDS: dict[str, Handler] = dict.fromkeys(MODEL_COMMANDS, refuse)
