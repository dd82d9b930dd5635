"""Full-size evaluation (`hairnet.evaluate`) on a tiny Figaro-1k layout, with models whose answer is known."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hairnet.checkpoint import save_checkpoint
from hairnet.evaluate import evaluate
from hairnet.model import HairNet, HairNetConfig

SIZES = ((40, 30), (24, 36), (32, 32))  # (width, height): photos with no face, framed whole and padded


def _figaro(root: Path) -> list[np.ndarray]:
    """Testing photos of random noise (no face to find), each with a rectangle of hair; returns the masks."""
    rng = np.random.default_rng(0)
    masks = []
    for index, (width, height) in enumerate(SIZES):
        stem = f"Frame{index:05d}"
        for folder in ("Original/Testing", "GT/Testing"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            root / "Original/Testing" / f"{stem}-org.jpg")
        mask = np.zeros((height, width), bool)
        mask[2 : 2 + 5 * (index + 1), 3 : 3 + 4 * (index + 2)] = True
        Image.fromarray(mask).convert("1").save(root / "GT/Testing" / f"{stem}-gt.pbm")
        masks.append(mask)
    return masks


def _constant_model(path: Path, hair_logit: float) -> Path:
    """A network whose every pixel gets logit −20 for skin and `hair_logit` for hair, whatever the photo."""
    model = HairNet(HairNetConfig(width_multiplier=0.25))
    with torch.no_grad():
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.tensor([-20.0, hair_logit]))
    save_checkpoint(path, model)
    return path


@pytest.mark.parametrize("hair_logit", [20.0, -20.0])
def test_hair_iou_is_pooled_over_every_pixel_of_every_photo(tmp_path, hair_logit):
    masks = _figaro(tmp_path / "Figaro1k")
    checkpoint = _constant_model(tmp_path / "model.pt", hair_logit)
    result = evaluate(checkpoint, "figaro1k", tmp_path / "Figaro1k", split="test", report_dir=tmp_path / "report")
    assert result["segmentation_images"] == len(SIZES) and result["face_fallback"] == len(SIZES)
    # Hair everywhere: the intersection is the true hair, the union every pixel of every photo.
    hair, pixels = sum(int(m.sum()) for m in masks), sum(m.size for m in masks)
    expected = hair / pixels if hair_logit > 0 else 0.0
    assert result["hair_iou"] == pytest.approx(expected)
    assert result["hair_iou_per_image_mean"] == pytest.approx(np.mean([m.mean() for m in masks]) if hair_logit > 0 else 0.0)
    report = (tmp_path / "report" / "report.md").read_text()
    for index in range(len(SIZES)):  # three photos: each is among both the four worst and the four best
        for kind in ("worst", "best"):
            assert f"| {kind} | Frame{index:05d} |" in report
            overlay = Image.open(tmp_path / "report" / f"{kind}_Frame{index:05d}.png")
            width, height = SIZES[index]
            assert overlay.size == (2 * width, height)  # ground truth beside the prediction
