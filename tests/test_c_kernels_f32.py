"""The C runtime's float32 and data-movement kernels against the golden numpy ops.

backends/c/runtime/edgeir_f32.c and edgeir_data.c are compiled once per session into a
shared library (warnings are errors) and called through ctypes on many random cases:
convolutions (1x1 / 3x3 / 5x5, strides, dilations, asymmetric pads, groups), depthwise
convolutions with a multiplier, transposed convolutions, gemm / batched matmul with
broadcasting, binary ops over every broadcast pattern up to rank 4, activations on extreme
inputs, (log-)softmax over every axis, pools, reductions, the per-channel affine, and the
data-movement kernels on 1-, 2-, 3- and 4-byte elements.

The references are the interpreter's ops (compiler.ops), run in float64 on the same float32
inputs. Float results must agree within rtol 1e-5 plus an absolute 1e-6 of the output's
range; elementwise arithmetic, clamps and data movement must agree exactly.

Also: struct layouts (ctypes against the C compiler's sizeof/offsetof), the symbols the
kernels need (no malloc, no stdio), and an ASan/UBSan run of tests/c/f32_sanitize.c.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from ckernels_f32 import (
    BINARY_OPS,
    CFLAGS,
    RUNTIME,
    SOURCES,
    STRUCTS,
    UNARY_OPS,
    BinaryF32Params,
    ChannelAffineF32Params,
    ConcatPiece,
    ConvF32Params,
    FcF32Params,
    GatherNdParams,
    MatmulF32Params,
    PadParams,
    PoolF32Params,
    ReduceF32Params,
    SoftmaxF32Params,
    StridedParams,
    UnaryF32Params,
    addr,
    bcast4,
    build,
    f32_array,
    ints,
    window,
)

from compiler import ops
from compiler.ops import shape as shape_ops
from compiler.ops.base import Attrs, InferError, check_attr_value

INF = float("inf")
F64 = np.float64
GUARD = 16  # elements after every output buffer that must stay untouched
SENTINEL = np.float32(-7.0e29)


@pytest.fixture(scope="session")
def lib(tmp_path_factory):
    return build(tmp_path_factory.mktemp("edgeir_f32"))


def golden(name: str, arrays, **attrs) -> np.ndarray:
    """compiler.ops' result of op `name` (attributes with their defaults filled)."""
    op = ops.get(name)
    values = {k: spec.default for k, spec in op.attrs.items() if not spec.required}
    for k, v in attrs.items():
        values[k] = check_attr_value(op.attrs[k].kind, v)
    missing = [k for k, spec in op.attrs.items() if spec.required and k not in values]
    assert not missing, missing
    return op.evaluate(Attrs(values), [np.asarray(a) for a in arrays])[0]


def f64(*arrays):
    return [None if a is None else a.astype(F64) for a in arrays]


class Out:
    """A float32 output buffer with a guard zone after it."""

    def __init__(self, shape, dtype=np.float32, fill=SENTINEL):
        self.shape = tuple(int(d) for d in shape)
        self.size = math.prod(self.shape)
        self.buf = np.full(self.size + GUARD, fill, dtype=dtype)
        self.fill = self.buf[-1].copy()

    @property
    def ptr(self) -> int:
        return addr(self.buf)

    def value(self) -> np.ndarray:
        tail = self.buf[self.size:]
        assert np.array_equal(tail.view(np.uint8), np.full_like(tail, self.fill).view(np.uint8)), (
            "kernel wrote past the end of its output")
        return self.buf[: self.size].reshape(self.shape).copy()


def assert_close(got, ref, what="", rtol=1e-5, atol_rel=1e-6):
    ref = np.asarray(ref, dtype=F64)
    got = np.asarray(got)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    finite = np.abs(ref[np.isfinite(ref)])
    scale = float(finite.max()) if finite.size else 0.0
    np.testing.assert_allclose(got.astype(F64), ref, rtol=rtol, atol=atol_rel * scale + 1e-30,
                               err_msg=str(what))


def random_clamp(rng):
    """(C bounds, golden clamp attribute)."""
    choice = rng.integers(3)
    if choice == 0:
        return (-INF, INF), ()
    if choice == 1:
        return (0.0, INF), (0.0, INF)
    return (-1.5, 2.0), (-1.5, 2.0)


def normal(rng, shape, scale=1.0):
    return f32_array(rng.standard_normal(shape) * scale)


# -- convolution ----------------------------------------------------------------------------


def conv_out(h, k, s, d, p0, p1):
    try:
        return ops.nn.window_out(h, k, s, d, p0, p1)
    except InferError:
        return None


def run_conv(lib, fn, x, w_c, bias, groups, out_shape, k, strides, dils, pads, act):
    n, h, wd, c = x.shape
    _, oh, ow, oc = out_shape
    p = ConvF32Params(
        win=window(batch=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=oc,
                   k_h=k[0], k_w=k[1], stride_h=strides[0], stride_w=strides[1],
                   dil_h=dils[0], dil_w=dils[1], pad_top=pads[0], pad_left=pads[1],
                   pad_bottom=pads[2], pad_right=pads[3]),
        groups=groups, act_min=act[0], act_max=act[1])
    out = Out(out_shape)
    fn(ctypes.byref(p), addr(x), addr(w_c), addr(bias), out.ptr)
    return out.value()


