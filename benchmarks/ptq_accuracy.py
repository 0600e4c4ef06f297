"""PTQ accuracy: edgeir's int8 PTQ of each FP32 ONNX model against the official int8 TFLite
model of the same network, both judged by agreement with FP32 on the same inputs.

Inputs are uniform over each int8 model's input range (read off its input quantization;
the shared models come without their data sets). Calibration: 64 inputs (seed 1);
evaluation: N inputs (seed 2). Prints, per model and observer: top-1 agreement with FP32
(edgeir / official int8) and median output SQNR (edgeir / official int8).

    .venv/bin/python benchmarks/ptq_accuracy.py [N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from compiler import interp
from compiler.frontends.onnx_import import load_onnx
from compiler.frontends.tflite_import import load_tflite
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.quant import arith
from compiler.text import parse, print_graph
from passes import STANDARD_PIPELINE
from passes.quantize import quantize_graph

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - got) ** 2), 1e-30)))


def main(n: int) -> None:
    print(f"{'model':8} {'observer':10} {'top-1 edgeir':>12} {'top-1 int8':>10} "
          f"{'SQNR edgeir':>11} {'SQNR int8':>9}")
    for name in ("ad", "kws", "resnet8", "vww"):
        official = load_tflite(MODELS / f"{name}_int8.tflite")
        tq, oq = official.inputs[0].type.quant, official.outputs[0].type.quant
        lo, hi = (-128 - tq.zero_point) * tq.scale, (127 - tq.zero_point) * tq.scale
        g = load_onnx(MODELS / f"{name}_fp32.onnx")
        run_pipeline(g, parse_pipeline(STANDARD_PIPELINE))
        text = print_graph(g)
        shape, key = g.inputs[0].type.shape, g.input_names[0]
        rng = np.random.default_rng(1)
        cal = [{key: rng.uniform(lo, hi, shape).astype(np.float32)} for _ in range(64)]
        evals = [rng2.uniform(lo, hi, shape).astype(np.float32)
                 for rng2 in [np.random.default_rng(2)] for _ in range(n)]
        fg = parse(text)
        refs = [interp.run(fg, {key: x})[g.output_names[0]] for x in evals]
        offs = []
        for x, ref in zip(evals, refs):
            xt = np.transpose(x, (0, 2, 3, 1)) if x.ndim == 4 else x
            yq = interp.run(official, {official.input_names[0]:
                                       arith.quantize_float_to_int8(xt, tq.scale, tq.zero_point)})
            offs.append(arith.dequantize_int8(yq[official.output_names[0]], oq.scale,
                                              oq.zero_point).reshape(ref.shape))
        for observer in ("minmax", "percentile", "mse"):
            q = parse(text)
            quantize_graph(q, cal, observer)
            ours = [interp.run(q, {key: x})[g.output_names[0]] for x in evals]
            top = np.mean([np.argmax(a) == np.argmax(r) for a, r in zip(ours, refs)])
            top_off = np.mean([np.argmax(a) == np.argmax(r) for a, r in zip(offs, refs)])
            s = np.median([sqnr(r, a) for a, r in zip(ours, refs)])
            s_off = np.median([sqnr(r, a) for a, r in zip(offs, refs)])
            print(f"{name:8} {observer:10} {top:12.3f} {top_off:10.3f} {s:11.1f} {s_off:9.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
