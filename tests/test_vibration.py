"""The CNC-spindle vibration example (examples/vibration): its data and dead-channel elimination.

The acceptance of dead-channel-elim on a real model: the 1-D CNN trained with channel
sparsity (network slimming) loses >= 40% of its MACs with validation accuracy within 0.5
percentage points of the unpruned model, in float and after int8 quantization; the exact
mode changes no output on the calibration data; the pruned int8 model compiles and its C is
bit-exact with the interpreter. The oracle is the unpruned graph run by the interpreter (and
the labels of the validation set). No torch needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from compiler import interp
from compiler.cli import load_model
from compiler.ir import Graph
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.quant import calib
from compiler.text import parse, print_graph
from passes import STANDARD_PIPELINE
from passes.dead_channel_elim import eliminate, load_val, total_macs
from passes.quantize import quantize_graph

HERE = Path(__file__).resolve().parents[1] / "examples" / "vibration"


@pytest.fixture(scope="module")
def float_graph() -> Graph:
    graph = load_model(str(HERE / "model.onnx"), {})
    run_pipeline(graph, parse_pipeline(STANDARD_PIPELINE + ",canonicalize"))
    return graph


@pytest.fixture(scope="module")
def data(float_graph):
    return (calib.load_samples(float_graph, HERE / "calib.npz"),
            load_val(float_graph, str(HERE / "val.npz")))


def accuracy(graph: Graph, samples, labels) -> float:
    hits = sum(int(np.argmax(interp.run(graph, s)["logits"]) == y)
               for s, y in zip(samples, labels))
    return 100.0 * hits / len(labels)


def test_committed_data_is_what_the_generator_makes():
    spec = importlib.util.spec_from_file_location("vibration_data", HERE / "data.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    x, _ = gen.generate(gen.CALIB_N, gen.CALIB_SEED)
    with np.load(HERE / "calib.npz") as f:
        assert np.array_equal(f["input"], x)
    x, y = gen.generate(gen.VAL_N, gen.VAL_SEED)
    with np.load(HERE / "val.npz") as f:
        assert np.array_equal(f["input"], x.astype(np.float16))
        assert np.array_equal(f["labels"], y)
    assert sorted(np.bincount(y)) == [200] * 5  # balanced classes


def test_float_pruning_cuts_40_percent_of_macs_at_the_same_accuracy(float_graph, data):
    samples, (val, labels) = data
    pruned = parse(print_graph(float_graph))
    result = eliminate(pruned, samples)
    before, after = total_macs(float_graph), total_macs(pruned)
    assert after <= 0.6 * before, (before, after)
    assert result.stats["channels-zero-weight"] >= 100  # gammas trained to exactly 0
    a0, a1 = accuracy(float_graph, val, labels), accuracy(pruned, val, labels)
    assert a0 > 90 and abs(a0 - a1) <= 0.5, (a0, a1)
    # exact mode: no output changes on the calibration data (float: up to summation order)
    for s in samples:
        x, y = interp.run(float_graph, s)["logits"], interp.run(pruned, s)["logits"]
        assert np.abs(x - y).max() <= 1e-5 * max(1.0, float(np.abs(x).max()))


def test_int8_pruning_cuts_40_percent_of_macs_at_the_same_accuracy(float_graph, data):
    samples, (val, labels) = data
    q = parse(print_graph(float_graph))
    quantize_graph(q, samples)
    run_pipeline(q, parse_pipeline("canonicalize"))
    pruned = parse(print_graph(q))
    eliminate(pruned, samples)
    assert total_macs(pruned) <= 0.6 * total_macs(q)
    a_float = accuracy(float_graph, val, labels)
    a0, a1 = accuracy(q, val, labels), accuracy(pruned, val, labels)
    assert abs(a0 - a1) <= 0.5, (a0, a1)
    assert a_float - a1 <= 1.5, (a_float, a1)  # quantization and pruning together
    for s in samples:  # exact mode on int8: bit for bit
        assert interp.run(q, s)["logits"].tobytes() == interp.run(pruned, s)["logits"].tobytes()


@pytest.mark.slow  # a C build with sanitizers
def test_pruned_model_compiles_and_its_c_is_bit_exact(tmp_path, float_graph, data):
    from backends.c.build import run_host
    from backends.c.driver import compile_model

    samples, (val, _) = data
    report = compile_model(load_model(str(HERE / "model.onnx"), {}), tmp_path / "out", "vib",
                           "cortex-m4-qspi", calib=str(HERE / "calib.npz"), prune="exact",
                           source="model.onnx")
    assert report["pruning"]["macs"][1] == report["macs"] <= 0.6 * report["pruning"]["macs"][0]
    # the interpreter's reference: the same compile's pruned int8 graph, rebuilt
    q = parse(print_graph(float_graph))
    quantize_graph(q, samples)
    run_pipeline(q, parse_pipeline("canonicalize"))
    eliminate(q, samples)
    feeds = {"input": np.stack([s["input"] for s in val[:20]])}
    got = run_host(tmp_path / "out", feeds, sanitize=True, batch=True)["logits"]
    for i in range(20):
        want = interp.run(q, {"input": val[i]["input"]})["logits"]
        assert np.array_equal(got[i], want), i
