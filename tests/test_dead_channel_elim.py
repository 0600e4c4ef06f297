"""dead-channel-elim on the shared MLPerf Tiny models: exactness, the report, bad input.

The oracle is the unpruned graph run by the interpreter: modes (a) and (b) must change no
output on the calibration data (int8: bit for bit; float: up to summation order), and
every removed channel must really be gone from the shapes and MAC counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compiler import interp
from compiler.cli import load_model, main
from compiler.ir import Graph
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.text import parse, print_graph
from compiler.verify import verify
from passes import STANDARD_PIPELINE
from passes.dead_channel_elim import Threshold, eliminate, total_macs

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def _load(name: str) -> Graph:
    graph = load_model(str(SHARED_MODELS / name), {})
    pipeline = STANDARD_PIPELINE if name.endswith(".onnx") else "canonicalize"
    run_pipeline(graph, parse_pipeline(pipeline))
    return graph


def _samples(graph: Graph, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    v, name = graph.inputs[0], graph.input_names[0]
    if v.type.dtype == "f32":
        return [{name: rng.standard_normal(v.type.shape).astype(np.float32)} for _ in range(n)]
    return [{name: rng.integers(-128, 128, v.type.shape).astype(np.int8)} for _ in range(n)]


def _max_diff(a: Graph, b: Graph, samples) -> float:
    """Largest output difference: absolute for integers, relative to the range for float."""
    worst = 0.0
    for s in samples:
        x, y = interp.run(a, s), interp.run(b, s)
        for k in x:
            d = float(np.abs(x[k].astype(np.float64) - y[k].astype(np.float64)).max())
            if x[k].dtype.kind == "f":
                d /= float(np.abs(x[k]).max()) or 1.0
            worst = max(worst, d)
    return worst


@pytest.mark.parametrize("name", ["ad_int8.tflite", "kws_int8.tflite", "resnet8_int8.tflite",
                                  "vww_int8.tflite", "ad_fp32.onnx", "kws_fp32.onnx",
                                  "resnet8_fp32.onnx", "vww_fp32.onnx"])
def test_exact_modes_keep_every_output_on_the_calibration_data(name):
    graph = _load(name)
    original = parse(print_graph(graph))
    samples = _samples(graph, 4, seed=0)
    result = eliminate(graph, samples)
    verify(graph)
    removed = sum(v for k, v in result.stats.items() if k.startswith("channels-"))
    assert removed > 0, "random calibration data leaves dead channels in every model"
    assert result.report["macs"] == [total_macs(original), total_macs(graph)]
    assert total_macs(graph) < total_macs(original)
    diff = _max_diff(original, graph, samples)
    if name.endswith(".tflite"):
        assert diff == 0
    else:
        assert diff < 1e-6


def test_zero_weight_channels_go_without_calibration_data():
    """The official VWW int8 model carries 971 all-zero filters: found from the weights
    alone, and removing them changes no output on any input."""
    graph = _load("vww_int8.tflite")
    original = parse(print_graph(graph))
    result = eliminate(graph, None)
    assert result.stats["channels-zero-weight"] == 971
    assert set(k for k in result.stats if k.startswith("channels-")) == {"channels-zero-weight"}
    assert _max_diff(original, graph, _samples(graph, 3, seed=7)) == 0


def test_threshold_removes_more_and_is_approximate():
    graph = _load("kws_fp32.onnx")
    samples = _samples(graph, 4, seed=1)
    exact = parse(print_graph(graph))
    eliminate(exact, samples)
    loose = parse(print_graph(graph))
    result = eliminate(loose, samples, Threshold.parse("10%"))
    assert result.stats["channels-threshold"] > 0
    assert total_macs(loose) < total_macs(exact)
    assert 0 < _max_diff(graph, loose, samples) < 0.5


def test_threshold_parsing():
    assert Threshold.parse("0") == Threshold(0.0, False)
    assert Threshold.parse("0.25") == Threshold(0.25, False)
    assert Threshold.parse("5%") == Threshold(0.05, True)
    for bad in ("-1", "abc", "100%", "nan"):
        with pytest.raises(Exception, match="bad threshold"):
            Threshold.parse(bad)


def test_cli_stats_table_and_exit_codes(tmp_path, capsys):
    data = tmp_path / "calib.npz"
    graph = _load("kws_fp32.onnx")
    np.savez(data, input=np.stack([s["input"] for s in _samples(graph, 3, seed=2)]))
    out = tmp_path / "kws.ir"
    pipeline = f"{STANDARD_PIPELINE},dead-channel-elim{{calib={data}}}"
    assert main(["opt", str(SHARED_MODELS / "kws_fp32.onnx"), "-p", pipeline, "--stats",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "dead-channel-elim (exact)" in err and "conv_8" in err and "total" in err
    # A threshold that empties a layer: one line naming the layer, exit 3, no output file.
    bad_out = tmp_path / "bad.ir"
    pipeline = f"{STANDARD_PIPELINE},dead-channel-elim{{calib={data},threshold=1e9}}"
    assert main(["opt", str(SHARED_MODELS / "kws_fp32.onnx"), "-p", pipeline,
                 "-o", str(bad_out)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "node 'conv_0'" in err and "would remove all 64 channels" in err
    assert "a layer keeps at least one" in err and "use a smaller threshold" in err
    assert not bad_out.exists()


def test_cli_calibration_data_that_does_not_match(tmp_path, capsys):
    model = str(SHARED_MODELS / "kws_fp32.onnx")
    wrong_shape = tmp_path / "shape.npz"
    np.savez(wrong_shape, input=np.zeros((2, 1, 1, 10, 49), np.float32))
    wrong_key = tmp_path / "key.npz"
    np.savez(wrong_key, x=np.zeros((2, 1, 1, 49, 10), np.float32))
    cases = [(wrong_shape, "has shape [2, 1, 1, 10, 49], the input is [1, 1, 49, 10]"),
             (wrong_key, "no calibration data for input(s) ['input']"),
             (tmp_path / "missing.npz", "no such file")]
    for path, message in cases:
        pipeline = f"{STANDARD_PIPELINE},dead-channel-elim{{calib={path}}}"
        assert main(["opt", model, "-p", pipeline, "-o", str(tmp_path / "o.ir")]) == 3
        err = capsys.readouterr().err.strip()
        assert message in err and str(path) in err and len(err.splitlines()) == 1
    # Float samples for an int8 input are refused, not silently truncated.
    f32 = tmp_path / "f32.npz"
    np.savez(f32, input_1=np.zeros((2, 1, 49, 10, 1), np.float32))
    assert main(["opt", str(SHARED_MODELS / "kws_int8.tflite"), "-p",
                 f"dead-channel-elim{{calib={f32}}}", "-o", str(tmp_path / "o.ir")]) == 3
    assert "has dtype float32 but the input is i8" in capsys.readouterr().err


def test_compile_prune_flags(tmp_path, capsys):
    model = str(SHARED_MODELS / "ad_fp32.onnx")
    rng = np.random.default_rng(3)
    calib, val = tmp_path / "calib.npz", tmp_path / "val.npz"
    np.savez(calib, input=rng.standard_normal((4, 1, 640)).astype(np.float32))
    np.savez(val, input=rng.standard_normal((4, 1, 640)).astype(np.float32))
    out = tmp_path / "ad"
    assert main(["compile", model, "--calib", str(calib), "--prune", "exact", "--val", str(val),
                 "--target", "cortex-m4", "-o", str(out), "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    pruning = report["pruning"]
    assert pruning["threshold"] == "exact"
    assert pruning["macs"][1] == report["macs"] < pruning["macs"][0]
    assert pruning["validation"]["samples"] == 4 and "output_sqnr_db" in pruning["validation"]
    for argv, message in [
        (["--prune", "5%"], "--prune: error: --prune with a threshold needs calibration data"),
        (["--calib", str(calib), "--prune", "lots"], "--prune: error: bad threshold 'lots'"),
        (["--calib", str(calib), "--val", str(val)], "--val: error: --val measures pruning"),
    ]:
        assert main(["compile", model, *argv, "-o", str(tmp_path / "x"), "-q"]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "x").exists()


@pytest.mark.slow  # C builds with sanitizers
@pytest.mark.parametrize("name", ["kws_int8.tflite", "vww_int8.tflite"])
def test_pruned_model_compiles_and_stays_bit_exact(name, tmp_path):
    """compile --prune exact for a Cortex-M4 (in-place kernels); the generated C, under
    ASan+UBSan, equals the unpruned model's interpreter on the calibration data and the
    pruned graph's interpreter on other data."""
    from backends.c.build import run_host
    from backends.c.driver import compile_model

    graph = _load(name)
    samples = _samples(graph, 6, seed=5)
    calib = tmp_path / "calib.npz"
    key = graph.input_names[0]
    np.savez(calib, **{key: np.stack([s[key] for s in samples])})
    pruned = parse(print_graph(graph))
    eliminate(pruned, samples)
    report = compile_model(load_model(str(SHARED_MODELS / name), {}), tmp_path / "out", "net",
                           "cortex-m4", calib=str(calib), prune="exact", source=name)
    assert report["macs"] == total_macs(pruned) < report["pruning"]["macs"][0]
    others = _samples(graph, 6, seed=6)
    feeds = {key: np.stack([s[key] for s in samples + others])}
    got = run_host(tmp_path / "out", feeds, sanitize=True, batch=True)
    out = graph.output_names[0]
    for i, s in enumerate(samples + others):
        want = interp.run(graph if i < len(samples) else pruned, s)[out]
        assert got[out][i].tobytes() == want.tobytes(), f"sample {i}"