def conv_cases(rng, count):
    """Random conv2d configurations (NHWC, weights OHWI) whose output is non-empty."""
    cases = []
    while len(cases) < count:
        kind = rng.integers(4)
        if kind == 0:  # 1x1 (the fast path when unpadded and ungrouped)
            k = (1, 1)
        elif kind == 1:
            k = (3, 3)
        elif kind == 2:
            k = (5, 5)
        else:
            k = tuple(int(v) for v in rng.choice([1, 2, 3, 5], 2))
        strides = tuple(int(v) for v in rng.integers(1, 4, 2))
        dils = (1, 1) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(1, 3, 2))
        if rng.random() < 0.3:
            pads = (0, 0, 0, 0)
        else:
            pads = tuple(int(rng.integers(0, kk + 1)) for kk in (k[0], k[1], k[0], k[1]))
        groups = int(rng.choice([1, 1, 1, 2, 3]))
        cg, og = int(rng.integers(1, 6)), int(rng.integers(1, 7))
        if rng.random() < 0.15:  # depthwise through the general kernel
            groups, cg, og = int(rng.integers(2, 6)), 1, int(rng.integers(1, 3))
        n = int(rng.integers(1, 3))
        h, wd = (int(v) for v in rng.integers(1, 10, 2))
        oh = conv_out(h, k[0], strides[0], dils[0], pads[0], pads[2])
        ow = conv_out(wd, k[1], strides[1], dils[1], pads[1], pads[3])
        if oh is None or ow is None:
            continue
        cases.append(dict(k=k, strides=strides, dils=dils, pads=pads, groups=groups,
                          shape=(n, h, wd, groups * cg), out_c=groups * og))
    return cases


@pytest.mark.parametrize("seed", range(4))
def test_conv(lib, seed):
    rng = np.random.default_rng(seed)
    for case in conv_cases(rng, 60):
        g, k = case["groups"], case["k"]
        x = normal(rng, case["shape"])
        c = case["shape"][3]
        w = normal(rng, (case["out_c"], k[0], k[1], c // g))
        bias = normal(rng, case["out_c"]) if rng.random() < 0.7 else None
        act, clamp = random_clamp(rng)
        arrays = f64(x, w) + ([] if bias is None else f64(bias))
        ref = golden("conv2d", arrays, strides=case["strides"], dilations=case["dils"],
                     pads=case["pads"], group=g, layout="nhwc", clamp=clamp)
        got = run_conv(lib, lib.edgeir_conv_f32, x, w, bias, g, ref.shape, k,
                       case["strides"], case["dils"], case["pads"], act)
        assert_close(got, ref, case)


def test_conv_1x1_fast_path_strided(lib):
    rng = np.random.default_rng(7)
    for h, wd, s, c, oc in [(1, 1, 1, 3, 5), (7, 5, 2, 8, 9), (6, 6, 3, 4, 4), (9, 4, 1, 17, 3)]:
        x, w, bias = normal(rng, (2, h, wd, c)), normal(rng, (oc, 1, 1, c)), normal(rng, oc)
        ref = golden("conv2d", f64(x, w, bias), strides=(s, s), layout="nhwc")
        got = run_conv(lib, lib.edgeir_conv_f32, x, w, bias, 1, ref.shape, (1, 1), (s, s),
                       (1, 1), (0, 0, 0, 0), (-INF, INF))
        assert_close(got, ref, (h, wd, s, c, oc))


@pytest.mark.parametrize("seed", range(3))
def test_depthwise_conv(lib, seed):
    rng = np.random.default_rng(100 + seed)
    done = 0
    while done < 60:
        k = tuple(int(v) for v in rng.choice([1, 3, 5], 2)) if rng.random() < 0.3 else (
            (3, 3) if rng.random() < 0.5 else (5, 5))
        strides = tuple(int(v) for v in rng.integers(1, 3, 2))
        dils = (1, 1) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 3, 2))
        pads = tuple(int(rng.integers(0, kk + 1)) for kk in (k[0], k[1], k[0], k[1]))
        c, mult = int(rng.integers(1, 10)), int(rng.choice([1, 1, 2, 3]))
        n, h, wd = int(rng.integers(1, 3)), int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if conv_out(h, k[0], strides[0], dils[0], pads[0], pads[2]) is None or conv_out(
                wd, k[1], strides[1], dils[1], pads[1], pads[3]) is None:
            continue
        done += 1
        oc = c * mult
        x = normal(rng, (n, h, wd, c))
        w = normal(rng, (oc, k[0], k[1], 1))  # golden: OHWI with I = 1
        bias = normal(rng, oc) if rng.random() < 0.7 else None
        act, clamp = random_clamp(rng)
        arrays = f64(x, w) + ([] if bias is None else f64(bias))
        ref = golden("conv2d", arrays, strides=strides, dilations=dils, pads=pads, group=c,
                     layout="nhwc", clamp=clamp)
        w_c = np.ascontiguousarray(w[:, :, :, 0].transpose(1, 2, 0))  # [kh][kw][out_c]
        got = run_conv(lib, lib.edgeir_depthwise_conv_f32, x, w_c, bias, c, ref.shape, k,
                       strides, dils, pads, act)
        assert_close(got, ref, (k, strides, dils, pads, c, mult))


