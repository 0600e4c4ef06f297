"""The memory planner: exact offsets on small cases, hypothesis properties on random
graphs, and the overlap rules of the window kernels."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.ir import Graph, Node, TensorType
from compiler.pipeline import parse_pipeline, run_pipeline
from compiler.text import parse
from passes.plan_memory import Buffer, Group, buffers, check_plan, exact, greedy_by_size

CHAIN = """graph @chain(%x: tensor<1x64xf32>) {
  %a = relu(%x) : tensor<1x64xf32> loc("a")
  %b = sigmoid(%a) : tensor<1x64xf32> loc("b")
  %c = concat(%a, %b) {axis = 1} : tensor<1x128xf32> loc("c")
  return %c
}
"""


def plan(text: str, pipeline: str = "lower-c,plan-memory") -> Graph:
    g = parse(text)
    run_pipeline(g, parse_pipeline(pipeline))
    return g


def test_exact_offsets_small_chain():
    # x (256 B) dies at a: relu runs in place on it. a lives until c; b (256 B) beside it;
    # c (512 B) needs a and b live while it is written: 1024 B in all.
    g = plan(CHAIN)
    offsets = {n.loc: n.attrs["offsets"][0] for n in g.nodes}
    assert g.attrs["input_offsets"] == (offsets["a"],)  # in place
    assert offsets["b"] not in (offsets["a"],)
    assert g.attrs["arena_size"] == 1024 == g.attrs["lower_bound"]


def _iv(size, first, last):
    return Group([Buffer(size, first, last)])


def test_exact_search_reaches_the_optimum():
    # Two 48-byte buffers one after the other, two 32-byte ones across them: at steps 1
    # and 2 three buffers (48 + 32 + 32) are live, so 112 bytes is optimal.
    def groups():
        return [_iv(48, 0, 1), _iv(48, 2, 3), _iv(32, 0, 3), _iv(32, 1, 2)]

    g1 = groups()
    greedy = greedy_by_size(g1, 16)
    g2 = groups()
    best = exact(g2, 16, 1000)
    assert best <= greedy
    assert best == 112  # 32 + 32 + 48: at step 1 three buffers are live (48, 32, 32)


def test_kws_overlaps_its_convolutions_and_stays_exact():
    from pathlib import Path

    from compiler.frontends.tflite_import import load_tflite

    path = Path(__file__).resolve().parents[2] / "shared" / "models" / "kws_int8.tflite"
    g = load_tflite(path)
    run_pipeline(g, parse_pipeline("lower-c,plan-memory{algo=exact}"))
    check_plan(g)
    assert g.attrs["arena_size"] < 16000  # below the plain liveness bound
    assert g.attrs["lower_bound"] <= g.attrs["arena_size"]


@st.composite
def random_graphs(draw):
    """Chains and branches of elementwise and concat ops on random sizes."""
    g = Graph("r")
    n = draw(st.integers(1, 4))
    values = [g.add_input(TensorType("f32", (1, draw(st.integers(1, 40)))), f"in{i}")
              for i in range(n)]
    for k in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["relu", "sigmoid", "add", "concat"]))
        a = draw(st.sampled_from(values))
        if kind in ("relu", "sigmoid"):
            node = Node(kind, [a], [a.type], loc=f"n{k}")
        elif kind == "add":
            same = [v for v in values if v.type.shape == a.type.shape]
            node = Node("add", [a, draw(st.sampled_from(same))], [a.type], loc=f"n{k}")
        else:
            b = draw(st.sampled_from(values))
            shape = (1, a.type.shape[1] + b.type.shape[1])
            node = Node("concat", [a, b], [TensorType("f32", shape)], {"axis": 1},
                        loc=f"n{k}")
        g.append(node)
        values.append(node.result)
    for i, v in enumerate(draw(st.lists(st.sampled_from(values[n:] or values), min_size=1,
                                        max_size=3, unique_by=id))):
        g.add_output(v, f"out{i}")
    return g


@settings(max_examples=120, deadline=None)
@given(random_graphs(), st.sampled_from(["greedy-size", "greedy-conflicts", "exact"]),
       st.sampled_from([1, 4, 16]))
def test_planner_properties(graph, algo, alignment):
    from compiler.text import print_graph

    text = print_graph(graph)
    g = parse(text)
    run_pipeline(g, parse_pipeline(f"lower-c,plan-memory{{algo={algo},alignment={alignment},"
                                   "budget-ms=200}"))
    check_plan(g)  # in the arena, aligned, no overlap but the kernels' in-place rules
    bufs, _ = buffers(g)
    arena = g.attrs["arena_size"]
    assert g.attrs["lower_bound"] <= arena
    assert arena <= sum(-(-b.size // alignment) * alignment for b in bufs)
    assert arena % alignment == 0
    again = parse(text)
    run_pipeline(again, parse_pipeline(f"lower-c,plan-memory{{algo={algo},"
                                       f"alignment={alignment},budget-ms=200}}"))
    # deterministic, the exact search too: its budget counts search work, not time
    assert print_graph(again) == print_graph(g)
    greedy = parse(text)
    run_pipeline(greedy, parse_pipeline(f"lower-c,plan-memory{{alignment={alignment}}}"))
    if algo == "exact":
        assert arena <= greedy.attrs["arena_size"]
    feeds = {n: np.random.default_rng(0).standard_normal(v.type.shape).astype(np.float32)
             for n, v in zip(g.input_names, g.inputs)}
    from compiler import interp

    assert all(np.array_equal(a, b) for a, b in zip(interp.run(g, feeds).values(),
                                                       interp.run(parse(text), feeds).values()))


def _shared_graphs():
    from pathlib import Path

    from compiler.cli import load_model

    models = Path(__file__).resolve().parents[2] / "shared" / "models"
    for f in sorted(models.glob("*_int8.tflite")):
        yield f.name, load_model(str(f))


def test_exact_search_within_budget_and_never_worse_than_greedy():
    import time

    from compiler.text import print_graph

    for name, graph in _shared_graphs():
        run_pipeline(graph, parse_pipeline("lower-c"))
        text = print_graph(graph)
        sizes = {}
        for algo in ("greedy-size", "greedy-conflicts", "exact"):
            g = parse(text)
            start = time.perf_counter()
            run_pipeline(g, parse_pipeline(f"plan-memory{{algo={algo},budget-ms=300}}"))
            elapsed = time.perf_counter() - start
            check_plan(g)
            sizes[algo] = g.attrs["arena_size"]
            assert elapsed < 0.3 + 1.5, (name, algo, elapsed)
        assert sizes["exact"] <= min(sizes["greedy-size"], sizes["greedy-conflicts"]), name
