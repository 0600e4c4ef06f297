"""What the memory plan looks like: a per-buffer table, the peak step, and a picture.

Works on a planned graph (after ``lower-c,plan-memory``, e.g. the graph that
``backends.c.driver.compile_model`` compiled in place). Used by ``edgeir show --memory``
and by the C backend's report.json (keys ``buffers`` and ``peak``).

* :func:`buffer_table`: one row per arena buffer (graph inputs, node results with their
  aliases, per-node scratch), with its bytes, offset, live steps and producer, and the
  buffer it shares bytes with in place (the planner lets an in-place kernel's result
  overlap the operand that dies at that node).
* :func:`peak`: the step with the most live bytes (overlapping buffers counted once).
* :func:`arena_svg`: the plan as an SVG (step on x, arena offset on y), pure strings,
  byte-identical for the same graph. :func:`arena_png`: the same via matplotlib, if it is
  installed.

Steps are node indices: -1 is before the first node (the graph inputs are written) and
``len(graph.nodes)`` after the last (the outputs are read).
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node

# The <rect> elements of arena_svg that are not buffers: the background, the plot frame,
# the band marking the peak step, and the two legend swatches (scratch, shared in place).
# Buffer rects carry class="buffer"; these carry class "bg", "frame", "peak", "legend".
NON_BUFFER_RECTS = 5


# -- the table ------------------------------------------------------------------------------


def _planned(graph: Graph) -> tuple[list[Any], dict[int, Node]]:
    """The planner's buffers with their offsets filled in, and each scratch buffer's node."""
    from passes.plan_memory import buffers

    if "arena_size" not in graph.attrs or any("offsets" not in n.attrs for n in graph.nodes):
        raise EdgeirError("the graph has no memory plan", None,
                          "run lower-c,plan-memory first (or compile it)", "usage")
    bufs, of = buffers(graph)
    offset_of: dict[int, int] = {}
    for value, off in zip(graph.inputs, graph.attrs.get("input_offsets", ())):
        offset_of[id(value)] = off
    scratch_node: dict[int, Node] = {}
    for node in graph.nodes:
        for value, off in zip(node.results, node.attrs["offsets"]):
            offset_of[id(value)] = off
        if node.attrs.get("scratch"):
            scratch_node[id(of[id(node)])] = node
            offset_of[id(node)] = node.attrs["scratch_offsets"][0]
    for b in bufs:
        if b.values:
            b.offset = offset_of[id(b.values[0])]
        else:
            b.offset = offset_of[id(scratch_node[id(b)])]
    return bufs, scratch_node


def _node_name(node: Node, position: int) -> str:
    return node.loc or (node.results[0].name if node.results else "") or f"{node.op}#{position}"


def _overlap(a: Any, b: Any) -> bool:
    live = a.first <= b.last and b.first <= a.last
    return live and a.offset < b.offset + b.size and b.offset < a.offset + a.size


def _rows(graph: Graph) -> list[dict[str, Any]]:
    bufs, scratch_node = _planned(graph)
    position_of = {id(n): i for i, n in enumerate(graph.nodes)}
    inputs = {id(v) for v in graph.inputs}
    outputs = {id(v) for v in graph.outputs}
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, b in enumerate(bufs):
        if b.values:
            producer = b.values[0].producer
            name = b.values[0].name
            if any(id(v) in inputs for v in b.values):
                kind = "input"
            elif any(id(v) in outputs for v in b.values):
                kind = "output"
            else:
                kind = "activation"
        else:
            producer = scratch_node[id(b)]
            name = f"scratch of {_node_name(producer, position_of[id(producer)])}"
            kind = "scratch"
        if name in seen:  # names must tell buffers apart (shares_with refers to them)
            seen[name] += 1
            name = f"{name} #{seen[name]}"
        else:
            seen[name] = 1
        rows.append({
            "name": name,
            "kind": kind,
            "bytes": b.size,
            "offset": b.offset,
            "first": b.first,
            "last": b.last,
            "loc": producer.loc if producer is not None else "",
            "op": producer.op if producer is not None else "input",
            "aliases": [v.name for v in b.values[1:]],
            "shares_with": None,
            "_buf": b,
            "_index": index,
        })
    # In place: of two overlapping buffers live at the same time, the later one (the
    # result written over its dying operand) names the earlier one (the first in buffer
    # order). The planner ties each result to at most one operand, so one name per buffer
    # is enough. Only buffers live at one of r's steps can overlap it (per-step buckets:
    # work in proportion to the live buffers, not to all pairs).
    live = _live_by_step(rows)
    for r in rows:
        candidates = {s["_index"]: s for t in range(r["first"], r["last"] + 1) for s in live[t]}
        for i in sorted(candidates):
            s = candidates[i]
            if s is r or (s["first"], s["_index"]) >= (r["first"], r["_index"]):
                continue
            if _overlap(r["_buf"], s["_buf"]):
                r["shares_with"] = s["name"]
                break
    rows.sort(key=lambda r: (r["offset"], r["first"], r["_index"]))
    return rows


def _live_by_step(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The rows live at each step (in the order of ``rows``)."""
    live: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        for t in range(r["first"], r["last"] + 1):
            live.setdefault(t, []).append(r)
    return live


