"""Scale: the large models of the onnx package's backend test data, and the ops they need.

The "light" ResNet-50, DenseNet-121, Inception v1 and v2 (onnx/backend/test/data/light:
full-size graphs, 143 to 668 nodes after import and 8.0 to 25.6 million parameters, whose
weights ConstantOfShape nodes fill when the model runs) must each compile for the host within 60
seconds, and be refused for a Cortex-M4 (256 KB of SRAM) within 60 seconds with exit code
4 and one line naming the region and the bytes it needs. The host C, built and run on one
random input, must agree with onnxruntime: on the model's output and on the last feature
map before the final pooling (added as a second output: with constant-filled weights every
class gets the same logit, so the softmax alone would be uniform whatever the network
computed, while the feature map varies over its positions).
The ops these models brought in (LRN, Sum, Dropout with an unread mask) are checked
against onnxruntime on small models, through the interpreter and the C kernels.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from backends.c.build import build_host, run_host
from backends.c.driver import compile_model
from compiler import interp
from compiler.cli import load_model
from compiler.diagnostics import EdgeirError
from compiler.frontends.onnx_import import load_onnx
from compiler.pipeline import parse_pipeline, run_pipeline

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
MODELS = ("resnet50", "densenet121", "inception_v1", "inception_v2")
LIMIT_S = 60.0


def with_feature_output(name: str, path: Path) -> onnx.ModelProto:
    """The light model with the input of its last pooling node as a second output."""
    model = onnx.shape_inference.infer_shapes(onnx.load(LIGHT / f"light_{name}.onnx"))
    pool = [n for n in model.graph.node if n.op_type in ("AveragePool", "GlobalAveragePool")][-1]
    info = next(v for v in model.graph.value_info if v.name == pool.input[0])
    model.graph.output.append(info)
    onnx.save(model, path)
    return model


def tolerance(ref: np.ndarray) -> float:
    """1e-4 of the output's range, as the other float tests, or of its magnitude when the
    range is 0 (a uniform softmax)."""
    spread = float(ref.max() - ref.min())
    return 1e-4 * (spread if spread > 0 else float(np.abs(ref).max()))


@pytest.fixture(scope="module")
def light(tmp_path_factory) -> dict:
    """Each model compiled for the host (timed) and for a Cortex-M4 (timed, refused); the
    host builds run two at a time."""
    root = tmp_path_factory.mktemp("light")
    results = {}
    for name in MODELS:
        path = root / f"{name}.onnx"
        with_feature_output(name, path)
        start = time.perf_counter()
        report = compile_model(load_model(str(path)), root / name, name, "host",
                               float_model=True)
        host_s = time.perf_counter() - start
        start = time.perf_counter()
        try:
            compile_model(load_model(str(LIGHT / f"light_{name}.onnx")), root / f"{name}_m4",
                          name, "cortex-m4", float_model=True)
            refusal = None
        except EdgeirError as err:
            refusal = err
        m4_s = time.perf_counter() - start
        results[name] = {"path": path, "report": report, "host_s": host_s, "m4_s": m4_s,
                         "refusal": refusal, "out": root / name}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # gcc runs in subprocesses
        list(pool.map(lambda r: build_host(r["out"]), results.values()))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_light_model_compiles_for_the_host_within_60_s(light, name):
    r = light[name]
    assert r["host_s"] < LIMIT_S, f"{name}: {r['host_s']:.1f} s"
    assert {layer["kernel"] for layer in r["report"]["layers"]} >= {"edgeir_conv_f32"}


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_light_model_is_refused_for_cortex_m4_with_a_fit_report(light, name):
    r = light[name]
    assert r["m4_s"] < LIMIT_S, f"{name}: {r['m4_s']:.1f} s"
    err = r["refusal"]
    assert err is not None and err.kind == "unsupported" and err.exit_code == 4
    line = err.line()
    match = re.search(r"error: the model does not fit: region SRAM \(262,144 B\) needs "
                      r"([\d,]+) B: arena ([\d,]+) B \(peak at node '[^']+' \(\w+\)\)", line)
    assert match and match.group(1) == match.group(2), line
    assert int(match.group(1).replace(",", "")) > 262_144 and "\n" not in line


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_light_model_c_matches_onnxruntime(light, name):
    r = light[name]
    session = ort.InferenceSession(str(r["path"]), providers=["CPUExecutionProvider"])
    spec = r["report"]["inputs"][0]
    x = np.random.default_rng(7).random(spec["shape"], dtype=np.float32)
    refs = session.run(None, {spec["name"]: x})
    got = run_host(r["out"], {spec["name"]: x})
    outputs = [o["name"] for o in r["report"]["outputs"]]
    assert len(outputs) == len(refs) == 2
    for out, ref in zip(outputs, refs):
        ours = got[out].reshape(ref.shape)
        np.testing.assert_allclose(ours, ref, rtol=0, atol=tolerance(ref), err_msg=out)
    feature = refs[1]
    assert feature.size >= 49 and np.unique(feature).size > 1  # the check sees variation


# -- the ops the light models brought in ---------------------------------------------------------


def _model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _lrn_model(size: int, alpha: float, beta: float, bias: float) -> onnx.ModelProto:
    """A conv (NCHW -> the NHWC kernels) followed by LRN and a relu, so the LRN runs in
    the middle of a channels-last graph."""
    rng = np.random.default_rng(size)
    w = onnx.numpy_helper.from_array(rng.standard_normal((7, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("LRN", ["c"], ["n"], size=size, alpha=alpha, beta=beta,
                              bias=bias),
             helper.make_node("Relu", ["n"], ["y"])]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 6])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 7, 5, 6])], [w])


LRN_CASES = [(1, 1e-4, 0.75, 1.0), (2, 0.5, 0.75, 1.0), (3, 2.0, 0.5, 2.0), (5, 1e-4, 0.75, 1.0),
             (6, 0.3, 1.0, 0.5), (9, 1.0, 0.75, 1.0)]


def _ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _lrn_spec(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """The ONNX spec's LRN, written out (the oracle for even sizes, which onnxruntime
    refuses; onnx's own reference implementation loops over the batch instead of the
    channels): channels max(0, c - floor((size-1)/2)) .. min(C-1, c + ceil((size-1)/2))."""
    y = np.empty_like(x, dtype=np.float64)
    channels = x.shape[1]
    for c in range(channels):
        lo = max(0, c - (size - 1) // 2)
        hi = min(channels - 1, c + -(-(size - 1) // 2))
        square_sum = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
        y[:, c] = x[:, c] / (bias + alpha / size * square_sum) ** beta
    return y.astype(np.float32)


def _lrn_reference(case, x: np.ndarray) -> np.ndarray:
    """The LRN model's output: onnxruntime for odd sizes, else the conv and relu by
    onnxruntime around the spec's LRN."""
    model = _lrn_model(*case)
    if case[0] % 2:
        return _ort(model, {"x": x})[0]
    conv = onnx.helper.make_model(
        helper.make_graph([model.graph.node[0]], "c", list(model.graph.input),
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, [2, 7, 5, 6])],
                          list(model.graph.initializer)),
        opset_imports=[helper.make_opsetid("", 13)])
    (c,) = _ort(conv, {"x": x})
    return np.maximum(_lrn_spec(c, *case), 0)


