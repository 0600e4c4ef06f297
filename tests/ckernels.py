"""ctypes access to the C kernel library (backends/c/runtime) for the tests.

* :func:`build_library` compiles a list of ``.c`` files into a shared library and loads it;
  :func:`compile_program` builds a stand-alone executable (e.g. under sanitizers).
* The parameter structs of ``edgeir_kernels.h`` are mirrored below as plain
  ``ctypes.Structure`` classes, one per C typedef, named after it (``edgeir_conv_s8_params``
  -> ``ConvS8Params``). Add new ones in the section of their kernel family; every class
  must list the C fields in declaration order with the same types.
* :func:`bind` declares a kernel's prototype (``struct *`` first, then pointers).
* :func:`ptr` turns a numpy array (or None) into a ``void *`` argument.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from ctypes import POINTER, c_float, c_int32, c_void_p
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "backends" / "c" / "runtime"

CC = "gcc"
CFLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror")
# Extra flags for every build from the environment, e.g. to run a test module against an
# UBSan build of the library:
#   EDGEIR_CKERNELS_CFLAGS="-fsanitize=undefined -fno-sanitize-recover=all" \
#   LD_PRELOAD=$(gcc -print-file-name=libubsan.so) pytest tests/test_c_kernels_s8.py
ENV_CFLAGS = tuple(os.environ.get("EDGEIR_CKERNELS_CFLAGS", "").split())


def runtime_source(name: str) -> Path:
    """A file of backends/c/runtime, e.g. ``runtime_source("edgeir_s8.c")``."""
    return RUNTIME / name


def _run_cc(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compiler failed ({' '.join(args)}):\n{proc.stdout}{proc.stderr}")


def build_library(sources: Iterable[Path | str], out_dir: Path | str, name: str = "kernels",
                  extra_flags: Sequence[str] = ()) -> ctypes.CDLL:
    """Compile ``sources`` into ``out_dir/lib<name>.so`` (-fPIC -shared, with CFLAGS) and
    load it. Raises RuntimeError with the compiler's output on failure (warnings are
    errors)."""
    out = Path(out_dir) / f"lib{name}.so"
    _run_cc([CC, *CFLAGS, *ENV_CFLAGS, *extra_flags, "-fPIC", "-shared", f"-I{RUNTIME}",
             *map(str, sources), "-o", str(out), "-lm"])
    return ctypes.CDLL(str(out))


def compile_program(sources: Iterable[Path | str], out: Path | str,
                    extra_flags: Sequence[str] = ()) -> Path:
    """Compile ``sources`` (one with a ``main``) into the executable ``out``."""
    _run_cc([CC, *CFLAGS, *ENV_CFLAGS, *extra_flags, f"-I{RUNTIME}", *map(str, sources),
             "-o", str(out),
             "-lm"])
    return Path(out)


def bind(lib: ctypes.CDLL, name: str, params: type[ctypes.Structure], n_pointers: int) -> Any:
    """Declare ``void name(const params *p, void *, ... n_pointers)`` and return it."""
    fn = getattr(lib, name)
    fn.argtypes = [POINTER(params)] + [c_void_p] * n_pointers
    fn.restype = None
    return fn


def ptr(a: np.ndarray | None) -> c_void_p | None:
    """``void *`` to a C-contiguous numpy array's data (None stays NULL)."""
    if a is None:
        return None
    if not a.flags["C_CONTIGUOUS"]:
        raise ValueError("array must be C-contiguous")
    return a.ctypes.data_as(c_void_p)


def i32x(n: int) -> type:
    return c_int32 * n


# ---- shared parameter blocks ------------------------------------------------------------------


class Bcast4(ctypes.Structure):
    """edgeir_bcast4"""

    _fields_ = [("shape", c_int32 * 4), ("a_stride", c_int32 * 4), ("b_stride", c_int32 * 4)]


class Window(ctypes.Structure):
    """edgeir_window"""

    _fields_ = [(n, c_int32) for n in (
        "batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
        "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "pad_bottom",
        "pad_right")]


def bcast4(out_shape: Sequence[int], a_shape: Sequence[int], b_shape: Sequence[int]) -> Bcast4:
    """The edgeir_bcast4 of a numpy-style broadcast of a and b to out_shape (rank <= 4)."""

    def strides(shape: Sequence[int]) -> list[int]:
        shape = [1] * (4 - len(shape)) + list(shape)
        dense, acc = [0] * 4, 1
        for k in range(3, -1, -1):
            dense[k] = acc if shape[k] != 1 else 0
            acc *= shape[k]
        return dense

    out4 = [1] * (4 - len(out_shape)) + list(out_shape)
    return Bcast4(i32x(4)(*out4), i32x(4)(*strides(a_shape)), i32x(4)(*strides(b_shape)))


def window(x_shape: Sequence[int], out_shape: Sequence[int], kernel: Sequence[int],
           strides: Sequence[int] = (1, 1), dilations: Sequence[int] = (1, 1),
           pads: Sequence[int] = (0, 0, 0, 0)) -> Window:
    """edgeir_window from NHWC input/output shapes; pads are [top, left, bottom, right]."""
    n, h, w, c = x_shape
    _, oh, ow, oc = out_shape
    return Window(n, h, w, c, oh, ow, oc, kernel[0], kernel[1], strides[0], strides[1],
                  dilations[0], dilations[1], pads[0], pads[1], pads[2], pads[3])


