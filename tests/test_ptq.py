"""Post-training quantization (the `quantize` pass) and its calibration.

* Against the official int8 TFLite models: on the same random inputs (uniform over each
  int8 model's input range, read off its input quantization), edgeir's PTQ of the FP32
  ONNX model agrees with FP32 at least as often (top-1) as the official int8 model; for
  the AD autoencoder, whose output is a reconstruction, output SQNR is compared instead.
* Observers on data with known statistics; exact quantization parameters.
* Bad calibration data and models: one-line errors naming the key or node.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import interp
from compiler.diagnostics import EdgeirError
from compiler.frontends.onnx_import import load_onnx
from compiler.frontends.tflite_import import load_tflite
from compiler.ir import Graph, Node, TensorType
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.quant import arith, calib
from compiler.text import parse, print_graph
from compiler.verify import verify
from passes import STANDARD_PIPELINE
from passes.quantize import quant_from_range, quantize_graph

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
EDGEIR = str(Path(sys.executable).with_name("edgeir"))


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return 10 * np.log10(np.sum(ref**2) / max(np.sum((ref - got) ** 2), 1e-30))


@pytest.mark.parametrize("name", ["ad", "kws", "resnet8", "vww"])
def test_ptq_at_least_as_good_as_official_int8(name):
    official = load_tflite(MODELS / f"{name}_int8.tflite")
    tq, oq = official.inputs[0].type.quant, official.outputs[0].type.quant
    lo, hi = (-128 - tq.zero_point) * tq.scale, (127 - tq.zero_point) * tq.scale
    graph = load_onnx(MODELS / f"{name}_fp32.onnx")
    run_pipeline(graph, parse_pipeline(STANDARD_PIPELINE))
    float_graph = parse(print_graph(graph))
    shape, key = graph.inputs[0].type.shape, graph.input_names[0]
    rng = np.random.default_rng(1)
    samples = [{key: rng.uniform(lo, hi, shape).astype(np.float32)} for _ in range(64)]
    quantize_graph(graph, samples, "minmax")
    verify(graph)
    assert {"qfully_connected"} <= {n.op for n in graph.nodes}

    rng = np.random.default_rng(2)
    ours = theirs = 0
    s_ours, s_theirs = [], []
    for _ in range(50):
        x = rng.uniform(lo, hi, shape).astype(np.float32)
        ref = interp.run(float_graph, {key: x})[graph.output_names[0]]
        got = interp.run(graph, {key: x})[graph.output_names[0]]
        x_nhwc = np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x
        xq = arith.quantize_float_to_int8(x_nhwc, tq.scale, tq.zero_point)
        yq = interp.run(official, {official.input_names[0]: xq})[official.output_names[0]]
        off = arith.dequantize_int8(yq, oq.scale, oq.zero_point).reshape(ref.shape)
        ours += int(np.argmax(got) == np.argmax(ref))
        theirs += int(np.argmax(off) == np.argmax(ref))
        s_ours.append(_sqnr(ref, got))
        s_theirs.append(_sqnr(ref, off))
    print(f"{name}: top-1 agreement edgeir {ours / 50:.2f}, official int8 {theirs / 50:.2f}; "
          f"median SQNR {np.median(s_ours):.1f} vs {np.median(s_theirs):.1f} dB")
    if name == "ad":
        assert np.median(s_ours) >= np.median(s_theirs)
    else:
        assert ours >= theirs


def _relu_graph() -> Graph:
    g = Graph("t")
    x = g.add_input(TensorType("f32", (1, 8)), "x")
    w = g.add_constant(np.eye(8, dtype=np.float32), "w")
    n = g.append(Node("gemm", [x, w], [TensorType("f32", (1, 8))], {"clamp": (0.0, np.inf)},
                      loc="fc"))
    g.add_output(n.result, "y")
    return g


def test_minmax_parameters_are_exact():
    g = _relu_graph()
    samples = [{"x": np.linspace(-1, 2, 8, dtype=np.float32)[None]}]
    ranges = calib.calibrate(g, samples, "minmax")
    assert ranges[id(g.inputs[0])] == (-1.0, 2.0)
    assert ranges[id(g.nodes[0].result)] == (0.0, 2.0)
    q = quant_from_range(-1.0, 2.0)
    assert q.scale == float(np.float32(3.0 / 255)) and q.zero_point == -43


def _fake_quant_mse(x: np.ndarray, lo: float, hi: float) -> float:
    q = quant_from_range(lo, hi)
    levels = np.clip(np.round(x / q.scale) + q.zero_point, -128, 127)
    return float(np.mean((x - (levels - q.zero_point) * q.scale) ** 2))


def test_percentile_clips_a_single_outlier():
    g = _relu_graph()
    rng = np.random.default_rng(0)
    data = rng.normal(0, 1, (200, 1, 8)).astype(np.float32)
    data[0, 0, 0] = 40.0  # one outlier among 1600 values
    samples = [{"x": d} for d in data]
    assert calib.calibrate(g, samples, "minmax")[id(g.inputs[0])][1] == 40.0
    lo, hi = calib.calibrate(g, samples, "percentile", 99.9)[id(g.inputs[0])]
    assert lo < 0 < hi < 5


def test_mse_range_beats_minmax_on_heavy_tails():
    # 200,000 Laplace values: the rare far tail costs less clipped than it costs in
    # resolution for everything else (with few values, keeping the full range is optimal).
    g = Graph("wide")
    x = g.add_input(TensorType("f32", (1, 4000)), "x")
    g.add_output(g.append(Node("relu", [x], [x.type], loc="r")).result, "y")
    data = np.random.default_rng(0).laplace(0, 1, (50, 1, 4000)).astype(np.float32)
    samples = [{"x": d} for d in data]
    full = calib.calibrate(g, samples, "minmax")[id(x)]
    mse = calib.calibrate(g, samples, "mse")[id(x)]
    assert full[0] < mse[0] < 0 < mse[1] < full[1]
    assert _fake_quant_mse(data, *mse) < 0.8 * _fake_quant_mse(data, *full)


def test_io_int8_makes_the_interface_int8():
    g = _relu_graph()
    quantize_graph(g, [{"x": np.linspace(-1, 2, 8, dtype=np.float32)[None]}], io="int8")
    verify(g)
    assert g.inputs[0].type.dtype == "i8" and g.outputs[0].type.dtype == "i8"
    x = np.array([[-128, -43, 0, 40, 127, 1, 2, 3]], np.int8)
    y = interp.run(g, {"x": x})["y"]
    assert y.dtype == np.int8


def _kws_graph():
    g = load_onnx(MODELS / "kws_fp32.onnx")
    run_pipeline(g, parse_pipeline(STANDARD_PIPELINE))
    return g


@pytest.mark.parametrize("arrays, message", [
    ({"inputx": np.zeros((2, 1, 1, 49, 10), np.float32)}, "no calibration data for input"),
    ({"input": np.zeros((2, 1, 1, 10, 49), np.float32)}, "has shape"),
    ({"input": np.zeros((2, 1, 1, 49, 10), np.int32)}, "dtype"),
    ({"input": np.full((2, 1, 1, 49, 10), np.nan, np.float32)}, "NaN or Inf"),
])
def test_bad_calibration_data(arrays, message):
    g = _kws_graph()
    with pytest.raises(EdgeirError) as err:
        calib.samples_from_arrays(g, arrays, "data.npz")
    assert message in err.value.line() and "data.npz" in err.value.line()


def test_nan_weights_are_refused():
    g = _relu_graph()
    w = g.nodes[0].operands[1]
    bad = w.data.copy()
    bad[0, 0] = np.inf
    g.nodes[0].set_operand(1, g.add_constant(bad, "w_bad"))
    with pytest.raises(EdgeirError, match="contains NaN or Inf"):
        quantize_graph(g, [{"x": np.ones((1, 8), np.float32)}])


def test_constant_activation_is_refused():
    g = _relu_graph()
    with pytest.raises(EdgeirError) as err:
        quantize_graph(g, [{"x": np.full((1, 8), -1.0, np.float32)}])
    assert "constant" in err.value.line() and "fc" in err.value.line()


def test_cli_bad_calibration_is_one_line_and_writes_nothing(tmp_path):
    data = tmp_path / "calib.npz"
    np.savez(data, input=np.zeros((2, 1, 1, 10, 49), np.float32))
    out = tmp_path / "q.ir"
    proc = subprocess.run([EDGEIR, "quantize", str(MODELS / "kws_fp32.onnx"), "--calib",
                           str(data), "-o", str(out), "-q"], capture_output=True, text=True)
    assert proc.returncode == 3
    assert len(proc.stderr.strip().splitlines()) == 1 and "has shape" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.npz"]


def test_show_reports_per_layer_sqnr(tmp_path):
    import json

    from sklearn.datasets import load_digits

    data = tmp_path / "calib.npz"
    images = (load_digits().data[:64] / 16).astype(np.float32).reshape(64, 1, 1, 8, 8)
    np.savez(data, input=images)
    model = Path(__file__).resolve().parents[1] / "examples" / "digits" / "model.onnx"
    proc = subprocess.run([EDGEIR, "show", str(model), "-p", STANDARD_PIPELINE, "--calib",
                           str(data), "--json"], capture_output=True, text=True, check=True)
    summary = json.loads(proc.stdout)
    report = summary["quantization"]
    assert report["samples"] == 64 and report["top1_agreement"] >= 0.98
    layers = {r["value"]: r for r in report["layers_worst_first"]}
    convs = [r for r in summary["nodes"] if r["op"] == "conv2d"]
    assert len(convs) == 3 and all(r["value"] in layers for r in convs)
    assert all(20 < layers[r["value"]]["sqnr_db"] < 80 for r in convs)
