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
from compiler.passbase import Pass, PassResult
from compiler.quant import arith
from compiler.quant.lower import Int8Lowering
from compiler.rewrite import build
from passes.canonicalize import Canonicalize


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


class _Lowering(Int8Lowering):
    def __init__(self, graph: Graph) -> None:
        super().__init__(graph)
        # int8/uint8 activation produced by a quantize_linear -> its int8 replacement
        self.converted: dict[int, Value] = {}

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
        if data.dtype == np.uint8:  # uint8 with zero point 128 is symmetric int8, exactly
            data, zp = (data.astype(np.int16) - 128).astype(np.int8), zp - 128
        if data.dtype != np.int8:
            return None  # no int8 kernel takes these weights; the op stays float
        if np.any(zp != 0):
            return None  # asymmetric weights: no int8 kernel takes them; the op stays float
        if scale.size == 1:
            quant: Any = PerTensor(float(np.float32(scale[0])), 0)
        else:
            if axis % data.ndim != channel_axis:
                raise self._fail(node, f"weights are quantized on axis {axis}, expected "
                                 f"the output channel axis {channel_axis}")
            quant = PerAxis(0, tuple(float(np.float32(s)) for s in scale), (0,) * scale.size)
        return constant(data, name, quant)

    def _bias(self, node: Node, value: Value, x_scale: float, w_scales: list[float]) -> Value:
        if self._const_dq(value) is None:
            return super()._bias(node, value, x_scale, w_scales)
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
        if src.type.dtype == "ui8":  # a uint8 input: shift to int8 exactly
            u8 = PerTensor(quant.scale, quant.zero_point + 128)
            src.type = TensorType("ui8", src.type.shape, u8)
            return self._shift_zero_point(node, src, quant, "i8", f"{src.name}.i8")
        raise self._fail(node, f"{src.type.dtype} activations are not supported (int8/uint8)")

    def _shift_zero_point(self, node: Node, x: Value, out: PerTensor, to: str,
                          name: str) -> Value:
        """x as ``to`` with quantization ``out`` (same scale): an exact requantize."""
        xq = x.type.quant
        m, s = arith.quantize_multiplier(xq.scale / out.scale)
        conv = build("requantize", [x], {"x_zp": xq.zero_point, "out_zp": out.zero_point,
                                         "multiplier": (m,), "shift": (s,), "to": to},
                     node.loc, [name])
        conv.result.type = TensorType(to, x.type.shape, out)
        self.graph.insert_before(node, conv)
        return conv.result

    def _float32_only(self, node: Node, value: Value) -> None:
        """The int8 kernels and the quantize/dequantize edges are float32 on their float
        side (a float16 or float64 activation would make them fail to build)."""
        if value.type.dtype != "f32":
            raise EdgeirError(f"{value.type.dtype} activations around QuantizeLinear/"
                              "DequantizeLinear are not supported (float32 only)", node.label,
                              "export the model with float32 activations", "unsupported")

    def _dequantize(self, node: Node) -> None:
        self._float32_only(node, node.result)
        src = self._source_int(node)
        self.int_of[id(node.result)] = src

    def _quantize(self, node: Node) -> None:
        self._float32_only(node, node.operands[0])
        quant = self._act_quant(node)
        x = node.operands[0]
        producer = x.producer
        new = None
        if producer is not None and all(u.node.op == "quantize_linear" for u in x.uses) \
                and not self.graph.is_output(x):
            new = self.lower(producer, quant)
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
                new = self.converted[id(node.result)]
                if self.graph.is_output(node.result):
                    out = new
                    if node.result.type.dtype == "ui8":
                        q = new.type.quant
                        out = self._shift_zero_point(node, new, PerTensor(q.scale,
                                                     q.zero_point + 128), "ui8",
                                                     f"{node.result.name}.u8")
                    self.graph.outputs = [out if v is node.result else v
                                          for v in self.graph.outputs]
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
        """True for a float op that was lowered: its result feeds only converted QDQ nodes
        (and is no graph output: the float result itself is needed then)."""
        if any(self.graph.is_output(r) for r in node.results):
            return False
        return bool(node.results) and all(
            u.node.op == "quantize_linear" and id(u.node.result) in self.converted
            and self.converted[id(u.node.result)].producer is not None
            and self.converted[id(u.node.result)].producer.op != "quantize"
            for r in node.results for u in r.uses)


