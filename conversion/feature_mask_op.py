"""The Core ML translation of `hairnet::feature_mask` (DESIGN.md §2, §5).

The operator becomes four plain MIL operations that the Neural Engine runs natively on fixed
shapes: a strided slice of the probability map at the receptive-field centres (begin s//2,
stride s), `greater` with the threshold, `cast` to the features' dtype, and `mul` (broadcast over
the channels). No gather, no resize: the slice *is* the projection of the mask onto the grid.
"""

from __future__ import annotations

from typing import Callable

from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.ops import _get_inputs
from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op
from coremltools.converters.mil.mil import types

from hairnet.errors import ConversionError
from hairnet.masking import OP_NAME


def receptive_field_centre(stride: int) -> int:
    """Cell (i, j) of a stride-s map reads pixel (i·s + s//2, j·s + s//2)."""
    return stride // 2


def _static_shape(var, what: str) -> tuple[int, ...]:
    shape = var.shape
    if any(not isinstance(d, int) for d in shape):
        raise ConversionError(f"{OP_NAME}: {what} has a non-static shape {shape}; the package needs fixed shapes")
    return tuple(shape)


def make_translation(sample_offset: Callable[[int], int] = receptive_field_centre):
    """The translation function for coremltools' torch frontend. `sample_offset` maps the stride to
    the first sampled pixel; only the tests pass another one, to prove that verify.py notices."""

    def hairnet_feature_mask(context, node):
        features, probs, threshold = _get_inputs(context, node, expected=3)
        n, _, h, w = _static_shape(features, "features")
        pn, pc, ph, pw = _static_shape(probs, "probs")
        if threshold.val is None:
            raise ConversionError(f"{OP_NAME}: the threshold must be a constant of the traced graph")
        if h != w or ph != pw or ph % h or pn != n or pc != 1:
            raise ConversionError(
                f"{OP_NAME}: features {(n, _, h, w)} must be a square grid dividing probs {(pn, pc, ph, pw)}"
            )
        s = ph // h
        start = sample_offset(s)
        sampled = mb.slice_by_index(
            x=probs, begin=[0, 0, start, start], end=[pn, pc, ph, pw], stride=[1, 1, s, s],
            name=f"{node.name}_sampled",
        )
        above = mb.greater(x=sampled, y=float(threshold.val), name=f"{node.name}_above")
        mask = mb.cast(x=above, dtype=types.builtin_to_string(features.dtype), name=f"{node.name}_mask")
        context.add(mb.mul(x=features, y=mask, name=node.name))

    return hairnet_feature_mask


def register(sample_offset: Callable[[int], int] = receptive_field_centre) -> None:
    """Register (or replace) the translation under the traced op's name."""
    register_torch_op(make_translation(sample_offset), torch_alias=[OP_NAME], override=True)


def is_registered() -> bool:
    return _TORCH_OPS_REGISTRY.get_func(OP_NAME) is not None
