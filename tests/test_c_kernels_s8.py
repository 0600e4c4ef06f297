"""The int8 C kernels (backends/c/runtime/edgeir_s8.c) against the golden numpy ops.

Every kernel is built into a shared library, called through ctypes and compared bit for
bit with ``compiler.ops.get(<qop>).evaluate`` on many seeded random cases (shapes, strides,
dilations, asymmetric paddings, groups, depth multipliers, per-channel multipliers from real
scales, extreme zero points, activation ranges, broadcasting, all 256 inputs of the
fixed-point activations). The library is built once per flag set (``BUILDS``): the portable
C (-O2) and, on an x86-64 host with AVX2, -O3 -mavx2 (the AVX2 fast paths) and
-O3 -march=native (with VNNI and AVX-512 where the host has them), the latter also with tiny
scratch buffers, so every comparison runs against each code path. A stand-alone C program
(tests/c/s8_edge_cases.c) runs the kernels on edge cases under ASan + UBSan, built portable
and with the fast paths; every build must print the same checksum of its outputs.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

import ckernels as ck
import numpy as np
import pytest

from compiler import ops
from compiler.ops.base import Attrs
from compiler.quant import arith

S8_SOURCE = ck.runtime_source("edgeir_s8.c")
EDGE_CASES = Path(__file__).resolve().parent / "c" / "s8_edge_cases.c"
I8_EXTREMES = (-128, 127, 0, -1, 1)


def _native_macros() -> set[str]:
    """The x86 feature macros gcc -march=native defines on this host (empty elsewhere)."""
    try:
        proc = subprocess.run([ck.CC, "-march=native", "-dM", "-E", "-x", "c", os.devnull],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if proc.returncode != 0:
        return set()
    wanted = {"__AVX2__", "__AVXVNNI__", "__AVX512VNNI__", "__AVX512VL__"}
    return {line.split()[1] for line in proc.stdout.splitlines()
            if len(line.split()) > 1 and line.split()[1] in wanted}


NATIVE = _native_macros()
HAS_AVX2 = "__AVX2__" in NATIVE
X86_FLAGS = {"avx2": ("-O3", "-mavx2", "-mfma"), "native": ("-O3", "-march=native"),
             "native-small": ("-O3", "-march=native", "-DEDGEIR_X86_WBUF=4096",
                              "-DEDGEIR_X86_XBUF=4096")}
# The portable C, the AVX2 paths (vpmaddwd), whatever -march=native enables here (VNNI:
# vpdpbusd / vpdpwssd, AVX-512 on hosts that have them), and the same with tiny scratch
# buffers (weights interleaved at each step, inputs converted in many bands, fallbacks).
BUILDS = {"portable": ()} | (X86_FLAGS if HAS_AVX2 else {})


@pytest.fixture(scope="session", params=list(BUILDS))
def k(request, tmp_path_factory) -> ck.Kernels:
    lib = ck.build_library([S8_SOURCE], tmp_path_factory.mktemp(f"ckernels_s8_{request.param}"),
                           f"edgeir_s8_{request.param}", BUILDS[request.param])
    return ck.Kernels(lib, ck.S8_KERNELS)


def golden(name: str, inputs: list[np.ndarray], **attrs) -> np.ndarray:
    op = ops.get(name)
    values = {n: a.default for n, a in op.attrs.items() if not a.required}
    values.update(attrs)
    return op.evaluate(Attrs(values), inputs)[0]


def wrap32(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def i8(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def zero_point(rng: np.random.Generator) -> int:
    if rng.random() < 0.5:
        return int(rng.choice(I8_EXTREMES))
    return int(rng.integers(-128, 128))


def act_range(rng: np.random.Generator) -> tuple[int, int]:
    r = rng.random()
    if r < 0.5:
        return -128, 127
    if r < 0.7:  # ReLU-like
        return int(rng.integers(-128, 20)), 127
    lo, hi = sorted(int(v) for v in rng.integers(-128, 128, size=2))
    return lo, hi


def real_scales(rng: np.random.Generator, n: int, lo: float = 1e-5, hi: float = 4.0):
    """Requantization multipliers/shifts from random real scales (log-uniform)."""
    reals = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))
    return arith.quantize_multiplier_array(reals)


def assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.shape, want.shape)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        first = tuple(bad[0])
        raise AssertionError(f"{what}: {len(bad)} mismatches, first at {first}: "
                             f"C {got[first]} vs golden {want[first]}")


# ---- convolution ------------------------------------------------------------------------------


def _conv_geometry(rng: np.random.Generator):
    while True:
        kh, kw = [(1, 1), (3, 3), (5, 5), (1, 3), (3, 1), (2, 2), (3, 3)][rng.integers(7)]
        sh, sw = (int(v) for v in rng.integers(1, 3, size=2))
        dh, dw = (int(v) for v in (rng.integers(1, 3, size=2) if rng.random() < 0.4 else (1, 1)))
        pads = tuple(int(v) for v in rng.integers(0, 3, size=4))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        if h + pads[0] + pads[2] > (kh - 1) * dh and w + pads[1] + pads[3] > (kw - 1) * dw:
            return (kh, kw), (sh, sw), (dh, dw), pads, h, w


def _conv_case(k, rng: np.random.Generator, kind: str) -> None:
    (kh, kw), strides, dilations, pads, h, w = _conv_geometry(rng)
    n = int(rng.integers(1, 3))
    if kind == "depthwise":
        c = int(rng.integers(1, 10)) if rng.random() < 0.8 else int(rng.integers(30, 70))
        mult = int(rng.choice([1, 1, 2, 3]))
        o, groups, cin_g = c * mult, c, 1
    elif kind == "depthwise_wide":  # multiplier 1 (the x86 path): 8/16-channel blocks, tails
        c = int(rng.choice([8, 16, 24, 32, 40, 64])) if rng.random() < 0.5 else \
            int(rng.integers(1, 80))
        o, groups, cin_g = c, c, 1
    elif kind == "grouped":
        groups = int(rng.integers(2, 5))
        cin_g, cout_g = (int(v) for v in rng.integers(1, 5, size=2))
        c, o = groups * cin_g, groups * cout_g
    elif kind == "dense_wide":  # 16-channel output blocks, narrow and partial ones
        c = int(rng.choice([3, 4, 8, 16, 32, 64])) if rng.random() < 0.5 else \
            int(rng.integers(1, 70))
        o = int(rng.choice([8, 16, 24, 32, 48])) if rng.random() < 0.5 else \
            int(rng.integers(1, 70))
        groups, cin_g = 1, c
    else:
        c = int(rng.integers(1, 13)) if rng.random() < 0.8 else int(rng.integers(16, 48))
        o = int(rng.integers(1, 11))
        groups, cin_g = 1, c
    x = i8(rng, (n, h, w, c))
    wt = i8(rng, (o, kh, kw, cin_g))
    big = rng.random() < 0.1
    bias = rng.integers(-(2**30) if big else -(2**18), 2**30 if big else 2**18, size=o)
    bias = bias.astype(np.int32)
    x_zp, out_zp = zero_point(rng), zero_point(rng)
    if rng.random() < 0.3:  # per-tensor requantization
        m, s = real_scales(rng, 1)
        mult_a, shift_a = np.repeat(m, o), np.repeat(s, o)
    else:
        m, s = real_scales(rng, o, 1e-5, 0.05 if not big else 1e-3)
        mult_a, shift_a = m, s
    act_min, act_max = act_range(rng)
    want = golden("qconv2d", [x, wt, bias], strides=strides, dilations=dilations, pads=pads,
                  group=groups, x_zp=x_zp, out_zp=out_zp, multiplier=tuple(int(v) for v in m),
                  shift=tuple(int(v) for v in s), act_min=act_min, act_max=act_max)
    # lower-c's folding: bias' = bias - x_zp * sum(w) (int32 wrap), padding taps read x_zp
    folded = wrap32(bias.astype(np.int64) - x_zp * wt.astype(np.int64).reshape(o, -1).sum(1))
    params = ck.ConvS8Params(ck.window(x.shape, want.shape, (kh, kw), strides, dilations, pads),
                             groups, x_zp, out_zp, act_min, act_max)
    got = np.zeros_like(want)
    mult_a = np.ascontiguousarray(mult_a, np.int32)
    shift_a = np.ascontiguousarray(shift_a, np.int32)
    what = (f"{kind} conv x{x.shape} w{wt.shape} s{strides} d{dilations} p{pads} g{groups} "
            f"zp{x_zp},{out_zp}")
    if kind.startswith("depthwise"):
        w_c = np.ascontiguousarray(wt[..., 0].transpose(1, 2, 0))  # [kh][kw][out_c]
        k.edgeir_depthwise_conv_s8(params, ck.ptr(x), ck.ptr(w_c), ck.ptr(folded),
                                   ck.ptr(mult_a), ck.ptr(shift_a), ck.ptr(got))
    else:
        if kind != "dense_wide":
            k.edgeir_conv_s8(params, ck.ptr(x), ck.ptr(wt), ck.ptr(folded), ck.ptr(mult_a),
                             ck.ptr(shift_a), ck.ptr(got))
            assert_same(got, want, what)
        if groups == 1:  # what lower-c picks for dense convs: weights [kh][kw][in_c][out_c]
            got = np.zeros_like(want)
            w_hwio = np.ascontiguousarray(wt.transpose(1, 2, 3, 0))
            k.edgeir_conv_s8_hwio(params, ck.ptr(x), ck.ptr(w_hwio), ck.ptr(folded),
                                  ck.ptr(mult_a), ck.ptr(shift_a), ck.ptr(got))
            what = "hwio " + what
    assert_same(got, want, what)


@pytest.mark.parametrize("kind", ["dense", "grouped", "depthwise", "dense_wide",
                                  "depthwise_wide"])
def test_conv(k, kind):
    rng = np.random.default_rng({"dense": 1, "grouped": 2, "depthwise": 3, "dense_wide": 17,
                                 "depthwise_wide": 18}[kind])
    for _ in range(150 if kind in ("dense", "grouped", "depthwise") else 100):
        _conv_case(k, rng, kind)


def test_conv_zp_folded_golden_and_null_bias(k):
    """The golden model's zp_folded mode agrees; a NULL bias with x_zp = 0 is a zero bias."""
    rng = np.random.default_rng(4)
    x, wt = i8(rng, (1, 6, 7, 5)), i8(rng, (4, 3, 3, 5))
    m, s = real_scales(rng, 4, 1e-4, 0.02)
    attrs = dict(pads=(1, 2, 1, 0), multiplier=tuple(int(v) for v in m),
                 shift=tuple(int(v) for v in s))
    want = golden("qconv2d", [x, wt], **attrs)
    params = ck.ConvS8Params(ck.window(x.shape, want.shape, (3, 3), pads=(1, 2, 1, 0)), 1, 0, 0,
                             -128, 127)
    got = np.zeros_like(want)
    k.edgeir_conv_s8(params, ck.ptr(x), ck.ptr(wt), None, ck.ptr(m), ck.ptr(s), ck.ptr(got))
    assert_same(got, want, "conv, NULL bias")

    bias = wrap32(rng.integers(-1000, 1000, 4) - 77 * wt.astype(np.int64).reshape(4, -1).sum(1))
    want = golden("qconv2d", [x, wt, bias], x_zp=77, zp_folded=True, **attrs)
    params.in_zp = 77
    k.edgeir_conv_s8(params, ck.ptr(x), ck.ptr(wt), ck.ptr(bias), ck.ptr(m), ck.ptr(s),
                     ck.ptr(got))
    assert_same(got, want, "conv, zp_folded golden")


