"""Data-movement ops: reshape, transpose, concat, split, slice, pad, gather, resize.

All shapes are static, so ONNX's Flatten, Squeeze and Unsqueeze import as ``reshape`` and
every shape-like operand (Reshape's shape, Slice's starts, Pad's pads...) is an attribute.
These ops keep the quantization of their input.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from compiler.ir import TensorType
from compiler.ops.base import Attr, Attrs, InferError, OpDef
from compiler.ops.nn import norm_axes


def _infer_reshape(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    if any(d < 0 for d in attrs.shape) or math.prod(attrs.shape) != t.numel:
        raise InferError(f"cannot reshape {list(t.shape)} ({t.numel} elements) to "
                         f"{list(attrs.shape)}")
    return [TensorType(t.dtype, attrs.shape, t.quant)]


RESHAPE = OpDef("reshape", "same elements, row-major, new static shape", ("x",), _infer_reshape,
                lambda a, xs: [xs[0].reshape(a.shape)], {"shape": Attr("ints")})


def _perm(attrs: Attrs, rank: int) -> tuple[int, ...]:
    perm = attrs.perm if attrs.perm else tuple(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise InferError(f"perm {list(perm)} is not a permutation of {rank} axes")
    return tuple(perm)


def _infer_transpose(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    perm = _perm(attrs, t.rank)
    if t.quant is not None and not hasattr(t.quant, "scale"):
        raise InferError("transposing per-axis quantized tensors is not supported")
    return [TensorType(t.dtype, [t.shape[p] for p in perm], t.quant)]


TRANSPOSE = OpDef("transpose", "permute axes (empty perm: reverse)", ("x",), _infer_transpose,
                  lambda a, xs: [np.transpose(xs[0], _perm(a, xs[0].ndim)).copy()],
                  {"perm": Attr("ints", ())})


def _infer_concat(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    first = types[0]
    axis = norm_axes((attrs.axis,), first.rank)[0]
    for t in types[1:]:
        if t.dtype != first.dtype or t.rank != first.rank or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != axis
        ):
            raise InferError(f"cannot concatenate {list(first.shape)} and {list(t.shape)} "
                             f"on axis {attrs.axis}")
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in types)
    return [TensorType(first.dtype, shape, first.quant)]


CONCAT = OpDef("concat", "join along axis", ("xs*",), _infer_concat,
               lambda a, xs: [np.concatenate(xs, axis=a.axis)], {"axis": Attr("int")})


def _infer_split(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    axis = norm_axes((attrs.axis,), t.rank)[0]
    if sum(attrs.sizes) != t.shape[axis] or min(attrs.sizes, default=0) < 0:
        raise InferError(f"sizes {list(attrs.sizes)} do not add up to {t.shape[axis]}")
    return [t.with_shape([s if i == axis else d for i, d in enumerate(t.shape)])
            for s in attrs.sizes]


def _eval_split(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    cuts = np.cumsum(attrs.sizes)[:-1]
    return [np.ascontiguousarray(p) for p in np.split(xs[0], cuts, axis=attrs.axis)]


SPLIT = OpDef("split", "cut along axis into pieces of the given sizes (one result each)",
              ("x",), _infer_split, _eval_split, {"axis": Attr("int"), "sizes": Attr("ints")})


def slice_indices(attrs: Attrs, shape: Sequence[int]) -> list[range]:
    """Per-axis index ranges; starts/ends are clamped as ONNX Slice clamps them."""
    if not len(attrs.starts) == len(attrs.ends) == len(attrs.axes) == len(attrs.steps):
        raise InferError("starts, ends, axes and steps need the same length")
    ranges = [range(d) for d in shape]
    for axis, start, end, step in zip(norm_axes(attrs.axes, len(shape)), attrs.starts,
                                      attrs.ends, attrs.steps):
        dim = shape[axis]
        if step == 0:
            raise InferError("slice step must not be 0")
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, -1), dim - 1), min(max(end, -1), dim - 1)
        ranges[axis] = range(start, end, step)
    return ranges


def _infer_slice(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    return [t.with_shape([len(r) for r in slice_indices(attrs, t.shape)])]


def _eval_slice(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    for axis, r in enumerate(slice_indices(attrs, x.shape)):
        x = np.take(x, np.asarray(r, dtype=np.int64), axis=axis)
    return [x.copy()]  # C order; ascontiguousarray makes 0-d arrays 1-d


SLICE = OpDef("slice", "ONNX Slice with static starts/ends/axes/steps (clamped like ONNX)",
              ("x",), _infer_slice, _eval_slice,
              {"starts": Attr("ints"), "ends": Attr("ints"), "axes": Attr("ints"),
               "steps": Attr("ints")})

PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _infer_pad(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    if len(attrs.pads) != 2 * t.rank:
        raise InferError(f"pads needs {2 * t.rank} values (all begins, then all ends), "
                         f"got {len(attrs.pads)}")
    if attrs.mode not in PAD_MODES:
        raise InferError(f"pad mode {attrs.mode!r} is not one of {sorted(PAD_MODES)}")
    shape = [d + attrs.pads[i] + attrs.pads[i + t.rank] for i, d in enumerate(t.shape)]
    if min(shape, default=1) < 0:
        raise InferError(f"pads {list(attrs.pads)} remove more than {list(t.shape)} holds")
    return [t.with_shape(shape)]


def pad_value(value: float, dtype: np.dtype) -> np.ndarray:
    """The pad value in ``dtype``: integers saturate (so -inf pads int8 with -128)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if np.isnan(value):
            raise ValueError("a NaN pad value has no integer equivalent")
        return np.asarray(min(max(value, info.min), info.max)).astype(dtype)
    return np.asarray(value).astype(dtype)


