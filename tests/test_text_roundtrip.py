"""Property tests of the textual IR on random valid graphs.

A hypothesis strategy builds graphs from the op registry (result types always come from the
op's own inference), with awkward names, locations, constants (every dtype, quantized,
NaN/inf/-0.0, NaNs with sign and payload) and attributes. For each graph:

(a) print -> parse -> print gives the same text;
(b) the verifier accepts the original and the parsed graph;
(c) the interpreter gives bit-identical outputs on both (up to NaN payloads);
(d) constants keep their exact bytes, and every value its type;
and the .ir + .bin sidecar form parses back to the same graph.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import ops
from compiler.interp import run
from compiler.ir import DTYPES, FLOAT_DTYPES, Graph, Node, PerAxis, PerTensor, TensorType, Value
from compiler.ir import constant as make_constant
from compiler.text import parse, parse_file, print_graph, print_graph_with_sidecar
from compiler.verify import verify

# EDGEIR_HYPOTHESIS_EXAMPLES=5000 for a deeper search than the default run.
SETTINGS = settings(
    max_examples=int(os.environ.get("EDGEIR_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- names, locations, numbers ----------------------------------------------------------

# Hints that need sanitizing or uniquing, collide with generated names, or are empty.
AWKWARD_NAMES = ["", "x", "x", "x_1", "conv/w", "input:0", "a b", "0", "1", "-", ".", "$",
                 "%y", "é", "inf", "nan", "true", "const", "return", "tensor"]
NAMES = st.one_of(st.sampled_from(AWKWARD_NAMES), st.text(max_size=6))
LOCS = st.one_of(
    st.just(""),
    st.sampled_from(['say "hi"', "back\\slash", '\\"', "new\nline", "tab\t", "/m/conv:0",
                     "\x00\x7f\u2028", "\U0001f600"]),
    st.text(max_size=10),
)
PORTS = st.one_of(st.sampled_from(["x", "input:0", "", "out", "0", "x_1", "a b", '"']),
                  st.text(max_size=6))
ATTR_FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-5, 1e30, -3.25, math.inf, -math.inf,
                     math.nan]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
QUANT_SCALES = st.floats(min_value=1e-30, max_value=1e30, allow_nan=False, allow_infinity=False)

# Float bit patterns that are easy to lose in text: signed zero, infinities, subnormals,
# extremes, and NaNs with sign bits and payloads (quiet and signalling).
SPECIAL_BITS = {
    "f16": (np.uint16, [0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x7BFF, 0x7E00, 0xFE00,
                        0x7E01, 0x7C01]),
    "f32": (np.uint32, [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x7F7FFFFF,
                        0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0xFFBFFFFF]),
    "f64": (np.uint64, [0x0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000, 0x1,
                        0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000000000001]),
}
CONST_DTYPES = ["f32", "f16", "f64", "i8", "ui8", "i16", "i32", "i64", "i1"]
ARITH_DTYPES = {"f16", "f32", "f64", "i8", "ui8", "i16", "i32", "i64"}


def random_array(rng: np.random.Generator, dtype: str, shape: tuple[int, ...],
                 specials: bool = True) -> np.ndarray:
    """Random data of ``dtype``; floats mix in the special bit patterns above."""
    n = math.prod(shape)
    np_dtype = DTYPES[dtype]
    if dtype in FLOAT_DTYPES:
        scale = 10.0 ** rng.integers(-3, 4)
        flat = (rng.standard_normal(n) * scale).astype(np_dtype)
        if specials and n and rng.random() < 0.5:
            uint, bits = SPECIAL_BITS[dtype]
            picks = np.array(bits, dtype=uint)[rng.integers(0, len(bits), n)].view(np_dtype)
            mask = rng.random(n) < 0.3
            flat[mask] = picks[mask]
    elif dtype == "i1":
        flat = rng.integers(0, 2, n).astype(np.bool_)
    else:
        info = np.iinfo(np_dtype)
        flat = rng.integers(info.min, info.max, n, dtype=np_dtype, endpoint=True)
    return flat.reshape(shape)


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


# -- the graph builder ------------------------------------------------------------------


class Builder:
    """Grows a valid graph: every node's result types come from its op's inference."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.graph = Graph(name=draw(st.one_of(st.just("main"), NAMES)))
        self.live: list[Value] = []  # non-empty values new nodes may read
        self.all: list[Value] = []  # every value (possible graph outputs)

    def _add(self, value: Value) -> Value:
        self.all.append(value)
        if value.type.numel > 0:
            self.live.append(value)
        return value

    def pick(self, pred) -> Value | None:
        candidates = [v for v in self.live if pred(v)]
        return self.draw(st.sampled_from(candidates)) if candidates else None

    def array(self, dtype: str, shape, specials: bool = True) -> np.ndarray:
        return random_array(self.rng, dtype, tuple(shape), specials)

    def const(self, dtype: str, shape, quant=None, specials: bool = True) -> Value:
        value = make_constant(self.array(dtype, shape, specials), self.draw(NAMES), quant)
        self.graph.adopt_constant(value)
        return self._add(value)

    def input(self) -> None:
        rank = self.draw(st.sampled_from([4, 4, 4, 2, 3, 1, 0]))
        shape = [self.draw(st.integers(1, 2))] if rank == 4 else []
        shape += [self.draw(st.integers(1, 5)) for _ in range(rank - len(shape))]
        self._add(self.graph.add_input(TensorType("f32", shape), ""))

    def free_constant(self) -> None:
        """A constant of any dtype and shape (empty ones too), maybe quantized."""
        dtype = self.draw(st.sampled_from(CONST_DTYPES))
        rank = self.draw(st.integers(0, 3))
        shape = [self.draw(st.integers(0, 6)) for _ in range(rank)]
        quant = None
        if dtype in ("i8", "ui8", "i32") and self.draw(st.booleans()):
            axes = [i for i, d in enumerate(shape) if d > 0]
            lo, hi = (-128, 127) if dtype != "ui8" else (0, 255)  # zero points fit the dtype
            if axes and self.draw(st.booleans()):
                axis = self.draw(st.sampled_from(axes))
                scales = tuple(self.draw(QUANT_SCALES) for _ in range(shape[axis]))
                if self.draw(st.booleans()):
                    zps = (self.draw(st.integers(lo, hi)),) * shape[axis]
                else:
                    zps = tuple(self.draw(st.integers(lo, hi)) for _ in range(shape[axis]))
                quant = PerAxis(axis, scales, zps)
            else:
                quant = PerTensor(self.draw(QUANT_SCALES), self.draw(st.integers(lo, hi)))
        self.const(dtype, shape, quant)

    def node(self, op: str, operands: list[Value], attrs: dict) -> list[Value] | None:
        """Append ``op`` if its inference accepts the operands (else None)."""
        opdef = ops.get(op)
        try:
            types = opdef.infer(opdef.attrs_of(Node(op, [], [], attrs)),
                                [v.type for v in operands])
        except ValueError:  # InferError and bad attributes
            return None
        loc = self.draw(LOCS)
        names = self.draw(st.one_of(st.none(), st.lists(NAMES, min_size=len(types),
                                                        max_size=len(types))))
        node = self.graph.append(Node(op, operands, types, attrs, loc, names))
        for value in node.results:
            self._add(value)
        return node.results

    def ints(self, values) -> list:
        """Attribute ints as a list or a tuple, python or numpy ints."""
        values = [np.int64(v) if self.draw(st.booleans()) else int(v) for v in values]
        return values if self.draw(st.booleans()) else tuple(values)

    def maybe(self, attrs: dict, key: str, strategy, default=None) -> None:
        """Set ``key`` from ``strategy``, sometimes explicitly to its default."""
        choice = self.draw(st.integers(0, 3))
        if choice == 1 and default is not None:
            attrs[key] = default
        elif choice >= 2:
            attrs[key] = self.draw(strategy)

    def clamp(self, attrs: dict, dtype: str) -> None:
        if dtype in FLOAT_DTYPES and self.draw(st.integers(0, 3)) == 0:
            lo, hi = sorted([self.draw(ATTR_FLOATS.filter(lambda f: not math.isnan(f)))
                             for _ in range(2)])
            attrs["clamp"] = [lo, hi]

    def operand_like(self, dtype: str, shape: list[int]) -> Value:
        """An existing value of this dtype and shape, or a new constant."""
        same = [v for v in self.live if v.type.dtype == dtype and list(v.type.shape) == shape]
        if same and self.draw(st.booleans()):
            return self.draw(st.sampled_from(same))
        return self.const(dtype, shape)