I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _requant_probe(rng: np.random.Generator, n: int):
    """n (acc, multiplier, shift) triples that exercise edgeir_mbqm everywhere: shifts in
    [-31, 30] (left shifts wrap), multipliers from real scales and over all of int32
    (INT32_MIN, negative, 0, INT32_MAX), accumulators at the rounding boundaries of both
    roundings (SRDHM half up, RoundingDivideByPOT half away), near the int8 range after
    scaling, at the int32 extremes, and INT32_MIN * INT32_MIN (saturating)."""
    shift = rng.integers(-31, 31, n)
    mult = rng.integers(2**30, 2**31, n)
    pick = rng.random(n)
    mult = np.where(pick < 0.15, rng.integers(I32_MIN, I32_MAX, n, endpoint=True), mult)
    special = rng.choice([I32_MIN, I32_MIN + 1, I32_MAX, 0, 1, -1, 2**30], n)
    mult = np.where((pick >= 0.15) & (pick < 0.22), special, mult)
    acc = []
    for m, sh in zip(mult.tolist(), shift.tolist()):
        r = rng.random()
        if r < 0.2 or m == 0:
            a = int(rng.integers(I32_MIN, I32_MAX, endpoint=True))
        elif r < 0.3:
            a = int(rng.choice([I32_MIN, I32_MIN + 1, I32_MAX, I32_MAX - 1, 0, -1, 1]))
        else:  # acc * m * 2^(sh - 31) at a rounding boundary t + 1/2 (+- a few units)
            t = int(rng.integers(-140, 141))
            num = (2 * t + 1) * 2**30 * (2**(-sh) if sh < 0 else 1)
            a = num // (m * (2**sh if sh > 0 else 1)) + int(rng.integers(-3, 4))
        acc.append(min(max(a, I32_MIN), I32_MAX))
    acc, mult, shift = np.array(acc, np.int32), mult.astype(np.int32), shift.astype(np.int32)
    # exact ties of both roundings: multipliers near 1/2 and 3/4, small accumulators
    ties = rng.random(n) < 0.2
    mult = np.where(ties, rng.choice([2**30, 2**30 - 1, 2**30 + 1, 3 * 2**29, 3 * 2**29 - 1],
                                     n), mult).astype(np.int32)
    shift = np.where(ties, rng.integers(-4, 1, n), shift).astype(np.int32)
    acc = np.where(ties, rng.integers(-300, 301, n), acc).astype(np.int32)
    # SRDHM's tie and its neighbours: acc * m = t * 2^31 + 2^30 + {-1, 0, 1} (small t, odd acc)
    for i in np.flatnonzero(rng.random(n) < 0.15):
        a = int(rng.integers(1, 100)) | 1
        a = -a if rng.random() < 0.5 else a
        rho = 2**30 + int(rng.integers(-1, 2))
        t = (-rho * pow(2**31, -1, abs(a))) % abs(a)  # a | t 2^31 + rho
        t -= abs(a) * int(rng.integers(0, 2))
        m = (t * 2**31 + rho) // a
        if I32_MIN <= m <= I32_MAX:
            acc[i], mult[i], shift[i] = a, m, int(rng.integers(-2, 1))
    # the saturation case, for several shifts
    k = min(n, 8)
    acc[:k], mult[:k] = I32_MIN, I32_MIN
    shift[:k] = [0, -1, -2, -5, -30, -31, 0, 1][:k]
    return acc, mult, shift


