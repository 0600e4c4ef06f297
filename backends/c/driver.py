"""``edgeir compile``: a model in, a C library out.

Chooses the path by what the model is: an int8 .tflite compiles as it is; a QDQ ONNX model
goes through qdq-to-int; an FP32 model is quantized by PTQ when calibration data is given,
or stays float with ``float_model=True``. Then lower-c and plan-memory, and the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from backends.c.codegen import check_name, generate, write_library
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph
from compiler.pipeline import Instrumentation, parse_pipeline, run_pipeline

TARGETS = {
    # name: (has an FPU, extra notes)
    "host": True,
    "cortex-m0plus": False,
    "cortex-m4": True,
    "cortex-m7": True,
    "cortex-m33": True,
}
FLOAT_PIPELINE = "canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc,canonicalize"
QDQ_PIPELINE = ("canonicalize,fold-batchnorm,fuse-activation,qdq-to-int,fold-pad,to-nhwc,"
                "canonicalize")
BACKEND_PIPELINE = "lower-c,plan-memory{algo=exact,budget-ms=500}"


def is_float_graph(graph: Graph) -> bool:
    return any(n.op in ("conv2d", "gemm", "matmul", "conv_transpose2d") for n in graph.nodes)


def compile_model(graph: Graph, outdir: Path, name: str, target: str = "host",
                  calib: str | None = None, float_model: bool = False,
                  observer: str = "minmax", source: str = "",
                  instrument: Instrumentation | None = None,
                  allow_soft_float: bool = False,
                  progress: Callable | None = None) -> dict:
    """Compile ``graph`` into ``outdir``; the report as a dict."""
    check_name(name)
    if target not in TARGETS:
        raise EdgeirError(f"unknown target '{target}'", "--target",
                          f"use one of {', '.join(TARGETS)}", "usage")
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
    uses_float = any(v.type.dtype == "f32" for n in graph.nodes
                     for v in [*n.operands, *n.results]
                     if n.op not in ("quantize", "dequantize"))
    if uses_float and not TARGETS[target] and not allow_soft_float:
        raise EdgeirError(f"the model computes in float and {target} has no FPU", source or None,
                          "quantize it (--calib DATA.npz), or pass --allow-soft-float to "
                          "accept slow software floating point", "unsupported")
    run_pipeline(graph, parse_pipeline(BACKEND_PIPELINE), inst)
    files = generate(graph, name, target, source)
    write_library(files, Path(outdir))
    import json

    return json.loads(files["report.json"])
