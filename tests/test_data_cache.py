"""The crop cache: a round trip on a tiny LFW-layout dataset, failures recorded, atomic replacement."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hairnet.contract import DEFAULT_CROP, INPUT_SIZE, CropRule
from hairnet.data import cache as cache_module
from hairnet.data.cache import build_cache, crop_mask, load_cache
from hairnet.data.faces import choose_face, detect_faces, frame
from hairnet.data.lfw import LFWParts
from hairnet.errors import DataError
from hairnet.postprocess import CropBox, crop_image, whole_image_box

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HAIR, SKIN, BACKGROUND = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def make_lfw(base: Path, count: int, width: int = 40, height: int = 30) -> Path:
    """Flat-coloured photos (no face to find: each takes the whole-image path) whose hair is a bar
    at the top and skin a block in the middle, the labels matching exactly."""
    root = base / "LFW"
    lines = []
    for i in range(1, count + 1):
        photo = np.full((height, width, 3), 90, np.uint8)
        label = np.zeros((height, width, 3), np.uint8)
        label[:] = BACKGROUND
        label[: 5 + i], photo[: 5 + i] = HAIR, (200, 40, 40)
        label[12:20, 10:30], photo[12:20, 10:30] = SKIN, (40, 200, 40)
        folder = root / "lfw_funneled" / "Test_Person"
        (root / "parts_lfw_funneled_gt_images").mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(folder / f"Test_Person_{i:04d}.jpg", quality=95)
        Image.fromarray(label).save(root / "parts_lfw_funneled_gt_images" / f"Test_Person_{i:04d}.png")
        lines.append(f"Test_Person {i}")
    (root / "parts_train.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_cache_round_trip(tmp_path, workers):
    root = make_lfw(tmp_path, 3)
    folder = build_cache("lfw-parts", root, "train", DEFAULT_CROP, tmp_path / "cache", workers=workers)
    assert folder == tmp_path / "cache" / "lfw-parts-train"
    cache = load_cache(folder, DEFAULT_CROP)
    assert len(cache) == 3 and cache.stems == ["Test_Person_0001", "Test_Person_0002", "Test_Person_0003"]
    assert cache.images.shape == (3, INPUT_SIZE, INPUT_SIZE, 3) and cache.images.dtype == np.uint8
    assert cache.seg.shape == (3, 2, INPUT_SIZE, INPUT_SIZE) and set(np.unique(cache.seg)) <= {0, 1}
    assert cache.seg_known.all() and (cache.color == -1).all() and (cache.attrs == -1).all()
    assert not cache.face_found.any()
    box = whole_image_box(40, 30)
    assert cache.boxes[0].tolist() == list(box.as_tuple()) and cache.image_sizes[0].tolist() == [40, 30]
    # The mask was cut with the image's box: hair pixels of the crop are the red ones, padding is background.
    image = cache.images[1].astype(int)
    hair, skin = cache.seg[1, 1].astype(bool), cache.seg[1, 0].astype(bool)
    assert (image[hair][:, 0] > 150).mean() > 0.95 and (image[skin][:, 1] > 150).mean() > 0.95
    inside = crop_image(Image.new("RGB", (40, 30)), box)[1]
    assert not hair[~inside].any() and not skin[~inside].any()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["known"]["hair"] == 3 and meta["known"]["skin"] == 3 and meta["known"]["color"] == 0
    assert meta["crop_rule"] == {"k": DEFAULT_CROP.k, "dx": DEFAULT_CROP.dx, "dy": DEFAULT_CROP.dy}
    assert meta["skipped"] == [] and meta["face_found"] == 0


def test_broken_items_are_left_out_and_reported(tmp_path):
    root = make_lfw(tmp_path, 3)
    (root / "lfw_funneled" / "Test_Person" / "Test_Person_0002.jpg").write_bytes(b"")
    folder = build_cache("lfw-parts", root, "train", DEFAULT_CROP, tmp_path / "cache", workers=1)
    cache = load_cache(folder)
    assert cache.stems == ["Test_Person_0001", "Test_Person_0003"] and cache.images.shape[0] == 2
    assert cache.seg[1, 1].sum() == crop_mask(np.arange(30)[:, None].repeat(40, 1) < 8,
                                              whole_image_box(40, 30)).sum()  # item 3's bar: rows 0–7
    skipped = cache.meta["skipped"]
    assert len(skipped) == 1 and skipped[0]["stem"] == "Test_Person_0002" and "empty file" in skipped[0]["reason"]


class DyingLFWParts(LFWParts):
    """Ends the process that loads its second image, as a crash inside a decoder would."""

    def load(self, item):
        if item.stem == self.items[1].stem:
            os._exit(3)
        return super().load(item)


@pytest.mark.timeout(300)  # the failure this guards against is a pool that waits forever
def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path, monkeypatch):
    root = make_lfw(tmp_path, 4)
    monkeypatch.setattr(cache_module, "open_dataset", lambda name, folder, split: DyingLFWParts(folder, split))
    with pytest.raises(DataError, match=r"lfw-parts/train .*a cropping worker died"):
        build_cache("lfw-parts", root, "train", DEFAULT_CROP, tmp_path / "cache", workers=2)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_rebuild_replaces_atomically_and_rule_mismatch_is_refused(tmp_path):
    root = make_lfw(tmp_path, 1)
    folder = build_cache("lfw-parts", root, "train", DEFAULT_CROP, tmp_path / "cache", workers=1)
    other = CropRule(k=3.0, dx=0.0, dy=0.0)
    assert build_cache("lfw-parts", root, "train", other, tmp_path / "cache", workers=1) == folder
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["lfw-parts-train"]  # no temp left over
    with pytest.raises(DataError, match="built with crop rule"):
        load_cache(folder, DEFAULT_CROP)
    with pytest.raises(DataError, match="not a complete crop cache"):
        load_cache(tmp_path / "nowhere")


def test_crop_mask_matches_crop_image_geometry():
    """A box past the top-left corner: the mask's pixels land where the image's do; outside is 0."""
    pixels = np.zeros((50, 60, 3), np.uint8)
    mask = np.zeros((50, 60), bool)
    pixels[20:30, 25:35], mask[20:30, 25:35] = 255, True
    box = CropBox(-10, -20, 80)
    image, _ = crop_image(Image.fromarray(pixels), box)
    cropped = crop_mask(mask, box).astype(bool)
    bright = image[..., 0] >= 128
    assert cropped.sum() == 784  # 10×10 pixels at 224/80 = 2.8× → 28×28
    assert (np.argwhere(cropped).min(0) == np.argwhere(bright).min(0)).all()
    assert (np.argwhere(cropped).max(0) == np.argwhere(bright).max(0)).all()
    assert (cropped ^ bright).sum() <= 4  # bilinear vs nearest may differ at the corners only


def test_choose_face_prefers_large_then_central():
    boxes = [(0, 0, 30, 30), (80, 80, 40, 40), (10, 10, 100, 100), (50, 50, 100, 100)]
    assert choose_face(boxes, 200, 200) == (50, 50, 100, 100)
    assert choose_face([], 10, 10) is None


def test_real_faces_are_found():
    path = SHARED / "LFW" / "lfw_funneled" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    image = Image.open(path).convert("RGB")
    faces = detect_faces(image)
    assert faces
    box, found = frame(image)
    assert found and 60 < box.side < 250 and abs(box.x + box.side / 2 - 125) < 25
