"""The latency playbook on the CNC-spindle vibration model: quantize, prune, pin, measured.

Compiles examples/vibration/model.onnx for examples/vibration/target.toml (a Cortex-M4 at
80 MHz, 256 KB SRAM, weights in external QSPI flash) in four configurations, each adding one
lever to the one before:

  1. FP32: float kernels, weights in QSPI flash (the naive baseline);
  2. + INT8: post-training quantization on examples/vibration/calib.npz;
  3. + dead-channel elimination (`--prune exact`);
  4. + the weights pinned in SRAM (`--pin all`).

Each is run on the `sim` engine (an emulated Cortex-M4; instructions exact, cycles an
ESTIMATE from its timing table and the regions' wait states) on the first validation window,
and its validation accuracy is measured on examples/vibration/val.npz with the interpreter on
the compiled (lowered) graph, whose generated C is bit-exact with it (tests/test_vibration.py,
tests/test_c_backend.py). Prints one table (rich) and writes OUTDIR/playbook.md and
OUTDIR/playbook.json, plus each configuration's C project (OUTDIR/<n>-<name>/), the last
one's sim report and its memory picture.

    .venv/bin/python benchmarks/playbook.py [-o out/playbook] [--val-limit N] [--update-docs]

`make playbook` runs it; `make demo` runs it into out/demo. --update-docs writes the table
into README.md and benchmarks/RESULTS.md (between the playbook markers), where
tests/test_playbook.py checks it against a fresh run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.c.driver import compile_model  # noqa: E402
from backends.c.sim import run_sim  # noqa: E402
from compiler import interp  # noqa: E402
from compiler.cli import load_model  # noqa: E402
from compiler.memory_report import arena_svg  # noqa: E402
from compiler.targets import load_target  # noqa: E402
from passes.dead_channel_elim import load_val, real  # noqa: E402

EXAMPLE = ROOT / "examples" / "vibration"
MODEL, CALIB, VAL = EXAMPLE / "model.onnx", EXAMPLE / "calib.npz", EXAMPLE / "val.npz"
TARGET = EXAMPLE / "target.toml"
CONFIGS = [  # (folder, name, compile options)
    ("1-fp32", "FP32, weights in QSPI flash", {"float_model": True}),
    ("2-int8", "+ INT8 (PTQ)", {"calib": str(CALIB), "prune": "none"}),  # one lever a row
    ("3-pruned", "+ dead-channel elimination", {"calib": str(CALIB), "prune": "exact"}),
    ("4-pinned", "+ weights pinned in SRAM", {"calib": str(CALIB), "prune": "exact",
                                             "pin": "all"}),
]
GOALS = {"INT8": 4.0, "pruning": 1.6, "pinning": 2.0, "total": 15.0, "accuracy_loss_pp": 1.5}


def accuracy(graph, samples, labels) -> float:
    out = graph.outputs[0]
    hits = sum(int(np.argmax(real(interp.run(graph, s)[graph.output_names[0]], out)) == y)
               for s, y in zip(samples, labels))
    return round(100.0 * hits / len(labels), 2)


def run_playbook(outdir: Path, val_limit: int | None = None) -> dict:
    """Compile, simulate and measure the four configurations; the figures as a dict."""
    target = load_target(str(TARGET))
    probe = load_model(str(MODEL), {})
    val, labels = load_val(probe, str(VAL))
    if val_limit:
        val, labels = val[:val_limit], labels[:val_limit]
    rows = []
    for folder, name, opts in CONFIGS:
        out = outdir / folder
        graph = load_model(str(MODEL), {})
        report = compile_model(graph, out, "vibration", str(TARGET), source=MODEL.name, **opts)
        # the C takes what the compiled graph takes: int8 in for the quantized ones
        feeds = {k: v for k, v in val[0].items()}
        run = run_sim(out, feeds)
        rows.append({
            "config": name, "instructions": run.report["instructions"],
            "cycles_estimate": run.report["cycles_estimate"],
            "latency_ms_estimate": round(run.report["cycles_estimate"] / (target.clock_mhz * 1e3),
                                         3),
            "flash_bytes": report["flash_bytes"], "ram_bytes": report["ram_bytes"],
            "macs": report["macs"], "accuracy": accuracy(graph, val, labels),
            "data_reads": run.report["data_reads"]})
        (out / "sim.json").write_text(json.dumps(run.report, indent=2, sort_keys=True) + "\n")
        (out / "memory.svg").write_text(arena_svg(graph, f"vibration, {name}: arena plan",
                                                  ram=report["ram_bytes"]))
    cyc = [r["cycles_estimate"] for r in rows]
    speedups = {"INT8": cyc[0] / cyc[1], "pruning": cyc[1] / cyc[2], "pinning": cyc[2] / cyc[3],
                "total": cyc[0] / cyc[3]}
    result = {"target": target.name, "clock_mhz": target.clock_mhz, "model": "examples/vibration",
              "validation_windows": len(labels), "configs": rows,
              "speedups": {k: round(v, 2) for k, v in speedups.items()},
              "accuracy_loss_pp": round(rows[0]["accuracy"] - rows[-1]["accuracy"], 2),
              "goals": GOALS}
    (outdir / "playbook.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (outdir / "playbook.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = [f"Vibration model on {result['target']} at {result['clock_mhz']:g} MHz "
             f"(cycles and latency are estimates; instructions are exact; accuracy on "
             f"{result['validation_windows']} validation windows):", "",
             "| configuration | est. latency (ms) | speed-up | instructions | est. cycles | "
             "MACs | flash (B) | peak RAM (B) | accuracy |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    prev = None
    for r in result["configs"]:
        up = "" if prev is None else f"{prev / r['cycles_estimate']:.2f}x"
        lines.append(f"| {r['config']} | {r['latency_ms_estimate']:,.3f} | {up} | "
                     f"{r['instructions']:,} | {r['cycles_estimate']:,} | {r['macs']:,} | "
                     f"{r['flash_bytes']:,} | {r['ram_bytes']:,} | {r['accuracy']:.2f} % |")
        prev = r["cycles_estimate"]
    s, g = result["speedups"], result["goals"]
    lines += ["", "| step | measured | goal |", "|---|---:|---:|"]
    for key in ("INT8", "pruning", "pinning", "total"):
        verdict = "met" if s[key] >= g[key] else "missed"
        lines.append(f"| {key} | {s[key]:.2f}x | >= {g[key]:g}x ({verdict}) |")
    loss = result["accuracy_loss_pp"]
    verdict = "met" if loss <= g["accuracy_loss_pp"] else "missed"
    lines.append(f"| accuracy loss | {loss:.2f} pp | <= {g['accuracy_loss_pp']:g} pp ({verdict}) |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- begin playbook -->", "<!-- end playbook -->"
DOCS = (ROOT / "README.md", ROOT / "benchmarks" / "RESULTS.md")


def docs_block(text: str) -> str | None:
    """The playbook table a document carries between the markers (None without them)."""
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n") + "\n"


def update_docs(table: str) -> None:
    for path in DOCS:
        text = path.read_text()
        if docs_block(text) is None:
            raise SystemExit(f"{path}: no {BEGIN} ... {END} markers")
        head, tail = text[:text.index(BEGIN) + len(BEGIN)], text[text.index(END):]
        path.write_text(f"{head}\n{table}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="out/playbook", help="output folder")
    ap.add_argument("--val-limit", type=int, help="validate on the first N windows only")
    ap.add_argument("--update-docs", action="store_true",
                    help="write the table into README.md and benchmarks/RESULTS.md")
    args = ap.parse_args()
    outdir = Path(args.output)
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    result = run_playbook(outdir, args.val_limit)
    from rich.console import Console
    from rich.markdown import Markdown

    Console().print(Markdown(markdown(result)))
    if args.update_docs:
        if args.val_limit:
            raise SystemExit("--update-docs needs the whole validation set (no --val-limit)")
        update_docs(markdown(result))
    print(f"playbook: wrote {outdir}/playbook.md, playbook.json and the C projects "
          f"{', '.join(sorted(p.name for p in outdir.iterdir() if p.is_dir()))}")


if __name__ == "__main__":
    main()
