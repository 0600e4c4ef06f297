"""qdq-to-int: turn the QuantizeLinear/DequantizeLinear pairs of a QDQ model into int8 ops.

Matches, in schedule order, every float op whose activation operands are
``dequantize_linear`` of int8/uint8 activations, whose weights and biases are
``dequantize_linear`` of constants, and whose result is read only by ``quantize_linear``
nodes with one scale and zero point:
  * conv2d -> qconv2d; gemm (alpha = beta = 1, constant B) and matmul with a constant
    rank-2 B -> qfully_connected; add -> qadd; mul -> qmul; global_avg_pool and a spatial
    reduce_mean -> qmean; avg_pool / max_pool -> qavg_pool / qmax_pool (plus a requantize
    when the output scale differs); reshape, transpose, slice, gather, pad with a zero
    pad value and concat -> the same op on int8 data (concat operands requantized to the
    output's scale); a fused clamp becomes the integer activation range.
Rewrites: the matched op reads the int8 values directly and produces the int8 value
the quantize_linear produced; weights and biases become typed int8/int32 constants
(uint8 activations become int8 with the zero point shifted by -128, exactly).
``quantize_linear`` of anything left float becomes ``quantize`` (rounding half to even,
as ONNX), and ``dequantize_linear`` of an int8 activation read by float ops (softmax, the
graph outputs, ...) becomes ``dequantize``: those ops stay float, with exactly the model's
scales around them.
Preserves: the model's quantization parameters exactly. Integer results follow the TFLM
kernels (multiplier/shift requantization), so they may differ from onnxruntime's float
requantization by 1 LSB on rounding ties.
Errors: a bias whose scale is not input scale x weight scale, asymmetric (non-zero zero
point) weights, or a per-axis activation scale: one line naming the node.
Run before to-nhwc (it produces NCHW int8 ops that to-nhwc converts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, Value, constant
from compiler.ops.qnn import add_params
from compiler.passbase import Pass, PassResult
from compiler.quant import arith
from compiler.rewrite import build
from passes.canonicalize import Canonicalize

MOVE_OPS = ("reshape", "transpose", "slice", "gather", "pad", "concat")


@dataclass
class QdqToInt(Pass):
    name = "qdq-to-int"
    summary = "lower QuantizeLinear/DequantizeLinear pairs of QDQ models to int8 ops"

    def run(self, graph: Graph) -> PassResult:
        if not any(n.op in ("quantize_linear", "dequantize_linear") for n in graph.nodes):
            return PassResult(False)
        lowering = _Lowering(graph)
        lowering.run()
        Canonicalize().run(graph)
        return PassResult(True, {k: v for k, v in lowering.stats.items() if v})


class _Lowering:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        # float value -> the int8 value it is the dequantization of
        self.int_of: dict[int, Value] = {}
        # int8/uint8 activation produced by a quantize_linear -> its int8 replacement
        self.converted: dict[int, Value] = {}
        self.stats = {"ops-lowered": 0, "float-islands": 0, "edges-quantized": 0,
                      "edges-dequantized": 0}

    # -- parameters ------------------------------------------------------------------------------
    def _params(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        scale = node.operands[1]
        zp = node.operands[2] if len(node.operands) > 2 else None
        if not scale.is_constant or (zp is not None and not zp.is_constant):
            raise self._fail(node, "scale and zero point must be constants")
        zp_data = zp.data if zp is not None else np.zeros(scale.type.shape, np.int64)
        return scale.data.astype(np.float64), zp_data.astype(np.int64)

    def _act_quant(self, node: Node) -> PerTensor:
        """The int8 quantization of a quantize_linear/dequantize_linear on activations."""
        scale, zp = self._params(node)
        if scale.size != 1:
            raise self._fail(node, "activations must be quantized per tensor")
        dtype = node.attrs.get("to", "ui8") if node.op == "quantize_linear" \
            else node.operands[0].type.dtype
        if len(node.operands) > 2:
            dtype = node.operands[2].type.dtype
        z = int(zp.reshape(-1)[0])
        if dtype == "ui8":
            z -= 128
        elif dtype != "i8":
            raise self._fail(node, f"{dtype} activations are not supported (int8/uint8)")
        if float(scale.reshape(-1)[0]) <= 0:
            raise self._fail(node, f"scale {float(scale.reshape(-1)[0])} must be positive")
        return PerTensor(float(np.float32(scale.reshape(-1)[0])), z)

    def _fail(self, node: Node, what: str) -> EdgeirError:
        return EdgeirError(f"{what} in a QDQ model", node.label,
                           "fix the quantization of the model (re-export it)", "input")

    # -- operand views ---------------------------------------------------------------------------
    def _activation(self, value: Value) -> Value | None:
        return self.int_of.get(id(value))

    def _const_dq(self, value: Value) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        node = value.producer
        if node is None or node.op != "dequantize_linear" or not node.operands[0].is_constant:
            return None
        scale, zp = self._params(node)
        return node.operands[0].data, scale.reshape(-1), zp.reshape(-1), node.attrs.get("axis", 1)

    def _weight(self, node: Node, value: Value, channel_axis: int) -> Value | None:
        dq = self._const_dq(value)
        if dq is None:
            return None
        data, scale, zp, axis = dq
        name = value.producer.operands[0].name or value.name
        if data.dtype != np.int8:
            raise self._fail(node, f"weights must be int8, got {data.dtype}")
        if np.any(zp != 0):
            raise self._fail(node, "weights must be symmetric (zero point 0)")
        if scale.size == 1:
            quant: Any = PerTensor(float(np.float32(scale[0])), 0)
        else:
            if axis % data.ndim != channel_axis:
                raise self._fail(node, f"weights are quantized on axis {axis}, expected "
                                 f"the output channel axis {channel_axis}")
            quant = PerAxis(0, tuple(float(np.float32(s)) for s in scale), (0,) * scale.size)
        return constant(data, name, quant)

    def _bias(self, node: Node, value: Value, x_scale: float, w_scales: list[float]) -> Value:
        expected = np.asarray([x_scale * s for s in w_scales])
        dq = self._const_dq(value)
        if dq is None:
            if not value.is_constant:
                raise self._fail(node, "the bias must be a constant")
            q = np.round(value.data.astype(np.float64) / expected)
            return constant(q.astype(np.int32), value.name,
                            PerAxis(0, tuple(float(e) for e in expected), (0,) * len(expected)))
        data, scale, zp, _ = dq
        name = value.producer.operands[0].name or value.name
        scale = np.broadcast_to(scale, expected.shape)
        if data.dtype != np.int32 or np.any(zp != 0):
            raise self._fail(node, "the bias must be int32 with zero point 0")
        if not np.allclose(scale, expected, rtol=1e-5, atol=0):
            worst = int(np.argmax(np.abs(scale / expected - 1)))
            raise self._fail(node, f"bias scale {scale[worst]:.6g} of channel {worst} is not "
                             f"input scale x weight scale = {expected[worst]:.6g} "
                             "(inconsistent QDQ parameters)")
        return constant(data, name,
                        PerAxis(0, tuple(float(np.float32(s)) for s in scale), (0,) * scale.size))

    def _adopt(self, value: Value) -> Value:
        if value.is_constant and not any(value is c for c in self.graph.constants):
            self.graph.constants.append(value)
        return value

    # -- driver ----------------------------------------------------------------------------------
    def run(self) -> None:
        for node in list(self.graph.nodes):
            if node.graph is not self.graph:
                continue
            if node.op == "dequantize_linear" and not node.operands[0].is_constant:
                self._dequantize(node)
            elif node.op == "quantize_linear" and not node.operands[0].is_constant:
                self._quantize(node)
        self._finish()

    def _source_int(self, node: Node) -> Value:
        """The int8 value a dequantize_linear on an activation reads."""
        src = node.operands[0]
        if id(src) in self.converted:
            return self.converted[id(src)]
        quant = self._act_quant(node)
        if src.type.dtype == "i8":  # an int8 graph input (or other int8 producer)
            src.type = TensorType("i8", src.type.shape, quant)
            return src
        raise self._fail(node, f"{src.type.dtype} graph inputs are not supported "
                         "(use int8 or float inputs)")

    def _dequantize(self, node: Node) -> None:
        src = self._source_int(node)
        self.int_of[id(node.result)] = src

    def _quantize(self, node: Node) -> None:
        quant = self._act_quant(node)
        x = node.operands[0]
        producer = x.producer
        new = None
        if producer is not None and all(u.node.op == "quantize_linear" for u in x.uses) \
                and not self.graph.is_output(x):
            new = self._lower(producer, quant)
        if new is None:
            q = build("quantize", [x], {"scale": quant.scale, "zero_point": quant.zero_point,
                                        "round_half_even": True}, node.loc, [node.result.name])
            q.result.type = TensorType("i8", x.type.shape, quant)
            self.graph.insert_before(node, q)
            new = q.result
            self.stats["edges-quantized"] += 1
        self.converted[id(node.result)] = new

    def _finish(self) -> None:
        """Route readers to the int8 values, dequantize for what stayed float, clean up."""
        from passes.canonicalize import remove_dead_nodes

        for node in list(self.graph.nodes):
            if node.op == "quantize_linear" and id(node.result) in self.converted:
                if self.graph.is_output(node.result):
                    raise self._fail(node, "int8 graph outputs of QDQ models are not supported")
                new = self.converted[id(node.result)]
                for use in list(node.result.uses):
                    if use.node.op != "dequantize_linear":
                        use.node.set_operand(use.index, new)
        # The float ops that were lowered are read only by quantize_linear nodes whose
        # readers are dequantize_linear nodes now resolved through int_of: all dead once
        # those dequantize_linear nodes are replaced.
        for node in list(self.graph.nodes):
            if node.op != "dequantize_linear" or id(node.result) not in self.int_of:
                continue
            if not node.result.uses and not self.graph.is_output(node.result):
                continue
            src = self.int_of[id(node.result)]
            if not self.graph.is_output(node.result) and all(
                    self._reads_only_lowered(u.node) for u in node.result.uses):
                continue
            q = src.type.quant
            dq = build("dequantize", [src], {"scale": q.scale, "zero_point": q.zero_point},
                       node.loc, [node.result.name])
            self.graph.insert_before(node, dq)
            self.graph.replace_all_uses(node.result, dq.result)
            self.stats["edges-dequantized"] += 1
        for node in list(self.graph.nodes):
            if node.op == "dequantize_linear" and id(node.result) in self.int_of:
                for use in list(node.result.uses):  # only lowered (dead) ops remain here
                    use.node.drop_operands()
        remove_dead_nodes(self.graph)
        self.graph.remove_unused_constants()

    def _reads_only_lowered(self, node: Node) -> bool:
        """True for a float op that was lowered: its result feeds only converted QDQ nodes."""
        return bool(node.results) and all(
            u.node.op == "quantize_linear" and id(u.node.result) in self.converted
            and self.converted[id(u.node.result)].producer is not None
            and self.converted[id(u.node.result)].producer.op != "quantize"
            for r in node.results for u in r.uses)

    # -- lowering one op -----------------------------------------------------------------------
    def _lower(self, node: Node, out: PerTensor) -> Value | None:
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
            return out.zero_point + float(arith.round_half_away(np.float32(f) / np.float32(out.scale)))

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


def _scales(t: TensorType, channels: int) -> list[float]:
    q = t.quant
    return list(q.scales) if isinstance(q, PerAxis) else [q.scale] * channels