@pytest.mark.parametrize("seed", range(3))
def test_conv_transpose(lib, seed):
    rng = np.random.default_rng(200 + seed)
    done = 0
    while done < 50:
        k = tuple(int(v) for v in rng.integers(1, 6, 2))
        strides = tuple(int(v) for v in rng.integers(1, 4, 2))
        dils = (1, 1) if rng.random() < 0.7 else tuple(int(v) for v in rng.integers(1, 3, 2))
        pads = [int(rng.integers(0, kk)) for kk in (k[0], k[1], k[0], k[1])]
        if rng.random() < 0.1:  # ONNX output_shape larger than the full output
            pads[int(rng.integers(4))] = -1
        out_pad = tuple(int(rng.integers(0, s)) for s in strides)
        g = int(rng.choice([1, 1, 2, 3]))
        cg, og = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        n, h, wd = int(rng.integers(1, 3)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        oh = (h - 1) * strides[0] + (k[0] - 1) * dils[0] + 1 + out_pad[0] - pads[0] - pads[2]
        ow = (wd - 1) * strides[1] + (k[1] - 1) * dils[1] + 1 + out_pad[1] - pads[1] - pads[3]
        if oh <= 0 or ow <= 0:
            continue
        done += 1
        x = normal(rng, (n, h, wd, g * cg))
        w = normal(rng, (g * cg, og, k[0], k[1]))  # golden: (I, O/group, KH, KW)
        bias = normal(rng, g * og) if rng.random() < 0.7 else None
        act, clamp = random_clamp(rng)
        arrays = f64(x, w) + ([] if bias is None else f64(bias))
        ref = golden("conv_transpose2d", arrays, strides=strides, dilations=dils, pads=pads,
                     output_padding=out_pad, group=g, layout="nhwc", clamp=clamp)
        assert ref.shape == (n, oh, ow, g * og)
        w_c = np.ascontiguousarray(w.transpose(0, 2, 3, 1))  # [in_c][kh][kw][out_c / groups]
        got = run_conv(lib, lib.edgeir_conv_transpose_f32, x, w_c, bias, g, ref.shape, k,
                       strides, dils, pads, act)
        assert_close(got, ref, (k, strides, dils, pads, out_pad, g, cg, og, h, wd))


# -- fully connected / gemm / matmul ---------------------------------------------------------


def test_fc(lib):
    rng = np.random.default_rng(300)
    for _ in range(80):
        b, k, o = int(rng.integers(1, 4)), int(rng.integers(1, 41)), int(rng.integers(1, 14))
        x, w = normal(rng, (b, k)), normal(rng, (o, k))
        bias = normal(rng, o) if rng.random() < 0.7 else None
        act, clamp = random_clamp(rng)
        arrays = f64(x, w) + ([] if bias is None else f64(bias))
        ref = golden("gemm", arrays, trans_b=True, clamp=clamp)
        p = FcF32Params(batch=b, in_features=k, out_features=o, act_min=act[0], act_max=act[1])
        out = Out((b, o))
        lib.edgeir_fc_f32(ctypes.byref(p), addr(x), addr(w), addr(bias), out.ptr)
        assert_close(out.value(), ref, (b, k, o))


def c_bcast(c_shape, batch, m, n) -> tuple[list[int], list[int]]:
    """c_bc.shape / c_bc.a_stride for C (shape c_shape) over [batch, m, n]: leading 1."""
    full = (1,) * (3 - len(c_shape)) + tuple(c_shape)
    strides, acc = [0, 0, 0], 1
    for d in range(2, -1, -1):
        strides[d] = acc if full[d] != 1 else 0
        acc *= full[d]
    return [1, batch, m, n], [0] + strides


def matmul_params(batch, m, n, k, a_bs, b_bs, trans_a=0, trans_b=0, alpha=1.0, beta=1.0,
                  c_shape=None, act=(-INF, INF)) -> MatmulF32Params:
    p = MatmulF32Params(batch=batch, m=m, n=n, k=k, a_batch_stride=a_bs, b_batch_stride=b_bs,
                        trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta,
                        act_min=act[0], act_max=act[1])
    if c_shape is not None:
        shape, strides = c_bcast(c_shape, batch, m, n)
        p.c_bc.shape[:] = shape
        p.c_bc.a_stride[:] = strides
    return p


def test_gemm(lib):
    rng = np.random.default_rng(400)
    c_options = [None, (), (1,), "n", "1n", "m1", "mn"]
    for i in range(150):
        m, n, k = (int(v) for v in rng.integers(1, 10, 3))
        ta, tb = bool(rng.integers(2)), bool(rng.integers(2))
        alpha = float(rng.choice([1.0, 0.5, -2.0]))
        beta = float(rng.choice([1.0, 0.25, 0.0, -1.0]))
        a = normal(rng, (k, m) if ta else (m, k))
        b = normal(rng, (n, k) if tb else (k, n))
        opt = c_options[i % len(c_options)]
        c_shape = None if opt is None else {"n": (n,), "1n": (1, n), "m1": (m, 1),
                                            "mn": (m, n)}.get(opt, opt)
        c = None if c_shape is None else normal(rng, c_shape)
        act, clamp = random_clamp(rng)
        arrays = f64(a, b) + ([] if c is None else f64(c))
        ref = golden("gemm", arrays, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb,
                     clamp=clamp)
        p = matmul_params(1, m, n, k, 0, 0, int(ta), int(tb), alpha, beta,
                          None if c is None else c.shape, act)
        out = Out((m, n))
        lib.edgeir_matmul_f32(ctypes.byref(p), addr(a), addr(b), addr(c), out.ptr)
        assert_close(out.value(), ref, (m, n, k, ta, tb, alpha, beta, opt))


def call_matmul(lib, a: np.ndarray, b: np.ndarray, act=(-INF, INF)) -> np.ndarray:
    """numpy matmul semantics through the kernel: the last broadcast batch dim is the
    kernel's batch (stride 0 when an operand is broadcast); the others are a loop of
    calls, as generated code would do."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    n = b2.shape[-1]
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) or (1,)

    def batch_strides(x, mat):
        shape = (1,) * (len(batch) - (x.ndim - 2)) + x.shape[:-2]
        strides, acc = [0] * len(batch), mat
        for d in range(len(batch) - 1, -1, -1):
            strides[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return strides

    sa, sb = batch_strides(a2, m * k), batch_strides(b2, k * n)
    out = Out(batch + (m, n))
    p = matmul_params(batch[-1], m, n, k, sa[-1], sb[-1], act=act)
    for j, idx in enumerate(np.ndindex(*batch[:-1])):
        a_off = sum(i * s for i, s in zip(idx, sa))
        b_off = sum(i * s for i, s in zip(idx, sb))
        o_off = j * batch[-1] * m * n
        lib.edgeir_matmul_f32(ctypes.byref(p), addr(a2, 4 * a_off), addr(b2, 4 * b_off), None,
                              out.ptr + 4 * o_off)
    y = out.value()
    shape = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]) + (m, n)
    y = y.reshape(shape)
    if a.ndim == 1:
        y = y.reshape(shape[:-2] + (n,))
    if b.ndim == 1:
        y = y.reshape(y.shape[:-1])
    return y


def test_matmul_batched_broadcast(lib):
    rng = np.random.default_rng(500)
    for _ in range(120):
        m, n, k = (int(v) for v in rng.integers(1, 7, 3))
        batch = tuple(int(v) for v in rng.integers(1, 4, int(rng.integers(0, 3))))

        def operand_batch(batch=batch):
            rank = int(rng.integers(0, len(batch) + 1))
            dims = batch[len(batch) - rank:]
            return tuple(d if rng.random() < 0.6 else 1 for d in dims)

        a_shape = operand_batch() + (m, k)
        b_shape = operand_batch() + (k, n)
        if rng.random() < 0.1:
            a_shape = (k,)
        elif rng.random() < 0.1:
            b_shape = (k,)
        a, b = normal(rng, a_shape), normal(rng, b_shape)
        act, clamp = random_clamp(rng)
        ref = golden("matmul", f64(a, b), clamp=clamp)
        got = call_matmul(lib, a, b, act)
        assert_close(got, ref, (a_shape, b_shape))


def test_matmul_c_over_batch(lib):
    """gemm-like batched matmul with C broadcast over [batch, m, n] (numpy reference)."""
    rng = np.random.default_rng(501)
    for c_shape in [(3, 4, 5), (3, 1, 5), (3, 4, 1), (1, 4, 5), (5,), (4, 1), (3, 1, 1), ()]:
        batch, m, n, k = 3, 4, 5, 6
        for ta, tb in itertools.product((0, 1), repeat=2):
            a = normal(rng, (batch, k, m) if ta else (batch, m, k))
            b = normal(rng, (k, n) if not tb else (n, k))  # one B for the whole batch
            c = normal(rng, c_shape)
            alpha, beta = 0.75, -0.5
            at = np.swapaxes(a, 1, 2) if ta else a
            bt = b.T if tb else b
            ref = alpha * (at.astype(F64) @ bt.astype(F64)) + beta * c.astype(F64)
            p = matmul_params(batch, m, n, k, m * k, 0, ta, tb, alpha, beta, c.shape)
            out = Out((batch, m, n))
            lib.edgeir_matmul_f32(ctypes.byref(p), addr(a), addr(b), addr(c), out.ptr)
            assert_close(out.value(), ref, (c_shape, ta, tb))


# -- elementwise -----------------------------------------------------------------------------


def broadcast_cases(rng):
    """(out shape, a shape, b shape) for every broadcast pattern of ranks 1..4."""
    for rank in range(1, 5):
        for a_mask, b_mask in itertools.product(range(2**rank), repeat=2):
            out = tuple(int(v) for v in rng.integers(2, 5, rank))
            a = tuple(1 if a_mask >> d & 1 else out[d] for d in range(rank))
            b = tuple(1 if b_mask >> d & 1 else out[d] for d in range(rank))
            # operands of lower rank: drop leading 1s sometimes
            while len(a) > 1 and a[0] == 1 and rng.random() < 0.5:
                a = a[1:]
            while len(b) > 1 and b[0] == 1 and rng.random() < 0.5:
                b = b[1:]
            yield np.broadcast_shapes(a, b), a, b


def test_binary_all_broadcast_patterns(lib):
    rng = np.random.default_rng(600)
    count = 0
    for out_shape, a_shape, b_shape in broadcast_cases(rng):
        a = normal(rng, a_shape)
        b = f32_array(rng.choice([-1, 1], b_shape) * rng.uniform(0.5, 2.0, b_shape))
        for name, op in BINARY_OPS.items():
            act, clamp = random_clamp(rng) if name != "div" else ((-INF, INF), ())
            if name == "div" and rng.random() < 0.5:
                act = (-1.5, 2.0)
            ref = golden(name, [a, b], **({"clamp": clamp} if name != "div" else {}))
            if name == "div":
                ref = np.clip(ref, np.float32(act[0]), np.float32(act[1]))
            p = BinaryF32Params(bc=bcast4(out_shape, a_shape, b_shape), op=op,
                                act_min=act[0], act_max=act[1])
            out = Out(out_shape)
            lib.edgeir_binary_f32(ctypes.byref(p), addr(a), addr(b), out.ptr)
            got = out.value()
            # IEEE float32 arithmetic: bit-exact with numpy
            assert got.dtype == ref.dtype and np.array_equal(got, ref), (name, a_shape, b_shape)
            count += 1
    assert count > 1000


def test_binary_in_place(lib):
    rng = np.random.default_rng(601)
    a, b = normal(rng, (3, 4, 5)), normal(rng, (5,))
    ref = a + b
    p = BinaryF32Params(bc=bcast4(a.shape, a.shape, b.shape), op=0, act_min=-INF, act_max=INF)
    lib.edgeir_binary_f32(ctypes.byref(p), addr(a), addr(b), addr(a))
    assert np.array_equal(a, ref)


EXTREMES = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38, 0.5, -0.5, 1.0, -1.0, 2.9, -3.0,
                     3.0, 6.0, -6.0, 15.9, -16.1, 20.0, -20.0, 88.0, -88.0, 88.8, -88.8, 89.0,
                     -104.0, -110.0, 1e4, -1e4, 1e30, -1e30, 3.4e38, -3.4e38, INF, -INF,
                     float("nan")], dtype=np.float32)


@pytest.mark.parametrize("name", sorted(UNARY_OPS))
def test_unary(lib, name):
    rng = np.random.default_rng(700 + UNARY_OPS[name])
    x = np.concatenate([EXTREMES, normal(rng, 300, 10.0), normal(rng, 300, 1.0)])
    attrs, alpha, beta = {}, 0.0, 0.0
    if name == "leaky_relu":
        alpha = 0.1
        attrs = {"alpha": alpha}
    elif name == "clip":
        alpha, beta = -0.75, 6.0
        attrs = {"min": alpha, "max": beta}
    elif name == "hard_sigmoid":
        alpha, beta = 0.2, 0.5
        attrs = {"alpha": alpha, "beta": beta}
    with np.errstate(invalid="ignore"):  # inf * 0 and inf / inf give NaN, as in C
        ref = golden(name, [x], **attrs)  # float32, as the kernel
    p = UnaryF32Params(size=x.size, op=UNARY_OPS[name], alpha=alpha, beta=beta)
    out = Out(x.shape)
    lib.edgeir_unary_f32(ctypes.byref(p), addr(x), out.ptr)
    got = out.value()
    if name in ("relu", "leaky_relu", "clip", "hard_sigmoid"):
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-37)
    # in place
    y = x.copy()
    lib.edgeir_unary_f32(ctypes.byref(p), addr(y), addr(y))
    np.testing.assert_array_equal(y, got)


def test_unary_open_clip(lib):
    x = np.concatenate([EXTREMES, np.linspace(-5, 5, 21, dtype=np.float32)])
    for lo, hi in [(-INF, 0.5), (-2.0, INF), (-INF, INF)]:
        ref = golden("clip", [x], min=lo, max=hi)
        p = UnaryF32Params(size=x.size, op=UNARY_OPS["clip"], alpha=lo, beta=hi)
        out = Out(x.shape)
        lib.edgeir_unary_f32(ctypes.byref(p), addr(x), out.ptr)
        np.testing.assert_array_equal(out.value(), ref)


def test_softmax_every_axis(lib):
    rng = np.random.default_rng(800)
    for _ in range(40):
        shape = tuple(int(v) for v in rng.integers(1, 7, int(rng.integers(1, 5))))
        scale = float(rng.choice([1.0, 30.0]))
        x = normal(rng, shape, scale)
        for axis, log in itertools.product(range(len(shape)), (0, 1)):
            ref = golden("log_softmax" if log else "softmax", f64(x), axis=axis)
            outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
            p = SoftmaxF32Params(outer=outer, axis=shape[axis], inner=inner)
            out = Out(shape)
            fn = lib.edgeir_log_softmax_f32 if log else lib.edgeir_softmax_f32
            fn(ctypes.byref(p), addr(x), out.ptr)
            assert_close(out.value(), ref, (shape, axis, log, scale))


def test_softmax_large_inputs(lib):
    """The max is subtracted first: huge logits neither overflow nor give NaN."""
    x = f32_array([[1e30, 1e30 - 1e24, -1e30, 0.0], [88.0, 89.0, 90.0, 200.0],
                   [-1e4, -1e4, -1e4, -1e4]])
    for log in (0, 1):
        ref = golden("log_softmax" if log else "softmax", f64(x), axis=1)
        p = SoftmaxF32Params(outer=3, axis=4, inner=1)
        out = Out(x.shape)
        fn = lib.edgeir_log_softmax_f32 if log else lib.edgeir_softmax_f32
        fn(ctypes.byref(p), addr(x), out.ptr)
        got = out.value()
        assert np.all(np.isfinite(got))
        assert_close(got, ref, log)


def test_channel_affine_batch_norm(lib):
    rng = np.random.default_rng(900)
    for layout in ("nchw", "nhwc"):
        for shape in [(2, 5), (1, 3, 4), (2, 6, 3, 5), (1, 1, 1, 1), (3, 7, 1, 2)]:
            x = normal(rng, shape, 3.0)
            c = shape[1] if layout == "nchw" else shape[-1]
            scale, bias, mean = normal(rng, c), normal(rng, c), normal(rng, c)
            var = f32_array(rng.uniform(0.1, 2.0, c))
            ref = golden("batch_norm", f64(x, scale, bias, mean, var), layout=layout,
                         epsilon=1e-5)
            s64 = scale.astype(F64) / np.sqrt(var.astype(F64) + 1e-5)
            sc = f32_array(s64)
            sh = f32_array(bias.astype(F64) - mean.astype(F64) * s64)
            if layout == "nchw":
                outer, inner = shape[0], math.prod(shape[2:])
            else:
                outer, inner = math.prod(shape[:-1]), 1
            p = ChannelAffineF32Params(outer=outer, channels=c, inner=inner)
            out = Out(shape)
            lib.edgeir_channel_affine_f32(ctypes.byref(p), addr(x), addr(sc), addr(sh), out.ptr)
            assert_close(out.value(), ref, (layout, shape))


# -- pooling and reductions ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools(lib, kind):
    rng = np.random.default_rng(1000 + (kind == "avg"))
    done = 0
    while done < 150:
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        strides = tuple(int(v) for v in rng.integers(1, 4, 2))
        dils = (1, 1) if rng.random() < 0.8 else tuple(int(v) for v in rng.integers(1, 3, 2))
        pads = tuple(int(rng.integers(0, kk)) for kk in (k[0], k[1], k[0], k[1]))
        ceil = bool(rng.integers(2))
        cip = bool(rng.integers(2))
        n, h, wd, c = (int(v) for v in rng.integers(1, 9, 4))
        n = min(n, 2)
        x = normal(rng, (n, h, wd, c))
        attrs = dict(kernel=k, strides=strides, dilations=dils, pads=pads, ceil_mode=ceil,
                     layout="nhwc")
        if kind == "avg":
            attrs["count_include_pad"] = cip
        try:
            ref = golden(f"{kind}_pool", f64(x), **attrs)
        except InferError:
            continue
        done += 1
        act, _ = random_clamp(rng)
        ref = np.clip(ref, act[0], act[1])
        _, oh, ow, _ = ref.shape
        p = PoolF32Params(win=window(batch=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow,
                                     out_c=c, k_h=k[0], k_w=k[1], stride_h=strides[0],
                                     stride_w=strides[1], dil_h=dils[0], dil_w=dils[1],
                                     pad_top=pads[0], pad_left=pads[1], pad_bottom=pads[2],
                                     pad_right=pads[3]),
                          count_include_pad=int(cip), act_min=act[0], act_max=act[1])
        out = Out(ref.shape)
        fn = lib.edgeir_max_pool_f32 if kind == "max" else lib.edgeir_avg_pool_f32
        fn(ctypes.byref(p), addr(x), out.ptr)
        got = out.value()
        if kind == "max":
            np.testing.assert_array_equal(got, ref.astype(np.float32), err_msg=str(attrs))
        else:
            assert_close(got, ref, (attrs, cip))


def test_pool_ceil_mode_extra_padding(lib):
    """Windows running past pad_bottom/pad_right (ceil mode) skip those taps and do not
    count them, with or without count_include_pad."""
    x = f32_array(np.arange(1 * 5 * 5 * 2).reshape(1, 5, 5, 2))
    for pads, cip in itertools.product([(0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 0, 1)], (0, 1)):
        attrs = dict(kernel=(3, 3), strides=(2, 2), pads=pads, ceil_mode=True, layout="nhwc")
        for kind in ("avg", "max"):
            extra = {"count_include_pad": bool(cip)} if kind == "avg" else {}
            ref = golden(f"{kind}_pool", f64(x), **attrs, **extra)
            _, oh, ow, _ = ref.shape
            p = PoolF32Params(win=window(in_h=5, in_w=5, in_c=2, out_h=oh, out_w=ow, out_c=2,
                                         k_h=3, k_w=3, stride_h=2, stride_w=2,
                                         pad_top=pads[0], pad_left=pads[1],
                                         pad_bottom=pads[2], pad_right=pads[3]),
                              count_include_pad=cip, act_min=-INF, act_max=INF)
            out = Out(ref.shape)
            getattr(lib, f"edgeir_{kind}_pool_f32")(ctypes.byref(p), addr(x), out.ptr)
            assert_close(out.value(), ref, (pads, cip, kind))


def test_reductions(lib):
    rng = np.random.default_rng(1100)
    for _ in range(60):
        shape = tuple(int(v) for v in rng.integers(1, 7, int(rng.integers(1, 5))))
        a = int(rng.integers(0, len(shape)))
        b = int(rng.integers(a + 1, len(shape) + 1))
        x = normal(rng, shape, 2.0)
        outer, axis, inner = (math.prod(shape[:a]), math.prod(shape[a:b]),
                              math.prod(shape[b:]))
        out_shape = shape[:a] + (1,) * (b - a) + shape[b:]
        refs = {0: golden("reduce_mean", f64(x), axes=tuple(range(a, b))),
                1: np.max(x, axis=tuple(range(a, b)), keepdims=True)}
        for op, ref in refs.items():
            p = ReduceF32Params(outer=outer, axis=axis, inner=inner, op=op)
            out = Out(out_shape)
            lib.edgeir_reduce_f32(ctypes.byref(p), addr(x), out.ptr)
            if op == 1:
                np.testing.assert_array_equal(out.value(), ref)
            else:
                assert_close(out.value(), ref, (shape, a, b))


def test_global_pools(lib):
    rng = np.random.default_rng(1200)
    for shape in [(1, 1, 1, 3), (2, 7, 7, 5), (1, 3, 5, 16), (3, 1, 9, 1)]:
        x = normal(rng, shape)
        n, h, wd, c = shape
        for op, name in ((0, "global_avg_pool"), (1, "global_max_pool")):
            ref = golden(name, f64(x), layout="nhwc")
            p = ReduceF32Params(outer=n, axis=h * wd, inner=c, op=op)
            out = Out((n, 1, 1, c))
            lib.edgeir_reduce_f32(ctypes.byref(p), addr(x), out.ptr)
            assert_close(out.value(), ref, (shape, name))


# -- data movement ---------------------------------------------------------------------------

ELEM_DTYPES = {1: np.int8, 2: np.int16, 3: np.dtype("V3"), 4: np.float32}


def random_elems(rng, shape, es):
    dt = np.dtype(ELEM_DTYPES[es])
    raw = rng.integers(0, 256, math.prod(shape) * es, dtype=np.uint8)
    if es == 4:  # floats without NaN bit patterns, so that array_equal is exact equality
        return normal(rng, shape)
    return raw.view(dt).reshape(shape)


def dense_strides(shape):
    strides, acc = [0] * len(shape), 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = acc
        acc *= shape[d]
    return strides


def out_elems(shape, es, misalign=0):
    """An output buffer of bytes (with a guard) and its element view."""
    size = math.prod(shape) * es
    buf = np.full(size + GUARD + misalign, 0xA5, dtype=np.uint8)
    return buf


def check_bytes(buf, shape, es, ref, misalign=0):
    size = math.prod(shape) * es
    assert np.all(buf[:misalign] == 0xA5) and np.all(buf[misalign + size:] == 0xA5), (
        "wrote outside the output")
    got = buf[misalign: misalign + size]
    want = np.ascontiguousarray(ref).view(np.uint8).reshape(-1)
    assert np.array_equal(got, want)


def strided_copy(lib, x, es, out_shape, in_stride, in_offset, misalign=0):
    p = StridedParams(rank=len(out_shape), elem_size=es, out_shape=(ctypes.c_int32 * 6)(
        *ints(out_shape)), in_stride=(ctypes.c_int32 * 6)(*ints(in_stride)),
        in_offset=in_offset)
    buf = out_elems(out_shape, es, misalign)
    src = x
    if misalign:  # the same bytes at an odd address
        raw = np.zeros(x.nbytes + 1, np.uint8)
        raw[1:] = np.ascontiguousarray(x).view(np.uint8).reshape(-1)
        lib.edgeir_strided_copy(ctypes.byref(p), addr(raw, 1), addr(buf, misalign))
    else:
        lib.edgeir_strided_copy(ctypes.byref(p), addr(src), addr(buf))
    return buf


@pytest.mark.parametrize("es", [1, 2, 3, 4])
def test_strided_copy_transpose(lib, es):
    rng = np.random.default_rng(1300 + es)
    for i in range(80):
        rank = int(rng.integers(2, 7))
        shape = tuple(int(v) for v in rng.integers(1, 5, rank))
        if math.prod(shape) > 2000:
            continue
        x = random_elems(rng, shape, es)
        perm = tuple(int(v) for v in rng.permutation(rank))
        ref = golden("transpose", [x], perm=perm)
        st = dense_strides(shape)
        out_shape = [shape[q] for q in perm]
        misalign = 1 if (es == 4 and i % 4 == 0) else 0
        buf = strided_copy(lib, x, es, out_shape, [st[q] for q in perm], 0, misalign)
        check_bytes(buf, out_shape, es, ref, misalign)


@pytest.mark.parametrize("es", [1, 4])
def test_strided_copy_slice(lib, es):
    rng = np.random.default_rng(1400 + es)
    done = 0
    while done < 150:
        rank = int(rng.integers(1, 6))
        shape = tuple(int(v) for v in rng.integers(1, 7, rank))
        n_axes = int(rng.integers(1, rank + 1))
        axes = sorted(int(v) for v in rng.choice(rank, n_axes, replace=False))
        starts, ends, steps = [], [], []
        for ax in axes:
            d = shape[ax]
            step = int(rng.choice([1, 2, 3, -1, -2, -3]))
            starts.append(int(rng.integers(-d - 2, d + 3)))
            ends.append(int(rng.choice([int(rng.integers(-d - 2, d + 3)), 2**31 - 1,
                                        -(2**31)])))
            steps.append(step)
        attrs = dict(starts=starts, ends=ends, axes=axes, steps=steps)
        ranges = shape_ops.slice_indices(Attrs(attrs), shape)
        if any(len(r) == 0 for r in ranges):
            continue
        done += 1
        x = random_elems(rng, shape, es)
        ref = golden("slice", [x], **attrs)
        st = dense_strides(shape)
        out_shape = [len(r) for r in ranges]
        in_stride = [r.step * s for r, s in zip(ranges, st)]
        offset = sum(r.start * s for r, s in zip(ranges, st))
        buf = strided_copy(lib, x, es, out_shape, in_stride, offset)
        check_bytes(buf, out_shape, es, ref)


@pytest.mark.parametrize("es", [1, 4])
def test_strided_copy_broadcast(lib, es):
    rng = np.random.default_rng(1500 + es)
    for _ in range(60):
        rank = int(rng.integers(1, 7))
        out_shape = tuple(int(v) for v in rng.integers(1, 5, rank))
        in_shape = tuple(d if rng.random() < 0.5 else 1 for d in out_shape)
        x = random_elems(rng, in_shape, es)
        ref = np.broadcast_to(x, out_shape)
        st = [0 if d == 1 else s for d, s in zip(in_shape, dense_strides(in_shape))]
        buf = strided_copy(lib, x, es, out_shape, st, 0)
        check_bytes(buf, out_shape, es, ref)


@pytest.mark.parametrize("es", [1, 4])
def test_concat_split_pieces(lib, es):
    rng = np.random.default_rng(1600 + es)
    for _ in range(60):
        rank = int(rng.integers(1, 5))
        base = [int(v) for v in rng.integers(1, 5, rank)]
        axis = int(rng.integers(rank))
        sizes = [int(v) for v in rng.integers(1, 4, int(rng.integers(1, 5)))]
        pieces = []
        for s in sizes:
            shape = list(base)
            shape[axis] = s
            pieces.append(random_elems(rng, tuple(shape), es))
        ref = golden("concat", pieces, axis=axis)
        outer = math.prod(base[:axis])
        after = math.prod(base[axis + 1:]) * es
        total = sum(sizes)
        buf = out_elems(ref.shape, es)
        offset = 0
        for s, piece in zip(sizes, pieces):
            p = ConcatPiece(outer=outer, inner_bytes=s * after, out_inner_bytes=total * after,
                            out_offset_bytes=offset)
            lib.edgeir_concat_piece_copy(ctypes.byref(p), addr(piece), addr(buf))
            offset += s * after
        check_bytes(buf, ref.shape, es, ref)
        # split the concatenation back
        whole = np.ascontiguousarray(ref)
        parts = ops.get("split").evaluate(Attrs({"axis": axis, "sizes": tuple(sizes)}), [whole])
        offset = 0
        for s, part in zip(sizes, parts):
            p = ConcatPiece(outer=outer, inner_bytes=s * after, out_inner_bytes=total * after,
                            out_offset_bytes=offset)
            buf = out_elems(part.shape, es)
            lib.edgeir_split_piece_copy(ctypes.byref(p), addr(whole), addr(buf))
            check_bytes(buf, part.shape, es, part)
            offset += s * after


@pytest.mark.parametrize("es", [1, 3, 4])
def test_pad_constant(lib, es):
    rng = np.random.default_rng(1700 + es)
    for _ in range(80):
        rank = int(rng.integers(1, 6))
        shape = tuple(int(v) for v in rng.integers(1, 5, rank))
        before = [int(v) if rng.random() < 0.6 else 0 for v in rng.integers(0, 3, rank)]
        after = [int(v) if rng.random() < 0.6 else 0 for v in rng.integers(0, 3, rank)]
        x = random_elems(rng, shape, es)
        out_shape = tuple(d + b + a for d, b, a in zip(shape, before, after))
        if es == 3:
            value = np.frombuffer(bytes([7, 8, 9]), dtype="V3")[:1].copy()
            ref = np.empty(out_shape, dtype="V3")
            ref[...] = value[0]
            ref[tuple(slice(b, b + d) for b, d in zip(before, shape))] = x
        else:
            fv = -2.5 if es == 4 else -5.0
            ref = golden("pad", [x], pads=before + after, value=fv)
            value = np.array([fv], dtype=ELEM_DTYPES[es])
        p = PadParams(rank=rank, elem_size=es, in_shape=(ctypes.c_int32 * 6)(*ints(shape)),
                      pad_before=(ctypes.c_int32 * 6)(*ints(before)),
                      out_shape=(ctypes.c_int32 * 6)(*ints(out_shape)), value=addr(value))
        buf = out_elems(out_shape, es)
        lib.edgeir_pad(ctypes.byref(p), addr(x), addr(buf))
        check_bytes(buf, out_shape, es, ref)


def gather_axes(lib, x, es, out_shape, tables):
    """tables: per axis an int32 array or None (identity)."""
    keep = [None if t is None else np.ascontiguousarray(t, dtype=np.int32) for t in tables]
    ptrs = (ctypes.POINTER(ctypes.c_int32) * 6)(
        *[ctypes.cast(addr(t), ctypes.POINTER(ctypes.c_int32)) if t is not None else None
          for t in keep] + [None] * (6 - len(keep)))
    p = GatherNdParams(rank=x.ndim, elem_size=es, in_shape=(ctypes.c_int32 * 6)(*ints(x.shape)),
                       out_shape=(ctypes.c_int32 * 6)(*ints(out_shape)), index=ptrs)
    buf = out_elems(out_shape, es)
    lib.edgeir_gather_axes(ctypes.byref(p), addr(x), addr(buf))
    return buf


@pytest.mark.parametrize("es", [1, 2, 4])
def test_gather_each_axis(lib, es):
    rng = np.random.default_rng(1800 + es)
    for _ in range(40):
        rank = int(rng.integers(1, 6))
        shape = tuple(int(v) for v in rng.integers(1, 5, rank))
        x = random_elems(rng, shape, es)
        for axis in range(rank):
            d = shape[axis]
            idx = rng.integers(-d, d, int(rng.integers(1, 6))).astype(np.int32)
            ref = golden("gather", [x, idx], axis=axis)
            tables = [None] * rank
            tables[axis] = np.where(idx < 0, idx + d, idx)  # normalized at compile time
            buf = gather_axes(lib, x, es, ref.shape, tables)
            check_bytes(buf, ref.shape, es, ref)


@pytest.mark.parametrize("es", [1, 4])
def test_nearest_resize_via_index_tables(lib, es):
    rng = np.random.default_rng(1900 + es)
    for i in range(60):
        shape = (1, int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 7)))
        if i % 2:  # NHWC-like: resize the middle axes
            shape = (shape[0], shape[2], shape[3], shape[1])
        scales = [1.0] * 4
        sizes = list(shape)
        axes = (2, 3) if i % 2 == 0 else (1, 2)
        for ax in axes:
            scales[ax] = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 0.75]))
            sizes[ax] = max(1, int(math.floor(shape[ax] * scales[ax])))
        attrs = dict(sizes=sizes, scales=scales,
                     coordinate_transformation_mode=str(rng.choice(shape_ops.COORD_MODES)),
                     nearest_mode=str(rng.choice(shape_ops.NEAREST_MODES)))
        x = random_elems(rng, shape, es)
        ref = golden("resize", [x], **attrs)
        a = Attrs({"coordinate_transformation_mode": attrs["coordinate_transformation_mode"],
                   "nearest_mode": attrs["nearest_mode"]})
        tables = [None if (sizes[d] == shape[d] and scales[d] == 1.0) else
                  shape_ops._nearest_index(a, sizes[d], shape[d], scales[d])
                  for d in range(4)]
        buf = gather_axes(lib, x, es, ref.shape, tables)
        check_bytes(buf, ref.shape, es, ref)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
def test_pad_modes_via_index_tables(lib, mode):
    rng = np.random.default_rng(2000)
    for es in (1, 4):
        for _ in range(30):
            rank = int(rng.integers(1, 5))
            shape = tuple(int(v) for v in rng.integers(2, 6, rank))
            before = [int(rng.integers(0, d)) for d in shape]
            after = [int(rng.integers(0, d)) for d in shape]
            x = random_elems(rng, shape, es)
            ref = golden("pad", [x], pads=before + after, mode=mode)
            tables = [None if b == a == 0 else np.pad(np.arange(d), (b, a), mode=mode)
                      for d, b, a in zip(shape, before, after)]
            buf = gather_axes(lib, x, es, ref.shape, tables)
            check_bytes(buf, ref.shape, es, ref)


# -- layouts, symbols, sanitizers ------------------------------------------------------------


def test_struct_layouts_match_c(lib, tmp_path):
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "edgeir_kernels.h"',
             "int main(void) {"]
    for cname, cls in STRUCTS.items():
        lines.append(f'  printf("{cname} sizeof %zu\\n", sizeof({cname}));')
        for field, _ in cls._fields_:
            lines.append(f'  printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines += ["  return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-std=c99", "-I", str(RUNTIME), str(src), "-o", str(exe)],
                   check=True)
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    want = []
    for cname, cls in STRUCTS.items():
        want.append(f"{cname} sizeof {ctypes.sizeof(cls)}")
        want += [f"{cname} {f} {getattr(cls, f).offset}" for f, _ in cls._fields_]
    assert got.split("\n")[:-1] == want


def test_kernels_need_only_libm_and_memcpy(tmp_path):
    """No malloc, no stdio: the objects reference only string.h and float math."""
    allowed = {"memcpy", "memset", "memmove", "expf", "logf", "tanhf", "powf"}  # powf: LRN
    for src in SOURCES:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run(["gcc", *[f for f in CFLAGS if f != "-fPIC"], "-fno-stack-protector",
                        "-c", str(src), "-I", str(RUNTIME), "-o", str(obj)], check=True)
        nm = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                            check=True).stdout
        undefined = {line.split()[-1] for line in nm.splitlines() if line.strip()}
        assert undefined <= allowed, (src.name, undefined - allowed)


def test_sanitizers(tmp_path):
    exe = tmp_path / "f32_sanitize"
    src = Path(__file__).parent / "c" / "f32_sanitize.c"
    cmd = ["gcc", "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-fno-omit-frame-pointer", "-I", str(RUNTIME), str(src), *map(str, SOURCES),
           "-o", str(exe), "-lm"]
    subprocess.run(cmd, check=True)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1")
    proc = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    assert "ok" in proc.stdout