def buffer_table(graph: Graph) -> list[dict[str, Any]]:
    """One row per arena buffer, ordered by offset then first step: ``name`` (its first
    value's name, or ``scratch of <node>``), ``kind`` (input, activation, output,
    scratch), ``bytes``, ``offset``, ``first`` and ``last`` step, the producing node's
    ``loc`` and ``op`` (``input`` for graph inputs), ``aliases`` (other values stored in
    it, e.g. reshapes) and ``shares_with`` (the earlier buffer whose bytes it overlaps in
    place while both are live, else None)."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in _rows(graph)]


def _union(ranges: list[tuple[int, int]]) -> int:
    total, end = 0, None
    for lo, hi in sorted(ranges):
        if end is None or lo >= end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def peak(graph: Graph, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The step with the most live bytes (the union of the live buffers' byte ranges, so
    in-place overlaps count once; the earliest such step): ``step``, the node's ``loc``
    and ``op`` (``input``/``output`` for the steps before and after the nodes),
    ``bytes``, and the ``buffers`` live then."""
    rows = buffer_table(graph) if rows is None else rows
    n = len(graph.nodes)
    best: dict[str, Any] = {"step": -1, "bytes": -1, "buffers": []}
    live_at = _live_by_step(rows)
    for t in range(-1, n + 1):
        live = live_at.get(t, [])
        size = _union([(r["offset"], r["offset"] + r["bytes"]) for r in live])
        if size > best["bytes"]:
            best = {"step": t, "bytes": size, "buffers": [r["name"] for r in live]}
    t = best["step"]
    if 0 <= t < n:
        node = graph.nodes[t]
        best["loc"], best["op"] = _node_name(node, t), node.op
    else:
        best["loc"], best["op"] = "", "input" if t < 0 else "output"
    best["bytes"] = max(best["bytes"], 0)
    return best


# -- the picture ----------------------------------------------------------------------------


def _short(name: str, limit: int = 24) -> str:
    """A label-sized name: of the first ';' part, the last two path components, else the
    layer (the next to last: the last is often a generic op like Relu), else a cut."""
    if name.startswith("scratch of "):
        return "scratch"
    parts = [p for p in name.split(";")[0].split("/") if p] or [name]
    for candidate in ("/".join(parts[-2:]), parts[-2] if len(parts) > 1 else parts[-1]):
        if len(candidate) <= limit:
            return candidate
    return parts[-1][: limit - 1] + "…"


def _color(index: int, lightness: float = 0.68) -> str:
    hue = (index * 0.381966) % 1.0  # the golden angle: neighbours get distant hues
    r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.55)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _nice_step(span: float, ticks: int = 6) -> int:
    raw = max(span / ticks, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)


def _tick_label(graph: Graph, t: int) -> str:
    n = len(graph.nodes)
    if t < 0:
        return "inputs"
    if t >= n:
        return "outputs"
    return f"{t} {graph.nodes[t].op}"


def _a(text: str) -> str:
    """Escaped for an attribute or text node."""
    return escape(str(text), {'"': "&quot;"})


def _f(x: float) -> str:
    return f"{x:.1f}"


def _summary(graph: Graph, pk: dict[str, Any], ram: int | None) -> str:
    arena = int(graph.attrs["arena_size"])
    bound = int(graph.attrs.get("lower_bound", 0))
    ram = arena if ram is None else ram
    where = f"step {pk['step']} ({pk['op']})"
    return (f"arena {arena:,} B · lower bound {bound:,} B (gap {arena - bound:,} B) · "
            f"ram {ram:,} B · peak {pk['bytes']:,} B at {where}")


