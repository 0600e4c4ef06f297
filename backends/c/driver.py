"""``edgeir compile``: a model in, a C library out.

Chooses the path by what the model is: an int8 .tflite compiles as it is; a QDQ ONNX model
goes through qdq-to-int; an FP32 model is quantized by PTQ when calibration data is given,
or stays float with ``float_model=True``. Then lower-c and plan-memory, and the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from backends.c.codegen import check_name, generate, write_library
from backends.c.lower import lean_at_peak
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph
from compiler.pipeline import Instrumentation, parse_pipeline, run_pipeline
from compiler.targets import BUILTIN, Target, load_target

TARGETS = {name: t.has_fpu for name, t in BUILTIN.items()}  # built-in targets
FLOAT_PIPELINE = "canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc,canonicalize"
QDQ_PIPELINE = ("canonicalize,fold-batchnorm,fuse-activation,qdq-to-int,fold-pad,to-nhwc,"
                "canonicalize")
PLAN_MEMORY = "plan-memory{algo=exact,budget-ms=500}"
BACKEND_PIPELINE = f"schedule{{budget-ms=500}},lower-c,{PLAN_MEMORY}"


def is_float_graph(graph: Graph) -> bool:
    return any(n.op in ("conv2d", "gemm", "matmul", "conv_transpose2d") for n in graph.nodes)


def compile_model(graph: Graph, outdir: Path, name: str, target: str = "host",
                  calib: str | None = None, float_model: bool = False,
                  observer: str = "minmax", source: str = "",
                  instrument: Instrumentation | None = None,
                  allow_soft_float: bool = False,
                  progress: Callable | None = None, pin: str = "none",
                  pin_budget: int = 0, inplace: bool | None = None,
                  prune: str | None = "zeros", val: str | None = None,
                  dsp: bool | None = None, specialize: bool = False) -> dict:
    """Compile ``graph`` into ``outdir``; the report as a dict. ``target`` is a built-in
    target name or a .toml target description. ``inplace`` (in-place kernels: less RAM,
    slower) defaults to on for microcontroller targets and off for the host. ``prune``
    ("zeros", the default: an int8 graph's zero-weight channels, exact for every input;
    "exact" or a threshold: dead-channel-elim on ``calib`` after quantization, the exact mode
    keeping the int8 outputs on the calibration data bit for bit; "none") removes dead
    channels; ``val`` adds accuracy (or output SQNR) before and after pruning to the report.
    ``dsp`` (the int8 kernels for DSP-extension cores) defaults to the target's CPU having
    it; ``specialize`` instantiates their input expansion and depthwise kernel on each
    layer's constant shape (needs them)."""
    check_name(name)
    if prune == "none":
        prune = None
    if prune not in (None, "zeros", "exact") and not calib:
        raise EdgeirError("--prune with a threshold needs calibration data", "--prune",
                          "pass --calib DATA.npz (the data that shows which channels are dead)",
                          "usage")
    if val is not None and prune in (None, "zeros"):
        raise EdgeirError("--val measures pruning", "--val", "add --prune exact (or a "
                          "threshold), or drop --val", "usage")
    tgt = load_target(target)
    if inplace is None:
        inplace = tgt.bare_metal
    _check_pin_budget(tgt, pin, pin_budget)
    _check_not_empty(graph, source)
    if val is not None:  # bad validation data fails now, not after quantizing
        from passes.dead_channel_elim import load_val

        load_val(graph, val)
    inst = instrument or Instrumentation()
    has_qdq = any(n.op in ("quantize_linear", "dequantize_linear") for n in graph.nodes)
    if has_qdq:
        run_pipeline(graph, parse_pipeline(QDQ_PIPELINE), inst)
    else:
        run_pipeline(graph, parse_pipeline(FLOAT_PIPELINE), inst)
        if is_float_graph(graph) and not float_model:
            if not calib:
                raise EdgeirError("this is a float model", source or None,
                                  "pass --calib DATA.npz to quantize it to int8, or --float "
                                  "to compile float kernels", "usage")
            from compiler.quant import calib as calib_mod
            from passes.quantize import quantize_graph

            quantize_graph(graph, calib_mod.load_samples(graph, calib), observer,
                           progress=progress is not None)
            run_pipeline(graph, parse_pipeline("canonicalize"), inst)
    pruning = None
    if prune == "zeros":  # exact for every input; int8 only (float folding would round)
        prune = "exact" if not is_float_graph(graph) else None
        calib = None
    if prune is not None:
        from passes.dead_channel_elim import Threshold

        threshold = "0" if prune == "exact" else prune
        Threshold.parse(threshold, "--prune")
        opts = [f"calib={calib}"] if calib else []  # without: zero-weight channels only
        opts += [f"threshold={threshold}"] + ([f"val={val}"] if val else [])
        spec = "dead-channel-elim{" + ",".join(opts) + "}"
        if any(ch in str(calib) + str(val or "") for ch in ",{}"):
            raise EdgeirError("data paths for --prune cannot contain ',', '{' or '}'",
                              "--calib", "rename the file", "usage")
        run_pipeline(graph, parse_pipeline(spec), inst)
        pruning = inst.reports[-1][1]
    uses_float = any(v.type.dtype == "f32" for n in graph.nodes
                     for v in [*n.operands, *n.results]
                     if n.op not in ("quantize", "dequantize"))
    if uses_float and not tgt.has_fpu and not allow_soft_float:
        raise EdgeirError(f"the model computes in float and {tgt.cpu} has no FPU",
                          source or None, "quantize it (--calib DATA.npz), or pass "
                          "--allow-soft-float to accept slow software floating point",
                          "unsupported")
    if dsp is None:
        dsp = tgt.has_dsp
    if specialize and not dsp:
        why = f"{tgt.cpu} has no DSP extension" if not tgt.has_dsp else \
            "--portable-kernels was given"
        raise EdgeirError(f"--specialize specializes the DSP-extension kernels, and {why}",
                          "--specialize", "drop --specialize (or --portable-kernels)", "usage")
    lower = f"lower-c{{inplace={str(inplace).lower()},dsp={str(dsp).lower()}}}"
    backend = BACKEND_PIPELINE.replace("lower-c", lower)
    budget = pin_budget if pin == "hot" else 0
    run_pipeline(graph, parse_pipeline(backend), inst)
    while lean_at_peak(graph):  # a faster kernel's scratch must not raise the peak
        run_pipeline(graph, parse_pipeline(PLAN_MEMORY), inst)
    run_pipeline(graph, parse_pipeline(f"place-weights{{pin={pin},budget={budget}}}"), inst)
    check_fit(graph, tgt, source)
    files = generate(graph, name, tgt, source, specialize)
    import json

    report = json.loads(files["report.json"])
    if pruning is not None:
        report["pruning"] = pruning
        files["report.json"] = json.dumps(report, indent=2, sort_keys=True) + "\n"
    write_library(files, Path(outdir))
    return report


