"""The ``edgeir`` command line: parses arguments, calls the compiler, prints.

Every failure is one line on stderr and a documented exit code (see
``compiler.diagnostics.EXIT_CODES``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import traceback
import zipfile
from pathlib import Path
from typing import NoReturn, Sequence

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph

TFLITE_SUFFIXES = (".tflite",)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        raise EdgeirError(message, self.prog, f"see `{self.prog} --help`", "usage")


# -- loading and saving --------------------------------------------------------------------


def parse_input_shapes(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.lower().split("x"))
            if any(d <= 0 for d in shape):
                raise ValueError
        except ValueError:
            raise EdgeirError(f"bad --input-shape {item!r}", "--input-shape",
                              "write NAME=1x3x32x32 (positive dimensions)", "usage") from None
        shapes[name] = shape
    return shapes


def load_model(path: str, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """A graph from an .onnx or .ir file (chosen by suffix)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from compiler.frontends.onnx_import import load_onnx

        return load_onnx(p, input_shapes)
    if suffix == ".ir":
        from compiler.text import parse_file

        if input_shapes:
            raise EdgeirError("--input-shape applies to ONNX models only", path,
                              "an .ir file has static shapes already", "usage")
        return parse_file(p)
    if suffix in TFLITE_SUFFIXES:
        from compiler.frontends.tflite_import import load_tflite

        if input_shapes:
            raise EdgeirError("--input-shape applies to ONNX models only", path,
                              "TFLite models have static shapes", "usage")
        return load_tflite(p)
    if not p.exists():
        raise EdgeirError("no such file", path, "check the path", "input")
    raise EdgeirError(f"unknown model format '{suffix or 'no suffix'}'", path,
                      "pass an .onnx, .tflite or .ir file", "input")


def save_ir(graph: Graph, out: str | None, elide: int | None = None) -> None:
    from compiler.fileio import write_ir
    from compiler.text import print_graph

    if out is None or out == "-":
        sys.stdout.write(print_graph(graph, elide_bytes=elide))
        return
    if not out.endswith(".ir"):
        raise EdgeirError("the output must be an .ir file", out, "name it OUT.ir", "usage")
    write_ir(graph, Path(out))