def test_requantization_probe(k):
    """edgeir_mbqm through every kernel's requantization (the vector code of the x86 paths
    included): with a zero input the accumulator is the bias, so each output channel
    requantizes a chosen (acc, multiplier, shift)."""
    rng = np.random.default_rng(19)
    for case in range(6):
        n = [1000, 37, 16, 8, 255, 600][case]
        acc, mult, shift = _requant_probe(rng, n)
        out_zp = zero_point(rng) if case else -128
        # The kernels clamp the requantized value before adding the output zero point, the
        # golden model adds first in int32: they differ only where that addition overflows
        # int32 (a requantized value within 127 of an int32 limit). Keep out of it.
        r = arith.multiply_by_quantized_multiplier(acc, mult, shift).astype(np.int64)
        acc = np.where((r + out_zp > I32_MAX) | (r + out_zp < I32_MIN), 0, acc).astype(np.int32)
        attrs = dict(out_zp=out_zp, multiplier=tuple(int(v) for v in mult),
                     shift=tuple(int(v) for v in shift), act_min=-128, act_max=127)
        mult_c, shift_c = np.ascontiguousarray(mult), np.ascontiguousarray(shift)
        # 1x1 convolution of one pixel with one input channel of 0
        x = np.zeros((1, 1, 1, 1), np.int8)
        wt = i8(rng, (n, 1, 1, 1))
        want = golden("qconv2d", [x, wt, acc], **attrs)
        params = ck.ConvS8Params(ck.window(x.shape, want.shape, (1, 1)), 1, 0, out_zp, -128,
                                 127)
        for fn, w_c in ((k.edgeir_conv_s8_hwio, np.ascontiguousarray(wt.reshape(1, n))),
                        (k.edgeir_conv_s8, wt)):
            got = np.zeros_like(want)
            fn(params, ck.ptr(x), ck.ptr(w_c), ck.ptr(acc), ck.ptr(mult_c), ck.ptr(shift_c),
               ck.ptr(got))
            assert_same(got, want, f"requantization probe (conv) case {case}")
        # depthwise 1x1 over n channels of 0 (two pixels)
        xd = np.zeros((1, 1, 2, n), np.int8)
        wd = i8(rng, (n, 1, 1, 1))
        want = golden("qconv2d", [xd, wd, acc], group=n, **attrs)
        params = ck.ConvS8Params(ck.window(xd.shape, want.shape, (1, 1)), n, 0, out_zp, -128,
                                 127)
        got = np.zeros_like(want)
        k.edgeir_depthwise_conv_s8(params, ck.ptr(xd), ck.ptr(np.ascontiguousarray(wd.reshape(n))),
                                   ck.ptr(acc), ck.ptr(mult_c), ck.ptr(shift_c), ck.ptr(got))
        assert_same(got, want, f"requantization probe (depthwise) case {case}")
        # fully connected with inputs of 0
        xf = np.zeros((2, 3), np.int8)
        wf = i8(rng, (n, 3))
        want = golden("qfully_connected", [xf, wf, acc], **attrs)
        got = np.zeros_like(want)
        k.edgeir_fc_s8(ck.FcS8Params(2, 3, n, out_zp, -128, 127), ck.ptr(xf), ck.ptr(wf),
                       ck.ptr(acc), ck.ptr(mult_c), ck.ptr(shift_c), ck.ptr(got))
        assert_same(got, want, f"requantization probe (fc) case {case}")


