"""The four MLPerf Tiny FP32 models: import, the layout pipeline, then the interpreter
against onnxruntime, MAC counts and the NHWC layout the pipeline must leave."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort  # noqa: E402 - a test dependency
import pytest

from compiler import interp, ops
from compiler.frontends.onnx_import import load_onnx
from compiler.ir import Graph
from compiler.pipeline import parse_pipeline, run_pipeline

MODELS_DIR = Path(__file__).resolve().parents[2] / "shared" / "models"
PIPELINE = "canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc"

# Total MACs of conv2d / gemm / matmul / conv_transpose2d nodes.
EXPECTED_MACS = {"ad": 264192, "kws": 2656768, "resnet8": 12501632, "vww": 7489664}
MAC_OPS = ("conv2d", "gemm", "matmul", "conv_transpose2d")
LAYOUT_OPS = ("conv2d", "conv_transpose2d", "max_pool", "avg_pool", "global_avg_pool",
              "global_max_pool")
N_INPUTS = 10


def _compiled(name: str) -> tuple[Path, Graph]:
    path = MODELS_DIR / f"{name}_fp32.onnx"
    graph = load_onnx(path)
    run_pipeline(graph, parse_pipeline(PIPELINE))
    return path, graph


@pytest.mark.parametrize("name", sorted(EXPECTED_MACS))
def test_model(name: str) -> None:
    path, graph = _compiled(name)

    macs = sum(ops.get(n.op).macs_of(n) for n in graph.nodes if n.op in MAC_OPS)
    assert macs == EXPECTED_MACS[name]

    for node in graph.nodes:
        if node.op in LAYOUT_OPS:
            assert ops.get(node.op).attrs_of(node).layout != "nchw", node.label
        if node.op == "transpose":
            reads_input = any(node.operands[0] is v for v in graph.inputs)
            feeds_output = graph.is_output(node.result)
            assert reads_input or feeds_output, f"{node.label} is inside the graph"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(20240607)
    for _ in range(N_INPUTS):
        feeds = {n: rng.random(v.type.shape, dtype=np.float32)
                 for n, v in zip(graph.input_names, graph.inputs)}
        ours = interp.run(graph, feeds)
        refs = session.run(graph.output_names, feeds)
        for out_name, ref in zip(graph.output_names, refs):
            got = ours[out_name]
            assert got.shape == ref.shape and got.dtype == ref.dtype
            tol = 1e-4 * float(ref.max() - ref.min())
            np.testing.assert_allclose(got, ref, rtol=0, atol=tol, err_msg=out_name)


def test_1d_cnn_lifts_into_2d_layers_that_fold_and_fuse(tmp_path):
    """A PyTorch-style 1-D CNN (Conv1d, BatchNorm1d, ReLU, MaxPool1d, global average pool,
    Linear) imports lifted to 2-D throughout: after the standard pipeline every batch norm is
    folded, every ReLU fused, no rank-3 op and no transpose but the input's (channels first
    to channels last) is left, and the outputs equal onnxruntime's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from passes import STANDARD_PIPELINE

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    x = "x"
    for i, (cin, cout) in enumerate([(2, 6), (6, 4)]):
        w = init(f"w{i}", rng.standard_normal((cout, cin, 3)))
        bn = [init(f"{k}{i}", v) for k, v in (("g", rng.uniform(0.5, 2, cout)),
                                              ("b", rng.standard_normal(cout)),
                                              ("m", rng.standard_normal(cout)),
                                              ("v", rng.uniform(0.5, 2, cout)))]
        nodes += [helper.make_node("Conv", [x, w], [f"c{i}"], pads=[1, 1]),
                  helper.make_node("BatchNormalization", [f"c{i}", *bn], [f"n{i}"]),
                  helper.make_node("Relu", [f"n{i}"], [f"r{i}"])]
        x = f"r{i}"
    nodes += [helper.make_node("MaxPool", [x], ["p"], kernel_shape=[2], strides=[2]),
              helper.make_node("GlobalAveragePool", ["p"], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["f"]),
              helper.make_node("Gemm", ["f", init("fw", rng.standard_normal((3, 4))),
                                        init("fb", rng.standard_normal(3))], ["y"], transB=1)]
    model = helper.make_model(
        helper.make_graph(nodes, "cnn1d", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [1, 2, 16])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits),
        opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "cnn1d.onnx"
    onnx.save(model, path)
    graph = load_onnx(str(path))
    run_pipeline(graph, parse_pipeline(STANDARD_PIPELINE + ",canonicalize"))
    kinds = [n.op for n in graph.nodes]
    assert "batch_norm" not in kinds and "relu" not in kinds and kinds.count("transpose") == 1
    assert graph.nodes[1].op == "transpose" and graph.nodes[0].operands[0] is graph.inputs[0]
    assert all(n.result.type.rank in (2, 4) for n in graph.nodes if n.op != "reshape")
    feed = rng.standard_normal((1, 2, 16)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": feed})[0]
    got = interp.run(graph, {"x": feed})["y"]
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, float(np.abs(want).max()))