def load_npz(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise EdgeirError("no such file", path, "check the path", "input")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise EdgeirError("not a readable .npz file", path,
                          "save inputs with numpy.savez(path, input_name=array)", "input") from None


def save_npz(arrays: dict[str, np.ndarray], path: str) -> None:
    from compiler.fileio import write_files

    if not path.endswith(".npz"):
        raise EdgeirError("the output must be an .npz file", path, "name it OUT.npz", "usage")
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_files({Path(path): buf.getvalue()})


# -- commands -------------------------------------------------------------------------------


def _instrumentation(args: argparse.Namespace):
    """The pass instrumentation the pipeline flags ask for (opt and compile share them)."""
    from compiler.pipeline import Instrumentation

    return Instrumentation(
        print_after_all=args.print_ir_after_all,
        print_after_change=args.print_ir_after_change,
        dump_dir=Path(args.dump_dir) if args.dump_dir else None,
        time_passes=args.time_passes,
        verify=not args.no_verify,
        reproducer=Path(args.reproducer) if args.reproducer else None,
        elide_bytes=None if args.print_constants else 1024)


def _run_passes(graph: Graph, args: argparse.Namespace) -> Graph:
    from compiler.pipeline import load_plugin, parse_pipeline, run_pipeline

    for plugin in getattr(args, "plugin", None) or []:  # `opt --plugin`: register its passes
        load_plugin(plugin)
    passes = parse_pipeline(args.pipeline or "")
    inst = _instrumentation(args)
    run_pipeline(graph, passes, inst)
    if args.time_passes:
        _print_timings(inst.timings)
    if args.stats:
        _print_stats(inst.stats)
        for name, report in inst.reports:
            if name == "dead-channel-elim":
                print_pruning(report)
    return graph


def _print_timings(timings: list[tuple[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pass timing", title_justify="left")
    table.add_column("pass")
    table.add_column("seconds", justify="right")
    table.add_column("%", justify="right")
    total = sum(t for _, t in timings) or 1e-12
    for name, t in timings:
        table.add_row(name, f"{t:.4f}", f"{100 * t / total:.1f}")
    table.add_row("total", f"{total:.4f}", "100.0")
    Console(stderr=True).print(table)


def _print_stats(stats: list[tuple[str, dict[str, int]]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pass statistics", title_justify="left")
    table.add_column("pass")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for name, values in stats:
        if not values:
            table.add_row(name, "(no change)", "")
        for key, value in sorted(values.items()):
            table.add_row(name, key, str(value))
    Console(stderr=True).print(table)


def print_pruning(report: dict) -> None:
    """The per-layer table of a dead-channel-elim report, on stderr."""
    from rich.console import Console
    from rich.table import Table

    def arrow(pair: list) -> str:
        return f"{pair[0]:,}" if pair[0] == pair[1] else f"{pair[0]:,} -> {pair[1]:,}"

    table = Table(title=f"dead-channel-elim ({report['threshold']})", title_justify="left")
    for column in ("layer", "op", "in channels", "out channels", "MACs", "params"):
        table.add_column(column, justify="left" if column in ("layer", "op") else "right")
    for r in report["layers"]:
        table.add_row(r["layer"], r["op"], arrow(r["in_channels"]), arrow(r["out_channels"]),
                      arrow(r["macs"]), arrow(r["params"]))
    macs, params = report["macs"], report["params"]
    cut = 100 * (1 - macs[1] / macs[0]) if macs[0] else 0.0
    table.add_row("total", "", "", "", arrow(macs) + (f" (-{cut:.1f}%)" if cut else ""),
                  arrow(params))
    console = Console(stderr=True)
    console.print(table)
    removed = ", ".join(f"{n} {k}" for k, n in report["channels_removed"].items() if n)
    console.print(f"channels removed: {removed or 'none'}")
    v = report.get("validation")
    if v and "accuracy_before" in v:
        console.print(f"validation accuracy ({v['samples']} samples): "
                      f"{v['accuracy_before']}% -> {v['accuracy_after']}%")
    elif v:
        console.print(f"validation output SQNR ({v['samples']} samples): "
                      f"{v['output_sqnr_db']} dB")


def cmd_import(args: argparse.Namespace) -> int:
    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    save_ir(graph, args.output)
    return 0


def cmd_opt(args: argparse.Namespace) -> int:
    if args.verify_diagnostics:
        return _verify_diagnostics(args)
    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    if args.output and args.output != "-" and not args.output.endswith(".ir"):
        raise EdgeirError("the output must be an .ir file", args.output, "name it OUT.ir", "usage")
    _run_passes(graph, args)
    save_ir(graph, args.output, None)
    return 0


def _verify_diagnostics(args: argparse.Namespace) -> int:
    from compiler import diagnostics_check

    error = None
    try:
        graph = load_model(args.model, parse_input_shapes(args.input_shape))
        args.reproducer = None
        _run_passes(graph, args)
    except EdgeirError as err:
        error = err
    problems = diagnostics_check.check(Path(args.model), error)
    for problem in problems:
        sys.stderr.write(problem + "\n")
    return 1 if problems else 0


def cmd_run(args: argparse.Namespace) -> int:
    from compiler import interp

    if args.engine not in ("interp", "c", "sim"):
        raise EdgeirError(f"unknown engine '{args.engine}'", "--engine",
                          "use --engine interp, c or sim", "usage")
    if not args.output.endswith(".npz"):
        raise EdgeirError("the output must be an .npz file", args.output, "name it OUT.npz",
                          "usage")
    if args.report and args.engine != "sim":
        raise EdgeirError("--report is for --engine sim", "--report",
                          "add --engine sim (a compiled Cortex-M OUTDIR) or drop --report",
                          "usage")
    if args.engine == "sim":
        return _run_sim(args)
    if args.engine == "c":
        from backends.c.build import run_host

        if not Path(args.model).is_dir():
            raise EdgeirError("--engine c runs a compiled output directory", args.model,
                              "run `edgeir compile MODEL -o OUTDIR` and pass OUTDIR", "usage")
        outputs = run_host(Path(args.model), load_npz(args.input))
        save_npz(outputs, args.output)
        return 0
    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    if args.pipeline:
        _run_passes(graph, args)
    feeds = load_npz(args.input)
    try:
        interp.check_inputs(graph, feeds, args.input)
    except EdgeirError:
        raise
    outputs = interp.run(graph, feeds)
    save_npz(outputs, args.output)
    if not args.quiet:
        from rich.console import Console

        console = Console()
        for name, array in outputs.items():
            console.print(f"{name}: {array.dtype}{list(array.shape)} "
                          f"min {array.min():.6g} max {array.max():.6g}" if array.size else
                          f"{name}: {array.dtype}{list(array.shape)}")
    return 0


def _run_sim(args: argparse.Namespace) -> int:
    """``run OUTDIR --engine sim``: the compiled C on an emulated Cortex-M."""
    import json

    from backends.c.sim import load_report, run_sim
    from compiler.fileio import write_files

    if args.report and not args.report.endswith(".json"):
        raise EdgeirError("the report must be a .json file", args.report, "name it sim.json",
                          "usage")
    if not Path(args.model).is_dir():
        raise EdgeirError("--engine sim runs a compiled output directory", args.model,
                          "run `edgeir compile MODEL --target cortex-m4 -o OUTDIR` and pass "
                          "OUTDIR", "usage")
    feeds = load_npz(args.input)
    # Samples stacked on a new first axis (one more dimension than the model's inputs)
    # run as a batch in one emulator session.
    specs = {x["name"]: x for x in load_report(Path(args.model))["inputs"]}
    batch = bool(specs) and all(name in feeds and feeds[name].ndim == len(x["shape"]) + 1
                                for name, x in specs.items())
    run = run_sim(Path(args.model), feeds, batch=batch)
    buf = io.BytesIO()
    np.savez(buf, **run.outputs)
    files: dict[Path, bytes | str] = {Path(args.output): buf.getvalue()}
    if args.report:
        files[Path(args.report)] = json.dumps(run.report, indent=2) + "\n"
    write_files(files)
    if not args.quiet:
        from rich.console import Console

        r = run.report
        speed = run.executed / run.seconds / 1e6 if run.seconds > 0 else 0.0
        Console(highlight=False).print(
            f"{r['name']} on {r['target']} (emulated {r['cpu']}), {r['samples']} sample(s): "
            f"{r['instructions']:,} instructions, about {r['cycles_estimate']:,} cycles "
            f"(estimate) per inference; emulated at {speed:.1f} M instructions/s")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from compiler.summary import render_table, summarize

    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    if args.pipeline:
        _run_passes(graph, args)
    if args.memory or args.svg or args.png:
        from compiler.memory_report import show_memory

        show_memory(graph, args.model, calib=args.calib, observer=args.observer,
                    svg=args.svg, png=args.png, as_json=args.json)
        return 0
    report = None
    if args.calib:
        from compiler.text import parse, print_graph

        graph = parse(print_graph(graph))  # the printed names, as the report uses them
        report = _show_quant_report(graph, args)
    summary = summarize(graph)
    if report is not None:
        summary["quantization"] = report
    if args.json:
        import json

        sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        return 0
    sqnr = None
    if report is not None:
        sqnr = {r["value"]: r["sqnr_db"] for r in report["layers_worst_first"]}
    render_table(summary, Path(args.model).name, sqnr)
    if report is not None:
        from rich.console import Console

        worst = ", ".join(f"{r['node']} ({r['sqnr_db']} dB)"
                          for r in report["layers_worst_first"][:3])
        Console().print(f"int8 ({report['observer']}, {report['samples']} samples): output "
                        f"SQNR {report['output_sqnr_db']} dB, top-1 agreement "
                        f"{report['top1_agreement']}; most lossy layers: {worst}")
    return 0


def _show_quant_report(graph: Graph, args: argparse.Namespace) -> dict:
    """Quantize a copy of the float graph (PTQ) and compare it layer by layer."""
    from compiler.quant import calib
    from compiler.text import parse, print_graph
    from passes.quantize import quant_report, quantize_graph

    float_graph = parse(print_graph(graph))
    int_graph = parse(print_graph(graph))
    samples = calib.load_samples(float_graph, args.calib)
    quantize_graph(int_graph, samples, args.observer)
    val = _val_samples(float_graph, args.val) if args.val else samples
    return {"observer": args.observer, **quant_report(float_graph, int_graph, val)}


def cmd_quantize(args: argparse.Namespace) -> int:
    import json

    from compiler.pipeline import parse_pipeline, run_pipeline
    from compiler.quant import calib
    from compiler.text import parse, print_graph
    from passes import STANDARD_PIPELINE
    from passes.quantize import quant_report, quantize_graph

    if not args.output.endswith(".ir"):
        raise EdgeirError("the output must be an .ir file", args.output, "name it OUT.ir", "usage")
    if args.report and not args.report.endswith(".json"):
        raise EdgeirError("the report must be a .json file", args.report, "name it r.json",
                          "usage")
    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    run_pipeline(graph, parse_pipeline(STANDARD_PIPELINE))
    samples = calib.load_samples(graph, args.calib)
    if args.report:  # both graphs from the same text, so value names match layer by layer
        graph = parse(print_graph(graph))
        float_graph = parse(print_graph(graph))
        # read before quantizing, so that bad data fails before any work or output
        val = _val_samples(float_graph, args.val) if args.val else samples
    result = quantize_graph(graph, samples, args.observer, args.percentile, args.io,
                            not args.per_tensor, progress=not args.quiet)
    run_pipeline(graph, parse_pipeline("canonicalize"))
    files: dict[Path, bytes | str] = {}
    if args.report:
        report = {"model": args.model, "observer": args.observer, "io": args.io,
                  "data": args.val or args.calib, **quant_report(float_graph, graph, val)}
        files[Path(args.report)] = json.dumps(report, indent=2, sort_keys=True) + "\n"
    from compiler.fileio import write_files
    from compiler.text.printer import print_graph_with_sidecar

    out = Path(args.output)
    text, blob = print_graph_with_sidecar(graph, out.with_suffix(".bin").name)
    files[out] = text
    if blob:
        files[out.with_suffix(".bin")] = blob
    write_files(files)
    if not args.quiet:
        from rich.console import Console

        console = Console()
        console.print(f"quantized {len(samples)} calibration samples with {args.observer}: "
                      f"{result.stats}")
        if args.report:
            console.print(f"output SQNR {report['output_sqnr_db']} dB, top-1 agreement "
                          f"{report['top1_agreement']}; weakest layers: " + ", ".join(
                              f"{r['node']} {r['sqnr_db']} dB"
                              for r in report["layers_worst_first"][:3]))
    return 0


def _val_samples(graph: Graph, path: str) -> list:
    """Validation samples from an .npz (an int `labels` array beside the inputs is allowed)."""
    from passes.dead_channel_elim import load_val

    return load_val(graph, path)[0]


def cmd_compile(args: argparse.Namespace) -> int:
    from backends.c.driver import compile_model

    graph = load_model(args.model, parse_input_shapes(args.input_shape))
    name = args.name
    if name is None:  # derived from the file name: made a C identifier
        name = re.sub(r"\W", "_", Path(args.model).stem) or "model"
        if name[0].isdigit():
            name = "m_" + name
    if args.pipeline:
        raise EdgeirError("compile runs its own pipelines; -p is for `edgeir opt`", "-p",
                          "run custom passes with `edgeir opt MODEL -p ... -o OUT.ir`, then "
                          "compile OUT.ir", "usage")
    if args.depfile:  # refused before the output directory is written, not after
        from compiler.fileio import check_parent

        check_parent(Path(args.depfile))
    inst = _instrumentation(args)
    # the model's file name, not its path: the output must not depend on where it was
    # compiled (no directories, user names or checkouts in the generated files)
    report = compile_model(graph, Path(args.output), name, args.target, args.calib,
                           args.float, args.observer, Path(args.model).name, inst,
                           args.allow_soft_float, progress=None if args.quiet else print,
                           pin=args.pin, pin_budget=args.pin_budget,
                           inplace=False if args.no_inplace else None,
                           prune=args.prune, val=args.val,
                           dsp=False if args.portable_kernels else None,
                           specialize=args.specialize)
    if args.time_passes:
        _print_timings(inst.timings)
    if args.stats:
        _print_stats(inst.stats)
        for pass_name, pass_report in inst.reports:
            if pass_name == "dead-channel-elim":
                print_pruning(pass_report)
    if args.depfile:
        from compiler.fileio import write_files

        deps = " ".join(p for p in [args.model, args.calib] if p)
        write_files({Path(args.depfile): f"{args.output}/{name}.c: {deps}\n"})
    if not args.quiet:
        from rich.console import Console

        Console().print(f"{args.output}: {name}.c for {report['target']}: "
                        f"{report['macs']:,} MACs, weights {report['weights_bytes']:,} B, "
                        f"arena {report['arena_bytes']:,} B")
        if "pruning" in report:
            macs = report["pruning"]["macs"]
            Console().print(f"dead-channel-elim ({report['pruning']['threshold']}): MACs "
                            f"{macs[0]:,} -> {macs[1]:,} "
                            f"(-{100 * (1 - macs[1] / max(macs[0], 1)):.1f}%)")
    return 0


def cmd_ops(args: argparse.Namespace) -> int:
    from compiler.summary import ops_markdown

    sys.stdout.write(ops_markdown())
    return 0


# -- argument parsing -------------------------------------------------------------------------


def _add_pipeline_flags(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("-p", "--pipeline", default="", metavar="PIPELINE",
                   help="passes to run, e.g. 'canonicalize,fold-pad' or "
                        "'canonicalize{fold-limit=1000}'")
    p.add_argument("--print-ir-after-all", action="store_true",
                   help="print the IR to stderr after every pass")
    p.add_argument("--print-ir-after-change", action="store_true",
                   help="print the IR to stderr after every pass that changed it")
    p.add_argument("--print-constants", action="store_true",
                   help="print large constants in IR dumps instead of eliding them")
    p.add_argument("--dump-dir", metavar="DIR", help="write numbered .ir files after every pass")
    p.add_argument("--time-passes", action="store_true", help="print a pass timing table")
    p.add_argument("--stats", action="store_true", help="print pass statistics")
    p.add_argument("--no-verify", action="store_true", help="skip the verifier after each pass")
    p.add_argument("--reproducer", metavar="PATH", default="edgeir_reproducer.ir",
                   help="where a failing pass writes its reproducer (default: %(default)s)")


def _add_input_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS",
                   help="fix an input's symbolic dimensions, e.g. input=1x3x32x32 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgeir", description="A compiler for neural networks on "
                     "microcontrollers.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("import", help="import a model and write its IR")
    p.add_argument("model", help="an .onnx, .tflite or .ir file")
    p.add_argument("-o", "--output", help="the .ir file to write (default: stdout)")
    _add_input_shape(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("opt", help="run passes on a model and write the IR")
    p.add_argument("model", help="an .onnx, .tflite or .ir file")
    p.add_argument("-o", "--output", help="the .ir file to write (default: stdout)")
    _add_input_shape(p)
    _add_pipeline_flags(p)
    p.add_argument("--verify-diagnostics", action="store_true",
                   help="check the error against `// expected-error@+N {{text}}` annotations "
                        "in the .ir file (for tests)")
    p.add_argument("--plugin", action="append", metavar="FILE.py",
                   help="import a Python file that registers passes with "
                        "compiler.pipeline.register_pass (repeatable; see examples/custom_pass)")
    p.set_defaults(func=cmd_opt)

    p = sub.add_parser("run", help="run a model on inputs from an .npz file")
    p.add_argument("model", help="an .onnx, .tflite or .ir file (or an OUTDIR with --engine c "
                   "or sim)")
    p.add_argument("--input", "-i", required=True, metavar="IN.npz",
                   help="inputs keyed by graph input name")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz",
                   help="outputs keyed by graph output name")
    p.add_argument("--engine", default="interp",
                   help="interp (the reference interpreter), c (the compiled C, host build) "
                        "or sim (the compiled C on an emulated Cortex-M: instruction counts "
                        "and a cycle estimate)")
    p.add_argument("--report", metavar="SIM.json",
                   help="with --engine sim: write instructions and the cycle estimate per "
                        "inference and per layer, and the cost model")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    _add_input_shape(p)
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("show", help="print a per-node table: shapes, params, MACs, bytes")
    p.add_argument("model", help="an .onnx, .tflite or .ir file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--calib", metavar="DATA", help="quantize a copy (PTQ) on this data and "
                   "show each layer's int8 SQNR")
    p.add_argument("--val", metavar="DATA", help="data for the SQNR (default: --calib)")
    p.add_argument("--observer", default="minmax", choices=["minmax", "percentile", "mse"])
    p.add_argument("--memory", action="store_true",
                   help="compile as `edgeir compile` would and show the arena plan: each "
                   "buffer's bytes, offset and live steps, the lower bound and the peak step "
                   "(a float model stays float unless --calib)")
    p.add_argument("--svg", metavar="FILE", help="draw the arena plan as an SVG (implies "
                   "--memory)")
    p.add_argument("--png", metavar="FILE", help="draw the arena plan as a PNG; needs "
                   "matplotlib (implies --memory)")
    _add_input_shape(p)
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("quantize", help="post-training int8 quantization (PTQ)")
    p.add_argument("model", help="a float .onnx, .tflite or .ir model")
    p.add_argument("--calib", required=True, metavar="DATA",
                   help="calibration samples: .npz keyed by input name, or a dir of .npy")
    p.add_argument("--observer", default="minmax", choices=["minmax", "percentile", "mse"],
                   help="how activation ranges are chosen (default: %(default)s)")
    p.add_argument("--percentile", type=float, default=99.99,
                   help="for --observer percentile (default: %(default)s)")
    p.add_argument("--io", default="float", choices=["float", "int8"],
                   help="graph inputs/outputs stay float (default) or become int8")
    p.add_argument("--per-tensor", action="store_true",
                   help="per-tensor instead of per-channel weights")
    p.add_argument("-o", "--output", required=True, metavar="OUT.ir")
    p.add_argument("--report", metavar="R.json", help="write per-layer SQNR and output metrics")
    p.add_argument("--val", metavar="DATA", help="data for the report (default: --calib)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_input_shape(p)
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("compile", help="compile a model to a C library")
    p.add_argument("model", help="an .onnx, .tflite or .ir model")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    p.add_argument("--target", default="host",
                   help="host, cortex-m0plus, cortex-m4, cortex-m4-qspi, cortex-m7, "
                        "cortex-m33, or a .toml target description")
    p.add_argument("--pin", default="none", choices=["none", "all", "hot"],
                   help="weights pinned into SRAM: none (all in flash), all, or the hottest "
                        "within --pin-budget")
    p.add_argument("--pin-budget", type=int, default=0, metavar="BYTES",
                   help="SRAM bytes for --pin hot")
    p.add_argument("--no-inplace", action="store_true",
                   help="no in-place kernels on a microcontroller target (more RAM, faster; "
                        "the host target never uses them)")
    p.add_argument("--portable-kernels", action="store_true",
                   help="portable C int8 kernels even on a core with the DSP extension "
                        "(Cortex-M4/M7/M33 get SMLAD kernels by default)")
    p.add_argument("--specialize", action="store_true",
                   help="instantiate the DSP convolutions' input expansion (im2col) on each "
                        "layer's constant shape: fewer instructions, more code")
    p.add_argument("--calib", metavar="DATA", help="quantize a float model (PTQ) on this data")
    p.add_argument("--float", action="store_true", help="keep a float model float")
    p.add_argument("--observer", default="minmax", choices=["minmax", "percentile", "mse"])
    p.add_argument("--prune", metavar="zeros|exact|THRESHOLD|none", default="zeros",
                   help="remove dead channels (dead-channel-elim): 'zeros' (the default: an "
                        "int8 model's zero-weight channels, outputs unchanged for every "
                        "input), 'exact' (also the channels constant on --calib: outputs "
                        "unchanged there), a max |activation| threshold T or P%% of a layer's "
                        "range on --calib (approximate), or 'none'")
    p.add_argument("--val", metavar="DATA", help="with --prune: accuracy (if DATA has "
                   "'labels') or output SQNR before and after pruning, in report.json")
    p.add_argument("--name", help="the C name prefix (default: the model file's name)")
    p.add_argument("--depfile", metavar="FILE", help="write a make dependency file")
    p.add_argument("--allow-soft-float", action="store_true",
                   help="compile float kernels for a target without an FPU")
    p.add_argument("-q", "--quiet", action="store_true")
    _add_input_shape(p)
    _add_pipeline_flags(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("ops", help="print the supported IR ops as a markdown table")
    p.set_defaults(func=cmd_ops)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "command", None):
            raise EdgeirError("missing command", "edgeir",
                              "use one of: import, opt, run, show, quantize, compile, ops (see "
                              "`edgeir --help`)", "usage")
        return args.func(args)
    except EdgeirError as err:
        if debug:
            traceback.print_exc()
        sys.stderr.write(err.line() + "\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("edgeir: interrupted\n")
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, exit 1
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"edgeir: internal error: {type(err).__name__}: {err}; rerun with "
                         "--debug and report it\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
