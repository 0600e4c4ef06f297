"""TFLite importer: an int8 or float ``.tflite`` flatbuffer to an edgeir Graph.

The flatbuffer is read through the ``tflite`` package's generated schema. Int8 tensors keep
their quantization on the IR types; int8 ops become the ``q*`` ops of ``compiler.ops.qnn``
with their requantization constants computed here exactly as TFLite Micro's prepare step
computes them (double precision, QuantizeMultiplier). Float ops become the float ops in
NHWC layout. Every unsupported op is listed in one error before any other work.
"""

from __future__ import annotations

import functools
import math
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tflite

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, PerAxis, PerTensor, Quant, TensorType, Value, constant
from compiler.ops import InferError
from compiler.ops import get as get_op
from compiler.ops.qnn import (
    ACT_ATTRS,
    HARD_SWISH_ATTRS,
    SOFTMAX_ATTRS,
    add_params,
    params_attrs,
)
from compiler.quant import arith
from compiler.rewrite import build
from compiler.verify import quant_problem

BUILTIN_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
TENSOR_DTYPES = {
    tflite.TensorType.FLOAT32: "f32",
    tflite.TensorType.FLOAT16: "f16",
    tflite.TensorType.INT8: "i8",
    tflite.TensorType.UINT8: "ui8",
    tflite.TensorType.INT16: "i16",
    tflite.TensorType.INT32: "i32",
    tflite.TensorType.INT64: "i64",
    tflite.TensorType.BOOL: "i1",
}
ACT = tflite.ActivationFunctionType
ACT_NAMES = {v: k for k, v in vars(ACT).items() if not k.startswith("_")}
TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
MALFORMED = "the model is malformed: convert it again with the TFLite converter"
MAX_ELEMENTS = 2**31 - 1  # the C kernels count elements in int32


class _Op:
    """One TFLite operator as a converter sees it."""

    def __init__(self, imp: "_Importer", index: int, op: Any) -> None:
        self.imp = imp
        self.index = index
        self.op = op
        if not 0 <= op.OpcodeIndex() < imp.model.OperatorCodesLength():
            raise EdgeirError(f"opcode index {op.OpcodeIndex()} is out of range (the model has "
                              f"{imp.model.OperatorCodesLength()} operator codes)",
                              f"{imp.filename}: operator {index}", MALFORMED, "input")
        self.code = imp.opcode(op)
        self.name = BUILTIN_NAMES.get(self.code, f"op{self.code}")
        self.inputs = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        self.outputs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        count = imp.sg.TensorsLength()
        for i in self.inputs + self.outputs:
            if not -1 <= i < count:  # -1: an omitted optional input
                raise self.fail(f"tensor index {i} is out of range (the subgraph has {count} "
                                "tensors)", MALFORMED, "input")

    @property
    def loc(self) -> str:
        named = self.outputs and 0 <= self.outputs[0] < self.imp.sg.TensorsLength()
        out = self.imp.tensor_name(self.outputs[0]) if named else ""
        return out or f"{self.name.lower()}_{self.index}"

    def fail(self, what: str, hint: str | None = None, kind: str = "unsupported") -> EdgeirError:
        return EdgeirError(what, f"{self.imp.filename}: operator {self.index} ({self.name}, "
                           f"'{self.loc}')", hint, kind)

    def value(self, i: int) -> Value:
        if not self.has(i):
            raise self.fail(f"input {i} is missing (the operator has inputs {self.inputs})",
                            MALFORMED, "input")
        return self.imp.value(self.inputs[i])

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] >= 0

    def const(self, i: int) -> np.ndarray:
        v = self.value(i)
        if v.data is None:
            raise self.fail(f"input {i} must be a constant")
        return v.data

    def out_type(self, i: int = 0) -> TensorType:
        return self.imp.tensor_type(self.outputs[i])

    def options(self, cls: Any, optional: bool = False) -> Any:
        """The builtin options as ``cls``; None if absent and ``optional``."""
        table = self.op.BuiltinOptions()
        if table is None:
            if optional:
                return None
            raise self.fail(f"the operator has no {cls.__name__}", MALFORMED, "input")
        tag = getattr(tflite.BuiltinOptions, cls.__name__)
        if self.op.BuiltinOptionsType() != tag:
            got = OPTION_NAMES.get(self.op.BuiltinOptionsType(), self.op.BuiltinOptionsType())
            raise self.fail(f"the operator's options are {got}, not {cls.__name__}", MALFORMED,
                            "input")
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def emit(self, op: str, operands: list[Value], attrs: dict, out_type: TensorType,
             name: str | None = None) -> Value:
        try:
            node = build(op, operands, attrs, self.loc, [name or self.loc])
        except InferError as err:
            raise self.fail(str(err), kind="input") from None
        result = node.result
        if result.type.shape != out_type.shape or result.type.dtype != out_type.dtype or (
                result.type.quant is not None and result.type.quant != out_type.quant):
            raise self.fail(f"computes {result.type} but the model declares {out_type}",
                            kind="input")
        result.type = out_type
        try:
            get_op(op).check_node(node)  # the verifier's checks too (bias scales, ...)
        except ValueError as err:
            raise self.fail(str(err), MALFORMED, "input") from None
        self.imp.graph.append(node)
        return result

    def output(self, value: Value, i: int = 0) -> None:
        self.imp.values[self.outputs[i]] = value


