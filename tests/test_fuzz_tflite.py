"""Fuzzing the TFLite importer with mutations of the shared models' flatbuffers.

Each example takes one of the shared ``*_int8.tflite`` / ``*_fp32.tflite`` models, unpacks
it with the flatbuffer object API of the schema in the ``tflite-micro`` wheel and applies
one to four structured edits: tensor shapes (0, -1, huge, rank changes), tensor types,
buffer indices (out of range, the empty buffer, another tensor's), buffer data (cut,
grown, dropped), quantization (scales 0, negative, NaN, Inf, subnormal, the wrong count;
zero points out of range or the wrong count; the quantized dimension out of range; none),
operator opcode indices, operator inputs and outputs (out of range, -1, another tensor,
dropped, added), builtin options (every numeric field set to an edge value, the options
dropped or of another operator's type), operator codes (other or unknown builtins),
subgraph inputs and outputs, operator order, subgraphs dropped, tensor names not UTF-8.
The model is packed again, and sometimes its bytes are then truncated, flipped or
overwritten (offsets that point anywhere).

The file is imported the way the CLI imports it (``compiler.cli.load_model``) and the
verifier runs; a graph that verifies goes through canonicalize, and the small models
through the whole default compile to C for the host or a Cortex-M4.

Passes when every stage ends in success or a clean EdgeirError (an import error names the
file). See tests/fuzzing.py for the settings, limits and the long run.
"""

from __future__ import annotations

import atexit
import copy
import functools
import math
import shutil
import struct
import tempfile
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from fuzzing import EDGE_INTS, byte_edit, fuzz_settings, limits, run_stages
from hypothesis import assume, given
from hypothesis import strategies as st
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from compiler.cli import load_model

pytestmark = pytest.mark.slow

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
NAMES = ["kws_int8", "ad_int8", "resnet8_int8", "vww_int8", "ad_fp32", "resnet8_fp32",
         "vww_fp32", "kws_fp32"]
COMPILED = {"kws_int8", "ad_int8", "resnet8_int8", "ad_fp32"}  # cheap enough to compile

INT32 = [i for i in EDGE_INTS if -(2**31) <= i < 2**31]
WEIRD_DIMS = [0, -1, 1, 2, 3, 1000, 2**31 - 1, 2**16, 2**20]
WEIRD_FLOATS = [0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e-45, 1e-30, 3.4e38, 1e30,
                0.5, 1.0]
TENSOR_TYPES = list(range(0, 18)) + [100, 127, -1]
BUILTIN_CODES = [0, 1, 3, 4, 9, 14, 17, 22, 25, 40, 49, 60, 83, 114, 117, 127, 150, 200,
                 2**20]


@functools.cache
def seeds() -> dict[str, schema.ModelT]:
    """The unpacked models (a function, not a fixture: hypothesis would print it)."""
    return {name: schema.ModelT.InitFromPackedBuf((MODELS / f"{name}.tflite").read_bytes(), 0)
            for name in NAMES}


@functools.cache
def workdir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="edgeir-fuzz-tflite-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _index(draw, items, label: str = "index") -> int | None:
    if items is None or len(items) == 0:
        return None
    return draw(st.integers(0, len(items) - 1), label=label)


def _tensor_ref(draw, sg) -> int:
    """A tensor index, mostly valid, sometimes not."""
    return draw(st.one_of(st.integers(0, max(len(sg.tensors) - 1, 0)),
                          st.sampled_from([-1, -2, len(sg.tensors), 2**31 - 1])), label="tensor")


def _subgraph(m: schema.ModelT):
    return m.subgraphs[0] if m.subgraphs else None


# -- structured edits -------------------------------------------------------------------------


def tensor_shape(draw, m) -> None:
    sg = _subgraph(m)
    i = _index(draw, sg.tensors if sg else [])
    if i is None:
        return
    t = sg.tensors[i]
    shape = list(t.shape) if t.shape is not None else []
    how = draw(st.sampled_from(["set", "add", "drop", "scalar", "none"]), label="how")
    if how == "set" and shape:
        shape[_index(draw, shape, "axis")] = draw(st.sampled_from(WEIRD_DIMS), label="dim")
    elif how == "add":
        shape.insert(draw(st.integers(0, len(shape))), draw(st.sampled_from([1, 2, 7])))
    elif how == "drop" and shape:
        del shape[_index(draw, shape, "axis")]
    elif how == "scalar":
        shape = []
    t.shape = None if how == "none" else np.array(shape, dtype=np.int32)


def tensor_type(draw, m) -> None:
    sg = _subgraph(m)
    i = _index(draw, sg.tensors if sg else [])
    if i is not None:
        sg.tensors[i].type = draw(st.sampled_from(TENSOR_TYPES), label="type")


