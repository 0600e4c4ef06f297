"""Compile time against model size: does `edgeir compile` scale linearly?

Compiles a series of models of growing size to C for the host (float models with --float,
int8 models as they are) and prints, per model, the IR nodes after import, the parameters
(elements of all constants), the compile time (import, passes, C generation and writing
the files, measured in a fresh process, without the interpreter's start-up; the fastest of
--repeat runs) and the time per node. Then two least-squares fits over the synthetic
models: seconds = a + b * nodes (with R^2), and seconds = a + b * nodes^k with the best k:
k near 1 is linear growth on top of a fixed cost.

The series:
  * the MLPerf Tiny models (/work/shared/models: int8 .tflite, FP32 .onnx);
  * the "light" models of the onnx package's backend test data (ResNet-50, DenseNet-121,
    Inception v1 and v2: full-size graphs whose weights ConstantOfShape fills);
  * synthetic chains (conv 3x3 + relu, repeated) and residual nets (conv, relu, conv,
    add, relu per block) of 10 to 2000 nodes, generated with onnx.helper.

    .venv/bin/python benchmarks/compile_time.py            # everything (a few minutes)
    .venv/bin/python benchmarks/compile_time.py --quick    # synthetic models only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = ("resnet50", "densenet121", "inception_v1", "inception_v2")
CHAIN_LAYERS = (5, 25, 50, 100, 250, 500, 1000)     # 2 nodes per layer
RESIDUAL_BLOCKS = (2, 10, 20, 40, 100, 200, 400)    # 5 nodes per block


def _conv(name: str, x: str, y: str, ch: int, rng: np.random.Generator) -> tuple:
    w = numpy_helper.from_array((rng.standard_normal((ch, ch, 3, 3)) * 0.1).astype(np.float32),
                                f"{name}.w")
    b = numpy_helper.from_array(np.zeros(ch, np.float32), f"{name}.b")
    node = helper.make_node("Conv", [x, w.name, b.name], [y], name=name, pads=[1, 1, 1, 1])
    return node, [w, b]


def synthetic(kind: str, size: int, ch: int = 8, hw: int = 8) -> onnx.ModelProto:
    """A chain of ``size`` conv+relu layers, or ``size`` residual blocks, on a
    1 x ch x hw x hw input (seeded weights)."""
    rng = np.random.default_rng(size)
    nodes, inits = [], []
    x = "x"
    for i in range(size):
        if kind == "chain":
            conv, params = _conv(f"c{i}", x, f"c{i}.y", ch, rng)
            nodes += [conv, helper.make_node("Relu", [f"c{i}.y"], [f"r{i}"], name=f"r{i}")]
            inits += params
            x = f"r{i}"
        else:
            c1, p1 = _conv(f"b{i}.c1", x, f"b{i}.y1", ch, rng)
            c2, p2 = _conv(f"b{i}.c2", f"b{i}.r1", f"b{i}.y2", ch, rng)
            nodes += [c1, helper.make_node("Relu", [f"b{i}.y1"], [f"b{i}.r1"], name=f"b{i}.r1"),
                      c2, helper.make_node("Add", [f"b{i}.y2", x], [f"b{i}.s"], name=f"b{i}.s"),
                      helper.make_node("Relu", [f"b{i}.s"], [f"b{i}.out"], name=f"b{i}.out")]
            inits += p1 + p2
            x = f"b{i}.out"
    graph = helper.make_graph(
        nodes, f"{kind}{size}", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                               [1, ch, hw, hw])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, ch, hw, hw])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def measure(spec: str) -> dict:
    """Compile one model (``spec``: a path, or ``chain:N`` / ``residual:N``) in this
    process; nodes, parameters and seconds."""
    from backends.c.driver import compile_model
    from compiler.cli import load_model

    with tempfile.TemporaryDirectory() as tmp:
        if ":" in spec:
            kind, size = spec.split(":")
            path = Path(tmp) / f"{kind}{size}.onnx"
            onnx.save(synthetic(kind, int(size)), path)
        else:
            path = Path(spec)
        start = time.perf_counter()
        graph = load_model(str(path))
        nodes = len(graph.nodes)
        params = sum(int(c.type.numel) for c in graph.constants)
        float_model = path.suffix == ".onnx" and "qdq" not in path.name
        compile_model(graph, Path(tmp) / "out", "model", "host", float_model=float_model)
        seconds = time.perf_counter() - start
    return {"nodes": nodes, "params": params, "seconds": seconds}


def run_one(spec: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", spec], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{spec}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fits(rows: list[dict]) -> dict:
    """Least squares: seconds = a + b * nodes (with R^2), and seconds = a + b * nodes^k
    (k on a grid of 0.01 from 0.5 to 2; the best (a, b) for each k): k near 1 is linear
    growth on top of a fixed cost."""
    n = np.array([r["nodes"] for r in rows], float)
    t = np.array([r["seconds"] for r in rows], float)
    b, a = np.polyfit(n, t, 1)
    r2 = 1 - ((t - (a + b * n)) ** 2).sum() / ((t - t.mean()) ** 2).sum()
    best = None
    for k in np.arange(0.5, 2.0 + 1e-9, 0.01):
        design = np.stack([np.ones_like(n), n ** k], axis=1)
        coef = np.linalg.lstsq(design, t, rcond=None)[0]
        err = float(((design @ coef - t) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, float(k))
    return {"a": float(a), "b": float(b), "r2": float(r2), "k": best[1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="synthetic models only")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--repeat", type=int, default=2,
                   help="compiles per model, each in a fresh process; the fastest counts")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    specs = []
    if not args.quick:
        specs += [(f"{m}", str(SHARED / m)) for m in
                  ("ad_int8.tflite", "kws_int8.tflite", "resnet8_int8.tflite", "vww_int8.tflite",
                   "kws_fp32.onnx", "resnet8_fp32.onnx", "vww_fp32.onnx")]
        specs += [(f"light {m}", str(LIGHT / f"light_{m}.onnx")) for m in LIGHT_MODELS]
    specs += [(f"chain {n}", f"chain:{n}") for n in CHAIN_LAYERS]
    specs += [(f"residual {n}", f"residual:{n}") for n in RESIDUAL_BLOCKS]
    rows = []
    print("| model | nodes | parameters | compile s | ms per node |")
    print("|---|---:|---:|---:|---:|")
    for label, spec in specs:
        runs = [run_one(spec) for _ in range(max(args.repeat, 1))]
        row = {"model": label, "synthetic": ":" in spec,
               **min(runs, key=lambda r: r["seconds"])}
        rows.append(row)
        print(f"| {label} | {row['nodes']:,} | {row['params']:,} | {row['seconds']:.2f} | "
              f"{1000 * row['seconds'] / row['nodes']:.2f} |", flush=True)
    f = fits([r for r in rows if r["synthetic"]])
    print(f"\nsynthetic models: seconds = {f['a']:.3f} + {1000 * f['b']:.3f} ms x nodes "
          f"(R^2 = {f['r2']:.4f}); best power law: seconds = a + b x nodes^{f['k']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "fit": f}, indent=2) + "\n")


if __name__ == "__main__":
    main()
