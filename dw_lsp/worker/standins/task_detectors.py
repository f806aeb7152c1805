"""Stand-ins for the checkpoints of the ControlNet-aux detectors (see :mod:`.task_models`,
which keys them as ``detector-<class>``).

controlnet_aux's networks have fixed widths, so a stand-in is the real network with random
weights, saved under every file name the detector's ``from_pretrained`` reads, laid out as
the repository is (``Anyline/MTEED.pth`` ...). Covered: TEED, Anyline (MTEED), PiDiNet, HED
(and scribble), lineart, M-LSD. The others (NormalBae, OpenPose, MiDaS, ZoeDepth, LeReS,
SAM) build their networks from torch.hub or timm backbones and have no stand-in yet.
Imports torch and controlnet_aux (module by module, as the detectors do) only when building.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dw_lsp.worker.tasks.detectors import DETECTORS, detector_class


@dataclass(frozen=True)
class Net:
    """A controlnet_aux network: module, class, constructor arguments, and whether the file
    wraps its state dict in ``{"state_dict": ...}``."""

    module: str
    cls: str
    arguments: tuple[Any, ...] = ()
    wrapped: bool = False


_TED = Net("controlnet_aux.teed.ted", "TED")
_LINEART = Net("controlnet_aux.lineart", "Generator", (3, 1, 3))
#: Detector class -> the network behind each file it reads.
NETS: dict[str, dict[str, Net]] = {
    "TEEDdetector": {"5_model.pth": _TED},
    "AnylineDetector": {"MTEED.pth": _TED},
    "PidiNetDetector": {
        "table5_pidinet.pth": Net("controlnet_aux.pidi.model", "pidinet", (), True)
    },
    "HEDdetector": {"ControlNetHED.pth": Net("controlnet_aux.hed", "ControlNetHED_Apache2")},
    "LineartDetector": {"sk_model.pth": _LINEART, "sk_model2.pth": _LINEART},
    "MLSDdetector": {
        "mlsd_large_512_fp32.pth": Net(
            "controlnet_aux.mlsd.models.mbv2_mlsd_large", "MobileV2_MLSD_Large"
        )
    },
}


def _state(net: Net) -> dict[str, Any]:
    module = importlib.import_module(net.module)
    network = getattr(module, net.cls)(*net.arguments)
    state = {key: value.detach().contiguous() for key, value in network.state_dict().items()}
    return {"state_dict": state} if net.wrapped else state


def detector_builder(cls: str) -> Callable[[Path], None]:
    """The builder of the stand-in repository of detector class ``cls``."""

    def build(folder: Path) -> None:
        import torch

        command = next(name for name, spec in DETECTORS.items() if spec.cls == cls)
        spec = DETECTORS[command]
        detector_class(command, spec)  # controlnet_aux importable, module by module
        for filename, net in NETS[cls].items():
            path = folder / spec.subfolder / filename if spec.subfolder else folder / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(_state(net), path)

    return build
