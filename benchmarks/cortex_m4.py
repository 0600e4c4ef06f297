"""Instructions and estimated cycles per inference on an emulated Cortex-M4.

Each MLPerf Tiny int8 model (../shared/models/*_int8.tflite) is compiled for the cortex-m4
target four times: the default (DSP-extension kernels, zero-weight channels removed, which
is exact for every input), the same with --prune none, with --specialize (the kernels' loops
instantiated on each layer's constant shape: more code, fewer instructions; the .text of
both builds is printed), and with --portable-kernels; each
runs on the `sim` engine (unicorn, Cortex-M4 model) on one fixed
random input; its outputs are checked against the interpreter. Printed next to the best
published MLPerf Tiny Cortex-M4 results (v1.1-v1.3, Nucleo-L4R5ZI at 120 MHz, converted to
cycles) and the TFLM reference (v0.5), with the issue's goal: executed instructions <= 0.8 x
the best published cycle count.

Instructions are exact; cycles are an ESTIMATE (a Cortex-M4 timing table plus the flash
wait states of the target description: see backends/c/sim/timing.py). A published cycle
count and our instruction count are different units: a Cortex-M4 executes at most one
instruction per cycle, so instructions <= goal is a necessary condition for the same speed,
not a measurement of it.

    .venv/bin/python benchmarks/cortex_m4.py [--models ad,kws] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from backends.c.build import cross_sizes
from backends.c.driver import compile_model
from backends.c.sim import run_sim
from compiler import interp
from compiler.cli import load_model

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
# Best published Cortex-M4 (Nucleo-L4R5ZI, 120 MHz) latencies as cycles, and who: the issue.
BEST = {"ad": (486_000, "Plumerai"), "kws": (5_180_000, "X-CUBE-AI 9"),
        "resnet8": (19_800_000, "X-CUBE-AI 9"), "vww": (10_700_000, "X-CUBE-AI 9")}
TFLM_V05 = {"ad": 1_210_000, "kws": 21_800_000, "resnet8": 84_500_000, "vww": 72_100_000}
GOAL = 0.8


def measure(model: str, tmp: Path, portable: bool, prune: str = "zeros",
            specialize: bool = False) -> dict:
    """One build: the DSP or the portable kernels; ``prune`` "zeros" (the default: the
    zero-weight channels removed, exact for every input) or "none"; ``specialize``: the DSP
    kernels' loops specialized on the layers' shapes."""
    path = MODELS / f"{model}_int8.tflite"
    kind = "portable" if portable else "spec" if specialize else "dsp"
    out = tmp / f"{model}_{kind}_{prune}"
    report = compile_model(load_model(str(path)), out, "net", "cortex-m4", source=path.name,
                           dsp=not portable, prune=prune, specialize=specialize)
    graph = load_model(str(path))
    rng = np.random.default_rng(0)
    feeds = {n: rng.integers(-128, 128, v.type.shape).astype(np.int8)
             for n, v in zip(graph.input_names, graph.inputs)}
    run = run_sim(out, feeds)
    want = interp.run(graph, feeds)
    exact = all(np.array_equal(run.outputs[k], want[k]) for k in want)
    return {"macs": report["macs"], "instructions": run.report["instructions"],
            "cycles_estimate": run.report["cycles_estimate"], "bit_exact": exact,
            "text": cross_sizes(out, "cortex-m4")["text"],
            "layers": [(x["kernel"], x["macs"], x["instructions"])
                       for x in run.report["layers"]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ad,kws,resnet8,vww")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in args.models.split(","):
            rows[m] = {"dsp": measure(m, Path(tmp), False),
                       "dsp_unpruned": measure(m, Path(tmp), False, "none"),
                       "specialized": measure(m, Path(tmp), False, specialize=True),
                       "portable": measure(m, Path(tmp), True)}
    print("| model | MACs (with --prune none) | instructions (DSP) | instr/MAC | "
          "est. cycles (DSP) | instructions (DSP, --prune none) | instructions (portable) | "
          "best published cycles | goal (0.8x) | instr / goal | TFLM v0.5 cycles | "
          "bit-exact |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for m, r in rows.items():
        d, u, p = r["dsp"], r["dsp_unpruned"], r["portable"]
        best, who = BEST[m]
        goal = GOAL * best
        exact = all(x["bit_exact"] for x in r.values())
        print(f"| {m} | {d['macs']:,} ({u['macs']:,}) | {d['instructions']:,} | "
              f"{d['instructions'] / d['macs']:.2f} | {d['cycles_estimate']:,} | "
              f"{u['instructions']:,} | {p['instructions']:,} | {best:,} ({who}) | "
              f"{goal:,.0f} | {d['instructions'] / goal:.2f}x | {TFLM_V05[m]:,} | "
              f"{'yes' if exact else 'NO'} |")
    print("\n--specialize against the default DSP build (the same kernels; .text: code, "
          "without the weights)\n")
    print("| model | instructions | --specialize | ratio | instr / goal (--specialize) | "
          ".text | .text (--specialize) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m, r in rows.items():
        d, sp = r["dsp"], r["specialized"]
        print(f"| {m} | {d['instructions']:,} | {sp['instructions']:,} | "
              f"{sp['instructions'] / d['instructions']:.3f} | "
              f"{sp['instructions'] / (GOAL * BEST[m][0]):.2f}x | {d['text']:,} | "
              f"{sp['text']:,} |")
    print("\nper kernel (DSP build): instructions / MAC")
    for m, r in rows.items():
        agg: dict[str, list[int]] = {}
        for kernel, macs, n in r["dsp"]["layers"]:
            a = agg.setdefault(kernel, [0, 0])
            a[0] += macs
            a[1] += n
        parts = ", ".join(f"{k} {n:,}" + (f" ({n / macs:.2f}/MAC)" if macs else "")
                          for k, (macs, n) in sorted(agg.items(), key=lambda kv: -kv[1][1]))
        print(f"  {m}: {parts}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
