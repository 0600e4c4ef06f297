"""The graph IR: types, values, uses, nodes and graphs.

* A :class:`Value` has exactly one producer (a :class:`Node`) or none (a graph input or a
  constant, which carries ``data``), and an ordered list of :class:`Use`.
* A :class:`Graph` is an ordered list of nodes; the order is the schedule.
* Only :meth:`Node.set_operand`, :meth:`Graph.replace_all_uses` and the node
  insertion/erasure methods change operands, so use lists cannot drift.

Types carry quantization: ``TensorType("i8", (1, 8, 8, 16), PerTensor(0.0235, -12))``.
All shapes are static: symbolic dimensions are fixed at import (``--input-shape``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

# IR dtype name -> numpy dtype. The names are the ones the textual IR prints.
DTYPES: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "ui8": np.dtype(np.uint8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
}
FLOAT_DTYPES = frozenset({"f16", "f32", "f64"})


def dtype_of_numpy(dt: np.dtype) -> str:
    """The IR dtype name of a numpy dtype (KeyError if it has none)."""
    dt = np.dtype(dt)
    for name, candidate in DTYPES.items():
        if candidate == dt:
            return name
    raise KeyError(f"no IR dtype for numpy dtype {dt}")


@dataclass(frozen=True)
class PerTensor:
    """Affine quantization of a whole tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int = 0


@dataclass(frozen=True)
class PerAxis:
    """Per-axis (per-channel) affine quantization along ``axis``."""

    axis: int
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.scales) != len(self.zero_points):
            raise ValueError("per-axis quantization needs one zero point per scale")


Quant = PerTensor | PerAxis


@dataclass(frozen=True)
class TensorType:
    """A ranked tensor type with a static shape and optional quantization."""

    dtype: str
    shape: tuple[int, ...]
    quant: Quant | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype '{self.dtype}'")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype]

    @property
    def nbytes(self) -> int:
        return self.numel * self.np_dtype.itemsize

    def with_shape(self, shape: Iterable[int]) -> TensorType:
        return TensorType(self.dtype, tuple(shape), self.quant)

    def with_dtype(self, dtype: str, quant: Quant | None = None) -> TensorType:
        return TensorType(dtype, self.shape, quant)

    @staticmethod
    def of_array(array: np.ndarray, quant: Quant | None = None) -> TensorType:
        return TensorType(dtype_of_numpy(array.dtype), array.shape, quant)

    def __str__(self) -> str:
        """The textual IR spelling, e.g. ``tensor<1x8xi8, q(0.5, -3)>``."""
        dims = "".join(f"{d}x" for d in self.shape)
        quant = ""
        if isinstance(self.quant, PerTensor):
            quant = f", q({format_float(self.quant.scale)}, {self.quant.zero_point})"
        elif isinstance(self.quant, PerAxis):
            scales = ", ".join(format_float(s) for s in self.quant.scales)
            zps = self.quant.zero_points
            zp = str(zps[0]) if zps and len(set(zps)) == 1 else "[" + ", ".join(map(str, zps)) + "]"
            quant = f", q(axis={self.quant.axis}, [{scales}], {zp})"
        return f"tensor<{dims}{self.dtype}{quant}>"


