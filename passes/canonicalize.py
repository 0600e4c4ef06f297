"""canonicalize: the cleanup every pipeline wants.

Matches and rewrites, until nothing changes:
  * ``identity`` and ``dropout``: uses of the result read the operand instead;
  * a node whose operands are all constants: replaced by its result computed with the
    reference semantics (constant folding), when the result has at most
    ``fold-limit`` elements; quantize/dequantize nodes are kept for the quantizer;
  * ``transpose`` of ``transpose``: one transpose with the composed permutation; a
    transpose with the identity permutation, or one that only moves size-1 dimensions,
    becomes a reshape (or nothing);
  * ``reshape`` of ``reshape``: one reshape; a reshape to the same shape: nothing;
  * an elementwise activation of a reshape read by nothing else: the reshape moves after
    it (so that the reshape pairs 1-D models are lifted with meet and cancel, and the
    activation meets the conv it can fuse into);
  * dead code: nodes whose results nobody reads, and unused constants;
  * constants are listed in order of first use, so dumps read top to bottom.
Preserves: the graph's outputs bit for bit (folding uses the interpreter's semantics);
the relative order of the remaining nodes. Needs nothing before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import ops
from compiler.ir import Graph, Node, constant
from compiler.passbase import Pass, PassResult
from compiler.rewrite import all_constant, build, only_user, producer_of

# QDQ pairs on constants are kept: the quantization rewriting reads their parameters.
NO_FOLD = frozenset({"quantize_linear", "dequantize_linear"})
# Elementwise activations (float, no axis) a reshape can move across.
SINKS_RESHAPE = frozenset({"relu", "clip", "sigmoid", "tanh", "leaky_relu", "hard_sigmoid",
                           "hard_swish"})


@dataclass
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "remove identities and dead code, fold constants, merge transposes and reshapes"
    fold_limit: int = 1 << 22

    def run(self, graph: Graph) -> PassResult:
        stats = {"identities-removed": 0, "constants-folded": 0, "transposes-merged": 0,
                 "reshapes-merged": 0, "reshapes-sunk": 0, "dead-nodes-removed": 0,
                 "constants-removed": 0}
        changed = True
        any_change = False
        while changed:
            changed = False
            for node in list(graph.nodes):
                if node.graph is not graph:
                    continue
                key = self._rewrite(graph, node)
                if key:
                    stats[key] += 1
                    changed = any_change = True
            removed = remove_dead_nodes(graph)
            stats["dead-nodes-removed"] += removed
            changed |= removed > 0
            any_change |= removed > 0
        stats["constants-removed"] = graph.remove_unused_constants()
        any_change |= stats["constants-removed"] > 0
        any_change |= sort_constants(graph)
        return PassResult(any_change, {k: v for k, v in stats.items() if v})

    def _rewrite(self, graph: Graph, node: Node) -> str | None:
        if node.op in ("identity", "dropout"):
            graph.replace_node(node, [node.operands[0]])
            return "identities-removed"
        if node.op not in NO_FOLD and node.operands and all_constant(node.operands) and all(
            r.type.numel <= self.fold_limit for r in node.results
        ):
            return self._fold(graph, node)
        if node.op == "transpose":
            return self._transpose(graph, node)
        if node.op == "reshape":
            return self._reshape(graph, node)
        if node.op in SINKS_RESHAPE:
            return self._sink_reshape(graph, node)
        return None

    @staticmethod
    def _sink_reshape(graph: Graph, node: Node) -> str | None:
        inner = producer_of(node.operands[0], "reshape")
        if inner is None or only_user(graph, inner.result) is not node:
            return None
        act = build(node.op, [inner.operands[0]], dict(node.attrs), node.loc,
                    [f"{node.result.name}.pre"])
        graph.insert_before(node, act)
        shape = build("reshape", [act.result], {"shape": node.result.type.shape}, node.loc,
                      [node.result.name])
        graph.insert_before(node, shape)
        graph.replace_node(node, [shape.result])
        return "reshapes-sunk"

    def _fold(self, graph: Graph, node: Node) -> str:
        arrays = ops.get(node.op).eval_node(node, [v.data for v in node.operands])
        new = []
        for value, array in zip(node.results, arrays):
            c = constant(np.asarray(array, value.type.np_dtype), value.name, value.type.quant)
            graph.constants.append(c)
            new.append(c)
        graph.replace_node(node, new)
        return "constants-folded"

    def _transpose(self, graph: Graph, node: Node) -> str | None:
        x = node.operands[0]
        rank = x.type.rank
        perm = tuple(node.attrs.get("perm") or reversed(range(rank)))
        inner = producer_of(x, "transpose")
        if inner is not None:
            inner_perm = tuple(inner.attrs.get("perm") or reversed(range(rank)))
            composed = tuple(inner_perm[p] for p in perm)
            new = build("transpose", [inner.operands[0]], {"perm": composed}, node.loc,
                        [node.result.name])
            graph.insert_before(node, new)
            graph.replace_node(node, [new.result])
            return "transposes-merged"
        non_unit = [p for p in perm if x.type.shape[p] != 1]
        if non_unit == sorted(non_unit):  # only size-1 axes move: the bytes stay in order
            new = build("reshape", [x], {"shape": node.result.type.shape}, node.loc,
                        [node.result.name])
            graph.insert_before(node, new)
            graph.replace_node(node, [new.result])
            return "transposes-merged"
        return None

    def _reshape(self, graph: Graph, node: Node) -> str | None:
        x = node.operands[0]
        if x.type.shape == node.result.type.shape and x.type.quant == node.result.type.quant:
            graph.replace_node(node, [x])
            return "reshapes-merged"
        inner = producer_of(x, "reshape")
        if inner is not None:
            node.set_operand(0, inner.operands[0])
            return "reshapes-merged"
        return None


def remove_dead_nodes(graph: Graph) -> int:
    """Erase nodes none of whose results is read; returns how many."""
    removed = 0
    for node in reversed(list(graph.nodes)):
        if not any(v.uses or graph.is_output(v) for v in node.results):
            graph.erase(node)
            removed += 1
    return removed


def sort_constants(graph: Graph) -> bool:
    """Order ``graph.constants`` by first use in the schedule; True if it changed."""
    first: dict[int, int] = {}
    for position, node in enumerate(graph.nodes):
        for value in node.operands:
            first.setdefault(id(value), position)
    end = len(graph.nodes)
    order = sorted(range(len(graph.constants)),
                   key=lambda i: (first.get(id(graph.constants[i]), end), i))
    if order == list(range(len(order))):
        return False
    graph.constants = [graph.constants[i] for i in order]
    return True