def test_lrn_spec_reference_on_a_hand_example():
    """size 2 on channels 1, 2, 3 (bias 1, alpha/size 1/2, beta 1): the windows are
    {1, 2}, {2, 3}, {3} (floor(1/2) = 0 before, ceil(1/2) = 1 after)."""
    x = np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1)
    want = [1 / (1 + 5 / 2), 2 / (1 + 13 / 2), 3 / (1 + 9 / 2)]
    np.testing.assert_allclose(_lrn_spec(x, 2, 1.0, 1.0, 1.0).reshape(-1), want, rtol=1e-6)
    # and odd sizes agree with onnxruntime
    model = _model([helper.make_node("LRN", ["x"], ["y"], size=3, alpha=0.3, beta=0.6,
                                     bias=1.5)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6, 3, 2])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6, 3, 2])])
    x = np.random.default_rng(5).standard_normal((2, 6, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(_lrn_spec(x, 3, 0.3, 0.6, 1.5), _ort(model, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", LRN_CASES, ids=lambda c: f"size{c[0]}")
def test_lrn_interpreter_matches_onnxruntime(case, tmp_path):
    model = _lrn_model(*case)
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6)).astype(np.float32) * 3
    ref = _lrn_reference(case, x)
    path = tmp_path / "lrn.onnx"
    onnx.save(model, path)
    graph = load_onnx(path)
    run_pipeline(graph, parse_pipeline("canonicalize,fold-pad,to-nhwc,canonicalize"))
    lrn = [n for n in graph.nodes if n.op == "lrn"]
    assert len(lrn) == 1 and lrn[0].attrs["axis"] == 3  # channels last after to-nhwc
    got = interp.run(graph, {"x": x})["y"]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_lrn_c_kernel_matches_onnxruntime(tmp_path):
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6)).astype(np.float32) * 3
    for i, case in enumerate(LRN_CASES):
        model = _lrn_model(*case)
        ref = _lrn_reference(case, x)
        path = tmp_path / f"lrn{i}.onnx"
        onnx.save(model, path)
        report = compile_model(load_onnx(path), tmp_path / f"out{i}", "lrn", "host",
                               float_model=True)
        assert "edgeir_lrn_f32" in {layer["kernel"] for layer in report["layers"]}
        got = run_host(tmp_path / f"out{i}", {"x": x}, sanitize=True)["y"]
        np.testing.assert_allclose(got, ref, rtol=0, atol=tolerance(ref), err_msg=str(case))


