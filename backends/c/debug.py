"""The layout of the debug arena: guard bytes around every buffer (``-DEDGEIR_DEBUG``).

The release build is untouched: plan-memory's offsets and ``<NAME>_ARENA_SIZE`` are what
they are without this. The generated C carries a second layout, compiled in only with
``-DEDGEIR_DEBUG``:

* every arena buffer (inputs, activations, outputs, scratch) has ``GUARD`` bytes before
  and after it, none of them shared with another buffer live at the same time;
* buffers never share bytes in place: in the debug arena each in-place kernel reads and
  writes separate buffers (every kernel accepts that: plan-memory's untied plan, which
  it always considers, places them so too), so that each buffer has guards of its own;
* buffers that are not live together reuse bytes (plan-memory's greedy placement over the
  same lifetimes), so the debug arena stays close to the release one (about 2 x GUARD
  bytes more per live buffer) and fits the boards the release build fits.

Before each layer (a node that emits code: ``EDGEIR_LAYER``'s numbering) the generated code
writes the guards of the buffers the layer starts (its outputs and scratch; the inputs
before the first layer); after it, it checks the guards of every buffer live at that
layer, and at the first changed byte calls ``edgeir_debug_fail(model, layer, buffer)``
and returns 3 from ``<name>_invoke``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from compiler.ir import Graph

GUARD = 32  # guard bytes on each side of a buffer (a multiple of the arena alignment)


@dataclass
class Guarded:
    """One buffer of the debug arena."""

    index: int      # in plan_memory.buffers(graph)'s order
    name: str       # as in report.json's buffers (memory_report.buffer_table)
    offset: int     # of its first byte (the guards are the GUARD bytes either side)
    bytes: int
    first: int      # the layer before which its guards are written
    last: int       # the last layer after which they are checked


@dataclass
class DebugPlan:
    arena_size: int
    buffers: list[Guarded]          # every buffer, in plan_memory.buffers(graph)'s order
    index_of_value: dict[int, int]  # id(value) -> buffer index
    index_of_scratch: dict[int, int]  # id(node) -> its scratch buffer's index

    @property
    def checked(self) -> list[Guarded]:
        """The buffers with guards: those live at one layer at least."""
        return [b for b in self.buffers if b.first <= b.last]


def emits_code(impl: str) -> bool:
    return impl not in ("alias", "fused")


def debug_plan(graph: Graph) -> DebugPlan:
    """The debug arena of a planned graph (plan-memory has run)."""
    from compiler.memory_report import _rows
    from passes.plan_memory import Buffer, Group, align_up, buffers, greedy_by_size

    alignment = max(int(graph.attrs.get("alignment", 16)), 1)
    assert GUARD % alignment == 0, "the guards keep every buffer aligned"
    bufs, of = buffers(graph)
    names = {r["_index"]: r["name"] for r in _rows(graph)}
    # layer index at each node position: how many code-emitting nodes come before it
    before = []
    count = 0
    for node in graph.nodes:
        before.append(count)
        count += emits_code(node.attrs.get("impl", ""))
    layers = count

    def first_layer(position: int) -> int:  # the first layer at or after the position
        return 0 if position < 0 else before[position] if position < len(before) else layers

    def last_layer(position: int) -> int:  # the last layer at or before the position
        if position < 0:
            return -1  # a graph input no node reads: live at no layer (before[-1] wrapped)
        if position >= len(before):
            return layers - 1
        return before[position] - 1 + emits_code(graph.nodes[position].attrs.get("impl", ""))

    padded = [Group([Buffer(GUARD + b.size + GUARD, b.first, b.last)]) for b in bufs]
    size = greedy_by_size(padded, alignment)
    guarded = [Guarded(i, names[i], g.offset + GUARD, b.size, first_layer(b.first),
                       last_layer(b.last)) for i, (b, g) in enumerate(zip(bufs, padded))]
    index = {id(b): i for i, b in enumerate(bufs)}
    values = {id(v): index[id(b)] for b in bufs for v in b.values}
    scratch = {key: index[id(b)] for key, b in of.items() if not b.values}
    return DebugPlan(align_up(size, alignment), guarded, values, scratch)


# -- the generated code -------------------------------------------------------------------
#
# The emitters print each layer once. While they run, every arena offset in the graph
# (node results, scratch, graph inputs and outputs) is a placeholder naming its buffer;
# the calls are then printed twice, with the release offsets and with the debug ones.

PLACEHOLDER = 10**12  # + buffer index: no release offset comes near it
ARENA_REF = re.compile(r"arena \+ (\d+)\)")
ANY_PLACEHOLDER = re.compile(r"\b1000000\d{6}\b")


@contextmanager
def placeholder_offsets(graph: Graph, plan: DebugPlan) -> Iterator[dict[int, tuple[int, int]]]:
    """Within the block, the graph's offsets are placeholders; yields placeholder ->
    (release offset, debug offset). The release offsets are restored on exit."""
    table: dict[int, tuple[int, int]] = {}

    def token(index: int, release: int) -> int:
        key = PLACEHOLDER + index
        known = table.setdefault(key, (release, plan.buffers[index].offset))
        assert known[0] == release, "values of one buffer share its offset"
        return key

    def tokens(values, offsets) -> tuple[int, ...]:
        return tuple(token(plan.index_of_value[id(v)], off)
                     if id(v) in plan.index_of_value else off
                     for v, off in zip(values, offsets))

    saved_graph = {k: graph.attrs[k] for k in ("input_offsets", "output_offsets")}
    saved_nodes = [(n, n.attrs["offsets"], n.attrs.get("scratch_offsets")) for n in graph.nodes]
    try:
        graph.attrs["input_offsets"] = tokens(graph.inputs, saved_graph["input_offsets"])
        graph.attrs["output_offsets"] = tokens(graph.outputs, saved_graph["output_offsets"])
        for node, offsets, scratch in saved_nodes:
            node.attrs["offsets"] = tokens(node.results, offsets)
            if scratch:
                node.attrs["scratch_offsets"] = (token(plan.index_of_scratch[id(node)],
                                                       scratch[0]),)
        yield table
    finally:
        graph.attrs.update(saved_graph)
        for node, offsets, scratch in saved_nodes:
            node.attrs["offsets"] = offsets
            if scratch:
                node.attrs["scratch_offsets"] = scratch


def render_offsets(lines: list[str], table: dict[int, tuple[int, int]], debug: bool
                   ) -> list[str]:
    """The emitted lines with each ``arena + PLACEHOLDER`` replaced by the release (or the
    debug) offset of its buffer."""
    def offset(match: re.Match) -> str:
        key = int(match.group(1))
        if key not in table:
            raise AssertionError(f"arena offset {key} did not come from the memory plan")
        return f"arena + {table[key][int(debug)]})"

    out = [ARENA_REF.sub(offset, line) for line in lines]
    check_no_placeholder(out)
    return out


def check_no_placeholder(lines: list[str]) -> None:
    """Fail loudly if an emitter printed an arena offset other than as ``arena + N)``
    (arithmetic on it, or in a parameter block): it would be a placeholder in the C."""
    for line in lines:
        if ANY_PLACEHOLDER.search(line):
            raise AssertionError(f"an arena offset outside 'arena + N)' in: {line.strip()}")


def c_string(text: str) -> str:
    """A C string literal of ``text`` (printable ASCII as is, other bytes in octal; '?'
    escaped: no trigraphs)."""
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def helpers(n: str, plan: DebugPlan) -> list[str]:
    """The guard table, the default hook and the arm/check functions (static, in
    ``<name>.c`` under ``#ifdef EDGEIR_DEBUG``)."""
    up = n.upper()
    rows = [f"  {{{b.offset}, {b.bytes}, {b.first}, {b.last}, {c_string(b.name)}}},"
            for b in plan.checked] or ["  {0, 0, 0, -1, \"\"},"]
    count = len(rows)
    return [
        f"/* -DEDGEIR_DEBUG: {up}_GUARD_BYTES guard bytes before and after every buffer of",
        "   the debug arena. Before a layer the guards of the buffers it starts are written,",
        "   after it those of every live buffer are checked (backends/c/debug.py). */",
        f"#define {up}_GUARD_BYTES {GUARD}u",
        "",
        "typedef struct {",
        "  uint32_t offset, bytes; /* the buffer in the debug arena */",
        "  int32_t first, last;    /* guards written before layer first, checked after",
        "                             layers first..last */",
        "  const char *name;",
        f"}} {n}_guarded;",
        "",
        f"static const {n}_guarded {n}_guarded_buffers[{count}] = {{",
        *rows,
        "};",
        "",
        "#if defined(__GNUC__)",
        "/* The default hook does nothing (invoke returns 3): define edgeir_debug_fail in the",
        "   application to report the layer and buffer, or to trap. */",
        "__attribute__((weak)) void edgeir_debug_fail(const char *model, int layer,",
        "                                             const char *buffer) {",
        "  (void)model;",
        "  (void)layer;",
        "  (void)buffer;",
        "}",
        "#endif",
        "",
        f"static uint8_t {n}_canary(uint32_t i) {{ return (uint8_t)(0xA5u ^ (i * 0x3Bu)); }}",
        "",
        f"static void {n}_debug_arm(uint8_t *arena, int32_t layer) {{",
        "  uint32_t b, i;",
        f"  for (b = 0; b < {count}u; ++b) {{",
        f"    const {n}_guarded *g = &{n}_guarded_buffers[b];",
        "    if (g->first != layer) continue;",
        f"    for (i = 0; i < {up}_GUARD_BYTES; ++i) {{",
        f"      arena[g->offset - {up}_GUARD_BYTES + i] = {n}_canary(i);",
        f"      arena[g->offset + g->bytes + i] = {n}_canary({up}_GUARD_BYTES + i);",
        "    }",
        "  }",
        "}",
        "",
        f"static int {n}_debug_check(const uint8_t *arena, int32_t layer) {{",
        "  uint32_t b, i;",
        f"  for (b = 0; b < {count}u; ++b) {{",
        f"    const {n}_guarded *g = &{n}_guarded_buffers[b];",
        "    if (layer < g->first || layer > g->last) continue;",
        f"    for (i = 0; i < {up}_GUARD_BYTES; ++i) {{",
        f"      if (arena[g->offset - {up}_GUARD_BYTES + i] != {n}_canary(i) ||",
        f"          arena[g->offset + g->bytes + i] != {n}_canary({up}_GUARD_BYTES + i)) {{",
        f"        edgeir_debug_fail({c_string(n)}, (int)layer, g->name);",
        "        return 1;",
        "      }",
        "    }",
        "  }",
        "  return 0;",
        "}",
    ]


def layer_calls(n: str, calls: list[str]) -> list[str]:
    """The body of the debug ``<name>_layers``: before layer k its new guards and
    ``EDGEIR_LAYER(k)``, after it the check (return 3 on a changed guard)."""
    out: list[str] = []
    k = 0
    for line in calls:
        if line.startswith("  /* "):  # a layer's header comment (emit_layers)
            if k:
                out.append(f"  if ({n}_debug_check(arena, {k - 1}) != 0) return 3;")
            out.append(f"  {n}_debug_arm(arena, {k});")
            out.append(f"  EDGEIR_LAYER({k});")
            k += 1
        out.append(line)
    if k:
        out.append(f"  if ({n}_debug_check(arena, {k - 1}) != 0) return 3;")
    out.append(f"  EDGEIR_LAYER({k});")
    out.append("  return 0;")
    return out
