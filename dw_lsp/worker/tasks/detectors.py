"""The ControlNet-aux detectors (FORMAT.md section 2), run through ``controlnet_aux``.

``canny``, ``shuffle`` and ``lineart_standard`` need no weights. Every other detector loads
the checkpoint files dw loads (``lllyasviel/Annotators`` and friends) from the local Hugging
Face cache: each file is looked up ``local_files_only`` first, so a missing one is named
with the command that fetches it, and the detector is then built from the local snapshot
folder (no network); in a stand-in run, from the stand-in of its checkpoints where one
exists (:mod:`dw_lsp.worker.standins.task_detectors`). A detector is loaded once per device
and kept warm. The extra keyword
arguments of the step go to the detector's call, after dw's fixed ones (``coarse`` for
``lineart``, ``hand_and_face`` for ``openpose`` ...), which they may override. Each image
of a list (video frames) is processed in turn. Imports controlnet_aux only when a command
runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dw_lsp.worker.tasks import locate
from dw_lsp.worker.tasks.common import Handler, TaskContext, each_image

ANNOTATORS = "lllyasviel/Annotators"


@dataclass(frozen=True)
class Detector:
    """How dw builds one detector: the controlnet_aux class, the repository and the files
    its ``from_pretrained`` reads (none: built without weights), the keyword arguments of
    ``from_pretrained`` and the fixed ones of the call."""

    cls: str
    module: str
    repo: str | None = None
    files: tuple[str, ...] = ()
    subfolder: str | None = None
    load: dict[str, Any] = field(default_factory=dict)
    call: dict[str, Any] = field(default_factory=dict)
    to_device: bool = True


DETECTORS: dict[str, Detector] = {
    "canny": Detector("CannyDetector", "canny"),
    "shuffle": Detector("ContentShuffleDetector", "shuffle"),
    "lineart_standard": Detector("LineartStandardDetector", "lineart_standard"),
    "mlsd": Detector("MLSDdetector", "mlsd", ANNOTATORS, ("mlsd_large_512_fp32.pth",)),
    "normal_bae": Detector("NormalBaeDetector", "normalbae", ANNOTATORS, ("scannet.pt",)),
    "lineart": Detector(
        "LineartDetector",
        "lineart",
        ANNOTATORS,
        ("sk_model.pth", "sk_model2.pth"),
        call={"coarse": True},
    ),
    "openpose": Detector(
        "OpenposeDetector",
        "open_pose",
        ANNOTATORS,
        ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"),
        call={"hand_and_face": True},
    ),
    "hed": Detector(
        "HEDdetector", "hed", ANNOTATORS, ("ControlNetHED.pth",), call={"scribble": False}
    ),
    "scribble": Detector(
        "HEDdetector", "hed", ANNOTATORS, ("ControlNetHED.pth",), call={"scribble": True}
    ),
    "pidi": Detector(
        "PidiNetDetector", "pidi", ANNOTATORS, ("table5_pidinet.pth",), call={"safe": True}
    ),
    "midas": Detector("MidasDetector", "midas", ANNOTATORS, ("dpt_hybrid-midas-501f0c75.pt",)),
    "zoe": Detector("ZoeDetector", "zoe", ANNOTATORS, ("ZoeD_M12_N.pt",)),
    "leres": Detector("LeresDetector", "leres", ANNOTATORS, ("res101.pth", "latest_net_G.pth")),
    "teed": Detector(
        "TEEDdetector", "teed", "fal-ai/teed", ("5_model.pth",), load={"filename": "5_model.pth"}
    ),
    "anyline": Detector(
        "AnylineDetector",
        "anyline",
        "TheMistoAI/MistoLine",
        ("MTEED.pth",),
        subfolder="Anyline",
        load={"filename": "Anyline/MTEED.pth"},
    ),
    "sam": Detector(
        "SamDetector",
        "segment_anything",
        "ybelkada/segment-anything",
        ("sam_vit_h_4b8939.pth",),
        subfolder="checkpoints",
        load={"filename": "checkpoints/sam_vit_h_4b8939.pth"},
        to_device=False,
    ),
}


def _snapshot(context: TaskContext, spec: Detector, repo: str) -> Path:
    """The local snapshot folder of ``repo`` holding every file ``spec`` needs (each one
    checked)."""
    what = f"the controlnet_aux {spec.cls}"
    paths = [
        locate.model_file(context.command, repo, name, context.base_dir, what, spec.subfolder)
        for name in spec.files
    ]
    depth = len(Path(spec.files[0]).parts) + (1 if spec.subfolder else 0)
    return paths[0].parents[depth - 1]


def detector_class(command: str, spec: Detector) -> Any:
    """The controlnet_aux class of ``spec``.

    controlnet_aux's package init imports every detector, so one dependency missing for
    some of them (torchvision, which has no build for a CPU-only torch on some machines)
    would disable all. Then the detector's own module is loaded alone, under a bare package;
    a dependency it needs itself is named.
    """
    loaded = sys.modules.get("controlnet_aux")
    if loaded is None:
        try:
            loaded = importlib.import_module("controlnet_aux")
        except ImportError as exc:
            if importlib.util.find_spec("controlnet_aux") is None:
                raise locate.unimportable(command, "controlnet_aux", exc) from exc
    if hasattr(loaded, spec.cls):
        return getattr(loaded, spec.cls)
    name = f"controlnet_aux.{spec.module}"
    if not isinstance(sys.modules.get("controlnet_aux"), ModuleType):
        package_spec = importlib.util.find_spec("controlnet_aux")
        if package_spec is None:
            raise locate.unimportable(command, "controlnet_aux", ImportError(name="controlnet_aux"))
        package = ModuleType("controlnet_aux")
        package.__path__ = list(package_spec.submodule_search_locations or [])
        package.__spec__ = package_spec
        sys.modules["controlnet_aux"] = package
    try:
        return getattr(importlib.import_module(name), spec.cls)
    except ImportError as exc:
        raise locate.unimportable(command, "controlnet_aux", exc, spec.cls) from exc


def _folder(context: TaskContext, spec: Detector) -> Path | None:
    """Where the detector's checkpoints are: a stand-in run's stand-in, the local snapshot
    (every file checked, so a missing one is named), or None for a detector without any."""
    if spec.repo is None:
        return None
    stood = locate.stand_in(context, spec.repo, f"detector-{spec.cls}")
    return stood if stood is not None else _snapshot(context, spec, spec.repo)


def _build(context: TaskContext, spec: Detector, folder: Path | None, device: str) -> Any:
    kind = detector_class(context.command, spec)
    if folder is None:
        return kind()
    detector = kind.from_pretrained(str(folder), **spec.load)
    return detector.to(device) if spec.to_device else detector


def run_detector(arguments: Any, context: TaskContext) -> Any:
    if not isinstance(arguments, dict):
        raise ValueError(f"task '{context.command}' takes an object of arguments")
    if "image" not in arguments:
        raise ValueError(f"task '{context.command}' needs the argument 'image'")
    extra = {k: v for k, v in arguments.items() if k != "image"}
    spec = DETECTORS[context.command]
    device = context.target
    folder = _folder(context, spec)
    detector = context.models.load(
        "detector",
        ("detector", spec.cls, str(folder), device),
        lambda: _build(context, spec, folder, device),
    )
    options = {**spec.call, **extra}
    return each_image(context.command, arguments["image"], lambda image: detector(image, **options))


COMMANDS: dict[str, Handler] = dict.fromkeys(DETECTORS, run_detector)
