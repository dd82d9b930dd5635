"""Convolutional feature masking: the operator `hairnet::feature_mask` (DESIGN.md §2).

The segmentation probabilities (N×1×224×224) are projected onto a feature map of stride s by
sampling each cell's receptive-field centre, pixel (i·s + s//2, j·s + s//2), binarised with the
threshold, and multiplied into the features. Registered with `torch.library` so that a traced
model shows it as one node that the Core ML converter must translate explicitly.
"""

from __future__ import annotations

import torch
from torch import Tensor

OP_NAME = "hairnet::feature_mask"


def _stride(features: Tensor, probs: Tensor) -> int:
    height, width = features.shape[-2:]
    size = probs.shape[-1]
    if height != width or probs.shape[-2] != size or size % height:
        raise ValueError(
            f"{OP_NAME}: features {tuple(features.shape)} must be a square grid dividing "
            f"the square probability map {tuple(probs.shape)}"
        )
    return size // height


def binary_mask(features: Tensor, probs: Tensor, threshold: float) -> Tensor:
    """The projected, binarised mask (N×1×h×w) in the features' dtype."""
    s = _stride(features, probs)
    sampled = probs[:, :, s // 2 :: s, s // 2 :: s]
    return (sampled > threshold).to(features.dtype)


def feature_mask_reference(features: Tensor, probs: Tensor, threshold: float) -> Tensor:
    """Plain-tensor reference of the operator; the tests prove the registered op agrees."""
    return features * binary_mask(features, probs.detach(), threshold)


@torch.library.custom_op(OP_NAME, mutates_args=())
def feature_mask(features: Tensor, probs: Tensor, threshold: float) -> Tensor:
    return features * binary_mask(features, probs, threshold)


@feature_mask.register_fake
def _feature_mask_fake(features: Tensor, probs: Tensor, threshold: float) -> Tensor:
    _stride(features, probs)
    return torch.empty_like(features)


def _setup_context(ctx, inputs, output) -> None:
    features, probs, threshold = inputs
    ctx.save_for_backward(binary_mask(features, probs, threshold))


def _backward(ctx, grad: Tensor):
    (mask,) = ctx.saved_tensors
    # The binarised mask is a step function: no gradient flows to the probabilities.
    return grad * mask, None, None


feature_mask.register_autograd(_backward, setup_context=_setup_context)
