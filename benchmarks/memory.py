"""RAM: edgeir's ram_bytes against tflite-micro's arena, measured in the same run.

For each MLPerf Tiny int8 model: edgeir compiles the .tflite for cortex-m4 (in-place
kernels, overlapping buffers, the exact planner with a 500 ms budget) and reports
`ram_bytes`: everything the model needs in RAM besides the weights, the input and output
buffers and kernel scratch included. tflite-micro's RecordingMicroAllocator reports its
arena for the same model: the total (what a user must provide) and its head (the tensor
buffers alone, without TFLM's persistent metadata). Goal: AD <= 1,024 B, KWS <= 9,000 B,
ResNet-8 <= 34,000 B, VWW <= 38,000 B.

    .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from backends.c.driver import compile_model
from compiler.cli import load_model

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
GOALS = {"ad": 1024, "kws": 9000, "resnet8": 34000, "vww": 38000}
PROBE = """
import os, sys
from tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=1 << 21)
sys.stdout.flush()
it.print_allocations()
"""


def tflm_arena(path: Path) -> tuple[int, int]:
    """(total, head) bytes of tflite-micro's arena, printed by its allocator (a subprocess:
    the numbers come from C++ on stdout)."""
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                         text=True, check=True)
    out = out.stdout + out.stderr  # TFLM logs to stderr (or stdout, by build)
    total = int(re.search(r"Arena allocation total (\d+)", out).group(1))
    head = int(re.search(r"Arena allocation head (\d+)", out).group(1))
    return total, head


def main() -> None:
    print(f"{'model':8} {'edgeir RAM':>11} {'lower bound':>12} {'TFLM arena':>11} "
          f"{'TFLM tensors':>13} {'ratio':>6} {'goal':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for m, goal in GOALS.items():
            path = MODELS / f"{m}_int8.tflite"
            graph = load_model(str(path))
            report = compile_model(graph, Path(tmp) / m, m, "cortex-m4", source=path.name)
            total, head = tflm_arena(path)
            ram = report["ram_bytes"]
            print(f"{m:8} {ram:11,} {graph.attrs['lower_bound']:12,} {total:11,} "
                  f"{head:13,} {total / ram:5.1f}x {'met' if ram <= goal else 'MISSED':>7}")


if __name__ == "__main__":
    main()
