"""The RIFE 4.13 flow network (IFNet), written for the state-dict layout of the published
v4.13 checkpoints (``rife-flownet-4.13.2``), so those load into it unchanged.

The network estimates, for a middle moment between two frames, the flow from it to each
frame and a blending mask, coarse to fine: a feature head encodes each frame into 8
channels at full size; four flow blocks then run at 1/8, 1/4, 1/2 and full scale, the first
on the two frames and their features, each later one on the frames and features warped by
the flow so far, refining flow and mask. The result of each level is the two warped frames
blended by the mask; the last is the middle frame.

The widths are read from the state dict (:func:`widths_of`), so a checkpoint of the same
layout but narrower blocks (a stand-in) loads through the same code. Imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

#: The published widths: the four flow blocks, then the feature head.
BLOCK_WIDTHS = (192, 128, 96, 64)
HEAD_WIDTH = 32
#: Channels of a frame's encoded features.
FEATURES = 8
#: Residual convolutions in each flow block.
RESIDUALS = 8
#: Scales of the four levels, coarse to fine.
SCALES = (8, 4, 2, 1)


def _leaky(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride, 1), nn.LeakyReLU(0.2, True))


class Residual(nn.Module):
    """A 3 x 3 convolution scaled per channel (``beta``), added back to its input."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, width, 1, 1))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.relu(self.conv(x) * self.beta + x)
        return result


class Head(nn.Module):
    """Each frame's features: down by 2, two convolutions, up by 2 to 8 channels."""

    def __init__(self, width: int = HEAD_WIDTH) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, width, 3, 2, 1)
        self.cnn1 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn2 = nn.Conv2d(width, width, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(width, FEATURES, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.cnn0, self.cnn1, self.cnn2):
            x = self.relu(layer(x))
        result: torch.Tensor = self.cnn3(x)
        return result


class FlowBlock(nn.Module):
    """One level: its input brought to 1/scale, down 4x, residual convolutions, up 4x to
    4 flow channels (two 2-D flows), a mask channel and one unused, back to full size."""

    def __init__(self, inputs: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_leaky(inputs, width // 2, 2), _leaky(width // 2, width, 2))
        self.convblock = nn.Sequential(*(Residual(width) for _ in range(RESIDUALS)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, 24, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resize(x, 1.0 / scale)
        if flow is not None:
            x = torch.cat((x, _resize(flow, 1.0 / scale) / scale), 1)
        out = _resize(self.lastconv(self.convblock(self.conv0(x))), float(scale))
        return out[:, :4] * scale, out[:, 4:5]


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    return functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` sampled where ``flow`` (pixels, x then y) points, edges repeated."""
    _, _, height, width = image.shape
    ys = torch.linspace(-1.0, 1.0, height, device=image.device, dtype=image.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=image.device, dtype=image.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    shift_x = flow[:, 0] / ((width - 1.0) / 2.0)
    shift_y = flow[:, 1] / ((height - 1.0) / 2.0)
    grid = torch.stack((grid_x + shift_x, grid_y + shift_y), dim=-1)
    return functional.grid_sample(
        image, grid, mode="bilinear", padding_mode="border", align_corners=True
    )


class IFNet(nn.Module):
    """RIFE 4.13's flow network (see the module docstring)."""

    def __init__(self, widths: Sequence[int] = BLOCK_WIDTHS, head_width: int = HEAD_WIDTH) -> None:
        super().__init__()
        first = 3 + 3 + 2 * FEATURES + 1  # both frames, their features, the moment
        later = first + 1 + 4  # + the mask and the flow (two 2-D flows) so far
        self.block0 = FlowBlock(first, widths[0])
        self.block1 = FlowBlock(later, widths[1])
        self.block2 = FlowBlock(later, widths[2])
        self.block3 = FlowBlock(later, widths[3])
        self.encode = Head(head_width)

    def forward(self, first: torch.Tensor, second: torch.Tensor, moment: float) -> torch.Tensor:
        """The frame at ``moment`` (0..1) between two (N, 3, H, W) frames in [0, 1]; H and
        W must be multiples of 32."""
        features0, features1 = self.encode(first), self.encode(second)
        timestep = first.new_full((first.shape[0], 1, *first.shape[2:]), moment)
        blocks = (self.block0, self.block1, self.block2, self.block3)
        flow, mask = blocks[0](
            torch.cat((first, second, features0, features1, timestep), 1), None, SCALES[0]
        )
        warped0, warped1 = warp(first, flow[:, :2]), warp(second, flow[:, 2:4])
        for block, scale in zip(blocks[1:], SCALES[1:], strict=True):
            inputs = torch.cat(
                (
                    warped0,
                    warped1,
                    warp(features0, flow[:, :2]),
                    warp(features1, flow[:, 2:4]),
                    timestep,
                    mask,
                ),
                1,
            )
            flow_delta, mask_delta = block(inputs, flow, scale)
            flow, mask = flow + flow_delta, mask + mask_delta
            warped0, warped1 = warp(first, flow[:, :2]), warp(second, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        result: torch.Tensor = warped0 * weight + warped1 * (1 - weight)
        return result


def widths_of(state: Mapping[str, Any]) -> tuple[tuple[int, ...], int]:
    """The block widths and head width of a checkpoint in this layout."""
    try:
        blocks = tuple(int(state[f"block{i}.conv0.1.0.weight"].shape[0]) for i in range(4))
        head = int(state["encode.cnn0.weight"].shape[0])
    except KeyError as exc:
        raise ValueError(
            f"not a RIFE 4.13 flow network checkpoint: it lacks {exc.args[0]!r}"
        ) from exc
    return blocks, head


def load(state: Mapping[str, Any]) -> IFNet:
    """An IFNet holding ``state`` (a DataParallel ``module.`` prefix is dropped)."""
    cleaned = {key.removeprefix("module."): value for key, value in state.items()}
    blocks, head = widths_of(cleaned)
    net = IFNet(blocks, head)
    net.load_state_dict(cleaned)
    return net.eval()
