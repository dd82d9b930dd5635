"""benchmarks/pseudo_teacher.py: hair IoU of a pseudo-label teacher's parts on crops with true masks."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import pseudo_teacher  # noqa: E402
from test_data_pseudo import _constant_model, _LeftHalfHair  # noqa: E402
from test_data_readers import make_celebamask  # noqa: E402

from hairnet.data.cache import build_cache, load_cache  # noqa: E402
from hairnet.errors import DataError  # noqa: E402
from hairnet.postprocess import CropBox, crop_values  # noqa: E402


def _pooled_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    return np.count_nonzero(predicted & truth) / np.count_nonzero(predicted | truth)


def test_each_teacher_is_scored_against_the_crops_masks(tmp_path, capsys):
    root = make_celebamask(tmp_path, {0: ["hair"], 2: ["hair"]}, {"train": [], "val": ["0", "1", "2"], "test": []})
    masks = build_cache("celebamask-hq", root, "val", cache_dir=tmp_path / "cache", workers=1)
    # Hair p = 0.7 everywhere: alone, hair everywhere; averaged with the peer's left half (1 / 0), 0.85 / 0.35.
    # The photos' hair is their top half, so each of the three is partly right.
    model = _constant_model(tmp_path / "sure.pt", skin_logit=-8.0, hair_logit=float(np.log(0.7 / 0.3)))
    scores = pseudo_teacher.main(["--checkpoint", str(model), "--cache", str(masks)], peer=_LeftHalfHair())[model]

    cache = load_cache(masks)
    truth = cache.seg[:, 1].astype(bool)
    peer = np.stack([crop_values(_LeftHalfHair().hair_probability(np.zeros((h, w, 3), np.uint8)),
                                 CropBox(*(int(v) for v in box)))  # resampled: 0…1 across the middle
                     for (w, h), box in zip(cache.image_sizes, cache.boxes)])
    assert scores["checkpoint"] == pytest.approx(_pooled_iou(np.ones_like(truth), truth))
    assert scores["left-half"] == pytest.approx(_pooled_iou(peer > 0.5, truth))
    assert scores["mean"] == pytest.approx(_pooled_iou((0.7 + peer) / 2 > 0.5, truth))
    assert len({round(v, 6) for v in scores.values()}) == 3 and all(0 < v < 1 for v in scores.values())
    assert f"| {model} | {scores['checkpoint']:.4f} | {scores['left-half']:.4f} |" in capsys.readouterr().out


def test_a_cache_without_hair_masks_is_refused_by_name(tmp_path):
    root = make_celebamask(tmp_path, {}, None)
    (tmp_path / "splits.json").write_text('{"CelebA-HQ-attrs": {"train": ["0", "1"], "val": [], "test": []}}')
    attrs = build_cache("celeba-hq-attrs", root, "train", cache_dir=tmp_path / "cache", workers=1)
    model = _constant_model(tmp_path / "m.pt", -8.0, 8.0)
    with pytest.raises(DataError, match=f"{attrs}: no crop has a hair mask"):
        pseudo_teacher.teacher_scores(model, attrs, _LeftHalfHair())
