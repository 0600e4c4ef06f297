"""to-nhwc: channels-last layout for the kernels, transposes only at the graph's edges.

Matches every node with ``layout = "nchw"`` on a rank-4 input: conv2d, conv_transpose2d,
max_pool, avg_pool, global_avg_pool, global_max_pool, batch_norm.
Rewrites:
  1. each such node to ``layout = "nhwc"`` between a transpose to NHWC and one back to
     NCHW; a constant conv2d weight is permuted to OHWI at compile time;
  2. transposes back to NCHW are pushed down through layout-agnostic ops (elementwise
     ops, softmax, concat, split, lrn, pad, slice, resize, reduce_mean with keepdims), whose
     axes and constant operands are permuted to match;
  3. ``transpose -> reshape [N, K] -> gemm`` with a constant B (the flatten before a
     fully connected layer) reads the NHWC tensor directly: B's K axis is permuted;
  4. canonicalize then cancels transpose pairs, and turns transposes that only move
     size-1 dimensions (after a global pool) into reshapes.
Preserves: the graph's inputs and outputs and their layout (a transpose stays where an
NCHW tensor enters or leaves the graph); the outputs bit for bit; the node order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import ops
from compiler.ir import Graph, Node, PerAxis, PerTensor, Quant
from compiler.passbase import Pass, PassResult
from compiler.rewrite import build, only_user, producer_of
from passes.canonicalize import Canonicalize

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
LAYOUT_OPS = ("conv2d", "conv_transpose2d", "max_pool", "avg_pool", "global_avg_pool",
              "global_max_pool", "batch_norm", "qconv2d", "qavg_pool", "qmax_pool", "qmean")
UNARY = ("relu", "leaky_relu", "clip", "sigmoid", "tanh", "hard_sigmoid", "hard_swish",
         "identity", "dropout", "cast", "quantize", "dequantize", "requantize")
BINARY = ("add", "sub", "mul", "div", "qadd", "qmul")
AXIS_OPS = ("softmax", "log_softmax", "concat", "split", "lrn")


@dataclass
class ToNHWC(Pass):
    name = "to-nhwc"
    summary = "convert convolutions and pools to NHWC; transposes only at graph edges"

    def run(self, graph: Graph) -> PassResult:
        converted = 0
        for node in list(graph.nodes):
            if node.op in LAYOUT_OPS and layout_of(node) == "nchw" \
                    and node.operands[0].type.rank == 4:
                self._convert(graph, node)
                converted += 1
        if not converted:
            return PassResult(False)
        # (int8 ops push through the same rules: quantization is per tensor on activations.)
        pushed = flattened = 0
        progress = True
        while progress:
            progress = False
            Canonicalize().run(graph)
            for node in list(graph.nodes):
                if node.graph is not graph:
                    continue
                if self._push_down(graph, node):
                    pushed += 1
                    progress = True
                elif self._fold_flatten(graph, node):
                    flattened += 1
                    progress = True
        Canonicalize().run(graph)
        remaining = sum(1 for n in graph.nodes if n.op == "transpose")
        return PassResult(True, {"nodes-converted": converted, "transposes-pushed": pushed,
                                 "flattens-folded": flattened, "transposes-left": remaining})

    # -- step 1 -----------------------------------------------------------------------------
    @staticmethod
    def _convert(graph: Graph, node: Node) -> None:
        x = node.operands[0]
        t_in = build("transpose", [x], {"perm": TO_NHWC}, node.loc, [f"{x.name}.nhwc"])
        graph.insert_before(node, t_in)
        node.set_operand(0, t_in.result)
        if node.op in ("conv2d", "qconv2d"):
            w = node.operands[1]
            if w.is_constant:
                node.set_operand(1, graph.add_constant(np.transpose(w.data, TO_NHWC), w.name,
                                                       transposed_quant(w.type.quant, TO_NHWC)))
            else:
                t_w = build("transpose", [w], {"perm": TO_NHWC}, node.loc, [f"{w.name}.ohwi"])
                graph.insert_before(node, t_w)
                node.set_operand(1, t_w.result)
        node.attrs["layout"] = "nhwc"
        old = node.result
        uses = list(old.uses)
        was_output = [i for i, v in enumerate(graph.outputs) if v is old]
        old.type = old.type.with_shape([old.type.shape[p] for p in TO_NHWC])
        t_out = build("transpose", [old], {"perm": TO_NCHW}, node.loc, [f"{old.name}.nchw"])
        graph.insert_after(node, t_out)
        for use in uses:
            use.node.set_operand(use.index, t_out.result)
        for i in was_output:
            graph.outputs[i] = t_out.result

    # -- step 2 -----------------------------------------------------------------------------
    def _push_down(self, graph: Graph, node: Node) -> bool:
        if node.op not in UNARY + BINARY + AXIS_OPS + ("pad", "slice", "resize", "reduce_mean"):
            return False
        perm = self._common_perm(node)
        if perm is None:
            return False
        if node.op == "reduce_mean" and not node.attrs.get("keepdims", True):
            return False
        inv = tuple(int(i) for i in np.argsort(perm))
        operands = []
        for v in node.operands:
            t = producer_of(v, "transpose")
            if t is not None and not v.is_constant:
                operands.append(t.operands[0])
            else:  # a constant: broadcast to rank 4, then permute like the data
                lead = 4 - v.data.ndim
                data = v.data.reshape((1,) * lead + v.data.shape)
                quant = v.type.quant
                if isinstance(quant, PerAxis):
                    quant = PerAxis(quant.axis + lead, quant.scales, quant.zero_points)
                operands.append(graph.add_constant(np.transpose(data, inv), v.name,
                                                   transposed_quant(quant, inv)))
        attrs = remap_attrs(node, perm)
        new = build(node.op, operands, attrs, node.loc, [r.name for r in node.results])
        for old, r in zip(node.results, new.results):  # int8 ops: keep the result's scale
            r.type = r.type.with_dtype(r.type.dtype, old.type.quant)
        graph.insert_before(node, new)
        backs = []
        for r in new.results:
            back = build("transpose", [r], {"perm": perm}, node.loc, [r.name])
            graph.insert_before(node, back)
            backs.append(back.result)
        graph.replace_node(node, backs)
        return True

    @staticmethod
    def _common_perm(node: Node) -> tuple[int, ...] | None:
        perm = None
        for v in node.operands:
            if v.is_constant:
                if v.type.rank > 4 or not isinstance(v.type.quant, (type(None), PerTensor)):
                    return None
                continue
            t = producer_of(v, "transpose")
            if t is None or v.type.rank != 4:
                return None
            p = tuple(t.attrs.get("perm") or (3, 2, 1, 0))
            if perm is not None and p != perm:
                return None
            perm = p
        return perm

    # -- step 3 -----------------------------------------------------------------------------
    @staticmethod
    def _fold_flatten(graph: Graph, node: Node) -> bool:
        if node.op != "gemm" or node.attrs.get("trans_a", False) \
                or not node.operands[1].is_constant:
            return False
        reshape = producer_of(node.operands[0], "reshape")
        if reshape is None or only_user(graph, reshape.result) is not node:
            return False
        t = producer_of(reshape.operands[0], "transpose")
        if t is None or t.operands[0].type.rank != 4:
            return False
        nhwc = t.operands[0].type.shape
        nchw = reshape.operands[0].type.shape
        if reshape.result.type.shape != (nchw[0], int(np.prod(nchw[1:]))):
            return False
        perm = tuple(t.attrs.get("perm") or (3, 2, 1, 0))
        if perm[0] != 0:
            return False
        # Column k of the flattened NCHW tensor; which flattened NHWC column holds it.
        k_nchw = np.arange(int(np.prod(nchw[1:]))).reshape(nchw[1:])
        order = np.transpose(k_nchw, np.argsort(perm)[1:] - 1).reshape(-1)
        b = node.operands[1].data
        trans_b = node.attrs.get("trans_b", False)
        new_b = b[:, order] if trans_b else b[order, :]
        quant = node.operands[1].type.quant
        if isinstance(quant, PerAxis) and quant.axis == (1 if trans_b else 0):  # along K
            quant = PerAxis(quant.axis, tuple(quant.scales[k] for k in order),
                            tuple(quant.zero_points[k] for k in order))
        flat = build("reshape", [t.operands[0]], {"shape": (nhwc[0], int(np.prod(nhwc[1:])))},
                     reshape.loc, [reshape.result.name])
        graph.insert_before(node, flat)
        node.set_operand(0, flat.result)
        node.set_operand(1, graph.add_constant(np.ascontiguousarray(new_b), node.operands[1].name,
                                               quant))
        return True


def layout_of(node: Node) -> str:
    """The node's layout, with the op's own default (nchw for float ops, nhwc for int8)."""
    return ops.get(node.op).attrs_of(node).layout


def transposed_quant(quant: Quant | None, perm: tuple[int, ...]) -> Quant | None:
    """The quantization of ``np.transpose(data, perm)`` for ``data`` quantized as ``quant``:
    a per-axis quantization follows its axis (axis ``b`` becomes ``perm.index(b)``)."""
    if isinstance(quant, PerAxis):
        return PerAxis(tuple(perm).index(quant.axis), quant.scales, quant.zero_points)
    return quant


def remap_attrs(node: Node, perm: tuple[int, ...]) -> dict:
    """Attributes of ``node`` moved from the transposed tensor's axes to the original's.

    Axis ``a`` of ``transpose(x, perm)`` is axis ``perm[a]`` of ``x``.
    """
    attrs = dict(node.attrs)
    rank = len(perm)
    if node.op in AXIS_OPS:
        attrs["axis"] = perm[attrs.get("axis", -1) % rank]
    elif node.op == "pad":
        pads = attrs["pads"]
        new = [0] * (2 * rank)
        for a in range(rank):
            new[perm[a]] = pads[a]
            new[perm[a] + rank] = pads[a + rank]
        attrs["pads"] = tuple(new)
    elif node.op == "slice":
        attrs["axes"] = tuple(perm[a % rank] for a in attrs["axes"])
    elif node.op == "resize":
        inv = np.argsort(perm)
        attrs["sizes"] = tuple(attrs["sizes"][i] for i in inv)
        attrs["scales"] = tuple(attrs["scales"][i] for i in inv)
    elif node.op == "reduce_mean":
        axes = attrs.get("axes") or tuple(range(rank))
        attrs["axes"] = tuple(sorted(perm[a % rank] for a in axes))
    return attrs


