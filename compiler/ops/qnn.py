"""Quantized (int8) ops with the integer semantics of the TFLite Micro reference kernels.

Activations are int8, per-tensor, asymmetric; weights int8, symmetric, per output channel
(axis 0) or per tensor; biases int32 with scale ``x_scale * w_scale[c]``. Everything an op
needs at run time is an attribute computed at compile time (zero points, requantization
multiplier/shift, the activation clamp ``[act_min, act_max]`` that fuses ReLU/ReLU6), so
the evaluation below, like the C kernels, has no float in it (quantize/dequantize at the
graph's edges aside). The verifier's ``check`` recomputes every constant from the scales on
the types: a pass that changes a scale and forgets a multiplier is caught.

Layouts as in ``nn``: ``nhwc`` (the default here: activations NHWC, conv weights OHWI,
depthwise weights [C*mult, KH, KW, 1] with ``group = C``) or ``nchw``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from compiler.ir import PerTensor, TensorType
from compiler.ops.base import Attr, Attrs, InferError, OpDef
from compiler.ops.elementwise import infer_broadcast
from compiler.ops.nn import (
    POOL_ATTRS,
    _infer_conv,
    _pool_out_hw,
    check_layout,
    conv_nchw,
    conv_weight_oihw,
    conv_weight_to_oihw,
    from_nchw,
    nchw_shape,
    to_nchw,
    windows,
)
from compiler.quant import arith

I8_MIN, I8_MAX = -128, 127
ZP = Attr("int", 0)
ACT = {"act_min": Attr("int", I8_MIN, "clamp, in the output's integer domain"),
       "act_max": Attr("int", I8_MAX, "clamp, in the output's integer domain")}
REQUANT = {"multiplier": Attr("ints", (), "per output channel, or one for all"),
           "shift": Attr("ints", (), "per output channel, or one for all")}


# -- type checks shared by the ops -----------------------------------------------------------


def per_tensor(t: TensorType, what: str) -> PerTensor:
    if t.dtype != "i8" or not isinstance(t.quant, PerTensor):
        raise InferError(f"{what} must be i8 with per-tensor quantization, got {t}")
    return t.quant


def weight_scales(t: TensorType, channels: int) -> list[float]:
    """Per-output-channel scales of an int8 weight (axis 0), zero points all 0."""
    if t.dtype != "i8" or t.quant is None:
        raise InferError(f"weight must be quantized i8, got {t}")
    if isinstance(t.quant, PerTensor):
        if t.quant.zero_point != 0:
            raise InferError("weights must be symmetric (zero point 0)")
        return [t.quant.scale] * channels
    if t.quant.axis != 0 or len(t.quant.scales) != channels:
        raise InferError(f"per-channel weight quantization must be on axis 0 with {channels} "
                         f"scales, got {t.quant}")
    if any(t.quant.zero_points):
        raise InferError("weights must be symmetric (zero points 0)")
    return list(t.quant.scales)


def check_zp(attrs: Attrs, name: str, q: PerTensor) -> None:
    if getattr(attrs, name) != q.zero_point:
        raise InferError(f"{name} = {getattr(attrs, name)} but the type's zero point is "
                         f"{q.zero_point}")


def check_requant(attrs: Attrs, reals: Sequence[float], prefix: str = "") -> None:
    """``multiplier``/``shift`` (with ``prefix``) must be QuantizeMultiplier of ``reals``."""
    mults = getattr(attrs, f"{prefix}multiplier")
    shifts = getattr(attrs, f"{prefix}shift")
    expected = [arith.quantize_multiplier(r) for r in reals]
    if len(set(expected)) == 1 and len(mults) == 1:
        expected = expected[:1]
    if list(mults) != [m for m, _ in expected] or list(shifts) != [s for _, s in expected]:
        raise InferError(f"{prefix}multiplier/{prefix}shift do not match the scales "
                         f"(expected {[m for m, _ in expected][:4]}..., "
                         f"{[s for _, s in expected][:4]}...)")


def check_bias(t: TensorType | None, channels: int) -> None:
    if t is not None and (t.dtype != "i32" or t.shape != (channels,)):
        raise InferError(f"bias must be i32 of shape [{channels}], got {t}")


def check_act(attrs: Attrs) -> None:
    if not I8_MIN <= attrs.act_min <= attrs.act_max <= I8_MAX:
        raise InferError(f"act_min/act_max [{attrs.act_min}, {attrs.act_max}] must lie in "
                         f"[-128, 127]")


def out_i8(t: TensorType) -> TensorType:
    return TensorType("i8", t.shape, None)


def requantize_channels(acc: np.ndarray, attrs: Attrs, axis: int) -> np.ndarray:
    """acc (int64) -> MultiplyByQuantizedMultiplier per channel along ``axis``."""
    mult = np.asarray(attrs.multiplier, np.int64)
    shift = np.asarray(attrs.shift, np.int64)
    if mult.size > 1:
        shape = [1] * acc.ndim
        shape[axis] = -1
        mult, shift = mult.reshape(shape), shift.reshape(shape)
    return arith.multiply_by_quantized_multiplier(acc, mult, shift)


def finish(acc: np.ndarray, attrs: Attrs, out_zp: int) -> np.ndarray:
    return np.clip(acc + out_zp, attrs.act_min, attrs.act_max).astype(np.int8)


# -- qconv2d ------------------------------------------------------------------------------------

ZP_FOLDED = Attr("bool", False, "the bias holds -x_zp * sum(w) (lower-c folds it): the "
                 "kernel adds bias + sum(w * x) with padding taps reading x_zp")

QCONV_ATTRS = {
    "strides": Attr("ints", (1, 1)),
    "dilations": Attr("ints", (1, 1)),
    "pads": Attr("ints", (0, 0, 0, 0), "[top, left, bottom, right]"),
    "group": Attr("int", 1),
    "layout": Attr("str", "nhwc"),
    "x_zp": ZP,
    "out_zp": ZP,
    **REQUANT,
    **ACT,
    "zp_folded": ZP_FOLDED,
}


def _infer_qconv(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if types[0].dtype != "i8" or types[1].dtype != "i8":
        raise InferError(f"qconv2d takes i8 input and weight, got {types[0].dtype}, "
                         f"{types[1].dtype}")
    if len(types) > 2 and types[2].dtype != "i32":
        raise InferError(f"qconv2d bias must be i32, got {types[2].dtype}")
    as_float = [TensorType("f32", t.shape) for t in types]
    return [out_i8(_infer_conv(_with_clamp(attrs), as_float)[0])]


def _with_clamp(attrs: Attrs) -> Attrs:
    return Attrs({**attrs.__dict__, "clamp": ()})


def _check_qconv(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    xq, oq = per_tensor(ins[0], "input"), per_tensor(outs[0], "output")
    check_zp(attrs, "x_zp", xq)
    check_zp(attrs, "out_zp", oq)
    o = conv_weight_oihw(ins[1].shape, attrs.layout)[0]
    ws = weight_scales(ins[1], o)
    check_bias(ins[2] if len(ins) > 2 else None, o)
    if len(ins) > 2 and ins[2].quant is not None:
        _check_bias_scales(ins[2], [xq.scale * s for s in ws])
    check_requant(attrs, [xq.scale * s / oq.scale for s in ws])
    check_act(attrs)


def _check_bias_scales(t: TensorType, scales: Sequence[float]) -> None:
    q = t.quant
    got = [q.scale] * len(scales) if isinstance(q, PerTensor) else list(q.scales)
    if not np.allclose(got, scales, rtol=1e-6, atol=0):
        raise InferError("bias scales are not input scale x weight scales")


def _eval_qconv(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout).astype(np.float64) - attrs.x_zp
    w = conv_weight_to_oihw(xs[1], attrs.layout).astype(np.float64)
    # Float64 sums of int8 products are exact; zero padding of x - x_zp is padding with
    # the input zero point, as TFLM skips out-of-bounds taps.
    acc = np.rint(conv_nchw(x, w, attrs)).astype(np.int64)
    if attrs.zp_folded:  # the bias already subtracts x_zp * sum(w): add it back here
        w_sums = np.rint(w.sum(axis=(1, 2, 3))).astype(np.int64)
        acc = acc + attrs.x_zp * w_sums.reshape(1, -1, 1, 1)
    if len(xs) > 2:
        acc = acc + xs[2].astype(np.int64).reshape(1, -1, 1, 1)
    acc = requantize_channels(acc, attrs, 1)
    return [from_nchw(finish(acc, attrs, attrs.out_zp), attrs.layout)]


def _qconv_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    _, ci, kh, kw = conv_weight_oihw(ins[1].shape, attrs.layout)
    return outs[0].numel * ci * kh * kw


QCONV2D = OpDef("qconv2d", "int8 2-D convolution (grouped, depthwise), int32 bias, per-channel "
                "requantization (TFLM conv / depthwise_conv)", ("x", "w", "b?"), _infer_qconv,
                _eval_qconv, QCONV_ATTRS, _qconv_macs, _check_qconv)


# -- qfully_connected ---------------------------------------------------------------------------


def _infer_qfc(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    x, w = types[0], types[1]
    if x.dtype != "i8" or w.dtype != "i8" or x.rank != 2 or w.rank != 2:
        raise InferError(f"qfully_connected takes i8 [N, K] input and i8 [O, K] weight, got "
                         f"{x} and {w}")
    if x.shape[1] != w.shape[1]:
        raise InferError(f"input has {x.shape[1]} features, weight expects {w.shape[1]}")
    return [TensorType("i8", (x.shape[0], w.shape[0]))]


def _check_qfc(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    xq, oq = per_tensor(ins[0], "input"), per_tensor(outs[0], "output")
    check_zp(attrs, "x_zp", xq)
    check_zp(attrs, "out_zp", oq)
    o = ins[1].shape[0]
    ws = weight_scales(ins[1], o)
    check_bias(ins[2] if len(ins) > 2 else None, o)
    check_requant(attrs, [xq.scale * s / oq.scale for s in ws])
    check_act(attrs)


def _eval_qfc(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0].astype(np.float64) - attrs.x_zp
    acc = np.rint(x @ xs[1].astype(np.float64).T).astype(np.int64)
    if attrs.zp_folded:
        acc = acc + attrs.x_zp * xs[1].astype(np.int64).sum(axis=1)
    if len(xs) > 2:
        acc = acc + xs[2].astype(np.int64)
    acc = requantize_channels(acc, attrs, 1)
    return [finish(acc, attrs, attrs.out_zp)]


QFULLY_CONNECTED = OpDef(
    "qfully_connected", "int8 x @ w^T + bias, per-tensor or per-channel requantization (TFLM "
    "fully_connected)", ("x", "w", "b?"), _infer_qfc, _eval_qfc,
    {"x_zp": ZP, "out_zp": ZP, **REQUANT, **ACT, "zp_folded": ZP_FOLDED},
    lambda a, ins, outs: outs[0].numel * ins[0].shape[1], _check_qfc)


# -- qadd / qmul --------------------------------------------------------------------------------


def _infer_qbinary(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if any(t.dtype != "i8" for t in types):
        raise InferError("operands must be i8")
    plain = [TensorType("i8", t.shape) for t in types]
    return infer_broadcast(attrs, plain)


QADD_ATTRS = {"a_zp": ZP, "b_zp": ZP, "out_zp": ZP, "left_shift": Attr("int", 20),
              "a_multiplier": Attr("int"), "a_shift": Attr("int"),
              "b_multiplier": Attr("int"), "b_shift": Attr("int"),
              "out_multiplier": Attr("int"), "out_shift": Attr("int"), **ACT}


def add_params(a_scale: float, b_scale: float, out_scale: float, left_shift: int = 20) -> dict:
    """TFLM's int8 ADD preparation: per-input and output multipliers."""
    twice_max = 2.0 * max(a_scale, b_scale)
    am, ash = arith.quantize_multiplier(a_scale / twice_max)
    bm, bsh = arith.quantize_multiplier(b_scale / twice_max)
    om, osh = arith.quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
    return {"left_shift": left_shift, "a_multiplier": am, "a_shift": ash, "b_multiplier": bm,
            "b_shift": bsh, "out_multiplier": om, "out_shift": osh}


