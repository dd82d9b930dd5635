"""Full-size evaluation (`hairnet.evaluate`) and the hair-logit calibration (`hairnet.calibration`) on a tiny
Figaro-1k layout, with models whose answer is known."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hairnet.calibration import best_offset, calibrate, hair_iou_by_offset, shift_hair_logit
from hairnet.checkpoint import load_checkpoint, save_checkpoint
from hairnet.cli import main
from hairnet.data import open_dataset
from hairnet.errors import DataError
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


def test_hair_logit_offset_moves_only_the_hair_logit_and_keeps_the_masks_the_heads_read():
    model = HairNet(HairNetConfig(width_multiplier=0.25)).eval()
    with torch.no_grad():  # skin never present; hair p = 0.45 everywhere, so every mask is empty
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.tensor([-20.0, -0.2]))
    x = torch.randn(2, 3, 224, 224)
    before, (_, color, attributes) = model.logits(x)[0], model(x)
    shift_hair_logit(model, 0.3)  # p = 0.525: hair in the label map, but not in the masks
    after, (_, color_after, attributes_after) = model.logits(x)[0], model(x)
    assert torch.allclose(after[:, 1] - before[:, 1], torch.tensor(0.3), atol=1e-5)
    assert torch.equal(after[:, 0], before[:, 0])
    assert model.config.threshold == pytest.approx(1 / (1 + np.exp(-0.3)))
    assert torch.equal(color_after, color) and torch.equal(attributes_after, attributes)


def test_offset_sweep_at_zero_is_what_evaluate_reports_and_moves_the_boundary(tmp_path):
    masks = _figaro(tmp_path / "Figaro1k")
    checkpoint = _constant_model(tmp_path / "model.pt", -0.2)  # p = 0.45 everywhere: no hair at offset 0
    model, payload = load_checkpoint(checkpoint)
    reader = open_dataset("figaro1k", tmp_path / "Figaro1k", "test")
    ious = hair_iou_by_offset(model, reader, payload["crop_rule"], (-0.5, 0.0, 0.3))
    hair, pixels = sum(int(m.sum()) for m in masks), sum(m.size for m in masks)
    assert ious == pytest.approx([0.0, 0.0, hair / pixels])
    assert ious[1] == pytest.approx(evaluate(checkpoint, "figaro1k", tmp_path / "Figaro1k", split="test")["hair_iou"])


def test_best_offset_maximises_the_mean_over_datasets_and_prefers_the_smallest_change():
    offsets = (-0.2, -0.1, 0.0, 0.1, 0.2)
    ious = np.array([[0.5, 0.7, 0.6, 0.7, 0.9], [0.5, 0.7, 0.6, 0.7, 0.1]])  # means 0.5 0.7 0.6 0.7 0.5
    assert best_offset(offsets, ious) == -0.1
    assert best_offset(offsets, ious[:1]) == 0.2


def test_calibrate_chooses_on_validation_and_writes_a_checkpoint_that_evaluates_as_swept(tmp_path):
    masks = _figaro(tmp_path / "Figaro1k")
    broken = "Frame00009"  # listed, with a mask, but its photo does not decode: skipped and recorded
    (tmp_path / "Figaro1k/Original/Testing" / f"{broken}-org.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "Figaro1k/GT/Testing" / f"{broken}-gt.pbm").write_bytes((tmp_path / "Figaro1k/GT/Testing/Frame00000-gt.pbm").read_bytes())
    stems = [f"Frame{i:05d}" for i in range(len(SIZES))] + [broken]
    (tmp_path / "splits.json").write_text(json.dumps({"Figaro1k": {"val": stems}}))
    checkpoint = _constant_model(tmp_path / "model.pt", -0.2)
    original = checkpoint.read_bytes()
    sweep = calibrate(checkpoint, tmp_path / "calibrated.pt", tmp_path, ("figaro1k",), (-0.5, 0.0, 0.3, 0.6))
    assert sweep["hair_logit_offset"] == 0.3  # 0.3 and 0.6 tie: the smaller change wins
    assert [f["stem"] for f in sweep["failed_images"]] == [broken]
    assert checkpoint.read_bytes() == original
    model, payload = load_checkpoint(tmp_path / "calibrated.pt")
    assert model.decoder.classifier.bias.tolist() == pytest.approx([-20.0, 0.1])
    assert model.config.threshold == pytest.approx(1 / (1 + np.exp(-0.3)))
    assert payload["training"]["calibration"]["hair_logit_offset"] == 0.3
    again = calibrate(tmp_path / "calibrated.pt", tmp_path / "again.pt", tmp_path, ("figaro1k",), (-0.5, 0.0, 0.3))
    assert again["hair_logit_offset"] == 0.0 and again["hair_logit_offset_total"] == 0.3  # already at the best
    hair, pixels = sum(int(m.sum()) for m in masks), sum(m.size for m in masks)
    result = evaluate(tmp_path / "calibrated.pt", "figaro1k", tmp_path / "Figaro1k", split="val")
    assert result["hair_iou"] == pytest.approx(hair / pixels)
    assert sweep["hair_iou_after"]["figaro1k"] == pytest.approx(result["hair_iou"], abs=1e-6)  # rounded to 6 places
    # export (the shipping step) keeps the record of the calibration
    assert main(["export", "--checkpoint", str(tmp_path / "calibrated.pt"), "--out", str(tmp_path / "shipped.pt")]) == 0
    assert load_checkpoint(tmp_path / "shipped.pt")[1]["training"]["calibration"] == payload["training"]["calibration"]


def test_calibrate_refuses_a_dataset_without_validation_masks(tmp_path, capsys):
    checkpoint = _constant_model(tmp_path / "model.pt", -0.2)
    with pytest.raises(DataError, match="cannot calibrate on 'celeba-attrs'"):
        calibrate(checkpoint, tmp_path / "out.pt", tmp_path, ("celeba-attrs",))
    assert main(["calibrate", str(checkpoint), "--out", str(tmp_path / "out.pt"), "--data", str(tmp_path),
                 "--datasets", "celeba-attrs"]) == 2
    assert "cannot calibrate on 'celeba-attrs'" in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()