def _eval_pad(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    rank = x.ndim
    if rank == 0:
        return [x.copy()]  # nothing to pad (np.pad rejects 0-d arrays)
    begins, ends = attrs.pads[:rank], attrs.pads[rank:]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]

    def crop(y: np.ndarray) -> np.ndarray:  # negative pads remove from the ends
        return y[tuple(slice(max(-b, 0), max(y.shape[i] - max(-e, 0), 0))
                       for i, (b, e) in enumerate(zip(begins, ends))) + (Ellipsis,)]

    if attrs.mode == "constant":
        # Grow, then crop: a crop may be longer than the input and eat into the padding
        # of the other end (pads [2, -2] on a length-1 axis leave one padding value).
        value = pad_value(attrs.value, x.dtype)
        return [crop(np.pad(x, widths, constant_values=value)).copy()]
    # Negative pads crop first; positive pads then grow.
    return [np.pad(crop(x), widths, mode=PAD_MODES[attrs.mode])]


PAD = OpDef("pad", "pad with a constant, reflection, edge or wrap; pads = all begins, then "
            "all ends; negative pads crop", ("x",), _infer_pad, _eval_pad,
            {"pads": Attr("ints"), "mode": Attr("str", "constant"), "value": Attr("float", 0.0)})


def _infer_gather(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    x, idx = types
    axis = norm_axes((attrs.axis,), x.rank)[0]
    if idx.dtype not in ("i32", "i64"):
        raise InferError(f"indices must be i32 or i64, got {idx.dtype}")
    return [TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.quant)]


def _eval_gather(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x, idx = xs
    dim = x.shape[attrs.axis]
    if np.any(idx < -dim) or np.any(idx >= dim):
        raise ValueError(f"gather index out of range [-{dim}, {dim})")
    return [np.take(x, idx.astype(np.int64), axis=attrs.axis)]


GATHER = OpDef("gather", "take entries along axis (negative indices count from the end)",
               ("x", "indices"), _infer_gather, _eval_gather, {"axis": Attr("int", 0)})


# -- resize (nearest) -------------------------------------------------------------------

COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric", "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _infer_resize(attrs: Attrs, types: Sequence[TensorType]) -> list[TensorType]:
    t = types[0]
    if attrs.mode != "nearest":
        raise InferError(f"resize mode {attrs.mode!r} is not supported (nearest only)")
    if attrs.coordinate_transformation_mode not in COORD_MODES:
        raise InferError(f"coordinate_transformation_mode "
                         f"{attrs.coordinate_transformation_mode!r} is not supported")
    if attrs.nearest_mode not in NEAREST_MODES:
        raise InferError(f"nearest_mode {attrs.nearest_mode!r} is not supported")
    if len(attrs.sizes) != t.rank or len(attrs.scales) != t.rank:
        raise InferError(f"sizes and scales need {t.rank} values")
    return [t.with_shape(attrs.sizes)]


def _nearest_index(attrs: Attrs, out_len: int, in_len: int, scale: float) -> np.ndarray:
    x = np.arange(out_len, dtype=np.float64)
    mode = attrs.coordinate_transformation_mode
    if mode == "half_pixel":
        orig = (x + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        adjustment = out_len / (scale * in_len)
        orig = in_len / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        orig = (x + 0.5) / scale - 0.5 if out_len > 1 else np.zeros_like(x)
    elif mode == "align_corners":
        orig = x * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros_like(x)
    elif mode == "asymmetric":
        orig = x / scale
    else:  # tf_half_pixel_for_nn
        orig = (x + 0.5) / scale
    nearest = attrs.nearest_mode
    if nearest == "round_prefer_floor":
        idx = np.where(orig == np.floor(orig) + 0.5, np.floor(orig), np.round(orig))
    elif nearest == "round_prefer_ceil":
        idx = np.floor(orig + 0.5)
    elif nearest == "floor":
        idx = np.floor(orig)
    else:
        idx = np.ceil(orig)
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def _eval_resize(attrs: Attrs, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    x = xs[0]
    for axis, (out_len, scale) in enumerate(zip(attrs.sizes, attrs.scales)):
        if out_len == x.shape[axis] and scale == 1.0:
            continue
        x = np.take(x, _nearest_index(attrs, out_len, x.shape[axis], scale), axis=axis)
    return [x.copy()]  # C order; ascontiguousarray makes 0-d arrays 1-d


RESIZE = OpDef("resize", "nearest-neighbour resize to static sizes (ONNX coordinate modes)",
               ("x",), _infer_resize, _eval_resize,
               {"mode": Attr("str", "nearest"), "sizes": Attr("ints"), "scales": Attr("floats"),
                "coordinate_transformation_mode": Attr("str", "half_pixel"),
                "nearest_mode": Attr("str", "round_prefer_floor")})

OPS = [RESHAPE, TRANSPOSE, CONCAT, SPLIT, SLICE, PAD, GATHER, RESIZE]
