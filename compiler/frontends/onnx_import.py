"""ONNX importer: an ONNX ModelProto (opset 13 and newer) to an edgeir Graph.

* Every unsupported op type is reported in one error, with node names, before any work.
* Symbolic input dimensions must be fixed (``--input-shape NAME=1x3x32x32``); all IR
  shapes are static.
* Nodes whose inputs are all constant are folded at import with ONNX's reference
  implementation (so ``Shape -> Gather -> Concat -> Reshape`` chains become constants),
  except QuantizeLinear/DequantizeLinear, which the quantizer must see.
* ONNX tensor names become value name hints; node names become locations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import onnx
import onnx.version_converter
from onnx import numpy_helper

from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, TensorType, Value, constant
from compiler.rewrite import build

MIN_OPSET = 13
MAX_OPSET = onnx.defs.onnx_opset_version()

ONNX_DTYPES = {
    onnx.TensorProto.FLOAT: "f32",
    onnx.TensorProto.FLOAT16: "f16",
    onnx.TensorProto.DOUBLE: "f64",
    onnx.TensorProto.INT8: "i8",
    onnx.TensorProto.UINT8: "ui8",
    onnx.TensorProto.INT16: "i16",
    onnx.TensorProto.INT32: "i32",
    onnx.TensorProto.INT64: "i64",
    onnx.TensorProto.BOOL: "i1",
}

# Ops that are supported only when their inputs are constants (shape computations).
FOLD_ONLY = frozenset({
    "Shape", "Size", "ConstantOfShape", "Range", "Equal", "Where", "Expand", "Floor", "Ceil",
    "Sqrt", "Neg", "Abs", "Min", "Max", "Less", "Greater", "Not", "And", "Or", "ReduceProd",
    "ReduceSum", "ReduceMax", "ReduceMin", "CastLike", "Tile", "NonZero", "Exp", "Log", "Pow",
    "Reciprocal",
})
NO_FOLD = frozenset({"QuantizeLinear", "DequantizeLinear"})
MALFORMED = "the model is malformed: re-export it"
MAX_ELEMENTS = 2**31 - 1  # the C kernels count elements in int32


@dataclass
class _Ctx:
    """What a converter sees of one ONNX node."""

    importer: "_Importer"
    node: onnx.NodeProto
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def loc(self) -> str:
        return self.importer.loc(self.node)

    def fail(self, what: str, hint: str | None = None, kind: str = "unsupported") -> EdgeirError:
        where = f"{self.importer.filename}: node '{self.loc}' ({self.node.op_type})"
        if hint is None:
            hint = MALFORMED if kind == "input" else "see the README's list of supported ops"
        return EdgeirError(what, where, hint, kind)

    def has(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def value(self, i: int) -> Value:
        return self.importer.values[self.node.input[i]]

    def const(self, i: int, what: str = "") -> np.ndarray:
        v = self.value(i)
        if v.data is None:
            raise self.fail(f"input {i} ({what or self.node.input[i]}) must be a constant",
                            "export the model with constant shapes/parameters (fold them "
                            "with onnx-simplifier or a fixed input shape)")
        return v.data

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def emit(self, op: str, operands: list[Value], attrs: dict | None = None,
             names: list[str] | None = None) -> Node:
        try:
            node = build(op, operands, attrs, self.loc,
                         names if names is not None else list(self.node.output))
            ops.get(op).check_node(node)  # the verifier's checks too: say which node
        except ValueError as err:  # InferError and bad attributes
            raise self.fail(f"{err}", kind="input") from None
        return self.importer.graph.append(node)

    def output(self, values: Value | list[Value]) -> None:
        values = [values] if isinstance(values, Value) else values
        for name, v in zip(self.node.output, values):
            if name:
                self.importer.values[name] = v


Converter = Callable[[_Ctx], None]
CONVERTERS: dict[str, Converter] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for t in op_types:
            CONVERTERS[t] = fn
        return fn

    return register


def supported_op_types() -> list[str]:
    return sorted(CONVERTERS)


# -- helpers -------------------------------------------------------------------------------


def _same_pads(size: int, k: int, stride: int, dil: int, mode: str) -> tuple[int, int]:
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (k - 1) * dil + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def _spatial_pads(ctx: _Ctx, in_hw: tuple[int, ...], kernel: tuple[int, ...],
                  strides: tuple[int, ...], dils: tuple[int, ...]) -> tuple[int, ...]:
    """Pads as [begin..., end...] over the spatial dims, resolving auto_pad."""
    n = len(in_hw)
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [_same_pads(in_hw[i], kernel[i], strides[i], dils[i], auto) for i in range(n)]
        return tuple(p[0] for p in pairs) + tuple(p[1] for p in pairs)
    if auto == "VALID":
        return (0,) * (2 * n)
    if auto != "NOTSET":
        raise ctx.fail(f"auto_pad {auto!r} is not valid", kind="input")
    pads = tuple(ctx.attr("pads", (0,) * (2 * n)))
    if len(pads) != 2 * n:
        raise ctx.fail(f"pads has {len(pads)} values, expected {2 * n}", kind="input")
    return pads


def _spatial_ints(ctx: _Ctx, name: str, n: int, fill: int) -> tuple[int, ...]:
    """A per-spatial-axis attribute (strides, dilations, output_padding): n values."""
    values = tuple(ctx.attr(name, (fill,) * n))
    if len(values) != n:
        raise ctx.fail(f"{name} has {len(values)} values, expected {n}", kind="input")
    return values


def _check_weight_rank(ctx: _Ctx, x: Value, w: Value) -> None:
    if w.type.rank != x.type.rank:
        raise ctx.fail(f"the weight has rank {w.type.rank}, expected {x.type.rank} (the "
                       f"input's)", kind="input")


def _pads_2d(pads: tuple[int, ...]) -> tuple[int, int, int, int]:
    """[h_begin, w_begin, h_end, w_end] (the IR's [top, left, bottom, right])."""
    return pads[0], pads[1], pads[2], pads[3]


def _reshape(ctx: _Ctx, v: Value, shape: tuple[int, ...], name: str) -> Value:
    if v.data is not None:
        return ctx.importer.constant(v.data.reshape(shape), name)
    return ctx.emit("reshape", [v], {"shape": shape}, [name]).result


def _spatial_rank(ctx: _Ctx) -> int:
    rank = ctx.value(0).type.rank
    if rank not in (3, 4):
        raise ctx.fail(f"{rank - 2}-D {ctx.node.op_type} is not supported (1-D and 2-D only)")
    return rank - 2


def _lift_1d(ctx: _Ctx, v: Value) -> Value:
    """[N, C, L] -> [N, C, 1, L] so 1-D ops run as 2-D ones."""
    n, c, length = v.type.shape
    return _reshape(ctx, v, (n, c, 1, length), f"{v.name}.2d")


def _pair(values: tuple[int, ...], one_d: bool, fill: int) -> tuple[int, ...]:
    return (fill, *values) if one_d else tuple(values)


# -- converters ----------------------------------------------------------------------------


@converter("Conv")
def _conv(ctx: _Ctx) -> None:
    bias = ctx.value(2) if ctx.has(2) else None
    ctx.output(_conv_of(ctx, ctx.value(0), ctx.value(1), bias, ctx.node.output[0]))


def _conv_of(ctx: _Ctx, x: Value, w: Value, bias: Value | None, out_name: str) -> Value:
    """Conv's semantics (1-D lifted to 2-D) on the given operands; the result value."""
    one_d = _spatial_rank(ctx) == 1
    _check_weight_rank(ctx, x, w)
    kernel = tuple(w.type.shape[2:])
    strides = _spatial_ints(ctx, "strides", len(kernel), 1)
    dils = _spatial_ints(ctx, "dilations", len(kernel), 1)
    pads = _spatial_pads(ctx, x.type.shape[2:], kernel, strides, dils)
    if one_d:
        x, w = _lift_1d(ctx, x), _lift_1d(ctx, w)
        pads = (0, pads[0], 0, pads[1])
    attrs = {"strides": _pair(strides, one_d, 1), "dilations": _pair(dils, one_d, 1),
             "pads": _pads_2d(pads), "group": int(ctx.attr("group", 1))}
    operands = [x, w] + ([bias] if bias is not None else [])
    if not one_d:
        return ctx.emit("conv2d", operands, attrs, [out_name]).result
    y = ctx.emit("conv2d", operands, attrs, [f"{out_name}.2d"]).result
    n, c, _, length = y.type.shape
    return ctx.emit("reshape", [y], {"shape": (n, c, length)}, [out_name]).result


# -- quantized ONNX ops: expanded to DequantizeLinear -> float op -> QuantizeLinear ----------
# qdq-to-int then lowers the QLinear ones to int8 kernels exactly like QDQ models. The
# Integer ones (int32 results) dequantize with scale 1 in float64, where the sums of
# int8 products are exact, and quantize back to int32 with scale 1.


def _dq(ctx: _Ctx, x: Value, scale: Value, zp: Value | None, axis: int, name: str) -> Value:
    operands = [x, scale] + ([zp] if zp is not None else [])
    return ctx.emit("dequantize_linear", operands, {"axis": axis}, [name]).result


def _q(ctx: _Ctx, y: Value, scale: Value, zp: Value, name: str) -> Value:
    return ctx.emit("quantize_linear", [y, scale, zp], {"axis": 1, "to": zp.type.dtype},
                    [name]).result


@converter("QLinearConv")
def _qlinear_conv(ctx: _Ctx) -> None:
    out = ctx.node.output[0]
    x = _dq(ctx, ctx.value(0), ctx.value(1), ctx.value(2), 1, f"{out}.x")
    w = _dq(ctx, ctx.value(3), ctx.value(4), ctx.value(5), 0, f"{out}.w")
    bias = None
    if ctx.has(8):
        b_scale = (ctx.const(1, "x_scale").astype(np.float32)
                   * ctx.const(4, "w_scale").astype(np.float32)).reshape(-1)
        scale = ctx.importer.constant(b_scale, f"{out}.bias_scale")
        zero = ctx.importer.constant(np.zeros(b_scale.shape, np.int32), f"{out}.bias_zp")
        bias = _dq(ctx, ctx.value(8), scale, zero, 0, f"{out}.bias")
    y = _conv_of(ctx, x, w, bias, f"{out}.f32")
    ctx.output(_q(ctx, y, ctx.value(6), ctx.value(7), out))


@converter("QLinearMatMul")
def _qlinear_matmul(ctx: _Ctx) -> None:
    out = ctx.node.output[0]
    a = _dq(ctx, ctx.value(0), ctx.value(1), ctx.value(2), 1, f"{out}.a")
    b_axis = ctx.value(3).type.rank - 1  # per-column scales of B
    b = _dq(ctx, ctx.value(3), ctx.value(4), ctx.value(5), b_axis, f"{out}.b")
    y = ctx.emit("matmul", [a, b], {}, [f"{out}.f32"]).result
    ctx.output(_q(ctx, y, ctx.value(6), ctx.value(7), out))


def _integer_operand(ctx: _Ctx, i: int, zp_index: int, axis: int, name: str) -> Value:
    zp = ctx.value(zp_index) if ctx.has(zp_index) else None
    shape = zp.type.shape if zp is not None else ()
    one = ctx.importer.constant(np.ones(shape, np.float64), f"{name}.unit_scale")
    return _dq(ctx, ctx.value(i), one, zp, axis, name)


def _to_int32(ctx: _Ctx, y: Value) -> Value:
    out = ctx.node.output[0]
    one = ctx.importer.constant(np.asarray(1.0, np.float64), f"{out}.unit_scale")
    zero = ctx.importer.constant(np.asarray(0, np.int32), f"{out}.zero")
    return _q(ctx, y, one, zero, out)


@converter("ConvInteger")
def _conv_integer(ctx: _Ctx) -> None:
    out = ctx.node.output[0]
    x = _integer_operand(ctx, 0, 2, 1, f"{out}.x")
    w = _integer_operand(ctx, 1, 3, 0, f"{out}.w")
    ctx.output(_to_int32(ctx, _conv_of(ctx, x, w, None, f"{out}.f64")))


@converter("MatMulInteger")
def _matmul_integer(ctx: _Ctx) -> None:
    out = ctx.node.output[0]
    a = _integer_operand(ctx, 0, 2, ctx.value(0).type.rank - 1, f"{out}.a")
    b = _integer_operand(ctx, 1, 3, ctx.value(1).type.rank - 1, f"{out}.b")
    y = ctx.emit("matmul", [a, b], {}, [f"{out}.f64"]).result
    ctx.output(_to_int32(ctx, y))


@converter("ConvTranspose")
def _conv_transpose(ctx: _Ctx) -> None:
    x, w = ctx.value(0), ctx.value(1)
    one_d = _spatial_rank(ctx) == 1
    _check_weight_rank(ctx, x, w)
    in_sp = x.type.shape[2:]
    kernel = tuple(w.type.shape[2:])
    n_sp = len(kernel)
    strides = _spatial_ints(ctx, "strides", n_sp, 1)
    dils = _spatial_ints(ctx, "dilations", n_sp, 1)
    out_pad = _spatial_ints(ctx, "output_padding", n_sp, 0)
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise ctx.fail(f"auto_pad {auto!r} is not valid", kind="input")
    out_shape = ctx.attr("output_shape")
    if out_shape is not None and len(tuple(out_shape)) < n_sp:
        raise ctx.fail(f"output_shape has {len(tuple(out_shape))} values, expected {n_sp}",
                       kind="input")
    if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = tuple(in_sp[i] * strides[i] for i in range(n_sp))
    if out_shape is not None:
        out_shape = tuple(out_shape)[-n_sp:]
        begins, ends = [], []
        for i in range(n_sp):
            total = (strides[i] * (in_sp[i] - 1) + out_pad[i] + (kernel[i] - 1) * dils[i] + 1
                     - out_shape[i])
            if auto == "SAME_UPPER":
                b, e = total // 2, total - total // 2
            else:
                b, e = total - total // 2, total // 2
            begins.append(b)
            ends.append(e)
        pads = tuple(begins) + tuple(ends)
    elif auto == "VALID":
        pads = (0,) * (2 * n_sp)
    else:
        pads = tuple(ctx.attr("pads", (0,) * (2 * n_sp)))
        if len(pads) != 2 * n_sp:
            raise ctx.fail(f"pads has {len(pads)} values, expected {2 * n_sp}", kind="input")
    if one_d:
        x, w = _lift_1d(ctx, x), _lift_1d(ctx, w)
        pads = (0, pads[0], 0, pads[1])
    attrs = {"strides": _pair(strides, one_d, 1), "dilations": _pair(dils, one_d, 1),
             "pads": _pads_2d(pads), "group": int(ctx.attr("group", 1)),
             "output_padding": _pair(out_pad, one_d, 0)}
    operands = [x, w] + ([ctx.value(2)] if ctx.has(2) else [])
    if not one_d:
        ctx.output(ctx.emit("conv_transpose2d", operands, attrs).result)
        return
    y = ctx.emit("conv_transpose2d", operands, attrs, [f"{ctx.node.output[0]}.2d"]).result
    n, c, _, length = y.type.shape
    ctx.output(ctx.emit("reshape", [y], {"shape": (n, c, length)}).result)


@converter("Gemm")
def _gemm(ctx: _Ctx) -> None:
    operands = [ctx.value(0), ctx.value(1)] + ([ctx.value(2)] if ctx.has(2) else [])
    attrs = {"alpha": float(ctx.attr("alpha", 1.0)), "beta": float(ctx.attr("beta", 1.0)),
             "trans_a": bool(ctx.attr("transA", 0)), "trans_b": bool(ctx.attr("transB", 0))}
    ctx.output(ctx.emit("gemm", operands, attrs).result)


@converter("MatMul")
def _matmul(ctx: _Ctx) -> None:
    ctx.output(ctx.emit("matmul", [ctx.value(0), ctx.value(1)]).result)


def _simple(op: str, attr_map: Mapping[str, str] = {}) -> Converter:
    def convert(ctx: _Ctx) -> None:
        attrs = {ir: ctx.attrs[onnx_name] for onnx_name, ir in attr_map.items()
                 if onnx_name in ctx.attrs}
        operands = [ctx.value(i) for i in range(len(ctx.node.input)) if ctx.has(i)]
        ctx.output(ctx.emit(op, operands, attrs).result)

    return convert


for _onnx, _ir in (("Add", "add"), ("Sub", "sub"), ("Mul", "mul"), ("Div", "div"),
                   ("Relu", "relu"), ("Sigmoid", "sigmoid"), ("Tanh", "tanh"),
                   ("HardSwish", "hard_swish"), ("Identity", "identity")):
    CONVERTERS[_onnx] = _simple(_ir)
CONVERTERS["LeakyRelu"] = _simple("leaky_relu", {"alpha": "alpha"})
CONVERTERS["HardSigmoid"] = _simple("hard_sigmoid", {"alpha": "alpha", "beta": "beta"})
CONVERTERS["Softmax"] = _simple("softmax", {"axis": "axis"})
CONVERTERS["LogSoftmax"] = _simple("log_softmax", {"axis": "axis"})
CONVERTERS["Transpose"] = _simple("transpose", {"perm": "perm"})
CONVERTERS["Concat"] = _simple("concat", {"axis": "axis"})


@converter("Sum")
def _sum(ctx: _Ctx) -> None:
    """Sum of any number of broadcasting inputs: a chain of adds, left to right (as ONNX
    Runtime accumulates)."""
    terms = [ctx.value(i) for i in range(len(ctx.node.input)) if ctx.has(i)]
    if not terms:
        raise ctx.fail("Sum needs at least one input", kind="input")
    if len(terms) == 1:
        ctx.output(ctx.emit("identity", terms).result)
        return
    out = ctx.node.output[0]
    total = terms[0]
    for i, term in enumerate(terms[1:], start=2):
        name = out if i == len(terms) else f"{out}.sum{i}"
        total = ctx.emit("add", [total, term], names=[name]).result
    ctx.output(total)


@converter("LRN")
def _lrn(ctx: _Ctx) -> None:
    if "size" not in ctx.attrs:
        raise ctx.fail("LRN needs the size attribute", kind="input")
    if ctx.value(0).type.rank < 3:
        raise ctx.fail("LRN needs an N x C x D1 ... input (rank 3 or more)", kind="input")
    attrs = {"size": int(ctx.attr("size")), "alpha": float(ctx.attr("alpha", 1e-4)),
             "beta": float(ctx.attr("beta", 0.75)), "bias": float(ctx.attr("bias", 1.0)),
             "axis": 1}
    ctx.output(ctx.emit("lrn", [ctx.value(0)], attrs).result)


@converter("Dropout")
def _dropout(ctx: _Ctx) -> None:
    if ctx.has(2):
        training = ctx.const(2, "training_mode")
        if bool(training):
            raise ctx.fail("dropout in training mode is not supported (inference only)")
    if len(ctx.node.output) > 1 and ctx.importer.is_read(ctx.node.output[1]):
        raise ctx.fail("the dropout mask output is not supported")  # (unread: dropped)
    ctx.output(ctx.emit("dropout", [ctx.value(0)], names=[ctx.node.output[0]]).result)


@converter("Clip")
def _clip(ctx: _Ctx) -> None:
    attrs = {}
    for index, name in ((1, "min"), (2, "max")):
        if ctx.has(index):
            bound = ctx.const(index, name)
            if bound.size != 1:
                raise ctx.fail(f"Clip's {name} must be a scalar, got shape {list(bound.shape)}",
                               kind="input")
            attrs[name] = float(bound.reshape(-1)[0])
    ctx.output(ctx.emit("clip", [ctx.value(0)], attrs).result)


def _pool(op: str) -> Converter:
    def convert(ctx: _Ctx) -> None:
        if len(ctx.node.output) > 1 and ctx.node.output[1]:
            raise ctx.fail("the Indices output of MaxPool is not supported")
        x = ctx.value(0)
        one_d = _spatial_rank(ctx) == 1
        kernel = tuple(ctx.attr("kernel_shape", ()))
        if not kernel:
            raise ctx.fail("kernel_shape is required", kind="input")
        if len(kernel) != x.type.rank - 2:
            raise ctx.fail(f"kernel_shape has {len(kernel)} values, expected "
                           f"{x.type.rank - 2}", kind="input")
        strides = _spatial_ints(ctx, "strides", len(kernel), 1)
        dils = _spatial_ints(ctx, "dilations", len(kernel), 1)
        pads = _spatial_pads(ctx, x.type.shape[2:], kernel, strides, dils)
        if one_d:
            x = _lift_1d(ctx, x)
            pads = (0, pads[0], 0, pads[1])
        attrs = {"kernel": _pair(kernel, one_d, 1), "strides": _pair(strides, one_d, 1),
                 "dilations": _pair(dils, one_d, 1), "pads": _pads_2d(pads),
                 "ceil_mode": bool(ctx.attr("ceil_mode", 0))}
        if op == "avg_pool":
            attrs["count_include_pad"] = bool(ctx.attr("count_include_pad", 0))
        if not one_d:
            ctx.output(ctx.emit(op, [x], attrs, [ctx.node.output[0]]).result)
            return
        y = ctx.emit(op, [x], attrs, [f"{ctx.node.output[0]}.2d"]).result
        n, c, _, length = y.type.shape
        ctx.output(ctx.emit("reshape", [y], {"shape": (n, c, length)},
                            [ctx.node.output[0]]).result)

    return convert


CONVERTERS["MaxPool"] = _pool("max_pool")
CONVERTERS["AveragePool"] = _pool("avg_pool")


@converter("BatchNormalization")
def _batchnorm(ctx: _Ctx) -> None:
    if ctx.attr("training_mode", 0):
        raise ctx.fail("BatchNormalization in training mode is not supported (inference only)")
    if any(o for o in ctx.node.output[1:]):
        raise ctx.fail("BatchNormalization's running mean/var outputs are not supported")
    operands = [ctx.value(i) for i in range(5)]
    attrs = {"epsilon": float(ctx.attr("epsilon", 1e-5))}
    x = operands[0]
    if x.type.rank != 3:
        ctx.output(ctx.emit("batch_norm", operands, attrs, [ctx.node.output[0]]).result)
        return
    # 1-D: lifted like the convolutions around it, so that it folds into them
    y = ctx.emit("batch_norm", [_lift_1d(ctx, x), *operands[1:]], attrs,
                 [f"{ctx.node.output[0]}.2d"]).result
    ctx.output(ctx.emit("reshape", [y], {"shape": x.type.shape}, [ctx.node.output[0]]).result)


def _global_pool(op: str):
    def convert(ctx: _Ctx) -> None:
        x = ctx.value(0)
        if x.type.rank != 3:
            ctx.output(ctx.emit(op, [x], {}, [ctx.node.output[0]]).result)
            return
        y = ctx.emit(op, [_lift_1d(ctx, x)], {}, [f"{ctx.node.output[0]}.2d"]).result
        ctx.output(ctx.emit("reshape", [y], {"shape": (*x.type.shape[:2], 1)},
                            [ctx.node.output[0]]).result)

    return convert


CONVERTERS["GlobalAveragePool"] = _global_pool("global_avg_pool")
CONVERTERS["GlobalMaxPool"] = _global_pool("global_max_pool")


def _to_reshape(ctx: _Ctx, shape: tuple[int, ...]) -> None:
    x = ctx.value(0)
    if math.prod(shape) != x.type.numel or any(d < 0 for d in shape):
        raise ctx.fail(f"cannot reshape {list(x.type.shape)} to {list(shape)}", kind="input")
    ctx.output(ctx.emit("reshape", [x], {"shape": tuple(int(d) for d in shape)}).result)


@converter("Flatten")
def _flatten(ctx: _Ctx) -> None:
    shape = ctx.value(0).type.shape
    axis = int(ctx.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    _to_reshape(ctx, (math.prod(shape[:axis]), math.prod(shape[axis:])))


@converter("Reshape")
def _reshape_op(ctx: _Ctx) -> None:
    in_shape = ctx.value(0).type.shape
    target = [int(d) for d in ctx.const(1, "shape").reshape(-1)]
    allow_zero = bool(ctx.attr("allowzero", 0))
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allow_zero:
            if i >= len(in_shape):
                raise ctx.fail(f"shape {target} copies dimension {i} the input lacks", kind="input")
            out.append(in_shape[i])
        else:
            out.append(d)
    if out.count(-1) > 1:
        raise ctx.fail(f"shape {target} has more than one -1", kind="input")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            raise ctx.fail(f"cannot reshape {list(in_shape)} to {target}", kind="input")
        out[out.index(-1)] = total // known
    _to_reshape(ctx, tuple(out))


def _axes_input_or_attr(ctx: _Ctx, index: int) -> list[int] | None:
    if ctx.has(index):
        return [int(a) for a in ctx.const(index, "axes").reshape(-1)]
    if "axes" in ctx.attrs:
        return list(ctx.attrs["axes"])
    return None


@converter("Squeeze")
def _squeeze(ctx: _Ctx) -> None:
    shape = ctx.value(0).type.shape
    axes = _axes_input_or_attr(ctx, 1)
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = [a + len(shape) if a < 0 else a for a in axes]
    if any(not 0 <= a < len(shape) or shape[a] != 1 for a in axes):
        raise ctx.fail(f"cannot squeeze axes {axes} of {list(shape)}", kind="input")
    _to_reshape(ctx, tuple(d for i, d in enumerate(shape) if i not in axes))


@converter("Unsqueeze")
def _unsqueeze(ctx: _Ctx) -> None:
    shape = list(ctx.value(0).type.shape)
    axes = _axes_input_or_attr(ctx, 1) or []
    rank = len(shape) + len(axes)
    axes = sorted(a + rank if a < 0 else a for a in axes)
    if len(set(axes)) != len(axes) or any(not 0 <= a < rank for a in axes):
        raise ctx.fail(f"bad unsqueeze axes {axes}", kind="input")
    for a in axes:
        shape.insert(a, 1)
    _to_reshape(ctx, tuple(shape))


@converter("Split")
def _split(ctx: _Ctx) -> None:
    x = ctx.value(0)
    axis = int(ctx.attr("axis", 0))
    dim = x.type.shape[axis]
    n_out = len(ctx.node.output)
    if ctx.has(1):
        sizes = [int(s) for s in ctx.const(1, "split").reshape(-1)]
    elif "split" in ctx.attrs:
        sizes = list(ctx.attrs["split"])
    else:
        n = int(ctx.attr("num_outputs", n_out))
        chunk = -(-dim // n)
        sizes = [min(chunk, dim - i * chunk) for i in range(n)]
    node = ctx.emit("split", [x], {"axis": axis, "sizes": tuple(sizes)},
                    [o or f"{ctx.loc}.{i}" for i, o in enumerate(ctx.node.output)]
                    + [f"{ctx.loc}.{i}" for i in range(n_out, len(sizes))])
    ctx.output(node.results)


@converter("Slice")
def _slice(ctx: _Ctx) -> None:
    shape = ctx.value(0).type.shape
    starts = [int(s) for s in ctx.const(1, "starts").reshape(-1)]
    ends = [int(e) for e in ctx.const(2, "ends").reshape(-1)]
    axes = ([int(a) for a in ctx.const(3, "axes").reshape(-1)] if ctx.has(3)
            else list(range(len(starts))))
    steps = [int(s) for s in ctx.const(4, "steps").reshape(-1)] if ctx.has(4) else [1] * len(starts)
    # Clamp the huge sentinels exporters use into [-dim-1, dim]: same meaning, readable IR.
    dims = [shape[a] for a in axes]
    starts = [max(-d - 1, min(d, s)) for s, d in zip(starts, dims)]
    ends = [max(-d - 1, min(d, e)) for e, d in zip(ends, dims)]
    attrs = {"starts": tuple(starts), "ends": tuple(ends), "axes": tuple(axes),
             "steps": tuple(steps)}
    ctx.output(ctx.emit("slice", [ctx.value(0)], attrs).result)


@converter("Pad")
def _pad(ctx: _Ctx) -> None:
    x = ctx.value(0)
    rank = x.type.rank
    pads = [int(p) for p in ctx.const(1, "pads").reshape(-1)]
    value = 0.0
    if ctx.has(2):
        c = ctx.const(2, "constant_value").reshape(-1)
        value = float(c[0]) if c.size else 0.0
    if ctx.has(3):
        axes = [int(a) % rank for a in ctx.const(3, "axes").reshape(-1)]
        full = [0] * (2 * rank)
        for i, a in enumerate(axes):
            full[a], full[a + rank] = pads[i], pads[i + len(axes)]
        pads = full
    attrs = {"pads": tuple(pads), "mode": ctx.attr("mode", "constant"), "value": value}
    ctx.output(ctx.emit("pad", [x], attrs).result)


@converter("ReduceMean")
def _reduce_mean(ctx: _Ctx) -> None:
    axes = _axes_input_or_attr(ctx, 1)
    keepdims = bool(ctx.attr("keepdims", 1))
    if not axes and ctx.attr("noop_with_empty_axes", 0):
        ctx.output(ctx.emit("identity", [ctx.value(0)]).result)
        return
    ctx.output(ctx.emit("reduce_mean", [ctx.value(0)],
                        {"axes": tuple(axes or ()), "keepdims": keepdims}).result)


@converter("Cast")
def _cast(ctx: _Ctx) -> None:
    to_onnx = int(ctx.attr("to", 0))
    to = ONNX_DTYPES.get(to_onnx)
    src = ctx.value(0).type.dtype
    if to not in ("f16", "f32", "f64") or src not in ("f16", "f32", "f64"):
        target = to or _dtype_name(to_onnx)
        raise ctx.fail(f"Cast from {src} to {target} is not supported (float to float only)")
    ctx.output(ctx.emit("cast", [ctx.value(0)], {"to": to}).result)


@converter("Resize")
def _resize(ctx: _Ctx) -> None:
    x = ctx.value(0)
    rank = x.type.rank
    mode = ctx.attr("mode", "nearest")
    if mode != "nearest":
        raise ctx.fail(f"Resize mode {mode!r} is not supported (nearest only)")
    if ctx.attr("antialias", 0):
        raise ctx.fail("Resize with antialias is not supported")
    coord = ctx.attr("coordinate_transformation_mode", "half_pixel")
    if coord == "tf_crop_and_resize":
        raise ctx.fail("Resize with tf_crop_and_resize is not supported")
    axes = list(ctx.attr("axes", range(rank)))
    axes = [a % rank for a in axes]
    in_shape = x.type.shape
    scales = [1.0] * rank
    sizes = list(in_shape)
    if ctx.has(2) and ctx.const(2, "scales").size:
        given = [float(s) for s in ctx.const(2, "scales").reshape(-1)]
        for a, s in zip(axes, given):
            scales[a] = s
            sizes[a] = int(math.floor(in_shape[a] * s))
    elif ctx.has(3):
        given = [int(s) for s in ctx.const(3, "sizes").reshape(-1)]
        policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
        if policy == "stretch":
            for a, s in zip(axes, given):
                sizes[a] = s
                scales[a] = s / in_shape[a]
        else:
            ratios = [s / in_shape[a] for a, s in zip(axes, given)]
            r = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:
                scales[a] = r
                sizes[a] = int(math.floor(in_shape[a] * r + 0.5))
    else:
        raise ctx.fail("Resize needs scales or sizes", kind="input")
    attrs = {"sizes": tuple(sizes), "scales": tuple(scales),
             "coordinate_transformation_mode": coord,
             "nearest_mode": ctx.attr("nearest_mode", "round_prefer_floor")}
    ctx.output(ctx.emit("resize", [x], attrs).result)


@converter("Gather")
def _gather(ctx: _Ctx) -> None:
    ctx.const(1, "indices")
    ctx.output(ctx.emit("gather", [ctx.value(0), ctx.value(1)],
                        {"axis": int(ctx.attr("axis", 0))}).result)


def _quant_attrs(ctx: _Ctx) -> dict:
    if ctx.attr("block_size", 0):
        raise ctx.fail("blocked quantization (block_size) is not supported")
    scale = ctx.value(1).data if ctx.has(1) else None
    if scale is not None and scale.dtype.kind == "f":
        flat = scale.reshape(-1)
        bad = ~((flat > 0) & np.isfinite(flat))
        if bad.any():
            raise ctx.fail(f"scale '{ctx.node.input[1]}' has the value {flat[bad][0]} at "
                           f"index {int(np.argmax(bad))}", "scales must be positive and "
                           "finite: re-export the model", "input")
    return {"axis": int(ctx.attr("axis", 1))}


@converter("QuantizeLinear")
def _quantize(ctx: _Ctx) -> None:
    attrs = _quant_attrs(ctx)
    if ctx.has(2):
        to = ctx.value(2).type.dtype
    else:
        to = ONNX_DTYPES.get(int(ctx.attr("output_dtype", 0)) or onnx.TensorProto.UINT8)
    if to not in ("i8", "ui8", "i16"):
        raise ctx.fail(f"QuantizeLinear to {to or 'that type'} is not supported (int8/uint8/int16)")
    operands = [ctx.value(i) for i in range(3) if ctx.has(i)]
    ctx.output(ctx.emit("quantize_linear", operands, {**attrs, "to": to}).result)


@converter("DequantizeLinear")
def _dequantize(ctx: _Ctx) -> None:
    attrs = _quant_attrs(ctx)
    operands = [ctx.value(i) for i in range(3) if ctx.has(i)]
    ctx.output(ctx.emit("dequantize_linear", operands, attrs).result)


# -- the importer ------------------------------------------------------------------------------


class _Importer:
    def __init__(self, model: onnx.ModelProto, filename: str,
                 input_shapes: Mapping[str, tuple[int, ...]]) -> None:
        self.model = model
        self.filename = filename
        _check_text(model, filename)
        self.input_shapes = dict(input_shapes)
        self.graph = Graph(name=model.graph.name or Path(filename).stem or "main")
        self.values: dict[str, Value] = {}
        self.opset = _default_opset(model, filename)

    def loc(self, node: onnx.NodeProto) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    def is_read(self, name: str) -> bool:
        """Whether a node or the graph's outputs read the tensor ``name``."""
        if not hasattr(self, "_read"):
            g = self.model.graph
            self._read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        return bool(name) and name in self._read

    def constant(self, array: np.ndarray, name: str) -> Value:
        array = np.asarray(array)
        if array.ndim == 0:
            # ir.constant's np.ascontiguousarray would make a scalar 1-D: keep it rank 0.
            array = array.copy()
            array.setflags(write=False)
            value = Value(TensorType.of_array(array), name, data=array)
        else:
            value = constant(array, name)
        self.graph.constants.append(value)
        return value

    def run(self) -> Graph:
        g = self.model.graph
        self._check_supported(g)
        if not g.output:
            raise EdgeirError("the model has no graph outputs", self.filename,
                              "a model computes at least one output: re-export it", "input")
        nodes = _topological(g, self.filename)
        for init in g.initializer:
            array = self._tensor(init)
            if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
                self._non_finite(g, init.name, array)
            self.values[init.name] = self.constant(array, init.name)
        if len(g.sparse_initializer):
            raise EdgeirError("sparse initializers are not supported", self.filename,
                              kind="unsupported")
        initializer_names = {i.name for i in g.initializer}
        input_names = [i.name for i in g.input if i.name not in initializer_names]
        unknown = sorted(set(self.input_shapes) - set(input_names))
        if unknown:
            raise EdgeirError(f"--input-shape names unknown input(s) {unknown}", self.filename,
                              f"the model's inputs are {input_names}", "usage")
        for inp in g.input:
            if inp.name in initializer_names:
                continue
            if inp.name in self.graph.input_names:
                raise EdgeirError(f"graph input '{inp.name}' is listed twice", self.filename,
                                  MALFORMED, "input")
            self.values[inp.name] = self.graph.add_input(self._input_type(inp), inp.name)
        for node in nodes:
            self._node(node)
        for out in g.output:
            if out.name not in self.values:
                raise EdgeirError(f"graph output '{out.name}' is not produced by any node",
                                  self.filename, MALFORMED, "input")
            if out.name in self.graph.output_names:
                raise EdgeirError(f"graph output '{out.name}' is listed twice", self.filename,
                                  MALFORMED, "input")
            self.graph.add_output(self.values[out.name], out.name)
        return self.graph

    def _non_finite(self, g: onnx.GraphProto, name: str, array: np.ndarray) -> None:
        """Refuse NaN or infinite weights, naming the first node that reads them."""
        nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
        what = " and ".join(f"{n} {kind} value{'s' if n > 1 else ''}"
                            for n, kind in ((nan, "NaN"), (inf, "inf")) if n)
        where = self.filename
        reader = next((n for n in g.node if name in n.input), None)
        if reader is not None:
            where = f"{self.filename}: node '{self.loc(reader)}' ({reader.op_type})"
        raise EdgeirError(f"initializer '{name}' holds {what}", where,
                          "the weights are corrupt: re-export (or retrain) the model", "input")

    def _check_supported(self, g: onnx.GraphProto) -> None:
        missing: dict[str, list[str]] = {}
        for node in g.node:
            known = node.op_type in CONVERTERS or node.op_type in FOLD_ONLY \
                or node.op_type == "Constant"
            if node.domain not in ("", "ai.onnx") or not known:
                key = node.op_type
                if node.domain not in ("", "ai.onnx"):
                    key = f"{node.domain}.{node.op_type}"
                missing.setdefault(key, []).append(self.loc(node))
        if missing:
            parts = []
            for op in sorted(missing):
                names = missing[op]
                more = f", +{len(names) - 5} more" if len(names) > 5 else ""
                shown = ", ".join(names[:5]) + more
                parts.append(f"{op} ({shown})")
            raise EdgeirError(f"unsupported ONNX op(s): {'; '.join(parts)}", self.filename,
                              "see the README's list of supported ops", "unsupported")

    def _tensor(self, t: onnx.TensorProto) -> np.ndarray:
        if t.data_type not in ONNX_DTYPES:
            raise EdgeirError(f"tensor '{t.name}' has unsupported type "
                              f"{_dtype_name(t.data_type)}", self.filename,
                              kind="unsupported")
        try:
            array = numpy_helper.to_array(t)
        except Exception as err:  # noqa: BLE001 - onnx raises many types here
            raise EdgeirError(f"cannot read tensor '{t.name}': {err}", self.filename,
                              "the model file is damaged", "input") from None
        return np.array(array, order="C")  # (np.ascontiguousarray makes scalars 1-D)

    def _input_type(self, inp: onnx.ValueInfoProto) -> TensorType:
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            raise EdgeirError(f"input '{inp.name}' is not a tensor", self.filename,
                              kind="unsupported")
        dtype = ONNX_DTYPES.get(tt.elem_type)
        if dtype is None:
            raise EdgeirError(f"input '{inp.name}' has unsupported element type "
                              f"{_dtype_name(tt.elem_type)}", self.filename,
                              "edgeir's inputs are float or integer tensors", "unsupported")
        if inp.name in self.input_shapes:
            shape = tuple(self.input_shapes[inp.name])
            if tt.HasField("shape"):
                declared = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
                ok = len(declared) == len(shape) and all(
                    d is None or d == s for d, s in zip(declared, shape))
                if not ok:
                    raise EdgeirError(f"--input-shape {inp.name}={'x'.join(map(str, shape))} "
                                      f"does not match the model's shape {_dims_text(tt)}",
                                      self.filename, None, "usage")
            return TensorType(dtype, shape)
        if not tt.HasField("shape"):
            raise EdgeirError(f"input '{inp.name}' has no shape", self.filename,
                              f"give it with --input-shape {inp.name}=1x...", "input")
        dims = []
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value >= 0:
                dims.append(d.dim_value)
                continue
            what = f"symbolic dimension '{d.dim_param}'" if d.dim_param else "an unknown dimension"
            example = "x".join(str(x.dim_value) if x.dim_value > 0 else "1" for x in tt.shape.dim)
            raise EdgeirError(f"input '{inp.name}' has {what} at axis {axis}",
                              self.filename, f"fix it with --input-shape {inp.name}={example}",
                              "input")
        if math.prod(dims) > MAX_ELEMENTS:
            raise EdgeirError(f"input '{inp.name}' has {math.prod(dims):,} elements (shape "
                              f"{dims})", self.filename, f"edgeir supports at most "
                              f"{MAX_ELEMENTS:,} per tensor: re-export the model with a smaller "
                              "input shape", "unsupported")
        return TensorType(dtype, tuple(dims))

    def _node(self, node: onnx.NodeProto) -> None:
        for name in node.input:
            if name and name not in self.values:
                raise EdgeirError(f"node '{self.loc(node)}' reads '{name}', which nothing "
                                  "produces", self.filename, MALFORMED, "input")
        self._check_node(node)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        ctx = _Ctx(self, node, {})
        for key, v in attrs.items():
            if isinstance(v, bytes):
                try:
                    v = v.decode()
                except UnicodeDecodeError:
                    raise ctx.fail(f"attribute '{key}' is not a UTF-8 string",
                                   kind="input") from None
            ctx.attrs[key] = v
        inputs = [n for n in node.input if n]
        foldable = node.op_type not in NO_FOLD and (
            node.op_type == "Constant"
            or (node.op_type in ("Shape", "Size") and inputs)
            or (inputs and all(self.values[n].data is not None for n in inputs))
        )
        if foldable:
            self._fold(node, ctx)
            return
        if node.op_type in FOLD_ONLY:
            raise ctx.fail(f"{node.op_type} is only supported on constant inputs",
                           "fix the input shapes (--input-shape) so that it folds")
        CONVERTERS[node.op_type](ctx)
        for name in node.output:
            if name not in self.values and self.is_read(name):  # unread outputs may go
                raise ctx.fail(f"output '{name}' is not supported")

    def _check_node(self, node: onnx.NodeProto) -> None:
        """The node against its ONNX schema (input and output counts, required inputs and
        attributes, attribute types), as onnx.checker does for a file: the converters
        rely on it, and in-memory models (compiler.onnx_backend) are not checked before."""
        checker = onnx.checker.C.CheckerContext()
        checker.ir_version = onnx.IR_VERSION
        checker.opset_imports = {"": self.opset}
        try:
            onnx.checker.check_node(node, checker, onnx.checker.C.LexicalScopeContext())
        except onnx.checker.ValidationError as err:
            text = " ".join(str(err).split()) or "invalid node"
            raise _Ctx(self, node).fail(f"invalid node: {text}", kind="input") from None
        except UnicodeDecodeError:  # the checker's message quotes bytes that are not UTF-8
            raise _Ctx(self, node).fail("invalid node: onnx.checker rejects it, quoting a "
                                        "string that is not UTF-8", kind="input") from None

    def _fold(self, node: onnx.NodeProto, ctx: _Ctx) -> None:
        from onnx.reference import ReferenceEvaluator

        feeds: dict[str, np.ndarray] = {}
        inputs = []
        for i, name in enumerate(node.input):
            if not name:
                continue
            v = self.values[name]
            if node.op_type in ("Shape", "Size") and i == 0 and v.data is None:
                feeds[name] = np.zeros(v.type.shape, v.type.np_dtype)
            else:
                feeds[name] = v.data
            inputs.append(onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(feeds[name].dtype), None))
        outputs = [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                   for o in node.output if o]
        model = onnx.helper.make_model(
            onnx.helper.make_graph([node], "fold", inputs, outputs),
            opset_imports=[onnx.helper.make_opsetid("", self.opset)])
        try:
            results = ReferenceEvaluator(model).run(None, feeds)
        except Exception as err:  # noqa: BLE001 - the reference raises anything
            raise ctx.fail(f"cannot evaluate constant {node.op_type}: {err}",
                           kind="input") from None
        values = []
        for name, array in zip([o for o in node.output if o], results):
            array = np.asarray(array)
            try:
                values.append(self.constant(array, name))
            except KeyError:
                raise ctx.fail(f"constant of type {array.dtype} is not supported") from None
        ctx.output(values)


def _check_text(model: onnx.ModelProto, filename: str) -> None:
    """Every name edgeir reads is text. ONNX is proto2: protobuf hands out a string field
    that is not UTF-8 as bytes, which fails wherever a name is compared, sorted or joined."""
    g = model.graph
    places: list[tuple[str, list]] = [
        ("the graph", [g.name]), ("the opset imports", [o.domain for o in model.opset_import]),
        ("the graph inputs and outputs", [v.name for v in (*g.input, *g.output)]
         + [d.dim_param for v in g.input for d in v.type.tensor_type.shape.dim]),
        ("the initializers", [t.name for t in g.initializer])]
    for i, node in enumerate(g.node):
        places.append((f"node {i}", [node.name, node.op_type, node.domain, *node.input,
                                     *node.output, *(a.name for a in node.attribute)]))
    for where, texts in places:
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise EdgeirError(f"{where}: the name {bad!r} is not UTF-8 text", filename,
                              MALFORMED, "input")


def _check_graph(g: onnx.GraphProto, filename: str) -> None:
    """What onnx.checker would reject in the graph's wiring, with the tensor or node named:
    duplicate names, ports without a shape, dangling inputs, outputs nothing produces,
    cycles."""
    initializers: set[str] = set()
    for init in g.initializer:
        if init.name in initializers:
            raise EdgeirError(f"initializer '{init.name}' is defined twice", filename,
                              MALFORMED, "input")
        initializers.add(init.name)
    defined = set(initializers)
    inputs: set[str] = set()
    for port, what in [(p, "input") for p in g.input] + [(p, "output") for p in g.output]:
        if what == "input":
            if port.name in inputs:
                raise EdgeirError(f"graph input '{port.name}' is listed twice", filename,
                                  MALFORMED, "input")
            inputs.add(port.name)
            defined.add(port.name)
        tt = port.type.tensor_type
        if (port.type.HasField("tensor_type") and not tt.HasField("shape")
                and port.name not in initializers):
            raise EdgeirError(f"graph {what} '{port.name}' has no shape", filename,
                              f"re-export the model with the {what} shapes", "input")
    for node in g.node:
        for name in node.output:
            if name in inputs or name in initializers:
                raise EdgeirError(f"node '{node.name or node.op_type}' writes '{name}', which "
                                  "is a graph input or initializer", filename, MALFORMED,
                                  "input")
        defined.update(n for n in node.output if n)
    for node in g.node:
        for name in node.input:
            if name and name not in defined:
                raise EdgeirError(f"node '{node.name or node.op_type}' ({node.op_type}) reads "
                                  f"'{name}', which no node, graph input or initializer "
                                  "produces", filename, MALFORMED, "input")
    for out in g.output:
        if out.name not in defined:
            raise EdgeirError(f"graph output '{out.name}' is produced by no node", filename,
                              MALFORMED, "input")
    _topological(g, filename)  # duplicate producers, cycles


def _dtype_name(elem_type: int) -> str:
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return str(elem_type)


def _dims_text(tt: onnx.TypeProto.Tensor) -> str:
    return "x".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                    for d in tt.shape.dim)


def _default_opset(model: onnx.ModelProto, filename: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise EdgeirError("the model declares no ai.onnx opset", filename,
                          "the model is malformed", "input")
    version = versions[0]
    if version > MAX_OPSET:
        raise EdgeirError(f"opset {version} is not supported (supported: {MIN_OPSET} to "
                          f"{MAX_OPSET})", filename,
                          "convert it with onnx.version_converter.convert_version(model, 17)",
                          "unsupported")
    return version


def _topological(g: onnx.GraphProto, filename: str) -> list[onnx.NodeProto]:
    """Nodes in a topological order (stable); a cycle is an error."""
    producers: dict[str, int] = {}
    for i, node in enumerate(g.node):
        for out in node.output:
            if out:
                if out in producers:
                    first = g.node[producers[out]]
                    raise EdgeirError(f"tensor '{out}' is produced by two nodes, "
                                      f"'{first.name or first.op_type}' and "
                                      f"'{node.name or node.op_type}'", filename, MALFORMED,
                                      "input")
                producers[out] = i
    deps = [{producers[n] for n in node.input if n in producers} for node in g.node]
    order: list[int] = []
    state = [0] * len(g.node)  # 0 new, 1 visiting, 2 done
    for start in range(len(g.node)):
        stack = [(start, iter(sorted(deps[start])))]
        if state[start]:
            continue
        state[start] = 1
        while stack:
            i, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[i] = 2
                order.append(i)
                stack.pop()
            elif state[nxt] == 1:
                name = g.node[nxt].name or g.node[nxt].op_type
                raise EdgeirError(f"the graph has a cycle through node '{name}'", filename,
                                  MALFORMED, "input")
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(sorted(deps[nxt]))))
    return [g.node[i] for i in order]


