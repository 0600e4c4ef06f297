"""Write the binary fixtures of the bad-input corpus (ONNX, TFLite, .npz), deterministically.

    python tests/bad_inputs/make_cases.py          # rewrite the committed files
    python tests/bad_inputs/make_cases.py --check  # exit 1 if a committed file differs

The text fixtures (.ir, .toml and the like) are written by hand and committed as they are;
this script makes only what cannot be written by hand. The same bytes come out on every run
(pinned ONNX IR version and opset, no timestamps in the .npz archives), and
tests/test_bad_inputs.py checks that the committed files equal what it makes.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: tflite_builder

Files = dict[str, bytes]  # path relative to tests/bad_inputs -> content


# -- .npz without timestamps --------------------------------------------------------------------


def npz(**arrays: np.ndarray) -> bytes:
    """What numpy.savez writes, with a fixed date in every zip entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                        member.getvalue())
    return buf.getvalue()


# -- ONNX -------------------------------------------------------------------------------------


def onnx_model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "bad", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8, producer_name="edgeir-bad-inputs")
    return model.SerializeToString()


def tensor_info(name: str, shape, dtype: str = "FLOAT"):
    from onnx import TensorProto, helper

    return helper.make_tensor_value_info(name, getattr(TensorProto, dtype), shape)


def initializer(name: str, array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def node(op: str, inputs, outputs, name: str, domain: str | None = None, **attrs):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=name, domain=domain, **attrs)


def conv_model(weight: np.ndarray | None = None) -> bytes:
    """x[1, 3, 8, 8] -> Conv 'conv1' (W[4, 3, 3, 3], b[4]) -> Relu 'relu1' -> y."""
    w = np.linspace(-1, 1, 108, dtype=np.float32).reshape(4, 3, 3, 3) if weight is None else weight
    return onnx_model(
        [node("Conv", ["x", "W", "b"], ["c"], "conv1", pads=[1, 1, 1, 1]),
         node("Relu", ["c"], ["y"], "relu1")],
        [tensor_info("x", [1, 3, 8, 8])], [tensor_info("y", [1, 4, 8, 8])],
        [initializer("W", w), initializer("b", np.zeros(4, np.float32))])


def relu_model(shape, dtype: str = "FLOAT") -> bytes:
    return onnx_model([node("Relu", ["x"], ["y"], "relu")], [tensor_info("x", shape, dtype)],
                      [tensor_info("y", shape, dtype)])


def qdq_model(scale: np.ndarray, zero_point: np.ndarray, axis: int = 0) -> bytes:
    """W[4, 3] int8 -> DequantizeLinear 'dq_w' (scale, zero point, axis) -> MatMul with x."""
    return onnx_model(
        [node("DequantizeLinear", ["Wq", "w_scale", "w_zp"], ["W"], "dq_w", axis=axis),
         node("MatMul", ["x", "W"], ["y"], "matmul")],
        [tensor_info("x", [2, 4])], [tensor_info("y", [2, 3])],
        [initializer("Wq", np.arange(12, dtype=np.int8).reshape(4, 3)),
         initializer("w_scale", scale), initializer("w_zp", zero_point)])