def _check_qadd(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    aq, bq, oq = per_tensor(ins[0], "a"), per_tensor(ins[1], "b"), per_tensor(outs[0], "output")
    check_zp(attrs, "a_zp", aq)
    check_zp(attrs, "b_zp", bq)
    check_zp(attrs, "out_zp", oq)
    expected = add_params(aq.scale, bq.scale, oq.scale, attrs.left_shift)
    if expected["out_shift"] > 0:
        raise InferError("the output scale is too small for the int8 add kernel (its "
                         "multiplier would need a left shift)")
    for key, value in expected.items():
        if getattr(attrs, key) != value:
            raise InferError(f"{key} = {getattr(attrs, key)} does not match the scales "
                             f"(expected {value})")
    check_act(attrs)


def _eval_qadd(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    a = (xs[0].astype(np.int64) - attrs.a_zp) * (1 << attrs.left_shift)
    b = (xs[1].astype(np.int64) - attrs.b_zp) * (1 << attrs.left_shift)
    small = arith.multiply_by_quantized_multiplier_smaller_than_one_exp
    total = small(a, attrs.a_multiplier, attrs.a_shift) + small(b, attrs.b_multiplier,
                                                                 attrs.b_shift)
    out = small(total, attrs.out_multiplier, attrs.out_shift)
    return [finish(out, attrs, attrs.out_zp)]


QADD = OpDef("qadd", "int8 a + b with broadcasting (TFLM add: 20-bit left shift, per-input "
             "multipliers)", ("a", "b"), _infer_qbinary, _eval_qadd, QADD_ATTRS,
             check=_check_qadd)


def _check_qmul(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    aq, bq, oq = per_tensor(ins[0], "a"), per_tensor(ins[1], "b"), per_tensor(outs[0], "output")
    check_zp(attrs, "a_zp", aq)
    check_zp(attrs, "b_zp", bq)
    check_zp(attrs, "out_zp", oq)
    check_requant(attrs, [aq.scale * bq.scale / oq.scale])
    check_act(attrs)


def _eval_qmul(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    prod = (xs[0].astype(np.int64) - attrs.a_zp) * (xs[1].astype(np.int64) - attrs.b_zp)
    out = arith.multiply_by_quantized_multiplier(prod, attrs.multiplier[0], attrs.shift[0])
    return [finish(out, attrs, attrs.out_zp)]


QMUL = OpDef("qmul", "int8 a * b with broadcasting (TFLM mul)", ("a", "b"), _infer_qbinary,
             _eval_qmul, {"a_zp": ZP, "b_zp": ZP, "out_zp": ZP, **REQUANT, **ACT},
             check=_check_qmul)


# -- pooling and mean -------------------------------------------------------------------------

QPOOL_ATTRS = {**POOL_ATTRS, "layout": Attr("str", "nhwc"), **ACT}
del QPOOL_ATTRS["ceil_mode"]


def _infer_qpool(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    if t.dtype != "i8":
        raise InferError(f"expects i8, got {t.dtype}")
    n, c, h, w = nchw_shape(t.shape, attrs.layout)
    oh, ow = _pool_out_hw(Attrs({**attrs.__dict__, "ceil_mode": False}), h, w)
    shape = (n, c, oh, ow) if attrs.layout == "nchw" else (n, oh, ow, c)
    return [TensorType("i8", shape)]


def _check_same_quant(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    if per_tensor(ins[0], "input") != per_tensor(outs[0], "output"):
        raise InferError("input and output must have the same quantization")
    check_act(attrs)


def _pool_windows(attrs: Attrs, x: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Windows over x padded with ``fill`` and, alongside, the in-bounds mask windows."""
    n, c, h, w = x.shape
    pt, pl, pb, pr = attrs.pads
    plain = Attrs({**attrs.__dict__, "ceil_mode": False})
    oh, ow = _pool_out_hw(plain, h, w)
    pad = ((0, 0), (0, 0), (pt, pb), (pl, pr))
    xw = windows(np.pad(x, pad, constant_values=fill), attrs.kernel, attrs.strides,
                 attrs.dilations, (oh, ow))
    mask = np.pad(np.ones((1, 1, h, w)), pad)
    mw = windows(mask, attrs.kernel, attrs.strides, attrs.dilations, (oh, ow))
    return xw, mw


def _eval_qavg(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout).astype(np.int64)
    xw, mw = _pool_windows(attrs, x, 0)
    total = xw.sum(axis=(4, 5))
    count = mw.sum(axis=(4, 5)).astype(np.int64)  # in-bounds taps only, as TFLM
    avg = div_round_half_away(total, count)
    return [from_nchw(np.clip(avg, attrs.act_min, attrs.act_max).astype(np.int8), attrs.layout)]


def div_round_half_away(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """C's ``num > 0 ? (num + den/2) / den : (num - den/2) / den`` (truncating division)."""
    den = np.asarray(den, np.int64)
    half = den // 2
    adj = np.where(num > 0, num + half, num - half)
    q = np.abs(adj) // den
    return np.where(adj < 0, -q, q)


def _eval_qmax(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout).astype(np.int64)
    xw, _ = _pool_windows(attrs, x, I8_MIN - 1)
    y = xw.max(axis=(4, 5))
    return [from_nchw(np.clip(y, attrs.act_min, attrs.act_max).astype(np.int8), attrs.layout)]


QAVG_POOL = OpDef("qavg_pool", "int8 average pooling; the count excludes padding and the "
                  "mean rounds half away from zero (TFLM average_pool)", ("x",), _infer_qpool,
                  _eval_qavg, QPOOL_ATTRS, check=_check_same_quant)
QMAX_POOL = OpDef("qmax_pool", "int8 max pooling (TFLM max_pool)", ("x",), _infer_qpool,
                  _eval_qmax, QPOOL_ATTRS, check=_check_same_quant)


def _spatial_axes(layout: str) -> tuple[int, int]:
    return (2, 3) if layout == "nchw" else (1, 2)


def _infer_qmean(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    if t.dtype != "i8" or t.rank != 4:
        raise InferError(f"qmean takes a rank-4 i8 tensor, got {t}")
    check_layout(attrs)
    shape = list(t.shape)
    for axis in _spatial_axes(attrs.layout):
        shape[axis] = 1
    return [TensorType("i8", shape)]


def _check_qmean(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    xq, oq = per_tensor(ins[0], "input"), per_tensor(outs[0], "output")
    check_zp(attrs, "x_zp", xq)
    check_zp(attrs, "out_zp", oq)
    check_requant(attrs, [xq.scale / oq.scale])


def _eval_qmean(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0].astype(np.int64) - attrs.x_zp
    axes = _spatial_axes(attrs.layout)
    count = x.shape[axes[0]] * x.shape[axes[1]]
    acc = x.sum(axis=axes, keepdims=True)
    acc = arith.multiply_by_quantized_multiplier(acc, attrs.multiplier[0], attrs.shift[0])
    acc = div_round_half_away(acc, count) + attrs.out_zp
    return [np.clip(acc, I8_MIN, I8_MAX).astype(np.int8)]


QMEAN = OpDef("qmean", "int8 mean over H and W, keeping them as size 1 (TFLM mean, 4-D case: "
              "requantize the sum, then divide rounding half away from zero)",
              ("x",), _infer_qmean, _eval_qmean,
              {"layout": Attr("str", "nhwc"), "x_zp": ZP, "out_zp": ZP, **REQUANT},
              check=_check_qmean)


# -- edges and requantization -------------------------------------------------------------------


def _infer_quantize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if types[0].dtype != "f32":
        raise InferError(f"quantize takes f32, got {types[0].dtype}")
    return [TensorType("i8", types[0].shape)]


def _check_quantize(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    q = per_tensor(outs[0], "output")
    if (attrs.scale, attrs.zero_point) != (q.scale, q.zero_point):
        raise InferError("scale/zero_point do not match the output type")


def _check_dequantize(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    q = per_tensor(ins[0], "input")
    if (attrs.scale, attrs.zero_point) != (q.scale, q.zero_point):
        raise InferError("scale/zero_point do not match the input type")


def _eval_quantize(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    if not attrs.round_half_even:
        return [arith.quantize_float_to_int8(xs[0], attrs.scale, attrs.zero_point)]
    # ONNX QuantizeLinear: x / scale in float32, rounded half to even, saturated.
    with np.errstate(all="ignore"):
        q = np.rint(xs[0].astype(np.float32) / np.float32(attrs.scale)).astype(np.float64)
    q = np.nan_to_num(q, nan=0.0, posinf=127.0, neginf=-128.0)
    return [np.clip(q + attrs.zero_point, I8_MIN, I8_MAX).astype(np.int8)]


QUANTIZE = OpDef("quantize", "f32 -> i8 at a graph edge: x / scale rounded half away from "
                 "zero as TFLM's QUANTIZE (or half to even as ONNX QuantizeLinear with "
                 "round_half_even), plus zero point, saturated", ("x",), _infer_quantize,
                 _eval_quantize,
                 {"scale": Attr("float"), "zero_point": ZP,
                  "round_half_even": Attr("bool", False)}, check=_check_quantize)


def _infer_dequantize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if types[0].dtype != "i8":
        raise InferError(f"dequantize takes i8, got {types[0].dtype}")
    return [TensorType("f32", types[0].shape)]


DEQUANTIZE = OpDef("dequantize", "i8 -> f32 at a graph edge, as TFLM's DEQUANTIZE", ("x",),
                   _infer_dequantize,
                   lambda a, xs: [arith.dequantize_int8(xs[0], a.scale, a.zero_point)],
                   {"scale": Attr("float"), "zero_point": ZP}, check=_check_dequantize)


def _infer_requantize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if types[0].dtype not in ("i8", "ui8") or attrs.to not in ("i8", "ui8"):
        raise InferError(f"requantize converts between i8 and ui8, got {types[0].dtype} -> "
                         f"{attrs.to}")
    return [TensorType(attrs.to, types[0].shape)]


def _check_requantize(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
    xq, oq = ins[0].quant, outs[0].quant
    if not isinstance(xq, PerTensor) or not isinstance(oq, PerTensor):
        raise InferError("requantize needs per-tensor quantization on input and output")
    check_zp(attrs, "x_zp", xq)
    check_zp(attrs, "out_zp", oq)
    check_requant(attrs, [xq.scale / oq.scale])


def _eval_requantize(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0].astype(np.int64) - attrs.x_zp
    y = arith.multiply_by_quantized_multiplier(x, attrs.multiplier[0], attrs.shift[0])
    lo, hi = (0, 255) if attrs.to == "ui8" else (I8_MIN, I8_MAX)
    return [np.clip(y + attrs.out_zp, lo, hi).astype(np.uint8 if attrs.to == "ui8" else np.int8)]


REQUANTIZE = OpDef("requantize", "int8/uint8 -> int8/uint8 with another scale and zero point "
                   "(TFLM QUANTIZE int8 -> int8); with equal scales an exact zero-point shift",
                   ("x",), _infer_requantize, _eval_requantize,
                   {"x_zp": ZP, "out_zp": ZP, **REQUANT, "to": Attr("str", "i8")},
                   check=_check_requantize)

# -- fixed-point activations (output quantization fixed by the TFLite spec) --------------------

FIXED_OUTPUT = {"qsoftmax": (1.0 / 256.0, -128), "qlogistic": (1.0 / 256.0, -128),
                "qtanh": (1.0 / 128.0, 0)}


def params_attrs(params: dict, names: Sequence[str]) -> dict:
    """The attributes of an activation op from an ``arith.*_params`` dict."""
    return {k: int(params[k]) for k in names}


def _infer_same_i8(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    if types[0].dtype != "i8":
        raise InferError(f"expects i8, got {types[0].dtype}")
    return [TensorType("i8", types[0].shape)]


def _activation_check(op: str, names: Sequence[str], make):
    def check(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> None:
        xq, oq = per_tensor(ins[0], "input"), per_tensor(outs[0], "output")
        if op in FIXED_OUTPUT and (oq.scale, oq.zero_point) != FIXED_OUTPUT[op]:
            scale, zp = FIXED_OUTPUT[op]
            raise InferError(f"{op} output must be quantized with scale {scale} and zero "
                             f"point {zp} (fixed by the TFLite int8 spec), got {oq}")
        try:
            expected = params_attrs(make(xq, oq), names)
        except ValueError as err:
            raise InferError(str(err)) from None
        for key, value in expected.items():
            if getattr(attrs, key) != value:
                raise InferError(f"{key} = {getattr(attrs, key)} does not match the scales "
                                 f"(expected {value})")

    return check


SOFTMAX_ATTRS = ("input_multiplier", "input_left_shift", "diff_min")
ACT_ATTRS = ("input_zero_point", "input_multiplier", "input_left_shift", "input_range_radius")
HARD_SWISH_ATTRS = ("input_zero_point", "output_zero_point",
                    "output_multiplier_fixedpoint_int16", "output_multiplier_exponent",
                    "reluish_multiplier_fixedpoint_int16", "reluish_multiplier_exponent")

QSOFTMAX = OpDef(
    "qsoftmax", "int8 softmax over the last axis, gemmlowp fixed point (TFLM softmax); "
    "output scale 1/256, zero point -128", ("x",), _infer_same_i8,
    lambda a, xs: [arith.softmax_int8(xs[0], a.__dict__)],
    {k: Attr("int") for k in SOFTMAX_ATTRS}, check=_activation_check(
        "qsoftmax", SOFTMAX_ATTRS, lambda xq, oq: arith.softmax_int8_params(xq.scale)))
QLOGISTIC = OpDef(
    "qlogistic", "int8 sigmoid, gemmlowp fixed point (TFLM logistic); output 1/256, -128",
    ("x",), _infer_same_i8, lambda a, xs: [arith.logistic_int8(xs[0], a.__dict__)],
    {k: Attr("int") for k in ACT_ATTRS}, check=_activation_check(
        "qlogistic", ACT_ATTRS,
        lambda xq, oq: arith.logistic_int8_params(xq.scale, xq.zero_point)))
QTANH = OpDef(
    "qtanh", "int8 tanh, gemmlowp fixed point (TFLM tanh); output 1/128, 0",
    ("x",), _infer_same_i8, lambda a, xs: [arith.tanh_int8(xs[0], a.__dict__)],
    {k: Attr("int") for k in ACT_ATTRS}, check=_activation_check(
        "qtanh", ACT_ATTRS, lambda xq, oq: arith.tanh_int8_params(xq.scale, xq.zero_point)))
QHARD_SWISH = OpDef(
    "qhard_swish", "int8 hard swish, 16-bit fixed point (TFLM hard_swish)",
    ("x",), _infer_same_i8, lambda a, xs: [arith.hard_swish_int8(xs[0], a.__dict__)],
    {k: Attr("int") for k in HARD_SWISH_ATTRS}, check=_activation_check(
        "qhard_swish", HARD_SWISH_ATTRS,
        lambda xq, oq: arith.hard_swish_int8_params(xq.scale, xq.zero_point, oq.scale,
                                                    oq.zero_point)))

OPS = [QCONV2D, QFULLY_CONNECTED, QADD, QMUL, QAVG_POOL, QMAX_POOL, QMEAN, QSOFTMAX, QLOGISTIC,
       QTANH, QHARD_SWISH, QUANTIZE, DEQUANTIZE, REQUANTIZE]

