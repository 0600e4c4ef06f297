"""Cut channels out of a graph: the rewrite half of dead-channel elimination.

``remove_channels`` takes, for each activation value, the channels to drop (whole
dependency groups, see ``compiler.channels``) and, for each layer that reads a dropped
channel, the constant that channel held; it slices weights, biases, per-channel constants
and attributes, folds the constants into the readers' biases, and shrinks the types.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, Quant, Value
from compiler.quant.arith import INT32_MAX, INT32_MIN

# folds[node][c] = the constant that input channel c of layer ``node`` held (in the input's
# own domain: float, or the int8 code).
Folds = Mapping[Node, Mapping[int, float | int]]


def remove_channels(graph: Graph, axes: Mapping[int, int],
                    removed: Mapping[int, Sequence[int]], folds: Folds) -> None:
    """Drop ``removed[id(value)]`` channels everywhere; fold ``folds`` into biases."""
    surgeon = _Surgeon(graph, axes, removed)
    for node in list(graph.nodes):
        surgeon.node(node, folds.get(node, {}))
    for value in graph.values():
        gone = removed.get(id(value))
        if gone:
            shape = list(value.type.shape)
            shape[axes[id(value)]] -= len(gone)
            value.type = value.type.with_shape(shape)
    for node in graph.nodes:
        if not any(id(v) in removed for v in node.results):
            continue
        if node.op == "reshape":
            node.attrs["shape"] = list(node.results[0].type.shape)
        elif node.op == "resize" and node.attrs.get("sizes"):
            node.attrs["sizes"] = list(node.results[0].type.shape)
    graph.remove_unused_constants()


def _delete(array: np.ndarray, channels: Sequence[int], axis: int) -> np.ndarray:
    return np.delete(array, list(channels), axis=axis) if channels else array


def _slice_quant(quant: Quant | None, channels: Sequence[int]) -> Quant | None:
    if isinstance(quant, PerAxis) and channels and len(quant.scales) > 1:
        keep = [i for i in range(len(quant.scales)) if i not in set(channels)]
        return PerAxis(quant.axis, tuple(quant.scales[i] for i in keep),
                       tuple(quant.zero_points[i] for i in keep))
    return quant


class _Surgeon:
    def __init__(self, graph: Graph, axes: Mapping[int, int],
                 removed: Mapping[int, Sequence[int]]) -> None:
        self.graph, self.axes, self.removed = graph, axes, removed

    def gone(self, value: Value) -> list[int]:
        return sorted(self.removed.get(id(value), ()))

    def replace(self, node: Node, index: int, array: np.ndarray,
                quant: Quant | None = None) -> None:
        old = node.operands[index] if index < len(node.operands) else None
        name = old.name if old is not None else f"{node.loc or node.op}.bias"
        value = self.graph.add_constant(array, name, quant)
        if old is None:
            node.set_operands([*node.operands, value])
        else:
            node.set_operand(index, value)

    def node(self, node: Node, fold: Mapping[int, float | int]) -> None:
        out = self.gone(node.results[0]) if node.results else []
        touched = out or fold or any(self.gone(v) for v in node.operands)
        if not touched:
            return  # nothing of this node goes: leave its constants (and their sharing) alone
        if node.op in ("conv2d", "qconv2d"):
            self._conv(node, fold, out)
        elif node.op == "gemm":
            self._gemm(node, fold, out)
        elif node.op == "qfully_connected":
            self._qfc(node, fold, out)
        elif node.op == "batch_norm" and out:
            for i in range(1, 5):
                self.replace(node, i, _delete(node.operands[i].data, out, 0))
        elif node.op in ("add", "sub", "mul", "div", "qadd", "qmul") and out:
            self._broadcast_constants(node, out)
        if out:
            self._per_channel_attrs(node, out)

    def _per_channel_attrs(self, node: Node, out: list[int]) -> None:
        channels = node.results[0].type.shape[self.axes[id(node.results[0])]]
        for key in ("multiplier", "shift"):
            values = node.attrs.get(key)
            if values is not None and len(values) == channels and channels > 1:
                node.attrs[key] = [v for i, v in enumerate(values) if i not in set(out)]

    def _broadcast_constants(self, node: Node, out: list[int]) -> None:
        y = node.results[0]
        axis, channels = self.axes[id(y)], y.type.shape[self.axes[id(y)]]
        for i, v in enumerate(node.operands):
            a = axis - (y.type.rank - v.type.rank)
            if v.is_constant and a >= 0 and v.type.shape[a] == channels:
                self.replace(node, i, _delete(v.data, out, a), v.type.quant)

    # -- layers ----------------------------------------------------------------------------
    def _conv(self, node: Node, fold: Mapping[int, float | int], out: list[int]) -> None:
        a = ops.get(node.op).attrs_of(node)
        w_value = node.operands[1]
        w = w_value.data
        in_axis = 1 if a.layout == "nchw" else 3
        gone_in = self.gone(node.operands[0])
        bias = self._bias(node, w.shape[0])
        if a.group == 1:
            if fold:
                bias = bias + self._fold(node, a, fold, np.moveaxis(w, in_axis, 1))
            w = _delete(w, gone_in, in_axis)
        elif gone_in:  # depthwise: the channels go with their filters
            node.attrs["group"] = a.group - len(gone_in)
        w = _delete(w, out, 0)
        self.replace(node, 1, w, _slice_quant(w_value.type.quant, out))
        self._set_bias(node, bias, out)

    def _gemm(self, node: Node, fold: Mapping[int, float | int], out: list[int]) -> None:
        a = ops.get("gemm").attrs_of(node)
        b = node.operands[1].data
        kn = b.T if a.trans_b else b  # [K, N]
        n = kn.shape[1]
        bias = self._bias(node, n)
        if any(fold.values()):  # (decide() keeps nonzero constants away from beta = 0)
            bias = bias + a.alpha / a.beta * self._fold_matrix(fold, kn)
        kn = _delete(_delete(kn, self.gone(node.operands[0]), 0), out, 1)
        self.replace(node, 1, np.ascontiguousarray(kn.T if a.trans_b else kn).astype(b.dtype))
        self._set_bias(node, bias, out)

    def _qfc(self, node: Node, fold: Mapping[int, float | int], out: list[int]) -> None:
        a = ops.get("qfully_connected").attrs_of(node)
        w_value = node.operands[1]
        bias = self._bias(node, w_value.data.shape[0])
        if fold:
            bias = bias + self._fold_int(a, fold, w_value.data.T, node)
        w = _delete(_delete(w_value.data, self.gone(node.operands[0]), 1), out, 0)
        self.replace(node, 1, w, _slice_quant(w_value.type.quant, out))
        self._set_bias(node, bias, out)

    # -- biases ----------------------------------------------------------------------------
    def _bias(self, node: Node, channels: int) -> np.ndarray:
        """The bias as a float64/int64 vector of ``channels`` (zeros when absent)."""
        if len(node.operands) > 2:
            b = node.operands[2].data
            wide = np.int64 if b.dtype.kind == "i" else np.float64
            return np.broadcast_to(b.astype(wide).reshape(-1), (channels,)).copy()
        wide = np.int64 if node.op in ("qconv2d", "qfully_connected") else np.float64
        return np.zeros(channels, wide)

    def _set_bias(self, node: Node, bias: np.ndarray, out: list[int]) -> None:
        had = len(node.operands) > 2
        if not had and not np.any(bias):
            return
        old = node.operands[2] if had else None
        if bias.dtype == np.int64:
            if bias.min() < INT32_MIN or bias.max() > INT32_MAX:
                raise EdgeirError("folding removed channels overflows the int32 bias",
                                  node.label, "prune with a threshold that keeps them", "pass")
            dtype = np.dtype(np.int32)
        else:
            dtype = old.type.np_dtype if old is not None else node.operands[1].type.np_dtype
        bias = _delete(bias, out, 0)
        if old is not None and old.type.shape != (bias.shape[0] + len(out),):
            bias = bias.reshape((1,) * (old.type.rank - 1) + (-1,))
        quant = _slice_quant(old.type.quant, out) if old is not None else None
        self.replace(node, 2, bias.astype(dtype), quant)

    def _fold(self, node: Node, a, fold: Mapping[int, float | int], w: np.ndarray) -> np.ndarray:
        """Per output channel, what the removed input channels added: w is [O, I, ...]."""
        per_in = w.reshape(w.shape[0], w.shape[1], -1)
        if node.op == "qconv2d":
            return self._fold_int(a, fold, per_in.sum(axis=2, dtype=np.int64).T, node)
        return self._fold_matrix(fold, per_in.astype(np.float64).sum(axis=2).T)

    @staticmethod
    def _fold_matrix(fold: Mapping[int, float | int], kn: np.ndarray) -> np.ndarray:
        total = np.zeros(kn.shape[1], np.float64)
        for c, k in sorted(fold.items()):
            total += float(k) * kn[c].astype(np.float64)
        return total

    @staticmethod
    def _fold_int(a, fold: Mapping[int, float | int], kn: np.ndarray, node: Node) -> np.ndarray:
        """Integer fold: w * (q - x_zp), or w * q when the bias already holds -x_zp * sum(w)."""
        total = np.zeros(kn.shape[1], np.int64)
        for c, q in sorted(fold.items()):
            total += (int(q) - (0 if a.zp_folded else a.x_zp)) * kn[c].astype(np.int64)
        return total