def is_float(v: Value) -> bool:
    return v.type.dtype in FLOAT_DTYPES


def rank4_float(v: Value) -> bool:
    return v.type.dtype in ("f32", "f16") and v.type.rank == 4


# -- one builder per op family ----------------------------------------------------------


def build_binary(b: Builder) -> None:
    a = b.pick(lambda v: v.type.dtype in ARITH_DTYPES)
    if a is None:
        return
    shape = list(a.type.shape)
    shape = shape[b.draw(st.integers(0, len(shape))):]  # drop leading dims
    shape = [1 if b.draw(st.integers(0, 2)) == 0 else d for d in shape]
    shape = [b.draw(st.integers(1, 2)) for _ in range(b.draw(st.integers(0, 1)))] + shape
    other = b.operand_like(a.type.dtype, shape)
    operands = [a, other] if b.draw(st.booleans()) else [other, a]
    attrs: dict = {}
    b.clamp(attrs, a.type.dtype)
    b.node(b.draw(st.sampled_from(["add", "sub", "mul"])), operands, attrs)


def build_unary(b: Builder) -> None:
    op = b.draw(st.sampled_from(["relu", "sigmoid", "tanh", "leaky_relu", "clip", "softmax"]))
    if op == "relu":
        x = b.pick(lambda v: v.type.dtype in ARITH_DTYPES)
    else:
        x = b.pick(is_float)
    if x is None:
        return
    attrs: dict = {}
    if op == "leaky_relu":
        b.maybe(attrs, "alpha", ATTR_FLOATS, 0.01)
    elif op == "clip":
        bounds = st.one_of(ATTR_FLOATS.filter(lambda f: not math.isnan(f)),
                           st.sampled_from([math.inf, -math.inf]))
        b.maybe(attrs, "min", bounds, -math.inf)
        b.maybe(attrs, "max", bounds, math.inf)
    elif op == "softmax":
        if x.type.rank == 0:
            return
        b.maybe(attrs, "axis", st.integers(-x.type.rank, x.type.rank - 1), -1)
    b.node(op, [x], attrs)


