"""Bad inputs to the `edgeir` command line: one line on stderr, the documented exit code.

Every case runs the installed `edgeir` console script (next to ``sys.executable``) in a
fresh directory and asserts that

(a) it exits with the code of the error's kind (``compiler.diagnostics.EXIT_CODES``);
(b) stderr is exactly one line, containing ``error:`` and naming what is wrong (the file,
    node, line, pass, option or flag);
(c) there is no traceback anywhere in the output, and nothing on stdout;
(d) no file was created: not the ``-o`` path, not a temporary file, not a reproducer.

Fixtures (broken models, .npz inputs) are generated into pytest's ``tmp_path``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from compiler.diagnostics import EXIT_CODES

EDGEIR = Path(sys.executable).with_name("edgeir")
KWS_ONNX = Path("/work/shared/models/kws_fp32.onnx")

GOOD_IR = """graph @g(%a: tensor<4xf32>) {
  %b = relu(%a) : tensor<4xf32>
  return %b
}
"""
# Line 2: the ':' before the result type is missing.
BAD_IR = """graph @g(%a: tensor<4xf32>) {
  %b = relu(%a) tensor<4xf32>
  return %b
}
"""


@dataclass
class Case:
    """``args`` run in the case's directory; stderr must contain every one of ``names``
    (plain substrings) and match every one of ``patterns`` (regular expressions)."""

    args: list[str]
    kind: str
    names: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)


# -- fixtures ----------------------------------------------------------------------------------


def write_good_ir(d: Path) -> str:
    (d / "good.ir").write_text(GOOD_IR)
    return "good.ir"


def onnx_model(nodes, inputs, outputs, initializers=()) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def unsupported_ops_model() -> bytes:
    """Two LSTM nodes and a TopK (all unsupported) around a Relu (supported)."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 4])
    outs = [helper.make_tensor_value_info("h", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("top", TensorProto.FLOAT, None)]
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 12, 4], [0.1] * 48)
    r = helper.make_tensor("R", TensorProto.FLOAT, [1, 12, 3], [0.1] * 36)
    k = helper.make_tensor("K", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R"], ["h1"], name="lstm1", hidden_size=3),
        helper.make_node("Relu", ["x"], ["relu_out"], name="relu"),
        helper.make_node("LSTM", ["x", "W", "R"], ["h"], name="lstm2", hidden_size=3),
        helper.make_node("TopK", ["relu_out", "K"], ["top", "idx"], name="topk"),
    ]
    return onnx_model(nodes, [x], outs, [w, r, k])


def symbolic_dim_model() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    return onnx_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [x], [y])


# -- cases: each builds its fixtures in a directory and says what to run -------------------------


def case_not_a_model(d: Path) -> Case:
    (d / "notes.onnx").write_text("These are my notes, not a model.\n")
    return Case(["import", "notes.onnx", "-o", "out/result.ir"], "input", ["notes.onnx"])


def case_truncated_protobuf(d: Path) -> Case:
    (d / "truncated.onnx").write_bytes(KWS_ONNX.read_bytes()[:5000])
    return Case(["import", "truncated.onnx", "-o", "out/result.ir"], "input",
                ["truncated.onnx"])


def case_unsupported_ops(d: Path) -> Case:
    (d / "lstm.onnx").write_bytes(unsupported_ops_model())
    # Every unsupported op type and every node of it is named, in the one line.
    return Case(["import", "lstm.onnx", "-o", "out/result.ir"], "unsupported",
                ["lstm.onnx", "LSTM", "TopK", "lstm1", "lstm2", "topk"])


def case_symbolic_dimension(d: Path) -> Case:
    (d / "dynamic.onnx").write_bytes(symbolic_dim_model())
    return Case(["import", "dynamic.onnx", "-o", "out/result.ir"], "input",
                ["dynamic.onnx", "'x'", "batch", "--input-shape"])


def case_malformed_ir(d: Path) -> Case:
    (d / "broken.ir").write_text(BAD_IR)
    return Case(["opt", "broken.ir", "-o", "out/result.ir"], "input",
                patterns=[r"(^|\s)broken\.ir:2:\d+: error: "])


def case_unknown_pass(d: Path) -> Case:
    return Case(["opt", write_good_ir(d), "-p", "canonicalize,frobnicate", "-o",
                 "out/result.ir"], "usage", ["'frobnicate'"])


def case_unknown_pass_option(d: Path) -> Case:
    return Case(["opt", write_good_ir(d), "-p", "canonicalize{no-such-option=1}", "-o",
                 "out/result.ir"], "usage", ["'no-such-option'", "canonicalize"])


