"""The stand-in SAM 2 processor (:mod:`dw_lsp.worker.standins.processors`): PIL image
processing with the outputs of transformers' torchvision one, boxes scaled by the library's
own processor code, masks upsampled to each image's size, a save/load round trip through
``AutoProcessor``, and real folders (naming ``Sam2Processor``) left to the library.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from dw_lsp.worker.standins.processors import Sam2PilImageProcessor, Sam2PilProcessor

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def processor() -> Sam2PilProcessor:
    images = Sam2PilImageProcessor(size={"height": 64, "width": 64})
    return Sam2PilProcessor(image_processor=images)


def test_images_become_normalised_squares_and_boxes_are_scaled_to_them() -> None:
    image = Image.new("RGB", (40, 30), (200, 40, 10))
    inputs = processor()(images=image, input_boxes=[[[4, 3, 20, 15]]], return_tensors="pt")
    assert sorted(inputs) == ["input_boxes", "original_sizes", "pixel_values"]
    assert inputs["pixel_values"].shape == (1, 3, 64, 64)
    expected = (np.array([200, 40, 10]) / 255 - MEAN) / STD
    assert np.allclose(inputs["pixel_values"][0, :, 10, 10].numpy(), expected, atol=1e-5)
    assert inputs["original_sizes"].tolist() == [[30, 40]]
    # x by 64 / 40, y by 64 / 30
    assert torch.allclose(inputs["input_boxes"], torch.tensor([[[6.4, 6.4, 32.0, 32.0]]]))


def test_masks_come_back_at_each_images_size_binarised() -> None:
    # one image, one object, SAM 2's three candidate masks: positive on the left half
    low = torch.full((1, 3, 16, 16), -5.0)
    low[..., :8] = 5.0
    masks = processor().post_process_masks([low], torch.tensor([[30, 40]]))
    assert len(masks) == 1 and masks[0].shape == (1, 3, 30, 40)
    assert masks[0].dtype == torch.bool
    assert masks[0][..., :18].all() and not masks[0][..., 22:].any()
    scores = processor().post_process_masks([low.numpy()], [[30, 40]], binarize=False)
    assert scores[0].dtype == torch.float32 and scores[0].shape == (1, 3, 30, 40)


def test_segmentation_maps_are_refused_with_a_reason() -> None:
    image = Image.new("RGB", (8, 8))
    with pytest.raises(ValueError, match="does not process segmentation maps"):
        processor()(images=image, segmentation_maps=Image.new("L", (8, 8)))


def test_a_saved_stand_in_loads_through_auto_processor_and_a_real_folder_does_not(
    tmp_path: Path,
) -> None:
    processor().save_pretrained(tmp_path / "stand-in")
    loaded = AutoProcessor.from_pretrained(tmp_path / "stand-in")
    assert type(loaded) is Sam2PilProcessor
    assert type(loaded.image_processor) is Sam2PilImageProcessor
    assert loaded.target_size == 64 and loaded.image_processor.size.height == 64
    # the same folder as SAM 2's repositories name it: transformers' own classes load it
    real = tmp_path / "real"
    real.mkdir()
    saved = json.loads((tmp_path / "stand-in" / "processor_config.json").read_text())
    saved["processor_class"] = "Sam2Processor"
    saved["image_processor"]["image_processor_type"] = "Sam2ImageProcessor"
    (real / "processor_config.json").write_text(json.dumps(saved))
    if importlib.util.find_spec("torchvision") is None:
        with pytest.raises(ValueError, match="torchvision"):
            AutoProcessor.from_pretrained(real)
    else:
        assert type(AutoProcessor.from_pretrained(real)).__name__ == "Sam2Processor"
