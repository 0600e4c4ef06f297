"""fold-pad: fold an explicit ``pad`` into the convolution or pooling that reads it.

Matches ``pad`` in constant mode with non-negative pads on the two spatial dimensions only
(H, W for the reader's layout), every reader of whose result is one of:
  * ``conv2d`` with pad value 0;
  * ``avg_pool`` with pad value 0, when the pool has no padding of its own or already
    counts padding (``count_include_pad``);
  * ``max_pool`` with the pad value max_pool pads with itself: -inf for a float tensor,
    the type's minimum for an integer tensor (-inf does not convert to an integer);
and no pool in ceil mode.
Rewrites: each reader's ``pads`` grows by the pad's spatial pads (avg_pool gets
``count_include_pad = true``) and reads the pad's input; the pad disappears once unread.
Preserves: the outputs bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.ir import Graph, Node
from compiler.passbase import Pass, PassResult


@dataclass
class FoldPad(Pass):
    name = "fold-pad"
    summary = "fold explicit zero padding into conv2d / avg_pool / max_pool pads"

    def run(self, graph: Graph) -> PassResult:
        folded = 0
        for pad in [n for n in graph.nodes if n.op == "pad"]:
            readers = pad.result.users
            if graph.is_output(pad.result) or not readers:
                continue
            plans = [self._plan(pad, r) for r in readers]
            if any(p is None for p in plans):
                continue
            for reader, new_pads in zip(readers, plans):
                reader.attrs["pads"] = new_pads
                if reader.op == "avg_pool":
                    reader.attrs["count_include_pad"] = True
                for use in [u for u in pad.result.uses if u.node is reader]:
                    reader.set_operand(use.index, pad.operands[0])
            graph.erase(pad)
            folded += 1
        return PassResult(folded > 0, {"pads-folded": folded} if folded else {})

    @staticmethod
    def _plan(pad: Node, reader: Node) -> tuple[int, ...] | None:
        """The reader's new pads, or None if the pad cannot fold into it."""
        if reader.op not in ("conv2d", "avg_pool", "max_pool") \
                or reader.operands[0] is not pad.result:
            return None
        if sum(1 for u in pad.result.uses if u.node is reader) != 1:
            return None
        if reader.op != "conv2d" and reader.attrs.get("ceil_mode", False):
            return None  # ceil mode's last-window rule depends on where padding ends
        if pad.attrs.get("mode", "constant") != "constant":
            return None
        value = float(pad.attrs.get("value", 0.0))
        if reader.op == "max_pool":
            dtype = pad.result.type.np_dtype
            if np.issubdtype(dtype, np.integer):
                fill = float(np.iinfo(dtype).min)  # what max_pool pads an integer tensor with
                if value != fill:
                    return None
            elif not (math.isinf(value) and value < 0):
                return None
        elif value != 0.0:
            return None
        pads = list(pad.attrs["pads"])
        rank = len(pads) // 2
        if rank != 4 or min(pads) < 0:
            return None
        spatial = (2, 3) if reader.attrs.get("layout", "nchw") == "nchw" else (1, 2)
        if any(pads[i] or pads[i + rank] for i in range(rank) if i not in spatial):
            return None
        old = tuple(reader.attrs.get("pads", (0, 0, 0, 0)))
        if reader.op == "avg_pool" and any(old) and not reader.attrs.get("count_include_pad"):
            return None
        h, w = spatial
        return (old[0] + pads[h], old[1] + pads[w],
                old[2] + pads[h + rank], old[3] + pads[w + rank])
