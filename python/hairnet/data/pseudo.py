"""Self-training: hair/skin masks for unlabelled training crops from a model's own confident predictions.

    hairnet pseudo-label runs/hairnet-v4/last.pt --source cache/k2.0/celeba-attrs-train

reads a crop cache whose images have no masks (the attribute sets), runs the checkpoint on every
crop (flip-averaged), and keeps the images where nearly every pixel is confidently hair or not
hair and skin or not skin: at least `--keep` of the pixels of both channels must have a
probability within `1 − --confidence` of 0 or 1. Their thresholded masks become a cache
`<source's folder>/pseudo-<source name>/` in the crop-cache format (masks known for both channels,
no colour or attribute labels, so the attribute sets are not counted twice), which a training
config adds to its segmentation pools with `pseudo_label_sets`. Only training splits should be
labelled this way (others are refused): the model must never see validation or test photos.

    hairnet pseudo-label runs/hairnet-v10/last.pt --source cache/k2.0/celeba-hq-attrs-train --peer mediapipe

makes the teacher an ensemble: the hair probability is the mean of the checkpoint's and MediaPipe's
hair segmenter's (run on the whole source photo, as its authors feed it, then cut with the crop's
square). The two err differently — on CelebAMask-HQ val crops the checkpoint alone reaches hair IoU
0.830, MediaPipe 0.846, their mean 0.865 (`benchmarks/pseudo_teacher.py`) — so the ensemble
labels hard images the model alone would have to leave out. Skin stays the checkpoint's (MediaPipe
has none). hairnet-v12, trained on such labels, did not beat the model that made them (README,
Training).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from ..checkpoint import load_checkpoint
from ..contract import ATTRIBUTES, INPUT_SIZE, SEGMENTATION_CHANNELS
from ..errors import DataError
from ..inference import run_crops
from ..postprocess import CropBox, crop_values
from . import open_dataset
from .cache import label_counts, load_cache, staged_folder, write_arrays, write_meta

BATCH = 32
HAIR = SEGMENTATION_CHANNELS.index("hair")


def confident_fraction(probs: np.ndarray, confidence: float) -> np.ndarray:
    """N×2×H×W probabilities → for each image, the fraction of its pixels (both channels) that are
    within 1 − confidence of 0 or 1."""
    sure = (probs >= confidence) | (probs <= 1.0 - confidence)
    return sure.reshape(len(probs), -1).mean(axis=1)


class PhotoPeer(Protocol):
    """A second hair segmenter: photo (H×W×3 uint8 RGB) → H×W hair probability (hairnet.peers.MediaPipeHair)."""

    name: str

    def hair_probability(self, image: np.ndarray) -> np.ndarray: ...


class CachePhotos:
    """The source cache's photos, by stem (the peer reads whole photos, not crops)."""

    def __init__(self, meta: dict) -> None:
        self.dataset, self.root, self.split = meta["dataset"], meta["root"], meta["split"]
        self.reader = open_dataset(self.dataset, Path(self.root), self.split)
        self.index = {item.stem: i for i, item in enumerate(self.reader.items)}

    def rgb(self, stem: str) -> np.ndarray:
        if stem not in self.index:
            raise DataError(f"{self.root}: the cache's image {stem!r} is not in {self.dataset}/{self.split} "
                            f"any more; rebuild the cache")
        return np.asarray(self.reader[self.index[stem]].image.convert("RGB"))


def peer_hair(peer: PhotoPeer, cache, rows: np.ndarray, photos: CachePhotos) -> np.ndarray:
    """The peer's hair probability on each row's whole photo, cut with the row's crop square → N×224×224."""
    return np.stack([crop_values(peer.hair_probability(photos.rgb(cache.stems[row])),
                                 CropBox(*(int(v) for v in cache.boxes[row]))) for row in rows])


def pseudo_label(checkpoint: Path, source: Path, out: Path | None = None, confidence: float = 0.9,
                 keep: float = 0.95, flip: bool = True, peer: PhotoPeer | None = None) -> Path:
    """Write the pseudo-labelled cache of `source` and return its folder.

    With `peer`, the hair channel is the mean of the checkpoint's and the peer's probabilities."""
    if not 0.5 < confidence < 1.0:
        raise DataError(f"--confidence must lie in (0.5, 1), got {confidence}")
    if not 0.0 < keep <= 1.0:
        raise DataError(f"--keep must lie in (0, 1], got {keep}")
    started = time.time()
    model, payload = load_checkpoint(checkpoint)
    model.eval()
    cache = load_cache(source, payload["crop_rule"])  # a cache framed otherwise is refused by name
    if cache.meta.get("split") != "train":
        raise DataError(f"{source}: split {cache.meta.get('split')!r}; only training splits may be pseudo-labelled "
                        f"(a model trained on its own predictions for validation photos would be scored on them)")
    unlabelled = np.flatnonzero(~np.asarray(cache.seg_known).any(axis=1))
    if not unlabelled.size:
        raise DataError(f"{source}: every image already has a mask; nothing to pseudo-label")
    out = Path(out) if out else Path(source).parent / f"pseudo-{Path(source).name}"
    photos = CachePhotos(cache.meta) if peer is not None else None
    kept_rows, masks, fractions = [], [], []
    for start in range(0, unlabelled.size, BATCH):
        rows = unlabelled[start : start + BATCH]
        seg, _, _ = run_crops(model, np.asarray(cache.images[rows]), flip, source=f"{source} rows {rows[0]}–{rows[-1]}")
        if peer is not None:
            seg[:, HAIR] = (seg[:, HAIR] + peer_hair(peer, cache, rows, photos)) / 2
        fraction = confident_fraction(seg, confidence)
        fractions.append(fraction)
        chosen = fraction >= keep
        kept_rows.append(rows[chosen])
        masks.append((seg[chosen] > 0.5).astype(np.uint8))
        print(f"pseudo-label {Path(source).name}: {start + len(rows)}/{unlabelled.size}, "
              f"kept {sum(len(r) for r in kept_rows)}", file=sys.stderr)
    kept = np.concatenate(kept_rows)
    if not kept.size:
        raise DataError(f"{source}: no image reached {keep:.0%} confident pixels at confidence {confidence}; "
                        f"lower --keep or --confidence")
    n = len(kept)
    arrays = {
        "images": np.asarray(cache.images[kept]), "seg": np.concatenate(masks),
        "seg_known": np.ones((n, 2), bool), "color": np.full(n, -1, np.int8),
        "attrs": np.full((n, len(ATTRIBUTES)), -1, np.int8),
        "face_found": np.asarray(cache.face_found[kept]), "boxes": np.asarray(cache.boxes[kept]),
        "image_sizes": np.asarray(cache.image_sizes[kept]),
    }
    fractions = np.concatenate(fractions)
    with staged_folder(out) as tmp:
        write_arrays(tmp, arrays)
        (tmp / "stems.json").write_text(json.dumps([cache.stems[i] for i in kept]) + "\n")
        write_meta(tmp, {
            "dataset": f"pseudo-{cache.meta.get('dataset', Path(source).name)}", "split": cache.meta.get("split"),
            "source_cache": str(Path(source).resolve()), "crop_rule": cache.meta["crop_rule"],
            "input_size": INPUT_SIZE, **label_counts(arrays), "listed": int(unlabelled.size),
            "pseudo_labels": {"checkpoint": str(Path(checkpoint).resolve()), "confidence": confidence, "keep": keep,
                              "flip_tta": flip, "peer": peer.name if peer is not None else None,
                              "confident_fraction_median": float(np.median(fractions))},
            "build_seconds": round(time.time() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
    return out
