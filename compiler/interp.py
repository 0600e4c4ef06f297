"""The reference interpreter: runs a graph with numpy, node by node, in schedule order.

It is the golden model: every other engine is tested against it, and it is tested
against onnxruntime and the ONNX node conformance cases.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph


def check_inputs(graph: Graph, feeds: Mapping[str, np.ndarray],
                 where: str = "") -> list[np.ndarray]:
    """The feeds in graph input order, checked for names, shapes and dtypes."""
    missing = [n for n in graph.input_names if n not in feeds]
    if missing:
        raise EdgeirError(f"missing input(s) {', '.join(repr(m) for m in missing)}", where or None,
                          f"the graph inputs are {graph.input_names}")
    extra = sorted(set(feeds) - set(graph.input_names))
    if extra:
        raise EdgeirError(f"unknown input(s) {', '.join(repr(e) for e in extra)}", where or None,
                          f"the graph inputs are {graph.input_names}")
    arrays = []
    for name, value in zip(graph.input_names, graph.inputs):
        array = np.asarray(feeds[name])
        if tuple(array.shape) != value.type.shape:
            raise EdgeirError(f"input {name!r} has shape {list(array.shape)}, the graph expects "
                              f"{list(value.type.shape)}", where or None,
                              f"store one sample of shape {list(value.type.shape)}")
        if array.dtype != value.type.np_dtype:
            raise EdgeirError(f"input {name!r} has dtype {array.dtype}, the graph expects "
                              f"{value.type.np_dtype}", where or None,
                              f"store it as {value.type.np_dtype}")
        arrays.append(array)
    return arrays


def run(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs by graph output name for inputs by graph input name."""
    env = _execute(graph, feeds, keep_all=False)
    return {name: env[id(v)] for name, v in zip(graph.output_names, graph.outputs)}


def run_all(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Every value's array, keyed by ``id(value)`` (for per-layer comparisons)."""
    return _execute(graph, feeds, keep_all=True)


def _execute(graph: Graph, feeds: Mapping[str, np.ndarray],
             keep_all: bool) -> dict[int, np.ndarray]:
    env: dict[int, np.ndarray] = {}
    for value, array in zip(graph.inputs, check_inputs(graph, feeds)):
        env[id(value)] = array
    for value in graph.constants:
        env[id(value)] = value.data
    # Free each intermediate after its last reader.
    last_use: dict[int, int] = {}
    for position, node in enumerate(graph.nodes):
        for value in node.operands:
            last_use[id(value)] = position
    keep = {id(v) for v in graph.outputs}
    for position, node in enumerate(graph.nodes):
        opdef = ops.get(node.op)
        args = [env[id(v)] for v in node.operands]
        with np.errstate(all="ignore"):
            outs = opdef.eval_node(node, args)
        for value, array in zip(node.results, outs, strict=True):
            if array.shape != value.type.shape or array.dtype != value.type.np_dtype:
                raise RuntimeError(f"{node.label} computed {array.dtype}{list(array.shape)}, "
                                   f"typed {value.type}")
            env[id(value)] = array
        for value in node.operands:
            if not keep_all and last_use.get(id(value)) == position and id(value) not in keep \
                    and value.producer:
                env.pop(id(value), None)
    return env
