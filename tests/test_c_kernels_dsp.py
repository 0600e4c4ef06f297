"""The DSP-extension int8 kernels (edgeir_s8_dsp.c) against the interpreter on random shapes.

Dense convolutions (any kernel, stride, dilation, asymmetric padding; in_c with and without
a multiple of 4, odd out_c) and fully connected layers (odd in/out features, batches),
compiled with the DSP kernels for the host (plain C standing in for SMLAD/SXTB16), built
with AddressSanitizer + UndefinedBehaviorSanitizer: the bytes must equal the interpreter's.
The same kernels on an emulated Cortex-M4 (real SMLAD, and the assembly routines the common
case takes there) on random shapes at the end of this file; the shared models and the
general form of requantization in tests/test_sim.py.
The in-place pointwise and fused conv+add twins are covered by tests/test_inplace_kernels.py.
"""

import re

import numpy as np
import pytest

from backends.c.build import run_host
from backends.c.driver import compile_model
from compiler import interp
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, constant
from compiler.ops.nn import window_out
from compiler.quant import arith
from compiler.text import parse, print_graph
from tests.test_inplace_kernels import qconv

pytestmark = pytest.mark.slow  # C builds with sanitizers


def conv_graph(seed: int) -> Graph:
    rng = np.random.default_rng(seed)
    while True:
        h, w = int(rng.integers(2, 10)), int(rng.integers(2, 10))
        c, oc = int(rng.integers(1, 11)), int(rng.integers(1, 12))
        k, s, d = int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        pads = [int(rng.integers(0, k)) for _ in range(4)]
        span = d * (k - 1) + 1
        if h + pads[0] + pads[2] >= span and w + pads[1] + pads[3] >= span:
            break
    g = Graph(f"conv{seed}")
    batch = int(rng.integers(1, 3))
    x = g.add_input(TensorType("i8", (batch, h, w, c),
                               PerTensor(0.05, int(rng.integers(-30, 30)))), "x")
    act = (int(rng.integers(-128, -100)), int(rng.integers(60, 128)))
    y = qconv(g, x, rng, oc, k, s, d, pads, 1, "conv", PerTensor(0.1, int(rng.integers(-9, 9))))
    y.producer.attrs["act_min"], y.producer.attrs["act_max"] = act
    g.add_output(y, "y")
    return g


