"""QuantizeLinear / DequantizeLinear as they come from ONNX QDQ models.

They carry scale and zero point as operands, as ONNX does; the quantization rewriting
turns them into quantized tensor types.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from compiler.ir import DTYPES, FLOAT_DTYPES, TensorType
from compiler.ops.base import Attr, Attrs, InferError, OpDef

INT_TARGETS = ("i8", "ui8", "i16", "i32")


def _broadcast_param(p: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * x.ndim
    shape[axis] = -1
    return p.reshape(shape)


def _check_params(attrs: Attrs, types: Sequence[TensorType]) -> None:
    x, scale = types[0], types[1]
    if scale.rank > 1:
        raise InferError("blocked quantization is not supported (scale must be scalar or 1-D)")
    if scale.rank == 1 and scale.numel != 1:
        axis = attrs.axis % max(x.rank, 1)
        if not -x.rank <= attrs.axis < x.rank or scale.shape[0] != x.shape[axis]:
            raise InferError(f"per-axis scale of length {scale.shape[0]} does not match axis "
                             f"{attrs.axis} of {list(x.shape)}")
    if len(types) > 2 and types[2].shape != scale.shape:
        raise InferError("zero point and scale must have the same shape")


def _infer_quantize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    _check_params(attrs, types)
    if types[0].dtype not in FLOAT_DTYPES:
        raise InferError(f"quantize_linear expects a float input, got {types[0].dtype}")
    if attrs.to not in INT_TARGETS:
        raise InferError(f"quantize_linear target must be one of {INT_TARGETS}")
    if len(types) > 2 and types[2].dtype != attrs.to:
        raise InferError(f"zero point is {types[2].dtype} but the target is {attrs.to}")
    return [TensorType(attrs.to, types[0].shape)]


def _eval_quantize(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0].astype(np.float32)
    axis = attrs.axis % max(x.ndim, 1)
    scale = _broadcast_param(xs[1].astype(np.float32), x, axis)
    zp = _broadcast_param(xs[2], x, axis).astype(np.int64) if len(xs) > 2 else 0
    info = np.iinfo(DTYPES[attrs.to])
    q = np.rint(x / scale).astype(np.int64) + zp  # rint: round half to even, as ONNX
    return [np.clip(q, info.min, info.max).astype(DTYPES[attrs.to])]


def _infer_dequantize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    _check_params(attrs, types)
    if types[0].dtype not in INT_TARGETS:
        raise InferError(f"dequantize_linear expects an integer input, got {types[0].dtype}")
    if len(types) > 2 and types[2].dtype != types[0].dtype:
        raise InferError(f"zero point is {types[2].dtype} but the input is {types[0].dtype}")
    return [TensorType(types[1].dtype, types[0].shape)]


def _eval_dequantize(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    axis = attrs.axis % max(x.ndim, 1)
    scale = _broadcast_param(xs[1], x, axis)
    zp = _broadcast_param(xs[2], x, axis).astype(np.int64) if len(xs) > 2 else 0
    return [((x.astype(np.int64) - zp).astype(scale.dtype) * scale).astype(xs[1].dtype)]


QUANTIZE_LINEAR = OpDef(
    "quantize_linear", "saturate(round_half_even(x / scale) + zero_point)",
    ("x", "scale", "zero_point?"), _infer_quantize, _eval_quantize,
    {"axis": Attr("int", 1), "to": Attr("str", "ui8")})
DEQUANTIZE_LINEAR = OpDef(
    "dequantize_linear", "(x - zero_point) * scale", ("x", "scale", "zero_point?"),
    _infer_dequantize, _eval_dequantize, {"axis": Attr("int", 1)})

OPS = [QUANTIZE_LINEAR, DEQUANTIZE_LINEAR]
