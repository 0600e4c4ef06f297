"""The four MLPerf Tiny int8 models, end to end, in one command.

For each of ../shared/models/{ad,kws,resnet8,vww}_int8.tflite:

* compile it for cortex-m4 (OUTDIR/<model>/cortex-m4: the C project a firmware would use)
  and for the host target (OUTDIR/<model>/host: the fastest kernels, for the host timing);
* check bit-exactness against tflite-micro on N random int8 inputs: the cortex-m4 project
  built for the host (`run_host`, one process for all inputs), the host-target build that
  is timed (called through ctypes) and, on the first S inputs, the cortex-m4 project on the
  emulated Cortex-M4 (`run_sim`);
* measure RAM (report.json `ram_bytes`) against tflite-micro's arena (its allocator's total,
  measured in this run), flash (report.json `flash_bytes` + the code: .text of a minimal
  cortex-m4 image), instructions and estimated cycles per inference on the sim, and the
  median invoke time of the host build against tflite-micro's on the same machine.

Prints a table and writes OUTDIR/mlperf_tiny.md and OUTDIR/mlperf_tiny.json. The exit code
is 1 if any model is not bit-exact.

    .venv/bin/python examples/mlperf_tiny/run.py [--models ad,kws,resnet8,vww] [--inputs N]
        [--sim-inputs S] [-o OUTDIR]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
ALL_MODELS = ("ad", "kws", "resnet8", "vww")
TARGET = "cortex-m4"
# The host timing build, as benchmarks/host_speed.py makes it (same environment override).
CFLAGS = os.environ.get("EDGEIR_BENCH_CFLAGS", "-O2 -march=native").split() + [
    "-std=c99", "-fPIC", "-shared"]
ROUNDS = 5          # interleaved timing rounds (benchmarks/host_speed.py: 5 of 50 and 5)
EDGEIR_CALLS = 50   # timed invokes per round of the host build
TFLM_CALLS = 5      # and of tflite-micro (milliseconds per call on the big models)
TFLM_ARENA_PROBE = """
import sys
from tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=1 << 21)
sys.stdout.flush()
it.print_allocations()
"""

# (JSON key, markdown heading, terminal heading): the tables show these columns in order.
COLUMNS = [
    ("model", "model", "model"),
    ("macs", "MACs", "MACs"),
    ("ram_bytes", "RAM (B)", "RAM\n(B)"),
    ("tflm_arena_bytes", "TFLM arena (B)", "TFLM\narena (B)"),
    ("ram_ratio", "TFLM / edgeir RAM", "TFLM /\nRAM"),
    ("flash_bytes", "weights+tables (B)", "weights+\ntables (B)"),
    ("code_bytes", "code .text (B)", "code\n.text (B)"),
    ("flash_total_bytes", "flash (B)", "flash\n(B)"),
    ("sim_instructions", "M4 instructions", "M4\ninstructions"),
    ("sim_cycles_estimate", "M4 est. cycles", "M4 est.\ncycles"),
    ("host_us", "host invoke (us)", "host\n(us)"),
    ("tflm_us", "TFLM invoke (us)", "TFLM\n(us)"),
    ("host_speedup", "TFLM / host", "TFLM /\nhost"),
    ("bit_exact_host", "bit-exact host", "exact\nhost"),
    ("bit_exact_sim", "bit-exact sim", "exact\nsim"),
]


def tflm_arena(path: Path) -> int:
    """tflite-micro's arena total for the model, printed by its RecordingMicroAllocator from
    C++ (hence a subprocess), as benchmarks/memory.py reads it."""
    proc = subprocess.run([sys.executable, "-c", TFLM_ARENA_PROBE, str(path)],
                          capture_output=True, text=True, check=True)
    found = re.search(r"Arena allocation total (\d+)", proc.stdout + proc.stderr)
    if not found:
        raise RuntimeError(f"{path.name}: tflite-micro printed no arena total")
    return int(found.group(1))


def tflm_outputs(interp, inputs: list[np.ndarray], n_out: int) -> list[list[np.ndarray]]:
    """tflite-micro's outputs for each sample: one list of output arrays per sample."""
    result = []
    for x in inputs:
        interp.set_input(x, 0)
        interp.invoke()
        result.append([np.array(interp.get_output(i)) for i in range(n_out)])
    return result


def same(got: np.ndarray, want: np.ndarray) -> bool:
    return got.dtype == want.dtype and got.shape == want.shape and \
        got.tobytes() == want.tobytes()