def _hwio_case(k, rng, x_shape, o, kernel, strides=(1, 1), dilations=(1, 1),
               pads=(0, 0, 0, 0)) -> None:
    x = i8(rng, x_shape)
    wt = i8(rng, (o, *kernel, x_shape[3]))
    bias = rng.integers(-(2**20), 2**20, size=o).astype(np.int32)
    x_zp, out_zp = zero_point(rng), zero_point(rng)
    m, s = real_scales(rng, o, 1e-5, 0.01)
    act_min, act_max = act_range(rng)
    want = golden("qconv2d", [x, wt, bias], strides=strides, dilations=dilations, pads=pads,
                  x_zp=x_zp, out_zp=out_zp, multiplier=tuple(int(v) for v in m),
                  shift=tuple(int(v) for v in s), act_min=act_min, act_max=act_max)
    folded = wrap32(bias.astype(np.int64) - x_zp * wt.astype(np.int64).reshape(o, -1).sum(1))
    params = ck.ConvS8Params(ck.window(x.shape, want.shape, kernel, strides, dilations, pads),
                             1, x_zp, out_zp, act_min, act_max)
    got = np.zeros_like(want)
    k.edgeir_conv_s8_hwio(params, ck.ptr(x), ck.ptr(np.ascontiguousarray(wt.transpose(1, 2, 3, 0))),
                          ck.ptr(folded), ck.ptr(m), ck.ptr(s), ck.ptr(got))
    assert_same(got, want, f"hwio conv x{x.shape} w{wt.shape} s{strides} d{dilations} p{pads}")


def test_conv_hwio_large(k):
    """Shapes at and past the x86 path's buffers: weights beyond its packing buffer (the
    rest read from the HWIO tensor), inputs converted in several bands, a row of 4 pixels
    longer than its input buffer and more output channels than its tables (both fall back
    to the portable code), im2col with a long reduction; pixel counts not a multiple of 4."""
    rng = np.random.default_rng(20)
    _hwio_case(k, rng, (2, 5, 5, 64), 130, (3, 3), pads=(1, 1, 1, 1))     # 75 KB of weights
    _hwio_case(k, rng, (1, 4, 3, 40), 250, (3, 3), (2, 1), pads=(1, 0, 2, 1))
    _hwio_case(k, rng, (1, 2, 3, 2400), 20, (1, 1))                       # dense rows
    _hwio_case(k, rng, (1, 1, 2, 8200), 5, (1, 1))                        # 4 rows > 16 KB
    _hwio_case(k, rng, (1, 1, 2, 3), 1030, (1, 1))                        # out_c > 1024
    _hwio_case(k, rng, (3, 7, 6, 16), 33, (1, 1))                         # dense rows
    _hwio_case(k, rng, (1, 9, 9, 6), 17, (3, 3), (1, 1), (2, 2), (2, 2, 2, 2))
    _hwio_case(k, rng, (2, 70, 65, 3), 9, (3, 3), (2, 2), pads=(0, 0, 1, 1))   # bands
    _hwio_case(k, rng, (1, 40, 130, 24), 8, (3, 3), (1, 1), pads=(1, 1, 1, 1))  # bands
    _hwio_case(k, rng, (1, 6, 5, 2), 20, (5, 5), pads=(2, 2, 2, 2))        # im2col
    _hwio_case(k, rng, (1, 3, 3, 1), 16, (30, 30), pads=(14, 14, 15, 15))  # > 64 taps


def test_depthwise_large(k):
    """Depthwise shapes at and past the x86 path's limits: many channels (past its
    precomputed blocks), wide rows (past its row buffer), tall kernels (past its limit)."""
    rng = np.random.default_rng(21)
    for x_shape, kernel, strides, dil, pads in [
            ((1, 5, 4, 300), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
            ((1, 3, 70, 130), (3, 3), (1, 2), (1, 1), (1, 1, 1, 1)),
            ((2, 20, 3, 9), (17, 1), (1, 1), (1, 1), (8, 0, 8, 0)),
            ((1, 11, 11, 24), (5, 5), (2, 2), (2, 2), (4, 3, 4, 3)),
            ((1, 6, 6, 8), (3, 3), (2, 2), (1, 1), (0, 0, 1, 1))]:
        c = x_shape[3]
        x = i8(rng, x_shape)
        wt = i8(rng, (c, *kernel, 1))
        bias = rng.integers(-(2**20), 2**20, size=c).astype(np.int32)
        x_zp, out_zp = zero_point(rng), zero_point(rng)
        m, s = real_scales(rng, c, 1e-4, 0.05)
        act_min, act_max = act_range(rng)
        want = golden("qconv2d", [x, wt, bias], strides=strides, dilations=dil, pads=pads,
                      group=c, x_zp=x_zp, out_zp=out_zp, multiplier=tuple(int(v) for v in m),
                      shift=tuple(int(v) for v in s), act_min=act_min, act_max=act_max)
        folded = wrap32(bias.astype(np.int64) - x_zp * wt.astype(np.int64).reshape(c, -1).sum(1))
        params = ck.ConvS8Params(ck.window(x.shape, want.shape, kernel, strides, dil, pads), c,
                                 x_zp, out_zp, act_min, act_max)
        got = np.zeros_like(want)
        w_c = np.ascontiguousarray(wt[..., 0].transpose(1, 2, 0))
        k.edgeir_depthwise_conv_s8(params, ck.ptr(x), ck.ptr(w_c), ck.ptr(folded), ck.ptr(m),
                                   ck.ptr(s), ck.ptr(got))
        assert_same(got, want, f"depthwise x{x.shape} k{kernel} s{strides} d{dil} p{pads}")


# ---- fully connected ----------------------------------------------------------------------------


def test_fully_connected(k):
    rng = np.random.default_rng(5)
    for _ in range(150):
        n, kk, o = int(rng.integers(1, 4)), int(rng.integers(1, 300)), int(rng.integers(1, 40))
        x, wt = i8(rng, (n, kk)), i8(rng, (o, kk))
        bias = rng.integers(-(2**20), 2**20, size=o).astype(np.int32)
        x_zp, out_zp = zero_point(rng), zero_point(rng)
        m, s = real_scales(rng, 1 if rng.random() < 0.3 else o, 1e-5, 0.05)
        act_min, act_max = act_range(rng)
        with_bias = rng.random() < 0.9 or x_zp != 0
        want = golden("qfully_connected", [x, wt, bias] if with_bias else [x, wt], x_zp=x_zp,
                      out_zp=out_zp, multiplier=tuple(int(v) for v in m),
                      shift=tuple(int(v) for v in s), act_min=act_min, act_max=act_max)
        folded = wrap32(bias.astype(np.int64) - x_zp * wt.astype(np.int64).sum(1))
        mult_a = np.ascontiguousarray(np.broadcast_to(m, (o,)), np.int32)
        shift_a = np.ascontiguousarray(np.broadcast_to(s, (o,)), np.int32)
        got = np.zeros_like(want)
        params = ck.FcS8Params(n, kk, o, out_zp, act_min, act_max)
        k.edgeir_fc_s8(params, ck.ptr(x), ck.ptr(wt), ck.ptr(folded) if with_bias else None,
                       ck.ptr(mult_a), ck.ptr(shift_a), ck.ptr(got))
        assert_same(got, want, f"fc {x.shape} x {wt.shape}")


def test_fully_connected_wide(k):
    """Longer rows and more outputs: the x86 path's 32/16-input steps, 4-row groups, tails."""
    rng = np.random.default_rng(22)
    for _ in range(40):
        n, kk = int(rng.integers(1, 4)), int(rng.integers(1, 700))
        o = int(rng.choice([1, 4, 15, 16, 17, 64, 100]))
        x, wt = i8(rng, (n, kk)), i8(rng, (o, kk))
        bias = rng.integers(-(2**20), 2**20, size=o).astype(np.int32)
        x_zp, out_zp = zero_point(rng), zero_point(rng)
        m, s = real_scales(rng, o, 1e-5, 0.02)
        act_min, act_max = act_range(rng)
        want = golden("qfully_connected", [x, wt, bias], x_zp=x_zp, out_zp=out_zp,
                      multiplier=tuple(int(v) for v in m), shift=tuple(int(v) for v in s),
                      act_min=act_min, act_max=act_max)
        folded = wrap32(bias.astype(np.int64) - x_zp * wt.astype(np.int64).sum(1))
        got = np.zeros_like(want)
        k.edgeir_fc_s8(ck.FcS8Params(n, kk, o, out_zp, act_min, act_max), ck.ptr(x), ck.ptr(wt),
                       ck.ptr(folded), ck.ptr(m), ck.ptr(s), ck.ptr(got))
        assert_same(got, want, f"fc {x.shape} x {wt.shape}")


# ---- add / mul ----------------------------------------------------------------------------------


def _broadcast_shapes(rng: np.random.Generator):
    rank = int(rng.integers(1, 5))
    out = [int(v) for v in rng.integers(1, 6, size=rank)]

    def operand() -> tuple[int, ...]:
        shape = [d if rng.random() < 0.6 else 1 for d in out]
        drop = int(rng.integers(0, rank + 1)) if rng.random() < 0.3 else 0
        return tuple(shape[drop:])

    a, b = operand(), operand()
    return tuple(np.broadcast_shapes(a, b)), a, b


def test_add(k):
    rng = np.random.default_rng(6)
    done = 0
    while done < 300:
        out_shape, a_shape, b_shape = _broadcast_shapes(rng)
        a_scale, b_scale = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), size=2))
        out_scale = max(a_scale, b_scale) * float(np.exp(rng.uniform(np.log(0.3), np.log(4))))
        p = ops.qnn.add_params(a_scale, b_scale, out_scale)
        if p["out_shift"] > 0:
            continue
        a, b = i8(rng, a_shape), i8(rng, b_shape)
        zps = dict(a_zp=zero_point(rng), b_zp=zero_point(rng), out_zp=zero_point(rng))
        act_min, act_max = act_range(rng)
        want = golden("qadd", [a, b], **zps, **p, act_min=act_min, act_max=act_max)
        params = ck.AddS8Params(ck.bcast4(out_shape, a_shape, b_shape), zps["a_zp"],
                                zps["b_zp"], zps["out_zp"], p["left_shift"], p["a_multiplier"],
                                p["a_shift"], p["b_multiplier"], p["b_shift"],
                                p["out_multiplier"], p["out_shift"], act_min, act_max)
        got = np.zeros(out_shape, np.int8)
        k.edgeir_add_s8(params, ck.ptr(a), ck.ptr(b), ck.ptr(got))
        assert_same(got, want.reshape(out_shape), f"add {a_shape} + {b_shape}")
        done += 1


