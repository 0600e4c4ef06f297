"""schedule: reorder the nodes to lower the peak of live activation bytes.

Matches any graph; it matters for graphs with branches (a ResNet's residual blocks, an
Inception's towers): which branch runs first decides which tensors are alive together.
A chain has a single order and is left as it is.

The peak of an order is the largest, over its steps, of the bytes alive at that step. A
buffer is alive from the step of the node that writes it to the step of its last reader
(graph inputs from the start, graph outputs to the end). Constants (and their aliases)
do not count; the results of ``reshape``/``identity``/``dropout`` (and of any node lower-c
made an ``alias``) share their input's buffer, which then lives until the last reader of
any of them. A node's scratch buffer (after lower-c) is alive at its own step. This is the
liveness of plan-memory without overlap, so the peak is that pass's lower bound when it
runs with ``overlap=false``.

Rewrites: only the order of ``graph.nodes``, to a topological order of lowest peak found:
  * ``greedy``: list scheduling; at each step, among the ready nodes, the one that raises
    the peak least (then grows the live set least, i.e. frees the most; then the earliest
    in the original order), or by the growth first: the better of those two orders.
  * ``exact``: branch and bound over ready sets from the better of the original and the
    greedy order. The live bytes after a set of scheduled nodes depend only on that set,
    so a set reached again with a peak no lower than before is not searched again; a
    branch stops when its peak reaches the best; a ready node that frees at least what it
    allocates without raising the peak is scheduled at once (some best order does so);
    the search ends when the best reaches the lower bound (the largest step any order
    must have: a node with its operands and results) or after ``budget-ms``, keeping the
    best found (the budget counts search work, not wall-clock time: the same order on
    every machine).
The result is never worse than the original order; the original order is kept on a tie.
Statistics: ``peak-before`` and ``peak-after`` (bytes), ``orders-explored`` (complete orders
evaluated: the original, the greedy ones and those the exact search reached).
Preserves: every node, value, attribute and result bit for bit; the new order is a
permutation of the nodes that respects every dependency.
Run it after the passes that change the graph (canonicalize, fusions, quantization,
layout, lower-c) and before plan-memory: it refuses a graph that already has a plan.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, Value
from compiler.passbase import Pass, PassResult

ALIAS_OPS = frozenset({"reshape", "identity", "dropout"})
ALGORITHMS = ("exact", "greedy")


def is_alias(node: Node) -> bool:
    """Whether the node's result shares its input's bytes (no buffer of its own)."""
    return len(node.results) == 1 and len(node.operands) >= 1 and \
        (node.op in ALIAS_OPS or node.attrs.get("impl") == "alias")


@dataclass
class Problem:
    """The graph as bitmasks over node indices (the original order).

    ``preds[i]``: the nodes node i reads from. A buffer ``b`` has ``size[b]`` bytes and is
    read by the nodes in ``readers[b]``; ``pinned[b]`` keeps it to the end (an output).
    ``reads[i]``: the distinct buffers node i reads; ``writes[i]``: the bytes of its own
    buffers and scratch (alive at its step); ``keeps[i]``: those of them that outlive it.
    """

    n: int
    preds: list[int]
    succs: list[list[int]]
    size: list[int]
    readers: list[int]
    pinned: list[bool]
    reads: list[list[int]]
    writes: list[int]
    keeps: list[int]
    start: int            # bytes alive before the first node (the inputs)
    live: int             # bytes alive when the first node starts (the inputs it may read)
    end: int              # bytes alive after the last node (the outputs)
    full: int = field(init=False)

    def __post_init__(self) -> None:
        self.full = (1 << self.n) - 1

    def step(self, done: int, live: int, i: int) -> tuple[int, int]:
        """Bytes alive while node ``i`` runs after the nodes in ``done``, and after it."""
        after = done | (1 << i)
        freed = sum(self.size[b] for b in self.reads[i]
                    if not self.pinned[b] and not self.readers[b] & ~after)
        return live + self.writes[i], live + self.keeps[i] - freed

    def peak(self, order: list[int]) -> int:
        done, live, peak = 0, self.live, max(self.start, self.end)
        for i in order:
            at, live = self.step(done, live, i)
            peak = max(peak, at)
            done |= 1 << i
        return peak

    def lower_bound(self) -> int:
        """A peak every order has: each node runs with its operands and results alive."""
        best = max(self.start, self.end)
        for i in range(self.n):
            best = max(best, self.writes[i] + sum(self.size[b] for b in self.reads[i]))
        return best


def build(graph: Graph) -> Problem:
    nodes = graph.nodes
    index = {id(node): i for i, node in enumerate(nodes)}
    buffer_of: dict[int, int] = {}   # id(value) -> buffer
    size: list[int] = []
    readers: list[int] = []
    pinned: list[bool] = []

    def new_buffer(value: Value) -> int:
        buffer_of[id(value)] = len(size)
        size.append(value.type.nbytes)
        readers.append(0)
        pinned.append(False)
        return len(size) - 1

    start_buffers = [new_buffer(v) for v in graph.inputs if id(v) not in buffer_of]
    preds = [0] * len(nodes)
    succs: list[list[int]] = [[] for _ in nodes]
    reads: list[list[int]] = []
    owned: list[list[int]] = []
    scratch: list[int] = []
    for i, node in enumerate(nodes):
        buffers: list[int] = []
        for value in node.operands:
            producer = value.producer
            if producer is not None and id(producer) in index:
                j = index[id(producer)]
                if not preds[i] >> j & 1:
                    preds[i] |= 1 << j
                    succs[j].append(i)
            b = buffer_of.get(id(value))
            if b is not None:
                readers[b] |= 1 << i
                if b not in buffers:
                    buffers.append(b)
        reads.append(buffers)
        if is_alias(node):
            source = buffer_of.get(id(node.operands[0]))
            if source is not None:  # else an alias of a constant: no bytes
                buffer_of[id(node.result)] = source
            owned.append([])
        else:
            owned.append([new_buffer(v) for v in node.results])
        extra = node.attrs.get("scratch")
        scratch.append(int(extra[0]) if extra else 0)
    for value in graph.outputs:
        b = buffer_of.get(id(value))
        if b is not None:
            pinned[b] = True
    writes = [sum(size[b] for b in own) + s for own, s in zip(owned, scratch)]
    keeps = [sum(size[b] for b in own if readers[b] or pinned[b]) for own in owned]
    return Problem(len(nodes), preds, succs, size, readers, pinned, reads, writes, keeps,
                   start=sum(size[b] for b in start_buffers),
                   live=sum(size[b] for b in start_buffers if readers[b] or pinned[b]),
                   end=sum(size[b] for b in range(len(size)) if pinned[b]))


def greedy(p: Problem, by_growth: bool = False) -> list[int]:
    """List scheduling: the ready node raising the peak least, then growing the live set
    least, then the earliest (``by_growth``: growth first)."""
    waiting = [bin(m).count("1") for m in p.preds]
    ready = [i for i in range(p.n) if not waiting[i]]
    done, live, peak, order = 0, p.live, max(p.start, p.end), []
    while ready:
        keys = []
        for i in ready:
            at, after = p.step(done, live, i)
            raised = max(at, peak)
            keys.append((after - live, raised, i) if by_growth else (raised, after - live, i))
        i = min(keys)[2]
        ready.remove(i)
        at, live = p.step(done, live, i)
        peak = max(peak, at)
        done |= 1 << i
        order.append(i)
        for j in p.succs[i]:
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
    return order


class _Deadline(Exception):
    pass


# The exact search's budget is work, not time: ``budget-ms`` is converted into candidate
# moves examined (WORK_PER_MS a millisecond: about a millisecond's worth on the machine it
# was measured on), so that a compile gives the same order on every machine and under any
# load.
WORK_PER_MS = 500


def exact(p: Problem, best_order: list[int], best_peak: int, budget_ms: int
          ) -> tuple[list[int], int, int, bool]:
    """Branch and bound over ready sets from a known order; returns the best order, its
    peak, the complete orders reached and whether the search finished."""
    bound = p.lower_bound()
    if best_peak <= bound:
        return best_order, best_peak, 0, True
    work_limit = budget_ms * WORK_PER_MS
    seen: dict[int, int] = {}   # scheduled set -> lowest peak it was searched with
    order: list[int] = []
    reached = 0
    ticks = 0

    def search(done: int, ready: tuple[int, ...], live: int, peak: int) -> None:
        nonlocal best_order, best_peak, reached, ticks
        if not ready:
            reached += 1
            if peak < best_peak:
                best_peak, best_order = peak, list(order)
            return
        seen[done] = peak
        ticks += len(ready)
        if ticks >= work_limit:
            raise _Deadline
        moves = []
        for i in ready:
            at, after = p.step(done, live, i)
            if after <= live and at <= max(peak, bound):
                moves = [(at, after - live, i, after)]  # some best order takes it now
                break
            moves.append((at, after - live, i, after))
        moves.sort()
        for at, _, i, after in moves:
            top = max(peak, at)
            now = done | 1 << i
            if top >= best_peak or seen.get(now, best_peak) <= top:
                continue  # no better than the best, or than this set reached before
            unlocked = tuple(j for j in p.succs[i] if not p.preds[j] & ~now)
            order.append(i)
            search(now, tuple(j for j in ready if j != i) + unlocked, after, top)
            order.pop()
            if best_peak <= bound:
                return

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, p.n + 1000))
    finished = True
    try:
        roots = tuple(i for i in range(p.n) if not p.preds[i])
        search(0, roots, p.live, max(p.start, p.end))
    except _Deadline:
        finished = False
    finally:
        sys.setrecursionlimit(limit)
    return best_order, best_peak, reached, finished


def peak_bytes(graph: Graph) -> int:
    """The peak of live activation bytes of the graph's current order."""
    p = build(graph)
    return p.peak(list(range(p.n)))


