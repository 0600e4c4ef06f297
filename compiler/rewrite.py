"""Small helpers for passes that rewrite graphs.

Passes match first and mutate only after the match has succeeded; these helpers build
nodes with inferred result types and answer the questions matches ask.
"""

from __future__ import annotations

from typing import Any, Iterable

from compiler import ops
from compiler.ir import Graph, Node, Value


def build(op: str, operands: Iterable[Value], attrs: dict[str, Any] | None = None,
          loc: str = "", names: Iterable[str] | None = None) -> Node:
    """A new node whose result types come from the op's type inference."""
    operands = list(operands)
    opdef = ops.get(op)
    n = len(operands)
    if n < opdef.min_operands or (opdef.max_operands is not None and n > opdef.max_operands):
        # inference indexes the operands: the count is checked first, as the verifier does
        raise ops.InferError(f"'{op}' takes operands ({', '.join(opdef.operands)}), got {n}")
    probe = Node(op, [], [], attrs, loc)  # attributes only; no uses recorded
    types = opdef.infer(opdef.attrs_of(probe), [v.type for v in operands])
    return Node(op, operands, types, attrs, loc, names)


def only_user(graph: Graph, value: Value) -> Node | None:
    """The single node reading ``value``, if it has exactly one reader and is no output."""
    if graph.is_output(value) or len(value.uses) != 1:
        return None
    return value.uses[0].node


def producer_of(value: Value, op: str | tuple[str, ...]) -> Node | None:
    """The node producing ``value`` if its op is ``op`` (or one of them)."""
    node = value.producer
    ops_ = (op,) if isinstance(op, str) else op
    return node if node is not None and node.op in ops_ else None


def all_constant(values: Iterable[Value]) -> bool:
    return all(v.is_constant for v in values)