def _check_not_empty(graph: Graph, source: str) -> None:
    """Refuse tensors without elements: the C library reads and writes whole samples, and an
    empty one has nothing to compute (the interpreter runs such graphs)."""
    for name, value in zip(graph.input_names, graph.inputs):
        if value.type.numel == 0:
            raise EdgeirError(f"input '{name}' has no elements (shape {list(value.type.shape)})",
                              source or None, "the C backend compiles tensors of at least one "
                              "element: give every dimension a positive size", "unsupported")
    for node in graph.nodes:
        for value in node.results:
            if value.type.numel == 0:
                raise EdgeirError(f"result %{value.name} has no elements (shape "
                                  f"{list(value.type.shape)})", node.label, "the C backend "
                                  "compiles tensors of at least one element", "unsupported")


def _check_pin_budget(tgt: Target, pin: str, budget: int) -> None:
    if pin != "none" and not tgt.bare_metal:
        raise EdgeirError(f"--pin needs a target with memory regions, not {tgt.name}",
                          "--pin", "use --target cortex-m4 (or a .toml target)", "usage")
    if pin == "hot":
        sram = tgt.region(tgt.arena_region)
        if budget <= 0:
            raise EdgeirError("--pin hot needs --pin-budget BYTES", "--pin-budget", None,
                              "usage")
        if budget > sram.size:
            raise EdgeirError(f"pin budget {budget:,} B is larger than {sram.name} "
                              f"({sram.size:,} B)", "--pin-budget",
                              f"use at most {sram.size:,} B, less the arena", "usage")


def check_fit(graph: Graph, tgt: Target, source: str) -> None:
    """Refuse a model that does not fit the target's regions, saying what needs what."""
    if not tgt.bare_metal:
        return
    from compiler.memory_usage import peak_node

    arena = graph.attrs["arena_size"]
    pinned = graph.attrs.get("pinned_bytes", 0)
    weights = sum(c.type.nbytes for c in graph.constants) - pinned
    sram = tgt.region(tgt.arena_region)
    flash = tgt.region(tgt.weights_region)
    need = {sram.name: arena + pinned}
    need[flash.name] = need.get(flash.name, 0) + weights
    for region_name, bytes_needed in need.items():
        region = tgt.region(region_name)
        if bytes_needed <= region.size:
            continue
        node = peak_node(graph)
        parts = []
        if region_name == sram.name:
            parts.append(f"arena {arena:,} B (peak at {node})")
            if pinned:
                parts.append(f"pinned weights {pinned:,} B")
        if region_name == flash.name:
            parts.append(f"weights {weights:,} B")
        computes_float = any(v.type.dtype in ("f16", "f32", "f64")
                             for n in graph.nodes for v in n.results)
        hint = ("pin fewer weights (--pin hot with a smaller --pin-budget, or --pin none)"
                if pinned and region_name == sram.name else
                "quantize the model to int8 (--calib), or choose a target with more memory"
                if computes_float else
                f"choose a target with more memory in {region.name}, or a smaller model")
        raise EdgeirError(f"the model does not fit: region {region.name} ({region.size:,} B) "
                          f"needs {bytes_needed:,} B: {', '.join(parts)}", source or None,
                          hint, "unsupported")
