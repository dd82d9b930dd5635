import numpy as np
import pytest
from PIL import Image

from hairnet import golden
from hairnet.contract import CropRule
from hairnet.postprocess import (
    CropBox, crop_image, decode_attributes, head_crop_box, label_map, paste_back, whole_image_box,
)


def test_label_map_respects_the_threshold():
    probs = np.array([[[0.3, 0.6, 0.7]], [[0.4, 0.2, 0.7]]], dtype=np.float32)
    assert label_map(probs, 0.5).tolist() == [[0, 1, 2]]
    assert label_map(probs, 0.35).tolist() == [[2, 1, 2]]
    assert label_map(probs, 0.65).tolist() == [[0, 0, 2]]
    assert label_map(probs, 0.7).tolist() == [[0, 0, 0]]  # strictly greater


def test_label_map_nan_is_background_and_ties_go_to_hair():
    nan = np.nan
    probs = np.array([[[nan, 0.9, nan, 0.8]], [[0.9, nan, nan, 0.8]]], dtype=np.float32)
    assert label_map(probs).tolist() == [[0, 0, 0, 2]]


def test_label_map_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="shape"):
        label_map(np.zeros((3, 4, 4)))


def test_decode_attributes():
    decoded = decode_attributes([0.1, 0.6, 0.2, 0.1], [0.9, 0.5, 0.51, 0.0])
    assert decoded["hair_color"]["label"] == "blond"
    assert decoded["hair_color"]["probability"] == pytest.approx(0.6)
    assert [v["present"] for v in decoded["attributes"].values()] == [True, False, True, False]
    with pytest.raises(ValueError, match="non-finite"):
        decode_attributes([np.nan, 0.1, 0.1, 0.1], [0.1] * 4)


def test_crop_rule_geometry():
    rule = CropRule(k=2.0, dx=0.0, dy=0.0)
    assert head_crop_box((100, 50, 40, 60), rule) == CropBox(60, 20, 120)
    shifted = head_crop_box((100, 50, 40, 60), CropRule(k=2.0, dx=0.25, dy=-0.5))
    assert shifted == CropBox(70, -10, 120)
    with pytest.raises(ValueError):
        head_crop_box((0, 0, 0, 10), rule)


def test_whole_image_box_centres_the_photo():
    assert whole_image_box(400, 300) == CropBox(0, -50, 400)
    assert whole_image_box(301, 400) == CropBox(-49, 0, 400)


def test_crop_outside_is_zero_and_flagged():
    image = Image.new("RGB", (100, 200), (200, 100, 50))
    crop, inside = crop_image(image, CropBox(-100, 0, 200))
    assert crop.shape == (224, 224, 3)
    assert np.all(crop[:, :100] == 0) and np.all(crop[:, 124:] == (200, 100, 50))
    assert not inside[:, :100].any() and inside[:, 124:].all()


def test_paste_back_inverts_the_crop():
    labels = np.zeros((224, 224), dtype=np.uint8)
    labels[:, 112:] = 2
    box = CropBox(10, -20, 100)
    pasted = paste_back(labels, box, 80, 90)
    assert pasted.shape == (90, 80)
    assert np.all(pasted[:, :10] == 0)  # left of the square
    assert np.all(pasted[:, 10:60] == 0) and np.all(pasted[:80, 60:80] == 2)  # the square's halves
    assert np.all(pasted[80:] == 0)  # below the square


def test_golden_files_are_current():
    assert golden.main(["--check"]) == 0
