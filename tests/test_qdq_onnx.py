"""QDQ ONNX models lowered to int8 ops (qdq-to-int) against onnxruntime.

edgeir keeps every scale and zero point of the model and computes each int8 op with TFLM's
integer arithmetic (int32 accumulation, fixed-point multiplier/shift requantization).
onnxruntime requantizes the same int32 accumulator in float32 (acc * scale rounded half
to even), so the two differ by exactly one LSB on the elements where the float32 product
lands near a rounding boundary. That is what these tests pin down:

* layer by layer: every lowered int8 op, fed onnxruntime's own int8 inputs, reproduces
  onnxruntime's int8 output within 1 LSB, on under 2% of all compared elements;
* end to end: those 1-LSB differences propagate through the following layers, so the
  final int8 outputs differ by a few LSB. The bounds below are what that accumulation
  gives on these models (measured on 50 inputs); the classifiers' final softmax runs in
  float and its int8 output (scale 1/255) magnifies a logit difference of one logit LSB
  (0.33 for KWS) by e^0.33, so for them the logits (the last int8 op) are compared.
"""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from compiler import interp, ops
from compiler.frontends.onnx_import import load_onnx
from compiler.pipeline import parse_pipeline, run_pipeline
from passes import QDQ_PIPELINE

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
# model -> (value compared end to end, bound in LSB of that value)
END_TO_END = {"ad": ("output", 3), "vww": ("output", 2), "kws": ("logits", 6),
              "resnet8": ("logits", 6)}


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def _with_int8_intermediates(path: Path) -> tuple[ort.InferenceSession, dict[str, str]]:
    """onnxruntime on the model with every QuantizeLinear output exposed; and the map
    from a quantized tensor's float name (the QuantizeLinear input) to that output."""
    model = onnx.load(path)
    q_of = {n.input[0]: n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    have = {o.name for o in model.graph.output}
    for q in q_of.values():
        if q not in have:
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(q, onnx.TensorProto.INT8, None))
    return _session(model), q_of


def _inputs(graph, n, seed):
    rng = np.random.default_rng(seed)
    shape = graph.inputs[0].type.shape
    return [rng.random(shape, dtype=np.float32) * 2 - 1 for _ in range(n)]


@pytest.fixture(scope="module", params=sorted(END_TO_END))
def lowered(request):
    path = MODELS / f"{request.param}_qdq.onnx"
    nchw = load_onnx(path)  # layer-wise comparison in ONNX's own layout
    run_pipeline(nchw, parse_pipeline("canonicalize,fold-batchnorm,fuse-activation,qdq-to-int"))
    full = load_onnx(path)
    run_pipeline(full, parse_pipeline(QDQ_PIPELINE))
    return request.param, path, nchw, full


def test_only_int8_compute_remains(lowered):
    _, _, _, graph = lowered
    float_compute = {n.op for n in graph.nodes} & {"conv2d", "gemm", "matmul", "add", "avg_pool"}
    assert not float_compute
    assert not any(n.op in ("quantize_linear", "dequantize_linear") for n in graph.nodes)


def test_each_int8_op_within_one_lsb_of_onnxruntime(lowered):
    name, path, graph, _ = lowered
    sess, q_of = _with_int8_intermediates(path)
    names = [o.name for o in sess.get_outputs()]
    compared = set()
    differing = total = 0
    for x in _inputs(graph, 10, seed=7):
        ref = dict(zip(names, sess.run(None, {graph.input_names[0]: x})))
        for node in graph.nodes:
            if node.op not in ops.REGISTRY or node.result.name not in q_of:
                continue
            if not (node.op.startswith("q") or node.op == "reshape"):
                continue
            args = []
            for v in node.operands:
                if v.is_constant:
                    args.append(v.data)
                elif v.name in q_of:
                    args.append(ref[q_of[v.name]])
                elif v.producer is not None and v.producer.op == "quantize":
                    args.append(ref[q_of[v.producer.operands[0].name]])
                else:
                    break
            else:
                got = ops.get(node.op).eval_node(node, args)[0]
                expected = ref[q_of[node.result.name]]
                diff = np.abs(got.astype(np.int32) - expected.astype(np.int32))
                assert diff.max() <= 1, f"{name}: {node.label} differs by {diff.max()} LSB"
                differing += int((diff > 0).sum())
                total += diff.size
                compared.add(node.loc)
    lowered_ops = [n for n in graph.nodes if n.op.startswith("q") and n.op != "quantize"]
    assert len(compared) >= len(lowered_ops) - 1
    assert differing / total < 0.02, f"{name}: {differing} of {total} elements differ"


