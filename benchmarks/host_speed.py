"""Host speed: the generated C against tflite-micro and onnxruntime, in the same run.

For each MLPerf Tiny model: edgeir compiles the int8 .tflite (bit-exact with tflite-micro)
and the QDQ .onnx; the generated C is built as a shared library with
`gcc -O2 -march=native -std=c99 -fPIC -shared` and its invoke function called through
ctypes. tflite-micro runs the same int8 .tflite (its reference kernels); onnxruntime
runs the QDQ .onnx on one thread with all graph optimizations. Runs are interleaved and
the median of R timed invokes (after warm-up) is reported, with the ratios.

    .venv/bin/python benchmarks/host_speed.py [R]
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tflite_micro import runtime

from backends.c.driver import compile_model
from compiler.cli import load_model

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
CFLAGS = os.environ.get("EDGEIR_BENCH_CFLAGS", "-O2 -march=native").split() + [
    "-std=c99", "-fPIC", "-shared"]


def build_shared(outdir: Path, name: str) -> ctypes.CDLL:
    lib = outdir / f"lib{name}.so"
    srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
    subprocess.run(["gcc", *CFLAGS, f"-I{outdir}", *srcs, "-lm", "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


def median_ns(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times))


def main(repeats: int) -> None:
    print(f"C flags: gcc {' '.join(CFLAGS)}; tflite-micro reference kernels; onnxruntime "
          f"{ort.__version__} (1 thread, ORT_ENABLE_ALL) on the QDQ models.")
    print(f"{'model':8} {'edgeir int8':>12} {'edgeir QDQ':>11} {'tflite-micro':>13} "
          f"{'onnxruntime':>12} {'vs TFLM':>8} {'vs ORT':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for m in ("ad", "kws", "resnet8", "vww"):
            tfl = MODELS / f"{m}_int8.tflite"
            out = Path(tmp) / f"{m}_int8"
            compile_model(load_model(str(tfl)), out, f"{m}_int8", "host", source=tfl.name)
            lib = build_shared(out, f"{m}_int8")
            invoke = getattr(lib, f"{m}_int8_invoke")
            qdq = MODELS / f"{m}_qdq.onnx"
            out_q = Path(tmp) / f"{m}_qdq"
            compile_model(load_model(str(qdq)), out_q, f"{m}_qdq", "host", source=qdq.name)
            invoke_q = getattr(build_shared(out_q, f"{m}_qdq"), f"{m}_qdq_invoke")

            interp = runtime.Interpreter.from_file(str(tfl), arena_size=1 << 21)
            shape = interp.get_input_details(0)["shape"]
            x8 = np.random.default_rng(0).integers(-128, 128, shape, dtype=np.int8)
            interp.set_input(x8, 0)
            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(str(qdq), so, providers=["CPUExecutionProvider"])
            feed = {sess.get_inputs()[0].name: np.random.default_rng(0).uniform(
                -1, 1, sess.get_inputs()[0].shape).astype(np.float32)}
            for _ in range(5):  # warm-up
                invoke()
                invoke_q()
                interp.invoke()
                sess.run(None, feed)
            t_c = t_q = t_tflm = t_ort = 0.0
            rounds = 5
            for _ in range(rounds):  # interleaved
                t_c += median_ns(invoke, repeats) / rounds
                t_q += median_ns(invoke_q, repeats) / rounds
                t_tflm += median_ns(interp.invoke, max(repeats // 10, 3)) / rounds
                t_ort += median_ns(lambda s=sess, f=feed: s.run(None, f), repeats) / rounds
            print(f"{m:8} {t_c / 1e3:10.1f}us {t_q / 1e3:9.1f}us {t_tflm / 1e3:11.1f}us "
                  f"{t_ort / 1e3:10.1f}us {t_tflm / t_c:7.1f}x {t_ort / t_q:6.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
