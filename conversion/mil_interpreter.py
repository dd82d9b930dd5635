"""A small NumPy interpreter for the MIL programs that to_coreml.py writes, so that a package can
be checked numerically on Linux, where Core ML itself does not run.

It reads the *saved* package back (coremltools parses the .mlpackage into its MIL representation)
and executes its operations one by one. Precision follows the program: every value is stored in
the dtype the program gives it, so an fp16 program rounds every intermediate tensor to float16.
Inside one operation, sums of products are accumulated in float32 and rounded once (how wide the
Neural Engine's accumulators are is not documented: the small remaining difference from a device
is what verify.py's macOS check measures). Only the op types listed in KERNELS are implemented;
a program using any other fails with their names instead of passing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

import coremltools as ct
from coremltools.converters.mil.frontend.milproto import load as milproto
from coremltools.converters.mil.mil import types

from hairnet.errors import ConversionError


class UnsupportedOpsError(ConversionError):
    """The program uses op types this interpreter cannot execute."""


def load_program(package: Path):
    """(spec, main function) of a saved ML program; the function in coremltools' MIL representation."""
    model = ct.models.MLModel(str(package), skip_model_load=True)
    spec = model.get_spec()
    if spec.WhichOneof("Type") != "mlProgram":
        raise ConversionError(f"{package}: not an ML program (type {spec.WhichOneof('Type')!r})")
    program = milproto.load(spec, spec.specificationVersion, model.weights_dir)
    return spec, program.functions["main"]


def _f32(value: np.ndarray) -> np.ndarray:
    """Float16 values widened for accumulation (exactly representable in float32)."""
    value = np.asarray(value)
    return value.astype(np.float32) if value.dtype == np.float16 else value