def test_add_rows(k):
    """Adds with contiguous rows of >= 8 elements (the x86 path), dense (one long row) and
    broadcasting, and in place (the output is operand a)."""
    rng = np.random.default_rng(23)
    done = 0
    while done < 60:
        c = int(rng.choice([8, 9, 16, 31, 64]))
        out_shape = (int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 6)), c)
        a_shape = out_shape
        b_shape = out_shape if rng.random() < 0.5 else (1, 1, out_shape[2], c)
        a_scale, b_scale = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), size=2))
        out_scale = max(a_scale, b_scale) * float(np.exp(rng.uniform(np.log(0.3), np.log(4))))
        p = ops.qnn.add_params(a_scale, b_scale, out_scale)
        if p["out_shift"] > 0:
            continue
        a, b = i8(rng, a_shape), i8(rng, b_shape)
        zps = dict(a_zp=zero_point(rng), b_zp=zero_point(rng), out_zp=zero_point(rng))
        act_min, act_max = act_range(rng)
        want = golden("qadd", [a, b], **zps, **p, act_min=act_min, act_max=act_max)
        params = ck.AddS8Params(ck.bcast4(out_shape, a_shape, b_shape), zps["a_zp"],
                                zps["b_zp"], zps["out_zp"], p["left_shift"], p["a_multiplier"],
                                p["a_shift"], p["b_multiplier"], p["b_shift"],
                                p["out_multiplier"], p["out_shift"], act_min, act_max)
        got = np.zeros(out_shape, np.int8)
        k.edgeir_add_s8(params, ck.ptr(a), ck.ptr(b), ck.ptr(got))
        assert_same(got, want.reshape(out_shape), f"add {a_shape} + {b_shape}")
        k.edgeir_add_s8(params, ck.ptr(a), ck.ptr(b), ck.ptr(a))  # in place
        assert_same(a, want.reshape(out_shape), f"add in place {a_shape} + {b_shape}")
        done += 1


def test_mul(k):
    rng = np.random.default_rng(7)
    for _ in range(300):
        out_shape, a_shape, b_shape = _broadcast_shapes(rng)
        a, b = i8(rng, a_shape), i8(rng, b_shape)
        m, s = real_scales(rng, 1, 1e-6, 0.5 if rng.random() < 0.8 else 8.0)
        zps = dict(a_zp=zero_point(rng), b_zp=zero_point(rng), out_zp=zero_point(rng))
        act_min, act_max = act_range(rng)
        want = golden("qmul", [a, b], **zps, multiplier=(int(m[0]),), shift=(int(s[0]),),
                      act_min=act_min, act_max=act_max)
        params = ck.MulS8Params(ck.bcast4(out_shape, a_shape, b_shape), zps["a_zp"],
                                zps["b_zp"], zps["out_zp"], int(m[0]), int(s[0]), act_min,
                                act_max)
        got = np.zeros(out_shape, np.int8)
        k.edgeir_mul_s8(params, ck.ptr(a), ck.ptr(b), ck.ptr(got))
        assert_same(got, want.reshape(out_shape), f"mul {a_shape} * {b_shape}")


