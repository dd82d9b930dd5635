"""Multi-task losses (DESIGN.md §2, eq. 1 and eq. 8). A missing label contributes nothing: each
term averages over the samples (or pixels) where its label is known, and a term with no known
label in the batch is left out of the sum rather than counted as a zero loss."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .contract import ATTRIBUTES, HAIR_COLORS

TASKS = ("segmentation", "color") + ATTRIBUTES


@dataclass(frozen=True)
class LossWeights:
    """λ_i of eq. 8."""

    segmentation: float = 1.0
    color: float = 1.0
    straight: float = 1.0
    wavy: float = 1.0
    bangs: float = 1.0
    bald: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def segmentation_loss(logits: Tensor, target: Tensor, known: Tensor, soft_iou: float = 0.0) -> Tensor | None:
    """Per-channel BCE over the pixels of the (sample, channel) pairs whose label is known.

    logits, target: N×2×H×W; known: N×2 bool. Pixels are pooled over the known pairs. With
    `soft_iou` > 0, that multiple of 1 − soft Jaccard is added per channel: IoU is what is scored,
    and BCE alone lets the many easy background pixels outweigh the thin hair boundary.
    """
    if not bool(known.any()):
        return None
    loss = F.binary_cross_entropy_with_logits(logits[known], target[known].float())
    if soft_iou:
        loss = loss + soft_iou * soft_jaccard_loss(logits, target, known)
    return loss


def soft_jaccard_loss(logits: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Mean over channels of 1 − Σp·t / (Σp + Σt − Σp·t), pixels pooled over the batch's known
    (sample, channel) pairs as the evaluation pools them; channels with no known pair are skipped."""
    probs, target = torch.sigmoid(logits), target.float()
    losses = []
    for channel in range(logits.shape[1]):
        rows = known[:, channel]
        if bool(rows.any()):
            p, t = probs[rows, channel], target[rows, channel]
            intersection = (p * t).sum()
            losses.append(1.0 - (intersection + 1.0) / (p.sum() + t.sum() - intersection + 1.0))
    return torch.stack(losses).mean()


def inverse_frequency_weights(color: np.ndarray, attrs: np.ndarray, cap: float = 10.0) -> tuple[Tensor, Tensor]:
    """Class weights that make every colour and both values of every attribute count equally.

    color: N (−1 unknown), attrs: N×4 (−1 unknown) labels of a training pool. Returns the
    cross-entropy weights of the colours (mean 1 over the labelled samples) and the BCE
    pos_weight (negatives / positives) of each attribute, each capped at `cap` so a class seen a
    handful of times does not dominate. Gray and bald are the rare ones.
    """
    counts = np.bincount(color[color >= 0].astype(np.int64), minlength=len(HAIR_COLORS)).astype(np.float64)
    labelled = counts.sum()
    color_weights = np.where(counts > 0, labelled / (len(HAIR_COLORS) * np.maximum(counts, 1)), 1.0)
    positives = (attrs == 1).sum(0).astype(np.float64)
    negatives = (attrs == 0).sum(0).astype(np.float64)
    pos_weights = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    return (torch.tensor(np.clip(color_weights, 1.0 / cap, cap), dtype=torch.float32),
            torch.tensor(np.clip(pos_weights, 1.0 / cap, cap), dtype=torch.float32))


def color_loss(logits: Tensor, color: Tensor, class_weights: Tensor | None = None) -> Tensor | None:
    """Cross-entropy on samples with exactly one color label (color ≥ 0; −1 is unknown)."""
    known = color >= 0
    if not bool(known.any()):
        return None
    return F.cross_entropy(logits[known], color[known].long(), weight=class_weights)


def attribute_loss(logits: Tensor, labels: Tensor, pos_weight: Tensor | None = None) -> Tensor | None:
    """BCE for one binary attribute on the samples where it is labelled (1/0; −1 unknown)."""
    known = labels >= 0
    if not bool(known.any()):
        return None
    return F.binary_cross_entropy_with_logits(
        logits[known], labels[known].float(), pos_weight=pos_weight
    )


def multitask_loss(
    outputs: tuple[Tensor, Tensor, Tensor],
    batch: dict[str, Tensor],
    weights: LossWeights = LossWeights(),
    pos_weights: Tensor | None = None,
    color_weights: Tensor | None = None,
    soft_iou: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    """Σ λ_i·L_i over the tasks that have a known label in the batch (and a non-zero λ_i).

    `outputs` are the logits of `HairNet.logits`; `batch` holds `seg` (N×2×H×W), `seg_known`
    (N×2), `color` (N) and `attrs` (N×4). `pos_weights` (4) and `color_weights` (4) weight the
    rare classes (see `inverse_frequency_weights`); `soft_iou` adds a soft-Jaccard term to the
    segmentation loss. Returns the total and each term's value for the log.
    """
    seg_logits, color_logits, attr_logits = outputs
    lam = weights.as_dict()
    terms: dict[str, Tensor | None] = {}
    if lam["segmentation"]:
        terms["segmentation"] = segmentation_loss(seg_logits, batch["seg"], batch["seg_known"], soft_iou)
    if lam["color"]:
        terms["color"] = color_loss(color_logits, batch["color"], color_weights)
    for index, name in enumerate(ATTRIBUTES):
        if lam[name]:
            pw = None if pos_weights is None else pos_weights[index]
            terms[name] = attribute_loss(attr_logits[:, index], batch["attrs"][:, index], pw)
    present = {name: value for name, value in terms.items() if value is not None}
    if not present:
        # Nothing labelled for the active tasks: a zero that still connects to the graph.
        return seg_logits.sum() * 0.0, {}
    total = sum(lam[name] * value for name, value in present.items())
    return total, {name: float(value.detach()) for name, value in present.items()}
