"""Build tiny TFLite flatbuffers in tests, and run them on the TFLite Micro oracle.

edgeir's int8 arithmetic must be bit-exact with the TFLite Micro reference kernels
(the PyPI package ``tflite-micro``, see docs/QUANT.md). Tests check that by building a
model of one (or a few) operators, running it through ``tflite_micro.runtime`` and
comparing bytes with edgeir's own result.

The flatbuffer is written with the object API of the schema module shipped inside the
``tflite-micro`` wheel, so nothing beyond ``tflite-micro`` and ``flatbuffers`` is needed.

Typical use::

    from tflite_builder import Tensor, build_single_op_model, options, run_model

    x = Tensor((1, 10), "int8", scale=0.1, zero_point=3)
    y = Tensor((1, 10), "int8", scale=1 / 256, zero_point=-128)
    model = build_single_op_model("SOFTMAX", [x], [y], options("SoftmaxOptions", beta=1.0))
    (out,) = run_model(model, [np.arange(10, dtype=np.int8).reshape(1, 10)])

Several operators: describe every tensor once in a list, and refer to tensors by index
in :class:`Op` and in ``build_model(inputs=..., outputs=...)``. A tensor with ``data``
is a constant (weights, bias, shape operands); its bytes go into its own buffer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

__all__ = [
    "Op",
    "Tensor",
    "build_model",
    "build_single_op_model",
    "options",
    "run_model",
    "schema",
]

_FILE_IDENTIFIER = b"TFL3"
_SCHEMA_VERSION = 3

_DTYPES: dict[str, tuple[int, np.dtype]] = {
    "float32": (schema.TensorType.FLOAT32, np.dtype("<f4")),
    "int32": (schema.TensorType.INT32, np.dtype("<i4")),
    "int16": (schema.TensorType.INT16, np.dtype("<i2")),
    "int8": (schema.TensorType.INT8, np.dtype("i1")),
    "uint8": (schema.TensorType.UINT8, np.dtype("u1")),
    "int64": (schema.TensorType.INT64, np.dtype("<i8")),
    "bool": (schema.TensorType.BOOL, np.dtype("?")),
}


@dataclass
class Tensor:
    """One tensor of the model.

    ``dtype`` is a numpy-style name (``"int8"``, ``"float32"``, ``"int32"``, ...).
    ``scale``/``zero_point`` are a scalar (per-tensor) or sequences (per-axis along
    ``quantized_dimension``); leave ``scale`` as None for a non-quantized tensor.
    ``data`` makes the tensor a constant; it is cast to ``dtype`` and must match ``shape``.
    """

    shape: Sequence[int]
    dtype: str = "int8"
    scale: float | Sequence[float] | None = None
    zero_point: int | Sequence[int] | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None
    name: str = ""


@dataclass
class Op:
    """One operator: a builtin name from ``schema.BuiltinOperator`` (e.g. ``"CONV_2D"``),
    tensor indices (-1 for an omitted optional input) and builtin options (an ``*OptionsT``
    object, see :func:`options`, or None)."""

    op: str
    inputs: Sequence[int]
    outputs: Sequence[int]
    options: Any = None
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def options(kind: str, **fields: Any) -> Any:
    """Builtin options object, e.g. ``options("SoftmaxOptions", beta=1.0)`` or
    ``options("Conv2DOptions", padding=schema.Padding.SAME, strideW=1, strideH=1)``.

    ``kind`` is the union member name of ``schema.BuiltinOptions``; field names are the
    camelCase names of the schema's object API. Unknown fields raise ``AttributeError``.
    """
    if not hasattr(schema.BuiltinOptions, kind):
        raise ValueError(f"unknown builtin options kind {kind!r}")
    obj = getattr(schema, kind + "T")()
    for key, value in fields.items():
        if not hasattr(obj, key):
            raise AttributeError(f"{kind} has no field {key!r}")
        setattr(obj, key, value)
    return obj


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(np.asarray(value).ravel().tolist())
    return [value]


def _tensor_t(spec: Tensor, buffer_index: int) -> Any:
    if spec.dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {spec.dtype!r}")
    t = schema.TensorT()
    t.shape = [int(d) for d in spec.shape]
    t.type = _DTYPES[spec.dtype][0]
    t.buffer = buffer_index
    t.name = spec.name
    if spec.scale is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(s) for s in _as_list(spec.scale)]
        zps = _as_list(spec.zero_point if spec.zero_point is not None else 0)
        if len(zps) == 1 and len(q.scale) > 1:
            zps = zps * len(q.scale)
        q.zeroPoint = [int(z) for z in zps]
        q.quantizedDimension = int(spec.quantized_dimension)
        t.quantization = q
    return t


def _operator_code(name: str, version: int) -> Any:
    code = getattr(schema.BuiltinOperator, name)
    oc = schema.OperatorCodeT()
    oc.builtinCode = code
    oc.deprecatedBuiltinCode = min(code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    oc.version = version
    return oc


def build_model(
    tensors: Sequence[Tensor],
    ops: Sequence[Op],
    inputs: Sequence[int],
    outputs: Sequence[int],
    description: str = "edgeir test model",
) -> bytes:
    """Serialize a one-subgraph model; returns the ``.tflite`` bytes.

    ``inputs``/``outputs`` are the indices (into ``tensors``) of the graph inputs and
    outputs, in the order the interpreter will number them.
    """
    buffers = [schema.BufferT()]  # buffer 0: the conventional empty buffer
    tensor_ts = []
    for i, spec in enumerate(tensors):
        if not spec.name:
            spec = Tensor(**{**spec.__dict__, "name": f"t{i}"})
        buffer_index = 0
        if spec.data is not None:
            arr = np.asarray(spec.data).astype(_DTYPES[spec.dtype][1])
            if tuple(arr.shape) != tuple(spec.shape):
                raise ValueError(f"tensor {i}: data shape {arr.shape} != {tuple(spec.shape)}")
            b = schema.BufferT()
            b.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
            buffers.append(b)
            buffer_index = len(buffers) - 1
        tensor_ts.append(_tensor_t(spec, buffer_index))

    op_codes: list[Any] = []
    code_index: dict[tuple[str, int], int] = {}
    op_ts = []
    for op in ops:
        key = (op.op, op.version)
        if key not in code_index:
            code_index[key] = len(op_codes)
            op_codes.append(_operator_code(op.op, op.version))
        o = schema.OperatorT()
        o.opcodeIndex = code_index[key]
        o.inputs = [int(i) for i in op.inputs]
        o.outputs = [int(i) for i in op.outputs]
        if op.options is not None:
            kind = type(op.options).__name__.removesuffix("T")
            o.builtinOptionsType = getattr(schema.BuiltinOptions, kind)
            o.builtinOptions = op.options
        for key2, value in op.extra.items():
            setattr(o, key2, value)
        op_ts.append(o)

    sg = schema.SubGraphT()
    sg.tensors = tensor_ts
    sg.inputs = [int(i) for i in inputs]
    sg.outputs = [int(i) for i in outputs]
    sg.operators = op_ts
    sg.name = "main"

    model = schema.ModelT()
    model.version = _SCHEMA_VERSION
    model.operatorCodes = op_codes
    model.subgraphs = [sg]
    model.buffers = buffers
    model.description = description

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def build_single_op_model(
    op: str,
    inputs: Sequence[Tensor],
    outputs: Sequence[Tensor],
    op_options: Any = None,
) -> bytes:
    """Model with one operator. Non-constant ``inputs`` become graph inputs (in order);
    constant ones (with ``data``) are baked in. All ``outputs`` are graph outputs."""
    tensors = list(inputs) + list(outputs)
    in_idx = list(range(len(inputs)))
    out_idx = list(range(len(inputs), len(tensors)))
    graph_inputs = [i for i in in_idx if tensors[i].data is None]
    return build_model(tensors, [Op(op, in_idx, out_idx, op_options)], graph_inputs, out_idx)


def run_model(
    model: bytes,
    inputs: Sequence[np.ndarray],
    arena_size: int = 1 << 20,
) -> list[np.ndarray]:
    """Run ``model`` once on the TFLite Micro interpreter; returns copies of all outputs.

    Each input must already have the tensor's exact dtype and shape.
    """
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model, arena_size=arena_size)
    for i, x in enumerate(inputs):
        interp.set_input(np.ascontiguousarray(x), i)
    interp.invoke()
    parsed = schema.Model.GetRootAsModel(model, 0)
    n_out = parsed.Subgraphs(0).OutputsLength()
    return [np.array(interp.get_output(i), copy=True) for i in range(n_out)]