def format_float(x: float) -> str:
    """Shortest text that parses back to the same double ('inf', '-inf', 'nan' too)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


@dataclass(frozen=True)
class Use:
    """Operand ``index`` of ``node`` reads the value."""

    node: Node
    index: int


class Value:
    """An SSA value. Compared by identity.

    ``name`` is a hint for printing (the printer makes names unique); ``data`` is set for
    constants only.
    """

    __slots__ = ("type", "name", "producer", "result_index", "uses", "data")

    def __init__(
        self,
        type: TensorType,
        name: str = "",
        data: np.ndarray | None = None,
    ) -> None:
        self.type = type
        self.name = name
        self.producer: Node | None = None
        self.result_index = 0
        self.uses: list[Use] = []
        self.data = data

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def users(self) -> list[Node]:
        """The nodes reading this value, each once, in use order."""
        seen: dict[int, Node] = {}
        for use in self.uses:
            seen.setdefault(id(use.node), use.node)
        return list(seen.values())

    def __repr__(self) -> str:
        return f"Value(%{self.name}: {self.type})"


def constant(array: np.ndarray, name: str = "", quant: Quant | None = None) -> Value:
    """A new constant value holding ``array`` (made contiguous and read-only)."""
    array = np.asarray(array)  # ascontiguousarray would turn a scalar into shape [1]
    if not array.flags.c_contiguous:
        array = array.copy()
    array.setflags(write=False)
    return Value(TensorType.of_array(array, quant), name, data=array)


class Node:
    """One operation: ``op`` names an entry of the op registry (``compiler.ops``)."""

    def __init__(
        self,
        op: str,
        operands: Iterable[Value],
        result_types: Iterable[TensorType],
        attrs: dict[str, Any] | None = None,
        loc: str = "",
        result_names: Iterable[str] | None = None,
    ) -> None:
        self.op = op
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.loc = loc
        self.src = ""  # "file:line:col" of the IR text it was parsed from, if any
        self.graph: Graph | None = None
        self.operands: list[Value] = []
        for value in operands:
            self._append_operand(value)
        types = list(result_types)
        names = list(result_names) if result_names is not None else [loc] * len(types)
        self.results: list[Value] = []
        for i, (type_, name) in enumerate(zip(types, names, strict=True)):
            value = Value(type_, name)
            value.producer = self
            value.result_index = i
            self.results.append(value)

    # -- operands -------------------------------------------------------------------
    def _append_operand(self, value: Value) -> None:
        if not isinstance(value, Value):
            raise TypeError(f"operand of {self.op} must be a Value, not {type(value).__name__}")
        value.uses.append(Use(self, len(self.operands)))
        self.operands.append(value)

    def set_operand(self, index: int, value: Value) -> None:
        old = self.operands[index]
        old.uses = [u for u in old.uses if not (u.node is self and u.index == index)]
        value.uses.append(Use(self, index))
        self.operands[index] = value

    def set_operands(self, values: Iterable[Value]) -> None:
        """Replace the whole operand list (the count may change)."""
        self.drop_operands()
        for value in values:
            self._append_operand(value)

    def drop_operands(self) -> None:
        for index, old in enumerate(self.operands):
            old.uses = [u for u in old.uses if not (u.node is self and u.index == index)]
        self.operands = []

    # -- convenience ----------------------------------------------------------------
    @property
    def result(self) -> Value:
        """The single result (error if the node has several)."""
        if len(self.results) != 1:
            raise ValueError(f"{self.op} has {len(self.results)} results")
        return self.results[0]

    @property
    def label(self) -> str:
        """How diagnostics name the node: its location, else its op."""
        name = f"node '{self.loc}' ({self.op})" if self.loc else f"a {self.op} node"
        return f"{self.src}: {name}" if self.src else name

    def __repr__(self) -> str:
        return f"Node({self.op}, loc={self.loc!r})"


@dataclass
class Graph:
    """A function: inputs, constants, an ordered node list (the schedule), outputs.

    ``input_names``/``output_names`` are the external port names (the keys of
    ``edgeir run``'s npz files); they never change when passes rewrite the graph.
    """

    name: str = "main"
    inputs: list[Value] = field(default_factory=list)
    input_names: list[str] = field(default_factory=list)
    outputs: list[Value] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    constants: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    # Graph-wide facts decided by passes (e.g. the memory plan: arena size, the offsets of
    # the graph's inputs); printed as `attributes {...}` after the signature.
    attrs: dict[str, Any] = field(default_factory=dict)

    # -- building -------------------------------------------------------------------
    def add_input(self, type_: TensorType, name: str) -> Value:
        value = Value(type_, name)
        self.inputs.append(value)
        self.input_names.append(name)
        return value

    def add_constant(self, array: np.ndarray, name: str = "", quant: Quant | None = None) -> Value:
        value = constant(array, name, quant)
        self.constants.append(value)
        return value

    def adopt_constant(self, value: Value) -> Value:
        if value.data is None:
            raise ValueError("not a constant")
        self.constants.append(value)
        return value

    def add_output(self, value: Value, name: str) -> None:
        self.outputs.append(value)
        self.output_names.append(name)

    def append(self, node: Node) -> Node:
        node.graph = self
        self.nodes.append(node)
        return node

    def insert_before(self, anchor: Node, node: Node) -> Node:
        node.graph = self
        self.nodes.insert(self.nodes.index(anchor), node)
        return node

    def insert_after(self, anchor: Node, node: Node) -> Node:
        node.graph = self
        self.nodes.insert(self.nodes.index(anchor) + 1, node)
        return node

    # -- rewriting ------------------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Every reader of ``old`` (nodes and graph outputs) reads ``new`` instead."""
        if old is new:
            return
        for use in list(old.uses):
            use.node.set_operand(use.index, new)
        self.outputs = [new if v is old else v for v in self.outputs]

    def erase(self, node: Node) -> None:
        """Remove ``node``; its results must be unused."""
        for value in node.results:
            if value.uses or any(value is out for out in self.outputs):
                raise ValueError(f"cannot erase {node.label}: result still used")
        node.drop_operands()
        self.nodes.remove(node)
        node.graph = None

    def replace_node(self, node: Node, new_results: list[Value]) -> None:
        """Route the uses of ``node``'s results to ``new_results`` and erase ``node``."""
        for old, new in zip(node.results, new_results, strict=True):
            self.replace_all_uses(old, new)
        self.erase(node)

    def is_output(self, value: Value) -> bool:
        return any(value is out for out in self.outputs)

    def remove_unused_constants(self) -> int:
        before = len(self.constants)
        self.constants = [c for c in self.constants if c.uses or self.is_output(c)]
        return before - len(self.constants)

    # -- queries --------------------------------------------------------------------
    def values(self) -> Iterator[Value]:
        """Every value: inputs, constants, then node results in schedule order."""
        yield from self.inputs
        yield from self.constants
        for node in self.nodes:
            yield from node.results

    def find(self, loc: str) -> Node:
        for node in self.nodes:
            if node.loc == loc:
                return node
        raise KeyError(loc)
