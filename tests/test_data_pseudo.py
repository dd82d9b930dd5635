"""Self-training: pseudo-label caches from a model's confident predictions, and runs that train on them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hairnet.checkpoint import save_checkpoint
from hairnet.contract import CropRule
from hairnet.data.cache import load_cache
from hairnet.cli import main
from hairnet.data.pseudo import confident_fraction, pseudo_label
from hairnet.errors import DataError
from hairnet.model import HairNet, HairNetConfig
from hairnet.train import Trainer
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
