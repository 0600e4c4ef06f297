"""The ``sim`` engine of ``edgeir run``: the generated C on an emulated Cortex-M.

``run_sim(outdir, feeds)`` cross-compiles a compiled OUTDIR (made for a Cortex-M target)
with arm-none-eabi-gcc and a bare-metal harness (``harness.c``), links it with a script
made from the target's memory regions (``build.py``), runs every sample in one unicorn
session (``emulator.py``) and returns the outputs and a report: instructions executed per
inference (exact), a cycle ESTIMATE from a Cortex-M4 timing table and the regions' wait
states (``timing.py``), both per layer. It checks nothing against other engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import DTYPES

NO_CODE = ("alias", "fused")  # report.json kernels that emit no call, hence no marker


def _require_packages() -> None:
    try:
        import capstone  # noqa: F401
        import elftools  # noqa: F401
        import unicorn  # noqa: F401
    except ImportError as err:
        raise EdgeirError(f"--engine sim needs the Python package {err.name or 'unicorn'}",
                          "--engine", "pip install edgeir[sim] (unicorn, capstone, pyelftools)",
                          "unsupported") from None


def load_report(outdir: Path) -> dict:
    path = Path(outdir) / "report.json"
    if not path.exists():
        raise EdgeirError("not an edgeir output directory (no report.json)", str(outdir),
                          "run `edgeir compile MODEL --target cortex-m4 -o OUTDIR` first",
                          "input")
    report = json.loads(path.read_text())
    if not report.get("placement", {}).get("regions"):
        raise EdgeirError(f"compiled for {report.get('target', 'host')}, which has no memory "
                          "regions to simulate", str(outdir),
                          "compile for a Cortex-M target (--target cortex-m4, cortex-m7, "
                          "cortex-m33, cortex-m0plus or a .toml)", "usage")
    return report


def _cpu(report: dict) -> str:
    from compiler.targets import BUILTIN

    cpu = report.get("cpu") or getattr(BUILTIN.get(report["target"]), "cpu", "cortex-m4")
    return cpu if cpu != "host" else "cortex-m4"


def _samples(report: dict, feeds: dict[str, np.ndarray], batch: bool) -> list[list[bytes]]:
    from backends.c.build import checked_inputs

    arrays = [a if batch else a[None] for a in checked_inputs(report, feeds, batch)]
    n = {len(a) for a in arrays}
    if len(n) > 1:
        raise EdgeirError(f"the inputs hold different numbers of samples: {sorted(n)}", None,
                          "stack the same number of samples for every input", "input")
    count = n.pop() if n else 1
    if count == 0:
        raise EdgeirError("no samples in the input", None, "give at least one sample",
                          "input")
    return [[np.ascontiguousarray(a[i]).tobytes() for a in arrays] for i in range(count)]


def _layer_names(report: dict, markers: int) -> list[dict]:
    """One entry per EDGEIR_LAYER(k) interval: report.json's layers that emit code, each
    with the fused layers computed by it (and their multiply-accumulates)."""
    entries, fused, fused_macs = [], [], 0
    for layer in report["layers"]:
        if layer["kernel"] == "fused":
            fused.append(layer["node"])
            fused_macs += layer["macs"]
            continue
        if layer["kernel"] in NO_CODE:
            continue
        entry = {"node": layer["node"], "op": layer["op"], "kernel": layer["kernel"],
                 "macs": layer["macs"] + fused_macs}
        fused_macs = 0
        if fused:
            entry["fused"], fused = fused, []
        entries.append(entry)
    if len(entries) != markers:  # should not happen: codegen emits one marker per call
        entries = [{"node": f"layer {k}"} for k in range(markers)]
    return entries


def _cycles(counts, wait_states: list[int]) -> int:
    return counts.cycles + sum(r * w for r, w in zip(counts.reads, wait_states))


@dataclass
class SimRun:
    outputs: dict[str, np.ndarray]   # by output name (samples stacked first with batch)
    report: dict                     # what --report writes (deterministic)
    seconds: float                   # wall-clock time of the emulation
    executed: int                    # instructions emulated in all, start-up included


def _same_run(a, b) -> bool:
    """Whether two runs of the same ELF executed the same instructions, sample by sample and
    layer by layer, and gave the same outputs."""
    if len(a.samples) != len(b.samples):
        return False
    for x, y in zip(a.samples, b.samples):
        if x.outputs != y.outputs or (x.end - x.start).instructions != \
                (y.end - y.start).instructions:
            return False
        if [(k, c.instructions) for k, c in x.layers] != [(k, c.instructions) for k, c in y.layers]:
            return False
    return True


def run_sim(outdir: Path, feeds: dict[str, np.ndarray], batch: bool = False) -> SimRun:
    """Outputs by name and the sim report for inputs by name. With ``batch``, each feed
    holds samples stacked on a new first axis; all run in one emulator session."""
    from backends.c.sim.build import STACK_BYTES, build_elf, require_toolchain

    outdir = Path(outdir)
    report = load_report(outdir)
    require_toolchain()
    _require_packages()
    from backends.c.sim.emulator import run_elf
    from backends.c.sim.timing import cost_model

    samples = _samples(report, feeds, batch)
    cpu = _cpu(report)
    elf = build_elf(outdir, report, cpu)
    regions = report["placement"]["regions"]
    out_bytes = [int(np.prod(o["shape"])) * DTYPES[o["dtype"]].itemsize
                 for o in report["outputs"]]
    # Unicorn 2.1 can leave a Thumb IT block's state behind when a conditional load inside
    # it is hooked (the memory-read hooks that count wait states), and then skip the first
    # instruction of the next block (seen: a register spill). So the run without read hooks
    # is the reference (outputs, instructions, layers), and the read counts come from a
    # second run only when it executed exactly the same instructions; otherwise the report
    # says the reads could not be counted and the estimate leaves their wait states out.
    result = run_elf(elf, regions, cpu, samples, out_bytes, str(outdir), count_reads=False)
    reads_note = ""
    if any(r["wait_states"] > 0 for r in regions):
        try:
            counted = run_elf(elf, regions, cpu, samples, out_bytes, str(outdir))
            same = _same_run(result, counted)
        except EdgeirError:
            same = False
        if same:
            result = counted
        else:
            reads_note = ("data reads could not be counted: with memory-read hooks the "
                          "emulator diverged from the reference run (a unicorn Thumb IT-block "
                          "defect); cycles_estimate leaves out wait states")
    if result.stack_bytes >= STACK_BYTES:
        raise EdgeirError(f"the program used all of the harness's {STACK_BYTES:,} B stack",
                          str(outdir), "please report this with the output directory", "pass")
    waits = {r["name"]: r["wait_states"] for r in regions}
    ws = [waits[name] for name in result.read_regions]

    outputs = {}
    for j, spec in enumerate(report["outputs"]):
        dt = DTYPES[spec["dtype"]].newbyteorder("<")
        data = np.stack([np.frombuffer(s.outputs[j], dtype=dt).reshape(spec["shape"])
                         for s in result.samples]).astype(DTYPES[spec["dtype"]])
        outputs[spec["name"]] = data if batch else data[0]

    per_sample = []
    for s in result.samples:
        total = s.end - s.start
        per_sample.append({"instructions": total.instructions,
                           "cycles_estimate": _cycles(total, ws),
                           "data_reads": dict(zip(result.read_regions, total.reads))})
    first = result.samples[0]
    marks = [c for _, c in first.layers]
    entries = _layer_names(report, max(len(marks) - 1, 0))
    layers = []
    for k, entry in enumerate(entries):
        d = marks[k + 1] - marks[k]
        layers.append({**entry, "index": k, "instructions": d.instructions,
                       "cycles_estimate": _cycles(d, ws),
                       "data_reads": dict(zip(result.read_regions, d.reads))})
    outside = ((marks[0] - first.start) + (first.end - marks[-1])) if marks else \
        first.end - first.start
    total = first.end - first.start
    sim_report = {
        "engine": "sim",
        "model": report.get("model"),
        "name": report["name"],
        "target": report["target"],
        "cpu": cpu,
        "samples": len(result.samples),
        "instructions": total.instructions,
        "cycles_estimate": _cycles(total, ws),
        "cycles_estimate_parts": {
            "instruction_table_and_branches": total.cycles,
            "wait_states": {name: n * w for name, n, w in
                            zip(result.read_regions, total.reads, ws)}},
        "data_reads": dict(zip(result.read_regions, total.reads)),
        "layers": layers,
        "outside_layers": {
            "instructions": outside.instructions, "cycles_estimate": _cycles(outside, ws),
            "note": "the harness's and invoke's call overhead before the first and after the "
                    "last layer marker: layers plus this equal the totals exactly"},
        "per_sample": per_sample,
        "stack_bytes": result.stack_bytes,
        "cost_model": cost_model(regions),
        **({"data_reads_unavailable": reads_note} if reads_note else {}),
        "note": "instructions are exact (per inference, counted between the harness's ready "
                "and done markers; the first sample's, every sample's in per_sample); "
                "cycles_estimate is an ESTIMATE from the cost model below. The layer markers "
                "add about 3 instructions per layer.",
    }
    return SimRun(outputs, sim_report, result.seconds, result.instructions)
