"""Real-data acceptance test for post-training int8 quantization.

The model is examples/digits/model.onnx, a small CNN (conv-BN-ReLU x2, max pool,
conv-ReLU, global average pool, fully connected) trained by examples/digits/train.py on
scikit-learn's bundled 8x8 digits. Same split as the training script: 75/25, stratified,
random_state=0. On the 450 held-out images:
* edgeir's FP32 interpreter (after the standard pipeline) predicts exactly what
  onnxruntime predicts;
* int8 PTQ calibrated on 200 training images, with each observer, loses at most 0.5
  percentage points of top-1 accuracy, and really runs int8 kernels;
* the `edgeir quantize` CLI on the same data exits 0 and reports top-1 agreement >= 0.98.
Needs scikit-learn (for the data) and onnxruntime; not torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort  # noqa: E402 - a test dependency
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from compiler import interp
from compiler.frontends.onnx_import import load_onnx
from compiler.ir import Graph
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.text import parse, print_graph
from passes import STANDARD_PIPELINE
from passes.quantize import quantize_graph

MODEL = Path(__file__).resolve().parents[1] / "examples" / "digits" / "model.onnx"
EDGEIR = str(Path(sys.executable).with_name("edgeir"))
N_CALIB = 200
MAX_DROP = 0.005  # accuracy as a fraction: 0.5 percentage points


@lru_cache(maxsize=None)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test) exactly as examples/digits/train.py makes them;
    x is float32 [N, 1, 8, 8] in [0, 1]."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return tuple(train_test_split(x, y, test_size=0.25, random_state=0, stratify=y))


@lru_cache(maxsize=None)
def _float_text() -> str:
    """The model after the standard pipeline, as IR text (each test parses its own copy)."""
    graph = load_onnx(MODEL)
    run_pipeline(graph, parse_pipeline(STANDARD_PIPELINE))
    return print_graph(graph)


def _predict(graph: Graph, x: np.ndarray) -> np.ndarray:
    return np.array([int(np.argmax(interp.run(graph, {"input": a[None]})["logits"]))
                     for a in x])


@lru_cache(maxsize=None)
def _fp32_predictions() -> np.ndarray:
    return _predict(parse(_float_text()), _split()[1])


def test_fp32_interpreter_matches_onnxruntime():
    _, x_test, _, y_test = _split()
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    ort_pred = np.array([int(np.argmax(sess.run(["logits"], {"input": a[None]})[0]))
                         for a in x_test])
    ours = _fp32_predictions()
    mismatched = np.flatnonzero(ours != ort_pred)
    assert mismatched.size == 0, f"held-out samples {mismatched.tolist()} differ from onnxruntime"
    acc = float(np.mean(ours == y_test))
    print(f"FP32 held-out accuracy {acc:.4f} ({len(y_test)} images)")
    assert acc >= 0.97, "the committed model should be the trained one"


@pytest.mark.parametrize("observer", ["minmax", "mse", "percentile"])
def test_int8_ptq_accuracy_within_half_a_point_of_fp32(observer):
    x_train, x_test, _, y_test = _split()
    graph = parse(_float_text())
    samples = [{"input": a[None]} for a in x_train[:N_CALIB]]
    quantize_graph(graph, samples, observer)
    run_pipeline(graph, parse_pipeline("canonicalize"))
    ops = {n.op for n in graph.nodes}
    assert {"qconv2d", "qfully_connected"} <= ops, f"not int8: {sorted(ops)}"
    assert not ops & {"conv2d", "gemm", "matmul"}, f"float compute left: {sorted(ops)}"

    fp32_acc = float(np.mean(_fp32_predictions() == y_test))
    int8_pred = _predict(graph, x_test)
    int8_acc = float(np.mean(int8_pred == y_test))
    agreement = float(np.mean(int8_pred == _fp32_predictions()))
    print(f"{observer}: FP32 {fp32_acc:.4f}, INT8 {int8_acc:.4f}, "
          f"top-1 agreement {agreement:.4f} on {len(y_test)} held-out images")
    assert fp32_acc - int8_acc <= MAX_DROP


def test_cli_quantize_reports_top1_agreement(tmp_path):
    x_train = _split()[0]
    data = tmp_path / "calib.npz"
    np.savez(data, input=x_train[:N_CALIB, None])  # [N, 1, 1, 8, 8] float32
    out, report = tmp_path / "q.ir", tmp_path / "r.json"
    proc = subprocess.run([EDGEIR, "quantize", str(MODEL), "--calib", str(data), "-o", str(out),
                           "--report", str(report), "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    r = json.loads(report.read_text())
    assert r["samples"] == N_CALIB
    assert r["top1_agreement"] >= 0.98, r
