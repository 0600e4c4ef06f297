"""Lowering float ops to int8 ops, shared by the quantizers.

:class:`Int8Lowering` knows, for each float op, how to emit the int8 op of
``compiler.ops.qnn`` that computes it from int8 operands, given the output's quantization:
the requantization constants (QuantizeMultiplier of the real multipliers, in double, in
TFLM's order), the activation range from a fused clamp, and the extra ``requantize`` where
an int8 kernel needs its input's scale on its output. Subclasses say where the int8
operands come from: ``qdq-to-int`` reads them off QuantizeLinear/DequantizeLinear pairs;
``quantize`` (PTQ) quantizes float weights and uses calibrated activation ranges.
"""

from __future__ import annotations

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, Value, constant
from compiler.ops.qnn import (
    ACT_ATTRS,
    FIXED_OUTPUT,
    HARD_SWISH_ATTRS,
    SOFTMAX_ATTRS,
    add_params,
    params_attrs,
)
from compiler.quant import arith
from compiler.rewrite import build

MOVE_OPS = ("reshape", "transpose", "slice", "gather", "pad", "concat")


class Int8Lowering:
    """Emit int8 ops for float nodes. Subclasses provide :meth:`_activation` (the int8
    value standing for a float operand), :meth:`_weight` and :meth:`_fail`."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        # float value -> the int8 value standing for it
        self.int_of: dict[int, Value] = {}
        self.stats: dict[str, int] = {"ops-lowered": 0, "float-islands": 0,
                                      "edges-quantized": 0, "edges-dequantized": 0}

    def _activation(self, value: Value) -> Value | None:
        return self.int_of.get(id(value))

    def _weight(self, node: Node, value: Value, channel_axis: int) -> Value | None:
        raise NotImplementedError  # pragma: no cover - subclasses decide

    def _fail(self, node: Node, what: str) -> EdgeirError:
        raise NotImplementedError  # pragma: no cover - subclasses decide

    def _adopt(self, value: Value) -> Value:
        if value.is_constant and not any(value is c for c in self.graph.constants):
            self.graph.constants.append(value)
        return value

    def _bias(self, node: Node, value: Value, x_scale: float, w_scales: list[float]) -> Value:
        """A float bias quantized to int32 with scale ``x_scale * w_scale[c]``."""
        expected = np.asarray([x_scale * s for s in w_scales])
        if not value.is_constant:
            raise self._fail(node, "the bias must be a constant")
        q = np.round(value.data.astype(np.float64).reshape(-1) / expected)
        if np.any(np.abs(q) > 2**31 - 1):
            raise self._fail(node, "the bias does not fit int32 at scale input x weight")
        return constant(q.astype(np.int32), value.name,
                        PerAxis(0, tuple(float(e) for e in expected), (0,) * len(expected)))

    def lower(self, node: Node, out: PerTensor) -> Value | None:
        handler = getattr(self, f"_lower_{node.op}", None)
        if handler is None:
            if node.op in MOVE_OPS:
                return self._lower_move(node, out)
            self.stats["float-islands"] += 1
            return None
        result = handler(node, out)
        if result is None:
            self.stats["float-islands"] += 1
        else:
            self.stats["ops-lowered"] += 1
        return result

    def _emit(self, node: Node, op: str, operands: list[Value], attrs: dict,
              out: PerTensor, name: str | None = None) -> Value:
        new = build(op, [self._adopt(v) for v in operands], attrs, node.loc,
                    [name or node.result.name])
        new.result.type = TensorType("i8", new.result.type.shape, out)
        self.graph.insert_before(node, new)
        return new.result

    def _act_range(self, node: Node, out: PerTensor) -> dict:
        lo, hi = node.attrs.get("clamp") or (-np.inf, np.inf)

        def q(f: float) -> float:
            ratio = np.float32(f) / np.float32(out.scale)
            return out.zero_point + float(arith.round_half_away(ratio))

        act_min = -128 if lo == -np.inf else int(max(-128, min(127, q(lo))))
        act_max = 127 if hi == np.inf else int(max(-128, min(127, q(hi))))
        return {"act_min": act_min, "act_max": act_max}

    def _requant_attrs(self, reals: list[float], per_channel: bool) -> dict:
        pairs = [arith.quantize_multiplier(r) for r in reals]
        if not per_channel:
            pairs = pairs[:1]
        return {"multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)}

    def _lower_conv2d(self, node: Node, out: PerTensor) -> Value | None:
        x = self._activation(node.operands[0])
        layout = node.attrs.get("layout", "nchw")
        w = self._weight(node, node.operands[1], 0)
        if x is None or w is None:
            return None
        xq = x.type.quant
        channels = w.type.shape[0]
        w_scales = _scales(w.type, channels)
        operands = [x, w]
        if len(node.operands) > 2:
            operands.append(self._bias(node, node.operands[2], xq.scale, w_scales))
        attrs = {k: v for k, v in node.attrs.items() if k != "clamp"}
        attrs["layout"] = layout
        attrs.update({"x_zp": xq.zero_point, "out_zp": out.zero_point})
        attrs.update(self._requant_attrs([xq.scale * s / out.scale for s in w_scales],
                                         isinstance(w.type.quant, PerAxis)))
        attrs.update(self._act_range(node, out))
        return self._emit(node, "qconv2d", operands, attrs, out)

    def _lower_gemm(self, node: Node, out: PerTensor) -> Value | None:
        a = node.attrs
        if a.get("trans_a") or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            return None
        x = self._activation(node.operands[0])
        if x is None or x.type.rank != 2:
            return None
        trans_b = a.get("trans_b", False)
        w = self._weight(node, node.operands[1], 0 if trans_b else 1)
        if w is None:
            return None
        if not trans_b:
            w = constant(np.ascontiguousarray(w.data.T), w.name,
                         PerAxis(0, w.type.quant.scales, w.type.quant.zero_points)
                         if isinstance(w.type.quant, PerAxis) else w.type.quant)
        return self._fully_connected(node, x, w, node.operands[2] if len(node.operands) > 2
                                     else None, out)

    def _lower_matmul(self, node: Node, out: PerTensor) -> Value | None:
        x = self._activation(node.operands[0])
        if x is None or x.type.rank != 2:
            return None
        w = self._weight(node, node.operands[1], 1)
        if w is None or w.type.rank != 2:
            return None
        quant = w.type.quant
        w = constant(np.ascontiguousarray(w.data.T), w.name,
                     PerAxis(0, quant.scales, quant.zero_points)
                     if isinstance(quant, PerAxis) else quant)
        return self._fully_connected(node, x, w, None, out)

    def _fully_connected(self, node: Node, x: Value, w: Value, bias: Value | None,
                         out: PerTensor) -> Value | None:
        xq = x.type.quant
        channels = w.type.shape[0]
        w_scales = _scales(w.type, channels)
        operands = [x, w]
        if bias is not None:
            if bias.type.numel != channels:
                return None
            operands.append(self._bias(node, bias, xq.scale, w_scales))
        attrs = {"x_zp": xq.zero_point, "out_zp": out.zero_point}
        attrs.update(self._requant_attrs([xq.scale * s / out.scale for s in w_scales],
                                         isinstance(w.type.quant, PerAxis)))
        attrs.update(self._act_range(node, out))
        return self._emit(node, "qfully_connected", operands, attrs, out)

    def _lower_add(self, node: Node, out: PerTensor) -> Value | None:
        a, b = (self._activation(v) for v in node.operands)
        if a is None or b is None:
            return None
        aq, bq = a.type.quant, b.type.quant
        attrs = {"a_zp": aq.zero_point, "b_zp": bq.zero_point, "out_zp": out.zero_point,
                 **add_params(aq.scale, bq.scale, out.scale), **self._act_range(node, out)}
        return self._emit(node, "qadd", [a, b], attrs, out)

    def _lower_mul(self, node: Node, out: PerTensor) -> Value | None:
        a, b = (self._activation(v) for v in node.operands)
        if a is None or b is None:
            return None
        aq, bq = a.type.quant, b.type.quant
        attrs = {"a_zp": aq.zero_point, "b_zp": bq.zero_point, "out_zp": out.zero_point,
                 **self._requant_attrs([aq.scale * bq.scale / out.scale], False),
                 **self._act_range(node, out)}
        return self._emit(node, "qmul", [a, b], attrs, out)

    def _pool(self, node: Node, out: PerTensor, op: str) -> Value | None:
        x = self._activation(node.operands[0])
        a = node.attrs
        if x is None or a.get("ceil_mode") or tuple(a.get("dilations", (1, 1))) != (1, 1):
            return None
        if op == "qavg_pool" and a.get("count_include_pad") and any(a.get("pads", ())):
            return None
        attrs = {k: a[k] for k in ("kernel", "strides", "pads") if k in a}
        attrs["layout"] = a.get("layout", "nchw")
        xq = x.type.quant
        if xq == out:
            return self._emit(node, op, [x], attrs, out)
        pooled = self._emit(node, op, [x], attrs, xq, f"{node.result.name}.pooled")
        return self._requantize(node, pooled, out)

    def _requantize(self, node: Node, x: Value, out: PerTensor) -> Value:
        xq = x.type.quant
        attrs = {"x_zp": xq.zero_point, "out_zp": out.zero_point,
                 **self._requant_attrs([xq.scale / out.scale], False)}
        return self._emit(node, "requantize", [x], attrs, out, f"{x.name}.requant")

    def _lower_avg_pool(self, node: Node, out: PerTensor) -> Value | None:
        return self._pool(node, out, "qavg_pool")

    def _lower_max_pool(self, node: Node, out: PerTensor) -> Value | None:
        return self._pool(node, out, "qmax_pool")

    def _lower_global_avg_pool(self, node: Node, out: PerTensor) -> Value | None:
        x = self._activation(node.operands[0])
        if x is None or x.type.rank != 4:
            return None
        return self._mean(node, x, node.attrs.get("layout", "nchw"), out)

    def _lower_reduce_mean(self, node: Node, out: PerTensor) -> Value | None:
        x = self._activation(node.operands[0])
        if x is None or x.type.rank != 4 or not node.attrs.get("keepdims", True):
            return None
        axes = tuple(sorted(a % 4 for a in node.attrs.get("axes", ())))
        layout = {(2, 3): "nchw", (1, 2): "nhwc"}.get(axes)
        return None if layout is None else self._mean(node, x, layout, out)

    def _mean(self, node: Node, x: Value, layout: str, out: PerTensor) -> Value:
        xq = x.type.quant
        attrs = {"layout": layout, "x_zp": xq.zero_point, "out_zp": out.zero_point,
                 **self._requant_attrs([xq.scale / out.scale], False)}
        return self._emit(node, "qmean", [x], attrs, out)

    def _lower_move(self, node: Node, out: PerTensor) -> Value | None:
        operands = []
        for i, v in enumerate(node.operands):
            if node.op == "gather" and i == 1:
                if not v.is_constant:
                    return None
                operands.append(v)
                continue
            x = self._activation(v)
            if x is None:
                return None
            if x.type.quant != out:
                if node.op != "concat":
                    return None
                x = self._requantize(node, x, out)
            operands.append(x)
        attrs = dict(node.attrs)
        if node.op == "pad":
            if attrs.get("mode", "constant") != "constant" or attrs.get("value", 0.0) != 0.0:
                return None
            attrs["value"] = float(out.zero_point)
        return self._emit(node, node.op, operands, attrs, out)

    def _fixed(self, node: Node, out: PerTensor, op: str, make, names) -> Value | None:
        x = self._activation(node.operands[0])
        if x is None or (out.scale, out.zero_point) != FIXED_OUTPUT.get(op, (out.scale,
                                                                         out.zero_point)):
            return None
        try:
            params = make(x.type.quant, out)
        except ValueError:
            return None  # outside what the int8 kernel accepts: stays float
        return self._emit(node, op, [x], params_attrs(params, names), out)

    def _lower_softmax(self, node: Node, out: PerTensor) -> Value | None:
        rank = node.operands[0].type.rank
        if node.attrs.get("axis", -1) % rank != rank - 1:
            return None
        return self._fixed(node, out, "qsoftmax",
                           lambda xq, oq: arith.softmax_int8_params(xq.scale), SOFTMAX_ATTRS)

    def _lower_sigmoid(self, node: Node, out: PerTensor) -> Value | None:
        return self._fixed(node, out, "qlogistic",
                           lambda xq, oq: arith.logistic_int8_params(xq.scale, xq.zero_point),
                           ACT_ATTRS)

    def _lower_tanh(self, node: Node, out: PerTensor) -> Value | None:
        return self._fixed(node, out, "qtanh",
                           lambda xq, oq: arith.tanh_int8_params(xq.scale, xq.zero_point),
                           ACT_ATTRS)

    def _lower_hard_swish(self, node: Node, out: PerTensor) -> Value | None:
        return self._fixed(node, out, "qhard_swish",
                           lambda xq, oq: arith.hard_swish_int8_params(
                               xq.scale, xq.zero_point, oq.scale, oq.zero_point),
                           HARD_SWISH_ATTRS)


def _scales(t: TensorType, channels: int) -> list[float]:
    q = t.quant
    return list(q.scales) if isinstance(q, PerAxis) else [q.scale] * channels
