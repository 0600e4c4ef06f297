"""quantize: post-training int8 quantization, calibrated on representative data.

Matches a float graph (run the float pipeline first: fold-batchnorm and fuse-activation
give the int8 kernels their fused bias and clamp).
Rewrites, in schedule order, each float op that has an int8 kernel into that kernel
(conv2d, gemm/matmul with constant weights, add, mul, pools, global average pool and
spatial means, softmax, sigmoid, tanh, hard-swish, and the data-movement ops), with:
  * activations int8, per tensor, asymmetric, from the calibrated range (observer
    ``minmax``, ``percentile`` or ``mse``; the range always includes 0);
  * weights int8, symmetric, per output channel (``per-channel=false``: per tensor);
    biases int32 at scale input x weight;
  * fixed output parameters where the int8 spec fixes them: softmax and sigmoid
    (1/256, -128), tanh (1/128, 0); pools and data movement keep their input's
    parameters (as the TFLM kernels require);
  * ops without an int8 kernel stay float between dequantize and quantize.
Graph inputs and outputs stay float (quantize/dequantize at the edges) unless
``io=int8``, which makes them int8 with the calibrated parameters.
Preserves: the graph's interface names; the schedule order of what remains.
Errors: calibration data that does not match the graph, NaN/Inf weights or data, and a
value that is the same constant on all calibration data (its range is empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, Value, constant
from compiler.ops.qnn import FIXED_OUTPUT
from compiler.passbase import Pass, PassResult
from compiler.quant import calib
from compiler.quant.lower import Int8Lowering
from compiler.rewrite import build
from passes.canonicalize import remove_dead_nodes

# Ops whose int8 kernel outputs their input's quantization.
KEEP_QUANT = ("max_pool", "avg_pool", "reshape", "transpose", "slice", "gather", "pad")
FIXED = {"softmax": "qsoftmax", "sigmoid": "qlogistic", "tanh": "qtanh"}


@dataclass
class Quantize(Pass):
    name = "quantize"
    summary = "post-training int8 quantization calibrated on representative data"
    calib: str = ""
    observer: str = "minmax"
    percentile: float = 99.99
    io: str = "float"
    per_channel: bool = True

    def run(self, graph: Graph) -> PassResult:
        if not self.calib:
            raise EdgeirError("the quantize pass needs calibration data", "-p",
                              "write quantize{calib=DATA.npz}", "usage")
        samples = calib.load_samples(graph, self.calib)
        return quantize_graph(graph, samples, self.observer, self.percentile, self.io,
                              self.per_channel)


def quantize_graph(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]],
                   observer: str = "minmax", percentile: float = 99.99, io: str = "float",
                   per_channel: bool = True, progress: bool = False) -> PassResult:
    """Quantize ``graph`` in place (the Python API of the ``quantize`` pass)."""
    if io not in ("float", "int8"):
        raise EdgeirError(f"io must be float or int8, not {io!r}", "--io", None, "usage")
    _check_weights(graph)
    ranges = calib.calibrate(graph, samples, observer, percentile, progress)
    lowering = _PtqLowering(graph, ranges, per_channel)
    lowering.run(io)
    return PassResult(True, {k: v for k, v in lowering.stats.items() if v})


def _check_weights(graph: Graph) -> None:
    for c in graph.constants:
        if c.data.dtype.kind == "f" and not np.all(np.isfinite(c.data)):
            readers = ", ".join(u.node.label for u in c.uses[:2]) or "nothing"
            raise EdgeirError(f"constant %{c.name} (read by {readers}) contains NaN or Inf",
                              None, "fix the model's weights", "input")


def quant_from_range(lo: float, hi: float) -> PerTensor:
    """Asymmetric int8 parameters for [lo, hi] (which contains 0): zero is exact."""
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return PerTensor(float(np.float32(scale)), zp)


class _PtqLowering(Int8Lowering):
    def __init__(self, graph: Graph, ranges: dict[int, tuple[float, float]],
                 per_channel: bool) -> None:
        super().__init__(graph)
        self.ranges = ranges
        self.per_channel = per_channel

    def _fail(self, node: Node, what: str) -> EdgeirError:
        return EdgeirError(what, node.label, "check the model and the calibration data", "input")

    def _quant_of(self, value: Value) -> PerTensor:
        lo, hi = self.ranges[id(value)]
        if hi - lo <= 0:
            where = value.producer.label if value.producer is not None else f"input {value.name!r}"
            raise EdgeirError(f"value %{value.name} is constant ({lo:g}) on all calibration "
                              "data, so it has no int8 range", where,
                              "calibrate on more varied data, or remove the constant branch",
                              "input")
        return quant_from_range(lo, hi)

    def _weight(self, node: Node, value: Value, channel_axis: int) -> Value | None:
        if not value.is_constant or value.type.dtype != "f32":
            return None
        w = value.data.astype(np.float64)
        if self.per_channel:
            axes = tuple(a for a in range(w.ndim) if a != channel_axis)
            peak = np.max(np.abs(w), axis=axes) if axes else np.abs(w)
        else:
            peak = np.full(w.shape[channel_axis], np.max(np.abs(w)))
        scales = np.where(peak > 0, peak / 127.0, 1.0)
        floor = self._bias_floor(node, value, len(scales))
        if not self.per_channel:  # one scale for the tensor: the largest bias decides
            floor = np.full_like(floor, floor.max(initial=0.0))
        scales = np.maximum(scales, floor)
        scales = scales.astype(np.float32).astype(np.float64)
        shape = [1] * w.ndim
        shape[channel_axis] = -1
        q = np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)
        if self.per_channel:
            quant = PerAxis(0, tuple(float(s) for s in scales), (0,) * len(scales))
        else:
            quant = PerTensor(float(scales[0]), 0)
        return constant(q, value.name, quant)

    def _bias_floor(self, node: Node, weight: Value, channels: int) -> np.ndarray:
        """Weight scales below which the bias would not fit int32 (with 2x headroom): a
        channel with tiny weights but a large bias gets a coarser weight scale instead, as
        TFLite's quantizer does (AdjustWeightsForBiasScale: |bias / (s_x s_w)| <= 2^30)."""
        if len(node.operands) < 3 or node.operands[1] is not weight:
            return np.zeros(channels)
        bias, x = node.operands[2], self._activation(node.operands[0])
        if not bias.is_constant or x is None or bias.type.numel != channels:
            return np.zeros(channels)
        return np.abs(bias.data.astype(np.float64).reshape(-1)) / (x.type.quant.scale * 2.0**30)

    def _out_quant(self, node: Node) -> PerTensor | None:
        if node.op in FIXED:
            scale, zp = FIXED_OUTPUT[FIXED[node.op]]
            return PerTensor(scale, zp)
        if node.op in KEEP_QUANT:
            src = self._activation(node.operands[0])
            if src is not None:
                return src.type.quant
        return self._quant_of(node.result)

    def run(self, io: str) -> None:
        g = self.graph
        for value in list(g.inputs):
            if value.type.dtype != "f32":
                continue
            q = self._quant_of(value)
            if io == "int8":
                value.type = TensorType("i8", value.type.shape, q)
                self.int_of[id(value)] = value
                continue
            node = build("quantize", [value], {"scale": q.scale, "zero_point": q.zero_point},
                         value.name, [f"{value.name}.q"])
            node.result.type = TensorType("i8", value.type.shape, q)
            g.nodes.insert(0, node)
            node.graph = g
            self.int_of[id(value)] = node.result
            self.stats["edges-quantized"] += 1
        for node in list(g.nodes):
            if node.op == "quantize" or len(node.results) != 1:
                continue
            if node.result.type.dtype != "f32":
                continue
            new = None
            if any(self._activation(v) is not None for v in node.operands):
                new = self.lower(node, self._out_quant(node))
            if new is not None:
                self.int_of[id(node.result)] = new
                continue
            self._float_island(node)
        self._outputs(io)
        remove_dead_nodes(g)
        g.remove_unused_constants()

    def _float_island(self, node: Node) -> None:
        """Keep ``node`` float: dequantize its int8 operands, quantize its result."""
        for i, v in enumerate(node.operands):
            x = self._activation(v)
            if x is None:
                continue
            q = x.type.quant
            dq = build("dequantize", [x], {"scale": q.scale, "zero_point": q.zero_point},
                       node.loc, [f"{v.name}.f32"])
            self.graph.insert_before(node, dq)
            node.set_operand(i, dq.result)
            self.stats["edges-dequantized"] += 1
        if node.result.type.dtype == "f32" and id(node.result) in self.ranges:
            lo, hi = self.ranges[id(node.result)]
            if hi - lo > 0:
                q = quant_from_range(lo, hi)
                qn = build("quantize", [node.result], {"scale": q.scale,
                                                       "zero_point": q.zero_point},
                           node.loc, [f"{node.result.name}.q"])
                qn.result.type = TensorType("i8", node.result.type.shape, q)
                self.graph.insert_after(node, qn)
                self.int_of[id(node.result)] = qn.result

    def _outputs(self, io: str) -> None:
        g = self.graph
        for i, value in enumerate(g.outputs):
            x = self._activation(value)
            if x is None:
                continue  # computed in float by an island: stays as it is
            if io == "int8":
                g.outputs[i] = x
                continue
            q = x.type.quant
            dq = build("dequantize", [x], {"scale": q.scale, "zero_point": q.zero_point},
                       value.name, [value.name])
            g.append(dq)
            g.outputs[i] = dq.result