# ---- int8 kernels -------------------------------------------------------------------------------


class ConvS8Params(ctypes.Structure):
    """edgeir_conv_s8_params"""

    _fields_ = [("win", Window), ("groups", c_int32), ("in_zp", c_int32), ("out_zp", c_int32),
                ("act_min", c_int32), ("act_max", c_int32)]


class FcS8Params(ctypes.Structure):
    """edgeir_fc_s8_params"""

    _fields_ = [(n, c_int32) for n in (
        "batch", "in_features", "out_features", "out_zp", "act_min", "act_max")]


class AddS8Params(ctypes.Structure):
    """edgeir_add_s8_params"""

    _fields_ = [("bc", Bcast4)] + [(n, c_int32) for n in (
        "a_zp", "b_zp", "out_zp", "left_shift", "a_mult", "a_shift", "b_mult", "b_shift",
        "out_mult", "out_shift", "act_min", "act_max")]


class MulS8Params(ctypes.Structure):
    """edgeir_mul_s8_params"""

    _fields_ = [("bc", Bcast4)] + [(n, c_int32) for n in (
        "a_zp", "b_zp", "out_zp", "mult", "shift", "act_min", "act_max")]


class PoolS8Params(ctypes.Structure):
    """edgeir_pool_s8_params"""

    _fields_ = [("win", Window), ("act_min", c_int32), ("act_max", c_int32)]


class MeanS8Params(ctypes.Structure):
    """edgeir_mean_s8_params"""

    _fields_ = [(n, c_int32) for n in (
        "batch", "h", "w", "c", "in_zp", "out_zp", "mult", "shift")]


class SoftmaxS8Params(ctypes.Structure):
    """edgeir_softmax_s8_params"""

    _fields_ = [(n, c_int32) for n in (
        "rows", "depth", "input_mult", "input_left_shift", "diff_min")]


class SigmoidS8Params(ctypes.Structure):
    """edgeir_sigmoid_s8_params (logistic and tanh)"""

    _fields_ = [(n, c_int32) for n in (
        "size", "in_zp", "input_mult", "input_left_shift", "input_range_radius")]


class HardSwishS8Params(ctypes.Structure):
    """edgeir_hard_swish_s8_params"""

    _fields_ = [(n, c_int32) for n in (
        "size", "in_zp", "out_zp", "out_mult_fixedpoint_int16", "out_mult_exponent",
        "reluish_mult_fixedpoint_int16", "reluish_mult_exponent")]


class QuantizeParams(ctypes.Structure):
    """edgeir_quantize_params"""

    _fields_ = [("size", c_int32), ("scale", c_float), ("zero_point", c_int32),
                ("round_half_even", c_int32)]


class DequantizeParams(ctypes.Structure):
    """edgeir_dequantize_params"""

    _fields_ = [("size", c_int32), ("scale", c_float), ("zero_point", c_int32)]


class RequantizeParams(ctypes.Structure):
    """edgeir_requantize_params"""

    _fields_ = [(n, c_int32) for n in (
        "size", "in_zp", "out_zp", "mult", "shift", "in_unsigned", "out_unsigned")]


# (kernel, params struct, number of pointer arguments after the struct)
S8_KERNELS: dict[str, tuple[type[ctypes.Structure], int]] = {
    "edgeir_conv_s8": (ConvS8Params, 6),
    "edgeir_conv_s8_hwio": (ConvS8Params, 6),
    "edgeir_depthwise_conv_s8": (ConvS8Params, 6),
    "edgeir_fc_s8": (FcS8Params, 6),
    "edgeir_add_s8": (AddS8Params, 3),
    "edgeir_mul_s8": (MulS8Params, 3),
    "edgeir_avg_pool_s8": (PoolS8Params, 2),
    "edgeir_max_pool_s8": (PoolS8Params, 2),
    "edgeir_mean_s8": (MeanS8Params, 2),
    "edgeir_softmax_s8": (SoftmaxS8Params, 2),
    "edgeir_logistic_s8": (SigmoidS8Params, 2),
    "edgeir_tanh_s8": (SigmoidS8Params, 2),
    "edgeir_hard_swish_s8": (HardSwishS8Params, 2),
    "edgeir_quantize_f32_s8": (QuantizeParams, 2),
    "edgeir_dequantize_s8_f32": (DequantizeParams, 2),
    "edgeir_requantize_8": (RequantizeParams, 2),
}


class Kernels:
    """A loaded library with the kernels of ``table`` bound as attributes (by C name)."""

    def __init__(self, lib: ctypes.CDLL, table: dict[str, tuple[type[ctypes.Structure], int]]):
        self.lib = lib
        for name, (params, n_pointers) in table.items():
            setattr(self, name, bind(lib, name, params, n_pointers))


# ---- float32 kernels ---------------------------------------------------------------------------
# (to be added next to their kernels: structs mirroring edgeir_*_f32_params, and an
#  F32_KERNELS table like S8_KERNELS)
