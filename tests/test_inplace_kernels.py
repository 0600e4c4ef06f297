"""In-place and overlapping buffers on random geometries, with the planner's real offsets.

Each case is a chain that exercises every in-place kernel: a depthwise convolution (in
place through its ring of rows), an expanding pointwise convolution (backwards, in
place), a shrinking pointwise convolution (forwards, output below its input), a windowed
convolution fused with the add that reads it (written over the residual). The kernel,
stride, dilation, asymmetric padding and channel counts are random. The generated C,
planned with overlaps and built with AddressSanitizer + UndefinedBehaviorSanitizer, must
give the interpreter's bytes exactly.
"""

import numpy as np
import pytest

from backends.c.build import run_host
from backends.c.driver import compile_model
from compiler import interp
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, constant
from compiler.ops.nn import window_out
from compiler.ops.qnn import add_params
from compiler.quant import arith
from compiler.text import parse, print_graph

pytestmark = pytest.mark.slow  # C builds with sanitizers: `make test-fast` skips them


def qconv(g: Graph, x, rng, out_c: int, k: int, stride: int, dil: int, pads, group: int,
          name: str, out_q: PerTensor):
    n, h, w, c = x.type.shape
    cin = c // group
    wdata = rng.integers(-127, 128, (out_c, k, k, cin), dtype=np.int8)
    ws = rng.uniform(0.002, 0.02, out_c)
    xs = x.type.quant.scale
    wc = g.adopt_constant(constant(wdata, f"{name}.w", PerAxis(0, tuple(ws), (0,) * out_c)))
    bias = g.adopt_constant(constant(rng.integers(-2000, 2000, out_c).astype(np.int32),
                                     f"{name}.b", PerAxis(0, tuple(xs * ws), (0,) * out_c)))
    pairs = [arith.quantize_multiplier(xs * s / out_q.scale) for s in ws]
    oh = window_out(h, k, stride, dil, pads[0], pads[2])
    ow = window_out(w, k, stride, dil, pads[1], pads[3])
    node = Node("qconv2d", [x, wc, bias], [TensorType("i8", (n, oh, ow, out_c), out_q)],
                {"strides": (stride, stride), "dilations": (dil, dil), "pads": tuple(pads),
                 "group": group, "x_zp": x.type.quant.zero_point, "out_zp": out_q.zero_point,
                 "multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)},
                loc=name)
    return g.append(node).result


def random_chain(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    while True:
        h, w, c = (int(v) for v in rng.integers(3, 12, 2)), None, None
        h, w = int(rng.integers(3, 12)), int(rng.integers(3, 12))
        c = int(rng.integers(1, 9))
        k = int(rng.integers(1, 5))
        s, d = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        pads = [int(rng.integers(0, k)) for _ in range(4)]
        span = d * (k - 1) + 1
        if h + pads[0] + pads[2] >= span and w + pads[1] + pads[3] >= span:
            break
    g = Graph(f"chain{seed}")
    x = g.add_input(TensorType("i8", (1, h, w, c), PerTensor(0.05, int(rng.integers(-20, 20)))),
                    "x")
    q = lambda scale, zp: PerTensor(scale, zp)  # noqa: E731
    a = qconv(g, x, rng, c, k, s, d, pads, c, "dw", q(0.08, -3))
    b = qconv(g, a, rng, 2 * c, 1, 1, 1, (0, 0, 0, 0), 1, "expand", q(0.1, 5))
    res = qconv(g, b, rng, c, 1, 1, 1, (0, 0, 0, 0), 1, "residual", q(0.12, -7))
    cc = qconv(g, b, rng, c, 1, 1, 1, (0, 0, 0, 0), 1, "shrink", q(0.09, 4))
    k2 = int(rng.integers(1, 4))
    p2 = (k2 - 1) // 2
    dconv = qconv(g, cc, rng, c, k2, 1, 1, (p2, p2, k2 - 1 - p2, k2 - 1 - p2), 1, "conv",
                  q(0.11, 2))
    out_q = q(0.15, -1)
    attrs = {"a_zp": dconv.type.quant.zero_point, "b_zp": res.type.quant.zero_point,
             "out_zp": out_q.zero_point, **add_params(0.11, 0.12, 0.15)}
    if seed % 2:  # a fused ReLU: the add's output clamped from its zero point up
        attrs["act_min"], attrs["act_max"] = out_q.zero_point, 127
    e = g.append(Node("qadd", [dconv, res], [TensorType("i8", cc.type.shape, out_q)], attrs,
                      loc="add")).result
    g.add_output(e, "y")
    return g


@pytest.mark.parametrize("seed,dsp,specialize", [(s, False, False) for s in range(16)] +
                         [(s, True, False) for s in range(16, 24)] +
                         [(s, True, True) for s in range(16, 24)])
def test_inplace_chain_bit_exact_under_sanitizers(seed, dsp, specialize, tmp_path):
    """dsp: the DSP-extension twins of the pointwise and fused conv+add kernels (plain C
    standing in for SMLAD/SXTB16 on the host) under the same in-place plans; specialize:
    the same with every layer's loops instantiated on its shape (--specialize)."""
    graph = random_chain(seed)
    reference = parse(print_graph(graph))
    report = compile_model(graph, tmp_path / "out", "chain", "host", inplace=True, dsp=dsp,
                           specialize=specialize)
    specialized = {layer["kernel"] for layer in report["layers"] if layer.get("specialized")}
    assert specialized == ({"edgeir_pointwise_conv_s8_dsp_reverse", "edgeir_conv_add_s8_dsp"}
                           | specialized if specialize else set()), specialized
    impls = {n.attrs.get("impl") for n in graph.nodes}
    suffix = "_dsp_reverse" if dsp else "_reverse"
    assert f"edgeir_pointwise_conv_s8{suffix}" in impls
    assert ("edgeir_conv_add_s8_dsp" in impls) == dsp
    rng = np.random.default_rng(seed + 100)
    feeds = {"x": rng.integers(-128, 128, (4, *graph.inputs[0].type.shape), dtype=np.int8)}
    got = run_host(tmp_path / "out", feeds, sanitize=True, batch=True)["y"]
    for i in range(4):
        want = interp.run(reference, {"x": feeds["x"][i]})["y"]
        assert got[i].tobytes() == want.tobytes(), f"seed {seed}, input {i}"


def test_chains_exercise_every_inplace_kernel():
    """Without the schedule pass moving nodes, every chain fuses its conv and add, and
    the chains together use the ring depthwise kernel and both pointwise directions."""
    from compiler.pipeline import parse_pipeline, run_pipeline

    seen = []
    for seed in range(16):
        g = random_chain(seed)
        run_pipeline(g, parse_pipeline("lower-c,plan-memory"))
        impls = {n.attrs.get("impl") for n in g.nodes}
        assert "edgeir_conv_add_s8" in impls, seed
        seen.append(impls)
    everything = set().union(*seen)
    assert {"edgeir_depthwise_conv_s8_inplace", "edgeir_pointwise_conv_s8",
            "edgeir_pointwise_conv_s8_reverse", "edgeir_conv_add_s8"} <= everything