# ---- pooling and mean ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_pool(k, kind):
    rng = np.random.default_rng(8 if kind == "avg" else 9)
    for case in range(250):
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        strides = tuple(int(v) for v in rng.integers(1, 4, size=2))
        dil = (1, 1) if case % 5 else (2, 2)
        pads = (int(rng.integers(0, kh)), int(rng.integers(0, kw)), int(rng.integers(0, kh)),
                int(rng.integers(0, kw)))
        h = int(rng.integers(max(1, (kh - 1) * dil[0] + 1 - pads[0] - pads[2]), 12))
        w = int(rng.integers(max(1, (kw - 1) * dil[1] + 1 - pads[1] - pads[3]), 12))
        c = int(rng.integers(1, 12)) if rng.random() < 0.8 else int(rng.integers(30, 80))
        x = i8(rng, (int(rng.integers(1, 3)), h, w, c))
        act_min, act_max = act_range(rng)
        with np.errstate(divide="ignore", invalid="ignore"):  # all-padding windows
            want = golden(f"q{kind}_pool", [x], kernel=(kh, kw), strides=strides,
                          dilations=dil, pads=pads, act_min=act_min, act_max=act_max)
        params = ck.PoolS8Params(ck.window(x.shape, want.shape, (kh, kw), strides, dil, pads),
                                 act_min, act_max)
        got = np.zeros_like(want)
        getattr(k, f"edgeir_{kind}_pool_s8")(params, ck.ptr(x), ck.ptr(got))
        assert_same(got, want, f"{kind} pool x{x.shape} k{(kh, kw)} s{strides} d{dil} p{pads}")


def test_mean(k):
    rng = np.random.default_rng(10)
    for _ in range(150):
        n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 14)), int(rng.integers(1, 14))
        c = int(rng.integers(1, 80))
        x = i8(rng, (n, h, w, c))
        x_zp, out_zp = zero_point(rng), zero_point(rng)
        m, s = real_scales(rng, 1, 0.05, 20.0)
        want = golden("qmean", [x], x_zp=x_zp, out_zp=out_zp, multiplier=(int(m[0]),),
                      shift=(int(s[0]),))
        params = ck.MeanS8Params(n, h, w, c, x_zp, out_zp, int(m[0]), int(s[0]))
        got = np.zeros_like(want)
        k.edgeir_mean_s8(params, ck.ptr(x), ck.ptr(got))
        assert_same(got, want, f"mean {x.shape} zp {x_zp},{out_zp}")


# ---- softmax and the fixed-point activations ----------------------------------------------------

SOFTMAX_SCALES = (1e-3, 0.01, 1 / 16, 0.1, 0.25, 0.5, 1.0, 4.0, 64.0)


def _softmax(k, x: np.ndarray, p: dict) -> np.ndarray:
    rows, depth = x.shape
    params = ck.SoftmaxS8Params(rows, depth, p["input_multiplier"], p["input_left_shift"],
                                p["diff_min"])
    got = np.zeros_like(x)
    k.edgeir_softmax_s8(params, ck.ptr(x), ck.ptr(got))
    return got


