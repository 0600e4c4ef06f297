"""Fuzzing the ONNX importer with mutations of the shared models' protobufs.

Each example takes one of the shared ``*.onnx`` models (float and QDQ) and applies one to
four structured mutations to its ModelProto: a node dropped, duplicated or moved; an input
renamed, left dangling, emptied or pointed at a later node's output (a cycle); an output
renamed or dropped; an attribute's value or type changed, dropped or invented; op types,
domains, opset and IR versions changed; graph input dimensions set to 0, -1, huge or
symbolic, ranks and element types changed; initializers' dtypes, dims and raw data length
changed, NaN/Inf/huge values written into weights, weird integers into shape tensors; QDQ
scales set to 0, negative, NaN, Inf or subnormal, zero points moved out of range or given
another dtype or length; graph outputs dropped, duplicated or renamed. Then, sometimes,
raw byte mutations of the serialized file: truncation, flipped bytes, overwritten or
inserted runs.

The file is imported the way the CLI imports it (``compiler.cli.load_model``) and the
verifier runs; a graph that verifies goes through canonicalize, and for the small models
through the whole default compile to C (``backends.c.driver.compile_model``, float
kernels for float models) for the host or a Cortex-M4, since errors can surface later.

Passes when every stage ends in success or a clean EdgeirError (an import error names the
file). See tests/fuzzing.py for the settings, limits and the long run.
"""

from __future__ import annotations

import atexit
import functools
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from fuzzing import EDGE_INTS, byte_edit, fuzz_settings, limits, run_stages
from hypothesis import given
from hypothesis import strategies as st
from onnx import AttributeProto, TensorProto

from compiler.cli import load_model
from compiler.frontends.onnx_import import CONVERTERS, FOLD_ONLY, import_model

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
NAMES = ["kws_fp32", "kws_qdq", "ad_fp32", "ad_qdq", "resnet8_fp32", "resnet8_qdq",
         "vww_fp32", "vww_qdq"]
COMPILED = {"kws_fp32", "kws_qdq", "ad_qdq", "resnet8_qdq"}  # cheap enough to compile

INT64 = [i for i in EDGE_INTS if -(2**63) <= i < 2**63]
WEIRD_FLOATS = [0.0, -0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 1e-45, 1e-30, 3.4e38,
                1e300, 0.5]
WEIRD_DIMS = [0, -1, -7, 1, 2, 3, 1000, 2**31 - 1, 2**31, 2**40, 2**62]
OP_TYPES = sorted(set(CONVERTERS) | FOLD_ONLY) + ["Constant", "Foo", "If", "Loop", "LSTM",
                                                   "Scan", ""]