def quant_report(float_graph: Graph, int_graph: Graph,
                 samples: list[Mapping[str, np.ndarray]]) -> dict:
    """Per-layer SQNR of the int8 graph against the float graph on ``samples``.

    Layers are matched by value name (give both graphs the same names, e.g. by parsing
    both from printed IR); a layer's int8 result is dequantized with its own scale.
    Output SQNR and top-1 agreement (for outputs with more than one element per row) are
    reported too; the layers that lose most come first.
    """
    from compiler import interp

    f_by_name = {v.name: v for n in float_graph.nodes for v in n.results}
    pairs = []
    for node in int_graph.nodes:
        v = node.result
        if v.type.dtype == "i8" and v.name in f_by_name and isinstance(v.type.quant, PerTensor):
            pairs.append((node, f_by_name[v.name]))
    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    out_signal = out_noise = 0.0
    agree = total = 0
    for s in samples:
        fenv = interp.run_all(float_graph, s)
        ienv = interp.run_all(int_graph, s)
        for node, fv in pairs:
            v_name = node.result.name
            q = node.result.type.quant
            deq = (ienv[id(node.result)].astype(np.float64) - q.zero_point) * q.scale
            ref = fenv[id(fv)].astype(np.float64)
            signal[v_name] = signal.get(v_name, 0.0) + float(np.sum(ref**2))
            noise[v_name] = noise.get(v_name, 0.0) + float(np.sum((ref - deq) ** 2))
        for fo, io_ in zip(float_graph.outputs, int_graph.outputs):
            ref = fenv[id(fo)].astype(np.float64)
            got = ienv[id(io_)].astype(np.float64)
            if io_.type.dtype == "i8":
                q = io_.type.quant
                got = (got - q.zero_point) * q.scale
            out_signal += float(np.sum(ref**2))
            out_noise += float(np.sum((ref - got) ** 2))
            if ref.ndim >= 1 and ref.shape[-1] > 1:
                agree += int(np.sum(np.argmax(ref, -1) == np.argmax(got, -1)))
                total += int(np.prod(ref.shape[:-1]))

    def sqnr(sig: float, noi: float) -> float:
        return float("inf") if noi == 0 else 10 * np.log10(max(sig, 1e-30) / noi)

    layers = [{"node": node.loc, "value": node.result.name, "op": node.op,
               "sqnr_db": round(float(sqnr(signal[node.result.name], noise[node.result.name])), 2)}
              for node, _ in pairs]
    layers.sort(key=lambda r: r["sqnr_db"])
    return {
        "samples": len(samples),
        "output_sqnr_db": round(float(sqnr(out_signal, out_noise)), 2),
        "top1_agreement": None if total == 0 else round(agree / total, 4),
        "layers_worst_first": layers,
    }

