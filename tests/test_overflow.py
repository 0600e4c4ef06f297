"""The int32 overflow check (backends/c/overflow.py) on adversarial int8 layers.

Every layer here sits exactly at int32's edge or one step past it: weights of +-127 (or
-128) with a reduction of ~66,000 products, input zero point -128 (so x - x_zp reaches 255),
biases chosen so that the extreme input (x = 127 everywhere) takes the accumulator to
exactly 2^31 - 1 or -2^31. Past the edge, ``edgeir compile`` refuses the layer (exit 4, one
line naming it, the bound and the limit). At the edge it compiles, and the C, built with
-fsanitize=address,undefined -fno-sanitize-recover=all (a signed int32 overflow aborts),
run on the extreme inputs, gives the bytes of a numpy int64 reference computed here
(accumulator, then TFLM's requantization) and of the interpreter; the reference's
accumulators hit the int32 limits exactly, so the kernels did reach them.
Fully connected, dense conv (with padding taps), depthwise conv, average pool and add each
run through the portable kernels and the DSP / in-place kernels (plain C on the host).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from backends.c import overflow
from backends.c.build import run_host
from backends.c.driver import compile_model
from compiler import interp
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, PerTensor, TensorType, constant
from compiler.ops.qnn import add_params
from compiler.quant import arith
from compiler.text import parse, print_graph

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
INT32_MAX, INT32_MIN = 2**31 - 1, -(2**31)
X_ZP = -128
TERM = 255 * 127   # (x - x_zp) * w at x = 127, w = 127: the largest product magnitude
K_MAX = INT32_MAX // TERM  # 66311 such products fit, with 1912 to spare
X_SCALE, W_SCALE = 0.5, 2.0**-20
# output scale such that the requantization multiplier is 100 / 2^31: the extreme
# accumulators map to +-100, inside int8, so the output shows them
OUT_SCALE = X_SCALE * W_SCALE * 2.0**31 / 100
VARIANTS = {"portable": {"inplace": False, "dsp": False},
            "dsp-inplace": {"inplace": True, "dsp": True}}


def requant_attrs(channels: int) -> dict:
    m, s = arith.quantize_multiplier(X_SCALE * W_SCALE / OUT_SCALE)
    return {"multiplier": (m,) * channels, "shift": (s,) * channels}


def weight_and_bias(g: Graph, w: np.ndarray, bias: list[int]) -> tuple:
    o = w.shape[0]
    wc = g.adopt_constant(constant(w.astype(np.int8), "w", PerAxis(0, (W_SCALE,) * o, (0,) * o)))
    bc = g.adopt_constant(constant(np.asarray(bias, np.int32), "b",
                                   PerAxis(0, (X_SCALE * W_SCALE,) * o, (0,) * o)))
    return wc, bc


def fc_graph(k: int, bias: list[int], w_values=(127, -127)) -> Graph:
    g = Graph("fc")
    x = g.add_input(TensorType("i8", (1, k), PerTensor(X_SCALE, X_ZP)), "x")
    w = np.stack([np.full(k, v) for v in w_values])
    wc, bc = weight_and_bias(g, w, bias)
    node = Node("qfully_connected", [x, wc, bc],
                [TensorType("i8", (1, len(w_values)), PerTensor(OUT_SCALE, 0))],
                {"x_zp": X_ZP, **requant_attrs(len(w_values))}, loc="fc")
    g.add_output(g.append(node).result, "y")
    return g


def conv_graph(c: int, k: int, bias: list[int], pad: int, depthwise: bool) -> Graph:
    """A k x k convolution over a 1 x k x k x c input (one output pixel without padding,
    k x k with ``pad = k // 2``): dense with two filters (+127 and -127 everywhere), or
    depthwise over c = 2 channels (+127 and -127)."""
    g = Graph("conv")
    x = g.add_input(TensorType("i8", (1, k, k, c), PerTensor(X_SCALE, X_ZP)), "x")
    if depthwise:
        w = np.stack([np.full((k, k, 1), 127), np.full((k, k, 1), -127)])
    else:
        w = np.stack([np.full((k, k, c), 127), np.full((k, k, c), -127)])
    wc, bc = weight_and_bias(g, w, bias)
    out = k if pad else 1
    node = Node("qconv2d", [x, wc, bc], [TensorType("i8", (1, out, out, 2),
                                                    PerTensor(OUT_SCALE, 0))],
                {"pads": (pad,) * 4, "group": c if depthwise else 1, "x_zp": X_ZP,
                 **requant_attrs(2)}, loc="conv")
    g.add_output(g.append(node).result, "y")
    return g


def reference_acc(x: np.ndarray, w: np.ndarray, bias: list[int], pad: int,
                  depthwise: bool) -> np.ndarray:
    """bias + sum((x - x_zp) * w) in int64 per output pixel and channel (NHWC; padding
    taps hold x_zp, i.e. contribute 0, as TFLM skips them)."""
    d = np.pad(x.astype(np.int64) - X_ZP, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = w.shape[1]
    oh = d.shape[1] - k + 1
    acc = np.zeros((1, oh, oh, 2), np.int64)
    for i in range(oh):
        for j in range(oh):
            win = d[0, i:i + k, j:j + k, :]
            for o in range(2):
                wo = w[o].astype(np.int64)
                acc[0, i, j, o] = (win[..., o] * wo[..., 0]).sum() if depthwise \
                    else (win * wo).sum()
    return acc + np.asarray(bias, np.int64)


def requantize(acc: np.ndarray) -> np.ndarray:
    assert acc.min() >= INT32_MIN and acc.max() <= INT32_MAX
    m, s = arith.quantize_multiplier(X_SCALE * W_SCALE / OUT_SCALE)
    out = arith.multiply_by_quantized_multiplier(acc, m, s).astype(np.int64)
    return np.clip(out, -128, 127).astype(np.int8)


def extreme_inputs(shape, seed: int = 0) -> np.ndarray:
    """x = 127 (every product at its extreme), x = -128 (x - x_zp = 0: the bias alone) and
    a random input, stacked."""
    rng = np.random.default_rng(seed)
    return np.stack([np.full(shape, 127, np.int8), np.full(shape, -128, np.int8),
                     rng.integers(-128, 128, shape).astype(np.int8)])


def compiled_outputs(graph: Graph, tmp_path, feeds: np.ndarray, variant: str) -> np.ndarray:
    reference = parse(print_graph(graph))
    compile_model(graph, tmp_path / variant, "net", "host", **VARIANTS[variant])
    got = run_host(tmp_path / variant, {"x": feeds}, sanitize=True, batch=True)["y"]
    for i in range(len(feeds)):  # the interpreter agrees with the C
        assert got[i].tobytes() == interp.run(reference, {"x": feeds[i]})["y"].tobytes()
    return got


def refusal(graph: Graph, tmp_path) -> str:
    with pytest.raises(EdgeirError) as info:
        compile_model(graph, tmp_path / "refused", "net", "host")
    assert info.value.kind == "unsupported" and info.value.exit_code == 4
    assert not (tmp_path / "refused").exists()
    return info.value.line()


# -- fully connected ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_fc_at_the_int32_limit_is_exact_under_ubsan(variant, tmp_path):
    spare = INT32_MAX - K_MAX * TERM
    bias = [spare, -spare - 1]
    feeds = extreme_inputs((1, K_MAX))
    w = np.stack([np.full(K_MAX, 127), np.full(K_MAX, -127)]).astype(np.int64)
    acc = np.stack([np.asarray(bias) + (f.astype(np.int64) - X_ZP) @ w.T for f in feeds])
    assert acc[0].tolist() == [[INT32_MAX, INT32_MIN]]  # the bound is attained
    got = compiled_outputs(fc_graph(K_MAX, bias), tmp_path, feeds, variant)
    want = requantize(acc)
    assert got.tobytes() == want.tobytes()
    assert want[0].tolist() == [[100, -100]]


def test_fc_one_past_the_limit_is_refused(tmp_path):
    spare = INT32_MAX - K_MAX * TERM
    line = refusal(fc_graph(K_MAX, [spare + 1, -spare - 1]), tmp_path)
    assert line == (
        "node 'fc' (qfully_connected): error: int32 overflow: the accumulator (output channel "
        "0) can reach 2,147,483,648, beyond 2^31-1 = 2,147,483,647: 66,311 products of int8 "
        "inputs (zero point -128) and weights (sum|w| = 8,421,497), bias 1,913; split the "
        "layer's reduction (e.g. its input channels over two layers), quantize the weights "
        "with a coarser scale, or keep this layer in float")
    line = refusal(fc_graph(K_MAX, [spare, -spare - 2]), tmp_path)
    assert "(output channel 1) can reach -2,147,483,649, beyond -2^31 = -2,147,483,648" in line


def test_fc_of_extreme_weights_66000_long_is_refused(tmp_path):
    """Weights -128 (outside the TFLite spec's [-127, 127], but int8) and 127 over 66,000
    inputs: 255 * 128 * 66,000 = 2,154,240,000 for channel 1, no bias."""
    line = refusal(fc_graph(66_000, [0, 0], (127, -128)), tmp_path)
    assert "(output channel 1) can reach -2,154,240,000" in line


def test_fc_refusal_is_one_line_and_exit_4_from_the_cli(tmp_path):
    spare = INT32_MAX - 4 * TERM
    model = tmp_path / "fc.ir"
    model.write_text(print_graph(fc_graph(4, [spare + 1, 0])))
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(model), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 4
    assert proc.stderr.count("\n") == 1 and "int32 overflow" in proc.stderr
    assert "node 'fc' (qfully_connected)" in proc.stderr and "2,147,483,648" in proc.stderr
    assert not (tmp_path / "out").exists()


# -- convolutions ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_at_the_int32_limit_is_exact_under_ubsan(variant, tmp_path):
    """3 x 3 over 7367 channels (66,303 products), padding 1: the centre pixel reaches the
    limits, the border pixels add padding taps (x_zp in the folded kernels)."""
    c = 7367
    spare = INT32_MAX - 9 * c * TERM
    bias = [spare, -spare - 1]
    graph = conv_graph(c, 3, bias, 1, depthwise=False)
    w = graph.constants[0].data
    feeds = extreme_inputs((1, 3, 3, c))
    acc = np.concatenate([reference_acc(f, w, bias, 1, False) for f in feeds])
    assert acc[0, 1, 1].tolist() == [INT32_MAX, INT32_MIN]
    got = compiled_outputs(graph, tmp_path, feeds, variant)
    assert got.tobytes() == requantize(acc).tobytes()


def test_conv_one_product_past_the_limit_is_refused(tmp_path):
    line = refusal(conv_graph(7368, 3, [0, 0], 1, depthwise=False), tmp_path)
    assert "node 'conv' (qconv2d): error: int32 overflow: the accumulator (output channel 0) " \
        "can reach 2,147,514,120" in line and "66,312 products" in line


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_depthwise_at_the_int32_limit_is_exact_under_ubsan(variant, tmp_path):
    """A 257 x 257 depthwise window (66,049 products per channel)."""
    spare = INT32_MAX - 257 * 257 * TERM
    bias = [spare, -spare - 1]
    graph = conv_graph(2, 257, bias, 0, depthwise=True)
    w = graph.constants[0].data
    feeds = extreme_inputs((1, 257, 257, 2))
    acc = np.concatenate([reference_acc(f, w, bias, 0, True) for f in feeds])
    assert acc[0, 0, 0].tolist() == [INT32_MAX, INT32_MIN]
    got = compiled_outputs(graph, tmp_path, feeds, variant)
    assert got.tobytes() == requantize(acc).tobytes()


def test_depthwise_past_the_limit_is_refused(tmp_path):
    line = refusal(conv_graph(2, 258, [0, 0], 0, depthwise=True), tmp_path)
    assert f"(output channel 0) can reach {TERM * 258 * 258:,}" in line
    assert "66,564 products" in line


def test_requantization_left_shift_is_checked(tmp_path):
    """A real multiplier of 128 (shift 8): 1000 products reach 32,385,000, times 2^8 leaves
    int32 in MultiplyByQuantizedMultiplier's left shift (TFLM: an int32 multiply)."""
    g = fc_graph(1000, [0, 0])
    m, s = arith.quantize_multiplier(128.0)
    assert s == 8
    node = g.nodes[0]
    node.attrs.update({"multiplier": (m, m), "shift": (s, s)})
    node.result.type = TensorType("i8", (1, 2), PerTensor(X_SCALE * W_SCALE / 128.0, 0))
    line = refusal(g, tmp_path)
    assert "the requantization (accumulator x 2^8) (output channel 0) can reach " \
        f"{32_385_000 * 256:,}" in line


# -- pooling, mean, add, softmax ----------------------------------------------------------------


def pool_graph(kh: int, kw: int) -> Graph:
    g = Graph("pool")
    q = PerTensor(0.1, 3)
    x = g.add_input(TensorType("i8", (1, kh, kw, 1), q), "x")
    node = Node("qavg_pool", [x], [TensorType("i8", (1, 1, 1, 1), q)],
                {"kernel": (kh, kw), "strides": (1, 1)}, loc="pool")
    g.add_output(g.append(node).result, "y")
    return g


@pytest.mark.slow
def test_avg_pool_window_of_2_to_the_24_is_exact_under_ubsan(tmp_path):
    """4096 x 4096 = 2^24 inputs of -128 sum to -2^31 exactly (TFLM and the kernel sum the
    raw int8 values): the lowest int32."""
    feeds = np.stack([np.full((1, 4096, 4096, 1), -128, np.int8),
                      np.full((1, 4096, 4096, 1), 127, np.int8)])
    assert int(feeds[0].astype(np.int64).sum()) == INT32_MIN
    graph = pool_graph(4096, 4096)
    compile_model(graph, tmp_path / "out", "net", "host")
    got = run_host(tmp_path / "out", {"x": feeds}, sanitize=True, batch=True)["y"]
    assert got.reshape(-1).tolist() == [-128, 127]  # the means of constant windows


def test_avg_pool_window_past_2_to_the_24_is_refused(tmp_path):
    line = refusal(pool_graph(4096, 4097), tmp_path)
    assert "node 'pool' (qavg_pool): error: int32 overflow: the window sum can reach " \
        f"{-128 * 4096 * 4097:,}, beyond -2^31" in line


def test_mean_sum_is_checked(tmp_path):
    """qmean's sum of x - x_zp (255 per input at x_zp = -128, over H * W), then the left
    shift of its requantization (a real multiplier of 1 is 2^30 * 2^1)."""
    def mean_graph(h: int, out_scale: float) -> Graph:
        g = Graph("mean")
        x = g.add_input(TensorType("i8", (1, h, h, 1), PerTensor(0.1, X_ZP)), "x")
        m, s = arith.quantize_multiplier(0.1 / out_scale)
        node = Node("qmean", [x], [TensorType("i8", (1, 1, 1, 1), PerTensor(out_scale, 0))],
                    {"x_zp": X_ZP, "multiplier": (m,), "shift": (s,)}, loc="mean")
        g.add_output(g.append(node).result, "y")
        return g

    fits = overflow.node_bounds(mean_graph(2901, 0.2).nodes[0])
    assert max(b.hi for b in fits) == 255 * 2901 * 2901 <= INT32_MAX
    line = refusal(mean_graph(2902, 0.2), tmp_path)
    assert f"the sum can reach {255 * 2902 * 2902:,}" in line
    line = refusal(mean_graph(2901, 0.1), tmp_path)
    assert f"the requantization (accumulator x 2^1) can reach {2 * 255 * 2901 * 2901:,}" in line


def add_graph(left_shift: int) -> Graph:
    g = Graph("add")
    qa, qb, qo = PerTensor(0.5, X_ZP), PerTensor(0.5, X_ZP), PerTensor(1.0, 0)
    a = g.add_input(TensorType("i8", (1, 4), qa), "x")
    b = g.add_input(TensorType("i8", (1, 4), qb), "b")
    params = add_params(qa.scale, qb.scale, qo.scale, left_shift)
    node = Node("qadd", [a, b], [TensorType("i8", (1, 4), qo)],
                {"a_zp": X_ZP, "b_zp": X_ZP, "out_zp": 0, **params}, loc="add")
    g.add_output(g.append(node).result, "y")
    return g


@pytest.mark.slow
def test_add_with_left_shift_23_is_exact_under_ubsan(tmp_path):
    """TFLM's add shifts x - x_zp (up to 255) left by left_shift in int32: 255 * 2^23 fits,
    and so does the sum of the two scaled halves."""
    graph = add_graph(23)
    steps = overflow.node_bounds(graph.nodes[0])
    assert steps[0].hi == 255 << 23 and all(s.fits for s in steps)
    reference = parse(print_graph(graph))
    compile_model(graph, tmp_path / "out", "net", "host")
    xs = np.array([[[127, -128, 127, 0]]] * 2, np.int8)
    bs = np.array([[[127, -128, -128, 5]], [[127, 127, 0, -1]]], np.int8)
    got = run_host(tmp_path / "out", {"x": xs, "b": bs}, sanitize=True, batch=True)["y"]
    for i in range(2):
        want = interp.run(reference, {"x": xs[i], "b": bs[i]})["y"]
        assert got[i].tobytes() == want.tobytes()
        exact = 0.5 * (xs[i].astype(np.int64) - X_ZP) + 0.5 * (bs[i].astype(np.int64) - X_ZP)
        assert np.abs(got[i] - np.clip(exact, -128, 127)).max() <= 1


def test_add_with_left_shift_24_is_refused(tmp_path):
    line = refusal(add_graph(24), tmp_path)
    assert "the input a shifted left by 24 can reach 4,278,190,080" in line


def test_softmax_row_of_4096_is_refused(tmp_path):
    def softmax_graph(n: int) -> Graph:
        g = Graph("sm")
        x = g.add_input(TensorType("i8", (1, n), PerTensor(0.1, 0)), "x")
        params = arith.softmax_int8_params(0.1)
        node = Node("qsoftmax", [x], [TensorType("i8", (1, n), PerTensor(1 / 256, -128))],
                    {k: int(params[k]) for k in ("input_multiplier", "input_left_shift",
                                                 "diff_min")}, loc="softmax")
        g.add_output(g.append(node).result, "y")
        return g

    assert [b.hi for b in overflow.node_bounds(softmax_graph(4095).nodes[0])] == [4095 << 19]
    line = refusal(softmax_graph(4096), tmp_path)
    assert f"the sum of exps (Q12.19) can reach {4096 << 19:,}" in line


# -- the bounds are attained, and real models pass -------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_final_bounds_are_attained_by_an_extreme_input(seed):
    """dot_bounds' final range is the accumulator of the input at the matching end of each
    weight's sign: never loose, never short."""
    rng = np.random.default_rng(seed)
    o, k = int(rng.integers(1, 5)), int(rng.integers(1, 60))
    w = rng.integers(-128, 128, (o, k)).astype(np.int64)
    b = rng.integers(-10**6, 10**6, o).astype(np.int64)
    z = int(rng.integers(-128, 128))
    lo, hi, f_lo, f_hi = overflow.dot_bounds(w, k, b, z, o)
    x_hi = np.where(w > 0, 127, -128)
    x_lo = np.where(w > 0, -128, 127)
    assert (b + ((x_hi - z) * w).sum(axis=1)).tolist() == f_hi.tolist()
    assert (b + ((x_lo - z) * w).sum(axis=1)).tolist() == f_lo.tolist()
    # the hull holds every kernel partial sum: x * w terms from the folded bias b - z sum(w)
    folded = b - z * w.sum(axis=1)
    assert (lo <= np.minimum(folded, 0) + (x_lo * w).sum(axis=1)).all()
    assert (hi >= np.maximum(folded, 0) + (x_hi * w).sum(axis=1)).all()
    assert (lo <= f_lo).all() and (hi >= f_hi).all()


# The widest int32 step (bits, sign included) of each shared model's int8 layers. VWW has
# dead channels (all-zero weights) whose biases sit near the limits: about 2^30 in the
# TFLite model (TFLite's converter keeps biases in the middle half of int32), -2,147,269,144
# (214,504 short of -2^31) in the QDQ export; the check accepts them, as it must (a zero
# weight adds nothing to the bias).
SHARED = {"ad_int8.tflite": 22, "kws_int8.tflite": 24, "resnet8_int8.tflite": 29,
          "vww_int8.tflite": 32, "ad_qdq.onnx": 24, "kws_qdq.onnx": 21,
          "resnet8_qdq.onnx": 29, "vww_qdq.onnx": 32}


@pytest.mark.slow
@pytest.mark.parametrize("model", SHARED)
def test_shared_models_pass_the_check(model, tmp_path):
    from compiler.cli import load_model
    from compiler.pipeline import Instrumentation

    inst = Instrumentation()
    graph = load_model(str(MODELS / model))
    # prune=None: keep the dead channels (the check must accept them as they are)
    compile_model(graph, tmp_path / "out", "net", "cortex-m4", instrument=inst, prune=None)
    stats = next(s for name, s in inst.stats if name == "lower-c")
    assert stats["int32-bits"] == SHARED[model]


# -- quantized biases (PTQ) -----------------------------------------------------------------------


@pytest.mark.parametrize("per_channel", [True, False])
def test_ptq_keeps_biases_within_2_to_the_30(per_channel):
    """A channel whose bias is huge next to its weights (here 10^6 on weights of 10^-3,
    inputs in [-1, 1]): at the weights' own scale the int32 bias would be ~10^13.
    PTQ coarsens that weight scale instead (TFLite's AdjustWeightsForBiasScale), per channel
    or, per tensor, for the whole tensor, so |bias| <= 2^30 and every int32 step fits; the
    int8 layer still computes the float one within its output resolution."""
    from passes.quantize import quantize_graph

    g = Graph("ptq")
    x = g.add_input(TensorType("f32", (1, 8)), "x")
    rng = np.random.default_rng(1)
    w = np.stack([rng.uniform(-1, 1, 8), rng.uniform(-1e-3, 1e-3, 8)]).astype(np.float32)
    b = np.array([0.25, 1e6], np.float32)
    node = Node("gemm", [x, g.add_constant(w, "w"), g.add_constant(b, "b")],
                [TensorType("f32", (1, 2))], {"trans_b": True}, loc="fc")
    g.add_output(g.append(node).result, "y")
    samples = [{"x": rng.uniform(-1, 1, (1, 8)).astype(np.float32)} for _ in range(16)]
    samples.append({"x": np.array([[-1, 1] * 4], np.float32)})
    float_graph = parse(print_graph(g))
    quantize_graph(g, samples, per_channel=per_channel)
    fc = next(n for n in g.nodes if n.op == "qfully_connected")
    bias = fc.operands[2].data.astype(np.int64)
    assert 2**29 < np.abs(bias).max() <= 2**30 * (1 + 2**-23)  # (float32 scales round)
    assert overflow.check_node(fc) <= 32
    wq = fc.operands[1].type.quant
    x_scale = fc.operands[0].type.quant.scale
    scales = np.asarray(wq.scales if per_channel else (wq.scale,) * 2)
    assert (scales >= 1e6 / (x_scale * 2**30) * (1 - 1e-6))[1 if per_channel else 0]
    # the weights as quantized read back as the float ones (within half a step)
    assert np.all(np.abs(fc.operands[1].data * scales[:, None] - w) <= scales[:, None] / 2 + 1e-9)
    out_scale = fc.result.type.quant.scale if fc.result.type.quant else None
    for s in samples[-3:]:
        want = interp.run(float_graph, s)["y"]
        got = interp.run(g, s)["y"]
        step = out_scale or np.abs(want).max() / 127
        assert np.abs(got - want).max() <= 3 * step


def test_qdq_float_bias_that_does_not_fit_is_refused(tmp_path):
    """A QDQ model fixes its weight scales; a float bias (not dequantized from int32) that
    does not fit int32 at input scale x weight scale is refused with one line (exit code 3),
    not clamped as TFLite's quantizer would. The scales of kws_qdq's first conv are about
    1e-4, so a bias of 1e6 would need ~10^10."""
    from onnx import numpy_helper

    model = onnx.load(str(MODELS / "kws_qdq.onnx"))
    conv = next(n for n in model.graph.node if n.name == "conv_0")
    model.graph.initializer.append(numpy_helper.from_array(np.full(64, 1e6, np.float32),
                                                           "big_bias"))
    conv.input[2] = "big_bias"
    bad = tmp_path / "bad.onnx"
    onnx.save(model, bad)
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", str(bad), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "node 'conv_0'" in proc.stderr
    assert "the bias does not fit int32 at scale input x weight" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_non_constant_weights_are_bounded_by_the_int8_range(tmp_path):
    """A weight known only as int8 counts at its worst. 1000 products, z = -128, biases 7
    and -7: TFLM's (x - z) * w lies in [255 * -128, 255 * 127] = [-32640, 32385] each; the
    kernels' x * w in [-16256, 16384], on top of the folded bias b - z * sum(w) with sum(w)
    in [-128000, 127000]. lower-c then refuses such a layer anyway (its kernels take
    constant weights), with one line, exit code 4."""
    lo, hi, f_lo, f_hi = overflow.dot_bounds(None, 1000, np.array([7, -7]), X_ZP, 2)
    assert f_lo.tolist() == [7 - 32_640_000, -7 - 32_640_000]     # TFLM's final value
    assert f_hi.tolist() == [7 + 32_385_000, -7 + 32_385_000]
    # partial sums: TFLM's before its bias, the kernels' with the folded bias
    # (7 + 128 * 127000 = 16,256,007 plus 1000 * 16384, and so on)
    assert lo.tolist() == [-32_640_000, -32_640_007]
    assert hi.tolist() == [16_256_007 + 16_384_000, 16_255_993 + 16_384_000]
    g = Graph("nc")
    x = g.add_input(TensorType("i8", (1, 1000), PerTensor(X_SCALE, X_ZP)), "x")
    w = g.add_input(TensorType("i8", (2, 1000), PerTensor(W_SCALE, 0)), "w")
    m, s = arith.quantize_multiplier(X_SCALE * W_SCALE / OUT_SCALE)
    node = Node("qfully_connected", [x, w], [TensorType("i8", (1, 2), PerTensor(OUT_SCALE, 0))],
                {"x_zp": X_ZP, "multiplier": (m,), "shift": (s,)}, loc="fc")
    g.add_output(g.append(node).result, "y")
    assert overflow.check_node(g.nodes[0]) == 26  # 32,640,007 < 2^25: 25 bits and a sign
    line = refusal(g, tmp_path)
    assert line == ("node 'fc' (qfully_connected): error: qfully_connected with weights or "
                    "bias computed at run time has no C kernel; the int8 kernels take "
                    "constant weights and biases")
