"""place-weights: choose which weights are pinned into SRAM.

Matches a lowered graph (after lower-c: the tables the kernels read are its constants).
Rewrites nothing; it records the decision in the graph's attributes, where the C backend
reads it: ``pinned_weights`` (the pinned constants' names) and ``pinned_bytes``.
Policies (``pin``): ``none`` (the default: every weight stays in the weights region,
usually flash), ``all``, or ``hot``: the constants read most per multiply-accumulate
first (bytes read per MAC of the layer that reads them, e.g. fully connected weights
before convolution weights, which are reused over the image), while they fit ``budget``
bytes. An int8 layer's weights are pinned with its per-channel requantization tables; the
budget and ``pinned_bytes`` count the bytes the C backend emits (its kernels' layouts and
tables: backends.c.lower.table_bytes). Constant
names are made unique first so that the decision is unambiguous.
Preserves: all semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.c.lower import table_bytes
from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph
from compiler.passbase import Pass, PassResult


@dataclass
class PlaceWeights(Pass):
    name = "place-weights"
    summary = "pin weights into SRAM: none, all, or the hottest within a budget"
    pin: str = "none"
    budget: int = 0

    def run(self, graph: Graph) -> PassResult:
        if self.pin not in ("none", "all", "hot"):
            raise EdgeirError(f"pin must be none, all or hot, not {self.pin!r}", "--pin",
                              None, "usage")
        seen: dict[str, int] = {}
        for c in graph.constants:  # unique names: the decision names constants
            n = seen.get(c.name, 0)
            seen[c.name] = n + 1
            if n:
                c.name = f"{c.name}_{n}"
        heat, size = {}, table_bytes(graph)
        for node in graph.nodes:
            macs = max(ops.get(node.op).macs_of(node), 1)
            for v in node.operands:
                if v.is_constant:
                    heat[v.name] = max(heat.get(v.name, 0.0), v.type.nbytes / macs)
        used = [c for c in graph.constants if c.uses]
        if self.pin == "none":
            chosen = []
        elif self.pin == "all":
            chosen = used
        else:
            chosen, total = [], 0
            for c in sorted(used, key=lambda c: (-heat.get(c.name, 0.0), c.name)):
                if total + size[c.name] <= self.budget:
                    chosen.append(c)
                    total += size[c.name]
        names = tuple(sorted(c.name for c in chosen))
        graph.attrs["pinned_weights"] = names
        graph.attrs["pinned_bytes"] = sum(size[c.name] for c in chosen)
        return PassResult(bool(names), {"pinned": len(names),
                                        "pinned-bytes": graph.attrs["pinned_bytes"]})