DOMAINS = ["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "bogus"]
DATA_TYPES = list(TensorProto.DataType.values()) + [99, 1000]
STRINGS = [b"", b"NOTSET", b"SAME_UPPER", b"SAME_LOWER", b"VALID", b"nearest", b"linear",
           b"constant", b"reflect", b"edge", b"half_pixel", b"bogus", b"\xff\xfe", b"x" * 300]

# Functions, not fixtures: hypothesis would print a fixture's value with every failure.
@functools.cache
def seeds() -> dict[str, onnx.ModelProto]:
    return {name: onnx.load(str(MODELS / f"{name}.onnx")) for name in NAMES}


@functools.cache
def workdir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="edgeir-fuzz-onnx-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


# -- helpers ------------------------------------------------------------------------------------


def _index(draw, items, label: str = "index") -> int | None:
    if not len(items):
        return None
    return draw(st.integers(0, len(items) - 1), label=label)


def _tensor_names(g: onnx.GraphProto) -> list[str]:
    names = [i.name for i in g.input] + [i.name for i in g.initializer]
    return names + [o for n in g.node for o in n.output]


def _np_dtype(data_type: int):
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(data_type)
    except Exception:  # noqa: BLE001 - no numpy dtype for it
        return None


def _set_elements(draw, t: TensorProto, values) -> None:
    """Write ``values`` into some elements of ``t`` (raw or typed storage alike)."""
    dtype = _np_dtype(t.data_type)
    if dtype is None:
        return
    array = onnx.numpy_helper.to_array(t).copy() if _readable(t) else None
    if array is None or array.size == 0:
        return
    flat = array.reshape(-1)
    for _ in range(draw(st.integers(1, 4), label="elements")):
        i = draw(st.integers(0, flat.size - 1), label="element")
        value = draw(st.sampled_from(values), label="value")
        with np.errstate(all="ignore"):
            try:
                flat[i] = np.array(value).astype(dtype)
            except (OverflowError, ValueError):
                flat[i] = np.array(value, dtype=np.float64).astype(dtype)
    t.CopyFrom(onnx.numpy_helper.from_array(array, t.name))


def _readable(t: TensorProto) -> bool:
    try:
        onnx.numpy_helper.to_array(t)
        return True
    except Exception:  # noqa: BLE001 - an already broken tensor
        return False


# -- mutations of the ModelProto ---------------------------------------------------------------


def drop_node(draw, m: onnx.ModelProto) -> None:
    i = _index(draw, m.graph.node)
    if i is not None:
        del m.graph.node[i]


def duplicate_node(draw, m: onnx.ModelProto) -> None:
    i = _index(draw, m.graph.node)
    if i is not None:
        m.graph.node.add().CopyFrom(m.graph.node[i])


def move_node(draw, m: onnx.ModelProto) -> None:
    g = m.graph
    i, j = _index(draw, g.node), _index(draw, g.node)
    if i is not None and i != j:
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(g.node[i])
        b.CopyFrom(g.node[j])
        g.node[i].CopyFrom(b)
        g.node[j].CopyFrom(a)


def node_input(draw, m: onnx.ModelProto) -> None:
    g = m.graph
    i = _index(draw, g.node)
    if i is None:
        return
    node = g.node[i]
    how = draw(st.sampled_from(["dangle", "empty", "other", "cycle", "drop", "extra"]),
               label="how")
    if how == "extra":
        node.input.append(draw(st.sampled_from(_tensor_names(g) + ["", "nope"])))
        return
    k = _index(draw, node.input, "input")
    if k is None:
        return
    if how == "dangle":
        node.input[k] = "nope"
    elif how == "empty":
        node.input[k] = ""
    elif how == "other":
        node.input[k] = draw(st.sampled_from(_tensor_names(g)), label="name")
    elif how == "cycle":
        later = [o for n in g.node[i:] for o in n.output if o]
        if later:
            node.input[k] = draw(st.sampled_from(later), label="name")
    else:
        del node.input[k:]


def node_output(draw, m: onnx.ModelProto) -> None:
    g = m.graph
    i = _index(draw, g.node)
    if i is None:
        return
    node = g.node[i]
    how = draw(st.sampled_from(["rename", "empty", "extra", "drop", "other"]), label="how")
    if how == "extra":
        node.output.append(draw(st.sampled_from(["", "extra", *_tensor_names(g)[:20]])))
        return
    k = _index(draw, node.output, "output")
    if k is None:
        return
    if how == "rename":
        node.output[k] = node.output[k] + "_renamed"
    elif how == "empty":
        node.output[k] = ""
    elif how == "other":
        node.output[k] = draw(st.sampled_from(_tensor_names(g)), label="name")
    else:
        del node.output[k]


def node_kind(draw, m: onnx.ModelProto) -> None:
    i = _index(draw, m.graph.node)
    if i is None:
        return
    node = m.graph.node[i]
    if draw(st.booleans(), label="op type or domain"):
        node.op_type = draw(st.sampled_from(OP_TYPES), label="op type")
    else:
        node.domain = draw(st.sampled_from(DOMAINS), label="domain")


def attribute(draw, m: onnx.ModelProto) -> None:
    i = _index(draw, m.graph.node)
    if i is None:
        return
    node = m.graph.node[i]
    how = draw(st.sampled_from(["value", "value", "type", "drop", "add"]), label="how")
    if how == "add":
        a = node.attribute.add()
        a.name = draw(st.sampled_from(["axis", "pads", "strides", "kernel_shape", "group",
                                       "auto_pad", "perm", "alpha", "bogus", ""]))
        a.type = AttributeProto.INT
        a.i = draw(st.sampled_from(INT64))
        return
    k = _index(draw, node.attribute, "attribute")
    if k is None:
        return
    a = node.attribute[k]
    if how == "drop":
        del node.attribute[k]
        return
    if how == "type":
        a.type = draw(st.sampled_from(list(AttributeProto.AttributeType.values())), label="type")
    _attribute_value(draw, a)


def _attribute_value(draw, a: AttributeProto) -> None:
    if a.type == AttributeProto.INT:
        a.i = draw(st.sampled_from(INT64), label="int")
    elif a.type == AttributeProto.FLOAT:
        a.f = draw(st.sampled_from(WEIRD_FLOATS), label="float")
    elif a.type == AttributeProto.STRING:
        a.s = draw(st.sampled_from(STRINGS), label="string")
    elif a.type == AttributeProto.INTS:
        del a.ints[:]
        a.ints.extend(draw(st.lists(st.sampled_from(INT64), max_size=9), label="ints"))
    elif a.type == AttributeProto.FLOATS:
        del a.floats[:]
        a.floats.extend(draw(st.lists(st.sampled_from(WEIRD_FLOATS), max_size=5)))
    elif a.type == AttributeProto.STRINGS:
        del a.strings[:]
        a.strings.extend(draw(st.lists(st.sampled_from(STRINGS), max_size=3)))
    elif a.type == AttributeProto.TENSOR:
        _tensor(draw, a.t)


def graph_input(draw, m: onnx.ModelProto) -> None:
    g = m.graph
    initializers = {t.name for t in g.initializer}
    real = [v for v in g.input if v.name not in initializers]
    i = _index(draw, real)
    if i is None:
        return
    v = real[i]
    how = draw(st.sampled_from(["dim", "dim", "symbolic", "unknown", "rank+", "rank-",
                                "dtype", "no shape", "not a tensor", "drop", "rename"]),
               label="how")
    tt = v.type.tensor_type
    dims = tt.shape.dim
    if how == "dim" and len(dims):
        dims[_index(draw, dims, "axis")].dim_value = draw(st.sampled_from(WEIRD_DIMS), label="dim")
    elif how == "symbolic" and len(dims):
        dims[_index(draw, dims, "axis")].dim_param = "N"
    elif how == "unknown" and len(dims):
        dims[_index(draw, dims, "axis")].Clear()
    elif how == "rank+":
        dims.add().dim_value = draw(st.sampled_from([1, 2, 7]))
    elif how == "rank-" and len(dims):
        del dims[_index(draw, dims, "axis")]
    elif how == "dtype":
        tt.elem_type = draw(st.sampled_from(DATA_TYPES), label="dtype")
    elif how == "no shape":
        tt.ClearField("shape")
    elif how == "not a tensor":
        v.type.sequence_type.elem_type.tensor_type.elem_type = TensorProto.FLOAT
    elif how == "drop":
        g.input.remove(v)
    elif how == "rename":
        v.name = v.name + "_renamed"


def graph_output(draw, m: onnx.ModelProto) -> None:
    g = m.graph
    how = draw(st.sampled_from(["drop", "duplicate", "rename", "other"]), label="how")
    i = _index(draw, g.output)
    if i is None:
        return
    if how == "drop":
        del g.output[i]
    elif how == "duplicate":
        g.output.add().CopyFrom(g.output[i])
    elif how == "rename":
        g.output[i].name = g.output[i].name + "_renamed"
    else:
        g.output[i].name = draw(st.sampled_from(_tensor_names(g)), label="name")


def _tensor(draw, t: TensorProto) -> None:
    how = draw(st.sampled_from(["dtype", "dims", "raw length", "specials", "ints", "storage"]),
               label="tensor how")
    if how == "dtype":
        t.data_type = draw(st.sampled_from(DATA_TYPES), label="dtype")
    elif how == "dims":
        dims = list(t.dims)
        which = draw(st.sampled_from(["set", "add", "drop", "scalar"]), label="dims how")
        if which == "set" and dims:
            dims[_index(draw, dims, "axis")] = draw(st.sampled_from(WEIRD_DIMS), label="dim")
        elif which == "add":
            dims.append(draw(st.sampled_from([1, 2, 3, 0])))
        elif which == "drop" and dims:
            del dims[_index(draw, dims, "axis")]
        else:
            dims = []
        del t.dims[:]
        t.dims.extend(dims)
    elif how == "raw length":
        raw = t.raw_data or (onnx.numpy_helper.to_array(t).tobytes() if _readable(t) else b"")
        t.ClearField("float_data")
        t.ClearField("int32_data")
        t.ClearField("int64_data")
        t.ClearField("double_data")
        cut = draw(st.integers(0, len(raw) + 8), label="raw length")
        t.raw_data = raw[:cut] + b"\x01" * max(0, cut - len(raw))
    elif how == "specials":
        _set_elements(draw, t, WEIRD_FLOATS)
    elif how == "ints":
        _set_elements(draw, t, INT64)
    else:  # typed storage that disagrees with data_type, next to or instead of raw_data
        if draw(st.booleans(), label="clear raw"):
            t.ClearField("raw_data")
        t.float_data.extend(draw(st.lists(st.sampled_from(WEIRD_FLOATS), max_size=3)))
        t.int64_data.extend(draw(st.lists(st.sampled_from(INT64), max_size=3)))


def initializer(draw, m: onnx.ModelProto) -> None:
    i = _index(draw, m.graph.initializer)
    if i is None:
        return
    how = draw(st.sampled_from(["tensor", "tensor", "drop", "rename", "duplicate"]), label="how")
    t = m.graph.initializer[i]
    if how == "tensor":
        _tensor(draw, t)
    elif how == "drop":
        del m.graph.initializer[i]
    elif how == "rename":
        t.name = t.name + "_renamed"
    else:
        m.graph.initializer.add().CopyFrom(t)


def qdq_params(draw, m: onnx.ModelProto) -> None:
    """A QuantizeLinear/DequantizeLinear scale or zero point corrupted."""
    g = m.graph
    by_name = {t.name: t for t in g.initializer}
    params = [n.input[k] for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
              for k in (1, 2) if k < len(n.input) and n.input[k] in by_name]
    if not params:
        return
    t = by_name[draw(st.sampled_from(params), label="parameter")]
    how = draw(st.sampled_from(["value", "dtype", "per-axis", "empty"]), label="how")
    array = onnx.numpy_helper.to_array(t) if _readable(t) else np.zeros((), np.float32)
    if how == "value":
        values = WEIRD_FLOATS if array.dtype.kind == "f" else INT64
        _set_elements(draw, t, values)
        return
    if how == "dtype":
        new = draw(st.sampled_from([np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                    np.float16, np.float64, np.int64]), label="dtype")
        with np.errstate(all="ignore"):
            array = array.astype(new)
    elif how == "per-axis":
        n = draw(st.sampled_from([2, 3, 7, 1000]), label="length")
        array = np.resize(array.reshape(-1), n)
    else:
        array = array.reshape(-1)[:0]
    t.CopyFrom(onnx.numpy_helper.from_array(array, t.name))


def versions(draw, m: onnx.ModelProto) -> None:
    how = draw(st.sampled_from(["opset", "opset domain", "extra opset", "no opset", "ir"]),
               label="how")
    if how == "opset" and m.opset_import:
        m.opset_import[0].version = draw(st.sampled_from([-1, 0, 1, 6, 7, 10, 11, 12, 13, 17,
                                                          19, 21, 99, 2**40]), label="opset")
    elif how == "opset domain" and m.opset_import:
        m.opset_import[0].domain = draw(st.sampled_from(DOMAINS), label="domain")
    elif how == "extra opset":
        m.opset_import.add().CopyFrom(onnx.helper.make_opsetid("", 11))
    elif how == "no opset":
        del m.opset_import[:]
    else:
        m.ir_version = draw(st.sampled_from([0, 1, 3, 7, 8, 10, 99]), label="ir")


MUTATIONS = [drop_node, duplicate_node, move_node, node_input, node_output, node_kind,
             attribute, attribute, graph_input, graph_output, initializer, initializer,
             qdq_params, versions]


# -- the test ------------------------------------------------------------------------------------


@fuzz_settings(2500)
@given(data=st.data())
def test_fuzz_onnx_importer(data):
    name = data.draw(st.sampled_from(NAMES), label="model")
    model = onnx.ModelProto()
    model.CopyFrom(seeds()[name])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        data.draw(st.sampled_from(MUTATIONS), label="mutation")(data.draw, model)
    raw = model.SerializeToString()
    if data.draw(st.integers(0, 3), label="byte mutations") == 0:
        for _ in range(data.draw(st.integers(1, 3), label="byte edits")):
            raw = byte_edit(data.draw, raw)
    compile_to = (data.draw(st.sampled_from(["host", "cortex-m4"]), label="target")
                  if name in COMPILED else None)
    path = workdir() / f"{name}.onnx"
    path.write_bytes(raw)
    float_model = name.endswith("fp32")
    with limits():
        # The CLI's way: the file through onnx.checker and the importer.
        run_stages(lambda: load_model(str(path)), str(path), compile_to, float_model,
                   workdir() / "out")
        # The library's way (compiler.onnx_backend): an in-memory model, no onnx.checker.
        unchecked = onnx.ModelProto()
        try:
            unchecked.ParseFromString(raw)
        except Exception:  # noqa: BLE001 - the file path above reported it
            return
        run_stages(lambda: import_model(unchecked, str(path)), str(path), compile_to,
                   float_model, workdir() / "out", "unchecked ")