def test_end_to_end_within_accumulated_bound(lowered):
    name, path, _, graph = lowered
    what, bound = END_TO_END[name]
    model = onnx.load(path)
    if what == "logits":
        logits = [n for n in graph.nodes if n.op == "qfully_connected"][-1].result
        q_name = {n.input[0]: n.output[0] for n in model.graph.node
                  if n.op_type == "QuantizeLinear"}[logits.name]
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(q_name, onnx.TensorProto.INT8, None))
    sess = _session(model)
    out_scale = [n for n in graph.nodes if n.op == "dequantize"][-1].attrs["scale"]
    worst = 0.0
    agree = 0
    for x in _inputs(graph, 50, seed=11):
        ref = sess.run(None, {graph.input_names[0]: x})
        env = interp.run_all(graph, {graph.input_names[0]: x})
        y = env[id(graph.outputs[0])]
        agree += int(np.argmax(y) == np.argmax(ref[0]))
        if what == "logits":
            d = np.abs(env[id(logits)].astype(np.int32) - ref[1].astype(np.int32)).max()
        else:
            d = np.rint(np.abs(y - ref[0]) / out_scale).max()
        worst = max(worst, float(d))
    assert worst <= bound, f"{name}: {what} differ by {worst} LSB (bound {bound})"
    if name != "ad":  # classifiers: the decision agrees (random inputs give close logits)
        assert agree >= 40


QLINEAR_CASES = ["test_qlinearconv", "test_qlinearmatmul_2D_int8_float32",
                 "test_qlinearmatmul_2D_uint8_float32", "test_qlinearmatmul_3D_int8_float32"]


@pytest.mark.parametrize("case_name", QLINEAR_CASES)
def test_qlinear_ops_lower_to_int8_kernels(case_name):
    """QLinearConv/QLinearMatMul (ONNX node test cases) import as DQ -> op -> Q and
    qdq-to-int turns them into int8 kernels where the weights are symmetric (uint8 with
    zero point 128 included); asymmetric weights stay a float op between the model's
    exact quantization. Either way within 1 LSB of the expected output (float
    requantization rounding vs TFLM fixed point), uint8 in and out."""
    from onnx.backend.test.case.node import collect_testcases

    from compiler.onnx_backend import EdgeirBackend

    case = next(c for c in collect_testcases() if c.name == case_name)
    rep = EdgeirBackend.prepare(case.model)
    for inputs, expected in case.data_sets:
        graph = rep.graph_for(inputs)
        run_pipeline(graph, parse_pipeline("canonicalize,qdq-to-int"))
        assert not any(n.op in ("quantize_linear", "dequantize_linear")
                       and not n.operands[0].is_constant for n in graph.nodes)
        feeds = rep.feeds(inputs)
        feeds = {k: v for k, v in feeds.items() if k in graph.input_names}
        got = interp.run(graph, feeds)[graph.output_names[0]]
        want = expected[0]
        if got.dtype != want.dtype:  # uint8 outputs come back as int8 - 128
            got = (got.astype(np.int16) + 128).astype(want.dtype)
        assert np.abs(got.astype(np.int32) - want.astype(np.int32)).max() <= 1


def test_qlinearconv_with_symmetric_weights_is_an_int8_kernel():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, (8, 4, 3, 3), dtype=np.int8)
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (np.float32(0.05), "xs"), (np.uint8(120), "xz"), (w, "w"),
        (rng.uniform(0.001, 0.01, 8).astype(np.float32), "ws"), (np.zeros(8, np.int8), "wz"),
        (np.float32(0.2), "ys"), (np.uint8(100), "yz"),
        (rng.integers(-500, 500, 8).astype(np.int32), "b")]]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], name="qconv", pads=[1, 1, 1, 1])
    model = helper.make_model(helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 8, 6, 6])], inits),
        opset_imports=[helper.make_opsetid("", 17)])
    from compiler.frontends.onnx_import import import_model

    graph = import_model(model)
    run_pipeline(graph, parse_pipeline(QDQ_PIPELINE))
    assert "qconv2d" in {n.op for n in graph.nodes}
    sess = _session(model)
    for _ in range(10):
        x = rng.integers(0, 256, (1, 4, 6, 6), dtype=np.uint8)
        want = sess.run(None, {"x": x})[0]
        got = interp.run(graph, {"x": x})["y"]
        assert got.dtype == np.uint8
        assert np.abs(got.astype(np.int32) - want.astype(np.int32)).max() <= 1


def test_inconsistent_qdq_bias_scale_is_a_clear_error(tmp_path):
    """A bias whose scale is not input scale x weight scale cannot be an int32 bias of an
    int8 kernel: one line naming the node, exit code 3, nothing written."""
    import subprocess
    import sys

    from onnx import numpy_helper

    model = onnx.load(MODELS / "kws_qdq.onnx")
    for init in model.graph.initializer:
        if init.name == "conv_3.bias_quantized_scale":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 3, init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(model, bad)
    out = tmp_path / "out.ir"
    edgeir = str(Path(sys.executable).with_name("edgeir"))
    proc = subprocess.run([edgeir, "opt", str(bad), "-p", QDQ_PIPELINE, "-o", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "conv_3" in lines[0] and "inconsistent QDQ" in lines[0]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]