def import_model(model: onnx.ModelProto, filename: str = "<model>",
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Graph:
    """The IR graph of an in-memory ONNX model."""
    if not model.graph.node and not model.graph.output:
        raise EdgeirError("not an ONNX model (no graph)", filename,
                          "pass an .onnx file exported by PyTorch, tf2onnx or similar", "input")
    return _Importer(_upgraded(model, filename), filename, input_shapes or {}).run()


def _upgraded(model: onnx.ModelProto, filename: str) -> onnx.ModelProto:
    """Models older than opset 13 are upgraded with onnx's version converter."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions or versions[0] >= MIN_OPSET:
        return model
    try:
        return onnx.version_converter.convert_version(model, MIN_OPSET)
    except Exception as err:  # noqa: BLE001 - the converter raises many types
        first = (str(err).strip().splitlines() or ["conversion failed"])[0]
        raise EdgeirError(f"opset {versions[0]} is older than {MIN_OPSET} and onnx's version "
                          f"converter cannot upgrade it: {first}", filename,
                          "re-export the model with opset 13 or newer", "unsupported") from None


def load_onnx(path: str | Path, input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Graph:
    """Read and import an ``.onnx`` file."""
    path = Path(path)
    if not path.exists():
        raise EdgeirError("no such file", str(path), "check the path", "input")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise EdgeirError(f"cannot read file: {err.strerror}", str(path), None, "input") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise EdgeirError("not a valid ONNX model (the protobuf does not parse; is the file "
                          "truncated?)", str(path), "re-export the model", "input") from None
    if not model.HasField("graph") or not model.opset_import:
        raise EdgeirError("not an ONNX model (no graph or opset)", str(path),
                          "pass an .onnx file exported by PyTorch, tf2onnx or similar", "input")
    try:
        onnx.load_external_data_for_model(model, str(path.parent))
    except Exception as err:  # noqa: BLE001
        raise EdgeirError(f"cannot load external tensor data: {err}", str(path),
                          "keep the external data files next to the model", "input") from None
    _Importer(model, str(path), input_shapes or {})._check_supported(model.graph)
    _check_graph(model.graph, str(path))
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as err:
        text = " ".join(str(err).split()) or "invalid model"  # one line, all of it
        raise EdgeirError(f"invalid ONNX model: {text}", str(path),
                          "onnx.checker rejects this model: re-export it", "input") from None
    except UnicodeDecodeError:  # the checker's message quotes bytes that are not UTF-8
        raise EdgeirError("invalid ONNX model: onnx.checker rejects it, quoting a string "
                          "that is not UTF-8", str(path), "re-export the model", "input") from None
    graph = import_model(model, str(path), input_shapes)
    _shape_check(model, graph, str(path))
    return graph


def _shape_check(model: onnx.ModelProto, graph: Graph, filename: str) -> None:
    """Cross-check output shapes with onnx.shape_inference where it knows them."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference failing is not the user's problem
        return
    for out in inferred.graph.output:
        tt = out.type.tensor_type
        if not tt.HasField("shape") or out.name not in graph.output_names:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        ours = graph.outputs[graph.output_names.index(out.name)].type.shape
        if len(dims) == len(ours) and any(d is not None and d != o for d, o in zip(dims, ours)):
            raise EdgeirError(f"output '{out.name}' has shape {list(ours)} here but ONNX "
                              f"shape inference gives {dims}", filename,
                              "please report this model", "input")

