"""Channel dependency groups: which channels of which values stand or fall together.

A *slot* is one channel of one activation value, ``(value, c)``. Removing the output
channel c of a layer removes a slot, and with it every slot the same data flows through:

* a **layer** (``conv2d``/``qconv2d`` with ``group = 1``, ``gemm`` with constant B,
  ``qfully_connected``) ends a group at its input (a *sink*: the input channel is cut out of
  the weights) and starts new ones at its output (a *source*: an output channel is cut);
* **depthwise** convolutions (``group`` = input channels) carry channel c to output channels
  ``c*m .. c*m+m-1``; elementwise ops, activations, pooling, batch norm, pad and resize
  carry channel c to channel c; a residual ``add`` (any binary op whose operands both have
  the channel) joins the operands' groups; a constant operand with a per-channel shape is
  sliced with them; ``concat`` on the channel axis shifts offsets;
* ``reshape`` and ``transpose`` carry a channel wherever its elements land, when every output
  channel holds elements of exactly one input channel (a flatten into a fully connected layer
  maps channel c to its block of features);
* the graph's inputs and outputs, and anything the rules do not cover (a grouped conv, a
  slice or split on the channel axis, a softmax over channels...), are **pinned**: their
  groups are never removed.

The groups are the connected components of a networkx graph over slots. Which axis of a
value is its channel axis comes from the layouts of the layers and pools around it
(``nchw``: 1, ``nhwc``: last; 2-D features: 1), propagated through the ops above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from compiler import ops
from compiler.ir import Graph, Node, Value

LAYOUT_OPS = frozenset({"conv2d", "qconv2d", "conv_transpose2d", "max_pool", "avg_pool",
                        "qmax_pool", "qavg_pool", "global_avg_pool", "global_max_pool", "qmean",
                        "batch_norm"})
UNARY = frozenset({"relu", "clip", "sigmoid", "tanh", "leaky_relu", "hard_swish",
                   "hard_sigmoid", "identity", "dropout", "cast", "quantize", "dequantize",
                   "requantize", "qlogistic", "qtanh", "qhard_swish", "max_pool", "avg_pool",
                   "qmax_pool", "qavg_pool", "global_avg_pool", "global_max_pool", "qmean",
                   "resize", "batch_norm"})
BINARY = frozenset({"add", "sub", "mul", "div", "qadd", "qmul"})
LAYERS = frozenset({"conv2d", "qconv2d", "gemm", "qfully_connected"})
PIN = -1  # the networkx node every pinned slot is joined to


def _layout_axis(node: Node) -> int:
    return 1 if ops.get(node.op).attrs_of(node).layout == "nchw" else 3


def is_depthwise(node: Node) -> bool:
    """A conv whose groups are its input channels (one filter bank per channel)."""
    if node.op not in ("conv2d", "qconv2d"):
        return False
    a = ops.get(node.op).attrs_of(node)
    c_in = node.operands[0].type.shape[_layout_axis(node)]
    return a.group > 1 and a.group == c_in


def is_layer(node: Node) -> bool:
    """A node whose input channels are summed by constant weights (sink and source)."""
    if node.op in ("conv2d", "qconv2d"):
        a = ops.get(node.op).attrs_of(node)
        return a.group == 1 and all(v.is_constant for v in node.operands[1:])
    if node.op == "gemm":
        a = ops.get("gemm").attrs_of(node)
        n = node.results[0].type.shape[-1]
        c_ok = len(node.operands) < 3 or node.operands[2].type.shape in ((), (1,), (n,), (1, n))
        return (not a.trans_a and node.operands[0].type.rank == 2 and c_ok
                and all(v.is_constant for v in node.operands[1:]))
    if node.op == "qfully_connected":
        return all(v.is_constant for v in node.operands[1:])
    return False


# -- channel axes ------------------------------------------------------------------------------


def channel_axes(graph: Graph) -> tuple[dict[int, int], set[int]]:
    """The channel axis of each activation value (by ``id``), and the values whose
    neighbours disagree about it (those are pinned)."""
    axes: dict[int, int] = {}
    conflicts: set[int] = set()

    def put(v: Value, axis: int) -> bool:
        if v.is_constant or not 0 <= axis < v.type.rank:
            return False
        old = axes.get(id(v))
        if old is None:
            axes[id(v)] = axis
            return True
        if old != axis:
            conflicts.add(id(v))
        return False

    for node in graph.nodes:  # seeds: the layouts
        if node.op in LAYOUT_OPS and node.operands[0].type.rank == 4:
            put(node.operands[0], _layout_axis(node))
            put(node.results[0], _layout_axis(node))
        elif node.op in ("gemm", "qfully_connected") and node.operands[0].type.rank == 2:
            if not (node.op == "gemm" and ops.get("gemm").attrs_of(node).trans_a):
                put(node.operands[0], 1)
            put(node.results[0], 1)
    changed = True
    while changed:
        changed = False
        for node in graph.nodes:
            for a, b, axis_map in _axis_links(node):
                if id(a) in axes and put(b, axis_map(axes[id(a)])):
                    changed = True
    return axes, conflicts


def _axis_links(node: Node):
    """(value a, value b, axis of b given a's) for the ops that keep the channel axis."""
    out = node.results[0] if node.results else None
    if node.op in UNARY or node.op in ("pad", "slice", "softmax", "log_softmax",
                                      "reduce_mean", "concat", "split"):
        same = [v for v in [*node.operands, *node.results] if v.type.rank == out.type.rank]
        for a in same:
            for b in same:
                if a is not b:
                    yield a, b, lambda x: x
    elif node.op in BINARY:
        rank = out.type.rank
        for v in node.operands:
            shift = rank - v.type.rank
            yield out, v, lambda x, s=shift: x - s
            yield v, out, lambda x, s=shift: x + s
    elif node.op == "transpose":
        perm = ops.get("transpose").attrs_of(node).perm or tuple(reversed(range(out.type.rank)))
        yield node.operands[0], out, lambda x, p=perm: p.index(x)
        yield out, node.operands[0], lambda x, p=perm: p[x]


# -- groups ------------------------------------------------------------------------------------


@dataclass
class Group:
    """Slots that must be removed together, with what produces and consumes them."""

    slots: list[tuple[Value, int]]
    pinned: str = ""  # why the group can never be removed ("" if it can)
    sources: list[tuple[Node, int]] = field(default_factory=list)  # (layer, output channel)
    sinks: list[tuple[Node, int]] = field(default_factory=list)  # (layer, input channel)
    input_dependent: bool = False  # a member reads a non-constant value outside the group


@dataclass
class ChannelGroups:
    axes: dict[int, int]
    groups: list[Group]

    def channels(self, value: Value) -> int:
        return value.type.shape[self.axes[id(value)]]


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.axes, conflicts = channel_axes(graph)
        self.nx = nx.Graph()
        self.nx.add_node(PIN)
        self.base: dict[int, int] = {}
        self.values: list[Value] = []
        self.reasons: dict[int, str] = {}  # slot -> why it is pinned (first reason wins)
        self.dependent: set[int] = set()
        for value in graph.values():
            if id(value) in self.axes:
                self.base[id(value)] = self.nx.number_of_nodes()
                self.values.append(value)
                self.nx.add_nodes_from(range(self.base[id(value)],
                                             self.base[id(value)] + self._c(value)))
        for value in graph.values():
            if id(value) in conflicts:
                self.pin(value, f"%{value.name} has conflicting channel axes")

    def _c(self, v: Value) -> int:
        return v.type.shape[self.axes[id(v)]]

    def has(self, v: Value) -> bool:
        return id(v) in self.base

    def slot(self, v: Value, c: int) -> int:
        return self.base[id(v)] + c

    def pin(self, v: Value, reason: str) -> None:
        if not self.has(v):
            return
        for c in range(self._c(v)):
            s = self.slot(v, c)
            self.reasons.setdefault(s, reason)
            self.nx.add_edge(s, PIN)

    def link(self, a: Value, ca: int, b: Value, cb: int) -> None:
        self.nx.add_edge(self.slot(a, ca), self.slot(b, cb))

    def link_all(self, a: Value, b: Value) -> None:
        for c in range(self._c(a)):
            self.link(a, c, b, c)

    def pin_node(self, node: Node, why: str) -> None:
        for v in [*node.operands, *node.results]:
            self.pin(v, f"{node.label}: {why}")

    # -- per-op rules --------------------------------------------------------------------------
    def add(self, node: Node) -> None:
        vals = [v for v in [*node.operands, *node.results] if not v.is_constant]
        if not any(self.has(v) for v in vals):
            return
        if not all(self.has(v) for v in vals):
            return self.pin_node(node, "mixes values with and without a channel axis")
        if is_layer(node):
            return None  # input slots are sinks, output slots sources: no links
        if node.op in ("conv2d", "qconv2d"):
            return self._conv(node)
        if node.op in UNARY:
            return self._unary(node)
        if node.op in BINARY:
            return self._binary(node)
        rule = getattr(self, "_" + node.op, None)
        if rule is None:
            return self.pin_node(node, f"{node.op} is not channel-aware")
        return rule(node)

    def _same_channels(self, node: Node, a: Value, b: Value) -> bool:
        if self._c(a) != self._c(b):
            self.pin_node(node, "changes the channel count")
            return False
        return True

    def _unary(self, node: Node) -> None:
        if node.op == "batch_norm" and not all(v.is_constant for v in node.operands[1:]):
            return self.pin_node(node, "batch_norm with non-constant parameters")
        x, y = node.operands[0], node.results[0]
        if self._same_channels(node, x, y):
            self.link_all(x, y)

    def _conv(self, node: Node) -> None:
        x, y = node.operands[0], node.results[0]
        if not is_depthwise(node) or not all(v.is_constant for v in node.operands[1:]):
            return self.pin_node(node, "grouped convolution")
        mult = self._c(y) // self._c(x)
        for c in range(self._c(x)):
            for j in range(mult):
                self.link(x, c, y, c * mult + j)

    def _binary(self, node: Node) -> None:
        y = node.results[0]
        for v in node.operands:
            if v.is_constant:
                continue
            axis = self.axes[id(v)]
            if v.type.shape[axis] == self._c(y):
                self.link_all(v, y)
            elif v.type.shape[axis] == 1:
                self.dependent.update(self.slot(y, c) for c in range(self._c(y)))
            else:
                self.pin_node(node, "broadcasts along the channel axis")

    def _pad(self, node: Node) -> None:
        x, y = node.operands[0], node.results[0]
        pads, axis = ops.get("pad").attrs_of(node).pads, self.axes[id(x)]
        if pads[axis] or pads[axis + x.type.rank]:
            return self.pin_node(node, "pads the channel axis")
        self.link_all(x, y)

    def _slice(self, node: Node) -> None:
        x = node.operands[0]
        axes = [a % x.type.rank for a in ops.get("slice").attrs_of(node).axes]
        if self.axes[id(x)] in axes:
            return self.pin_node(node, "slices the channel axis")
        self.link_all(x, node.results[0])

    def _split(self, node: Node) -> None:
        x = node.operands[0]
        if ops.get("split").attrs_of(node).axis % x.type.rank == self.axes[id(x)]:
            return self.pin_node(node, "splits the channel axis")
        for y in node.results:
            self.link_all(x, y)

    def _softmax(self, node: Node) -> None:
        x = node.operands[0]
        if ops.get(node.op).attrs_of(node).axis % x.type.rank == self.axes[id(x)]:
            return self.pin_node(node, "normalizes over the channel axis")
        self.link_all(x, node.results[0])

    _log_softmax = _softmax

    def _reduce_mean(self, node: Node) -> None:
        x = node.operands[0]
        a = ops.get("reduce_mean").attrs_of(node)
        axes = [ax % x.type.rank for ax in a.axes] if a.axes else list(range(x.type.rank))
        if self.axes[id(x)] in axes or not a.keepdims:
            return self.pin_node(node, "reduces over the channel axis")
        self.link_all(x, node.results[0])

    def _concat(self, node: Node) -> None:
        y = node.results[0]
        axis = ops.get("concat").attrs_of(node).axis % y.type.rank
        offset = 0
        for x in node.operands:
            if axis == self.axes[id(y)]:
                for c in range(self._c(x)):
                    self.link(x, c, y, offset + c)
                offset += self._c(x)
            else:
                self.link_all(x, y)

    def _reshape(self, node: Node) -> None:
        x, y = node.operands[0], node.results[0]
        ids = _channel_ids(x.type.shape, self.axes[id(x)]).reshape(y.type.shape)
        self._moved(node, ids)

    def _transpose(self, node: Node) -> None:
        x = node.operands[0]
        perm = ops.get("transpose").attrs_of(node).perm or tuple(reversed(range(x.type.rank)))
        self._moved(node, np.transpose(_channel_ids(x.type.shape, self.axes[id(x)]), perm))

    def _moved(self, node: Node, ids: np.ndarray) -> None:
        x, y = node.operands[0], node.results[0]
        rows = np.moveaxis(ids, self.axes[id(y)], 0).reshape(self._c(y), -1)
        if rows.shape[1] == 0 or np.any(rows != rows[:, :1]):
            return self.pin_node(node, "mixes channels")
        for j, c in enumerate(rows[:, 0]):
            self.link(x, int(c), y, j)


def _channel_ids(shape: tuple[int, ...], axis: int) -> np.ndarray:
    """An int array of ``shape`` holding each element's index along ``axis``."""
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(np.arange(shape[axis]).reshape(view), shape)


def channel_groups(graph: Graph) -> ChannelGroups:
    """The dependency groups of every channel of every activation value of ``graph``."""
    b = _Builder(graph)
    for v, name in zip(graph.inputs, graph.input_names):
        b.pin(v, f"graph input {name!r}")
    for v, name in zip(graph.outputs, graph.output_names):
        b.pin(v, f"graph output {name!r}")
    for node in graph.nodes:
        b.add(node)
    owner = {b.base[id(v)] + c: (v, c) for v in b.values for c in range(b._c(v))}
    groups = []
    for component in nx.connected_components(b.nx):
        if PIN in component:
            continue
        members = sorted(component)
        slots = [owner[s] for s in members]
        groups.append(Group(slots, input_dependent=any(s in b.dependent for s in members)))
    for group in groups:
        for v, c in group.slots:
            if v.producer is not None and is_layer(v.producer):
                group.sources.append((v.producer, c))
            for use in v.uses:
                if use.index == 0 and is_layer(use.node):
                    group.sinks.append((use.node, c))
        if not group.sources:
            group.pinned = "no layer produces it"
    return ChannelGroups(b.axes, groups)