CHAR_W = 6.0  # estimated width of a character at font-size 10 (sans-serif)


def arena_svg(graph: Graph, title: str, *, ram: int | None = None) -> str:
    """The memory plan as an SVG document: x is the schedule step, y the arena offset
    (0 at the bottom); one ``<rect class="buffer">`` per buffer of :func:`buffer_table`
    (same order), spanning its live steps and bytes; scratch hatched grey; buffers that
    share bytes in place semi-transparent; a solid line at the arena size and a dashed
    one at the lower bound. ``ram`` (default: the arena size) is shown in the legend.
    See NON_BUFFER_RECTS for the other rects."""
    rows = _rows(graph)
    pk = peak(graph, rows)
    n = len(graph.nodes)
    arena = int(graph.attrs["arena_size"])
    bound = int(graph.attrs.get("lower_bound", 0))
    top_bytes = max([arena, bound, 1] + [r["offset"] + r["bytes"] for r in rows])

    columns = n + 2  # the inputs' step, the nodes, the outputs' step
    plot_w = float(min(max(columns * 26, 640), 1400))
    plot_h = 420.0
    col = plot_w / columns
    every = max(1, math.ceil(12.0 / col))  # a tick label needs ~12 px across
    labels = {t: _tick_label(graph, t)[:24] for t in range(-1, n + 1)
              if (t + 1) % every == 0 or t == n}
    label_h = CHAR_W * max(len(s) for s in labels.values())
    left, right, top = 86.0, 170.0, 80.0
    bottom = 12.0 + label_h + 26.0
    width, height = left + plot_w + right, top + plot_h + bottom
    y_top = top_bytes * 1.06

    def x_of(step: float) -> float:
        return left + (step + 1) * col

    def y_of(byte: float) -> float:
        return top + plot_h * (1.0 - byte / y_top)

    out: list[str] = []
    w = out.append
    w('<?xml version="1.0" encoding="UTF-8"?>')
    w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
      f'viewBox="0 0 {_f(width)} {_f(height)}" font-family="DejaVu Sans, Arial, sans-serif" '
      'font-size="10">')
    w(f"<title>{_a(title)}</title>")
    w("<defs>")
    w('<pattern id="scratch" patternUnits="userSpaceOnUse" width="6" height="6" '
      'patternTransform="rotate(45)">')
    w('<path d="M0,0 H6 V6 H0 Z" fill="#d4d4d4"/>')
    w('<path d="M0,0 V6" stroke="#7a7a7a" stroke-width="2"/>')
    w("</pattern>")
    w("</defs>")
    w(f'<rect class="bg" x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>')
    w(f'<text x="{_f(left)}" y="24" font-size="15" font-weight="bold">{_a(title)}</text>')
    w(f'<text x="{_f(left)}" y="44" font-size="11">{_a(_summary(graph, pk, ram))}</text>')
    # legend swatches
    lx = left
    w(f'<rect class="legend" x="{_f(lx)}" y="53" width="14" height="9" fill="url(#scratch)" '
      'stroke="#555555" stroke-width="0.8"/>')
    w(f'<text x="{_f(lx + 18)}" y="61.5">scratch</text>')
    lx += 18 + CHAR_W * 7 + 16
    w(f'<rect class="legend" x="{_f(lx)}" y="53" width="14" height="9" fill="{_color(0)}" '
      'fill-opacity="0.55" stroke="#333333" stroke-width="0.8" stroke-dasharray="3,2"/>')
    w(f'<text x="{_f(lx + 18)}" y="61.5">shares bytes in place (overlaps drawn '
      'darker)</text>')

    # frame, peak band, grid
    w(f'<rect class="frame" x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" '
      f'height="{_f(plot_h)}" fill="#fafafa" stroke="#333333" stroke-width="1"/>')
    w(f'<rect class="peak" x="{_f(x_of(pk["step"]))}" y="{_f(top)}" width="{_f(col)}" '
      f'height="{_f(plot_h)}" fill="#fff1a8" fill-opacity="0.7">'
      f"<title>peak: {pk['bytes']:,} B live at step {pk['step']}</title></rect>")
    step = _nice_step(y_top)
    w('<g class="y-axis" text-anchor="end">')
    for v in range(0, int(y_top) + 1, step):
        y = y_of(v)
        w(f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_w)}" y2="{_f(y)}" '
          'stroke="#e2e2e2" stroke-width="0.8"/>')
        w(f'<line x1="{_f(left - 4)}" y1="{_f(y)}" x2="{_f(left)}" y2="{_f(y)}" '
          'stroke="#333333"/>')
        w(f'<text x="{_f(left - 7)}" y="{_f(y + 3.5)}">{v:,}</text>')
    w("</g>")
    w(f'<text transform="translate({_f(22)},{_f(top + plot_h / 2)}) rotate(-90)" '
      'text-anchor="middle" font-size="11">arena offset (bytes)</text>')
    w('<g class="x-axis" text-anchor="end">')
    base = top + plot_h
    for t in range(-1, n + 1):
        x = x_of(t) + col / 2
        w(f'<line x1="{_f(x)}" y1="{_f(base)}" x2="{_f(x)}" y2="{_f(base + 4)}" '
          'stroke="#333333"/>')
        if t in labels:
            w(f'<text transform="translate({_f(x + 3.5)},{_f(base + 8)}) rotate(-90)">'
              f"{_a(labels[t])}</text>")
    w("</g>")
    w(f'<text x="{_f(left + plot_w / 2)}" y="{_f(height - 8)}" text-anchor="middle" '
      f'font-size="11">schedule step (node index and op'
      f'{"" if every == 1 else f", every {every}th labelled"})</text>')

    # the buffers
    shared = {r["name"] for r in rows if r["shares_with"]} | \
             {r["shares_with"] for r in rows if r["shares_with"]}
    w('<g class="buffers">')
    for i, r in enumerate(rows):
        x0 = x_of(r["first"]) + 1.5
        x1 = x_of(r["last"] + 1) - 1.5
        y1 = y_of(r["offset"])
        y0 = y_of(r["offset"] + r["bytes"])
        h = max(y1 - y0, 2.0)  # tiny buffers stay visible
        y0 = y1 - h
        steps = (f"step {r['first']}" if r["first"] == r["last"]
                 else f"steps {r['first']}..{r['last']}")
        tip = (f"{r['name']}: {r['bytes']:,} B at offset {r['offset']:,}, {steps}, "
               f"{r['op']}" + (f", shares bytes with {r['shares_with']}"
                              if r["shares_with"] else ""))
        if r["kind"] == "scratch":
            style = 'fill="url(#scratch)" stroke="#555555"'
        else:
            style = f'fill="{_color(i)}" stroke="{_color(i, 0.32)}"'
        if r["name"] in shared:
            style += ' fill-opacity="0.55" stroke-dasharray="3,2"'
        w(f'<rect class="buffer" data-name="{_a(r["name"])}" x="{_f(x0)}" y="{_f(y0)}" '
          f'width="{_f(x1 - x0)}" height="{_f(h)}" {style} stroke-width="0.8">'
          f"<title>{_a(tip)}</title></rect>")
    # labels on top of all rects, where they fit: over the steps where no later buffer
    # is written over it in place (so partners' labels do not collide), horizontal if
    # the rect is wide enough, else vertical
    overwritten = {r["shares_with"]: r["first"] for r in rows if r["shares_with"]}
    for r in rows:
        last = r["last"]
        if r["name"] in overwritten and overwritten[r["name"]] > r["first"]:
            last = min(last, overwritten[r["name"]] - 1)
        x0, x1 = x_of(r["first"]) + 1.5, x_of(last + 1) - 1.5
        y0, y1 = y_of(r["offset"] + r["bytes"]), y_of(r["offset"])
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        short = _short(r["name"])
        for text in (f"{short} ({r['bytes']:,} B)", short, f"{r['bytes']:,} B"):
            need = CHAR_W * len(text) + 6
            if x1 - x0 >= need and y1 - y0 >= 13:
                w(f'<text x="{_f(cx)}" y="{_f(cy + 3.5)}" text-anchor="middle" '
                  f'fill="#1a1a1a">{_a(text)}</text>')
                break
            if y1 - y0 >= need and x1 - x0 >= 13:
                w(f'<text transform="translate({_f(cx + 3.5)},{_f(cy)}) rotate(-90)" '
                  f'text-anchor="middle" fill="#1a1a1a">{_a(text)}</text>')
                break
    w("</g>")

    # the peak step, outlined over the buffers
    px = x_of(pk["step"])
    for x in (px, px + col):
        w(f'<line class="peak" x1="{_f(x)}" y1="{_f(top)}" x2="{_f(x)}" y2="{_f(top + plot_h)}" '
          'stroke="#e08a00" stroke-width="1.2" stroke-dasharray="4,3"/>')
    w(f'<text x="{_f(px + col / 2)}" y="{_f(top - 4)}" text-anchor="middle" fill="#b86e00">'
      f"peak</text>")

    # arena size and lower bound
    ya, yb = y_of(arena), y_of(bound)
    w(f'<line class="arena" x1="{_f(left)}" y1="{_f(ya)}" x2="{_f(left + plot_w)}" '
      f'y2="{_f(ya)}" stroke="#c0392b" stroke-width="1.6"/>')
    w(f'<text x="{_f(left + plot_w + 6)}" y="{_f(min(ya, yb) - 2)}" fill="#c0392b">'
      f"arena {arena:,} B</text>")
    w(f'<line class="lower-bound" x1="{_f(left)}" y1="{_f(yb)}" x2="{_f(left + plot_w)}" '
      f'y2="{_f(yb)}" stroke="#1f6fb2" stroke-width="1.4" stroke-dasharray="6,4"/>')
    w(f'<text x="{_f(left + plot_w + 6)}" y="{_f(max(ya, yb) + 11)}" fill="#1f6fb2">'
      f"lower bound {bound:,} B</text>")
    w("</svg>")
    return "\n".join(out) + "\n"