@dataclass
class Schedule(Pass):
    name = "schedule"
    summary = "reorder the nodes for the lowest peak of live activation bytes"
    budget_ms: int = 1000
    algo: str = "exact"

    def run(self, graph: Graph) -> PassResult:
        if self.algo not in ALGORITHMS:
            raise EdgeirError(f"unknown scheduling algorithm '{self.algo}'", "-p",
                              f"use one of {list(ALGORITHMS)}", "usage")
        if self.budget_ms < 0:
            raise EdgeirError(f"budget-ms must not be negative, got {self.budget_ms}", "-p",
                              None, "usage")
        if "arena_size" in graph.attrs:
            raise EdgeirError("the graph already has a memory plan", "-p",
                              "run schedule before plan-memory", "usage")
        p = build(graph)
        original = list(range(p.n))
        before = p.peak(original)
        best_order, best_peak, explored = original, before, 1
        for by_growth in (False, True):
            order = greedy(p, by_growth)
            explored += 1
            peak = p.peak(order)
            if peak < best_peak:
                best_order, best_peak = order, peak
        if self.algo == "exact":
            best_order, best_peak, reached, _ = exact(p, best_order, best_peak,
                                                      self.budget_ms)
            explored += reached
        if best_peak >= before:  # never worse; on a tie keep the order the user wrote
            best_order, best_peak = original, before
        assert sorted(best_order) == original
        changed = best_order != original
        if changed:
            nodes = list(graph.nodes)
            graph.nodes[:] = [nodes[i] for i in best_order]
        return PassResult(changed, {"peak-before": before, "peak-after": best_peak,
                                    "orders-explored": explored})