def test_compile_stats_dumps_and_refused_pipeline(tmp_path, capsys):
    """compile --stats prints the pruning table, --dump-dir numbers the front and back end
    passes in one sequence, -p (meaningless for compile) is refused, and quantize --val takes
    a validation file with labels."""
    here = Path(__file__).resolve().parents[1] / "examples" / "vibration"
    dumps = tmp_path / "ir"
    dumps.mkdir()
    assert main(["compile", str(here / "model.onnx"), "--calib", str(here / "calib.npz"),
                 "--prune", "exact", "--target", "cortex-m4", "-o", str(tmp_path / "c"),
                 "--stats", "--dump-dir", str(dumps), "-q"]) == 0
    err = capsys.readouterr().err
    assert "dead-channel-elim (exact)" in err and "130 zero-weight" in err
    names = sorted(p.name for p in dumps.glob("*.ir"))
    assert names[0] == "00-input.ir" and names[-1].endswith("-place-weights.ir")
    assert [int(n[:2]) for n in names] == list(range(len(names)))  # one sequence, no clash
    assert main(["compile", str(here / "model.onnx"), "-p", "canonicalize", "--float",
                 "-o", str(tmp_path / "x")]) == 2
    assert "-p: error: compile runs its own pipelines" in capsys.readouterr().err
    assert main(["quantize", str(here / "model.onnx"), "--calib", str(here / "calib.npz"),
                 "--val", str(here / "val.npz"), "--report", str(tmp_path / "r.json"),
                 "-o", str(tmp_path / "q.ir"), "-q"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["data"].endswith("val.npz")