def test_softmax(k):
    rng = np.random.default_rng(11)
    for case in range(200):
        scale = SOFTMAX_SCALES[case % len(SOFTMAX_SCALES)] * float(rng.uniform(0.8, 1.25))
        p = arith.softmax_int8_params(scale)
        depth = int(rng.choice([1, 2, 3, 10, 16, 100, 256, 300]))
        x = i8(rng, (int(rng.integers(1, 6)), depth))
        if case % 7 == 0:  # near-constant rows
            x = np.clip(x // 16 + 100, -128, 127).astype(np.int8)
        want = golden("qsoftmax", [x], **{n: p[n] for n in ops.qnn.SOFTMAX_ATTRS})
        assert_same(_softmax(k, x, p), want, f"softmax {x.shape} scale {scale}")


def test_softmax_reciprocal_exponent_out_of_range(k):
    """Rows with a Q12.19 sum of exps >= 512: TFLM's RoundingDivideByPOT exponent exceeds 31
    (TFLM aborts); edgeir defines it as the exact rounding division, 0 -> -128, in the
    golden model and the kernel alike."""
    p = arith.softmax_int8_params(0.1)
    x = np.full((2, 1000), 5, np.int8)
    x[1, :] = 127
    want = golden("qsoftmax", [x], **{n: p[n] for n in ops.qnn.SOFTMAX_ATTRS})
    assert np.all(want == -128)
    assert_same(_softmax(k, x, p), want, "softmax sum of exps >= 512")
    # 511 values at the max stay in range and match
    x = np.full((1, 511), 3, np.int8)
    want = golden("qsoftmax", [x], **{n: p[n] for n in ops.qnn.SOFTMAX_ATTRS})
    assert_same(_softmax(k, x, p), want, "softmax 511 equal values")


ACT_SCALES = (1e-9, 1e-5, 1 / 256, 0.01, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0, 10.0)
ALL_I8 = np.arange(-128, 128, dtype=np.int64).astype(np.int8)


@pytest.mark.parametrize("kind", ["logistic", "tanh"])
def test_logistic_tanh_all_inputs(k, kind):
    make = arith.logistic_int8_params if kind == "logistic" else arith.tanh_int8_params
    fn = getattr(k, f"edgeir_{kind}_s8")
    rng = np.random.default_rng(12)
    for scale in ACT_SCALES:
        for zp in (-128, -37, 0, 5, 127):
            p = make(scale, zp)
            want = golden(f"q{kind}", [ALL_I8], **{n: p[n] for n in ops.qnn.ACT_ATTRS})
            # the radius exceeds int32 for tiny scales (negative left shift); any radius
            # >= 256 means "never saturate", so the C parameter saturates it
            radius = min(p["input_range_radius"], 2**31 - 1)
            params = ck.SigmoidS8Params(256, zp, p["input_multiplier"], p["input_left_shift"],
                                        radius)
            got = np.zeros_like(ALL_I8)
            fn(params, ck.ptr(ALL_I8), ck.ptr(got))
            assert_same(got, want, f"{kind} scale {scale} zp {zp}")
            # more elements than the LUT threshold: the table path
            x = i8(rng, (1000,))
            params.size = x.size
            got = np.zeros_like(x)
            fn(params, ck.ptr(x), ck.ptr(got))
            assert_same(got, want[x.astype(np.int64) + 128], f"{kind} (LUT) scale {scale}")


HARD_SWISH_CASES = [  # (in_scale, in_zp, out_scale, out_zp)
    (0.02, 0, 0.02, 0), (0.05, -128, 0.03, -100), (0.1, 20, 0.05, -128), (0.5, 127, 0.3, 0),
    (1.0, -5, 0.5, 3), (3.0, 0, 2.0, -20), (8.0, 10, 4.0, 0), (0.004, 0, 0.002, -60),
    (0.001, -128, 0.0005, 127), (1e-5, 3, 1e-5, 0), (1e-7, 0, 1e-6, 0), (0.02, 0, 10.0, 0),
    (0.2, -128, 0.0016, 0), (30.0, 0, 0.25, 0), (0.0123, 77, 0.0456, -77),
]


def test_hard_swish_all_inputs(k):
    rng = np.random.default_rng(13)
    cases = list(HARD_SWISH_CASES)
    for _ in range(40):
        in_scale = float(np.exp(rng.uniform(np.log(1e-4), np.log(10))))
        out_scale = in_scale * float(np.exp(rng.uniform(np.log(0.05), np.log(20))))
        cases.append((in_scale, zero_point(rng), out_scale, zero_point(rng)))
    checked = 0
    for in_scale, in_zp, out_scale, out_zp in cases:
        try:
            p = arith.hard_swish_int8_params(in_scale, in_zp, out_scale, out_zp)
        except ValueError:
            continue
        want = golden("qhard_swish", [ALL_I8], **{n: p[n] for n in ops.qnn.HARD_SWISH_ATTRS})
        params = ck.HardSwishS8Params(
            256, in_zp, out_zp, p["output_multiplier_fixedpoint_int16"],
            p["output_multiplier_exponent"], p["reluish_multiplier_fixedpoint_int16"],
            p["reluish_multiplier_exponent"])
        got = np.zeros_like(ALL_I8)
        k.edgeir_hard_swish_s8(params, ck.ptr(ALL_I8), ck.ptr(got))
        assert_same(got, want, f"hard swish {in_scale, in_zp, out_scale, out_zp}: {p}")
        x = i8(rng, (700,))
        params.size = x.size
        got = np.zeros_like(x)
        k.edgeir_hard_swish_s8(params, ck.ptr(x), ck.ptr(got))
        assert_same(got, want[x.astype(np.int64) + 128], "hard swish (LUT)")
        checked += 1
    assert checked >= 40


# ---- quantize / dequantize / requantize ---------------------------------------------------------


def _quantize(k, x: np.ndarray, scale: float, zp: int, half_even: bool) -> np.ndarray:
    got = np.zeros(x.shape, np.int8)
    params = ck.QuantizeParams(x.size, scale, zp, int(half_even))
    k.edgeir_quantize_f32_s8(params, ck.ptr(x), ck.ptr(got))
    return got


def test_quantize(k):
    rng = np.random.default_rng(14)
    scales = [0.5, 0.25, 1 / 128, 1.0, 3.0] + [float(np.float32(v)) for v in
                                               np.exp(rng.uniform(np.log(1e-4), 2, 20))]
    for scale in scales:
        s32 = np.float32(scale)
        # finite quotients within +-300 (saturating but in range), and exact ties
        x = (rng.uniform(-300, 300, 2000) * s32).astype(np.float32)
        ties = ((np.arange(-200, 200) + np.float32(0.5)) * s32).astype(np.float32)
        x = np.concatenate([x, ties, np.float32([0.0, -0.0, 1e-30, -1e-30])])
        for zp in (-128, -3, 0, 9, 127):
            for half_even in (False, True):
                want = golden("quantize", [x], scale=float(s32), zero_point=zp,
                              round_half_even=half_even)
                assert_same(_quantize(k, x, float(s32), zp, half_even), want,
                            f"quantize scale {scale} zp {zp} half_even {half_even}")


def test_quantize_saturation(k):
    """Non-finite and huge quotients saturate (NaN gives the zero point); the golden model
    follows x86 TFLM there (INT32_MIN) and is not compared."""
    x = np.float32([np.inf, -np.inf, np.nan, 3e38, -3e38, 1e20, -1e20, 2.2e9, -2.2e9])
    for half_even in (False, True):
        for zp in (-128, -5, 0, 7, 127):
            got = _quantize(k, x, 0.5, zp, half_even)
            assert got.tolist() == [127, -128, zp, 127, -128, 127, -128, 127, -128]
        assert _quantize(k, np.float32([1.0, -1.0]), 1e-38, 0, half_even).tolist() == [127, -128]


def test_quantize_specials_in_vectors(k):
    """NaN, infinities, huge values, ties and 0.49999997 scattered through long inputs (the
    x86 path quantizes 8 at a time): specials saturate as in test_quantize_saturation, the
    rest matches the golden model."""
    rng = np.random.default_rng(24)
    specials = np.float32([np.inf, -np.inf, np.nan, 3e38, -3e38, 1e20, -1e20, 2.2e9, -2.2e9])
    for half_even in (False, True):
        for zp in (-128, -7, 0, 127):
            sat = np.array([127, -128, zp, 127, -128, 127, -128, 127, -128], np.int8)
            x = np.concatenate([rng.uniform(-140, 140, 60), np.arange(-130, 131) + 0.5,
                                [0.49999997, -0.49999997, 1.5, -1.5, 2.5, -2.5, -0.0]]
                               ).astype(np.float32)
            pos = rng.choice(x.size, specials.size, replace=False)
            want = golden("quantize", [x], scale=1.0, zero_point=zp, round_half_even=half_even)
            x[pos] = specials
            want[pos] = sat
            assert_same(_quantize(k, x, 1.0, zp, half_even), want,
                        f"quantize specials half_even {half_even} zp {zp}")


def test_dequantize(k):
    rng = np.random.default_rng(15)
    scales = [1.0, 0.1, 1 / 256, 1e-38, 3e38, 1e-45] + list(np.exp(rng.uniform(-20, 5, 20)))
    for scale in scales:
        s32 = float(np.float32(scale))
        for zp in (-128, -1, 0, 31, 127):
            with np.errstate(over="ignore"):  # 3e38 * 255 overflows to inf, as in C
                want = golden("dequantize", [ALL_I8], scale=s32, zero_point=zp)
            got = np.zeros(256, np.float32)
            k.edgeir_dequantize_s8_f32(ck.DequantizeParams(256, s32, zp), ck.ptr(ALL_I8),
                                       ck.ptr(got))
            assert_same(got.view(np.uint32), want.view(np.uint32), f"dequantize {s32} {zp}")


@pytest.mark.parametrize("in_u,out_u", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_requantize(k, in_u, out_u):
    rng = np.random.default_rng(16 + 2 * in_u + out_u)
    x = np.arange(256, dtype=np.int64).astype(np.uint8) if in_u else ALL_I8.copy()
    for case in range(60):
        if case == 0:  # equal scales: an exact zero-point shift
            m, s = arith.quantize_multiplier_array([1.0])
        else:
            m, s = real_scales(rng, 1, 0.01, 100.0)
        in_zp = int(rng.integers(0, 256)) if in_u else zero_point(rng)
        out_zp = int(rng.integers(0, 256)) if out_u else zero_point(rng)
        if case % 10 == 1:
            in_zp, out_zp = (255 if in_u else 127), (0 if out_u else -128)
        to = "ui8" if out_u else "i8"
        want = golden("requantize", [x], x_zp=in_zp, out_zp=out_zp, multiplier=(int(m[0]),),
                      shift=(int(s[0]),), to=to)
        params = ck.RequantizeParams(256, in_zp, out_zp, int(m[0]), int(s[0]), in_u, out_u)
        got = np.zeros(256, np.uint8 if out_u else np.int8)
        k.edgeir_requantize_8(params, ck.ptr(x), ck.ptr(got))
        assert_same(got, want, f"requantize {in_u}->{out_u} zp {in_zp}->{out_zp}")
        buf = x.copy()  # in place
        k.edgeir_requantize_8(params, ck.ptr(buf), ck.ptr(buf))
        assert_same(buf.view(got.dtype), want, "requantize in place")


# ---- the C side: struct layouts, warnings, sanitizers -------------------------------------------


def _c_layout_program(structs: dict[str, type[ctypes.Structure]]) -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "edgeir_kernels.h"',
             "int main(void) {"]
    for c_name, cls in structs.items():
        lines.append(f'  printf("{c_name} %zu\\n", sizeof({c_name}));')
        for field, _ in cls._fields_:
            lines.append(f'  printf("{c_name}.{field} %zu\\n", offsetof({c_name}, {field}));')
    lines += ["  return 0;", "}"]
    return "\n".join(lines) + "\n"


def test_struct_layouts_match_header(tmp_path):
    structs = {
        "edgeir_bcast4": ck.Bcast4, "edgeir_window": ck.Window,
        "edgeir_conv_s8_params": ck.ConvS8Params, "edgeir_fc_s8_params": ck.FcS8Params,
        "edgeir_add_s8_params": ck.AddS8Params, "edgeir_mul_s8_params": ck.MulS8Params,
        "edgeir_pool_s8_params": ck.PoolS8Params, "edgeir_mean_s8_params": ck.MeanS8Params,
        "edgeir_softmax_s8_params": ck.SoftmaxS8Params,
        "edgeir_sigmoid_s8_params": ck.SigmoidS8Params,
        "edgeir_hard_swish_s8_params": ck.HardSwishS8Params,
        "edgeir_quantize_params": ck.QuantizeParams,
        "edgeir_dequantize_params": ck.DequantizeParams,
        "edgeir_requantize_params": ck.RequantizeParams,
    }
    src = tmp_path / "layout.c"
    src.write_text(_c_layout_program(structs))
    exe = ck.compile_program([src], tmp_path / "layout")
    got = dict(line.rsplit(" ", 1) for line in
               subprocess.run([str(exe)], capture_output=True, text=True, check=True)
               .stdout.splitlines())
    for c_name, cls in structs.items():
        assert int(got[c_name]) == ctypes.sizeof(cls), c_name
        for field, _ in cls._fields_:
            assert int(got[f"{c_name}.{field}"]) == getattr(cls, field).offset, (c_name, field)


@pytest.mark.parametrize("build", [b for b in BUILDS if b != "native-small"])
def test_strict_warnings_and_no_libc_dependencies(tmp_path, build):
    """-Wconversion/-Wshadow/-pedantic clean (the x86 fast paths too); the object needs
    nothing from libc but roundf/rintf (and what the compiler itself may emit:
    memset/memcpy)."""
    obj = tmp_path / "s8.o"
    subprocess.run(["gcc", "-std=c99", "-O2", *BUILDS[build], "-Wall", "-Wextra", "-Werror",
                    "-Wshadow", "-Wconversion", "-Wsign-conversion", "-Wvla", "-pedantic",
                    "-Wdouble-promotion", "-Wmissing-prototypes", f"-I{ck.RUNTIME}", "-c",
                    str(S8_SOURCE), "-o", str(obj)], check=True, capture_output=True)
    nm = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True)
    undefined = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    assert undefined <= {"roundf", "rintf", "memset", "memcpy"}, undefined


