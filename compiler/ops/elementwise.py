"""Elementwise ops: broadcasting arithmetic, activations, softmax, casts, identity."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from compiler.ir import FLOAT_DTYPES, TensorType
from compiler.ops.base import Attr, Attrs, InferError, OpDef

CLAMP = Attr("floats", (), "fused activation: outputs clamped to [lo, hi] (empty: none)")


def apply_clamp(y: np.ndarray, clamp: Sequence[float]) -> np.ndarray:
    if not clamp:
        return y
    lo, hi = clamp
    return np.clip(y, np.asarray(lo, y.dtype), np.asarray(hi, y.dtype))


def same_dtype(types: Sequence[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise InferError(f"operands have different dtypes {sorted(dtypes)}")
    return dtypes.pop()


def require_float(t: TensorType) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise InferError(f"expects a float tensor, got {t.dtype}")


# -- binary arithmetic with numpy broadcasting --------------------------------------------


def infer_broadcast(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    dtype = same_dtype(types)
    try:
        shape = np.broadcast_shapes(*(t.shape for t in types))
    except ValueError:
        raise InferError(
            "shapes " + " and ".join(str(list(t.shape)) for t in types) + " do not broadcast"
        ) from None
    return [TensorType(dtype, shape)]


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # ONNX integer Div truncates toward zero, like C.
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(a.dtype)


def _binary(fn):
    def evaluate(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        a, b = xs
        y = fn(a, b)
        return [apply_clamp(np.asarray(y, a.dtype), attrs.get("clamp", ()))]

    return evaluate


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return _int_div(a, b)
    return a / b


ADD = OpDef("add", "a + b with numpy broadcasting", ("a", "b"), infer_broadcast,
            _binary(np.add), {"clamp": CLAMP})
SUB = OpDef("sub", "a - b with numpy broadcasting", ("a", "b"), infer_broadcast,
            _binary(np.subtract), {"clamp": CLAMP})
MUL = OpDef("mul", "a * b with numpy broadcasting", ("a", "b"), infer_broadcast,
            _binary(np.multiply), {"clamp": CLAMP})
DIV = OpDef("div", "a / b with numpy broadcasting (integers truncate toward zero)", ("a", "b"),
            infer_broadcast, _binary(_div))


# -- unary ------------------------------------------------------------------------------


def infer_same(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    return [TensorType(types[0].dtype, types[0].shape, types[0].quant)]


def infer_same_float(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    require_float(types[0])
    return [TensorType(types[0].dtype, types[0].shape)]


def _unary(fn):
    def evaluate(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = xs[0]
        return [np.asarray(fn(attrs, x), dtype=x.dtype)]

    return evaluate


def _sigmoid(attrs: Attrs, x: np.ndarray) -> np.ndarray:
    # Two branches so that neither overflows.
    with np.errstate(over="ignore"):
        pos = 1.0 / (1.0 + np.exp(-x))
        ez = np.exp(x)
        neg = ez / (1.0 + ez)
    return np.where(x >= 0, pos, neg)


def _hard_sigmoid(attrs: Attrs, x: np.ndarray) -> np.ndarray:
    return np.clip(attrs.alpha * x + attrs.beta, 0, 1)


def _hard_swish(attrs: Attrs, x: np.ndarray) -> np.ndarray:
    return x * np.clip(x / 6 + 0.5, 0, 1)


RELU = OpDef("relu", "max(x, 0)", ("x",), infer_same, _unary(lambda a, x: np.maximum(x, 0)))
LEAKY_RELU = OpDef("leaky_relu", "x if x >= 0 else alpha * x", ("x",), infer_same_float,
                   _unary(lambda a, x: np.where(x >= 0, x, x * np.asarray(a.alpha, x.dtype))),
                   {"alpha": Attr("float", 0.01)})


def _clip(attrs: Attrs, x: np.ndarray) -> np.ndarray:
    lo, hi = attrs.min, attrs.max
    if np.issubdtype(x.dtype, np.integer):
        # Casting +-inf (or any out-of-range bound) to an integer type is undefined.
        info = np.iinfo(x.dtype)
        lo = info.min if lo <= info.min else min(math.ceil(lo), info.max)
        hi = info.max if hi >= info.max else max(math.floor(hi), info.min)
    return np.clip(x, np.asarray(lo, x.dtype), np.asarray(hi, x.dtype))


CLIP = OpDef("clip", "min(max(x, min), max); a bound of +-inf is open", ("x",), infer_same,
             _unary(_clip),
             {"min": Attr("float", float("-inf")), "max": Attr("float", float("inf"))})
SIGMOID = OpDef("sigmoid", "1 / (1 + exp(-x))", ("x",), infer_same_float, _unary(_sigmoid))
TANH = OpDef("tanh", "tanh(x)", ("x",), infer_same_float, _unary(lambda a, x: np.tanh(x)))
HARD_SIGMOID = OpDef("hard_sigmoid", "clamp(alpha * x + beta, 0, 1)", ("x",), infer_same_float,
                     _unary(_hard_sigmoid),
                     {"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)})
HARD_SWISH = OpDef("hard_swish", "x * clamp(x / 6 + 1/2, 0, 1)", ("x",), infer_same_float,
                   _unary(_hard_swish))
IDENTITY = OpDef("identity", "x", ("x",), infer_same, lambda a, xs: [xs[0].copy()])
DROPOUT = OpDef("dropout", "x (inference: dropout is the identity)", ("x",), infer_same,
                lambda a, xs: [xs[0].copy()])


def _infer_cast(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    require_float(types[0])
    if attrs.to not in FLOAT_DTYPES:
        raise InferError(f"cast supports float to float only, not to {attrs.to}")
    return [TensorType(attrs.to, types[0].shape)]


CAST = OpDef("cast", "float to float conversion (round to nearest even)", ("x",), _infer_cast,
             lambda a, xs: [xs[0].astype(np.dtype({"f16": np.float16, "f32": np.float32,
                                                   "f64": np.float64}[a.to]))],
             {"to": Attr("str")})


# -- softmax ----------------------------------------------------------------------------


def _infer_axis_same(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    require_float(t)
    if not -t.rank <= attrs.axis < t.rank:
        raise InferError(f"axis {attrs.axis} out of range for rank {t.rank}")
    return [TensorType(t.dtype, t.shape)]


def _softmax(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    shifted = x - np.max(x, axis=attrs.axis, keepdims=True)
    e = np.exp(shifted)
    return [(e / np.sum(e, axis=attrs.axis, keepdims=True)).astype(x.dtype)]


def _log_softmax(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    shifted = x - np.max(x, axis=attrs.axis, keepdims=True)
    lse = np.log(np.sum(np.exp(shifted), axis=attrs.axis, keepdims=True))
    return [(shifted - lse).astype(x.dtype)]


SOFTMAX = OpDef("softmax", "exp(x) / sum(exp(x)) along axis", ("x",), _infer_axis_same, _softmax,
                {"axis": Attr("int", -1)})
LOG_SOFTMAX = OpDef("log_softmax", "log(softmax(x)) along axis", ("x",), _infer_axis_same,
                    _log_softmax, {"axis": Attr("int", -1)})



# -- local response normalization ---------------------------------------------------------


def _infer_lrn(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if attrs.size < 1:
        raise InferError(f"size must be at least 1, got {attrs.size}")
    return _infer_axis_same(attrs, types)


def _lrn(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """ONNX LRN: x / (bias + alpha / size * sum of x^2 over the channels
    [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to the tensor)^beta."""
    x = xs[0]
    sq = np.moveaxis(x.astype(np.float64), attrs.axis, -1) ** 2
    c = sq.shape[-1]
    csum = np.concatenate([np.zeros(sq.shape[:-1] + (1,)), np.cumsum(sq, axis=-1)], axis=-1)
    i = np.arange(c)
    lo = np.maximum(i - (attrs.size - 1) // 2, 0)
    hi = np.minimum(i + attrs.size // 2, c - 1)
    window = np.moveaxis(csum[..., hi + 1] - csum[..., lo], -1, attrs.axis)
    scale = (attrs.bias + attrs.alpha / attrs.size * window) ** attrs.beta
    return [(x.astype(np.float64) / scale).astype(x.dtype)]


LRN = OpDef("lrn", "local response normalization across channels (ONNX LRN): x / (bias + "
            "alpha / size * sum of x^2 over size channels)^beta", ("x",), _infer_lrn, _lrn,
            {"size": Attr("int"), "alpha": Attr("float", 1e-4), "beta": Attr("float", 0.75),
             "bias": Attr("float", 1.0), "axis": Attr("int", 1)})

OPS = [ADD, SUB, MUL, DIV, RELU, LEAKY_RELU, CLIP, SIGMOID, TANH, HARD_SIGMOID, HARD_SWISH,
       IDENTITY, DROPOUT, CAST, SOFTMAX, LOG_SOFTMAX, LRN]
