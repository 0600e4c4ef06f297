"""plan-memory: static arena offsets for every activation buffer.

Matches a graph ready for code generation (after lower-c): every value that is not a
constant needs bytes in the arena: the graph's inputs, every node result, the outputs.
Rewrites nothing structurally; it annotates:
  * each node with ``offsets`` (the arena byte offset of each result);
  * the graph with ``arena_size``, ``input_offsets`` and ``output_offsets``.
Buffers live from the node that writes them to the last node that reads them (inputs from
the start, outputs to the end); ``impl = "alias"`` nodes (reshape) share their input's
bytes. Offsets come from the ``greedy-size`` algorithm: largest buffer first, each at the
lowest aligned offset free for its whole lifetime. (The memory issue adds in-place
kernels, other algorithms and the lower bound.)
Preserves: the schedule and all semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Value
from compiler.passbase import Pass, PassResult


@dataclass
class Buffer:
    """One arena allocation: the values stored in it and when it is live."""

    size: int
    first: int
    last: int
    values: list[Value] = field(default_factory=list)
    offset: int = -1


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def buffers(graph: Graph) -> list[Buffer]:
    """Buffers with their lifetimes over the schedule (positions of the nodes)."""
    end = len(graph.nodes)
    of: dict[int, Buffer] = {}
    result: list[Buffer] = []

    def new(value: Value, first: int) -> None:
        b = Buffer(value.type.nbytes, first, first, [value])
        of[id(value)] = b
        result.append(b)

    for value in graph.inputs:
        new(value, -1)
    for position, node in enumerate(graph.nodes):
        for value in node.operands:
            if id(value) in of:
                of[id(value)].last = max(of[id(value)].last, position)
        if node.attrs.get("impl") == "alias" and not node.operands[0].is_constant:
            b = of[id(node.operands[0])]
            b.values.append(node.result)
            of[id(node.result)] = b
            continue
        for value in node.results:
            new(value, position)
    for value in graph.outputs:
        if id(value) in of:
            of[id(value)].last = end
    return result


def greedy_by_size(bufs: list[Buffer], alignment: int) -> int:
    """Place the largest buffer first at the lowest offset free during its lifetime."""
    placed: list[Buffer] = []
    for b in sorted(bufs, key=lambda b: (-b.size, b.first, b.last)):
        busy = sorted((p.offset, p.offset + p.size) for p in placed
                      if p.first <= b.last and b.first <= p.last)
        offset = 0
        for lo, hi in busy:
            if offset + b.size <= lo:
                break
            offset = max(offset, align_up(hi, alignment))
        b.offset = offset
        placed.append(b)
    return align_up(max((b.offset + b.size for b in bufs), default=0), alignment)


ALGORITHMS = {"greedy-size": greedy_by_size}


@dataclass
class PlanMemory(Pass):
    name = "plan-memory"
    summary = "assign static arena offsets to every activation buffer"
    algo: str = "greedy-size"
    alignment: int = 16

    def run(self, graph: Graph) -> PassResult:
        if self.algo not in ALGORITHMS:
            raise EdgeirError(f"unknown memory planning algorithm '{self.algo}'", "-p",
                              f"use one of {sorted(ALGORITHMS)}", "usage")
        if self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise EdgeirError(f"alignment {self.alignment} is not a power of two", "-p", None,
                              "usage")
        bufs = buffers(graph)
        size = ALGORITHMS[self.algo](bufs, self.alignment)
        offset_of = {id(v): b.offset for b in bufs for v in b.values}
        for node in graph.nodes:
            node.attrs["offsets"] = tuple(offset_of[id(v)] for v in node.results)
        graph.attrs["arena_size"] = size
        graph.attrs["alignment"] = self.alignment
        graph.attrs["input_offsets"] = tuple(offset_of[id(v)] for v in graph.inputs)
        graph.attrs["output_offsets"] = tuple(offset_of.get(id(v), -1) for v in graph.outputs)
        total = sum(b.size for b in bufs)
        return PassResult(True, {"arena-bytes": size, "buffers": len(bufs),
                                 "sum-of-buffers": total})


def check_plan(graph: Graph) -> None:
    """The plan's invariants: inside the arena, aligned, no two live buffers overlap."""
    size = graph.attrs.get("arena_size")
    if size is None:
        return
    alignment = graph.attrs.get("alignment", 1)
    if any("offsets" not in n.attrs for n in graph.nodes):
        raise ValueError("some nodes have no arena offsets: rerun plan-memory")
    offset_of: dict[int, int] = {}
    for value, off in zip(graph.inputs, graph.attrs.get("input_offsets", ())):
        offset_of[id(value)] = off
    for node in graph.nodes:
        if len(node.attrs["offsets"]) != len(node.results):
            raise ValueError(f"{node.label} has {len(node.attrs['offsets'])} offsets for "
                             f"{len(node.results)} results")
        for value, off in zip(node.results, node.attrs["offsets"]):
            offset_of[id(value)] = off
    bufs = buffers(graph)
    for b in bufs:
        offs = {offset_of.get(id(v)) for v in b.values}
        if len(offs) != 1 or None in offs:
            raise ValueError(f"%{b.values[0].name} and its aliases disagree on their offset")
        b.offset = offs.pop()
        if b.offset < 0 or b.offset + b.size > size or b.offset % alignment:
            raise ValueError(f"%{b.values[0].name} at offset {b.offset} ({b.size} bytes) is "
                             f"outside the {size}-byte arena or not {alignment}-aligned")
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            live = a.first <= b.last and b.first <= a.last
            if live and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                raise ValueError(f"%{a.values[0].name} and %{b.values[0].name} are live at the "
                                 "same time and overlap in the arena")
