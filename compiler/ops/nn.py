"""Neural-network ops: convolutions, fully connected / matmul, batch norm, pooling, reductions.

Convolutions and pools are 2-D. ``layout`` says where the channels are: ``nchw``
(activations NCHW, conv weights OIHW, as ONNX) or ``nhwc`` (activations NHWC, conv weights
OHWI, as TFLite and the C kernels). ``pads`` is ``[top, left, bottom, right]``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.ir import TensorType
from compiler.ops.base import Attr, Attrs, InferError, OpDef
from compiler.ops.elementwise import CLAMP, apply_clamp, require_float, same_dtype

LAYOUT = Attr("str", "nchw", "nchw or nhwc: where the channel dimension is")
PAIR1 = (1, 1)
PADS0 = (0, 0, 0, 0)


def check_layout(attrs: Attrs) -> None:
    if attrs.layout not in ("nchw", "nhwc"):
        raise InferError(f"layout must be nchw or nhwc, not {attrs.layout!r}")


def check_len(attrs: Attrs, name: str, n: int) -> None:
    value = getattr(attrs, name)
    if len(value) != n:
        raise InferError(f"attribute '{name}' needs {n} values, got {len(value)}")


def check_window(attrs: Attrs, *names: str) -> None:
    """Strides and dilations at least 1, pads (and output padding) at least 0."""
    for name in names:
        least = 0 if name in ("pads", "output_padding") else 1
        if min(getattr(attrs, name)) < least:
            raise InferError(f"attribute '{name}' must be at least {least}, got "
                             f"{list(getattr(attrs, name))}")


def window_out(size: int, k: int, stride: int, dil: int, pad_lo: int, pad_hi: int,
               ceil: bool = False) -> int:
    """Output length of a sliding window (ONNX rule, incl. ceil mode's last-window check)."""
    span = dil * (k - 1) + 1
    num = size + pad_lo + pad_hi - span
    if num < 0:
        raise InferError(f"window of {span} does not fit an input of {size} with padding "
                         f"{pad_lo}+{pad_hi}")
    out = (-(-num // stride) if ceil else num // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def to_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    return x if layout == "nchw" else np.transpose(x, (0, 3, 1, 2))


def from_nchw(y: np.ndarray, layout: str) -> np.ndarray:
    return y if layout == "nchw" else np.ascontiguousarray(np.transpose(y, (0, 2, 3, 1)))


def nchw_shape(shape: Sequence[int], layout: str) -> tuple[int, int, int, int]:
    if layout not in ("nchw", "nhwc"):  # (every layout op reads its input through here)
        raise InferError(f"layout must be nchw or nhwc, not {layout!r}")
    if len(shape) != 4:
        raise InferError(f"expects a rank-4 tensor, got shape {list(shape)}")
    n, a, b, c = shape
    return (n, a, b, c) if layout == "nchw" else (n, c, a, b)


def layout_shape(n: int, c: int, h: int, w: int, layout: str) -> tuple[int, ...]:
    return (n, c, h, w) if layout == "nchw" else (n, h, w, c)


def windows(x: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
            dilations: Sequence[int], out_hw: Sequence[int]) -> np.ndarray:
    """View of shape (N, C, OH, OW, KH, KW) over a padded NCHW input."""
    kh, kw = kernel
    (dh, dw), (sh, sw), (oh, ow) = dilations, strides, out_hw
    view = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    view = view[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]
    return view


# -- conv2d -----------------------------------------------------------------------------

CONV_ATTRS = {
    "strides": Attr("ints", PAIR1),
    "dilations": Attr("ints", PAIR1),
    "pads": Attr("ints", PADS0, "[top, left, bottom, right]"),
    "group": Attr("int", 1),
    "layout": LAYOUT,
    "clamp": CLAMP,
}


def conv_weight_oihw(w_shape: Sequence[int], layout: str) -> tuple[int, int, int, int]:
    if len(w_shape) != 4:
        raise InferError(f"conv weight must be rank 4, got shape {list(w_shape)}")
    o, a, b, c = w_shape
    return (o, a, b, c) if layout == "nchw" else (o, c, a, b)


def _infer_conv(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    check_layout(attrs)
    for name in ("strides", "dilations"):
        check_len(attrs, name, 2)
    check_len(attrs, "pads", 4)
    check_window(attrs, "strides", "dilations", "pads")
    dtype = same_dtype(types)
    n, c, h, w = nchw_shape(types[0].shape, attrs.layout)
    o, ci, kh, kw = conv_weight_oihw(types[1].shape, attrs.layout)
    g = attrs.group
    if g < 1 or c % g or o % g or ci * g != c:
        raise InferError(f"group {g} does not fit {c} input channels, "
                         f"weight {list(types[1].shape)}")
    if len(types) > 2 and types[2].shape != (o,):
        raise InferError(f"bias must have shape [{o}], got {list(types[2].shape)}")
    pt, pl, pb, pr = attrs.pads
    oh = window_out(h, kh, attrs.strides[0], attrs.dilations[0], pt, pb)
    ow = window_out(w, kw, attrs.strides[1], attrs.dilations[1], pl, pr)
    return [TensorType(dtype, layout_shape(n, o, oh, ow, attrs.layout))]


def conv_nchw(x: np.ndarray, w: np.ndarray, attrs: Attrs) -> np.ndarray:
    """Convolution sums of NCHW ``x`` and OIHW ``w`` (no bias, no clamp), zero padded,
    in the dtype numpy gives (float64 inputs give exact sums of int8 products)."""
    o, ci, kh, kw = w.shape
    pt, pl, pb, pr = attrs.pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = window_out(x.shape[2], kh, attrs.strides[0], attrs.dilations[0], pt, pb)
    ow = window_out(x.shape[3], kw, attrs.strides[1], attrs.dilations[1], pl, pr)
    win = windows(xp, (kh, kw), attrs.strides, attrs.dilations, (oh, ow))
    g = attrs.group
    og = o // g
    if g == 1:
        return np.transpose(np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])), (0, 3, 1, 2))
    if ci == 1 and og == 1:  # depthwise
        return np.einsum("nchwij,cij->nchw", win, w[:, 0], optimize=True)
    parts = []
    for gi in range(g):
        wg = w[gi * og : (gi + 1) * og]
        xg = win[:, gi * ci : (gi + 1) * ci]
        parts.append(np.transpose(np.tensordot(xg, wg, axes=([1, 4, 5], [1, 2, 3])),
                                  (0, 3, 1, 2)))
    return np.concatenate(parts, axis=1)


def conv_weight_to_oihw(w: np.ndarray, layout: str) -> np.ndarray:
    return w if layout == "nchw" else np.transpose(w, (0, 3, 1, 2))


def wide(x: np.ndarray) -> np.ndarray:
    """Float operands of a sum of products as float64: the float32 result rounded once
    from (nearly) exact sums. Summed in float32, the result would depend on the order BLAS
    and numpy's SIMD loops add in, which depends on the CPU: calibration ranges, and so
    the scales of a PTQ compile, would differ between machines."""
    return x.astype(np.float64) if x.dtype.kind == "f" and x.dtype.itemsize < 8 else x


def _eval_conv(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout)
    y = conv_nchw(wide(x), wide(conv_weight_to_oihw(xs[1], attrs.layout)), attrs)
    if len(xs) > 2:
        y = y + wide(xs[2]).reshape(1, -1, 1, 1)
    y = apply_clamp(y.astype(x.dtype), attrs.clamp)
    return [from_nchw(y, attrs.layout)]


def _conv_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    _, ci, kh, kw = conv_weight_oihw(ins[1].shape, attrs.layout)
    return outs[0].numel * ci * kh * kw


CONV2D = OpDef("conv2d", "2-D convolution (grouped and depthwise too), optional bias and clamp",
               ("x", "w", "b?"), _infer_conv, _eval_conv, CONV_ATTRS, _conv_macs)


# -- conv_transpose2d -------------------------------------------------------------------


def _infer_convt(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    check_layout(attrs)
    for name in ("strides", "dilations", "output_padding"):
        check_len(attrs, name, 2)
    check_len(attrs, "pads", 4)
    check_window(attrs, "strides", "dilations", "output_padding")  # pads < 0: output_shape
    if attrs.group < 1:
        raise InferError(f"group must be at least 1, got {attrs.group}")
    dtype = same_dtype(types)
    n, c, h, w = nchw_shape(types[0].shape, attrs.layout)
    if len(types[1].shape) != 4:
        raise InferError(f"weight must be rank 4 (I, O/group, KH, KW), got {list(types[1].shape)}")
    ci, og, kh, kw = types[1].shape
    if ci != c or c % attrs.group:
        raise InferError(f"weight {list(types[1].shape)} does not fit {c} input channels")
    o = og * attrs.group
    if len(types) > 2 and types[2].shape != (o,):
        raise InferError(f"bias must have shape [{o}], got {list(types[2].shape)}")
    pt, pl, pb, pr = attrs.pads
    (sh, sw), (dh, dw), (oph, opw) = attrs.strides, attrs.dilations, attrs.output_padding
    oh = (h - 1) * sh + (kh - 1) * dh + 1 + oph - pt - pb
    ow = (w - 1) * sw + (kw - 1) * dw + 1 + opw - pl - pr
    if oh <= 0 or ow <= 0:
        raise InferError(f"output would be {oh}x{ow}")
    return [TensorType(dtype, layout_shape(n, o, oh, ow, attrs.layout))]


def _eval_convt(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout)
    w = xs[1]
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    g = attrs.group
    cg = c // g
    (sh, sw), (dh, dw), (oph, opw) = attrs.strides, attrs.dilations, attrs.output_padding
    full_h = (h - 1) * sh + (kh - 1) * dh + 1 + oph
    full_w = (wd - 1) * sw + (kw - 1) * dw + 1 + opw
    y = np.zeros((n, og * g, full_h, full_w), dtype=np.float64)
    for gi in range(g):
        xg = x[:, gi * cg : (gi + 1) * cg].astype(np.float64)
        wg = w[gi * cg : (gi + 1) * cg].astype(np.float64)
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, wg[:, :, i, j])
                y[:, gi * og : (gi + 1) * og,
                  i * dh : i * dh + (h - 1) * sh + 1 : sh,
                  j * dw : j * dw + (wd - 1) * sw + 1 : sw] += contrib
    pt, pl, pb, pr = attrs.pads
    y = y[:, :, max(pt, 0) : full_h - max(pb, 0), max(pl, 0) : full_w - max(pr, 0)]
    if min(attrs.pads) < 0:  # negative pads (ONNX output_shape larger than the full output)
        y = np.pad(y, ((0, 0), (0, 0), (max(-pt, 0), max(-pb, 0)), (max(-pl, 0), max(-pr, 0))))
    if len(xs) > 2:
        y = y + xs[2].reshape(1, -1, 1, 1)
    y = apply_clamp(y.astype(x.dtype), attrs.clamp)
    return [from_nchw(y, attrs.layout)]


def _convt_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    _, og, kh, kw = ins[1].shape
    return ins[0].numel * og * kh * kw


CONV_TRANSPOSE2D = OpDef(
    "conv_transpose2d", "2-D transposed convolution; weight (I, O/group, KH, KW) in both layouts",
    ("x", "w", "b?"), _infer_convt, _eval_convt,
    {**CONV_ATTRS, "output_padding": Attr("ints", (0, 0))}, _convt_macs)


# -- gemm / matmul ----------------------------------------------------------------------


def _infer_gemm(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    dtype = same_dtype(types)
    a, b = types[0].shape, types[1].shape
    if len(a) != 2 or len(b) != 2:
        raise InferError(f"gemm operands must be rank 2, got {list(a)} and {list(b)}")
    m, k = a[::-1] if attrs.trans_a else a
    k2, n = b[::-1] if attrs.trans_b else b
    if k != k2:
        raise InferError(f"inner dimensions differ: {k} and {k2}")
    if len(types) > 2:
        try:
            np.broadcast_shapes(types[2].shape, (m, n))
        except ValueError:
            raise InferError(f"c of shape {list(types[2].shape)} does not broadcast to "
                             f"[{m}, {n}]") from None
    return [TensorType(dtype, (m, n))]


def _eval_gemm(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    a = xs[0].T if attrs.trans_a else xs[0]
    b = xs[1].T if attrs.trans_b else xs[1]
    y = wide(a) @ wide(b)
    if attrs.alpha != 1.0:
        y = y * np.asarray(attrs.alpha, y.dtype)
    if len(xs) > 2:
        c = xs[2]
        y = y + wide(c * np.asarray(attrs.beta, c.dtype) if attrs.beta != 1.0 else c)
    return [apply_clamp(y.astype(xs[0].dtype), attrs.clamp)]


def _gemm_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    a = ins[0].shape
    k = a[0] if attrs.trans_a else a[1]
    return outs[0].numel * k


GEMM = OpDef("gemm", "alpha * A' @ B' + beta * C (A' = A or A^T, B' likewise); "
             "the fully connected layer is gemm with trans_b = true",
             ("a", "b", "c?"), _infer_gemm, _eval_gemm,
             {"alpha": Attr("float", 1.0), "beta": Attr("float", 1.0),
              "trans_a": Attr("bool", False), "trans_b": Attr("bool", False), "clamp": CLAMP},
             _gemm_macs)


def _infer_matmul(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    dtype = same_dtype(types)
    a, b = types[0].shape, types[1].shape
    if not a or not b:
        raise InferError("matmul operands must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise InferError(f"inner dimensions differ: {list(a)} @ {list(b)}")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise InferError(f"batch dimensions of {list(a)} and {list(b)} do not broadcast") from None
    shape = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b) == 1:
        shape = shape[:-1]
    return [TensorType(dtype, shape)]


def _matmul_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    return outs[0].numel * ins[0].shape[-1]


MATMUL = OpDef("matmul", "numpy matmul (batched, broadcasting)", ("a", "b"), _infer_matmul,
               lambda a, xs: [apply_clamp(np.matmul(wide(xs[0]), wide(xs[1])).astype(xs[0].dtype),
                                          a.clamp)],
               {"clamp": CLAMP}, _matmul_macs)


# -- batch_norm -------------------------------------------------------------------------


def _infer_bn(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    check_layout(attrs)
    x = types[0]
    require_float(x)
    same_dtype(types)
    if x.rank < 2:
        raise InferError("batch_norm needs rank >= 2")
    c = x.shape[1] if attrs.layout == "nchw" else x.shape[-1]
    for t in types[1:]:
        if t.shape != (c,):
            raise InferError(f"scale, bias, mean and var must have shape [{c}], "
                             f"got {list(t.shape)}")
    return [TensorType(x.dtype, x.shape)]


def _eval_bn(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x, scale, bias, mean, var = xs
    shape = [1] * x.ndim
    shape[1 if attrs.layout == "nchw" else -1] = -1
    r = [v.reshape(shape) for v in (scale, bias, mean, var)]
    y = (x - r[2]) / np.sqrt(r[3] + np.asarray(attrs.epsilon, x.dtype)) * r[0] + r[1]
    return [y.astype(x.dtype)]


BATCH_NORM = OpDef("batch_norm", "inference batch normalization over the channel dimension",
                   ("x", "scale", "bias", "mean", "var"), _infer_bn, _eval_bn,
                   {"epsilon": Attr("float", 1e-5), "layout": LAYOUT})


# -- pooling ----------------------------------------------------------------------------

POOL_ATTRS = {
    "kernel": Attr("ints"),
    "strides": Attr("ints", PAIR1),
    "dilations": Attr("ints", PAIR1),
    "pads": Attr("ints", PADS0, "[top, left, bottom, right]"),
    "ceil_mode": Attr("bool", False),
    "layout": LAYOUT,
}


def _pool_out_hw(attrs: Attrs, h: int, w: int) -> tuple[int, int]:
    """The output height and width (every pool, float or int8, infers through here, so
    the window attributes are checked here)."""
    for name in ("kernel", "strides", "dilations"):
        check_len(attrs, name, 2)
    check_len(attrs, "pads", 4)
    if min(attrs.kernel) < 1 or min(attrs.strides) < 1 or min(attrs.dilations) < 1:
        raise InferError("kernel, strides and dilations must be positive")
    check_window(attrs, "pads")
    pt, pl, pb, pr = attrs.pads
    oh = window_out(h, attrs.kernel[0], attrs.strides[0], attrs.dilations[0], pt, pb,
                    attrs.ceil_mode)
    ow = window_out(w, attrs.kernel[1], attrs.strides[1], attrs.dilations[1], pl, pr,
                    attrs.ceil_mode)
    return oh, ow


def _infer_pool(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    check_layout(attrs)
    n, c, h, w = nchw_shape(types[0].shape, attrs.layout)
    oh, ow = _pool_out_hw(attrs, h, w)
    return [TensorType(types[0].dtype, layout_shape(n, c, oh, ow, attrs.layout), types[0].quant)]


def _padded_windows(attrs: Attrs, x: np.ndarray, fill: float) -> tuple[np.ndarray, tuple]:
    """Windows over x padded with ``fill``, plus the extra end padding ceil mode needs."""
    n, c, h, w = x.shape
    oh, ow = _pool_out_hw(attrs, h, w)
    pt, pl, pb, pr = attrs.pads
    (kh, kw), (sh, sw), (dh, dw) = attrs.kernel, attrs.strides, attrs.dilations
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    extra_h = max(0, need_h - (h + pt + pb))
    extra_w = max(0, need_w - (w + pl + pr))
    pad = ((0, 0), (0, 0), (pt, pb + extra_h), (pl, pr + extra_w))
    xp = np.pad(x, pad, constant_values=fill)
    return windows(xp, attrs.kernel, attrs.strides, attrs.dilations, (oh, ow)), pad


def _eval_max_pool(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout)
    fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    win, _ = _padded_windows(attrs, x, fill)
    return [from_nchw(win.max(axis=(4, 5)).astype(x.dtype), attrs.layout)]


def _eval_avg_pool(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = to_nchw(xs[0], attrs.layout)
    win, pad = _padded_windows(attrs, x.astype(np.float64), 0.0)
    sums = win.sum(axis=(4, 5))
    # Divisor: the window's elements that lie on real input (or on explicit padding
    # when count_include_pad), never the extra end padding of ceil mode.
    n, c, h, w = x.shape
    pt, pl, pb, pr = attrs.pads
    mask = np.zeros((1, 1, h + pad[2][0] + pad[2][1], w + pad[3][0] + pad[3][1]))
    if attrs.count_include_pad:
        mask[:, :, : h + pt + pb, : w + pl + pr] = 1
    else:
        mask[:, :, pt : pt + h, pl : pl + w] = 1
    counts = windows(mask, attrs.kernel, attrs.strides, attrs.dilations,
                     sums.shape[2:]).sum(axis=(4, 5))
    return [from_nchw((sums / counts).astype(x.dtype), attrs.layout)]


MAX_POOL = OpDef("max_pool", "2-D max pooling", ("x",), _infer_pool, _eval_max_pool, POOL_ATTRS)
AVG_POOL = OpDef("avg_pool", "2-D average pooling", ("x",), _infer_pool, _eval_avg_pool,
                 {**POOL_ATTRS, "count_include_pad": Attr("bool", False)})


def _global_axes(rank: int, layout: str) -> tuple[int, ...]:
    return tuple(range(2, rank)) if layout == "nchw" else tuple(range(1, rank - 1))


def _infer_global(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    check_layout(attrs)
    t = types[0]
    if t.rank < 3:
        raise InferError(f"expects rank >= 3 (N, C, spatial...), got {list(t.shape)}")
    shape = list(t.shape)
    for axis in _global_axes(t.rank, attrs.layout):
        shape[axis] = 1
    return [TensorType(t.dtype, shape, t.quant)]


GLOBAL_AVG_POOL = OpDef(
    "global_avg_pool", "mean over all spatial dimensions (kept as size 1)", ("x",), _infer_global,
    lambda a, xs: [xs[0].mean(axis=_global_axes(xs[0].ndim, a.layout), keepdims=True,
                              dtype=np.float64).astype(xs[0].dtype)],
    {"layout": LAYOUT})
GLOBAL_MAX_POOL = OpDef(
    "global_max_pool", "max over all spatial dimensions (kept as size 1)", ("x",), _infer_global,
    lambda a, xs: [xs[0].max(axis=_global_axes(xs[0].ndim, a.layout), keepdims=True)],
    {"layout": LAYOUT})


# -- reductions -------------------------------------------------------------------------


def norm_axes(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise InferError(f"axis {a} out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise InferError(f"repeated axes {list(axes)}")
    return tuple(sorted(out))


def _infer_reduce(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    require_float(t)
    axes = norm_axes(attrs.axes, t.rank) if attrs.axes else tuple(range(t.rank))
    if attrs.keepdims:
        shape = [1 if i in axes else d for i, d in enumerate(t.shape)]
    else:
        shape = [d for i, d in enumerate(t.shape) if i not in axes]
    return [TensorType(t.dtype, shape)]


def _eval_reduce_mean(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    axes = norm_axes(attrs.axes, x.ndim) if attrs.axes else tuple(range(x.ndim))
    y = x.mean(axis=axes, keepdims=attrs.keepdims, dtype=np.float64)
    return [np.asarray(y, dtype=x.dtype)]


REDUCE_MEAN = OpDef("reduce_mean", "mean over axes (empty: all axes)", ("x",), _infer_reduce,
                    _eval_reduce_mean, {"axes": Attr("ints", ()), "keepdims": Attr("bool", True)})

OPS = [CONV2D, CONV_TRANSPOSE2D, GEMM, MATMUL, BATCH_NORM, MAX_POOL, AVG_POOL, GLOBAL_AVG_POOL,
       GLOBAL_MAX_POOL, REDUCE_MEAN]

