"""The schedule pass: exact peaks on small cases, hypothesis properties on random branching
graphs (a valid order, the same outputs, never a higher peak, exact <= greedy, optimal
against brute force), and the MLPerf Tiny int8 models within the budget."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import interp
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, TensorType
from compiler.pipeline import Instrumentation, parse_pipeline, run_pipeline
from compiler.text import parse, print_graph
from compiler.verify import verify
from passes import PASSES
from passes.schedule import Schedule, build, peak_bytes

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def schedule(graph: Graph, options: str = "") -> dict[str, int]:
    """Run the pass through the pipeline (verifier on); its statistics."""
    inst = Instrumentation()
    run_pipeline(graph, parse_pipeline(f"schedule{{{options}}}" if options else "schedule"),
                 inst)
    verify(graph)
    return inst.stats[-1][1]


def order(graph: Graph) -> list[str]:
    return [n.loc for n in graph.nodes]


def feeds_for(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, v in zip(graph.input_names, graph.inputs):
        if np.issubdtype(v.type.np_dtype, np.integer):
            feeds[name] = rng.integers(-128, 128, v.type.shape).astype(v.type.np_dtype)
        else:
            feeds[name] = rng.standard_normal(v.type.shape).astype(v.type.np_dtype)
    return feeds


def same_outputs(a: Graph, b: Graph) -> bool:
    feeds = feeds_for(a)
    out_a, out_b = interp.run(a, feeds), interp.run(b, feeds)
    return list(out_a) == list(out_b) and all(
        x.dtype == out_b[k].dtype and np.array_equal(x, out_b[k], equal_nan=x.dtype.kind == "f")
        for k, x in out_a.items())


def topological_orders(graph: Graph):
    """Every topological order of the graph's nodes (small graphs only)."""
    p = build(graph)

    def rec(done: int, prefix: list[int]):
        if done == p.full:
            yield list(prefix)
            return
        for i in range(p.n):
            if not done >> i & 1 and not p.preds[i] & ~done:
                prefix.append(i)
                yield from rec(done | 1 << i, prefix)
                prefix.pop()

    return p, rec(0, [])


# -- hand-made cases --------------------------------------------------------------------------

# Greedy's trap: after n0, running n1 (456 bytes) looks cheaper than n2 (608), but then n2
# runs with n1 alive: 760. Running n2 right after n0 frees n0 first: 608.
TRAP = """graph @trap(%x: tensor<1x38xf32>) {
  %n0 = add(%x, %x) : tensor<1x38xf32> loc("n0")
  %n1 = add(%x, %x) : tensor<1x38xf32> loc("n1")
  %n2 = concat(%x, %n0) {axis = 1} : tensor<1x76xf32> loc("n2")
  return %n1 as "out0", %n2 as "out1"
}
"""

# Two branches of %x (64 B): each makes 512 B and keeps a 64-byte slice; the reshapes share
# their input's bytes. As written both 512-byte tensors are alive together.
BRANCHES = (Path(__file__).resolve().parent / "passes" / "schedule.ir").read_text()


def test_exact_peak_beats_greedy_on_the_trap():
    # x = n0 = n1 = 152 B, n2 = 304 B. Original (= greedy) n0, n1, n2: x + n0 + n1 + n2.
    g = parse(TRAP)
    assert peak_bytes(g) == 152 * 5
    greedy = parse(TRAP)
    stats = schedule(greedy, "algo=greedy")
    assert stats["peak-before"] == stats["peak-after"] == 760
    assert order(greedy) == ["n0", "n1", "n2"]
    exact = parse(TRAP)
    stats = schedule(exact)
    # n0: x + n0 = 304; n2: x + n0 + n2 = 608 (n0 dies); n1: x + n2 + n1 = 608.
    assert stats == {"peak-before": 760, "peak-after": 608,
                     "orders-explored": stats["orders-explored"]}
    assert stats["orders-explored"] >= 4  # original, two greedy orders, the better one
    assert order(exact) == ["n0", "n2", "n1"]
    assert peak_bytes(exact) == 608
    assert same_outputs(parse(TRAP), exact)


@pytest.mark.parametrize("algo", ["greedy", "exact"])
def test_branches_finish_one_branch_first(algo):
    g = parse(BRANCHES)
    stats = schedule(g, f"algo={algo}")
    # Before: x + a + b = 64 + 512 + 512. After: x + a_slice + b = 64 + 64 + 512.
    assert (stats["peak-before"], stats["peak-after"]) == (1088, 640)
    assert order(g) == ["a", "a_rows", "a_slice", "a_flat", "b", "b_slice", "sum"]
    assert same_outputs(parse(BRANCHES), g)


