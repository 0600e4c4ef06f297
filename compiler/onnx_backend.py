"""An ONNX backend (``onnx.backend.base.Backend``) over the importer and the interpreter.

``EdgeirBackend.prepare(model)`` imports the model and returns an :class:`EdgeirBackendRep`
whose ``run(inputs)`` evaluates it with the numpy reference interpreter. It lets ONNX's
node conformance cases (and onnx's own backend test runner) check edgeir's semantics.

edgeir compiles for static shapes, and the operands that decide shapes or parameters
(Reshape's shape, Slice's starts, Clip's bounds, Gather's indices...) must be constants.
ONNX test models often pass those as graph inputs, or declare zero-size or unknown
dimensions. For such models the rep imports lazily: each ``run`` binds the values of those
compile-time inputs (and the actual input shapes) and imports a specialized graph, cached
by those values. All other inputs stay runtime inputs of the graph, so the interpreter,
not ONNX's reference implementation, computes the result.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from compiler import interp
from compiler.frontends.onnx_import import import_model
from compiler.ir import Graph

# ONNX operand positions edgeir needs at compile time: op type -> input indices.
COMPILE_TIME_OPERANDS: dict[str, frozenset[int]] = {
    "Reshape": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Clip": frozenset({1, 2}),
    "Squeeze": frozenset({1}),
    "Unsqueeze": frozenset({1}),
    "Split": frozenset({1}),
    "Pad": frozenset({1, 2, 3}),
    "Resize": frozenset({1, 2, 3}),
    "ReduceMean": frozenset({1}),
    "Dropout": frozenset({1, 2}),
    "Gather": frozenset({1}),
    # Quantization parameters (and the weight operand, which int8 kernels need constant).
    "QLinearConv": frozenset({1, 2, 3, 4, 5, 6, 7, 8}),
    "QLinearMatMul": frozenset({1, 2, 3, 4, 5, 6, 7}),
}


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, onnx.TensorProto):
        return numpy_helper.to_array(x)
    return np.asarray(x)


def _compile_time_inputs(graph: onnx.GraphProto, inputs: Sequence[str]) -> list[str]:
    """Graph inputs read only at compile-time operand positions (at least once)."""
    positions: dict[str, list[bool]] = {name: [] for name in inputs}
    for node in graph.node:
        wanted = COMPILE_TIME_OPERANDS.get(node.op_type, frozenset())
        for i, name in enumerate(node.input):
            if name in positions:
                positions[name].append(i in wanted and node.domain in ("", "ai.onnx"))
    outputs = {o.name for o in graph.output}
    return [name for name in inputs
            if positions[name] and all(positions[name]) and name not in outputs]


def _static_dims(vi: onnx.ValueInfoProto) -> bool:
    """Whether an input declares a fully known shape (or is no tensor: let import say so)."""
    if not vi.type.HasField("tensor_type"):
        return True
    tt = vi.type.tensor_type
    return tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim)


class EdgeirBackendRep(BackendRep):
    """A prepared model: imported graph(s), run by the reference interpreter."""

    def __init__(self, model: onnx.ModelProto, filename: str = "<model>",
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> None:
        self.model = model
        self.filename = filename
        self.input_shapes = dict(input_shapes or {})
        initializers = {i.name for i in model.graph.initializer}
        self.inputs = [vi for vi in model.graph.input if vi.name not in initializers]
        self.input_names = [vi.name for vi in self.inputs]
        self.output_names = [o.name for o in model.graph.output]
        self.bound = _compile_time_inputs(model.graph, self.input_names)
        self.dynamic = [vi.name for vi in self.inputs
                        if vi.name not in self.input_shapes and not _static_dims(vi)]
        self._outputs = namedtuple("Outputs", [f"output_{i}" for i in range(len(
            self.output_names))], rename=True)  # type: ignore[misc]
        self._cache: dict[Any, Graph] = {}
        self.graph: Graph | None = None
        if not self.bound and not self.dynamic:
            self.graph = self._cache[None] = import_model(model, filename, self.input_shapes)

    # -- compiling ----------------------------------------------------------------------
    def feeds(self, inputs: Any) -> dict[str, np.ndarray]:
        """The inputs by name, from a list in graph-input order or a dict."""
        if isinstance(inputs, Mapping):
            return {name: _as_array(a) for name, a in inputs.items()}
        if isinstance(inputs, (np.ndarray, onnx.TensorProto)):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != len(self.input_names):
            raise ValueError(f"expected {len(self.input_names)} inputs {self.input_names}, "
                             f"got {len(inputs)}")
        return {name: _as_array(a) for name, a in zip(self.input_names, inputs)}

    def graph_for(self, inputs: Any) -> Graph:
        """The graph that runs ``inputs`` (importing a specialization if needed)."""
        if not self.bound and not self.dynamic:
            assert self.graph is not None
            return self.graph
        feeds = self.feeds(inputs)
        shapes = {**self.input_shapes,
                  **{n: tuple(feeds[n].shape) for n in self.dynamic if n not in self.bound}}
        key = (tuple((n, feeds[n].dtype.str, feeds[n].shape, feeds[n].tobytes())
                     for n in self.bound),
               tuple(sorted(shapes.items())))
        graph = self._cache.get(key)
        if graph is None:
            graph = self._cache[key] = import_model(self._bind(feeds), self.filename, shapes)
        self.graph = graph
        return graph

    def _bind(self, feeds: Mapping[str, np.ndarray]) -> onnx.ModelProto:
        """A copy of the model whose compile-time inputs are initializers."""
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        bound = set(self.bound)
        kept = [vi for vi in model.graph.input if vi.name not in bound]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        for name in self.bound:
            model.graph.initializer.append(numpy_helper.from_array(feeds[name], name))
        return model

    # -- running ------------------------------------------------------------------------
    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Outputs in graph-output order for inputs in graph-input order (or by name)."""
        graph = self.graph_for(inputs)
        feeds = self.feeds(inputs)
        results = interp.run(graph, {n: feeds[n] for n in graph.input_names})
        return self._outputs(*(results[name] for name in self.output_names))


class EdgeirBackend(Backend):
    """edgeir as an ONNX backend (CPU only: the numpy reference interpreter)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU",
                **kwargs: Any) -> EdgeirBackendRep:
        """Check and import ``model``; ``input_shapes`` fixes symbolic input dimensions."""
        super().prepare(model, device, **kwargs)  # onnx.checker
        return EdgeirBackendRep(model, model.graph.name or "<model>",
                                kwargs.get("input_shapes"))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[Any, tuple]] | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, ...]:
        raise NotImplementedError("edgeir runs whole models; use prepare() or run_model()")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):
            return False


prepare = EdgeirBackend.prepare
run_model = EdgeirBackend.run_model
supports_device = EdgeirBackend.supports_device