def case_pass_option_wrong_type(d: Path) -> Case:
    return Case(["opt", write_good_ir(d), "-p", "canonicalize{fold-limit=lots}", "-o",
                 "out/result.ir"], "usage", ["'fold-limit'", "canonicalize", "'lots'"])


def case_missing_model(d: Path) -> Case:
    return Case(["import", "missing.onnx", "-o", "out/result.ir"], "input", ["missing.onnx"])


def case_missing_run_input(d: Path) -> Case:
    return Case(["run", write_good_ir(d), "--input", "missing.npz", "-o", "out/result.npz"],
                "input", ["missing.npz"])


def case_output_dir_missing(d: Path) -> Case:
    return Case(["import", write_good_ir(d), "-o", "no-such-dir/result.ir"], "output",
                ["no-such-dir/result.ir"])


def case_output_parent_is_file(d: Path) -> Case:
    (d / "plain-file").write_text("not a directory\n")
    return Case(["opt", write_good_ir(d), "-o", "plain-file/result.ir"], "output",
                ["plain-file/result.ir"])


def case_unknown_flag(d: Path) -> Case:
    return Case(["opt", write_good_ir(d), "--frobnicate", "-o", "out/result.ir"], "usage",
                ["--frobnicate"])


def case_unknown_command(d: Path) -> Case:
    return Case(["frobnicate", write_good_ir(d)], "usage", ["frobnicate"])


def case_run_npz_missing_key(d: Path) -> Case:
    np.savez(d / "inputs.npz", b=np.zeros(4, np.float32))
    return Case(["run", write_good_ir(d), "--input", "inputs.npz", "-o", "out/result.npz"],
                "input", ["inputs.npz", "'a'"])


def case_run_npz_wrong_shape(d: Path) -> Case:
    np.savez(d / "inputs.npz", a=np.zeros((2, 3), np.float32))
    return Case(["run", write_good_ir(d), "--input", "inputs.npz", "-o", "out/result.npz"],
                "input", ["inputs.npz", "'a'", "[2, 3]", "[4]"])


def unsupported_tflite_model() -> bytes:
    """A valid one-operator TFLite flatbuffer (TOPK_V2: x[1, 8], k = 2 -> values, indices)
    that edgeir does not support, whether or not it imports TFLite at all."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import (
        schema_py_generated as schema,
    )

    buffers = [schema.BufferT(), schema.BufferT()]
    buffers[1].data = np.frombuffer(np.array([2], "<i4").tobytes(), np.uint8)
    tensors = []
    for name, shape, dtype, buffer in [("x", [1, 8], schema.TensorType.FLOAT32, 0),
                                       ("k", [1], schema.TensorType.INT32, 1),
                                       ("values", [1, 2], schema.TensorType.FLOAT32, 0),
                                       ("indices", [1, 2], schema.TensorType.INT32, 0)]:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, shape, dtype, buffer
        tensors.append(t)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.TOPK_V2
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2, 3]
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [2, 3], [op], "main"
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sg], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def case_tflite(d: Path) -> Case:
    # A valid TFLite model edgeir cannot compile: "unsupported" (4), both while TFLite
    # import as a whole is unsupported and once it is supported op by op.
    (d / "model.tflite").write_bytes(unsupported_tflite_model())
    return Case(["import", "model.tflite", "-o", "out/result.ir"], "unsupported",
                ["model.tflite", "TFLite"])


CASES: dict[str, Callable[[Path], Case]] = {
    name.removeprefix("case_"): fn for name, fn in globals().items() if name.startswith("case_")
}


def snapshot(root: Path) -> set[str]:
    """Every path under ``root`` (hidden files and temporaries included)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, tmp_path: Path) -> None:
    case = CASES[name](tmp_path)
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)

    result = subprocess.run([str(EDGEIR), *case.args], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False)
    shown = f"$ edgeir {' '.join(case.args)}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"

    # (a) the documented exit code
    assert result.returncode == EXIT_CODES[case.kind], shown
    # (b) exactly one line on stderr, an error naming what is wrong
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), shown
    line = lines[0]
    assert "error:" in line, shown
    for needle in case.names:
        assert needle in line, f"{needle!r} not named\n{shown}"
    for pattern in case.patterns:
        assert re.search(pattern, line), f"{pattern!r} does not match\n{shown}"
    # (c) no traceback, and no partial output on stdout
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.stdout == "", shown
    # (d) no output, temporary or reproducer file was created anywhere
    assert snapshot(tmp_path) == before, f"new files: {snapshot(tmp_path) - before}\n{shown}"
    assert list((tmp_path / "out").iterdir()) == [], shown


def test_edgeir_script_exists() -> None:
    assert EDGEIR.exists(), f"{EDGEIR} is missing: pip install -e '.[test]'"
