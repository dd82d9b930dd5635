"""MediaPipe's hair segmenter as ../shared/peers/README.md feeds it, and the errors around it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from hairnet.checkpoint import save_checkpoint
from hairnet.cli import main
from hairnet.data import open_dataset
from hairnet.metrics import ConfusionMatrix
from hairnet.model import HairNet
from hairnet.peers import HAIR_THRESHOLD, MEDIAPIPE_FILE, MediaPipeHair, PeerUnavailable, peers_dir

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="module")
def mediapipe() -> MediaPipeHair:
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (extra 'peers' or 'test')")
    if not (peers_dir() / MEDIAPIPE_FILE).is_file():
        pytest.skip(f"{peers_dir() / MEDIAPIPE_FILE} not present (set HAIRNET_PEERS_DIR)")
    return MediaPipeHair(threads=1)


def test_missing_model_names_the_path(tmp_path, monkeypatch):
    with pytest.raises(PeerUnavailable, match="nowhere.tflite"):
        MediaPipeHair(tmp_path / "nowhere.tflite")
    monkeypatch.setenv("HAIRNET_PEERS_DIR", str(tmp_path))
    with pytest.raises(PeerUnavailable, match=re.escape(str(tmp_path / MEDIAPIPE_FILE))):
        MediaPipeHair()


def test_missing_runtime_names_the_extra(tmp_path, monkeypatch):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"not read: the runtime import fails first")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(PeerUnavailable, match=r"extra 'peers'"):
        MediaPipeHair(model)


def test_preprocess_stretches_rgb_to_unit_range_with_an_empty_mask_channel(mediapipe):
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    tensor = mediapipe.preprocess(square)
    assert tensor.shape == (1, 512, 512, 4) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0, ..., :3] * 255, square, atol=1e-3)  # 512² passes through unresized
    assert not tensor[..., 3].any()  # no previous frame
    wide = np.full((100, 300, 3), 255, dtype=np.uint8)
    assert (mediapipe.preprocess(wide)[..., :3] == 1.0).all()  # stretched: no padding, no crop


@pytest.mark.parametrize("height, width", [(1, 1), (37, 53), (400, 267), (512, 512), (300, 700)])
def test_probability_has_the_image_size(mediapipe, height, width):
    image = np.random.default_rng(height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    probability = mediapipe.hair_probability(image)
    assert probability.shape == (height, width) and probability.dtype == np.float32
    assert probability.min() >= 0 and probability.max() <= 1


def test_finds_the_astronauts_hair_and_not_her_face(mediapipe):
    from skimage.data import astronaut

    hair = mediapipe.hair_probability(astronaut()) > HAIR_THRESHOLD
    rows, cols = np.nonzero(hair)
    assert hair.sum() > 5000
    assert np.percentile(rows, 95) < 170 and 140 < np.median(cols) < 310  # on top of her head
    assert not hair[110:150, 200:250].any()  # her eyes and nose


def test_matches_celebamask_hq_hair_masks(mediapipe):
    root = SHARED / "data" / "CelebAMask-HQ"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    reader = open_dataset("celebamask-hq", root, "test")
    pooled = ConfusionMatrix(("rest", "hair"))
    for sample in (reader[i] for i in range(4)):
        pooled.update(mediapipe.hair_probability(np.asarray(sample.image)) > HAIR_THRESHOLD, sample.hair)
    # Chance (a mask as large, placed at random) is about the hair fraction, ~0.2; the README's figure 0.86.
    assert pooled.iou()["hair"] > 0.7


def test_compare_scores_both_models_on_the_same_pixels(mediapipe, tmp_path):
    root = SHARED / "data" / "CelebAMask-HQ"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    checkpoint = tmp_path / "untrained.pt"
    save_checkpoint(checkpoint, HairNet())  # untrained: this checks the plumbing, not HairNet's masks
    out, report = tmp_path / "compare.json", tmp_path / "report"
    assert main(["compare", "--checkpoint", str(checkpoint), "--dataset", "celebamask-hq", "--root", str(root),
                 "--split", "test", "--limit", "3", "--json", str(out), "--report", str(report)]) == 0
    result = json.loads(out.read_text())
    reader = open_dataset("celebamask-hq", root, "test")
    pixels = sum(np.prod(reader[i].image.size) for i in range(3))
    for figures in result["models"].values():
        assert np.sum(figures["confusion_matrix"]) == pixels  # full-size masks, every pixel counted once
        assert figures["hair_f1"] == pytest.approx(2 * figures["hair_iou"] / (1 + figures["hair_iou"]))
    assert result["images"] == 3 and len(result["per_image"]) == 3
    assert len(list(report.glob("*.png"))) == 3 and "| worst for HairNet |" in (report / "report.md").read_text()
