"""The paper's metrics (eqs. 9–10) and per-attribute classification figures.

Segmentation figures are computed from one confusion matrix accumulated over every pixel of the
set (pixels pooled), never as a mean of per-image figures; the per-image mean hair IoU is kept
beside it because comparisons with other models quote both.
"""

from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    """n_ij = pixels of true class i predicted as class j, accumulated over a whole set."""

    def __init__(self, class_names: tuple[str, ...]) -> None:
        self.class_names = class_names
        self.matrix = np.zeros((len(class_names), len(class_names)), dtype=np.int64)

    def update(self, predicted: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None) -> None:
        predicted = np.asarray(predicted).reshape(-1).astype(np.int64)
        target = np.asarray(target).reshape(-1).astype(np.int64)
        if predicted.shape != target.shape:
            raise ValueError(f"prediction has {predicted.size} pixels, target {target.size}")
        if valid is not None:
            keep = np.asarray(valid).reshape(-1).astype(bool)
            predicted, target = predicted[keep], target[keep]
        n = len(self.class_names)
        self.matrix += np.bincount(target * n + predicted, minlength=n * n).reshape(n, n)

    def pixel_accuracy(self) -> float:
        """Σ n_ii / Σ t_i."""
        return _ratio(np.trace(self.matrix), self.matrix.sum())

    def iou(self) -> dict[str, float]:
        """n_ii / (t_i + Σ_j n_ji − n_ii) per class."""
        tp = np.diag(self.matrix)
        union = self.matrix.sum(1) + self.matrix.sum(0) - tp
        return {name: _ratio(tp[i], union[i]) for i, name in enumerate(self.class_names)}

    def class_accuracy(self) -> dict[str, float]:
        """n_ii / t_i per class."""
        tp = np.diag(self.matrix)
        return {name: _ratio(tp[i], self.matrix[i].sum()) for i, name in enumerate(self.class_names)}

    def mean_iou(self) -> float:
        """Eq. 9: the mean over classes of the pooled IoU (classes never seen nor predicted skipped)."""
        return _nanmean(self.iou().values())

    def mean_accuracy(self) -> float:
        """Eq. 10: the mean over classes of the pooled per-class accuracy."""
        return _nanmean(self.class_accuracy().values())


class BinaryCounts:
    """Confusion counts of one binary attribute on the samples where it is labelled."""

    def __init__(self) -> None:
        self.tp = self.fp = self.tn = self.fn = 0

    def update(self, predicted: np.ndarray, labels: np.ndarray) -> None:
        predicted = np.asarray(predicted, dtype=bool).reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        known = labels >= 0
        predicted, truth = predicted[known], labels[known] == 1
        self.tp += int(np.sum(predicted & truth))
        self.fp += int(np.sum(predicted & ~truth))
        self.tn += int(np.sum(~predicted & ~truth))
        self.fn += int(np.sum(~predicted & truth))

    def summary(self) -> dict:
        n = self.tp + self.fp + self.tn + self.fn
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        specificity = _ratio(self.tn, self.tn + self.fp)
        f1 = _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
        return {
            "n": n,
            "positives": self.tp + self.fn,
            "accuracy": _ratio(self.tp + self.tn, n),
            "balanced_accuracy": _nanmean([recall, specificity]),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "confusion": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
        }


class ColorCounts:
    """Hair color confusion matrix on single-color samples (label ≥ 0)."""

    def __init__(self, class_names: tuple[str, ...]) -> None:
        self.confusion = ConfusionMatrix(class_names)

    def update(self, predicted: np.ndarray, labels: np.ndarray) -> None:
        labels = np.asarray(labels).reshape(-1)
        self.confusion.update(np.asarray(predicted).reshape(-1), np.maximum(labels, 0), labels >= 0)

    def summary(self) -> dict:
        m = self.confusion.matrix
        recalls = self.confusion.class_accuracy()
        per_class = {}
        for i, name in enumerate(self.confusion.class_names):
            tp, predicted, actual = m[i, i], m[:, i].sum(), m[i].sum()
            per_class[name] = {
                "n": int(actual),
                "precision": _ratio(tp, predicted),
                "recall": recalls[name],
                "f1": _ratio(2 * tp, predicted + actual),
            }
        return {
            "n": int(m.sum()),
            "accuracy": self.confusion.pixel_accuracy(),
            "balanced_accuracy": self.confusion.mean_accuracy(),
            "macro_f1": _nanmean(c["f1"] for c in per_class.values()),
            "per_class": per_class,
            "confusion_matrix": m.tolist(),
            "labels": list(self.confusion.class_names),
        }


def _ratio(numerator, denominator) -> float:
    return float(numerator) / float(denominator) if denominator else float("nan")


def _nanmean(values) -> float:
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")