def build_shared(outdir: Path, name: str) -> ctypes.CDLL:
    lib = outdir / f"lib{name}.so"
    srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
    subprocess.run(["gcc", *CFLAGS, f"-I{outdir}", *srcs, "-lm", "-o", str(lib)], check=True)
    return ctypes.CDLL(str(lib))


def median_ns(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return float(np.median(times))


def measure(model: str, outdir: Path, n_inputs: int, n_sim: int, log) -> dict:
    from tflite_micro import runtime

    from backends.c.build import cross_sizes, run_host
    from backends.c.driver import compile_model
    from backends.c.sim import run_sim
    from compiler.cli import load_model

    path = MODELS / f"{model}_int8.tflite"
    graph = load_model(str(path))
    in_names, out_names = list(graph.input_names), list(graph.output_names)
    if len(in_names) != 1:
        raise RuntimeError(f"{path.name}: expected one input, found {len(in_names)}")
    in_shape = list(graph.inputs[0].type.shape)

    log(f"{model}: compiling for {TARGET} and host")
    m4_dir, host_dir = outdir / model / TARGET, outdir / model / "host"
    (outdir / model).mkdir(parents=True, exist_ok=True)
    report = compile_model(graph, m4_dir, model, TARGET, source=path.name)
    compile_model(load_model(str(path)), host_dir, model, "host", source=path.name)

    rng = np.random.default_rng(2024)
    xs = rng.integers(-128, 128, (n_inputs, *in_shape), dtype=np.int8)
    oracle = runtime.Interpreter.from_file(str(path), arena_size=1 << 21)
    want = tflm_outputs(oracle, list(xs), len(out_names))

    log(f"{model}: {n_inputs} inputs on the host build of the {TARGET} project")
    got = run_host(m4_dir, {in_names[0]: xs}, batch=True)
    exact_m4_on_host = all(same(got[name][i], want[i][j])
                           for i in range(n_inputs) for j, name in enumerate(out_names))

    # The host-target build that is timed: its own outputs through ctypes on the same inputs.
    lib = build_shared(host_dir, model)
    invoke = getattr(lib, f"{model}_invoke")
    c_input = getattr(lib, f"{model}_input")
    c_output = getattr(lib, f"{model}_output")
    c_input.restype = c_output.restype = ctypes.c_void_p
    exact_timed = True
    for i in range(n_inputs):
        ctypes.memmove(c_input(0), xs[i].ctypes.data, xs[i].nbytes)
        if invoke() != 0:
            raise RuntimeError(f"{model}: {model}_invoke() failed")
        for j in range(len(out_names)):
            w = want[i][j]
            raw = ctypes.string_at(c_output(j), w.nbytes)
            exact_timed &= same(np.frombuffer(raw, dtype=w.dtype).reshape(w.shape), w)

    log(f"{model}: {n_sim} input(s) on the emulated Cortex-M4")
    sim = run_sim(m4_dir, {in_names[0]: xs[:n_sim]}, batch=True)
    exact_sim = all(same(sim.outputs[name][i], want[i][j])
                    for i in range(n_sim) for j, name in enumerate(out_names))

    log(f"{model}: code size, tflite-micro's arena, host timing")
    sizes = cross_sizes(m4_dir, TARGET)
    arena = tflm_arena(path)

    ctypes.memmove(c_input(0), xs[0].ctypes.data, xs[0].nbytes)
    oracle.set_input(xs[0], 0)
    for _ in range(3):  # warm-up
        invoke()
        oracle.invoke()
    t_host = t_tflm = 0.0
    for _ in range(ROUNDS):  # interleaved rounds, as benchmarks/host_speed.py
        t_host += median_ns(invoke, EDGEIR_CALLS) / ROUNDS
        t_tflm += median_ns(oracle.invoke, TFLM_CALLS) / ROUNDS

    ram = report["ram_bytes"]
    return {
        "model": model,
        "macs": report["macs"],
        "ram_bytes": ram,
        "tflm_arena_bytes": arena,
        "ram_ratio": round(arena / ram, 2),
        "flash_bytes": report["flash_bytes"],
        "code_bytes": sizes["text"],
        "flash_total_bytes": report["flash_bytes"] + sizes["text"],
        "image_rodata_bytes": sizes["rodata"],
        "sim_instructions": sim.report["instructions"],
        "sim_cycles_estimate": sim.report["cycles_estimate"],
        "host_us": round(t_host / 1e3, 1),
        "tflm_us": round(t_tflm / 1e3, 1),
        "host_speedup": round(t_tflm / t_host, 1),
        "bit_exact_host": bool(exact_m4_on_host and exact_timed),
        "bit_exact_host_m4_project": bool(exact_m4_on_host),
        "bit_exact_host_timed_build": bool(exact_timed),
        "bit_exact_sim": bool(exact_sim),
        "inputs_host": n_inputs,
        "inputs_sim": n_sim,
        "project": str(m4_dir.relative_to(outdir)),  # under OUTDIR
    }


def cell(key: str, value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if key.endswith(("_ratio", "_speedup")):
        return f"{value:.1f}x"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def markdown(rows: list[dict], settings: dict) -> str:
    lines = ["# MLPerf Tiny int8 models: edgeir against tflite-micro", "",
             "    " + settings["command"], "",
             "| " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|" + "|".join("---" if k == "model" else "---:" for k, _, _ in COLUMNS) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(k, r[k]) for k, _, _ in COLUMNS) + " |")
    lines += ["",
              f"Target {TARGET}. RAM: report.json `ram_bytes` (activations, inputs, outputs, "
              "scratch); TFLM arena: tflite-micro's allocator total for the same model. "
              "Flash: report.json `flash_bytes` (weights, requantization tables) + .text of a "
              "minimal cortex-m4 image (arm-none-eabi-gcc -O2, --gc-sections). M4 "
              "instructions are exact (unicorn); cycles are an estimate (Cortex-M4 timing "
              "table, flash wait states). Host: median invoke of the host-target build "
              f"(gcc {' '.join(CFLAGS)}) against tflite-micro's reference kernels, "
              f"{ROUNDS} interleaved rounds of {EDGEIR_CALLS} and {TFLM_CALLS} calls. "
              f"Bit-exact: identical output bytes to tflite-micro on {settings['inputs']} "
              f"random int8 input(s) (host: the {TARGET} project and the timed host build) "
              f"and {settings['sim_inputs']} on the emulated Cortex-M4. "
              f"Run time: {settings['seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ALL_MODELS),
                    help="comma-separated subset of " + ",".join(ALL_MODELS))
    ap.add_argument("--inputs", type=int, default=5,
                    help="random int8 inputs checked on the host builds (default 5)")
    ap.add_argument("--sim-inputs", type=int, default=1,
                    help="of those, how many run on the emulated Cortex-M4 (default 1)")
    ap.add_argument("-o", "--outdir", default="out/mlperf_tiny", type=Path)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in ALL_MODELS]
    if bad or not models:
        ap.error(f"unknown model(s) {bad}; choose from {','.join(ALL_MODELS)}")
    if args.inputs < 1 or args.sim_inputs < 1:
        ap.error("--inputs and --sim-inputs must be at least 1")
    n_sim = min(args.sim_inputs, args.inputs)
    # absolute: the sim's cross build runs in a temporary directory (a relative OUTDIR
    # would not be found there when the ELF is not cached yet)
    outdir = args.outdir.resolve()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or logged: do not fold the table to 80 columns
        console = Console(width=160)
    start = time.perf_counter()
    rows = [measure(m, outdir, args.inputs, n_sim,
                    lambda msg: console.print(f"[dim]{msg}[/dim]")) for m in models]
    seconds = time.perf_counter() - start

    table = Table(title=f"MLPerf Tiny int8 on {TARGET}: edgeir vs tflite-micro")
    for key, _, heading in COLUMNS:
        table.add_column(heading, justify="left" if key == "model" else "right")
    for r in rows:
        table.add_row(*(cell(k, r[k]) for k, _, _ in COLUMNS))
    console.print(table)

    argv_shown = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    settings = {"command": f".venv/bin/python examples/mlperf_tiny/run.py {argv_shown}".strip(),
                "target": TARGET, "inputs": args.inputs, "sim_inputs": n_sim,
                "host_cflags": " ".join(CFLAGS), "timing": {
                    "rounds": ROUNDS, "edgeir_calls": EDGEIR_CALLS, "tflm_calls": TFLM_CALLS},
                "seconds": round(seconds, 1)}
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "mlperf_tiny.md").write_text(markdown(rows, settings))
    (args.outdir / "mlperf_tiny.json").write_text(
        json.dumps({"settings": settings, "models": rows}, indent=2) + "\n")
    exact = all(r["bit_exact_host"] and r["bit_exact_sim"] for r in rows)
    console.print(f"wrote {args.outdir / 'mlperf_tiny.md'} and .json in {seconds:.0f} s; "
                  + ("every model bit-exact with tflite-micro" if exact else
                     "[bold red]NOT bit-exact: " + ", ".join(
                         r["model"] for r in rows
                         if not (r["bit_exact_host"] and r["bit_exact_sim"])) + "[/bold red]"))
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
