"""``interpolate_frames`` (FORMAT.md section 2): more frames per second with RIFE 4.13.

Each pass puts one new frame halfway between every pair of neighbours (n frames become
2n - 1); ``multiplier`` 2, 4 or 8 is one, two or three passes, as dw does. Frames are run
padded (bottom and right, with zeros) to a multiple of 32, the size the flow network needs,
and cropped back. The weights are dw's default ``imaginairy/rife-interpolation``
``rife-flownet-4.13.2.safetensors`` or ``model_name`` / ``filename`` (a local file, a local
folder, or a cached hub repository: :mod:`locate`; ``.pth`` / ``.pkl`` checkpoints are read
with torch's weights-only loader), loaded into :mod:`.rife`'s network once per device and
kept warm. Returns one video, as ``gather_videos`` returns videos: a list holding the list of
its frames (PIL images), so the result saves as one video and the video commands read it.
Imports torch only when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from dw_lsp.worker.tasks import locate, rife
from dw_lsp.worker.tasks.common import REQUIRED, Handler, TaskContext, take, whole
from dw_lsp.worker.tasks.video import as_frame, frames_of

RIFE_REPO = "imaginairy/rife-interpolation"
RIFE_FILE = "rife-flownet-4.13.2.safetensors"
PASSES = {2: 1, 4: 2, 8: 3}
MULTIPLE = 32


def _load(context: TaskContext, model_name: Any, filename: Any) -> Any:
    device = context.target
    name = model_name if model_name is not None else RIFE_REPO
    weights = filename if filename is not None else RIFE_FILE
    path = locate.file_for(context, name, weights, "RIFE 4.13 weights", "frame-interpolation")

    def load() -> Any:
        import torch

        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            net = rife.load(state)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"task '{context.command}': {path.name}: {exc}") from exc
        return net.to(device)

    return context.models.load("model", (context.command, str(path), device), load)


def _tensor(frame: Image.Image, device: Any) -> Any:
    import torch

    array = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).to(device)


def _padded(tensor: Any) -> Any:
    import torch

    height, width = tensor.shape[2], tensor.shape[3]
    pad_h, pad_w = -height % MULTIPLE, -width % MULTIPLE
    return torch.nn.functional.pad(tensor, (0, pad_w, 0, pad_h))


def _image(tensor: Any, height: int, width: int) -> Image.Image:
    array = tensor[0, :, :height, :width].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.rint(array * 255.0).astype(np.uint8))


def interpolate_frames(arguments: Any, context: TaskContext) -> list[list[Image.Image]]:
    import torch

    values = take(
        context.command,
        arguments,
        {"video": REQUIRED, "multiplier": 2, "model_name": None, "filename": None},
    )
    command = context.command
    multiplier = whole(command, "multiplier", values["multiplier"])
    if multiplier not in PASSES:
        raise ValueError(f"task '{command}': multiplier must be 2, 4 or 8, got {multiplier}")
    frames = [as_frame(command, f).convert("RGB") for f in frames_of(command, values["video"])]
    if len(frames) < 2:
        raise ValueError(f"task '{command}' needs at least 2 frames, got {len(frames)}")
    if len({frame.size for frame in frames}) > 1:
        raise ValueError(f"task '{command}': the frames differ in size")
    net = _load(context, values["model_name"], values["filename"])
    device = next(net.parameters()).device
    width, height = frames[0].size
    for _ in range(PASSES[multiplier]):
        tensors = [_padded(_tensor(frame, device)) for frame in frames]
        result = [frames[0]]
        with torch.inference_mode():
            for index in range(1, len(frames)):
                middle = net(tensors[index - 1], tensors[index], 0.5)
                result += [_image(middle, height, width), frames[index]]
        frames = result
    return [frames]


COMMANDS: dict[str, Handler] = {"interpolate_frames": interpolate_frames}
