"""Self-training: pseudo-label caches from a model's confident predictions, and runs that train on them."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hairnet.checkpoint import save_checkpoint
from hairnet.contract import CropRule
from hairnet.data.cache import build_cache, load_cache
from hairnet.cli import main
from hairnet.data.pseudo import confident_fraction, pseudo_label
from hairnet.errors import DataError
from hairnet.model import HairNet, HairNetConfig
from hairnet.peers import MEDIAPIPE_FILE, PEERS_DIR_ENV, peers_dir
from hairnet.postprocess import CropBox, crop_image, crop_values
from hairnet.train import Trainer
from test_data_readers import make_celebamask
from test_train import config  # noqa: F401  (the tiny synthetic caches and run config)


def _constant_model(path: Path, skin_logit: float, hair_logit: float, crop=None) -> Path:
    """A checkpoint whose segmentation is the same logit at every pixel, whatever the image."""
    model = HairNet(HairNetConfig(width_multiplier=0.25))
    with torch.no_grad():
        model.decoder.classifier.weight.zero_()
        model.decoder.classifier.bias.copy_(torch.tensor([skin_logit, hair_logit]))
    save_checkpoint(path, model, **({"crop": crop} if crop else {}))
    return path


def test_confident_fraction_counts_pixels_near_zero_or_one():
    probs = np.array([[[[0.95, 0.5], [0.05, 0.91]], [[0.0, 1.0], [0.89, 0.11]]]])
    assert confident_fraction(probs, 0.9).tolist() == [5 / 8]


def test_confident_images_become_a_mask_cache_without_attribute_labels(config, tmp_path):  # noqa: F811
    source = Path(config.cache_dir) / "celeba-attrs-train"
    checkpoint = _constant_model(tmp_path / "sure.pt", skin_logit=-8.0, hair_logit=8.0)
    out = pseudo_label(checkpoint, source)
    assert out == source.parent / "pseudo-celeba-attrs-train"
    cache, original = load_cache(out), load_cache(source)
    assert len(cache) == len(original) and cache.stems == original.stems
    assert np.array_equal(cache.images, original.images)
    assert cache.seg[:, 1].all() and not cache.seg[:, 0].any()  # hair everywhere, skin nowhere
    assert cache.seg_known.all() and (cache.color == -1).all() and (cache.attrs == -1).all()
    assert cache.meta["pseudo_labels"]["checkpoint"] == str(checkpoint.resolve())

    # Unsure everywhere (p = 0.5): nothing is kept, and the earlier cache is left as it was.
    unsure = _constant_model(tmp_path / "unsure.pt", 0.0, 0.0)
    with pytest.raises(DataError, match="no image reached"):
        pseudo_label(unsure, source)
    assert len(load_cache(out)) == len(original)


def test_only_unlabelled_training_crops_of_the_models_framing_are_pseudo_labelled(config, tmp_path, capsys):  # noqa: F811
    checkpoint = _constant_model(tmp_path / "sure.pt", -8.0, 8.0)
    masks = Path(config.cache_dir) / "figaro1k-train"  # every image has a mask already
    with pytest.raises(DataError, match="already has a mask"):
        pseudo_label(checkpoint, masks)
    validation = Path(config.cache_dir) / "celeba-attrs-val"
    with pytest.raises(DataError, match="only training splits"):
        pseudo_label(checkpoint, validation)
    wide = _constant_model(tmp_path / "wide.pt", -8.0, 8.0, crop=CropRule(k=2.0, dx=0.0, dy=-0.08))
    source = str(Path(config.cache_dir) / "celeba-attrs-train")
    assert main(["pseudo-label", str(wide), "--source", source]) == 2  # the crop rule is refused by name
    assert "crop rule" in capsys.readouterr().err
    assert main(["pseudo-label", str(checkpoint), "--source", source]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 8
    with pytest.raises(DataError, match="--keep"):
        pseudo_label(checkpoint, masks, keep=0.0)


def test_a_run_trains_on_pseudo_labels_but_never_validates_on_them(config, tmp_path):  # noqa: F811
    source = Path(config.cache_dir) / "celeba-attrs-train"
    pseudo_label(_constant_model(tmp_path / "sure.pt", -8.0, 8.0), source)
    trainer = Trainer(replace(config, pseudo_label_sets=("pseudo-celeba-attrs-train",)))
    plain = Trainer(config)
    for stage in (1, 3):
        assert len(trainer._stage_pool(stage, "train")) == len(plain._stage_pool(stage, "train")) + 8
        assert len(trainer._stage_pool(stage, "val")) == len(plain._stage_pool(stage, "val"))
    assert len(trainer._stage_pool(2, "train")) == len(plain._stage_pool(2, "train"))
    trainer.run()  # the three stages run with the pseudo-labelled crops in their pools
    assert [e["stage"] for e in trainer.history] == [1, 1, 2, 3]
    with pytest.raises(Exception, match="pseudo-label set 'missing'"):
        Trainer(replace(config, run_dir=str(tmp_path / "other"), pseudo_label_sets=("missing",))).run()
    with pytest.raises(Exception, match="not a pseudo-label cache"):
        Trainer(replace(config, run_dir=str(tmp_path / "third"), pseudo_label_sets=("figaro1k-train",))).run()


class _LeftHalfHair:
    """A peer that calls the left half of any photo hair."""

    name = "left-half"

    def hair_probability(self, image: np.ndarray) -> np.ndarray:
        probability = np.zeros(image.shape[:2], np.float32)
        probability[:, : image.shape[1] // 2] = 1.0
        return probability


def test_a_peer_teacher_averages_its_hair_with_the_models_read_on_the_whole_photo(tmp_path, monkeypatch, capsys):
    root = make_celebamask(tmp_path, {}, None)
    (tmp_path / "splits.json").write_text(json.dumps({"CelebA-HQ-attrs": {"train": ["0", "1", "2"], "val": [], "test": []}}))
    source = build_cache("celeba-hq-attrs", root, "train", cache_dir=tmp_path / "cache", workers=1)
    unsure = _constant_model(tmp_path / "unsure.pt", skin_logit=-8.0, hair_logit=0.0)  # hair p = 0.5 everywhere
    with pytest.raises(DataError, match="no image reached"):
        pseudo_label(unsure, source, confidence=0.7, keep=0.9)

    # Mean of 0.5 and the peer's 1 / 0: 0.75 / 0.25, confident at 0.7; hair where the peer says so.
    out = pseudo_label(unsure, source, confidence=0.7, keep=0.9, peer=_LeftHalfHair())
    cache, original = load_cache(out), load_cache(source)
    assert cache.stems == original.stems and cache.meta["pseudo_labels"]["peer"] == "left-half"
    for row in range(len(cache)):
        width, height = (int(v) for v in original.image_sizes[row])
        peer_map = _LeftHalfHair().hair_probability(np.zeros((height, width, 3), np.uint8))
        expected = crop_values(peer_map, CropBox(*(int(v) for v in original.boxes[row]))) > 0.5
        assert expected.any() and not expected.all()
        assert np.array_equal(cache.seg[row, 1].astype(bool), expected) and not cache.seg[row, 0].any()

    # The command line's --peer mediapipe: a missing model file is named; present, it labels with it.
    monkeypatch.setenv(PEERS_DIR_ENV, str(tmp_path / "no-peers"))
    args = ["pseudo-label", str(unsure), "--source", str(source), "--peer", "mediapipe", "--confidence", "0.51",
            "--keep", "0.01", "--out", str(tmp_path / "with-mediapipe")]
    assert main(args) == 2 and str(tmp_path / "no-peers" / MEDIAPIPE_FILE) in capsys.readouterr().err
    monkeypatch.delenv(PEERS_DIR_ENV)
    if importlib.util.find_spec("ai_edge_litert") and (peers_dir() / MEDIAPIPE_FILE).is_file():
        assert main(args) == 0
        assert load_cache(tmp_path / "with-mediapipe").meta["pseudo_labels"]["peer"] == "mediapipe"

    stems = json.loads((source / "stems.json").read_text())
    (source / "stems.json").write_text(json.dumps(["99", *stems[1:]]))
    with pytest.raises(DataError, match="'99' is not in celeba-hq-attrs/train"):
        pseudo_label(unsure, source, confidence=0.7, keep=0.9, peer=_LeftHalfHair())


def test_crop_values_cuts_a_float_map_with_the_geometry_of_the_image_crop():
    gradient = np.tile(np.arange(40, dtype=np.float32) * 6, (30, 1))  # 0…234 left to right, 40×30 photo
    box = CropBox(-5, 2, 36)  # past the left border
    cut = crop_values(gradient, box)
    image, inside = crop_image(Image.fromarray(np.repeat(gradient.astype(np.uint8)[..., None], 3, axis=2)), box)
    assert cut.shape == (224, 224) and cut.dtype == np.float32
    assert np.abs(cut[inside] - image[..., 0][inside]).max() <= 1.0  # uint8 rounding only
    assert cut[:, :10].max() == 0.0  # outside the photo