def test_aliases_count_once_and_keep_their_input_alive():
    # %r aliases %x: x (256 B) lives until %s reads %r, so a + s + x at the concat.
    text = """graph @alias(%x: tensor<1x64xf32>) {
  %r = reshape(%x) {shape = [64]} : tensor<64xf32> loc("r")
  %a = relu(%x) : tensor<1x64xf32> loc("a")
  %i = identity(%a) : tensor<1x64xf32> loc("i")
  %s = sigmoid(%r) : tensor<64xf32> loc("s")
  %c = concat(%i, %i) {axis = 1} : tensor<1x128xf32> loc("c")
  return %c, %s
}
"""
    g = parse(text)
    # In order: r 256 (x), a 512, i 512, s 768 (x + a + s), c: a + s + c = 1024. Every
    # order has 1024: c runs with a and either s (an output) or x (s still to read it).
    assert peak_bytes(g) == 1024
    stats = schedule(g)
    assert stats["peak-after"] == 1024 == stats["peak-before"]
    assert order(g) == ["r", "a", "i", "s", "c"]  # a tie: the original order stays


def test_chain_is_left_alone_and_the_peak_matches_plan_memory():
    g = parse(BRANCHES)
    run_pipeline(g, parse_pipeline("lower-c"))
    before = peak_bytes(g)
    run_pipeline(g, parse_pipeline("plan-memory{overlap=false}"))
    assert g.attrs["lower_bound"] == before == 1088  # the same liveness as plan-memory


def test_usage_errors_and_registration():
    assert PASSES["schedule"] is Schedule
    assert Schedule(algo="greedy", budget_ms=5).spec() == "schedule{budget-ms=5,algo=greedy}"
    with pytest.raises(EdgeirError, match="unknown scheduling algorithm"):
        parse_pipeline("schedule{algo=random}")[0].run(parse(TRAP))
    planned = parse(TRAP)
    run_pipeline(planned, parse_pipeline("lower-c,plan-memory"))
    with pytest.raises(EdgeirError, match="already has a memory plan"):
        Schedule().run(planned)


# -- random graphs ----------------------------------------------------------------------------


@st.composite
def random_graphs(draw, max_nodes: int = 12):
    """Branching graphs of elementwise ops, concat, slice and reshape on small random
    shapes, in a random topological order."""
    g = Graph("r")
    n_inputs = draw(st.integers(1, 3))
    values = [g.add_input(TensorType("f32", (1, draw(st.integers(1, 40)))), f"in{i}")
              for i in range(n_inputs)]
    nodes = []
    for k in range(draw(st.integers(1, max_nodes))):
        kind = draw(st.sampled_from(["relu", "sigmoid", "add", "concat", "slice", "reshape"]))
        a = draw(st.sampled_from(values))
        width = a.type.numel
        if kind in ("relu", "sigmoid"):
            node = Node(kind, [a], [a.type], loc=f"n{k}")
        elif kind == "add":
            same = [v for v in values if v.type.shape == a.type.shape]
            node = Node("add", [a, draw(st.sampled_from(same))], [a.type], loc=f"n{k}")
        elif kind == "slice":
            a = draw(st.sampled_from([v for v in values if v.type.rank == 2]))
            m = draw(st.integers(1, a.type.shape[1]))
            node = Node("slice", [a], [TensorType("f32", (1, m))],
                        {"axes": [1], "starts": [0], "ends": [m], "steps": [1]}, loc=f"n{k}")
        elif kind == "reshape":
            shape = (width,) if a.type.rank == 2 else (1, width)
            node = Node("reshape", [a], [TensorType("f32", shape)], {"shape": list(shape)},
                        loc=f"n{k}")
        else:
            a = draw(st.sampled_from([v for v in values if v.type.rank == 2]))
            b = draw(st.sampled_from([v for v in values if v.type.rank == 2]))
            node = Node("concat", [a, b], [TensorType("f32", (1, a.type.numel + b.type.numel))],
                        {"axis": 1}, loc=f"n{k}")
        nodes.append(node)
        values.append(node.result)
    # A random topological order: the generation order is one; draw among the ready nodes.
    index = {id(n): i for i, n in enumerate(nodes)}
    deps = [{index[id(v.producer)] for v in n.operands if v.producer is not None}
            for n in nodes]
    done: set[int] = set()
    while len(done) < len(nodes):
        ready = [i for i in range(len(nodes)) if i not in done and deps[i] <= done]
        i = draw(st.sampled_from(ready))
        done.add(i)
        g.append(nodes[i])
    unread = [v for v in values[n_inputs:] if not v.uses]
    extra = draw(st.lists(st.sampled_from(values[n_inputs:]), max_size=2, unique_by=id))
    for i, v in enumerate(unread + [v for v in extra if v.uses]):
        g.add_output(v, f"out{i}")
    return g


@settings(max_examples=150, deadline=None)
@given(random_graphs())
def test_properties_on_random_graphs(graph):
    text = print_graph(graph)
    peaks = {}
    for algo in ("greedy", "exact"):
        g = parse(text)
        stats = schedule(g, f"algo={algo},budget-ms=10000")
        # A permutation of the same nodes, in a valid order, computing the same outputs.
        assert sorted(order(g)) == sorted(order(parse(text)))
        assert same_outputs(parse(text), g)
        assert stats["peak-before"] == peak_bytes(parse(text))
        assert stats["peak-after"] == peak_bytes(g) <= stats["peak-before"]
        assert stats["peak-after"] >= build(g).lower_bound()
        if stats["peak-after"] == stats["peak-before"]:
            assert print_graph(g) == text  # no gain: the original order stays
        again = parse(text)
        schedule(again, f"algo={algo},budget-ms=10000")
        assert print_graph(again) == print_graph(g)  # deterministic
        peaks[algo] = stats["peak-after"]
    assert peaks["exact"] <= peaks["greedy"]


