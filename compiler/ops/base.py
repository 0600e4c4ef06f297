"""What an op definition is made of.

An :class:`OpDef` is the one place an op is defined: its operands, its attributes (kind
and default), result type inference, MAC count and reference semantics (numpy). The
verifier, the text parser, the interpreter and ``edgeir show`` all read it; adding an op
means adding one ``OpDef`` to one family module in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from compiler.ir import Node, TensorType

REQUIRED = object()

# Attribute kinds and the python values they hold.
ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats", "strs")


@dataclass(frozen=True)
class Attr:
    kind: str
    default: Any = REQUIRED
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind '{self.kind}'")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def check_attr_value(kind: str, value: Any) -> Any:
    """Normalize ``value`` to ``kind`` or raise ValueError naming what is wrong."""

    def scalar(k: str, v: Any) -> Any:
        if k == "int":
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"expected an integer, got {v!r}")
            return int(v)
        if k == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"expected a number, got {v!r}")
            return float(v)
        if k == "bool":
            if not isinstance(v, (bool, np.bool_)):
                raise ValueError(f"expected true or false, got {v!r}")
            return bool(v)
        if not isinstance(v, str):
            raise ValueError(f"expected a string, got {v!r}")
        return v

    if kind in ("ints", "floats", "strs"):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(scalar(kind[:-1], v) for v in value)
    return scalar(kind, value)


class Attrs:
    """A node's attributes with defaults filled in, read as ``attrs.strides``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)


# Attributes any op may carry once the backend has lowered it: the kernel that computes it
# and where its results live in the arena (byte offsets, one per result).
BACKEND_ATTRS: dict[str, Attr] = {
    "impl": Attr("str", "", "the C kernel that computes the node (set by lower-c)"),
    "offsets": Attr("ints", (), "arena byte offset of each result (set by plan-memory)"),
    "overlap": Attr("ints", (), "triples (operand index, delta, exact): the kernel stays "
                    "correct when its result starts at most (exact: exactly) delta bytes "
                    "after that operand (set by lower-c; plan-memory may overlap them)"),
    "scratch": Attr("ints", (), "bytes of scratch memory the kernel needs for the node"),
    "scratch_offsets": Attr("ints", (), "arena offset of the scratch (set by plan-memory)"),
}


InferFn = Callable[[Attrs, Sequence[TensorType]], list[TensorType]]
EvalFn = Callable[[Attrs, Sequence[np.ndarray]], list[np.ndarray]]
MacsFn = Callable[[Attrs, Sequence[TensorType], Sequence[TensorType]], int]
# Extra invariants for the verifier (raise InferError): e.g. that a quantized op's
# requantization constants match the scales on its operand and result types.
CheckFn = Callable[[Attrs, Sequence[TensorType], Sequence[TensorType]], None]


def no_macs(attrs: Attrs, ins: Sequence[TensorType], outs: Sequence[TensorType]) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """One op. ``operands`` are names; a trailing ``?`` marks an optional operand (only
    trailing operands may be omitted) and a trailing ``*`` a variadic last operand."""

    name: str
    summary: str
    operands: tuple[str, ...]
    infer: InferFn
    evaluate: EvalFn
    attrs: dict[str, Attr] = field(default_factory=dict)
    macs: MacsFn = no_macs
    check: CheckFn | None = None
    # Free-form notes on semantics for the README's op table.
    notes: str = ""

    @property
    def min_operands(self) -> int:
        return sum(1 for o in self.operands if not o.endswith(("?", "*")))

    @property
    def max_operands(self) -> int | None:
        if self.operands and self.operands[-1].endswith("*"):
            return None
        return len(self.operands)

    @property
    def all_attrs(self) -> dict[str, Attr]:
        """The op's own attributes plus the backend ones every op may carry."""
        return {**self.attrs, **BACKEND_ATTRS}

    def attrs_of(self, node: Node) -> Attrs:
        """The node's attributes normalized, with defaults filled (ValueError if bad)."""
        values: dict[str, Any] = {}
        for name, value in node.attrs.items():
            spec = self.all_attrs.get(name)
            if spec is None:
                raise ValueError(f"unknown attribute '{name}' for op '{self.name}'")
            try:
                values[name] = check_attr_value(spec.kind, value)
            except ValueError as err:
                raise ValueError(f"attribute '{name}' of op '{self.name}': {err}") from None
        for name, spec in self.all_attrs.items():
            if name not in values:
                if spec.required:
                    raise ValueError(f"op '{self.name}' needs attribute '{name}'")
                values[name] = spec.default
        return Attrs(values)

    def infer_node(self, node: Node) -> list[TensorType]:
        return self.infer(self.attrs_of(node), [v.type for v in node.operands])

    def check_node(self, node: Node) -> None:
        if self.check is not None:
            self.check(self.attrs_of(node), [v.type for v in node.operands],
                       [v.type for v in node.results])

    def eval_node(self, node: Node, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.evaluate(self.attrs_of(node), arrays)

    def macs_of(self, node: Node) -> int:
        return int(
            self.macs(
                self.attrs_of(node),
                [v.type for v in node.operands],
                [v.type for v in node.results],
            )
        )


class InferError(ValueError):
    """Operand types an op cannot accept; the message says which and why."""