def arena_png(graph: Graph, title: str, path: str | Path, *, ram: int | None = None) -> None:
    """The picture of :func:`arena_svg` as a PNG at ``path``, drawn by matplotlib (an
    EdgeirError of kind ``unsupported`` if it is not installed)."""
    from compiler.fileio import write_files

    write_files({Path(path): _png_bytes(graph, title, str(path), ram)})


def _png_bytes(graph: Graph, title: str, where: str, ram: int | None = None) -> bytes:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch, Rectangle
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise EdgeirError("PNG output needs matplotlib: pip install matplotlib", where,
                          "or write an SVG with --svg", "unsupported") from None
    import io

    rows = _rows(graph)
    pk = peak(graph, rows)
    n = len(graph.nodes)
    arena = int(graph.attrs["arena_size"])
    bound = int(graph.attrs.get("lower_bound", 0))
    top_bytes = max([arena, bound, 1] + [r["offset"] + r["bytes"] for r in rows])
    fig = Figure(figsize=(max(7.0, min(18.0, 0.3 * (n + 2) + 3)), 6.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.axvspan(pk["step"] - 0.5, pk["step"] + 0.5, color="#fff1a8", alpha=0.7, zorder=0)
    shared = {r["name"] for r in rows if r["shares_with"]} | \
             {r["shares_with"] for r in rows if r["shares_with"]}
    for i, r in enumerate(rows):
        alpha = 0.55 if r["name"] in shared else 1.0
        xy, wdt = (r["first"] - 0.45, r["offset"]), r["last"] - r["first"] + 0.9
        if r["kind"] == "scratch":
            patch = Rectangle(xy, wdt, r["bytes"], facecolor="#d4d4d4", edgecolor="#555555",
                              hatch="///", linewidth=0.6, alpha=alpha, zorder=2)
        else:
            patch = Rectangle(xy, wdt, r["bytes"], facecolor=_color(i),
                              edgecolor=_color(i, 0.32), linewidth=0.6, alpha=alpha, zorder=2,
                              linestyle="--" if r["name"] in shared else "-")
        ax.add_patch(patch)
    ax.axhline(arena, color="#c0392b", linewidth=1.4, label=f"arena {arena:,} B", zorder=3)
    ax.axhline(bound, color="#1f6fb2", linewidth=1.2, linestyle="--",
               label=f"lower bound {bound:,} B", zorder=3)
    ax.set_xlim(-1.5, n + 0.5)
    ax.set_ylim(0, top_bytes * 1.06)
    every = max(1, math.ceil((n + 2) / 60))
    ticks = [t for t in range(-1, n + 1) if (t + 1) % every == 0 or t == n]
    ax.set_xticks(ticks)
    ax.set_xticklabels([_tick_label(graph, t)[:24] for t in ticks], rotation=90, fontsize=7)
    ax.set_xlabel("schedule step (node index and op)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(f"{title}\n{_summary(graph, pk, ram)}", fontsize=9, loc="left")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):,}"))
    handles, _ = ax.get_legend_handles_labels()
    handles += [Patch(facecolor="#d4d4d4", edgecolor="#555555", hatch="///", label="scratch"),
                Patch(facecolor=_color(0), edgecolor="#333333", alpha=0.55, linestyle="--",
                      label="shares bytes in place"),
                Patch(facecolor="#fff1a8", label=f"peak {pk['bytes']:,} B")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


# -- edgeir show --memory -------------------------------------------------------------------


def plan(graph: Graph, source: str = "", calib: str | None = None,
         observer: str = "minmax") -> dict[str, Any]:
    """Plan ``graph`` in place as ``edgeir compile`` would for a microcontroller (in-place
    kernels; the C library goes to a temporary directory and is dropped; its report is
    returned); a float model stays float unless ``calib``."""
    import tempfile

    from backends.c.driver import compile_model

    with tempfile.TemporaryDirectory(prefix="edgeir-show-") as tmp:
        return compile_model(graph, Path(tmp) / "out", "net", calib=calib,
                             float_model=calib is None, observer=observer, source=source,
                             inplace=True)


def _display(name: str | None) -> str:
    """A table-sized name (the JSON keeps the full one)."""
    if not name:
        return ""
    if name.startswith("scratch of "):
        return "scratch of " + _short(name[len("scratch of "):], 32)
    return _short(name, 32)


def show_memory(graph: Graph, model: str, *, calib: str | None = None,
                observer: str = "minmax", svg: str | None = None, png: str | None = None,
                as_json: bool = False) -> None:
    """``edgeir show MODEL --memory``: plan, print the buffers and the peak, write the
    pictures (all files or none)."""
    import sys

    from compiler.fileio import write_files

    source = Path(model).name
    ram = plan(graph, source, calib, observer).get("ram_bytes")
    rows = buffer_table(graph)
    pk = peak(graph, rows)
    arena = int(graph.attrs["arena_size"])
    bound = int(graph.attrs.get("lower_bound", 0))
    title = f"{source}: arena plan"
    files: dict[Path, bytes | str] = {}
    if png:
        files[Path(png)] = _png_bytes(graph, title, png, ram)
    if svg:
        files[Path(svg)] = arena_svg(graph, title, ram=ram)
    if files:
        write_files(files)
    if as_json:
        import json

        doc = {"model": source, "arena_bytes": arena, "lower_bound": bound,
               "gap_bytes": arena - bound, "ram_bytes": ram, "buffers": rows, "peak": pk}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    n = len(graph.nodes)

    def step(t: int) -> str:
        return "in" if t < 0 else "out" if t >= n else str(t)

    cells = []
    for r in rows:
        live = step(r["first"]) if r["first"] == r["last"] else \
            f"{step(r['first'])}..{step(r['last'])}"
        cells.append((_display(r["name"]), f"{r['bytes']:,}", f"{r['offset']:,}", live,
                      r["op"], _display(r["shares_with"])))
    table = Table(title=f"{source}: arena buffers ({len(rows)})", title_justify="left")
    for head, justify in [("buffer", "left"), ("bytes", "right"), ("offset", "right"),
                          ("live steps", "right"), ("op", "left"), ("shares with", "left")]:
        table.add_column(head, justify=justify)
    for c in cells:
        table.add_row(*c)
    console = Console()
    console.print(table)
    gap = arena - bound
    console.print(f"arena {arena:,} B; lower bound {bound:,} B; gap {gap:,} B "
                  f"({100 * gap / arena if arena else 0:.1f}% of the arena)")
    where = (f"node '{pk['loc'].split(';')[0]}' ({pk['op']})" if 0 <= pk["step"] < n else
             "the graph inputs" if pk["step"] < 0 else "the graph outputs")
    console.print(f"peak {pk['bytes']:,} B live at step {step(pk['step'])}: {where}, "
                  f"{len(pk['buffers'])} buffers")
    for path in files:
        console.print(f"wrote {path}")
