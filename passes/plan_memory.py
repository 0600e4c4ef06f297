"""plan-memory: static arena offsets for every activation buffer.

Matches a graph ready for code generation (after lower-c): every value that is not a
constant needs bytes in the arena: the graph's inputs, every node result, the outputs.
Rewrites nothing structurally; it annotates:
  * each node with ``offsets`` (the arena byte offset of each result);
  * the graph with ``arena_size``, ``input_offsets``, ``output_offsets``, ``alignment``
    and ``lower_bound``.

1. Liveness: a buffer lives from the node that writes it to the last node that reads it
   (graph inputs from the start, outputs to the end); ``impl = "alias"`` nodes (reshape)
   share their input's bytes.
2. In place and overlapping: where lower-c recorded an ``overlap`` rule (operand i, delta)
   and that operand's buffer dies at the node, the result is tied to it at the fixed
   relative offset ``delta`` (rounded down to the alignment: lower is safe too), so the
   two share bytes (elementwise ops in place: delta 0; a convolution's output starting
   below its input). Tied buffers form a group placed as one piece.
3. Offsets: groups are placed by an algorithm chosen by name: ``greedy-size`` (largest
   first), ``greedy-conflicts`` (most conflicting first), or ``exact``: branch and bound
   over placement orders, each group at its lowest free offset, pruned by the best arena
   so far and the lower bound, stopping at ``budget-ms`` (a deterministic amount of
   search work, not wall-clock time: the same plan on every machine); it starts from the
   better greedy plan, so it is never worse.
The lower bound is the largest sum, over any one step, of the live bytes of each group.
Preserves: the schedule and all semantics.
"""

from __future__ import annotations

import bisect
import sys
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
    group: int = -1      # index of its group
    rel: int = 0         # offset within the group


@dataclass
class Group:
    members: list[Buffer]
    offset: int = -1

    @property
    def size(self) -> int:
        return max(b.rel + b.size for b in self.members)

    @property
    def first(self) -> int:
        return min(b.first for b in self.members)

    @property
    def last(self) -> int:
        return max(b.last for b in self.members)


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def align_down(n: int, alignment: int) -> int:
    return n // alignment * alignment


def buffers(graph: Graph) -> tuple[list[Buffer], dict[int, Buffer]]:
    """Buffers with their lifetimes over the schedule, and the buffer of each value id
    (a node's scratch buffer, live for that node only, is keyed by id(node))."""
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
        fused = node.attrs.get("impl") == "fused"  # computed by the next node's kernel
        for value in node.operands:
            if id(value) in of:
                of[id(value)].last = max(of[id(value)].last, position + fused)
        if fused:
            continue  # its result is never stored
        if node.attrs.get("impl") == "alias" and not node.operands[0].is_constant:
            b = of[id(node.operands[0])]
            b.values.append(node.result)
            of[id(node.result)] = b
            continue
        for value in node.results:
            new(value, position)
        if node.attrs.get("scratch"):
            b = Buffer(int(node.attrs["scratch"][0]), position, position)
            of[id(node)] = b
            result.append(b)
    for value in graph.outputs:
        if id(value) in of:
            of[id(value)].last = end
    return result, of