def _conv_padding(pad_type: str, pad, size: tuple[int, int], kernel: tuple[int, int], strides, dilations):
    """(top, bottom, left, right) as MIL's conv defines pad_type."""
    if pad_type == "custom":
        return tuple(int(p) for p in pad)
    if pad_type == "valid":
        return (0, 0, 0, 0)
    if pad_type in ("same", "same_lower"):
        result = []
        for n, k, s, d in zip(size, kernel, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            small, large = total // 2, total - total // 2
            result += [large, small] if pad_type == "same_lower" else [small, large]
        return tuple(result)
    raise ConversionError(f"conv: unknown pad_type {pad_type!r}")


def conv(x, weight, bias=None, strides=(1, 1), pad_type="valid", pad=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """2-D convolution, NCHW, weights (C_out, C_in/groups, kH, kW): one matrix product per kernel tap."""
    x, weight = _f32(x), _f32(weight)
    if x.ndim != 4:
        raise ConversionError(f"conv: only 2-D convolution is implemented, got input rank {x.ndim}")
    n, cin, h, w = x.shape
    cout, cin_g, kh, kw = weight.shape
    groups = int(groups)
    sh, sw = (int(v) for v in strides)
    dh, dw = (int(v) for v in dilations)
    top, bottom, left, right = _conv_padding(str(pad_type), pad, (h, w), (kh, kw), (sh, sw), (dh, dw))
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    xg = x.reshape(n, groups, cin_g, x.shape[2], x.shape[3])
    wg = weight.reshape(groups, cout // groups, cin_g, kh, kw)
    out = np.zeros((n, groups, cout // groups, oh, ow), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            tap = xg[:, :, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw]
            if cin_g == 1 and cout == groups:  # depthwise: an element-wise product, no reduction
                out += tap * wg[None, :, :, 0, i, j, None, None]
            else:
                out += np.einsum("goc,ngchw->ngohw", wg[:, :, :, i, j], tap, optimize=True)
    out = out.reshape(n, cout, oh, ow)
    return out if bias is None else out + _f32(bias)[None, :, None, None]


def slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    rank = x.ndim
    stride = np.ones(rank, int) if stride is None else stride
    begin_mask = np.zeros(rank, bool) if begin_mask is None else begin_mask
    end_mask = np.zeros(rank, bool) if end_mask is None else end_mask
    index = tuple(
        slice(None if bm else int(b), None if em else int(e), int(s))
        for b, e, s, bm, em in zip(begin, end, stride, begin_mask, end_mask)
    )
    out = x[index]
    if squeeze_mask is not None and np.any(squeeze_mask):
        out = out.squeeze(tuple(int(a) for a in np.flatnonzero(squeeze_mask)))
    return out


def upsample_nearest_neighbor(x, scale_factor_height=1, scale_factor_width=1):
    factors = (float(scale_factor_height), float(scale_factor_width))
    if any(f != int(f) or f < 1 for f in factors):
        raise ConversionError(f"upsample_nearest_neighbor: only whole factors are implemented, got {factors}")
    return x.repeat(int(factors[0]), axis=-2).repeat(int(factors[1]), axis=-1)


def softmax(x, axis=-1):
    x = _f32(x)
    e = np.exp(x - x.max(axis=int(axis), keepdims=True))
    return e / e.sum(axis=int(axis), keepdims=True)


def batch_norm(x, mean, variance, gamma=None, beta=None, epsilon=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (_f32(x) - _f32(mean).reshape(shape)) / np.sqrt(_f32(variance).reshape(shape) + float(epsilon))
    if gamma is not None:
        out = out * _f32(gamma).reshape(shape)
    return out if beta is None else out + _f32(beta).reshape(shape)


def reshape(x, shape):
    shape = [int(d) for d in np.ravel(shape)]
    if 0 in shape:
        raise ConversionError(f"reshape: a 0 in the target shape {shape} is not implemented")
    return x.reshape(shape)


def constexpr_lut_to_dense(indices, lut, shape):
    """Palettized weights (the iOS 16 form): n-bit indices packed from the least significant bit."""
    lut, shape = np.asarray(lut), tuple(int(d) for d in np.ravel(shape))
    if lut.ndim != 1 or np.asarray(indices).dtype != np.uint8:
        raise ConversionError("constexpr_lut_to_dense: only the iOS 16 form (one flat LUT, packed uint8 indices) is implemented")
    nbits = int(np.log2(lut.size))
    count = int(np.prod(shape))
    bits = np.unpackbits(np.asarray(indices), bitorder="little")[: count * nbits].reshape(count, nbits)
    keys = bits.astype(np.int64) @ (1 << np.arange(nbits))
    return lut[keys].reshape(shape)


def _binary(fn: Callable) -> Callable:
    return lambda x, y: fn(_f32(x), _f32(y))


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "conv": conv,
    "linear": lambda x, weight, bias=None: _f32(x) @ _f32(weight).T + (0 if bias is None else _f32(bias)),
    "batch_norm": batch_norm,
    "add": _binary(np.add),
    "mul": _binary(np.multiply),
    "maximum": _binary(np.maximum),
    "greater": _binary(np.greater),
    "clip": lambda x, alpha, beta: np.clip(_f32(x), float(alpha), float(beta)),
    "relu6": lambda x: np.clip(_f32(x), 0, 6),
    "sigmoid": lambda x: 0.5 * (1 + np.tanh(0.5 * _f32(x))),  # no overflow for large |x|
    "softmax": softmax,
    "cast": lambda x, dtype: x,  # the conversion to the output var's dtype happens in run()
    "slice_by_index": slice_by_index,
    "upsample_nearest_neighbor": upsample_nearest_neighbor,
    "concat": lambda values, axis, interleave=False: _concat(values, int(axis), bool(interleave)),
    "reshape": reshape,
    "constexpr_lut_to_dense": constexpr_lut_to_dense,
}


def _concat(values, axis: int, interleave: bool) -> np.ndarray:
    if interleave:
        raise ConversionError("concat: interleave=True is not implemented")
    return np.concatenate([_f32(v) for v in values], axis=axis)


def numpy_dtype(var) -> np.dtype:
    return np.dtype(types.nptype_from_builtin(var.dtype))


def unsupported_op_types(function) -> list[str]:
    return sorted({op.op_type for op in function.operations if op.op_type != "const"} - KERNELS.keys())


def run(function, inputs: dict[str, np.ndarray], intermediates: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Execute `function` on `inputs` (by input name); returns its outputs, and the values of the
    `intermediates` (var names), by name."""
    unknown = unsupported_op_types(function)
    if unknown:
        raise UnsupportedOpsError(f"the MIL interpreter has no kernel for op type(s): {', '.join(unknown)}")
    values: dict[str, np.ndarray] = {}
    for name, var in function.inputs.items():
        if name not in inputs:
            raise ConversionError(f"missing input {name!r}")
        values[name] = np.asarray(inputs[name]).astype(numpy_dtype(var)).reshape(var.shape)

    def value_of(var):
        return [value_of(v) for v in var] if isinstance(var, (list, tuple)) else values[var.name]

    for op in function.operations:
        if op.op_type == "const":
            val = op.outputs[0].val
            values[op.outputs[0].name] = val if isinstance(val, str) else np.asarray(val)
            continue
        result = KERNELS[op.op_type](**{name: value_of(var) for name, var in op.inputs.items()})
        results = result if isinstance(result, tuple) else (result,)
        for var, value in zip(op.outputs, results):
            value = np.asarray(value).astype(numpy_dtype(var))
            if tuple(value.shape) != tuple(var.shape):
                raise ConversionError(f"{op.op_type} {op.name!r}: computed shape {value.shape}, program says {var.shape}")
            values[var.name] = value
    return {name: values[name] for name in [var.name for var in function.outputs] + list(intermediates)}