def build_reshape(b: Builder) -> None:
    x = b.pick(lambda v: True)
    if x is None:
        return
    dims = [1] * b.draw(st.integers(1, 4))
    for p in prime_factors(x.type.numel):
        dims[b.draw(st.integers(0, len(dims) - 1))] *= p
    if b.draw(st.booleans()):
        dims.insert(b.draw(st.integers(0, len(dims))), 1)
    b.node("reshape", [x], {"shape": b.ints(dims)})


def build_transpose(b: Builder) -> None:
    x = b.pick(lambda v: not isinstance(v.type.quant, PerAxis))
    if x is None:
        return
    attrs: dict = {}
    if b.draw(st.integers(0, 3)):
        attrs["perm"] = b.ints(b.draw(st.permutations(range(x.type.rank))))
    b.node("transpose", [x], attrs)


def build_concat(b: Builder) -> None:
    x = b.pick(lambda v: v.type.rank >= 1)
    if x is None:
        return
    rank = x.type.rank
    axis = b.draw(st.integers(-rank, rank - 1))
    operands = [x]
    for _ in range(b.draw(st.integers(0, 2))):
        shape = list(x.type.shape)
        shape[axis] = b.draw(st.integers(1, 3))
        operands.append(b.operand_like(x.type.dtype, shape))
    b.draw(st.randoms()).shuffle(operands)
    b.node("concat", operands, {"axis": axis})