def test_builds_for_cortex_m(tmp_path):
    for cpu in (["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                ["-mcpu=cortex-m0plus"]):
        subprocess.run(["arm-none-eabi-gcc", *cpu, "-mthumb", "-std=c99", "-O2", "-Wall",
                        "-Wextra", "-Werror", "-Wconversion", f"-I{ck.RUNTIME}", "-c",
                        str(S8_SOURCE), "-o", str(tmp_path / "s8.o")], check=True,
                       capture_output=True)


def test_sanitizers_edge_cases(tmp_path):
    """The edge cases under ASan + UBSan, built portable and (x86 hosts with AVX2) with the
    AVX2 and -march=native fast paths; every build prints the same output checksum."""
    checksums = {}
    for build, flags in BUILDS.items():
        exe = tmp_path / f"s8_edge_cases_{build}"
        ck.compile_program([EDGE_CASES, S8_SOURCE], exe, [
            "-O1", "-g", "-fno-omit-frame-pointer", *flags[1:],
            "-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all"])
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1")
        proc = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0 and "runtime error" not in proc.stderr, \
            build + ": " + proc.stderr + proc.stdout
        checksums[build] = [ln for ln in proc.stdout.splitlines() if ln.startswith("checksum")]
    assert len({tuple(v) for v in checksums.values()}) == 1, checksums