def tensor_buffer(draw, m) -> None:
    sg = _subgraph(m)
    i = _index(draw, sg.tensors if sg else [])
    if i is None:
        return
    sg.tensors[i].buffer = draw(st.one_of(
        st.integers(0, max(len(m.buffers) - 1, 0)),
        st.sampled_from([0, len(m.buffers), 2**31 - 1, 2**32 - 1])), label="buffer")


def buffer_data(draw, m) -> None:
    full = [i for i, b in enumerate(m.buffers) if b.data is not None and len(b.data)]
    if not full:
        return
    b = m.buffers[draw(st.sampled_from(full), label="buffer")]
    how = draw(st.sampled_from(["cut", "grow", "drop", "specials"]), label="how")
    data = np.asarray(b.data, dtype=np.uint8)
    if how == "cut":
        b.data = data[: draw(st.integers(0, len(data) - 1), label="length")]
    elif how == "grow":
        b.data = np.concatenate([data, np.ones(draw(st.integers(1, 64)), np.uint8)])
    elif how == "drop":
        b.data = None
    else:  # float32 NaN/Inf/huge values written over the bytes (weights of a float model)
        data = data.copy()
        for _ in range(draw(st.integers(1, 4), label="values")):
            k = draw(st.integers(0, max(len(data) // 4 - 1, 0)), label="element") * 4
            word = struct.pack("<f", draw(st.sampled_from(WEIRD_FLOATS)))
            data[k:k + 4] = np.frombuffer(word, np.uint8)[: len(data[k:k + 4])]
        b.data = data


def quantization(draw, m) -> None:
    sg = _subgraph(m)
    quantized = [t for t in (sg.tensors if sg else []) if t.quantization is not None
                 and t.quantization.scale is not None and len(t.quantization.scale)]
    if not quantized:
        return
    q = quantized[_index(draw, quantized)].quantization
    how = draw(st.sampled_from(["scale", "scales", "zero point", "zero points", "dimension",
                                "none"]), label="how")
    if how == "scale":
        scale = np.array(q.scale, dtype=np.float32)
        scale[_index(draw, scale, "element")] = draw(st.sampled_from(WEIRD_FLOATS), label="value")
        q.scale = scale
    elif how == "scales":
        q.scale = np.resize(np.array(q.scale, np.float32),
                            draw(st.sampled_from([0, 1, 2, 3, 1000]), label="count"))
    elif how == "zero point":
        zp = np.array(q.zeroPoint if q.zeroPoint is not None else [0], dtype=np.int64)
        zp[_index(draw, zp, "element")] = draw(st.sampled_from(EDGE_INTS[:-2] + [2**62]))
        q.zeroPoint = zp
    elif how == "zero points":
        q.zeroPoint = np.resize(np.array(q.zeroPoint if q.zeroPoint is not None else [0],
                                         np.int64),
                                draw(st.sampled_from([0, 1, 2, 3, 1000]), label="count"))
    elif how == "dimension":
        q.quantizedDimension = draw(st.sampled_from([-1, 1, 2, 3, 4, 100]), label="dimension")
    else:
        q.scale = None
        q.zeroPoint = None


def operator_io(draw, m) -> None:
    sg = _subgraph(m)
    i = _index(draw, sg.operators if sg else [])
    if i is None:
        return
    op = sg.operators[i]
    field = draw(st.sampled_from(["inputs", "outputs"]), label="field")
    refs = [int(x) for x in (getattr(op, field) if getattr(op, field) is not None else [])]
    how = draw(st.sampled_from(["set", "set", "drop", "add", "none"]), label="how")
    if how == "set" and refs:
        refs[_index(draw, refs, "position")] = _tensor_ref(draw, sg)
    elif how == "drop" and refs:
        del refs[_index(draw, refs, "position"):]
    elif how == "add":
        refs.append(_tensor_ref(draw, sg))
    elif how == "none":
        refs = []
    setattr(op, field, np.array(refs, dtype=np.int32))


def operator_code(draw, m) -> None:
    sg = _subgraph(m)
    how = draw(st.sampled_from(["opcode index", "builtin", "deprecated"]), label="how")
    if how == "opcode index":
        i = _index(draw, sg.operators if sg else [])
        if i is not None:
            sg.operators[i].opcodeIndex = draw(st.one_of(
                st.integers(0, len(m.operatorCodes)),
                st.sampled_from([2**31 - 1, 2**32 - 1])), label="opcode index")
        return
    i = _index(draw, m.operatorCodes)
    if i is None:
        return
    code = draw(st.sampled_from(BUILTIN_CODES), label="code")
    if how == "builtin":
        m.operatorCodes[i].builtinCode = code
    else:
        m.operatorCodes[i].deprecatedBuiltinCode = min(code, 127)


def options(draw, m) -> None:
    sg = _subgraph(m)
    with_options = [op for op in (sg.operators if sg else []) if op.builtinOptions is not None]
    if not with_options:
        return
    op = with_options[_index(draw, with_options)]
    how = draw(st.sampled_from(["field", "field", "field", "drop", "other type"]), label="how")
    if how == "drop":
        op.builtinOptions = None
        op.builtinOptionsType = 0
        return
    if how == "other type":  # another operator's options table, same union slot type
        others = [o for o in sg.operators if o.builtinOptionsType != op.builtinOptionsType
                  and o.builtinOptions is not None]
        if others:
            other = others[_index(draw, others, "other")]
            op.builtinOptions = copy.deepcopy(other.builtinOptions)
            if draw(st.booleans(), label="keep type tag"):
                return  # the table of one options type, tagged as another
            op.builtinOptionsType = other.builtinOptionsType
        return
    fields = [k for k, v in vars(op.builtinOptions).items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not fields:
        return
    key = draw(st.sampled_from(fields), label="field")
    if isinstance(getattr(op.builtinOptions, key), float):
        value = draw(st.sampled_from(WEIRD_FLOATS), label="value")
    else:  # enums are int8 in the schema: small values fit every field
        value = draw(st.sampled_from([-128, -1, 0, 1, 2, 3, 4, 5, 6, 7, 100, 127]), label="value")
    setattr(op.builtinOptions, key, value)


def subgraph_io(draw, m) -> None:
    sg = _subgraph(m)
    if sg is None:
        return
    field = draw(st.sampled_from(["inputs", "outputs"]), label="field")
    refs = [int(x) for x in (getattr(sg, field) if getattr(sg, field) is not None else [])]
    how = draw(st.sampled_from(["set", "drop", "duplicate", "add"]), label="how")
    if how == "set" and refs:
        refs[_index(draw, refs, "position")] = _tensor_ref(draw, sg)
    elif how == "drop" and refs:
        del refs[_index(draw, refs, "position")]
    elif how == "duplicate" and refs:
        refs.append(refs[0])
    elif how == "add":
        refs.append(_tensor_ref(draw, sg))
    setattr(sg, field, np.array(refs, dtype=np.int32))


def structure(draw, m) -> None:
    sg = _subgraph(m)
    how = draw(st.sampled_from(["swap operators", "drop operator", "no subgraph",
                                "bad name", "drop operator codes"]), label="how")
    if how == "swap operators" and sg and len(sg.operators) > 1:
        i, j = _index(draw, sg.operators), _index(draw, sg.operators)
        sg.operators[i], sg.operators[j] = sg.operators[j], sg.operators[i]
    elif how == "drop operator" and sg and sg.operators:
        del sg.operators[_index(draw, sg.operators)]
    elif how == "no subgraph":
        m.subgraphs = []
    elif how == "bad name" and sg and sg.tensors:
        sg.tensors[_index(draw, sg.tensors)].name = b"\xff\xfe/bad"
    elif how == "drop operator codes":
        m.operatorCodes = m.operatorCodes[: draw(st.integers(0, len(m.operatorCodes)))]


MUTATIONS = [tensor_shape, tensor_type, tensor_buffer, buffer_data, quantization, quantization,
             operator_io, operator_io, operator_code, options, options, subgraph_io, structure]


def pack(m: schema.ModelT) -> bytes | None:
    builder = flatbuffers.Builder(1024)
    try:
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    except (struct.error, OverflowError, TypeError, ValueError):
        return None  # a value the schema cannot hold: not a file anyone can write
    return bytes(builder.Output())


@fuzz_settings(3000)
@given(data=st.data())
def test_fuzz_tflite_importer(data):
    name = data.draw(st.sampled_from(NAMES), label="model")
    model = copy.deepcopy(seeds()[name])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        data.draw(st.sampled_from(MUTATIONS), label="mutation")(data.draw, model)
    raw = pack(model)
    assume(raw is not None)
    if data.draw(st.integers(0, 3), label="byte mutations") == 0:
        for _ in range(data.draw(st.integers(1, 3), label="byte edits")):
            raw = byte_edit(data.draw, raw)
    compile_to = (data.draw(st.sampled_from(["host", "cortex-m4"]), label="target")
                  if name in COMPILED else None)
    path = workdir() / f"{name}.tflite"
    path.write_bytes(raw)
    with limits():
        run_stages(lambda: load_model(str(path)), str(path), compile_to,
                   name.endswith("fp32"), workdir() / "out")