def _act_range_q(op: _Op, act: int, out: TensorType) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8."""
    q = _per_tensor(op, out, "output")

    def quantize(f: float) -> int:
        return q.zero_point + int(arith.round_half_away(np.float32(f) / np.float32(q.scale)))

    if act == ACT.NONE:
        return -128, 127
    if act == ACT.RELU:
        return max(-128, quantize(0.0)), 127
    if act == ACT.RELU6:
        return max(-128, quantize(0.0)), min(127, quantize(6.0))
    if act == ACT.RELU_N1_TO_1:
        return max(-128, quantize(-1.0)), min(127, quantize(1.0))
    raise _unsupported_act(op, act)


def _act_clamp_f(op: _Op, act: int) -> tuple[float, ...]:
    ranges = {ACT.NONE: (), ACT.RELU: (0.0, math.inf), ACT.RELU6: (0.0, 6.0),
              ACT.RELU_N1_TO_1: (-1.0, 1.0)}
    if act not in ranges:
        raise _unsupported_act(op, act)
    return ranges[act]


def _unsupported_act(op: _Op, act: int) -> EdgeirError:
    return op.fail(f"fused activation {ACT_NAMES.get(act, act)} is not supported",
                   "convert the model with NONE, RELU, RELU6 or RELU_N1_TO_1 fused (or the "
                   "activation as its own op)")


def _same_pads(size: int, k: int, stride: int, dil: int) -> tuple[int, int]:
    eff = (k - 1) * dil + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _pads(op: _Op, padding: int, hw: tuple[int, int], k: tuple[int, int],
          s: tuple[int, int], d: tuple[int, int]) -> tuple[int, int, int, int]:
    for what, pair in (("strides", s), ("dilations", d), ("filter size", k)):
        if min(pair) < 1:
            raise op.fail(f"{what} {list(pair)} must be at least 1", MALFORMED, "input")
    if padding == tflite.Padding.VALID:
        return (0, 0, 0, 0)
    if padding != tflite.Padding.SAME:
        raise op.fail(f"padding {padding} is not supported", kind="input")
    (pt, pb), (pl, pr) = _same_pads(hw[0], k[0], s[0], d[0]), _same_pads(hw[1], k[1], s[1], d[1])
    return (pt, pl, pb, pr)


QUANT_HINT = "quantize the model fully with the TFLite converter (int8 scales and zero points)"


def _is_int8(t: TensorType) -> bool:
    return t.dtype == "i8"


def _per_tensor(op: _Op, t: TensorType, what: str) -> PerTensor:
    """The per-tensor quantization of an int8 operand or result."""
    if not isinstance(t.quant, PerTensor):
        how = "per axis" if t.quant is not None else "not"
        raise op.fail(f"the int8 {what} is {how} quantized, it must be quantized per tensor",
                      "quantize the model fully with the TFLite converter", "input")
    return t.quant


def _check_rank(op: _Op, v: Value, rank: int, what: str) -> None:
    if v.type.rank != rank:
        raise op.fail(f"the {what} must be {rank}-D, it has shape {list(v.type.shape)}",
                      MALFORMED, "input")


def _check_not_hybrid(op: _Op, x: Value, w: Value) -> None:
    if x.type.dtype == "f32" and w.type.dtype != "f32":
        raise op.fail(f"hybrid models ({w.type.dtype} weights with float activations) are not "
                      "supported", "convert the model fully to int8 or fully to float")


def _conv_like(op: _Op, depthwise: bool) -> None:
    x, w = op.value(0), op.value(1)
    _check_rank(op, x, 4, "input")
    _check_rank(op, w, 4, "filter")
    _check_not_hybrid(op, x, w)
    out_t = op.out_type()
    opts = op.options(tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)
    s = (opts.StrideH(), opts.StrideW())
    d = (opts.DilationHFactor(), opts.DilationWFactor())
    kh, kw = w.type.shape[1], w.type.shape[2]
    pads = _pads(op, opts.Padding(), x.type.shape[1:3], (kh, kw), s, d)
    if depthwise:
        # TFLite: [1, KH, KW, C*mult] quantized on axis 3 -> IR: [C*mult, KH, KW, 1] on axis 0.
        data = op.const(1)
        quant = w.type.quant
        if isinstance(quant, PerAxis):
            quant = PerAxis(0, quant.scales, quant.zero_points)
        w = op.imp.constant(np.ascontiguousarray(np.transpose(data, (3, 1, 2, 0))),
                            w.name, quant)
        group = x.type.shape[3]
    else:
        group = 1
    attrs: dict[str, Any] = {"strides": s, "dilations": d, "pads": pads, "group": group,
                             "layout": "nhwc"}
    operands = [x, w] + ([op.value(2)] if op.has(2) else [])
    act = opts.FusedActivationFunction()
    if _is_int8(x.type):
        attrs.update(_qconv_params(op, x.type, w.type, out_t, w.type.shape[0]))
        attrs["act_min"], attrs["act_max"] = _act_range_q(op, act, out_t)
        op.output(op.emit("qconv2d", operands, attrs, out_t))
    else:
        attrs["clamp"] = _act_clamp_f(op, act)
        op.output(op.emit("conv2d", operands, attrs, out_t))


def _scales(t: TensorType, channels: int) -> list[float]:
    q = t.quant
    if isinstance(q, PerAxis):
        return list(q.scales)
    if isinstance(q, PerTensor):
        return [q.scale] * channels
    return []


def _qconv_params(op: _Op, x: TensorType, w: TensorType, out: TensorType, channels: int) -> dict:
    xq, oq = x.quant, out.quant
    if not isinstance(xq, PerTensor) or not isinstance(oq, PerTensor):
        raise op.fail("int8 activations must be quantized per tensor", QUANT_HINT, "input")
    if not _scales(w, channels):
        raise op.fail("int8 weights have no quantization", QUANT_HINT, "input")
    reals = [xq.scale * s / oq.scale for s in _scales(w, channels)]
    pairs = [arith.quantize_multiplier(r) for r in reals]
    if not isinstance(w.quant, PerAxis):
        pairs = pairs[:1]
    return {"x_zp": xq.zero_point, "out_zp": oq.zero_point,
            "multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)}


def _fully_connected(op: _Op) -> None:
    x, w = op.value(0), op.value(1)
    _check_rank(op, w, 2, "weights")
    _check_not_hybrid(op, x, w)
    out_t = op.out_type()
    opts = op.options(tflite.FullyConnectedOptions, optional=True)
    if opts is not None and opts.WeightsFormat() != 0:
        raise op.fail("shuffled fully connected weights are not supported")
    k = w.type.shape[1]
    if x.type.rank != 2 or x.type.shape[1] != k:
        x = op.emit("reshape", [x], {"shape": (x.type.numel // k, k)},
                    x.type.with_shape((x.type.numel // k, k)), f"{x.name}.2d")
    flat_out = out_t.with_shape((x.type.shape[0], w.type.shape[0]))
    operands = [x, w] + ([op.value(2)] if op.has(2) else [])
    act = opts.FusedActivationFunction() if opts is not None else ACT.NONE
    if _is_int8(x.type):
        attrs = _qconv_params(op, x.type, w.type, out_t, w.type.shape[0])
        attrs["act_min"], attrs["act_max"] = _act_range_q(op, act, out_t)
        y = op.emit("qfully_connected", operands, attrs, flat_out,
                    None if flat_out.shape == out_t.shape else f"{op.loc}.2d")
    else:
        attrs = {"trans_b": True, "clamp": _act_clamp_f(op, act)}
        y = op.emit("gemm", operands, attrs, flat_out,
                    None if flat_out.shape == out_t.shape else f"{op.loc}.2d")
    if flat_out.shape != out_t.shape:
        y = op.emit("reshape", [y], {"shape": out_t.shape}, out_t)
    op.output(y)


def _pool(op: _Op, kind: str) -> None:
    x = op.value(0)
    _check_rank(op, x, 4, "input")
    out_t = op.out_type()
    opts = op.options(tflite.Pool2DOptions)
    k = (opts.FilterHeight(), opts.FilterWidth())
    s = (opts.StrideH(), opts.StrideW())
    pads = _pads(op, opts.Padding(), x.type.shape[1:3], k, s, (1, 1))
    attrs: dict[str, Any] = {"kernel": k, "strides": s, "pads": pads, "layout": "nhwc"}
    act = opts.FusedActivationFunction()
    if _is_int8(x.type):
        if x.type.quant != out_t.quant:
            raise op.fail("int8 pooling needs the same quantization on input and output",
                          kind="input")
        attrs["act_min"], attrs["act_max"] = _act_range_q(op, act, out_t)
        op.output(op.emit(f"q{kind}_pool", [x], attrs, out_t))
        return
    clamp = _act_clamp_f(op, act)
    y = op.emit(f"{kind}_pool", [x], attrs, out_t)
    if clamp:
        y = op.emit("clip", [y], {"min": clamp[0], "max": clamp[1]}, out_t, f"{op.loc}.act")
    op.output(y)


def _binary(op: _Op, kind: str) -> None:
    a, b = op.value(0), op.value(1)
    out_t = op.out_type()
    opts = op.options(tflite.AddOptions if kind == "add" else tflite.MulOptions, optional=True)
    act = opts.FusedActivationFunction() if opts is not None else ACT.NONE
    if _is_int8(a.type):
        aq, bq, oq = a.type.quant, b.type.quant, out_t.quant
        if not all(isinstance(q, PerTensor) for q in (aq, bq, oq)):
            raise op.fail("int8 operands must be quantized per tensor", QUANT_HINT, "input")
        attrs: dict[str, Any] = {"a_zp": aq.zero_point, "b_zp": bq.zero_point,
                                 "out_zp": oq.zero_point}
        if kind == "add":
            attrs.update(add_params(aq.scale, bq.scale, oq.scale))
        else:
            m, s = arith.quantize_multiplier(aq.scale * bq.scale / oq.scale)
            attrs.update({"multiplier": (m,), "shift": (s,)})
        attrs["act_min"], attrs["act_max"] = _act_range_q(op, act, out_t)
        op.output(op.emit(f"q{kind}", [a, b], attrs, out_t))
        return
    op.output(op.emit(kind, [a, b], {"clamp": _act_clamp_f(op, act)}, out_t))


def _reshape(op: _Op) -> None:
    out_t = op.out_type()
    op.output(op.emit("reshape", [op.value(0)], {"shape": out_t.shape}, out_t))


def _softmax(op: _Op) -> None:
    x = op.value(0)
    out_t = op.out_type()
    opts = op.options(tflite.SoftmaxOptions, optional=True)
    beta = opts.Beta() if opts is not None else 1.0
    if _is_int8(x.type):
        try:
            params = arith.softmax_int8_params(_per_tensor(op, x.type, "input").scale,
                                               float(beta))
        except ValueError as err:
            raise op.fail(str(err), kind="input") from None
        op.output(op.emit("qsoftmax", [x], params_attrs(params, SOFTMAX_ATTRS), out_t))
        return
    if beta != 1.0:
        raise op.fail(f"float softmax with beta {beta} is not supported")
    op.output(op.emit("softmax", [x], {"axis": -1}, out_t))


def _activation(op: _Op, kind: str) -> None:
    x = op.value(0)
    out_t = op.out_type()
    if _is_int8(x.type):
        xq, oq = _per_tensor(op, x.type, "input"), _per_tensor(op, out_t, "output")
        try:
            if kind == "logistic":
                params = arith.logistic_int8_params(xq.scale, xq.zero_point)
            elif kind == "tanh":
                params = arith.tanh_int8_params(xq.scale, xq.zero_point)
            else:
                params = arith.hard_swish_int8_params(xq.scale, xq.zero_point, oq.scale,
                                                      oq.zero_point)
        except ValueError as err:
            raise op.fail(str(err), kind="input") from None
        names = HARD_SWISH_ATTRS if kind == "hard_swish" else ACT_ATTRS
        op.output(op.emit(f"q{kind}", [x], params_attrs(params, names), out_t))
        return
    float_op = {"logistic": "sigmoid", "tanh": "tanh", "hard_swish": "hard_swish"}[kind]
    op.output(op.emit(float_op, [x], {}, out_t))


def _quantize(op: _Op) -> None:
    x = op.value(0)
    out_t = op.out_type()
    oq = out_t.quant
    if out_t.dtype != "i8" or not isinstance(oq, PerTensor):
        raise op.fail(f"QUANTIZE to {out_t.dtype} is not supported (int8 only)")
    if x.type.dtype == "f32":
        op.output(op.emit("quantize", [x], {"scale": oq.scale, "zero_point": oq.zero_point},
                          out_t))
        return
    if x.type.dtype == "i8":
        xq = _per_tensor(op, x.type, "input")
        m, s = arith.quantize_multiplier(xq.scale / oq.scale)
        op.output(op.emit("requantize", [x], {"x_zp": xq.zero_point, "out_zp": oq.zero_point,
                                               "multiplier": (m,), "shift": (s,)}, out_t))
        return
    raise op.fail(f"QUANTIZE from {x.type.dtype} is not supported")


def _dequantize(op: _Op) -> None:
    x = op.value(0)
    xq = x.type.quant
    if x.type.dtype != "i8" or not isinstance(xq, PerTensor):
        raise op.fail(f"DEQUANTIZE from {x.type.dtype} is not supported (int8 per tensor only)")
    op.output(op.emit("dequantize", [x], {"scale": xq.scale, "zero_point": xq.zero_point},
                      op.out_type()))


def _pad(op: _Op) -> None:
    x = op.value(0)
    out_t = op.out_type()
    paddings = op.const(1).astype(np.int64)
    if paddings.shape != (x.type.rank, 2):
        raise op.fail(f"the paddings have shape {list(paddings.shape)}, the input needs "
                      f"[{x.type.rank}, 2]", MALFORMED, "input")
    pads = tuple(int(p) for p in paddings[:, 0]) + tuple(int(p) for p in paddings[:, 1])
    if op.has(2):
        value = float(op.const(2).reshape(-1)[0])
    elif _is_int8(x.type):
        value = float(_per_tensor(op, out_t, "output").zero_point)
    else:
        value = 0.0
    if _is_int8(x.type) and x.type.quant != out_t.quant:
        raise op.fail("int8 PAD needs the same quantization on input and output", kind="input")
    op.output(op.emit("pad", [x], {"pads": pads, "value": value}, out_t))


def _mean(op: _Op) -> None:
    x = op.value(0)
    out_t = op.out_type()
    given = [int(a) for a in op.const(1).reshape(-1)]
    if any(not -x.type.rank <= a < x.type.rank for a in given):
        raise op.fail(f"axes {given} are out of range for shape {list(x.type.shape)}",
                      MALFORMED, "input")
    axes = tuple(sorted(a % x.type.rank for a in given))
    opts = op.options(tflite.ReducerOptions, optional=True)
    keep = bool(opts.KeepDims()) if opts is not None else False
    if _is_int8(x.type):
        if x.type.rank != 4 or axes != (1, 2):
            raise op.fail("int8 MEAN is supported over axes [1, 2] of a 4-D tensor only")
        xq, oq = _per_tensor(op, x.type, "input"), _per_tensor(op, out_t, "output")
        m, s = arith.quantize_multiplier(xq.scale / oq.scale)
        kept = x.type.with_shape((x.type.shape[0], 1, 1, x.type.shape[3]))
        kept = TensorType("i8", kept.shape, oq)
        y = op.emit("qmean", [x], {"x_zp": xq.zero_point, "out_zp": oq.zero_point,
                                   "multiplier": (m,), "shift": (s,), "layout": "nhwc"}, kept,
                    None if keep else f"{op.loc}.keep")
        if not keep:
            y = op.emit("reshape", [y], {"shape": out_t.shape}, out_t)
        op.output(y)
        return
    op.output(op.emit("reduce_mean", [x], {"axes": axes, "keepdims": keep}, out_t))


def _concat(op: _Op) -> None:
    out_t = op.out_type()
    opts = op.options(tflite.ConcatenationOptions)
    if opts.FusedActivationFunction() != ACT.NONE:
        raise op.fail("CONCATENATION with a fused activation is not supported")
    values = [op.value(i) for i in range(len(op.inputs))]
    if _is_int8(out_t):
        fixed = []
        for v in values:
            if v.type.quant != out_t.quant:
                vq, oq = v.type.quant, out_t.quant
                m, s = arith.quantize_multiplier(vq.scale / oq.scale)
                v = op.emit("requantize", [v], {"x_zp": vq.zero_point, "out_zp": oq.zero_point,
                                                "multiplier": (m,), "shift": (s,)},
                            TensorType("i8", v.type.shape, oq), f"{v.name}.requant")
            fixed.append(v)
        values = fixed
    op.output(op.emit("concat", values, {"axis": opts.Axis()}, out_t))


CONVERTERS: dict[str, Callable[[_Op], None]] = {
    "CONV_2D": lambda op: _conv_like(op, False),
    "DEPTHWISE_CONV_2D": lambda op: _conv_like(op, True),
    "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": lambda op: _pool(op, "avg"),
    "MAX_POOL_2D": lambda op: _pool(op, "max"),
    "ADD": lambda op: _binary(op, "add"),
    "MUL": lambda op: _binary(op, "mul"),
    "RESHAPE": _reshape,
    "SOFTMAX": _softmax,
    "LOGISTIC": lambda op: _activation(op, "logistic"),
    "TANH": lambda op: _activation(op, "tanh"),
    "HARD_SWISH": lambda op: _activation(op, "hard_swish"),
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
    "PAD": _pad,
    "PADV2": _pad,
    "MEAN": _mean,
    "CONCATENATION": _concat,
}


# (fewest inputs, most inputs or None, outputs) of each supported operator, as TFLite's
# kernels check them in their prepare step: the converters index inputs and outputs.
ARITY: dict[str, tuple[int, int | None, int]] = {
    "CONV_2D": (2, 3, 1), "DEPTHWISE_CONV_2D": (2, 3, 1), "FULLY_CONNECTED": (2, 3, 1),
    "AVERAGE_POOL_2D": (1, 1, 1), "MAX_POOL_2D": (1, 1, 1), "ADD": (2, 2, 1), "MUL": (2, 2, 1),
    "RESHAPE": (1, 2, 1), "SOFTMAX": (1, 1, 1), "LOGISTIC": (1, 1, 1), "TANH": (1, 1, 1),
    "HARD_SWISH": (1, 1, 1), "QUANTIZE": (1, 1, 1), "DEQUANTIZE": (1, 1, 1), "PAD": (2, 2, 1),
    "PADV2": (2, 3, 1), "MEAN": (2, 2, 1), "CONCATENATION": (1, None, 1),
}
OPTION_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
# What the flatbuffers runtime raises on an offset or length that points outside the file:
# a read past the end (struct.error), an offset that comes out negative (TypeError "bad
# number ... for type uint32"), a vector longer than the file (ValueError from numpy).
FLATBUFFER_ERRORS = (struct.error, TypeError, ValueError)


@functools.cache
def _option_fields(cls: type) -> list[str]:
    """The scalar field readers of a generated options class (``StrideW``, ...)."""
    return [name for name, fn in vars(cls).items()
            if callable(fn) and not name.startswith(("_", "Init", "GetRootAs"))
            and not name.endswith("BufferHasIdentifier")
            and fn.__code__.co_argcount == 1]


def _check_arity(op: _Op) -> None:
    least, most, outputs = ARITY[op.name]
    n = len(op.inputs)
    if n < least or (most is not None and n > most) or len(op.outputs) != outputs:
        takes = f"{least}" if least == most else f"{least} or more" if most is None else \
            f"{least} to {most}"
        raise op.fail(f"the operator has {n} inputs and {len(op.outputs)} outputs; {op.name} "
                      f"takes {takes} inputs and {outputs} output", MALFORMED, "input")
    if not op.has(0) or any(i < 0 for i in op.outputs):
        raise op.fail(f"the operator's first input or an output is missing (inputs "
                      f"{op.inputs}, outputs {op.outputs})", MALFORMED, "input")


class _Importer:
    def __init__(self, buf: bytes, filename: str) -> None:
        self.filename = filename
        self.buf = buf
        try:
            if len(buf) < 8 or not tflite.Model.ModelBufferHasIdentifier(buf, 0):
                raise ValueError("missing TFL3 identifier")
            self.model = tflite.Model.GetRootAsModel(buf, 0)
            if self.model.SubgraphsLength() < 1:
                raise ValueError("no subgraph")
            self.sg = self.model.Subgraphs(0)
        except Exception:  # noqa: BLE001 - flatbuffers raises anything on garbage
            raise EdgeirError("not a TFLite model (bad flatbuffer)", filename,
                              "pass a .tflite file written by the TFLite converter",
                              "input") from None
        self._read_all()
        self.graph = Graph(name=Path(filename).stem or "main")
        self.values: dict[int, Value] = {}
        self._types: dict[int, TensorType] = {}

    def _read_all(self) -> None:
        """Read every field the converters read, once. The flatbuffers runtime has no
        verifier: an offset or length that points outside the file raises wherever it is
        first read. Reading everything here reports a damaged file as such, naming the
        damaged part; afterwards the same reads are known to stay inside the file."""
        part = "the model"
        try:
            for i in range(self.model.OperatorCodesLength()):
                part = f"operator code {i}"
                code = self.model.OperatorCodes(i)
                code.BuiltinCode(), code.DeprecatedBuiltinCode()
            for i in range(self.model.BuffersLength()):
                part = f"buffer {i}"
                if self.model.Buffers(i).DataLength():
                    self.model.Buffers(i).DataAsNumpy()
            sg = self.sg
            part = "subgraph 0"
            for i in range(sg.InputsLength()):
                sg.Inputs(i)
            for i in range(sg.OutputsLength()):
                sg.Outputs(i)
            for i in range(sg.TensorsLength()):
                part = f"tensor {i}"
                t = sg.Tensors(i)
                t.Name(), t.Type(), t.Buffer()
                if t.ShapeLength():
                    t.ShapeAsNumpy()
                q = t.Quantization()
                if q is not None:
                    q.QuantizedDimension()
                    if q.ScaleLength():
                        q.ScaleAsNumpy()
                    if q.ZeroPointLength():
                        q.ZeroPointAsNumpy()
            for i in range(sg.OperatorsLength()):
                part = f"operator {i}"
                op = sg.Operators(i)
                op.OpcodeIndex()
                if op.InputsLength():
                    op.InputsAsNumpy()
                if op.OutputsLength():
                    op.OutputsAsNumpy()
                table = op.BuiltinOptions()
                cls = getattr(tflite, OPTION_NAMES.get(op.BuiltinOptionsType(), "-"), None)
                if table is not None and cls is not None:
                    opts = cls()
                    opts.Init(table.Bytes, table.Pos)
                    for field in _option_fields(cls):
                        getattr(opts, field)()
        except FLATBUFFER_ERRORS:
            raise EdgeirError(f"not a TFLite model: {part} points outside the file",
                              self.filename, "the file is truncated or damaged: convert the "
                              "model again", "input") from None

    def opcode(self, op: Any) -> int:
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        return max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())

    def tensor_name(self, index: int) -> str:
        name = self.sg.Tensors(index).Name()
        return name.decode("utf-8", "replace") if name else f"t{index}"

    def tensor_type(self, index: int) -> TensorType:
        if index in self._types:
            return self._types[index]
        t = self.sg.Tensors(index)
        dtype = TENSOR_DTYPES.get(t.Type())
        if dtype is None:
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' has an unsupported type "
                              f"{TYPE_NAMES.get(t.Type(), t.Type())}", self.filename,
                              "edgeir reads float32, float16, int8, uint8, int16, int32, int64 "
                              "and bool tensors", "unsupported")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if any(d <= 0 for d in shape):
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' has a dynamic or empty "
                              f"shape {list(shape)}", self.filename,
                              "convert the model with static, positive dimensions (a fixed "
                              "batch size)", "unsupported")
        if math.prod(shape) > MAX_ELEMENTS:
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' has {math.prod(shape):,} "
                              f"elements", self.filename, f"edgeir supports at most "
                              f"{MAX_ELEMENTS:,} per tensor", "unsupported")
        type_ = TensorType(dtype, shape, self._quant(t, index))
        problem = quant_problem(type_)
        if problem is not None:
            raise EdgeirError(f"tensor '{self.tensor_name(index)}': {problem}", self.filename,
                              MALFORMED, "input")
        self._types[index] = type_
        return type_

    def _quant(self, t: Any, index: int) -> Quant | None:
        q = t.Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        scales = [float(s) for s in q.ScaleAsNumpy()]
        zps = [int(z) for z in q.ZeroPointAsNumpy()] if q.ZeroPointLength() else [0] * len(scales)
        name = self.tensor_name(index)
        bad = [s for s in scales if not (s > 0 and math.isfinite(s))]
        if bad:
            raise EdgeirError(f"tensor '{name}' has quantization scale {bad[0]:g}",
                              self.filename, "scales must be positive and finite: convert the "
                              "model again", "input")
        if len(zps) != len(scales):
            raise EdgeirError(f"tensor '{name}' has {len(scales)} scales but {len(zps)} zero "
                              "points", self.filename, "a quantized tensor needs one zero point "
                              "per scale: convert the model again", "input")
        if len(scales) == 1:
            return PerTensor(scales[0], zps[0])
        return PerAxis(int(q.QuantizedDimension()), tuple(scales), tuple(zps))

    def constant(self, data: np.ndarray, name: str, quant: Quant | None) -> Value:
        value = constant(data, name, quant)
        self.graph.constants.append(value)
        return value

    def value(self, index: int) -> Value:
        if index in self.values:
            return self.values[index]
        t = self.sg.Tensors(index)
        if not 0 <= t.Buffer() < self.model.BuffersLength():
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' names buffer {t.Buffer()}, "
                              f"the model has {self.model.BuffersLength()}", self.filename,
                              MALFORMED, "input")
        buf = self.model.Buffers(t.Buffer())
        type_ = self.tensor_type(index)
        if buf is None or buf.DataLength() == 0:
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' is read before it is "
                              "written", self.filename, MALFORMED, "input")
        raw = buf.DataAsNumpy().tobytes()
        if len(raw) != type_.nbytes:
            raise EdgeirError(f"tensor '{self.tensor_name(index)}' has {len(raw)} bytes of data, "
                              f"its type needs {type_.nbytes}", self.filename, MALFORMED, "input")
        data = np.frombuffer(raw, dtype=type_.np_dtype.newbyteorder("<")).reshape(type_.shape)
        value = self.constant(data.astype(type_.np_dtype), self.tensor_name(index), type_.quant)
        self.values[index] = value
        return value

    def run(self) -> Graph:
        if self.sg.OutputsLength() == 0:
            raise EdgeirError("the model has no outputs", self.filename,
                              "a model computes at least one output: convert it again", "input")
        ops = [_Op(self, i, self.sg.Operators(i)) for i in range(self.sg.OperatorsLength())]
        missing: dict[str, list[str]] = {}
        for op in ops:
            if op.name not in CONVERTERS:
                missing.setdefault(op.name, []).append(op.loc)
        if missing:
            parts = [f"{k} ({', '.join(v[:5])}{', ...' if len(v) > 5 else ''})"
                     for k, v in sorted(missing.items())]
            raise EdgeirError(f"unsupported TFLite op(s): {'; '.join(parts)}", self.filename,
                              "see the README's list of supported TFLite ops", "unsupported")
        ports = ([int(self.sg.Inputs(i)) for i in range(self.sg.InputsLength())]
                 + [int(self.sg.Outputs(i)) for i in range(self.sg.OutputsLength())])
        for index in ports:
            if not 0 <= index < self.sg.TensorsLength():
                raise EdgeirError(f"graph input or output tensor index {index} is out of range "
                                  f"(the subgraph has {self.sg.TensorsLength()} tensors)",
                                  self.filename, MALFORMED, "input")
        for i in range(self.sg.InputsLength()):
            index = int(self.sg.Inputs(i))
            if self.tensor_name(index) in self.graph.input_names:
                raise EdgeirError(f"two subgraph inputs are named '{self.tensor_name(index)}'",
                                  self.filename, MALFORMED, "input")
            self.values[index] = self.graph.add_input(self.tensor_type(index),
                                                      self.tensor_name(index))
        for op in ops:
            _check_arity(op)
            CONVERTERS[op.name](op)
        for i in range(self.sg.OutputsLength()):
            index = int(self.sg.Outputs(i))
            if index not in self.values:
                raise EdgeirError(f"output '{self.tensor_name(index)}' is never written",
                                  self.filename, MALFORMED, "input")
            if self.tensor_name(index) in self.graph.output_names:
                raise EdgeirError(f"two subgraph outputs are named '{self.tensor_name(index)}'",
                                  self.filename, MALFORMED, "input")
            self.graph.add_output(self.values[index], self.tensor_name(index))
        return self.graph


def load_tflite(path: str | Path) -> Graph:
    """Read and import a ``.tflite`` file."""
    path = Path(path)
    if not path.exists():
        raise EdgeirError("no such file", str(path), "check the path", "input")
    try:
        buf = path.read_bytes()
    except OSError as err:
        raise EdgeirError(f"cannot read file: {err.strerror}", str(path), None, "input") from None
    try:
        return _Importer(buf, str(path)).run()
    except struct.error:  # a flatbuffer offset that points past the end of the file
        raise EdgeirError("not a TFLite model: the flatbuffer points outside the file",
                          str(path), "the file is truncated or damaged: convert the model "
                          "again", "input") from None

