"""Calibrating the hair decision after training: one offset added to the hair logit.

Eq. 2 labels a pixel hair where its probability passes 0.5, but a network trained with BCE and IoU
terms need not put the IoU-best boundary there. An offset δ on the hair logit moves it; folded into
the decoder classifier's bias, it leaves the contract, the label threshold and the Core ML graph as
they are. δ is chosen on validation splits only, by the mean over datasets of the figure `evaluate`
reports (pooled full-size hair IoU), so no single dataset decides it.

The heads were trained on masks cut at the uncalibrated boundary, so the masking threshold (a model
constant, `HairNetConfig.threshold`) moves with the offset: the hair mask the colour, straight and
wavy heads read stays exactly as it was. The hair ∪ skin mask of the bangs and bald heads loses
only the cells where skin is the larger probability and lies between 0.5 and the new threshold.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .contract import LABEL_HAIR, SEGMENTATION_CHANNELS
from .data import DATASET_FOLDERS, open_dataset
from .errors import DataError
from .evaluate import analysed
from .model import HairNet

HAIR_CHANNEL = SEGMENTATION_CHANNELS.index("hair")
MASK_DATASETS = ("celebamask-hq", "figaro1k", "lfw-parts")  # the mask sets with a validation split
OFFSETS = tuple(round(float(x), 2) for x in np.arange(-1.0, 1.0001, 0.05))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def shift_hair_logit(model: HairNet, offset: float) -> None:
    """Add `offset` to every pixel's hair logit (the skin channel is untouched) and move the masking
    threshold with it, so that the hair mask the heads read stays the same."""
    with torch.no_grad():
        model.decoder.classifier.bias[HAIR_CHANNEL] += offset
    model.config = replace(model.config, threshold=1 / (1 + math.exp(-(_logit(model.config.threshold) + offset))))


def remove_calibration(model: HairNet, threshold: float) -> None:
    """Undo `shift_hair_logit`: the offset that took the masking threshold to where it is, taken back
    so that it is `threshold` again (training starts from the boundary its losses are defined at)."""
    shift_hair_logit(model, _logit(threshold) - _logit(model.config.threshold))
    model.config = replace(model.config, threshold=threshold)  # exactly, not within rounding


def hair_iou_by_offset(model: HairNet, reader, rule, offsets, failures: list | None = None) -> np.ndarray:
    """Pooled full-size hair IoU over the reader's images for each hair-logit offset, as `evaluate`
    computes it at offset 0: one forward pass per photo, the offsets applied to its probabilities.
    Photos that fail to decode are skipped, as `evaluate` skips them, and recorded in `failures`."""
    intersection, union = np.zeros(len(offsets)), np.zeros(len(offsets))
    failures = [] if failures is None else failures
    for _, sample, _, analysis in analysed(model, reader, reader.items, rule, False, failures):
        if sample.hair is None:
            continue
        p = analysis.probs[HAIR_CHANNEL].astype(np.float64).clip(1e-12, 1 - 1e-12)
        logit = np.log(p) - np.log1p(-p)
        for k, offset in enumerate(offsets):
            probs = analysis.probs.copy()
            probs[HAIR_CHANNEL] = 1 / (1 + np.exp(-(logit + offset)))
            hair = replace(analysis, probs=probs).labels(*sample.image.size) == LABEL_HAIR
            intersection[k] += np.count_nonzero(hair & sample.hair)
            union[k] += np.count_nonzero(hair | sample.hair)
    if not union.any():
        raise DataError(f"{reader.root}: no {reader.split} image with a hair mask to calibrate on "
                        f"({len(failures)} failed to decode)")
    return intersection / union


def best_offset(offsets, ious: np.ndarray) -> float:
    """The offset of the highest mean IoU over datasets (rows); among equals, the smallest change."""
    mean = ious.mean(axis=0)
    candidates = [o for o, m in zip(offsets, mean) if m == mean.max()]
    return min(candidates, key=abs)


def calibrate(checkpoint: Path, out: Path, data: Path, datasets=MASK_DATASETS, offsets=OFFSETS) -> dict:
    """Choose the hair-logit offset on the datasets' validation splits and write the calibrated
    checkpoint (weights in the input's precision class: fp16 where the input's were). Returns the sweep."""
    offsets = tuple(float(o) for o in offsets)  # plain floats: a NumPy scalar would not load with weights_only
    model, payload = load_checkpoint(checkpoint)
    unknown = [name for name in datasets if name not in MASK_DATASETS]
    if unknown:
        raise DataError(f"cannot calibrate on {unknown[0]!r}: choose among {', '.join(MASK_DATASETS)}")
    failures: list = []
    ious = np.stack([
        hair_iou_by_offset(model, open_dataset(name, Path(data) / DATASET_FOLDERS[name], "val"),
                           payload["crop_rule"], offsets, failures)
        for name in tqdm(datasets, desc="calibrate", leave=False)
    ])
    offset = best_offset(offsets, ious)
    zero = offsets.index(0.0) if 0.0 in offsets else None
    sweep = {
        "hair_logit_offset": offset,
        "objective": "mean over datasets of pooled full-size hair IoU, validation splits",
        "datasets": list(datasets),
        "offsets": list(offsets),
        "hair_iou": {name: [round(float(v), 6) for v in row] for name, row in zip(datasets, ious)},
        "hair_iou_before": None if zero is None else {name: round(float(row[zero]), 6) for name, row in zip(datasets, ious)},
        "hair_iou_after": {name: round(float(row[offsets.index(offset)]), 6) for name, row in zip(datasets, ious)},
        "failed_images": failures,
    }
    # A checkpoint calibrated before carries its offset already; the record keeps the sum.
    earlier = (payload.get("training") or {}).get("calibration") or {}
    sweep["hair_logit_offset_total"] = round(earlier.get("hair_logit_offset_total", 0.0) + offset, 6)
    shift_hair_logit(model, offset)
    training = dict(payload.get("training") or {}, calibration=sweep)
    half = any(v.dtype == torch.float16 for v in payload["state_dict"].values())
    save_checkpoint(out, model, payload["crop_rule"], evaluation=payload.get("evaluation"), training=training, half=half)
    return sweep
