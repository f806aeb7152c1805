"""Arrays saved as images or as several waveforms (FORMAT.md 1.8 writes images through
``.save``, and a batched waveform one file per item).

A pipeline that predicts rather than generates (Marigold depth and normals) returns its
prediction as a numpy array (``N x H x W x C``) or a torch tensor (``N x C x H x W``), not as
PIL images, so an ``image/*`` result has nothing with ``.save``. :func:`as_images` turns such
an array into PIL images, one per batch item: values in [0, 1] scaled to 8 bits (Marigold's
depth), values reaching below 0 read as [-1, 1] and mapped to [0, 1] first (Marigold's
normals, the mapping its own ``visualize_normals`` uses); 1, 3 or 4 channels give ``L``,
``RGB`` or ``RGBA``. Anything else is not an image (None). :func:`as_waveforms` splits a
batched waveform likewise. May import numpy and PIL; never the transport.
"""

from __future__ import annotations

from typing import Any

MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def as_images(value: Any) -> list[Any] | None:
    """The PIL images an image-shaped array or tensor holds, or None if it holds none."""
    import numpy

    if hasattr(value, "detach"):  # a torch tensor: channels first
        value = value.detach().float().cpu().numpy()
        if value.ndim in (3, 4) and value.shape[-3] in MODES:
            value = numpy.moveaxis(value, -3, -1)
    if not isinstance(value, numpy.ndarray) or value.dtype.kind not in "fiub":
        return None
    if value.ndim == 2:
        value = value[..., None]
    if value.ndim == 3:
        value = value[None]
    if value.ndim != 4 or value.shape[-1] not in MODES or min(value.shape[1:3]) < 1:
        return None
    if value.dtype != numpy.uint8:
        data = value.astype(numpy.float32)
        if data.size and float(data.min()) < 0:
            data = (data + 1.0) / 2.0
        value = (numpy.clip(data, 0.0, 1.0) * 255.0).round().astype(numpy.uint8)
    from PIL import Image

    mode = MODES[value.shape[-1]]
    return [Image.fromarray(item[..., 0] if mode == "L" else item, mode) for item in value]


def as_waveforms(value: Any) -> list[Any] | None:
    """The waveforms of a batched one (``batch x channels x samples``, as MiniMax Music 3
    returns), or None for anything else (a single waveform is written as it is)."""
    import numpy

    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    if not isinstance(value, numpy.ndarray) or value.ndim != 3:
        return None
    return list(value)