def onnx_files() -> Files:
    from onnx import TensorProto, helper

    files: Files = {}
    files["not_a_model.onnx"] = b"These are my notes, not a model.\n"
    files["empty.onnx"] = b""
    good = conv_model()
    files["truncated.onnx"] = good[: len(good) // 2]
    files["cycle.onnx"] = onnx_model(
        [node("Relu", ["b"], ["a"], "relu_a"), node("Relu", ["a"], ["b"], "relu_b")],
        [tensor_info("x", [1, 4])], [tensor_info("b", [1, 4])])
    files["dangling_input.onnx"] = onnx_model(
        [node("Add", ["x", "ghost"], ["y"], "add1")],
        [tensor_info("x", [1, 4])], [tensor_info("y", [1, 4])])
    files["duplicate_output.onnx"] = onnx_model(
        [node("Relu", ["x"], ["y"], "relu1"), node("Sigmoid", ["x"], ["y"], "sigmoid1")],
        [tensor_info("x", [1, 4])], [tensor_info("y", [1, 4])])
    files["duplicate_input.onnx"] = onnx_model(
        [node("Add", ["x", "x"], ["y"], "add1")],
        [tensor_info("x", [1, 4]), tensor_info("x", [1, 4])], [tensor_info("y", [1, 4])])
    files["duplicate_initializer.onnx"] = onnx_model(
        [node("Add", ["x", "B"], ["y"], "add1")],
        [tensor_info("x", [1, 4])], [tensor_info("y", [1, 4])],
        [initializer("B", np.ones((1, 4), np.float32)),
         initializer("B", np.zeros((1, 4), np.float32))])
    files["zero_dim.onnx"] = relu_model([1, 0, 4])
    files["huge_dim.onnx"] = relu_model([1, 1 << 40])
    files["symbolic_dim.onnx"] = relu_model(["batch", 3])
    unknown = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    unknown.type.tensor_type.shape.dim[1].Clear()  # neither dim_value nor dim_param
    files["unknown_dim.onnx"] = onnx_model(
        [node("Relu", ["x"], ["y"], "relu")], [unknown], [tensor_info("y", [1, 3])])
    no_shape = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    files["no_input_shape.onnx"] = onnx_model(
        [node("Relu", ["x"], ["y"], "relu")], [no_shape], [tensor_info("y", [1, 3])])
    files["string_input.onnx"] = relu_model([1, 4], "STRING")
    w = np.linspace(-1, 1, 108, dtype=np.float32).reshape(4, 3, 3, 3)
    w[2, 1, 0, 0] = np.nan
    files["nan_weight.onnx"] = conv_model(w)
    files["inf_weight.onnx"] = onnx_model(
        [node("MatMul", ["x", "M"], ["y"], "matmul")],
        [tensor_info("x", [1, 4])], [tensor_info("y", [1, 2])],
        [initializer("M", np.array([[1, 2], [3, np.inf], [5, 6], [7, 8]], np.float32))])
    r = initializer("R", np.full((1, 12, 3), 0.1, np.float32))
    files["unsupported_ops.onnx"] = onnx_model(
        [node("LSTM", ["x", "W", "R"], ["h1"], "lstm1", hidden_size=3),
         node("Relu", ["x"], ["relu_out"], "relu"),
         node("LSTM", ["x", "W", "R"], ["h"], "lstm2", hidden_size=3),
         node("TopK", ["relu_out", "K"], ["top", "idx"], "topk")],
        [tensor_info("x", [1, 5, 4])],
        [tensor_info("h", [5, 1, 1, 3]), tensor_info("top", [1, 5, 2])],
        [initializer("W", np.full((1, 12, 4), 0.1, np.float32)), r,
         initializer("K", np.array([2], np.int64))])
    files["custom_domain.onnx"] = onnx_model(
        [node("FusedGemm", ["x", "x"], ["y"], "fused", domain="com.microsoft")],
        [tensor_info("x", [4, 4])], [tensor_info("y", [4, 4])])
    files["opset_too_new.onnx"] = onnx_model(
        [node("Relu", ["x"], ["y"], "relu")], [tensor_info("x", [1, 4])],
        [tensor_info("y", [1, 4])], opset=99)
    files["output_not_produced.onnx"] = onnx_model(
        [node("Relu", ["x"], ["y"], "relu")], [tensor_info("x", [1, 4])],
        [tensor_info("y", [1, 4]), tensor_info("z", [1, 4])])
    files["conv_channel_mismatch.onnx"] = conv_model(
        np.ones((4, 2, 3, 3), np.float32))  # the input has 3 channels
    files["conv_transpose_weight_rank.onnx"] = onnx_model(  # found by the ONNX fuzzer
        [node("ConvTranspose", ["x", "W"], ["y"], "deconv1")],
        [tensor_info("x", [1, 2, 4, 4])], [tensor_info("y", [1, 2, 5, 5])],
        [initializer("W", np.ones(4, np.float32))])
    files["conv_pads_length.onnx"] = onnx_model(
        [node("Conv", ["x", "W"], ["y"], "conv1", pads=[1, 1])],
        [tensor_info("x", [1, 2, 4, 4])], [tensor_info("y", [1, 2, 4, 4])],
        [initializer("W", np.ones((2, 2, 3, 3), np.float32))])
    files["reshape_mismatch.onnx"] = onnx_model(
        [node("Reshape", ["x", "shape"], ["y"], "reshape1")],
        [tensor_info("x", [1, 12])], [tensor_info("y", [5, 5])],
        [initializer("shape", np.array([5, 5], np.int64))])
    # Inconsistent QDQ parameters.
    files["qdq_axis_mismatch.onnx"] = qdq_model(  # 3 scales along axis 0, which has 4 rows
        np.full(3, 0.1, np.float32), np.zeros(3, np.int8), axis=0)
    files["qdq_zero_point_shape.onnx"] = qdq_model(
        np.full(4, 0.1, np.float32), np.zeros(3, np.int8), axis=0)
    files["qdq_zero_scale.onnx"] = qdq_model(
        np.array([0.1, 0.0, 0.1, 0.1], np.float32), np.zeros(4, np.int8), axis=0)
    files["qdq_zero_point_type.onnx"] = qdq_model(  # int8 data, uint8 zero points
        np.full(4, 0.1, np.float32), np.full(4, 128, np.uint8), axis=0)
    return {f"onnx/{k}": v for k, v in files.items()}


# -- TFLite -----------------------------------------------------------------------------------


def tflite_fc(x_dtype: str = "int8", w_dtype: str = "int8", quantized: bool = True,
              out_scale: float = 0.1) -> bytes:
    """x[1, 4] -> FULLY_CONNECTED (W[3, 4], b[3]) -> y[1, 3], named 'fc_out'."""
    from tflite_builder import Op, Tensor, build_model, options

    q = (lambda s, z: {"scale": s, "zero_point": z}) if quantized else (lambda s, z: {})
    b_dtype = "int32" if x_dtype == "int8" else "float32"
    tensors = [
        Tensor((1, 4), x_dtype, name="input", **(q(0.05, -3) if x_dtype == "int8" else {})),
        Tensor((3, 4), w_dtype, name="weights", data=np.arange(12).reshape(3, 4) - 6,
               **(q(0.02, 0) if w_dtype == "int8" else {})),
        Tensor((3,), b_dtype, name="bias", data=np.array([1, -2, 3]),
               **(q(0.001, 0) if x_dtype == "int8" else {})),
        Tensor((1, 3), x_dtype, name="fc_out",
               **(q(out_scale, 2) if x_dtype == "int8" else {})),
    ]
    ops = [Op("FULLY_CONNECTED", [0, 1, 2], [3], options("FullyConnectedOptions"))]
    return build_model(tensors, ops, [0], [3])


def tflite_logistic(shape=(1, 8)) -> bytes:
    from tflite_builder import Tensor, build_single_op_model

    return build_single_op_model("LOGISTIC", [Tensor(shape, "float32", name="x")],
                                 [Tensor(shape, "float32", name="logistic_out")])


def edit_tflite(buf: bytes, change: Callable) -> bytes:
    """``change(model)`` on the object API's ModelT, then serialize it again."""
    import flatbuffers
    from tflite_builder import schema

    model = schema.ModelT.InitFromPackedBuf(buf, 0)
    change(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tflite_files() -> Files:
    from tflite_builder import Tensor, build_single_op_model, options, schema

    files: Files = {}
    good = tflite_fc()
    files["not_a_model.tflite"] = b"These are my notes, not a model.\n"
    files["empty.tflite"] = b""
    files["truncated.tflite"] = good[: len(good) // 2]
    files["bad_identifier.tflite"] = good[:4] + b"XXXX" + good[8:]
    files["no_subgraph.tflite"] = edit_tflite(good, lambda m: setattr(m, "subgraphs", []))
    topk = build_single_op_model(
        "TOPK_V2", [Tensor((1, 8), "float32", name="x"),
                    Tensor((1,), "int32", name="k", data=np.array([2]))],
        [Tensor((1, 2), "float32", name="values"), Tensor((1, 2), "int32", name="indices")])
    files["unsupported_op.tflite"] = topk
    files["dynamic_dim.tflite"] = tflite_logistic((-1, 8))
    files["zero_dim.tflite"] = tflite_logistic((1, 0))

    def short_weights(m):
        m.buffers[m.subgraphs[0].tensors[1].buffer].data = np.zeros(5, np.uint8)

    files["weights_size.tflite"] = edit_tflite(good, short_weights)

    def bad_tensor_index(m):
        m.subgraphs[0].operators[0].inputs = [0, 99, 2]

    files["tensor_index.tflite"] = edit_tflite(good, bad_tensor_index)

    def bad_opcode_index(m):
        m.subgraphs[0].operators[0].opcodeIndex = 7

    files["opcode_index.tflite"] = edit_tflite(good, bad_opcode_index)

    def output_never_written(m):
        sg = m.subgraphs[0]
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = "orphan", [1, 3], schema.TensorType.INT8, 0
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [0.1], [0]
        t.quantization = q
        sg.tensors.append(t)
        sg.outputs = [3, len(sg.tensors) - 1]

    files["output_never_written.tflite"] = edit_tflite(good, output_never_written)
    files["int8_without_quantization.tflite"] = tflite_fc(quantized=False)
    files["zero_scale.tflite"] = tflite_fc(out_scale=0.0)

    def scale_and_zero_point_counts(m):
        q = m.subgraphs[0].tensors[1].quantization
        q.scale, q.zeroPoint = [0.02, 0.03, 0.04], [0, 0]

    files["quant_counts.tflite"] = edit_tflite(good, scale_and_zero_point_counts)

    def complex_input(m):
        m.subgraphs[0].tensors[0].type = schema.TensorType.COMPLEX64

    files["complex_type.tflite"] = edit_tflite(tflite_logistic(), complex_input)
    files["hybrid.tflite"] = tflite_fc(x_dtype="float32", w_dtype="int8", quantized=False)

    conv_options = options("Conv2DOptions", padding=schema.Padding.VALID, strideW=1, strideH=1,
                           dilationWFactor=1, dilationHFactor=1,
                           fusedActivationFunction=schema.ActivationFunctionType.SIGN_BIT)
    files["fused_activation.tflite"] = build_single_op_model(
        "CONV_2D", [Tensor((1, 4, 4, 2), "float32", name="image"),
                    Tensor((3, 1, 1, 2), "float32", name="filters",
                           data=np.ones((3, 1, 1, 2))),
                    Tensor((3,), "float32", name="conv_bias", data=np.zeros(3))],
        [Tensor((1, 4, 4, 3), "float32", name="conv_out")], conv_options)
    return {f"tflite/{k}": v for k, v in files.items()}


# -- targets: a small int8 model to compile -----------------------------------------------------


def target_files() -> Files:
    return {"targets/model.tflite": tflite_fc()}


# -- calibration data ---------------------------------------------------------------------------


def calib_files() -> Files:
    """Data for calib/model.ir (input 'input': 1x4xf32) and calib/two_inputs.ir
    ('a' and 'b': 1x4xf32)."""
    rng = np.random.default_rng(0)
    good = rng.standard_normal((8, 1, 4)).astype(np.float32)
    nan = good.copy()
    nan[3, 0, 2] = np.nan
    files = {
        "wrong_key.npz": npz(image=good),
        "extra_key.npz": npz(input=good, inputs=good),
        "wrong_shape.npz": npz(input=rng.standard_normal((8, 1, 5)).astype(np.float32)),
        "int_samples.npz": npz(input=np.ones((8, 1, 4), np.int32)),
        "text_samples.npz": npz(input=np.array(["a", "b", "c", "d"])),
        "nan_sample.npz": npz(input=nan),
        "no_samples.npz": npz(input=np.zeros((0, 1, 4), np.float32)),
        "counts_differ.npz": npz(a=good, b=good[:5]),
        "good.npz": npz(input=good),
        "val_wrong_key.npz": npz(image=good, labels=np.zeros(8, np.int64)),
        "run_wrong_shape.npz": npz(input=np.zeros((2, 3), np.float32)),
        "run_missing_key.npz": npz(b=np.zeros((1, 4), np.float32)),
        "run_wrong_dtype.npz": npz(input=np.zeros((1, 4), np.float64)),
        "two_npy/a.npy": _npy(good[0]),
        "truncated.npz": npz(input=good)[:100],
    }
    return {f"calib/{k}": v for k, v in files.items()}


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def all_files() -> Files:
    return {**onnx_files(), **tflite_files(), **target_files(), **calib_files()}


def main(argv: list[str]) -> int:
    files = all_files()
    if "--check" in argv:
        stale = [p for p, data in files.items()
                 if not (HERE / p).exists() or (HERE / p).read_bytes() != data]
        for p in stale:
            print(f"{p} differs from what make_cases.py writes", file=sys.stderr)
        return 1 if stale else 0
    for path, data in sorted(files.items()):
        target = HERE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    print(f"wrote {len(files)} files under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
