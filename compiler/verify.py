"""The IR verifier: structural and type invariants every graph must keep.

It runs after every pass by default (``--no-verify`` skips it). It checks that every op is
registered with a valid operand count and attributes; that every operand is defined before
it is used (graph inputs, the graph's constants, earlier results); that use lists match the
operands exactly; that each result's type is what the op's inference gives; that constants
hold data of their declared type; and that the graph's ports are consistent.
"""

from __future__ import annotations

import math

import numpy as np

from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerTensor, TensorType, Value

OPS_HINT = "see `edgeir ops` for the op's operands and attributes"


def _fail(what: str, node: Node | None = None, hint: str | None = None) -> EdgeirError:
    where = node.label if node is not None else None
    return EdgeirError(what, where, hint, kind="verify")


def quant_problem(t: TensorType) -> str | None:
    """What is wrong with ``t``'s quantization, if anything: scales must be positive and
    finite and zero points must fit an integer dtype (the kernels divide by scales; ONNX
    and TFLite store zero points in the tensor's dtype)."""
    q = t.quant
    if q is None:
        return None
    scales, zps = ((q.scale,), (q.zero_point,)) if isinstance(q, PerTensor) else \
        (q.scales, q.zero_points)
    bad = [s for s in scales if not (s > 0 and math.isfinite(s))]
    if bad:
        return f"quantization scale {bad[0]} of {t} is not positive and finite"
    if np.issubdtype(t.np_dtype, np.integer):
        info = np.iinfo(t.np_dtype)
        wide = [z for z in zps if not info.min <= z <= info.max]
        if wide:
            return f"zero point {wide[0]} of {t} does not fit {t.dtype}"
    return None


def verify(graph: Graph) -> None:
    """Raise :class:`EdgeirError` (kind ``verify``) on the first broken invariant."""
    defined: set[int] = set()
    for value in graph.inputs:
        if value.producer is not None or value.data is not None:
            raise _fail(f"graph input %{value.name} has a producer or data")
        defined.add(id(value))
    for value in [*graph.inputs, *graph.constants, *(v for n in graph.nodes for v in n.results)]:
        problem = quant_problem(value.type)
        if problem is not None:
            node = value.producer
            raise _fail(f"%{value.name}: {problem}", node, "fix the quantization parameters")
    if len(graph.input_names) != len(graph.inputs) or len(graph.output_names) != len(graph.outputs):
        raise _fail("graph port names do not match the inputs/outputs")
    for name_list, what in ((graph.input_names, "input"), (graph.output_names, "output")):
        if len(set(name_list)) != len(name_list):
            raise _fail(f"duplicate graph {what} names {name_list}", None, "rename one of them")
    for value in graph.constants:
        if value.data is None or value.producer is not None:
            raise _fail(f"constant %{value.name} has no data")
        if tuple(value.data.shape) != value.type.shape or value.data.dtype != value.type.np_dtype:
            raise _fail(f"constant %{value.name} holds {value.data.dtype}{list(value.data.shape)} "
                        f"but is typed {value.type.dtype}{list(value.type.shape)}")
        defined.add(id(value))

    in_graph: set[int] = set()
    for node in graph.nodes:
        if node.graph is not graph:
            raise _fail("node does not belong to this graph", node)
        if id(node) in in_graph:
            raise _fail("node appears twice in the schedule", node)
        in_graph.add(id(node))
        _verify_node(node, defined)
        for value in node.results:
            defined.add(id(value))

    for value in graph.values():
        for use in value.uses:
            if id(use.node) not in in_graph:
                raise _fail(f"%{value.name} is used by a node that is not in the graph", use.node)
    for value in graph.outputs:
        if id(value) not in defined:
            raise _fail(f"graph output %{value.name} is not defined in the graph")
    if "arena_size" in graph.attrs:
        from passes.plan_memory import check_plan

        try:
            check_plan(graph)
        except ValueError as err:
            raise _fail(f"memory plan: {err}") from None


def _verify_node(node: Node, defined: set[int]) -> None:
    try:
        opdef = ops.get(node.op)
    except KeyError:
        raise _fail(f"unknown op '{node.op}'", node,
                    "see `edgeir ops` or the README for the supported ops") from None
    n = len(node.operands)
    if n < opdef.min_operands or (opdef.max_operands is not None and n > opdef.max_operands):
        raise _fail(f"'{node.op}' takes operands ({', '.join(opdef.operands)}), got {n}", node,
                    OPS_HINT)
    for index, value in enumerate(node.operands):
        if id(value) not in defined:
            raise _fail(f"operand {index} (%{value.name}) is used before it is defined", node,
                        "define it before this node")
        if sum(1 for u in value.uses if u.node is node and u.index == index) != 1:
            raise _fail(f"use list of %{value.name} does not record operand {index}", node)
    for index, value in enumerate(node.results):
        if value.producer is not node or value.result_index != index:
            raise _fail(f"result {index} (%{value.name}) does not point back at its node", node)
        for use in value.uses:
            if use.index >= len(use.node.operands) or use.node.operands[use.index] is not value:
                raise _fail(f"use list of %{value.name} is stale", node)
    try:
        inferred = opdef.infer_node(node)
        opdef.check_node(node)
    except ValueError as err:  # InferError and bad attributes
        raise _fail(str(err), node, OPS_HINT) from None
    if len(inferred) != len(node.results):
        raise _fail(f"has {len(node.results)} results, the op gives {len(inferred)}", node,
                    OPS_HINT)
    for index, (value, expected) in enumerate(zip(node.results, inferred)):
        if not _type_matches(value, expected):
            raise _fail(f"result {index} is typed {value.type} but the op gives {expected}", node,
                        f"declare it as {expected}")


def _type_matches(value: Value, expected) -> bool:
    actual = value.type
    if actual.dtype != expected.dtype or actual.shape != expected.shape:
        return False
    return expected.quant is None or actual.quant == expected.quant
