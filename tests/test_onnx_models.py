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

MODELS_DIR = Path("/work/shared/models")
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