def build_split(b: Builder) -> None:
    x = b.pick(lambda v: v.type.rank >= 1)
    if x is None:
        return
    axis = b.draw(st.integers(-x.type.rank, x.type.rank - 1))
    dim = x.type.shape[axis]
    cuts = sorted(b.draw(st.lists(st.integers(0, dim), max_size=3)))
    bounds = [0, *cuts, dim]
    sizes = [hi - lo for lo, hi in itertools.pairwise(bounds)]
    b.node("split", [x], {"axis": axis, "sizes": b.ints(sizes)})


def build_conv(b: Builder) -> None:
    x = b.pick(rank4_float)
    if x is None:
        return
    layout = b.draw(st.sampled_from(["nchw", "nhwc"]))
    c = x.type.shape[1] if layout == "nchw" else x.type.shape[3]
    group = b.draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    out = group * b.draw(st.integers(1, 3))
    kh, kw = b.draw(st.integers(1, 3)), b.draw(st.integers(1, 3))
    w_shape = [out, c // group, kh, kw] if layout == "nchw" else [out, kh, kw, c // group]
    operands = [x, b.const(x.type.dtype, w_shape, specials=b.draw(st.booleans()))]
    if b.draw(st.booleans()):
        operands.append(b.const(x.type.dtype, [out]))
    attrs: dict = {}
    if group != 1 or b.draw(st.booleans()):
        attrs["group"] = group
    if layout == "nhwc" or b.draw(st.booleans()):
        attrs["layout"] = layout
    b.maybe(attrs, "strides", st.lists(st.integers(1, 3), min_size=2, max_size=2), [1, 1])
    b.maybe(attrs, "dilations", st.lists(st.integers(1, 2), min_size=2, max_size=2), [1, 1])
    b.maybe(attrs, "pads", st.lists(st.integers(0, 2), min_size=4, max_size=4), [0, 0, 0, 0])
    b.clamp(attrs, x.type.dtype)
    b.node("conv2d", operands, attrs)


def build_pool(b: Builder) -> None:
    x = b.pick(rank4_float)
    if x is None:
        return
    op = b.draw(st.sampled_from(["max_pool", "avg_pool"]))
    attrs: dict = {"kernel": b.ints(b.draw(st.lists(st.integers(1, 3), min_size=2,
                                                    max_size=2)))}
    b.maybe(attrs, "strides", st.lists(st.integers(1, 3), min_size=2, max_size=2), [1, 1])
    b.maybe(attrs, "dilations", st.lists(st.integers(1, 2), min_size=2, max_size=2), [1, 1])
    b.maybe(attrs, "pads", st.lists(st.integers(0, 2), min_size=4, max_size=4), [0, 0, 0, 0])
    b.maybe(attrs, "ceil_mode", st.booleans(), False)
    b.maybe(attrs, "layout", st.sampled_from(["nchw", "nhwc"]), "nchw")
    if op == "avg_pool":
        b.maybe(attrs, "count_include_pad", st.booleans(), False)
    b.node(op, [x], attrs)


def build_gemm(b: Builder) -> None:
    a = b.pick(lambda v: is_float(v) and v.type.rank == 2)
    if a is None:
        return
    attrs: dict = {}
    b.maybe(attrs, "trans_a", st.booleans(), False)
    b.maybe(attrs, "trans_b", st.booleans(), False)
    b.maybe(attrs, "alpha", ATTR_FLOATS, 1.0)
    b.maybe(attrs, "beta", ATTR_FLOATS, 1.0)
    m, k = a.type.shape[::-1] if attrs.get("trans_a") else a.type.shape
    n = b.draw(st.integers(1, 4))
    dtype = a.type.dtype
    operands = [a, b.const(dtype, [n, k] if attrs.get("trans_b") else [k, n])]
    if b.draw(st.booleans()):
        c_shape = b.draw(st.sampled_from([[m, n], [n], [1, n], [m, 1], []]))
        operands.append(b.const(dtype, c_shape))
    b.clamp(attrs, dtype)
    b.node("gemm", operands, attrs)


def build_matmul(b: Builder) -> None:
    a = b.pick(lambda v: is_float(v) and v.type.rank >= 1)
    if a is None:
        return
    k = a.type.shape[-1]
    n = b.draw(st.integers(1, 4))
    shape = b.draw(st.sampled_from([[k], [k, n], [1, k, n]]))
    attrs: dict = {}
    b.clamp(attrs, a.type.dtype)
    b.node("matmul", [a, b.operand_like(a.type.dtype, shape)], attrs)


def build_pad(b: Builder) -> None:
    x = b.pick(lambda v: True)
    if x is None:
        return
    rank = x.type.rank
    pads = [b.draw(st.integers(-2, 2)) for _ in range(2 * rank)]
    attrs: dict = {"pads": b.ints(pads)}
    b.maybe(attrs, "mode", st.just("constant"), "constant")
    if x.type.dtype in FLOAT_DTYPES:
        b.maybe(attrs, "value", ATTR_FLOATS, 0.0)
    else:
        b.maybe(attrs, "value", st.integers(-100, 100).map(float), 0.0)
    b.node("pad", [x], attrs)


BUILDERS = [build_binary, build_unary, build_reshape, build_transpose, build_concat,
            build_split, build_conv, build_conv, build_pool, build_pool, build_gemm,
            build_matmul, build_pad]


@st.composite
def graphs(draw) -> Graph:
    b = Builder(draw)
    for _ in range(draw(st.integers(1, 3))):
        b.input()
    for _ in range(draw(st.integers(0, 3))):
        b.free_constant()
    for _ in range(draw(st.integers(1, 12))):
        draw(st.sampled_from(BUILDERS))(b)
    g = b.graph
    # Input port names: unique, often different from the printed value names.
    ports = draw(st.lists(PORTS, min_size=len(g.inputs), max_size=len(g.inputs), unique=True))
    for value in g.inputs:
        value.name = draw(NAMES)
    g.input_names = ports
    # Outputs: the last values made, plus random others (constants and inputs too).
    candidates = b.all[-2:] + [draw(st.sampled_from(b.all)) for _ in range(draw(st.integers(0, 3)))]
    out_ports = draw(st.lists(PORTS, min_size=len(candidates), max_size=len(candidates),
                              unique=True))
    for value, port in zip(candidates, out_ports):
        g.add_output(value, port)
    return g


def feeds_for(g: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: random_array(rng, v.type.dtype, v.type.shape)
            for name, v in zip(g.input_names, g.inputs)}


# -- properties -------------------------------------------------------------------------


def assert_same_arrays(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert np.array_equal(a, b, equal_nan=True), f"{what}: values differ"
    if a.dtype.kind == "f":  # bit-identical apart from NaN payloads: signed zeros too
        keep = ~np.isnan(a)
        assert np.array_equal(np.signbit(a[keep]), np.signbit(b[keep])), f"{what}: zero signs"


@SETTINGS
@given(graphs(), st.integers(0, 2**32 - 1))
def test_print_parse_round_trip(g: Graph, seed: int) -> None:
    verify(g)
    text = print_graph(g)
    parsed = parse(text, "<roundtrip>")
    # (a) the text is a fixed point
    assert print_graph(parsed) == text
    # (b) the parsed graph is valid too
    verify(parsed)
    assert parsed.input_names == g.input_names
    assert parsed.output_names == g.output_names
    assert [v.type for v in parsed.values()] == [v.type for v in g.values()]
    assert [n.op for n in parsed.nodes] == [n.op for n in g.nodes]
    assert [n.loc for n in parsed.nodes] == [n.loc for n in g.nodes]
    # (d) constants keep their exact bytes
    assert len(parsed.constants) == len(g.constants)
    for i, (c1, c2) in enumerate(zip(g.constants, parsed.constants)):
        assert c2.data.dtype == c1.data.dtype and c2.data.shape == c1.data.shape
        assert c2.data.tobytes() == c1.data.tobytes(), f"constant {i} (%{c2.name}) changed"
    # (c) the interpreter computes the same outputs
    feeds = feeds_for(g, seed)
    expected, actual = run(g, feeds), run(parsed, feeds)
    assert list(actual) == list(expected)
    for name in expected:
        assert_same_arrays(expected[name], actual[name], f"output {name!r}")


@SETTINGS
@given(graphs())
def test_sidecar_round_trip(g: Graph) -> None:
    text, blob = print_graph_with_sidecar(g, "x.bin", threshold=64)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "x.ir").write_text(text)
        Path(tmp, "x.bin").write_bytes(blob)
        parsed = parse_file(Path(tmp, "x.ir"))
    assert print_graph(parsed) == print_graph(g)
    verify(parsed)
    big = [c for c in g.constants if c.data.nbytes > 64]
    assert text.count("external<") == len(big)
    for c1, c2 in zip(g.constants, parsed.constants):
        assert c2.data.tobytes() == c1.data.tobytes()


def test_sidecar_without_a_file_is_an_error() -> None:
    from compiler.diagnostics import EdgeirError

    g = Graph()
    g.add_output(g.add_constant(np.zeros(64, np.float32), "w"), "w")
    text, _ = print_graph_with_sidecar(g, "w.bin", threshold=16)
    with pytest.raises(EdgeirError, match="external constants need a file"):
        parse(text)


# -- regressions the properties found ---------------------------------------------------


def _one_node_graph(op: str, x: np.ndarray, attrs: dict) -> Graph:
    g = Graph()
    src = g.add_constant(x, "x")
    opdef = ops.get(op)
    types = opdef.infer(opdef.attrs_of(Node(op, [], [], attrs)), [src.type])
    node = g.append(Node(op, [src], types, attrs))
    g.add_output(node.result, "y")
    return g


def _round_trip(g: Graph) -> Graph:
    text = print_graph(g)
    parsed = parse(text)
    assert print_graph(parsed) == text
    verify(parsed)
    return parsed


def test_i16_types_parse() -> None:  # the lexer took "i1" out of "i16"
    g = _round_trip(_one_node_graph("relu", np.arange(6, dtype=np.int16).reshape(2, 3), {}))
    assert g.outputs[0].type == TensorType("i16", (2, 3))


def test_nan_sign_and_payload_survive_inline_constants() -> None:
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7FC00001, 0x80000000], np.uint32)
    g = Graph()
    g.add_output(g.add_constant(bits.view(np.float32), "c"), "c")
    assert _round_trip(g).constants[0].data.view(np.uint32).tolist() == bits.tolist()


def test_negative_zero_attribute_is_not_the_default() -> None:
    g = _one_node_graph("pad", np.ones(2, np.float32), {"pads": [1, 1], "value": -0.0})
    assert "value = -0.0" in print_graph(g)
    assert np.signbit(run(_round_trip(g), {})["y"][0])


@pytest.mark.parametrize(("pads", "expected"), [([2, -2], [9.0]), ([1, -4], []),
                                                ([-1, 2], [2.0, 3.0, 9.0, 9.0])])
def test_pad_crops_longer_than_the_input(pads: list[int], expected: list[float]) -> None:
    x = np.array([1, 2, 3] if pads[1] != -2 else [1], np.float32)
    g = _one_node_graph("pad", x, {"pads": pads, "value": 9.0})
    assert run(g, {})["y"].tolist() == expected


@pytest.mark.parametrize("op", ["transpose", "pad", "slice"])
def test_rank0_data_movement_stays_rank0(op: str) -> None:
    attrs = {"pad": {"pads": []}, "slice": {"starts": [], "ends": [], "axes": [], "steps": []},
             "transpose": {}}[op]
    g = _one_node_graph(op, np.array(5.0, np.float32), attrs)
    y = run(g, {})["y"]
    assert y.shape == () and y == 5.0
