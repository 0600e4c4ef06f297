"""ctypes access to the C runtime's float32 and data-movement kernels, for the tests.

``build(dest_dir)`` compiles ``backends/c/runtime/edgeir_f32.c`` and ``edgeir_data.c`` into a
shared library and returns it loaded, with argument types declared. The Structure classes
mirror the parameter structs of ``edgeir_kernels.h`` field for field; ``STRUCTS`` maps each C
type name to its class so a test can compare sizes and offsets with what the C compiler
says.

Array arguments are declared ``c_void_p``: pass ``addr(array)`` (or an address plus a byte
offset) so that a test can point into the middle of a buffer.
"""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "backends" / "c" / "runtime"
SOURCES = (RUNTIME / "edgeir_f32.c", RUNTIME / "edgeir_data.c")
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wvla",
          "-pedantic", "-fPIC")

MAX_RANK = 6
i32 = ctypes.c_int32
f32 = ctypes.c_float
vp = ctypes.c_void_p

EDGEIR_ADD, EDGEIR_SUB, EDGEIR_MUL, EDGEIR_DIV = range(4)
BINARY_OPS = {"add": EDGEIR_ADD, "sub": EDGEIR_SUB, "mul": EDGEIR_MUL, "div": EDGEIR_DIV}
UNARY_OPS = {"relu": 0, "leaky_relu": 1, "clip": 2, "sigmoid": 3, "tanh": 4,
             "hard_sigmoid": 5, "hard_swish": 6}


class Bcast4(ctypes.Structure):
    _fields_ = [("shape", i32 * 4), ("a_stride", i32 * 4), ("b_stride", i32 * 4)]


class Window(ctypes.Structure):
    _fields_ = [(name, i32) for name in (
        "batch", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
        "stride_h", "stride_w", "dil_h", "dil_w", "pad_top", "pad_left", "pad_bottom",
        "pad_right")]


class ConvF32Params(ctypes.Structure):
    _fields_ = [("win", Window), ("groups", i32), ("act_min", f32), ("act_max", f32)]


class FcF32Params(ctypes.Structure):
    _fields_ = [("batch", i32), ("in_features", i32), ("out_features", i32),
                ("act_min", f32), ("act_max", f32)]


class MatmulF32Params(ctypes.Structure):
    _fields_ = [("batch", i32), ("m", i32), ("n", i32), ("k", i32),
                ("a_batch_stride", i32), ("b_batch_stride", i32),
                ("trans_a", i32), ("trans_b", i32), ("alpha", f32), ("beta", f32),
                ("c_bc", Bcast4), ("act_min", f32), ("act_max", f32)]


class BinaryF32Params(ctypes.Structure):
    _fields_ = [("bc", Bcast4), ("op", i32), ("act_min", f32), ("act_max", f32)]


class UnaryF32Params(ctypes.Structure):
    _fields_ = [("size", i32), ("op", i32), ("alpha", f32), ("beta", f32)]


class SoftmaxF32Params(ctypes.Structure):
    _fields_ = [("outer", i32), ("axis", i32), ("inner", i32)]


class PoolF32Params(ctypes.Structure):
    _fields_ = [("win", Window), ("count_include_pad", i32), ("act_min", f32),
                ("act_max", f32)]


class ReduceF32Params(ctypes.Structure):
    _fields_ = [("outer", i32), ("axis", i32), ("inner", i32), ("op", i32)]


class ChannelAffineF32Params(ctypes.Structure):
    _fields_ = [("outer", i32), ("channels", i32), ("inner", i32)]


class StridedParams(ctypes.Structure):
    _fields_ = [("rank", i32), ("elem_size", i32), ("out_shape", i32 * MAX_RANK),
                ("in_stride", i32 * MAX_RANK), ("in_offset", i32)]


class ConcatPiece(ctypes.Structure):
    _fields_ = [("outer", i32), ("inner_bytes", i32), ("out_inner_bytes", i32),
                ("out_offset_bytes", i32)]


class PadParams(ctypes.Structure):
    _fields_ = [("rank", i32), ("elem_size", i32), ("in_shape", i32 * MAX_RANK),
                ("pad_before", i32 * MAX_RANK), ("out_shape", i32 * MAX_RANK),
                ("value", vp)]


class GatherNdParams(ctypes.Structure):
    _fields_ = [("rank", i32), ("elem_size", i32), ("in_shape", i32 * MAX_RANK),
                ("out_shape", i32 * MAX_RANK), ("index", ctypes.POINTER(i32) * MAX_RANK)]


