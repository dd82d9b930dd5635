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
BOUNDARY_RADIUS = 2  # pixels each side of a mask edge that the boundary term weighs (at 224²)


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


def segmentation_loss(logits: Tensor, target: Tensor, known: Tensor, soft_iou: float = 0.0,
                      lovasz: float = 0.0, boundary: float = 0.0) -> Tensor | None:
    """Per-channel BCE over the pixels of the (sample, channel) pairs whose label is known.

    logits, target: N×2×H×W; known: N×2 bool. Pixels are pooled over the known pairs. IoU is what
    is scored, and BCE alone lets the many easy background pixels outweigh the thin hair boundary,
    so an IoU surrogate can be added per channel: `soft_iou` × (1 − soft Jaccard) and/or
    `lovasz` × the Lovász hinge; and `boundary` × the BCE of the pixels near a label's edge alone.
    """
    if not bool(known.any()):
        return None
    loss = F.binary_cross_entropy_with_logits(logits[known], target[known].float())
    if soft_iou:
        loss = loss + soft_iou * soft_jaccard_loss(logits, target, known)
    if lovasz:
        loss = loss + lovasz * lovasz_hinge_loss(logits, target, known)
    if boundary:
        loss = loss + boundary * boundary_bce_loss(logits, target, known)
    return loss


def _mean_over_known_channels(logits: Tensor, target: Tensor, known: Tensor, loss) -> Tensor:
    """`loss(logits, target)` of each channel, its pixels pooled over the batch's known (sample,
    channel) pairs as the evaluation pools them, averaged over the channels that have a known pair."""
    target = target.float()
    losses = [loss(logits[known[:, c], c], target[known[:, c], c])
              for c in range(logits.shape[1]) if bool(known[:, c].any())]
    return torch.stack(losses).mean()


def soft_jaccard_loss(logits: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Mean over channels of 1 − Σp·t / (Σp + Σt − Σp·t), p = sigmoid(logits)."""
    def loss(logits: Tensor, target: Tensor) -> Tensor:
        p = torch.sigmoid(logits)
        intersection = (p * target).sum()
        return 1.0 - (intersection + 1.0) / (p.sum() + target.sum() - intersection + 1.0)
    return _mean_over_known_channels(logits, target, known, loss)


def lovasz_hinge_loss(logits: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Mean over channels of the Lovász hinge (Berman et al., CVPR 2018): the tight convex extension
    of the Jaccard loss, applied to the hinge errors 1 − logit·(±1). At errors that are 1 on a set M of
    pixels and 0 elsewhere it equals 1 − IoU of the prediction that gets exactly M wrong."""
    def loss(logits: Tensor, target: Tensor) -> Tensor:
        logits, target = logits.reshape(-1), target.reshape(-1)
        errors = 1.0 - logits * (2.0 * target - 1.0)
        errors, order = torch.sort(errors, descending=True)
        ordered = target[order]
        positives = ordered.sum()
        # Jaccard loss of predicting the first i pixels (by error) wrong, i = 1..n; its increments
        # are the extension's weights.
        jaccard = 1.0 - (positives - ordered.cumsum(0)) / (positives + (1.0 - ordered).cumsum(0))
        weights = torch.diff(jaccard, prepend=jaccard.new_zeros(1))
        return torch.dot(F.relu(errors), weights)
    return _mean_over_known_channels(logits, target, known, loss)


def edge_band(target: Tensor, radius: int = BOUNDARY_RADIUS) -> Tensor:
    """The pixels within `radius` (chessboard distance) of an edge of the binary masks `target`
    (M×H×W, thresholded at 0.5): the mask's dilation minus its erosion, both by a (2r+1)² square."""
    mask = (target > 0.5).float().unsqueeze(1)
    size = 2 * radius + 1
    dilation = F.max_pool2d(mask, size, stride=1, padding=radius)
    erosion = -F.max_pool2d(-mask, size, stride=1, padding=radius)
    return (dilation - erosion).squeeze(1) > 0


def boundary_bce_loss(logits: Tensor, target: Tensor, known: Tensor) -> Tensor:
    """Mean over channels of the BCE over the pixels in the edge band of their masks (`edge_band`).

    The edge is where IoU is won or lost on hair, yet its pixels are a few per cent of a crop, so
    the plain BCE barely weighs them. A channel whose known masks have no edge contributes zero."""
    def loss(logits: Tensor, target: Tensor) -> Tensor:
        band = edge_band(target)
        if not bool(band.any()):
            return logits.sum() * 0.0
        return F.binary_cross_entropy_with_logits(logits[band], target[band])
    return _mean_over_known_channels(logits, target, known, loss)


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
    lovasz: float = 0.0,
    boundary: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    """Σ λ_i·L_i over the tasks that have a known label in the batch (and a non-zero λ_i).

    `outputs` are the logits of `HairNet.logits`; `batch` holds `seg` (N×2×H×W), `seg_known`
    (N×2), `color` (N) and `attrs` (N×4). `pos_weights` (4) and `color_weights` (4) weight the
    rare classes (see `inverse_frequency_weights`); `soft_iou`, `lovasz` and `boundary` weigh the
    extra terms of the segmentation loss (`segmentation_loss`). Returns the total and each term's value for the log.
    """
    seg_logits, color_logits, attr_logits = outputs
    lam = weights.as_dict()
    terms: dict[str, Tensor | None] = {}
    if lam["segmentation"]:
        terms["segmentation"] = segmentation_loss(seg_logits, batch["seg"], batch["seg_known"], soft_iou, lovasz, boundary)
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