def _live_together(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def _spatial(a_off: int, a: Buffer, b_off: int, b: Buffer) -> bool:
    return a_off < b_off + b.size and b_off < a_off + a.size


def tie_groups(graph: Graph, bufs: list[Buffer], of: dict[int, Buffer],
               alignment: int) -> list[Group]:
    """Groups of buffers at fixed relative offsets, from the nodes' overlap rules."""
    groups = [Group([b]) for b in bufs]
    for i, b in enumerate(bufs):
        b.group, b.rel = i, 0
    for position, node in enumerate(graph.nodes):
        rule = node.attrs.get("overlap", ())
        if not rule or len(node.results) != 1:
            continue
        out = of[id(node.result)]
        if len(groups[out.group].members) != 1:
            continue  # already tied (an alias of something tied)
        for k in range(0, len(rule), 3):
            index, delta, exact = rule[k], rule[k + 1], rule[k + 2]
            src = of.get(id(node.operands[index]))
            if src is None or src.last != position or src is out:
                continue  # the operand lives on (or is a constant): no sharing
            if any(graph.is_output(v) for v in src.values):
                continue
            if exact and delta % alignment:
                continue
            rel = src.rel + align_down(delta, alignment)
            group = groups[src.group]
            clash = any(m is not src and _live_together(m, out) and
                        _spatial(m.rel, m, rel, out) for m in group.members)
            if clash:
                continue
            groups[out.group] = Group([])
            out.group, out.rel = src.group, rel
            group.members.append(out)
            break
    live = [g for g in groups if g.members]
    for g in live:  # normalize: the lowest member at relative offset 0
        low = min(m.rel for m in g.members)
        for m in g.members:
            m.rel -= low
    return live


def lower_bound(groups: list[Group]) -> int:
    """Max over steps of the sum, over groups, of the span of the group's live members.

    Computed per step over the steps each group lives (a difference array for one-member
    groups): work in proportion to the groups' lifetimes, not steps x groups."""
    if not groups:
        return 0
    lo = min(g.first for g in groups)
    total = [0] * (max(g.last for g in groups) - lo + 2)
    for g in groups:
        if len(g.members) == 1:
            total[g.first - lo] += g.size
            total[g.last - lo + 1] -= g.size
            continue
        for t in range(g.first, g.last + 1):
            live = [m for m in g.members if m.first <= t <= m.last]
            if live:  # (as a difference: the next step subtracts it again)
                span = max(m.rel + m.size for m in live) - min(m.rel for m in live)
                total[t - lo] += span
                total[t - lo + 1] -= span
    best = running = 0
    for delta in total:
        running += delta
        best = max(best, running)
    return best


def _conflicts(g: Group, h: Group) -> bool:
    return any(_live_together(a, b) for a in g.members for b in h.members)


def _lowest_offset(g: Group, placed: list[Group], alignment: int,
                   work: list[int] | None = None, near: _Near | None = None) -> int:
    """The lowest aligned offset where ``g`` overlaps no live member of a placed group
    (``work``: a one-element counter, increased by the member pairs a search over all
    placed members examines; ``near``: which groups can meet ``g`` in time and which are
    placed, so that only those are looked at: the same offset, found with work in
    proportion to the groups live alongside ``g`` instead of all placed groups)."""
    others = placed if near is None else near.placed_near(g)
    pairs = [(a, h, b) for h in others for b in h.members for a in g.members
             if _live_together(a, b)]
    candidates = {0}
    for a, h, b in pairs:
        candidates.add(align_up(max(0, h.offset + b.rel + b.size - a.rel), alignment))
    if work is not None:
        members = near.placed_members if near is not None else \
            sum(len(h.members) for h in placed)
        work[0] += len(g.members) * members + 1
    for off in sorted(candidates):
        if work is not None:
            work[0] += len(pairs)
        if all(not _spatial(off + a.rel, a, h.offset + b.rel, b) for a, h, b in pairs):
            return off
    raise AssertionError("unreachable: the top of everything is always free")


class _Near:
    """For each group, the groups whose members can be live together with its own (their
    spans of steps meet: found by sorting, each pair once), and which groups are placed."""

    def __init__(self, groups: list[Group]) -> None:
        self.near: dict[int, list[Group]] = {id(g): [] for g in groups}
        broken = [g for g in groups if not _unbroken(g)]
        if broken:  # (not made by tie_groups: such a group may meet any other)
            for g in groups:
                self.near[id(g)] = [h for h in groups if h is not g]
        else:
            by_first = sorted(groups, key=lambda g: g.first)
            starts = [g.first for g in by_first]
            for k, x in enumerate(by_first):
                for y in by_first[k + 1:bisect.bisect_right(starts, x.last)]:
                    self.near[id(x)].append(y)
                    self.near[id(y)].append(x)
        self.placed: set[int] = set()
        self.placed_members = 0

    def placed_near(self, g: Group) -> list[Group]:
        return [h for h in self.near[id(g)] if id(h) in self.placed]

    def push(self, g: Group) -> None:
        self.placed.add(id(g))
        self.placed_members += len(g.members)

    def pop(self, g: Group) -> None:
        self.placed.discard(id(g))
        self.placed_members -= len(g.members)


def place(order: list[Group], alignment: int) -> int:
    near = _Near(order)
    for g in order:
        g.offset = _lowest_offset(g, [], alignment, near=near)
        near.push(g)
    return align_up(max((g.offset + g.size for g in order), default=0), alignment)


def greedy_by_size(groups: list[Group], alignment: int, budget_ms: int = 0) -> int:
    return place(sorted(groups, key=lambda g: (-g.size, g.first, g.last)), alignment)


def _degrees(groups: list[Group]) -> dict[int, int]:
    """For each group, how many other groups it conflicts with (has a member live together
    with). A group's members live over one unbroken span of steps (each tied member starts
    at the step its predecessor ends), so two groups conflict exactly when their spans
    meet: counted by bisection, not over all pairs."""
    firsts = sorted(g.first for g in groups)
    lasts = sorted(g.last for g in groups)
    degree = {}
    for g in groups:
        if not _unbroken(g):  # (not made by tie_groups: count its conflicts pair by pair)
            degree[id(g)] = sum(_conflicts(g, h) for h in groups if h is not g)
            continue
        ended_before = bisect.bisect_left(lasts, g.first)
        start_after = len(firsts) - bisect.bisect_right(firsts, g.last)
        degree[id(g)] = len(groups) - 1 - ended_before - start_after
    return degree


def _unbroken(g: Group) -> bool:
    """Whether the group's members cover every step from its first to its last."""
    end = None
    for m in sorted(g.members, key=lambda m: m.first):
        if end is not None and m.first > end + 1:
            return False
        end = m.last if end is None else max(end, m.last)
    return True


def greedy_by_conflicts(groups: list[Group], alignment: int, budget_ms: int = 0) -> int:
    degree = _degrees(groups)
    order = sorted(groups, key=lambda g: (-degree[id(g)], -g.size, g.first))
    return place(order, alignment)


# The exact search's budget is work, not time: ``budget-ms`` is converted into member pairs
# examined (WORK_PER_MS a millisecond: about a millisecond's worth on the machine it was
# measured on), so that a compile gives the same plan on every machine and under any load.
WORK_PER_MS = 4000


def exact(groups: list[Group], alignment: int, budget_ms: int = 1000) -> int:
    """Branch and bound over placement orders (each group at its lowest free offset),
    starting from the better greedy plan; stops at the budget (``budget_ms`` times
    WORK_PER_MS member pairs examined: deterministic) or the lower bound."""
    best_size = greedy_by_size(groups, alignment)
    best = {id(g): g.offset for g in groups}
    size = greedy_by_conflicts(groups, alignment)
    if size < best_size:
        best_size, best = size, {id(g): g.offset for g in groups}
    bound = align_up(lower_bound(groups), alignment)
    limit = budget_ms * WORK_PER_MS
    work = [0]
    order = sorted(groups, key=lambda g: (-g.size, g.first))
    placed: list[Group] = []
    near = _Near(groups)

    def search(remaining: list[Group], peak: int) -> bool:
        nonlocal best_size, best
        if work[0] >= limit or best_size <= bound:
            return False
        if not remaining:
            top = align_up(peak, alignment)
            if top < best_size:
                best_size, best = top, {id(g): g.offset for g in placed}
            return True
        for i, g in enumerate(remaining):
            if work[0] >= limit:
                break  # out of budget: no deeper call would look at anything
            g.offset = _lowest_offset(g, placed, alignment, work, near)
            top = max(peak, g.offset + g.size)
            if align_up(top, alignment) >= best_size:
                continue
            placed.append(g)
            near.push(g)
            search(remaining[:i] + remaining[i + 1:], top)
            near.pop(g)
            placed.pop()
        return True

    depth = sys.getrecursionlimit()
    sys.setrecursionlimit(max(depth, len(groups) + 1000))  # one frame per placed group
    try:
        search(order, 0)
    finally:
        sys.setrecursionlimit(depth)
    for g in groups:
        g.offset = best[id(g)]
    return best_size


ALGORITHMS = {"greedy-size": greedy_by_size, "greedy-conflicts": greedy_by_conflicts,
              "exact": exact}


@dataclass
class PlanMemory(Pass):
    name = "plan-memory"
    summary = "assign static arena offsets to every activation buffer"
    algo: str = "greedy-size"
    alignment: int = 16
    budget_ms: int = 2000
    overlap: bool = True

    def run(self, graph: Graph) -> PassResult:
        if self.algo not in ALGORITHMS:
            raise EdgeirError(f"unknown memory planning algorithm '{self.algo}'", "-p",
                              f"use one of {sorted(ALGORITHMS)}", "usage")
        if self.alignment < 1 or self.alignment & (self.alignment - 1):
            raise EdgeirError(f"alignment {self.alignment} is not a power of two", "-p", None,
                              "usage")
        bufs, of = buffers(graph)
        # Tied (overlapping) and untied plans: tying saves bytes per pair, but a chain of
        # same-size layers drifts down by each pair's offset; keep whichever is smaller.
        plans = []
        for tie in ([True, False] if self.overlap else [False]):
            if tie:
                groups = tie_groups(graph, bufs, of, self.alignment)
            else:
                groups = [Group([b]) for b in bufs]
                for b in bufs:
                    b.rel = 0
            size = ALGORITHMS[self.algo](groups, self.alignment, self.budget_ms)
            plans.append((size, lower_bound(groups), {id(b): g.offset + b.rel
                                                      for g in groups for b in g.members}))
        size, bound, placed = min(plans, key=lambda p: p[0])
        for b in bufs:
            b.offset = placed[id(b)]
        offset_of = {id(v): b.offset for b in bufs for v in b.values}
        for node in graph.nodes:
            node.attrs["offsets"] = tuple(offset_of.get(id(v), -1) for v in node.results)
            if node.attrs.get("scratch"):
                node.attrs["scratch_offsets"] = (of[id(node)].offset,)
        graph.attrs["arena_size"] = size
        graph.attrs["alignment"] = self.alignment
        graph.attrs["lower_bound"] = bound
        graph.attrs["input_offsets"] = tuple(offset_of[id(v)] for v in graph.inputs)
        graph.attrs["output_offsets"] = tuple(offset_of.get(id(v), -1) for v in graph.outputs)
        return PassResult(True, {"arena-bytes": size, "lower-bound": bound,
                                 "gap-bytes": size - bound, "buffers": len(bufs),
                                 "groups": len(groups),
                                 "sum-of-buffers": sum(b.size for b in bufs)})


def _check_plan_attrs(graph: Graph) -> None:
    """The plan's attributes have the types and ranges check_plan reads (a graph parsed
    from .ir text can hold anything there): a ValueError names the first that does not."""
    def ints(value: object, what: str) -> tuple[int, ...]:
        if not isinstance(value, (tuple, list)) or any(type(v) is not int for v in value):
            raise ValueError(f"{what} must be a list of integers, not {value!r}")
        return tuple(value)

    for key, least in (("arena_size", 0), ("alignment", 1)):
        value = graph.attrs.get(key, least)
        if type(value) is not int or value < least:
            raise ValueError(f"graph attribute {key} must be an integer of at least {least}, "
                             f"not {value!r}")
    ints(graph.attrs.get("input_offsets", ()), "graph attribute input_offsets")
    for node in graph.nodes:
        rule = ints(node.attrs.get("overlap", ()), f"{node.label}: overlap")
        if len(rule) % 3 or any(not 0 <= rule[k] < len(node.operands)
                                for k in range(0, len(rule), 3)):
            raise ValueError(f"{node.label}: overlap {list(rule)} is not triples (operand "
                             "index, delta, exact) of this node's operands")
        scratch = node.attrs.get("scratch")
        if scratch and ints(scratch, f"{node.label}: scratch")[0] < 0:
            raise ValueError(f"{node.label}: scratch {list(scratch)} is negative")


def check_plan(graph: Graph) -> None:
    """The plan's invariants: inside the arena, aligned, and no two live buffers overlap
    unless a node's overlap rule allows exactly that (result at most delta after the
    operand it reads)."""
    size = graph.attrs.get("arena_size")
    if size is None:
        return
    _check_plan_attrs(graph)
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
        if node.attrs.get("impl") == "fused":
            continue
        for value, off in zip(node.results, node.attrs["offsets"]):
            offset_of[id(value)] = off
    bufs, of = buffers(graph)
    allowed: dict[tuple[int, int], tuple[int, int]] = {}
    for position, node in enumerate(graph.nodes):
        rule = node.attrs.get("overlap", ())
        for k in range(0, len(rule), 3):
            src = of.get(id(node.operands[rule[k]]))
            if src is not None and src.last == position:
                allowed[(id(src), id(of[id(node.result)]))] = (rule[k + 1], rule[k + 2])
        if node.attrs.get("scratch"):
            offsets = node.attrs.get("scratch_offsets")
            if not offsets:
                raise ValueError(f"{node.label} needs scratch but has no scratch offset")
            offset_of[id(node)] = offsets[0]
    scratch_of = {id(b): key for key, b in of.items() if b.values == []}
    for b in bufs:
        if not b.values:  # a scratch buffer
            b.offset = offset_of[scratch_of[id(b)]]
            if b.offset < 0 or b.offset + b.size > size or b.offset % alignment:
                raise ValueError(f"a scratch buffer at offset {b.offset} ({b.size} bytes) is "
                                 f"outside the {size}-byte arena or not {alignment}-aligned")
            continue
        offs = {offset_of.get(id(v)) for v in b.values}
        if len(offs) != 1 or None in offs:
            raise ValueError(f"%{b.values[0].name} and its aliases disagree on their offset")
        b.offset = offs.pop()
        if b.offset < 0 or b.offset + b.size > size or b.offset % alignment:
            raise ValueError(f"%{b.values[0].name} at offset {b.offset} ({b.size} bytes) is "
                             f"outside the {size}-byte arena or not {alignment}-aligned")
    # the pairs live together: each pair once, the later-starting buffer found among those
    # starting while the earlier one lives (sorted by first step; work in proportion to
    # the pairs live together, not to all pairs)
    index = {id(b): i for i, b in enumerate(bufs)}
    by_first = sorted(bufs, key=lambda b: (b.first, index[id(b)]))
    starts = [b.first for b in by_first]
    live_pairs = []
    for k, x in enumerate(by_first):
        for y in by_first[k + 1:bisect.bisect_right(starts, x.last)]:
            live_pairs.append((x, y) if index[id(x)] < index[id(y)] else (y, x))
    live_pairs.sort(key=lambda p: (index[id(p[0])], index[id(p[1])]))
    for a, b in live_pairs:
        if not _spatial(a.offset, a, b.offset, b):
            continue
            for src, dst in ((a, b), (b, a)):
                rule = allowed.get((id(src), id(dst)))
                if rule is None:
                    continue
                delta, exact = rule
                d = dst.offset - src.offset
                if d == delta or (not exact and d <= delta):
                    break
            else:
                name = lambda x: f"%{x.values[0].name}" if x.values else "a scratch buffer"  # noqa: E731
                raise ValueError(f"{name(a)} and {name(b)} are live at the same time and "
                                 "overlap in the arena")