STRUCTS: dict[str, type[ctypes.Structure]] = {
    "edgeir_bcast4": Bcast4,
    "edgeir_window": Window,
    "edgeir_conv_f32_params": ConvF32Params,
    "edgeir_fc_f32_params": FcF32Params,
    "edgeir_matmul_f32_params": MatmulF32Params,
    "edgeir_binary_f32_params": BinaryF32Params,
    "edgeir_unary_f32_params": UnaryF32Params,
    "edgeir_softmax_f32_params": SoftmaxF32Params,
    "edgeir_pool_f32_params": PoolF32Params,
    "edgeir_reduce_f32_params": ReduceF32Params,
    "edgeir_channel_affine_f32_params": ChannelAffineF32Params,
    "edgeir_strided_params": StridedParams,
    "edgeir_concat_piece": ConcatPiece,
    "edgeir_pad_params": PadParams,
    "edgeir_gather_nd_params": GatherNdParams,
}

# function name -> (params struct, number of array pointers after it)
FUNCTIONS: dict[str, tuple[type[ctypes.Structure], int]] = {
    "edgeir_conv_f32": (ConvF32Params, 4),
    "edgeir_depthwise_conv_f32": (ConvF32Params, 4),
    "edgeir_conv_transpose_f32": (ConvF32Params, 4),
    "edgeir_fc_f32": (FcF32Params, 4),
    "edgeir_matmul_f32": (MatmulF32Params, 4),
    "edgeir_binary_f32": (BinaryF32Params, 3),
    "edgeir_unary_f32": (UnaryF32Params, 2),
    "edgeir_softmax_f32": (SoftmaxF32Params, 2),
    "edgeir_log_softmax_f32": (SoftmaxF32Params, 2),
    "edgeir_avg_pool_f32": (PoolF32Params, 2),
    "edgeir_max_pool_f32": (PoolF32Params, 2),
    "edgeir_reduce_f32": (ReduceF32Params, 2),
    "edgeir_channel_affine_f32": (ChannelAffineF32Params, 4),
    "edgeir_strided_copy": (StridedParams, 2),
    "edgeir_concat_piece_copy": (ConcatPiece, 2),
    "edgeir_split_piece_copy": (ConcatPiece, 2),
    "edgeir_pad": (PadParams, 2),
    "edgeir_gather_axes": (GatherNdParams, 2),
}


def build(dest_dir: Path, extra_flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """Compile the float and data kernels into dest_dir/libedgeir_f32.so and load it."""
    lib_path = Path(dest_dir) / "libedgeir_f32.so"
    cmd = ["gcc", *CFLAGS, *extra_flags, "-shared", "-I", str(RUNTIME),
           *map(str, SOURCES), "-o", str(lib_path), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    lib = ctypes.CDLL(str(lib_path))
    for name, (struct, n_ptrs) in FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.POINTER(struct)] + [vp] * n_ptrs
        fn.restype = None
    return lib


def addr(a: np.ndarray | None, offset_bytes: int = 0) -> int | None:
    """The address of a C-contiguous array's data (None for None)."""
    if a is None:
        return None
    if not a.flags.c_contiguous:
        raise ValueError("array must be C-contiguous")
    return a.ctypes.data + offset_bytes


def f32_array(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def window(**kw: int) -> Window:
    """A Window with dil/stride 1 and zero pads unless given."""
    values = {"batch": 1, "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1,
              "pad_top": 0, "pad_left": 0, "pad_bottom": 0, "pad_right": 0}
    values.update(kw)
    return Window(**values)


def bcast4(out_shape, a_shape, b_shape=None) -> Bcast4:
    """Broadcast strides (elements, 0 on broadcast dims) of dense a/b against out_shape."""

    def strides(shape):
        shape = (1,) * (4 - len(shape)) + tuple(shape)
        dense, acc = [0] * 4, 1
        for d in range(3, -1, -1):
            dense[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return dense

    out = (1,) * (4 - len(out_shape)) + tuple(out_shape)
    bc = Bcast4()
    bc.shape[:] = list(out)
    bc.a_stride[:] = strides(a_shape)
    bc.b_stride[:] = strides(b_shape if b_shape is not None else (1,))
    return bc


def ints(values, n: int = MAX_RANK) -> list[int]:
    values = [int(v) for v in values]
    return values + [0] * (n - len(values))
