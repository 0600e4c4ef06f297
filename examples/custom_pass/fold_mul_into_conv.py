"""fold-mul-into-conv: fold a constant scalar or per-channel mul into the conv2d before it.

Matches ``mul(conv2d(...), c)``, operands in either order: ``c`` a finite constant, a scalar
or varying along the output channel axis only (nchw [C,1,1], [1,C,1,1]; nhwc [C], [1,1,1,C]);
the conv2d with constant weights, a constant bias or none, no ``clamp`` (it cannot move past
the mul) and no reader but the mul. Rewrites: weights and bias (if any) scaled per output
channel; the mul's own clamp, if any, moves to the conv; the mul is removed.
Preserves: the outputs up to float rounding (products in float64, rounded once)."""
from dataclasses import dataclass

import numpy as np

from compiler.ir import Graph, Node
from compiler.passbase import Pass, PassResult
from compiler.pipeline import register_pass
from compiler.rewrite import all_constant, only_user, producer_of


@register_pass
@dataclass
class FoldMulIntoConv(Pass):
    name = "fold-mul-into-conv"
    summary = "fold mul by a constant scalar or per-channel vector into the preceding conv2d"

    def run(self, graph: Graph) -> PassResult:
        matches = [(mul, self.match(graph, mul)) for mul in graph.nodes if mul.op == "mul"]
        matches = [(mul, m) for mul, m in matches if m is not None]  # all matched, then rewritten
        for mul, (conv, factor) in matches:
            for i, v in enumerate(conv.operands[1:], start=1):  # weights [O, ...], bias [O]
                scaled = v.data.astype(np.float64) * factor.reshape(-1, *[1] * (v.type.rank - 1))
                conv.set_operand(i, graph.add_constant(scaled.astype(v.type.np_dtype), v.name))
            conv.attrs.update(mul.attrs)  # mul's only attribute is clamp: it now clamps the conv
            graph.replace_node(mul, [conv.result])
        if matches:
            graph.remove_unused_constants()  # the old weights and biases, unless shared
        return PassResult(bool(matches), {"muls-folded": len(matches)} if matches else {})

    def match(self, graph: Graph, mul: Node) -> tuple[Node, np.ndarray] | None:
        """The conv2d and its factor per output channel if ``mul`` matches, else None."""
        x, c = mul.operands if mul.operands[1].is_constant else mul.operands[::-1]
        conv = producer_of(x, "conv2d")
        if conv is None or conv.attrs.get("clamp") or only_user(graph, x) is not mul:
            return None
        out, axis = conv.result.type.shape, 1 if conv.attrs.get("layout", "nchw") == "nchw" else 3
        dims = enumerate(c.type.shape, start=len(out) - c.type.rank)  # aligned to out's right
        if (not all_constant([c, *conv.operands[1:]]) or not np.isfinite(c.data).all()
                or mul.result.type.shape != out or any(n != 1 for i, n in dims if i != axis)):
            return None
        return conv, np.broadcast_to(c.data.astype(np.float64).reshape(-1), out[axis])
