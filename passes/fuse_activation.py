"""fuse-activation: fold ReLU, ReLU6 and Clip into the op that produces their input.

Matches ``relu`` or ``clip`` whose operand is produced by ``conv2d``, ``conv_transpose2d``,
``gemm``, ``matmul``, ``add``, ``sub`` or ``mul``, and is read by nothing else (and is no
graph output).
Rewrites: the producer's ``clamp`` attribute becomes the intersection of its old clamp
and the activation's range (relu: [0, inf]; clip: [min, max]); the activation is removed.
Preserves: the outputs bit for bit (clamping commutes with nothing else here: the clamp is
applied to the producer's exact result).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir import Graph, Node
from compiler.passbase import Pass, PassResult
from compiler.rewrite import only_user

PRODUCERS = ("conv2d", "conv_transpose2d", "gemm", "matmul", "add", "sub", "mul")


@dataclass
class FuseActivation(Pass):
    name = "fuse-activation"
    summary = "fold relu/relu6/clip into the producing conv, gemm, matmul or add as a clamp"

    def run(self, graph: Graph) -> PassResult:
        fused = 0
        for act in [n for n in graph.nodes if n.op in ("relu", "clip")]:
            x = act.operands[0]
            producer = x.producer
            if producer is None or producer.op not in PRODUCERS or only_user(graph, x) is not act:
                continue
            lo, hi = activation_range(act)
            old = producer.attrs.get("clamp") or (float("-inf"), float("inf"))
            new_lo, new_hi = max(lo, old[0]), min(hi, old[1])
            if new_lo > new_hi:
                continue  # an empty range would change the semantics of clip
            producer.attrs["clamp"] = (new_lo, new_hi)
            graph.replace_node(act, [x])
            fused += 1
        return PassResult(fused > 0, {"activations-fused": fused} if fused else {})


def activation_range(node: Node) -> tuple[float, float]:
    if node.op == "relu":
        return 0.0, float("inf")
    return float(node.attrs.get("min", float("-inf"))), float(node.attrs.get("max", float("inf")))