def _sum_model() -> onnx.ModelProto:
    shapes = {"a": [2, 3, 4], "b": [3, 4], "c": [2, 1, 4], "d": [1]}
    nodes = [helper.make_node("Sum", ["a", "b", "c", "d"], ["s"]),
             helper.make_node("Sum", ["s"], ["one"]),
             helper.make_node("Sum", ["one", "a"], ["y"]),
             helper.make_node("Dropout", ["y"], ["z", "mask"])]  # the mask: read by nothing
    return _model(nodes, [helper.make_tensor_value_info(k, TensorProto.FLOAT, v)
                          for k, v in shapes.items()],
                  [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3, 4])])


@pytest.mark.slow
def test_sum_and_dropout_match_onnxruntime(tmp_path):
    model = _sum_model()
    rng = np.random.default_rng(3)
    feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim])
             .astype(np.float32) for i in model.graph.input}
    (ref,) = _ort(model, feeds)
    path = tmp_path / "sum.onnx"
    onnx.save(model, path)
    graph = load_onnx(path)
    assert [n.op for n in graph.nodes] == ["add", "add", "add", "identity", "add", "dropout"]
    np.testing.assert_allclose(interp.run(graph, feeds)["z"], ref, rtol=1e-6, atol=1e-6)
    compile_model(load_onnx(path), tmp_path / "out", "s", "host", float_model=True)
    got = run_host(tmp_path / "out", feeds, sanitize=True)["z"]
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_dropout_mask_that_is_read_is_refused(tmp_path):
    model = _model([helper.make_node("Dropout", ["x"], ["y", "mask"]),
                    helper.make_node("Cast", ["mask"], ["m"], to=TensorProto.FLOAT)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
                    helper.make_tensor_value_info("m", TensorProto.FLOAT, [4])])
    path = tmp_path / "mask.onnx"
    onnx.save(model, path)
    with pytest.raises(EdgeirError) as err:
        load_onnx(path)
    assert err.value.kind == "unsupported" and "mask" in err.value.line()


# -- the reproducer keeps large constants in a sidecar ------------------------------------------


def test_reproducer_of_a_large_graph_keeps_its_constants_in_a_sidecar(tmp_path):
    """The pipeline snapshots the graph before every pass for the reproducer; a large
    constant goes to a .bin sidecar as raw bytes (not hex text, which cost more than the
    passes on ResNet-50), and the reproducer reads back the same graph."""
    from dataclasses import dataclass

    from compiler.ir import Graph, Node, TensorType
    from compiler.passbase import Pass, PassResult
    from compiler.pipeline import Instrumentation
    from compiler.text import parse_file, print_graph

    @dataclass
    class Fails(Pass):
        name = "fails"

        def run(self, graph: Graph) -> PassResult:
            raise RuntimeError("boom")

    g = Graph("big")
    x = g.add_input(TensorType("f32", (1, 4096)), "x")
    w = g.add_constant(np.arange(4096, dtype=np.float32).reshape(1, 4096), "w")
    g.add_output(g.append(Node("add", [x, w], [TensorType("f32", (1, 4096))], loc="a")).result,
                 "y")
    expected = print_graph(g)
    repro = tmp_path / "repro.ir"
    with pytest.raises(EdgeirError) as err:
        run_pipeline(g, [Fails()], Instrumentation(reproducer=repro))
    assert err.value.kind == "pass" and str(repro) in err.value.line()
    text = repro.read_text()
    assert 'external<"repro.bin", 0, 16384>' in text and len(text) < 2000
    assert (tmp_path / "repro.bin").stat().st_size == 16384
    assert print_graph(parse_file(repro)) == expected
