"""fold-batchnorm: fold inference batch normalization into the layer before it.

Matches ``batch_norm`` whose operands other than ``x`` are constants and whose ``x`` is
produced by a ``conv2d`` (constant weight, constant or no bias, no clamp) or a ``gemm``
(``alpha`` and ``beta`` of 1, constant B, constant or no C of shape [N] or [1, N], no
clamp, channel axis 1 of the [M, N] output), and read by nothing else.
Rewrites: weights scaled per output channel by ``gamma / sqrt(var + eps)``; bias becomes
``(bias - mean) * gamma / sqrt(var + eps) + beta``; the batch_norm is removed.
Preserves: the outputs up to float rounding (the folded weights are computed in float64
and rounded once). A ``batch_norm`` with no such producer stays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir import Graph, Node
from compiler.passbase import Pass, PassResult
from compiler.rewrite import all_constant, only_user


@dataclass
class FoldBatchNorm(Pass):
    name = "fold-batchnorm"
    summary = "fold batch_norm into the preceding conv2d or gemm"

    def run(self, graph: Graph) -> PassResult:
        folded = 0
        for bn in [n for n in graph.nodes if n.op == "batch_norm"]:
            producer = self._match(graph, bn)
            if producer is None:
                continue
            self._fold(graph, bn, producer)
            folded += 1
        if folded:
            graph.remove_unused_constants()
        return PassResult(folded > 0, {"batchnorms-folded": folded} if folded else {})

    @staticmethod
    def _match(graph: Graph, bn: Node) -> Node | None:
        x = bn.operands[0]
        producer = x.producer
        if producer is None or only_user(graph, x) is not bn or not all_constant(bn.operands[1:]):
            return None
        if producer.attrs.get("clamp"):
            return None
        layout = bn.attrs.get("layout", "nchw")
        if producer.op == "conv2d":
            ok = producer.attrs.get("layout", "nchw") == layout
            return producer if ok and all_constant(producer.operands[1:]) else None
        if producer.op == "gemm" and x.type.rank == 2:
            a = producer.attrs
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                return None
            if not all_constant(producer.operands[1:]):
                return None
            n = x.type.shape[1]
            if len(producer.operands) > 2 and producer.operands[2].type.shape not in ((n,), (1, n)):
                return None
            return producer
        return None

    @staticmethod
    def _fold(graph: Graph, bn: Node, producer: Node) -> None:
        scale, beta, mean, var = (v.data.astype(np.float64) for v in bn.operands[1:])
        eps = float(bn.attrs.get("epsilon", 1e-5))
        factor = scale / np.sqrt(var + eps)
        w_value = producer.operands[1]
        w = w_value.data.astype(np.float64)
        dtype = w_value.type.np_dtype
        if producer.op == "conv2d":
            out_channels = w.shape[0]
            w = w * factor.reshape(-1, *([1] * (w.ndim - 1)))
        elif producer.attrs.get("trans_b", False):
            out_channels = w.shape[0]
            w = w * factor.reshape(-1, 1)
        else:
            out_channels = w.shape[1]
            w = w * factor.reshape(1, -1)
        if len(producer.operands) > 2:
            bias = producer.operands[2].data.astype(np.float64).reshape(-1)
        else:
            bias = np.zeros(out_channels)
        bias = (bias - mean) * factor + beta
        new_w = graph.add_constant(w.astype(dtype), w_value.name)
        new_b = graph.add_constant(bias.astype(dtype), _bias_name(producer))
        producer.set_operand(1, new_w)
        if len(producer.operands) > 2:
            producer.set_operand(2, new_b)
        else:
            producer.set_operands([*producer.operands, new_b])
        graph.replace_node(bn, [producer.result])


def _bias_name(node: Node) -> str:
    if len(node.operands) > 2 and node.operands[2].name:
        return node.operands[2].name
    return f"{node.loc}.bias" if node.loc else "bias"


