"""Model summaries for ``edgeir show`` and the op table for ``edgeir ops``."""

from __future__ import annotations

from typing import Any

from compiler import ops
from compiler.ir import Graph
from compiler.ops.base import REQUIRED

# The ops whose MACs ``show`` totals: the multiply-accumulate layers.
MAC_OPS = ("conv2d", "conv_transpose2d", "gemm", "matmul", "qconv2d", "qfully_connected")


def summarize(graph: Graph) -> dict[str, Any]:
    """Per-node rows and totals: MACs, parameters (constant operands), activation bytes."""
    rows = []
    seen_params: set[int] = set()
    for node in graph.nodes:
        opdef = ops.get(node.op)
        params = sum(v.type.numel for v in node.operands if v.is_constant)
        param_bytes = 0
        for v in node.operands:
            if v.is_constant and id(v) not in seen_params:
                seen_params.add(id(v))
                param_bytes += v.type.nbytes
        rows.append({
            "node": node.loc or node.results[0].name,
            "value": node.results[0].name,
            "op": node.op,
            "output_shapes": [list(v.type.shape) for v in node.results],
            "output_dtype": node.results[0].type.dtype,
            "params": params,
            "param_bytes": param_bytes,
            "macs": opdef.macs_of(node) if node.op in MAC_OPS else 0,
            "activation_bytes": sum(v.type.nbytes for v in node.results),
        })
    return {
        "graph": graph.name,
        "inputs": {n: list(v.type.shape) for n, v in zip(graph.input_names, graph.inputs)},
        "outputs": {n: list(v.type.shape) for n, v in zip(graph.output_names, graph.outputs)},
        "nodes": rows,
        "totals": {
            "nodes": len(rows),
            "macs": sum(r["macs"] for r in rows),
            "params": sum(c.type.numel for c in graph.constants if c.uses),
            "param_bytes": sum(c.type.nbytes for c in graph.constants if c.uses),
            "activation_bytes": sum(r["activation_bytes"] for r in rows),
        },
    }


def render_table(summary: dict[str, Any], title: str, sqnr: dict[str, float] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title}: {summary['graph']}", title_justify="left")
    columns = [("node", "left"), ("op", "left"), ("output shape", "left"), ("params", "right"),
               ("MACs", "right"), ("activation bytes", "right")]
    if sqnr is not None:
        columns.append(("int8 SQNR dB", "right"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for r in summary["nodes"]:
        shapes = ", ".join("x".join(map(str, s)) for s in r["output_shapes"])
        cells = [r["node"], r["op"], f"{shapes} {r['output_dtype']}", f"{r['params']:,}",
                 f"{r['macs']:,}", f"{r['activation_bytes']:,}"]
        if sqnr is not None:
            cells.append(f"{sqnr[r['value']]:.1f}" if r["value"] in sqnr else "")
        table.add_row(*cells)
    t = summary["totals"]
    table.add_section()
    table.add_row(f"total ({t['nodes']} nodes)", "", "", f"{t['params']:,}", f"{t['macs']:,}",
                  f"{t['activation_bytes']:,}", *([""] if sqnr is not None else []))
    console = Console()
    console.print(table)
    console.print(f"weights: {t['param_bytes']:,} bytes; MACs counted over "
                  f"{', '.join(MAC_OPS)}")


def ops_markdown() -> str:
    """The README's op table, generated from the registry."""
    lines = ["| op | operands | attributes (default) | semantics |", "|---|---|---|---|"]
    for name in sorted(ops.REGISTRY):
        op = ops.REGISTRY[name]
        attrs = []
        for key, spec in sorted(op.attrs.items()):
            if spec.default is REQUIRED:
                attrs.append(f"{key}: {spec.kind}")
            else:
                attrs.append(f"{key}: {spec.kind} = {_fmt(spec.default)}")
        lines.append(f"| `{name}` | {', '.join(op.operands)} | {'; '.join(attrs) or '-'} | "
                     f"{op.summary} |")
    return "\n".join(lines) + "\n"


def onnx_ops_markdown() -> str:
    """The README's list of ONNX op types the importer converts."""
    from compiler.frontends.onnx_import import FOLD_ONLY, supported_op_types

    ops_ = ", ".join(f"`{t}`" for t in supported_op_types() + ["Constant"])
    folded = ", ".join(f"`{t}`" for t in sorted(FOLD_ONLY))
    return (f"Converted: {ops_}.\n\nAccepted only when their inputs are constant (folded at "
            f"import, e.g. shape computations): {folded}.\n")


README_SECTIONS = {"onnx-ops": onnx_ops_markdown, "ir-ops": ops_markdown}


def readme_with_tables(text: str) -> str:
    """``text`` with every generated section (between its markers) regenerated."""
    for key, make in README_SECTIONS.items():
        begin, end = f"<!-- begin generated {key} -->", f"<!-- end generated {key} -->"
        head, sep, rest = text.partition(begin)
        _, sep2, tail = rest.partition(end)
        if not sep or not sep2:
            raise ValueError(f"README lacks the markers of section {key!r}")
        text = f"{head}{begin}\n{make()}{end}{tail}"
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
