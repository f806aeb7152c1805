"""Model-backed task commands and ControlNet-aux detectors (FORMAT.md section 2), which
this worker refuses with a reason instead of pretending.

Each needs weights from the Hugging Face Hub (or torch.hub), and most a package the worker
does not ship; the worker never downloads models, so the refusal names the command, the
weights and the package. Pure data and one handler; imports nothing heavy.
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


_ANNOTATORS = "lllyasviel/Annotators"
_AUX = (("controlnet_aux", "controlnet-aux"),)

MODEL_COMMANDS: dict[str, Needs] = {
    "upscale": Needs(
        "Spandrel super-resolution",
        "the checkpoint named by model_name",
        (("spandrel", "spandrel"),),
    ),
    "diffusion_upscale": Needs(
        "Stable Diffusion upscaling",
        "stabilityai/stable-diffusion-x4-upscaler or stabilityai/sd-x2-latent-upscaler",
    ),
    "restore_faces": Needs(
        "face restoration", "the checkpoint named by model_name", (("spandrel", "spandrel"),)
    ),
    "segment": Needs(
        "text-prompted segmentation",
        "IDEA-Research/grounding-dino-base and facebook/sam2-hiera-large",
    ),
    "interpolate_frames": Needs("RIFE frame interpolation", "the RIFE 4.13 checkpoint"),
    "image_to_text": Needs("image captioning", "HuggingFaceTB/SmolVLM-256M-Instruct"),
    "text_generation": Needs(
        "text generation", "Qwen/Qwen2.5-1.5B-Instruct (SmolVLM with an image)"
    ),
    "remove_background": Needs(
        "background removal", "briaai/RMBG-2.0", (("torchvision", "torchvision"),)
    ),
    "segmentation": Needs("semantic segmentation", "openmmlab/upernet-convnext-small"),
    "zoe_depth": Needs(
        "ZoeDepth estimation",
        "the isl-org/ZoeDepth weights (torch.hub)",
        (("matplotlib", "matplotlib"),),
    ),
    "depth": Needs("DPT depth estimation", "Intel/dpt-hybrid-midas"),
    "depth_estimator": Needs(
        "depth estimation",
        "the default depth-estimation pipeline model",
        (("torchvision", "torchvision"),),
    ),
    "depth_estimator_tensor": Needs("depth estimation", "the default depth-estimation model"),
}

DETECTOR_COMMANDS: dict[str, Needs] = {
    "canny": Needs("ControlNet-aux Canny detector", None, _AUX),
    "mlsd": Needs("ControlNet-aux MLSD detector", _ANNOTATORS, _AUX),
    "normal_bae": Needs("ControlNet-aux NormalBae detector", _ANNOTATORS, _AUX),
    "lineart": Needs("ControlNet-aux line-art detector", _ANNOTATORS, _AUX),
    "lineart_standard": Needs("ControlNet-aux standard line-art detector", None, _AUX),
    "openpose": Needs("ControlNet-aux OpenPose detector", _ANNOTATORS, _AUX),
    "dw_pose": Needs("ControlNet-aux DWPose detector", "the DWPose checkpoints", _AUX),
    "hed": Needs("ControlNet-aux HED detector", _ANNOTATORS, _AUX),
    "scribble": Needs("ControlNet-aux HED scribble detector", _ANNOTATORS, _AUX),
    "pidi": Needs("ControlNet-aux PidiNet detector", _ANNOTATORS, _AUX),
    "midas": Needs("ControlNet-aux MiDaS detector", _ANNOTATORS, _AUX),
    "zoe": Needs("ControlNet-aux Zoe detector", _ANNOTATORS, _AUX),
    "leres": Needs("ControlNet-aux LeReS detector", _ANNOTATORS, _AUX),
    "teed": Needs("ControlNet-aux TEED detector", "fal-ai/teed", _AUX),
    "anyline": Needs("ControlNet-aux Anyline detector", "TheMistoAI/MistoLine", _AUX),
    "sam": Needs("ControlNet-aux SAM detector", "ybelkada/segment-anything", _AUX),
    "shuffle": Needs("ControlNet-aux content shuffle", None, _AUX),
}


def refusal(command: str, needs: Needs) -> TaskUnavailable:
    """Why ``command`` cannot run here: the weights it would download, the packages missing."""
    reasons = []
    if needs.weights is not None:
        reasons.append(f"it needs {needs.weights} downloaded, and this worker downloads no models")
    missing = [pip for module, pip in needs.packages if importlib.util.find_spec(module) is None]
    if missing:
        reasons.append(f"it runs through {', '.join(missing)}, which is not installed")
    if not reasons:
        reasons.append("this worker has no runner for it")
    return TaskUnavailable(
        f"task '{command}' ({needs.what}) is not available in this worker: " + "; ".join(reasons)
    )


def refuse(arguments: Any, context: TaskContext) -> Any:
    needs = MODEL_COMMANDS.get(context.command) or DETECTOR_COMMANDS[context.command]
    raise refusal(context.command, needs)


COMMANDS: dict[str, Handler] = {name: refuse for name in (*MODEL_COMMANDS, *DETECTOR_COMMANDS)}