def fc_graph(seed: int, last_real: float | None = None) -> Graph:
    """A fully connected layer; ``last_real``: its last channel's real multiplier."""
    rng = np.random.default_rng(seed)
    batch, k, n = int(rng.integers(1, 4)), int(rng.integers(1, 70)), int(rng.integers(1, 20))
    g = Graph(f"fc{seed}")
    xq, oq = PerTensor(0.04, int(rng.integers(-20, 20))), PerTensor(0.2, int(rng.integers(-9, 9)))
    x = g.add_input(TensorType("i8", (batch, k), xq), "x")
    ws = rng.uniform(0.002, 0.02, n)
    if last_real is not None:
        ws[-1] = last_real * oq.scale / xq.scale
    w = g.adopt_constant(constant(rng.integers(-127, 128, (n, k), dtype=np.int8), "w",
                                  PerAxis(0, tuple(ws), (0,) * n)))
    b = g.adopt_constant(constant(rng.integers(-5000, 5000, n).astype(np.int32), "b",
                                  PerAxis(0, tuple(xq.scale * ws), (0,) * n)))
    pairs = [arith.quantize_multiplier(xq.scale * s / oq.scale) for s in ws]
    node = Node("qfully_connected", [x, w, b], [TensorType("i8", (batch, n), oq)],
                {"x_zp": xq.zero_point, "out_zp": oq.zero_point,
                 "multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)},
                loc="fc")
    g.add_output(g.append(node).result, "y")
    return g


def check(graph: Graph, kernel: str, tmp_path, seed: int, specialize: bool = False) -> None:
    reference = parse(print_graph(graph))
    report = compile_model(graph, tmp_path / "out", "net", "host", inplace=False, dsp=True,
                           specialize=specialize)
    assert kernel in {layer["kernel"] for layer in report["layers"]}
    assert all(layer.get("specialized", False) == specialize for layer in report["layers"]
               if layer["kernel"] == kernel)
    rng = np.random.default_rng(seed + 1000)
    feeds = {"x": rng.integers(-128, 128, (3, *graph.inputs[0].type.shape), dtype=np.int8)}
    got = run_host(tmp_path / "out", feeds, sanitize=True, batch=True)["y"]
    for i in range(3):
        want = interp.run(reference, {"x": feeds["x"][i]})["y"]
        assert got[i].tobytes() == want.tobytes(), f"seed {seed}, input {i}"


@pytest.mark.parametrize("specialize", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_dsp_conv_bit_exact(seed, specialize, tmp_path):
    """specialize: the im2col window instantiated on the layer's shape (--specialize)."""
    check(conv_graph(seed), "edgeir_conv_s8_dsp", tmp_path, seed, specialize)


@pytest.mark.parametrize("seed", range(6))
def test_dsp_fully_connected_bit_exact(seed, tmp_path):
    check(fc_graph(seed), "edgeir_fc_s8_dsp", tmp_path, seed)


def test_shapes_cover_the_hard_cases():
    """The seeds include in_c not a multiple of 4 (the staging path) and of 4, odd output
    channel counts (the zero filter), padding, stride 2, dilation 2, batches."""
    convs = [conv_graph(s).nodes[0] for s in range(12)]
    in_c = {n.operands[0].type.shape[3] % 4 == 0 for n in convs}
    assert in_c == {True, False}
    assert any(n.result.type.shape[3] % 2 for n in convs)
    assert any(any(n.attrs["pads"]) for n in convs)
    assert any(n.attrs["strides"][0] == 2 for n in convs)
    assert any(n.attrs["dilations"][0] == 2 for n in convs)
    assert any(n.operands[0].type.shape[0] == 2 for n in convs)
    fcs = [fc_graph(s).nodes[0] for s in range(6)]
    assert any(n.operands[0].type.shape[1] % 4 for n in fcs)
    assert any(n.result.type.shape[1] % 2 for n in fcs)


def depthwise_graph(seed: int, last_real: float | None = None) -> Graph:
    """A depthwise conv the in-place DSP kernel takes: half the seeds 3x3 with stride 1 or 2
    (its unrolled path, for whole groups of 4 channels), the others any kernel, stride,
    dilation and padding; channel counts with and without a partial last group; every
    fourth seed a narrower activation range than int8's (the clamp after saturation)."""
    rng = np.random.default_rng(seed)
    while True:
        h, w, c = int(rng.integers(2, 12)), int(rng.integers(2, 12)), int(rng.integers(2, 14))
        kh = 3 if seed % 2 == 0 else int(rng.integers(1, 5))
        kw = 3 if seed % 2 == 0 else int(rng.integers(1, 5))
        s = int(rng.integers(1, 3))
        d = 1 if seed % 2 == 0 else int(rng.integers(1, 3))
        pads = [int(rng.integers(0, kh)), int(rng.integers(0, kw)),
                int(rng.integers(0, kh)), int(rng.integers(0, kw))]
        if h + pads[0] + pads[2] >= d * (kh - 1) + 1 and w + pads[1] + pads[3] >= d * (kw - 1) + 1:
            break
    g = Graph(f"dw{seed}")
    x = g.add_input(TensorType("i8", (1, h, w, c), PerTensor(0.05, int(rng.integers(-30, 30)))),
                    "x")
    ws = rng.uniform(0.002, 0.02, c)
    oq = PerTensor(0.1, int(rng.integers(-9, 9)))
    if last_real is not None:  # the last channel's real multiplier
        ws[-1] = last_real * oq.scale / 0.05
    wc = g.adopt_constant(constant(rng.integers(-127, 128, (c, kh, kw, 1), dtype=np.int8), "w",
                                   PerAxis(0, tuple(ws), (0,) * c)))
    b = g.adopt_constant(constant(rng.integers(-3000, 3000, c).astype(np.int32), "b",
                                  PerAxis(0, tuple(0.05 * ws), (0,) * c)))
    pairs = [arith.quantize_multiplier(0.05 * sc / oq.scale) for sc in ws]
    oh = window_out(h, kh, s, d, pads[0], pads[2])
    ow = window_out(w, kw, s, d, pads[1], pads[3])
    node = Node("qconv2d", [x, wc, b], [TensorType("i8", (1, oh, ow, c), oq)],
                {"strides": (s, s), "dilations": (d, d), "pads": tuple(pads), "group": c,
                 "x_zp": x.type.quant.zero_point, "out_zp": oq.zero_point,
                 "multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)},
                loc="dw")
    if seed % 4 == 0:
        node.attrs["act_min"], node.attrs["act_max"] = (int(rng.integers(-120, -20)),
                                                        int(rng.integers(20, 120)))
    g.add_output(g.append(node).result, "y")
    return g


@pytest.mark.parametrize("specialize", [False, True])
@pytest.mark.parametrize("seed,lean", [(s, s % 3 == 0) for s in range(12)])
def test_dsp_depthwise_inplace_bit_exact(seed, lean, specialize, tmp_path, monkeypatch):
    """lean: the ring of raw int8 words, which the driver picks when the layer is the arena's
    peak (a lone layer always is); otherwise the fast ring (the switch turned off).
    specialize: the kernel instantiated on the layer's shape and requantization mode."""
    from backends.c import driver

    if not lean:
        monkeypatch.setattr(driver, "lean_at_peak", lambda graph: False)
    graph = depthwise_graph(seed)
    reference = parse(print_graph(graph))
    report = compile_model(graph, tmp_path / "out", "net", "host", inplace=True, dsp=True,
                           specialize=specialize)
    kernels = {layer["kernel"] for layer in report["layers"]}
    dsp = "edgeir_depthwise_conv_s8_inplace_dsp" + ("_lean" if lean else "")
    if dsp not in kernels:  # the ring is not safe in place:
        assert kernels == {"edgeir_depthwise_conv_s8"}, kernels  # the portable kernel runs
    else:
        assert report["layers"][0].get("specialized", False) == specialize
    rng = np.random.default_rng(seed + 2000)
    feeds = {"x": rng.integers(-128, 128, (3, *graph.inputs[0].type.shape), dtype=np.int8)}
    got = run_host(tmp_path / "out", feeds, sanitize=True, batch=True)["y"]
    for i in range(3):
        want = interp.run(reference, {"x": feeds["x"][i]})["y"]
        assert got[i].tobytes() == want.tobytes(), f"seed {seed}, input {i}"


def test_depthwise_seeds_reach_the_dsp_kernel_and_its_fast_path():
    from compiler.pipeline import parse_pipeline, run_pipeline

    fast = partial = clamped = 0
    for seed in range(12):
        g = depthwise_graph(seed)
        run_pipeline(g, parse_pipeline("lower-c{dsp=true},plan-memory"))
        node = g.nodes[0]
        if node.attrs["impl"] == "edgeir_depthwise_conv_s8_inplace_dsp":
            a, (c, kh, kw, _) = node.attrs, node.operands[1].type.shape
            is_fast = kh == kw == 3 and a.get("dilations", (1, 1))[1] == 1 and c >= 4
            fast += is_fast
            partial += c % 4 != 0
            clamped += is_fast and (a.get("act_min", -128), a.get("act_max", 127)) != (-128, 127)
    assert fast >= 3 and partial >= 3 and clamped >= 1, (fast, partial, clamped)


def test_requantization_shortcut_equals_tflm(tmp_path):
    """mbqm, the DSP kernels' two-step requantization, against edgeir_mbqm (TFLM's
    MultiplyByQuantizedMultiplier) on edge cases and 20 million pseudo-random ones, built
    with AddressSanitizer and UndefinedBehaviorSanitizer (tests/c/dsp_requant.c)."""
    import subprocess
    from pathlib import Path

    from backends.c.build import SANITIZE_FLAGS

    root = Path(__file__).resolve().parents[1]
    exe = tmp_path / "requant"
    subprocess.run(["gcc", *SANITIZE_FLAGS, f"-I{root / 'backends' / 'c' / 'runtime'}",
                    str(root / "tests" / "c" / "dsp_requant.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "20000000 cases, all equal", out.stdout


@pytest.mark.parametrize("real,specialize", [(0.3, False), (0.7, False), (1.5, False),
                                             (0.7, True)])
def test_requantization_outside_the_records_takes_the_general_path(real, specialize,
                                                                    tmp_path):
    """A channel whose real multiplier is >= 1/4 (shift > -2) does not fit edgeir_rq's fast
    form: the layer's records take the general form (TFLM's arithmetic), still the DSP
    kernel, bit-exact: fully connected, and a 3x3 depthwise (whose unrolled rows it skips;
    specialized, the emitter states the mode as a constant)."""
    graphs = [(fc_graph(2, last_real=real), "edgeir_fc_s8_dsp"),
              (depthwise_graph(0, last_real=real), "edgeir_depthwise_conv_s8_inplace_dsp_lean")]
    for i, (graph, kernel) in enumerate(graphs):
        reference = parse(print_graph(graph))
        out = tmp_path / f"out{i}"
        report = compile_model(graph, out, "net", "host", inplace=i == 1, dsp=True,
                               specialize=specialize)
        if specialize and i == 1:  # RQ_CLAMP (seed 0's narrower range) | RQ_GENERAL
            assert re.search(r"depthwise_dsp\(&net_p\d+, in, w, rq, out, scratch, 1, 3\);",
                             (out / "net.c").read_text())
        assert {layer["kernel"] for layer in report["layers"]} == {kernel}
        records = re.search(r"edgeir_rq \w+\[\d+\] = \{\s*\{-?\d+, -?\d+, -?\d+, (\d+)\}",
                            (out / "net_weights.c").read_text())
        assert records and records.group(1) == "31", "not the general form (shift 31)"
        rng = np.random.default_rng(7)
        feeds = {"x": rng.integers(-128, 128, (2, *graph.inputs[0].type.shape), dtype=np.int8)}
        got = run_host(out, feeds, sanitize=True, batch=True)["y"]
        for j in range(2):
            want = interp.run(reference, {"x": feeds["x"][j]})["y"]
            assert got[j].tobytes() == want.tobytes(), (kernel, j)


# -- the assembly routines on the emulated Cortex-M4 ---------------------------------------
# On a DSP core the layers in the fast form with int8's full activation range run the naked
# assembly routines (pairs_asm, fc_quads_asm, dw3_fast_asm); the others keep the C paths
# the host tests above check. The shared models cover the routines at their own shapes;
# these random ones reach every entry of the group loops (g % 4 for the channel pairs,
# g % 2 for the quads), an odd last channel, a partial last quad, stride 2 and the clamp.


def full_range(graph: Graph) -> Graph:
    graph.nodes[0].attrs["act_min"], graph.nodes[0].attrs["act_max"] = -128, 127
    return graph


SIM_CASES = ([("conv", s, True) for s in range(10)] + [("conv", s, False) for s in (0, 1)]
             + [("fc", s, True) for s in range(12, 20)]
             + [("depthwise", s, False) for s in (2, 6, 10, 14, 4)]
             + [("chain", s, True) for s in range(16, 22)])


def sim_graph(kind: str, seed: int, full: bool) -> Graph:
    from tests.test_inplace_kernels import random_chain

    if kind == "chain":
        return random_chain(seed)
    graph = {"conv": conv_graph, "fc": fc_graph, "depthwise": depthwise_graph}[kind](seed)
    return full_range(graph) if full else graph


# --specialize on the emulator: the loops instantiated on each layer's shape, with gcc's
# unrolling for Cortex-M4, around the same assembly
SIM_SPECIALIZED = ([("conv", s, True, True) for s in range(4)] + [("conv", 0, False, True)]
                   + [("depthwise", s, False, True) for s in (2, 14, 4)]
                   + [("chain", s, True, True) for s in (16, 17, 18)])


@pytest.mark.parametrize("kind,seed,full,specialize",
                         [(*case, False) for case in SIM_CASES] + SIM_SPECIALIZED)
def test_dsp_assembly_on_the_emulator(kind, seed, full, specialize, tmp_path, monkeypatch):
    """Compiled for cortex-m4 (the DSP kernels, their assembly) and run on the emulator: the
    bytes equal the interpreter's. Depthwise runs the sign-extended ring (dw3_fast_asm);
    chains are dw -> pointwise -> 3 x 3 conv fused with an add."""
    from backends.c import driver
    from backends.c.sim import run_sim

    monkeypatch.setattr(driver, "lean_at_peak", lambda graph: False)
    graph = sim_graph(kind, seed, full)
    reference = parse(print_graph(graph))
    report = compile_model(graph, tmp_path / "out", "net", "cortex-m4",
                           inplace=kind != "conv", specialize=specialize)
    assert report["specialize"] == specialize
    assert any(layer.get("specialized") for layer in report["layers"]) == specialize
    rng = np.random.default_rng(seed + 3000)
    feeds = {"x": rng.integers(-128, 128, (2, *graph.inputs[0].type.shape), dtype=np.int8)}
    got = run_sim(tmp_path / "out", feeds, batch=True).outputs["y"]
    for i in range(2):
        want = interp.run(reference, {"x": feeds["x"][i]})["y"]
        assert got[i].tobytes() == want.tobytes(), f"{kind} seed {seed}, input {i}"


def test_emulator_cases_reach_every_entry_of_the_assembly():
    """What the cases above must cover, from their shapes and the kernels lower-c picks."""
    from compiler.pipeline import parse_pipeline, run_pipeline

    conv_groups, conv_odd, fc_groups, fc_partial, dw_fast, chains = set(), 0, set(), 0, 0, 0
    for kind, seed, full in SIM_CASES:
        graph = sim_graph(kind, seed, full)
        run_pipeline(graph, parse_pipeline("lower-c{dsp=true}"))
        for node in graph.nodes:
            impl, w = node.attrs.get("impl", ""), node.operands[1].type.shape
            k = int(np.prod(w[1:])) if len(w) > 1 else 0
            if impl == "edgeir_conv_s8_dsp" and full:
                conv_groups.add((k + 3) // 4 % 4)
                conv_odd += w[0] % 2
            if impl == "edgeir_fc_s8_dsp" and k % 4 == 0:
                fc_groups.add(k // 4 % 2)
                fc_partial += w[0] % 4 != 0
            dw_fast += impl == "edgeir_depthwise_conv_s8_inplace_dsp" and w[1:3] == (3, 3)
            chains += impl == "edgeir_conv_add_s8_dsp"
    assert conv_groups == {0, 1, 2, 3} and conv_odd >= 2, (conv_groups, conv_odd)
    assert fc_groups == {0, 1} and fc_partial >= 1, (fc_groups, fc_partial)
    assert dw_fast >= 3 and chains >= 4, (dw_fast, chains)


def scaled_conv_graph(seed: int, zero_filters: bool = True,
                      last_real: float | None = None) -> Graph:
    """A 3x3 conv, 8 -> 6 channels. ``zero_filters``: its even filters all zero with a tiny
    scale (as converters leave pruned or dead filters): shifts of -26 and below, which with
    an output zero point of -128 leave no room in the fast records' rounding constant; their
    outputs are constants. ``last_real``: the last channel's real multiplier (>= 1/4: the
    general form)."""
    rng = np.random.default_rng(seed)
    g = Graph(f"zeros{seed}")
    xq, oq = PerTensor(0.05, 3), PerTensor(0.1, -128)
    x = g.add_input(TensorType("i8", (1, 5, 6, 8), xq), "x")
    ws = rng.uniform(0.002, 0.02, 6)
    wdata = rng.integers(-127, 128, (6, 3, 3, 8), dtype=np.int8)
    if zero_filters:
        ws[::2] = rng.uniform(1e-9, 4e-9, 3)
        wdata[::2] = 0
    if last_real is not None:
        ws[-1] = last_real * oq.scale / xq.scale
    w = g.adopt_constant(constant(wdata, "w", PerAxis(0, tuple(ws), (0,) * 6)))
    b = g.adopt_constant(constant(rng.integers(-2000, 2000, 6).astype(np.int32), "b",
                                  PerAxis(0, tuple(xq.scale * ws), (0,) * 6)))
    pairs = [arith.quantize_multiplier(xq.scale * s / oq.scale) for s in ws]
    node = Node("qconv2d", [x, w, b], [TensorType("i8", (1, 5, 6, 6), oq)],
                {"strides": (1, 1), "dilations": (1, 1), "pads": (1, 1, 1, 1), "group": 1,
                 "x_zp": xq.zero_point, "out_zp": oq.zero_point,
                 "multiplier": tuple(p[0] for p in pairs), "shift": tuple(p[1] for p in pairs)},
                loc="conv")
    g.add_output(g.append(node).result, "y")
    return g


def test_zero_filters_keep_the_fast_records(tmp_path):
    """The zero filters get constant records (mult 0, round 2C + 1, shift 1) instead of
    pushing the layer into the general form; bit-exact on the host (sanitizers) and on the
    emulated Cortex-M4 (pairs_asm)."""
    from backends.c.sim import run_sim

    graph = scaled_conv_graph(5)
    assert min(graph.nodes[0].attrs["shift"][::2]) <= -26
    reference = parse(print_graph(graph))
    rng = np.random.default_rng(11)
    feeds = {"x": rng.integers(-128, 128, (3, *graph.inputs[0].type.shape), dtype=np.int8)}
    for target in ("host", "cortex-m4"):
        out = tmp_path / target
        compile_model(parse(print_graph(graph)), out, "net", target, inplace=False, dsp=True)
        records = re.findall(r"\{(-?\d+), (-?\d+), (-?\d+), (-?\d+)\}",
                             (out / "net_weights.c").read_text().split("edgeir_rq")[1])
        assert [int(r[3]) for r in records[:6]] != [31] * 6, "the general form"
        assert all(r[1] == "0" and r[3] == "1" and int(r[2]) % 2 == 1 for r in records[0:6:2])
        got = (run_host(out, feeds, sanitize=True, batch=True) if target == "host"
               else run_sim(out, feeds, batch=True).outputs)["y"]
        for i in range(3):
            want = interp.run(reference, {"x": feeds["x"][i]})["y"]
            assert got[i].tobytes() == want.tobytes(), (target, i)