@settings(max_examples=100, deadline=None)
@given(random_graphs(max_nodes=7))
def test_exact_is_optimal_on_small_graphs(graph):
    text = print_graph(graph)
    p, orders = topological_orders(parse(text))
    best = min(p.peak(o) for o in orders)
    g = parse(text)
    assert schedule(g, "budget-ms=10000")["peak-after"] == best == peak_bytes(g)


@settings(max_examples=40, deadline=None)
@given(random_graphs())
def test_peak_is_the_liveness_bound_of_plan_memory(graph):
    g = parse(print_graph(graph))
    schedule(g)
    run_pipeline(g, parse_pipeline("lower-c"))
    peak = peak_bytes(g)
    run_pipeline(g, parse_pipeline("plan-memory{overlap=false}"))
    assert g.attrs["lower_bound"] == peak


def wide_graph(n: int, seed: int) -> Graph:
    """A large random branching graph (relu, add, concat, slice of any earlier value)."""
    rng = random.Random(seed)
    g = Graph("wide")
    values = [g.add_input(TensorType("f32", (1, rng.randint(1, 40))), f"in{i}")
              for i in range(3)]
    for k in range(n):
        kind, a = rng.choice(["relu", "add", "concat", "slice"]), rng.choice(values)
        if kind == "relu":
            node = Node("relu", [a], [a.type], loc=f"n{k}")
        elif kind == "add":
            b = rng.choice([v for v in values if v.type == a.type])
            node = Node("add", [a, b], [a.type], loc=f"n{k}")
        elif kind == "slice":
            m = rng.randint(1, a.type.shape[1])
            node = Node("slice", [a], [TensorType("f32", (1, m))],
                        {"axes": [1], "starts": [0], "ends": [m], "steps": [1]}, loc=f"n{k}")
        else:
            b = rng.choice(values)
            node = Node("concat", [a, b], [TensorType("f32", (1, a.type.numel + b.type.numel))],
                        {"axis": 1}, loc=f"n{k}")
        g.append(node)
        values.append(node.result)
    for i, v in enumerate(v for v in values[3:] if not v.uses):
        g.add_output(v, f"out{i}")
    return g


@pytest.mark.parametrize("seed", range(3))
def test_exact_stops_at_the_budget_with_the_best_found(seed):
    text = print_graph(wide_graph(80, seed))
    greedy = parse(text)
    schedule(greedy, "algo=greedy")
    g = parse(text)
    start = time.perf_counter()
    stats = schedule(g, "budget-ms=200")
    assert time.perf_counter() - start < 0.2 + 1.0
    assert stats["peak-after"] == peak_bytes(g) <= peak_bytes(greedy) <= stats["peak-before"]
    assert same_outputs(parse(text), g)


# -- the MLPerf Tiny models -------------------------------------------------------------------


def load(model: str) -> Graph:
    from compiler.frontends.tflite_import import load_tflite

    return load_tflite(MODELS / f"{model}_int8.tflite")


def shuffled(graph: Graph, seed: int) -> Graph:
    """The same graph in a random topological order."""
    rng = random.Random(seed)
    p = build(graph)
    nodes = list(graph.nodes)
    done, new = 0, []
    while done != p.full:
        ready = [i for i in range(p.n) if not done >> i & 1 and not p.preds[i] & ~done]
        i = rng.choice(ready)
        done |= 1 << i
        new.append(nodes[i])
    graph.nodes[:] = new
    verify(graph)
    return graph


@pytest.mark.parametrize("model", ["kws", "vww", "resnet8", "ad"])
@pytest.mark.parametrize("algo", ["greedy", "exact"])
def test_mlperf_models(model, algo):
    budget_ms = 500
    g = load(model)
    optimum = build(g).lower_bound()
    start = time.perf_counter()
    stats = schedule(g, f"algo={algo},budget-ms={budget_ms}")
    assert time.perf_counter() - start < budget_ms / 1000 + 1.0
    assert stats["peak-after"] <= stats["peak-before"]
    assert stats["peak-after"] == peak_bytes(g) == optimum  # the lower bound: optimal
    # From a scrambled order (the shortcuts of ResNet-8 anywhere they may go), the pass
    # gets back to the optimum.
    for seed in range(3):
        s = shuffled(load(model), seed)
        start = time.perf_counter()
        stats = schedule(s, f"algo={algo},budget-ms={budget_ms}")
        assert time.perf_counter() - start < budget_ms / 1000 + 1.0
        assert stats["peak-after"] <= stats["peak-before"]
        assert stats["peak-after"] == peak_bytes(s)
        if algo == "exact":
            assert stats["peak-after"] == optimum


@pytest.mark.parametrize("model", ["resnet8", "kws"])
def test_mlperf_outputs_unchanged(model):
    g = shuffled(load(model), 1)
    text = print_graph(g)
    schedule(g)
    assert same_outputs(parse(text), g)
