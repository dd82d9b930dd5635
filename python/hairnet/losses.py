"""Multi-task losses (DESIGN.md §2, eq. 1 and eq. 8). A missing label contributes nothing: each
term averages over the samples (or pixels) where its label is known, and a term with no known
label in the batch is left out of the sum rather than counted as a zero loss."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .contract import ATTRIBUTES

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


def segmentation_loss(logits: Tensor, target: Tensor, known: Tensor) -> Tensor | None:
    """Per-channel BCE over the pixels of the (sample, channel) pairs whose label is known.

    logits, target: N×2×H×W; known: N×2 bool. Pixels are pooled over the known pairs.
    """
    if not bool(known.any()):
        return None
    return F.binary_cross_entropy_with_logits(logits[known], target[known].float())


def color_loss(logits: Tensor, color: Tensor) -> Tensor | None:
    """Cross-entropy on samples with exactly one color label (color ≥ 0; −1 is unknown)."""
    known = color >= 0
    if not bool(known.any()):
        return None
    return F.cross_entropy(logits[known], color[known].long())


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
) -> tuple[Tensor, dict[str, float]]:
    """Σ λ_i·L_i over the tasks that have a known label in the batch (and a non-zero λ_i).

    `outputs` are the logits of `HairNet.logits`; `batch` holds `seg` (N×2×H×W), `seg_known`
    (N×2), `color` (N) and `attrs` (N×4). Returns the total and each term's value for the log.
    """
    seg_logits, color_logits, attr_logits = outputs
    lam = weights.as_dict()
    terms: dict[str, Tensor | None] = {}
    if lam["segmentation"]:
        terms["segmentation"] = segmentation_loss(seg_logits, batch["seg"], batch["seg_known"])
    if lam["color"]:
        terms["color"] = color_loss(color_logits, batch["color"])
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
