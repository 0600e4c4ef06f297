"""Print a lowered, planned graph as C: one small emitter per kernel.

Everything here is mechanical: the kernel (``impl``), the arena offsets (``offsets``) and
the compile-time tables were decided by lower-c and plan-memory and are in the IR. An
emitter turns one node into a ``static const`` parameter struct (shapes as constants)
and one kernel call; constants become ``const`` arrays in ``<name>_weights.c``.
Output is deterministic: same graph, same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from backends.c.lower import accumulator_bound, fast_requant
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerTensor, Value
from compiler.ops.base import Attrs
from compiler.ops.shape import _nearest_index, slice_indices

C_TYPES = {"f32": "float", "i8": "int8_t", "ui8": "uint8_t", "i32": "int32_t",
           "i64": "int64_t"}
DATA_KERNELS = ("edgeir_strided_copy", "edgeir_concat_piece_copy", "edgeir_split_piece_copy",
                "edgeir_pad", "edgeir_gather_axes")
# Kernels of edgeir_s8.c whose names do not end in _s8.
S8_KERNELS = ("edgeir_dequantize_s8_f32", "edgeir_requantize_8", "edgeir_conv_s8_hwio")
INPLACE_KERNELS = ("edgeir_depthwise_conv_s8_inplace", "edgeir_pointwise_conv_s8",
                   "edgeir_pointwise_conv_s8_reverse", "edgeir_conv_add_s8")


def c_float(x: float) -> str:
    """A float32 literal that the C compiler reads back exactly."""
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    text = str(np.float32(x))
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def c_literals(flat: np.ndarray, ctype: str) -> list[str]:
    """The C literals of a 1-D array's elements (``c_float`` for floats, decimal integers
    otherwise), each distinct value formatted once: linear in the size, and fast for the
    repetitive tables of real models (int8 weights have at most 256 values)."""
    if flat.size == 0:
        return []
    if ctype == "float":
        keys = flat.astype(np.float32).view(np.uint32)  # by bits: -0.0, NaNs keep their text
        uniq, inverse = np.unique(keys, return_inverse=True)
        texts = [c_float(float(v)) for v in uniq.view(np.float32)]
    else:
        uniq, inverse = np.unique(flat, return_inverse=True)
        texts = [str(int(v)) for v in uniq]
    return [texts[i] for i in inverse.reshape(-1).tolist()]


def kernel_file(impl: str) -> str:
    """The runtime source file that defines kernel ``impl``."""
    if "_dsp" in impl:
        return "edgeir_s8_dsp.c"
    if impl in DATA_KERNELS:
        return "edgeir_data.c"
    if impl in INPLACE_KERNELS:
        return "edgeir_inplace.c"
    if impl in S8_KERNELS or impl.endswith("_s8"):
        return "edgeir_s8.c"
    if impl.endswith("_f32"):
        return "edgeir_f32.c"
    raise KeyError(impl)


# Kernel structs emitted as const tables: their number of int32 fields.
STRUCTS = {"edgeir_rq": 4}


@dataclass
class Module:
    """The pieces of the generated C, filled in by the emitters."""

    name: str
    graph: Graph
    params: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    arrays: dict[int, str] = field(default_factory=dict)   # id(constant) -> C name
    array_defs: list[str] = field(default_factory=list)
    array_decls: list[str] = field(default_factory=list)
    kernels: set[str] = field(default_factory=set)
    uses_math: bool = False
    counter: int = 0
    pinned: frozenset[str] = frozenset()   # names of the constants pinned into SRAM
    flash_bytes: int = 0                    # bytes of the const arrays (weights, tables)
    pinned_bytes: int = 0                   # bytes of the arrays pinned into SRAM
    layer_pinned: bool = False              # the node being emitted reads pinned weights
    specialize: bool = False                # --specialize: per-layer kernel loops
    functions: list[str] = field(default_factory=list)  # static C functions of the model
    general_records: set[str] = field(default_factory=set)  # rq tables in the general form
    specialized: set[str] = field(default_factory=set)  # nodes whose loops were specialized

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{self.name}_{stem}{self.counter}"

    def table(self, data: np.ndarray, ctype: str, stem: str, comment: str = "",
              pinned: bool = False, align: int = 0) -> str:
        """A new const array in the weights file (or, pinned, an SRAM copy); its C name."""
        cname = self.fresh(stem)
        flat = np.ascontiguousarray(data).reshape(-1)
        if ctype == "float":
            items = c_literals(flat, ctype)
            self.uses_math |= not bool(np.isfinite(flat).all())
        elif ctype in STRUCTS:  # records of int32 fields, one per row of data
            rows = np.ascontiguousarray(data).reshape(-1, STRUCTS[ctype])
            items = ["{" + ", ".join(str(int(v)) for v in row) + "}" for row in rows]
        else:
            items = c_literals(flat, ctype)
        lines = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)] or ["0"]
        body = ",\n  ".join(lines)
        note = f" /* {comment} */" if comment else ""
        size = max(len(items), 1)
        up = self.name.upper()
        nbytes = size * (4 * STRUCTS[ctype] if ctype in STRUCTS else np.dtype(
            {"float": np.float32, "int8_t": np.int8, "uint8_t": np.uint8, "int32_t": np.int32,
             "int64_t": np.int64}[ctype]).itemsize)
        if pinned:
            self.pinned_bytes += nbytes
        else:
            self.flash_bytes += nbytes
        aligned = f" __attribute__((aligned({align})))" if align else ""
        if pinned:
            self.array_defs.append(f"{up}_PINNED {ctype} {cname}[{size}]{aligned} = "
                                   f"{{{note}\n  {body}\n}};\n")
            self.array_decls.append(f"extern {ctype} {cname}[{size}];")
        else:
            self.array_defs.append(f"{up}_WEIGHTS const {ctype} {cname}[{size}]{aligned} = "
                                   f"{{{note}\n  {body}\n}};\n")
            self.array_decls.append(f"extern const {ctype} {cname}[{size}];")
        return cname

    def const_array(self, value: Value, data: np.ndarray | None = None, align: int = 0) -> str:
        """The C array of a constant (``data``: in a kernel's own layout; ``align``: the
        array's alignment in bytes when the kernel loads it in words)."""
        if data is None and id(value) in self.arrays:
            return self.arrays[id(value)]
        arr = value.data if data is None else data
        cname = self.table(arr, C_TYPES[value.type.dtype], "w",
                           f"%{value.name}: {value.type}", pinned=value.name in self.pinned,
                           align=align)
        if data is None:
            self.arrays[id(value)] = cname
        return cname

    def ptr(self, value: Value, const: bool = True) -> str:
        """A C expression pointing at the value's data (arena or const array)."""
        ctype = C_TYPES[value.type.dtype]
        if value.is_constant:
            return self.const_array(value)
        qual = "const " if const else ""
        return f"({qual}{ctype} *)(arena + {self.offset(value)})"

    def offset(self, value: Value) -> int:
        g = self.graph
        for v, off in zip(g.inputs, g.attrs["input_offsets"]):
            if v is value:
                return off
        node = value.producer
        return node.attrs["offsets"][value.result_index]

    def out(self, node: Node, i: int = 0) -> str:
        return self.ptr(node.results[i], const=False)

    def param(self, ctype: str, fields: str) -> str:
        pname = self.fresh("p")
        self.params.append(f"static const {ctype} {pname} = {{{fields}}};")
        return pname

    def specialized_function(self, node: Node, stem: str, comment: str, params: str,
                             body: str) -> str:
        """--specialize: a static function of the model (``params``: its parameter list,
        ``body``: its statements) instantiating edgeir_s8_dsp.h's code for ``node``'s layer;
        its C name."""
        fname = self.fresh(stem)
        self.functions.append(f"/* {node.loc or node.result.name}: {comment} */\n"
                              f"static void {fname}({params}) {{\n  {body}\n}}\n")
        self.specialized.add(node.loc or node.result.name)
        return fname

    def expansion(self, node: Node, params: str, body: str, what: str) -> str:
        """--specialize: a function expanding a pixel's input with edgeir_s8_dsp.h's
        ``body`` (expand_window or expand_pixel) on the layer's constant parameter block
        ``params``; its C name."""
        call = (f"{body}(&{params}, in, px, dst, stage);" if body == "expand_window" else
                f"(void)stage;\n  {body}(&{params}, in, px, dst);")
        return self.specialized_function(
            node, "expand", what, "const int8_t *in, size_t px, uint32_t *dst, int8_t *stage",
            call)


Emitter = Callable[[Module, Node, Attrs], str]
EMITTERS: dict[str, Emitter] = {}


def emitter(*impls: str) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for impl in impls:
            EMITTERS[impl] = fn
        return fn

    return register


# -- shared parameter blocks ----------------------------------------------------------------


def _ints(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)


def window(x: Value, y: Value, k: Sequence[int], a: Attrs) -> str:
    n, h, w, c = x.type.shape
    _, oh, ow, oc = y.type.shape
    s = a.get("strides", (1, 1))
    d = a.get("dilations", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    return "{" + _ints([n, h, w, c, oh, ow, oc, k[0], k[1], s[0], s[1], d[0], d[1],
                        pt, pl, pb, pr]) + "}"


def bcast4(a: Value, b: Value, out: Value, node: Node) -> str:
    shape = out.type.shape
    if len(shape) > 4:
        raise EdgeirError(f"broadcasting over rank {len(shape)} has no C kernel (rank 4 "
                          "at most)", node.label, None, "unsupported")
    pad = 4 - len(shape)
    full = (1,) * pad + tuple(shape)

    def strides(v: Value) -> list[int]:
        vs = (1,) * (4 - v.type.rank) + v.type.shape
        dense = [int(np.prod(vs[i + 1:])) for i in range(4)]
        return [0 if vs[i] == 1 and full[i] != 1 else dense[i] for i in range(4)]

    return "{{" + _ints(full) + "}, {" + _ints(strides(a)) + "}, {" + _ints(strides(b)) + "}}"


def act_f(a: Attrs) -> tuple[str, str]:
    clamp = a.get("clamp", ())
    if not clamp:
        return "-INFINITY", "INFINITY"
    return c_float(clamp[0]), c_float(clamp[1])


def per_channel(m: Module, values: Sequence[int], channels: int, stem: str) -> str:
    """A per-channel requantization table; pinned into SRAM with its layer's weights (it is
    read once per output element, as often as the weights are)."""
    data = np.asarray(values if len(values) == channels else list(values) * channels, np.int32)
    return m.table(data, "int32_t", stem, pinned=m.layer_pinned)


def rq_records(m: Module, bias: np.ndarray, multiplier: Sequence[int], shift: Sequence[int],
               channels: int, pad_to: int, out_zp: int, w: np.ndarray | None = None) -> str:
    """The DSP kernels' per-channel bias and requantization (edgeir_rq), padded with zero
    channels to a multiple of ``pad_to``; pinned into SRAM with its layer's weights.

    In the fast form, for a shift of -r: mult, round = 2^(r-2) + out_zp * 2^(r-1) and
    shift = r - 1 (the output zero point rides in the rounding constant: adding
    out_zp * 2^(r-1) before the final shift adds out_zp after it). A zero multiplier gives
    out_zp for any shift (r = 2 then). With the weights ``w`` ([channels][...], the input
    zero point folded into ``bias``), the accumulators' static bound lets deep shifts fit
    (fast_requant), and a channel whose weights are all zero, whose accumulator is its bias,
    gets its constant output C: mult 0, round 2C + 1, shift 1 (zero filters have tiny
    scales, so deep shifts, which would not fit).

    A layer with a channel outside that form (a real multiplier of 1/4 or more, a
    multiplier not normalized, a rounding constant past int32's headroom) gets the general
    form for every channel: TFLM's multiplier, TFLM's shift in round, shift 31 (the
    kernels' slower path, which adds the zero point itself; the fast form's shift is at
    most 30)."""
    from compiler.quant import arith

    mult = np.broadcast_to(np.asarray(multiplier, np.int64), (channels,))
    sh = np.broadcast_to(np.asarray(shift, np.int64), (channels,))
    b = np.asarray(bias, np.int64).reshape(-1)[:channels]
    n = -(-channels // pad_to) * pad_to
    rec = np.zeros((n, 4), np.int64)
    rec[:channels, 0] = b
    rec[:channels, 1] = mult
    bound: object = 2**31
    const = np.zeros(channels, bool)
    if w is not None:
        bound = accumulator_bound(w, b)
        const = np.abs(np.asarray(w, np.int64).reshape(channels, -1)).sum(axis=1) == 0
    fast = fast_requant(np.where(const, 0, mult), sh, out_zp, bound)
    if fast is not None:
        rec[:, 2:] = 1  # the padding channels: mult 0, r = 2 (their outputs are never stored)
        rec[:channels, 2:] = fast
        if const.any():
            value = arith.multiply_by_quantized_multiplier(b[const], mult[const], sh[const])
            c = np.clip(np.asarray(value, np.int64) + int(out_zp), -128, 127)
            rec[:channels, 1][const] = 0
            rec[:channels, 2][const] = 2 * c + 1
            rec[:channels, 3][const] = 1
    else:  # the general form for the whole layer: TFLM's shift in round, shift 31
        rec[:channels, 2] = sh
        rec[:, 3] = 31
    name = m.table(rec, "edgeir_rq", "rq", pinned=m.layer_pinned)
    if fast is None:
        m.general_records.add(name)
    return name


RQ_MODES = ("the fast requantization", "the fast requantization and a clamp",
            "the general requantization", "the general requantization and a clamp")


def rq_mode(m: Module, rq: str, a: Attrs) -> int:
    """rq_mode of edgeir_s8_dsp.h for a layer, known at compile time: RQ_CLAMP (1) for an
    activation range narrower than int8's, RQ_GENERAL (2) for records in the general form."""
    return int(a.act_min > -128 or a.act_max < 127) | (2 if rq in m.general_records else 0)


# -- int8 -------------------------------------------------------------------------------------


@emitter("edgeir_conv_s8", "edgeir_depthwise_conv_s8", "edgeir_conv_s8_hwio",
         "edgeir_depthwise_conv_s8_inplace", "edgeir_pointwise_conv_s8",
         "edgeir_pointwise_conv_s8_reverse")
def _conv_s8(m: Module, node: Node, a: Attrs) -> str:
    x, w, b = node.operands
    y = node.result
    oc, kh, kw, _ = w.type.shape
    params = m.param("edgeir_conv_s8_params", f"{window(x, y, (kh, kw), a)}, {a.group}, "
                     f"{a.x_zp}, {a.out_zp}, {a.act_min}, {a.act_max}")
    if a.impl in ("edgeir_depthwise_conv_s8", "edgeir_depthwise_conv_s8_inplace"):
        wname = m.const_array(w, np.transpose(w.data[..., 0], (1, 2, 0)))  # [k_h][k_w][out_c]
    elif a.impl in ("edgeir_conv_s8_hwio", "edgeir_pointwise_conv_s8",
                    "edgeir_pointwise_conv_s8_reverse"):
        wname = m.const_array(w, np.transpose(w.data, (1, 2, 3, 0)))  # [k_h][k_w][in][out]
    else:
        wname = m.const_array(w)
    mult = per_channel(m, a.multiplier, oc, "mult")
    shift = per_channel(m, a.shift, oc, "shift")
    scratch = f", (int8_t *)(arena + {a.scratch_offsets[0]})" if a.scratch else ""
    return (f"{a.impl}(&{params}, {m.ptr(x)}, {wname}, {m.const_array(b)}, {mult}, {shift}, "
            f"{m.out(node)}{scratch});")


def dsp_weights(w: np.ndarray, block: int = 2) -> np.ndarray:
    """[out][k...] int8 weights in the DSP kernels' layout: output channels in blocks of
    ``block`` (pairs for convolutions, quads for fully connected layers; padded with zero
    filters), the reduction in 4-groups padded with zeros: [out/block][k4/4][block][4]."""
    o = w.shape[0]
    flat = w.reshape(o, -1)
    k4 = -(-flat.shape[1] // 4) * 4
    padded = np.zeros((-(-o // block) * block, k4), np.int8)
    padded[:o, :flat.shape[1]] = flat
    return padded.reshape(-1, block, k4 // 4, 4).transpose(0, 2, 1, 3).copy()


@emitter("edgeir_conv_s8_dsp", "edgeir_pointwise_conv_s8_dsp",
         "edgeir_pointwise_conv_s8_dsp_reverse")
def _conv_s8_dsp(m: Module, node: Node, a: Attrs) -> str:
    x, w, b = node.operands
    oc, kh, kw, _ = w.type.shape
    params = m.param("edgeir_conv_s8_params", f"{window(x, node.result, (kh, kw), a)}, 1, "
                     f"{a.x_zp}, {a.out_zp}, {a.act_min}, {a.act_max}")
    wname = m.const_array(w, dsp_weights(w.data), align=4)
    rq = rq_records(m, b.data, a.multiplier, a.shift, oc, 2, a.out_zp, w.data)
    args = (f"&{params}, {m.ptr(x)}, {wname}, {rq}, {m.out(node)}, "
            f"(int8_t *)(arena + {a.scratch_offsets[0]})")
    if not m.specialize:
        return f"{a.impl}({args});"
    if a.impl == "edgeir_conv_s8_dsp":
        fn = m.expansion(node, params, "expand_window", "the im2col window of "
                         + shape_note(x, kh, kw, a))
        return f"edgeir_conv_s8_dsp_spec({args}, {fn});"
    fn = m.expansion(node, params, "expand_pixel",
                     f"a pointwise layer's input pixel, {x.type.shape[-1]} channels")
    reverse = int(a.impl.endswith("_reverse"))
    return f"edgeir_pointwise_conv_s8_dsp_spec({args}, {reverse}, {fn});"


def shape_note(x: Value, kh: int, kw: int, a: Attrs) -> str:
    """A specialized window's shape, for its comment: "3x3 taps, stride 1x1, dilation 1x1,
    padding 1 1 1 1, over a 32x32x16 input"."""
    _, h, w, c = x.type.shape
    pads = "padding " + " ".join(map(str, a.get("pads", (0, 0, 0, 0))))
    return (f"{kh}x{kw} taps, stride {'x'.join(map(str, a.get('strides', (1, 1))))}, dilation "
            f"{'x'.join(map(str, a.get('dilations', (1, 1))))}, {pads}, over a {h}x{w}x{c} "
            f"input")


def dsp_depthwise_weights(w: np.ndarray) -> np.ndarray:
    """[c][k_h][k_w][1] int8 depthwise weights in the DSP kernel's layout: channels in groups
    of 4 (zero padded), per group and tap two words of int16 pairs, channels (0, 2) and
    (1, 3): [c4/4][k_h * k_w][2] as int32."""
    c = w.shape[0]
    taps = w.reshape(c, -1).astype(np.int64)
    c4 = -(-c // 4) * 4
    padded = np.zeros((c4, taps.shape[1]), np.int64)
    padded[:c] = taps
    g = padded.reshape(c4 // 4, 4, -1).transpose(0, 2, 1)  # [group][tap][channel]
    lo, hi = g[..., [0, 1]], g[..., [2, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)
    return words.astype(np.uint32).view(np.int32)


@emitter("edgeir_depthwise_conv_s8_inplace_dsp", "edgeir_depthwise_conv_s8_inplace_dsp_lean")
def _depthwise_s8_dsp(m: Module, node: Node, a: Attrs) -> str:
    x, w, b = node.operands
    oc, kh, kw, _ = w.type.shape
    params = m.param("edgeir_conv_s8_params", f"{window(x, node.result, (kh, kw), a)}, "
                     f"{a.group}, {a.x_zp}, {a.out_zp}, {a.act_min}, {a.act_max}")
    wname = m.table(dsp_depthwise_weights(w.data), "int32_t", "w",
                    f"%{w.name}: {w.type}", pinned=w.name in m.pinned)
    rq = rq_records(m, b.data, a.multiplier, a.shift, oc, 4, a.out_zp, w.data)
    args = (f"{m.ptr(x)}, {wname}, {rq}, {m.out(node)}, "
            f"(int8_t *)(arena + {a.scratch_offsets[0]})")
    if not m.specialize:
        return f"{a.impl}(&{params}, {args});"
    lean = int(a.impl.endswith("_lean"))
    mode = rq_mode(m, rq, a)
    fname = m.specialized_function(
        node, "depthwise", f"depthwise, {shape_note(x, kh, kw, a)}; "
        f"{'the raw ring' if lean else 'the sign-extended ring'}, {RQ_MODES[mode]}",
        "const int8_t *in, const int32_t *w, const edgeir_rq *rq, int8_t *out,\n"
        "    int8_t *scratch", f"depthwise_dsp(&{params}, in, w, rq, out, scratch, {lean}, "
        f"{mode});")
    return f"{fname}({args});"


@emitter("edgeir_fc_s8", "edgeir_fc_s8_dsp")
def _fc_s8(m: Module, node: Node, a: Attrs) -> str:
    x, w, b = node.operands
    batch, k = x.type.shape
    o = w.type.shape[0]
    params = m.param("edgeir_fc_s8_params", f"{batch}, {k}, {o}, {a.out_zp}, {a.act_min}, "
                     f"{a.act_max}")
    if a.impl == "edgeir_fc_s8_dsp":
        wname = m.const_array(w, dsp_weights(w.data, 4), align=4)
        rq = rq_records(m, b.data, a.multiplier, a.shift, o, 4, a.out_zp, w.data)
        return f"{a.impl}(&{params}, {m.ptr(x)}, {wname}, {rq}, {m.out(node)});"
    mult = per_channel(m, a.multiplier, o, "mult")
    shift = per_channel(m, a.shift, o, "shift")
    return (f"{a.impl}(&{params}, {m.ptr(x)}, {m.const_array(w)}, {m.const_array(b)}, "
            f"{mult}, {shift}, {m.out(node)});")


@emitter("edgeir_add_s8")
def _add_s8(m: Module, node: Node, a: Attrs) -> str:
    x, z = node.operands
    params = m.param("edgeir_add_s8_params", f"{bcast4(x, z, node.result, node)}, "
                     + _ints([a.a_zp, a.b_zp, a.out_zp, a.left_shift, a.a_multiplier,
                              a.a_shift, a.b_multiplier, a.b_shift, a.out_multiplier,
                              a.out_shift, a.act_min, a.act_max]))
    return f"edgeir_add_s8(&{params}, {m.ptr(x)}, {m.ptr(z)}, {m.out(node)});"


def add_lut(a: Attrs, conv_operand: int) -> np.ndarray:
    """The DSP fused add's table: for x = -128..127 each operand's scaled value, TFLM's
    MultiplyByQuantizedMultiplierSmallerThanOneExp((x - zp) << left_shift, multiplier, shift)
    (the interpreter's arithmetic), the convolution's operand first, then the residual's."""
    from compiler.quant import arith

    x = np.arange(-128, 128, dtype=np.int64)
    scaled = []
    for zp, mult, shift in ((a.a_zp, a.a_multiplier, a.a_shift),
                            (a.b_zp, a.b_multiplier, a.b_shift)):
        v = (x - zp) * (1 << a.left_shift)
        scaled.append(arith.multiply_by_quantized_multiplier_smaller_than_one_exp(v, mult, shift))
    if conv_operand == 1:
        scaled.reverse()
    return np.concatenate(scaled).astype(np.int32)


@emitter("edgeir_conv_add_s8", "edgeir_conv_add_s8_dsp")
def _conv_add_s8(m: Module, node: Node, a: Attrs) -> str:
    from compiler import ops

    k = 0 if node.operands[0].producer is not None and \
        node.operands[0].producer.attrs.get("impl") == "fused" else 1
    conv = node.operands[k].producer
    ca = ops.get(conv.op).attrs_of(conv)
    x, w, b = conv.operands
    oc, kh, kw, _ = w.type.shape
    cparams = m.param("edgeir_conv_s8_params", f"{window(x, conv.result, (kh, kw), ca)}, 1, "
                      f"{ca.x_zp}, {ca.out_zp}, {ca.act_min}, {ca.act_max}")
    aparams = m.param("edgeir_add_s8_params", "{{1, 1, 1, 1}, {0, 0, 0, 0}, {0, 0, 0, 0}}, "
                      + _ints([a.a_zp, a.b_zp, a.out_zp, a.left_shift, a.a_multiplier,
                               a.a_shift, a.b_multiplier, a.b_shift, a.out_multiplier,
                               a.out_shift, a.act_min, a.act_max]))
    residual = node.operands[1 - k]
    tail = f"{m.ptr(residual)}, {m.out(node)}, (int8_t *)(arena + {a.scratch_offsets[0]})"
    if a.impl == "edgeir_conv_add_s8_dsp":
        wname = m.const_array(w, dsp_weights(w.data), align=4)
        rq = rq_records(m, b.data, ca.multiplier, ca.shift, oc, 2, ca.out_zp, w.data)
        lut = m.table(add_lut(a, k), "int32_t", "lut", "the add's scaled operands",
                      pinned=m.layer_pinned)
        out_rq = rq_records(m, np.zeros(1), a.out_multiplier, a.out_shift, 1, 1, a.out_zp)
        args = f"&{cparams}, {m.ptr(x)}, {wname}, {rq}, &{aparams}, {lut}, {out_rq}, {tail}"
        if not m.specialize:
            return f"{a.impl}({args});"
        fn = m.expansion(node, cparams, "expand_window", "the im2col window of "
                         + shape_note(x, kh, kw, ca))
        return f"{a.impl}_spec({args}, {fn});"
    tail = f"&{aparams}, {k}, {tail}"
    wname = m.const_array(w, np.transpose(w.data, (1, 2, 3, 0)))
    mult = per_channel(m, ca.multiplier, oc, "mult")
    shift = per_channel(m, ca.shift, oc, "shift")
    return (f"{a.impl}(&{cparams}, {m.ptr(x)}, {wname}, {m.const_array(b)}, {mult}, "
            f"{shift}, {tail});")


@emitter("edgeir_mul_s8")
def _mul_s8(m: Module, node: Node, a: Attrs) -> str:
    x, z = node.operands
    params = m.param("edgeir_mul_s8_params", f"{bcast4(x, z, node.result, node)}, "
                     + _ints([a.a_zp, a.b_zp, a.out_zp, a.multiplier[0], a.shift[0],
                              a.act_min, a.act_max]))
    return f"edgeir_mul_s8(&{params}, {m.ptr(x)}, {m.ptr(z)}, {m.out(node)});"


@emitter("edgeir_avg_pool_s8", "edgeir_max_pool_s8")
def _pool_s8(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_pool_s8_params", f"{window(x, node.result, a.kernel, a)}, "
                     f"{a.act_min}, {a.act_max}")
    return f"{a.impl}(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_mean_s8")
def _mean_s8(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_mean_s8_params", _ints([*x.type.shape, a.x_zp, a.out_zp,
                                                      a.multiplier[0], a.shift[0]]))
    return f"edgeir_mean_s8(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_softmax_s8")
def _softmax_s8(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    depth = x.type.shape[-1]
    params = m.param("edgeir_softmax_s8_params", _ints([x.type.numel // depth, depth,
                                                         a.input_multiplier,
                                                         a.input_left_shift, a.diff_min]))
    return f"edgeir_softmax_s8(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_logistic_s8", "edgeir_tanh_s8")
def _sigmoid_s8(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    # Any radius of 256 or more behaves the same on int8 inputs; keep it in int32.
    params = m.param("edgeir_sigmoid_s8_params", _ints([
        x.type.numel, a.input_zero_point, a.input_multiplier, a.input_left_shift,
        min(a.input_range_radius, 2**31 - 1)]))
    return f"{a.impl}(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_hard_swish_s8")
def _hard_swish_s8(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_hard_swish_s8_params", _ints([
        x.type.numel, a.input_zero_point, a.output_zero_point,
        a.output_multiplier_fixedpoint_int16, a.output_multiplier_exponent,
        a.reluish_multiplier_fixedpoint_int16, a.reluish_multiplier_exponent]))
    return f"edgeir_hard_swish_s8(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_quantize_f32_s8")
def _quantize(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_quantize_params", f"{x.type.numel}, {c_float(a.scale)}, "
                     f"{a.zero_point}, {int(a.round_half_even)}")
    fn = "edgeir_quantize_f32_s8_half_" + ("even" if a.round_half_even else "away")
    return f"{fn}(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_dequantize_s8_f32")
def _dequantize(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_dequantize_params", f"{x.type.numel}, {c_float(a.scale)}, "
                     f"{a.zero_point}")
    return f"edgeir_dequantize_s8_f32(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_requantize_8")
def _requantize(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    params = m.param("edgeir_requantize_params", _ints([
        x.type.numel, a.x_zp, a.out_zp, a.multiplier[0], a.shift[0],
        int(x.type.dtype == "ui8"), int(a.to == "ui8")]))
    return f"edgeir_requantize_8(&{params}, {m.ptr(x)}, {m.out(node)});"


# -- float32 ------------------------------------------------------------------------------------


@emitter("edgeir_conv_f32", "edgeir_depthwise_conv_f32")
def _conv_f32(m: Module, node: Node, a: Attrs) -> str:
    x, w = node.operands[:2]
    _, kh, kw, _ = w.type.shape
    lo, hi = act_f(a)
    m.uses_math = True
    params = m.param("edgeir_conv_f32_params",
                     f"{window(x, node.result, (kh, kw), a)}, {a.group}, {lo}, {hi}")
    if a.impl == "edgeir_depthwise_conv_f32":
        wname = m.const_array(w, np.transpose(w.data[..., 0], (1, 2, 0)))
    else:
        wname = m.const_array(w)
    bias = m.ptr(node.operands[2]) if len(node.operands) > 2 else "0"
    return f"{a.impl}(&{params}, {m.ptr(x)}, {wname}, {bias}, {m.out(node)});"


@emitter("edgeir_conv_transpose_f32")
def _conv_transpose_f32(m: Module, node: Node, a: Attrs) -> str:
    x, w = node.operands[:2]
    _, _, kh, kw = w.type.shape
    lo, hi = act_f(a)
    m.uses_math = True
    params = m.param("edgeir_conv_f32_params",
                     f"{window(x, node.result, (kh, kw), a)}, {a.group}, {lo}, {hi}")
    wname = m.const_array(w, np.transpose(w.data, (0, 2, 3, 1)))
    bias = m.ptr(node.operands[2]) if len(node.operands) > 2 else "0"
    return f"edgeir_conv_transpose_f32(&{params}, {m.ptr(x)}, {wname}, {bias}, {m.out(node)});"


@emitter("edgeir_fc_f32")
def _fc_f32(m: Module, node: Node, a: Attrs) -> str:
    x, w = node.operands[:2]
    batch, k = x.type.shape
    lo, hi = act_f(a)
    m.uses_math = True
    params = m.param("edgeir_fc_f32_params", f"{batch}, {k}, {w.type.shape[0]}, {lo}, {hi}")
    bias = m.ptr(node.operands[2]) if len(node.operands) > 2 else "0"
    return f"edgeir_fc_f32(&{params}, {m.ptr(x)}, {m.ptr(w)}, {bias}, {m.out(node)});"


@emitter("edgeir_matmul_f32")
def _matmul_f32(m: Module, node: Node, a: Attrs) -> str:
    x, w = node.operands[:2]
    out = node.result
    lo, hi = act_f(a)
    m.uses_math = True
    if node.op == "gemm":
        ta, tb = bool(a.trans_a), bool(a.trans_b)
        mm, k = x.type.shape[::-1] if ta else x.type.shape
        n = w.type.shape[0] if tb else w.type.shape[1]
        batch, sa, sb = 1, 0, 0
        alpha, beta = a.alpha, a.beta
    else:
        ta = tb = False
        ash = (1,) + x.type.shape if x.type.rank == 1 else x.type.shape
        bsh = w.type.shape + (1,) if w.type.rank == 1 else w.type.shape
        mm, k, n = ash[-2], ash[-1], bsh[-1]
        batch = int(np.prod(out.type.shape)) // (mm * n)
        sa = mm * k if int(np.prod(ash[:-2])) == batch else 0
        sb = k * n if int(np.prod(bsh[:-2])) == batch else 0
        if (sa == 0 and int(np.prod(ash[:-2])) != 1) or (sb == 0 and int(np.prod(bsh[:-2])) != 1):
            raise EdgeirError("matmul broadcasting between batch dimensions has no C kernel",
                              node.label, None, "unsupported")
        alpha, beta = 1.0, 1.0
    c = node.operands[2] if len(node.operands) > 2 else None
    c_full = (batch, mm, n)
    if c is not None:
        cs = (1,) * (3 - c.type.rank) + c.type.shape if c.type.rank <= 3 else c.type.shape
        dense = [int(np.prod(cs[i + 1:])) for i in range(3)]
        cst = [0 if cs[i] == 1 and c_full[i] != 1 else dense[i] for i in range(3)]
        c_bc = "{{1, " + _ints(c_full) + "}, {0, " + _ints(cst) + "}, {0, 0, 0, 0}}"
    else:
        c_bc = "{{1, " + _ints(c_full) + "}, {0, 0, 0, 0}, {0, 0, 0, 0}}"
    params = m.param("edgeir_matmul_f32_params",
                     f"{batch}, {mm}, {n}, {k}, {sa}, {sb}, {int(ta)}, {int(tb)}, "
                     f"{c_float(alpha)}, {c_float(beta)}, {c_bc}, {lo}, {hi}")
    cptr = m.ptr(c) if c is not None else "0"
    return f"edgeir_matmul_f32(&{params}, {m.ptr(x)}, {m.ptr(w)}, {cptr}, {m.out(node)});"


BINARY_OPS = {"add": "EDGEIR_ADD", "sub": "EDGEIR_SUB", "mul": "EDGEIR_MUL", "div": "EDGEIR_DIV"}


@emitter("edgeir_binary_f32")
def _binary_f32(m: Module, node: Node, a: Attrs) -> str:
    x, z = node.operands
    lo, hi = act_f(a)
    m.uses_math = True
    params = m.param("edgeir_binary_f32_params", f"{bcast4(x, z, node.result, node)}, "
                     f"{BINARY_OPS[node.op]}, {lo}, {hi}")
    return f"edgeir_binary_f32(&{params}, {m.ptr(x)}, {m.ptr(z)}, {m.out(node)});"


UNARY_OPS = {"relu": "EDGEIR_RELU", "leaky_relu": "EDGEIR_LEAKY_RELU", "clip": "EDGEIR_CLIP",
             "sigmoid": "EDGEIR_SIGMOID", "tanh": "EDGEIR_TANH",
             "hard_sigmoid": "EDGEIR_HARD_SIGMOID", "hard_swish": "EDGEIR_HARD_SWISH"}


@emitter("edgeir_unary_f32")
def _unary_f32(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    alpha, beta = {"leaky_relu": (a.get("alpha", 0.01), 0.0),
                   "clip": (a.get("min", -math.inf), a.get("max", math.inf)),
                   "hard_sigmoid": (a.get("alpha", 0.2), a.get("beta", 0.5))}.get(node.op,
                                                                                 (0.0, 0.0))
    m.uses_math = True
    params = m.param("edgeir_unary_f32_params", f"{x.type.numel}, {UNARY_OPS[node.op]}, "
                     f"{c_float(alpha)}, {c_float(beta)}")
    return f"edgeir_unary_f32(&{params}, {m.ptr(x)}, {m.out(node)});"


def _split_axis(shape: Sequence[int], first: int, last: int) -> tuple[int, int, int]:
    return (int(np.prod(shape[:first])), int(np.prod(shape[first:last + 1])),
            int(np.prod(shape[last + 1:])))


@emitter("edgeir_softmax_f32")
def _softmax_f32(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    axis = a.get("axis", -1) % x.type.rank
    outer, ax, inner = _split_axis(x.type.shape, axis, axis)
    params = m.param("edgeir_softmax_f32_params", f"{outer}, {ax}, {inner}")
    fn = "edgeir_log_softmax_f32" if node.op == "log_softmax" else "edgeir_softmax_f32"
    return f"{fn}(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_lrn_f32")
def _lrn_f32(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    axis = a.get("axis", 1) % x.type.rank
    outer, ax, inner = _split_axis(x.type.shape, axis, axis)
    size = int(a.size)
    coeffs = ", ".join(c_float(v) for v in (float(a.get("alpha", 1e-4)) / size,
                                            float(a.get("beta", 0.75)),
                                            float(a.get("bias", 1.0))))
    params = m.param("edgeir_lrn_f32_params", f"{outer}, {ax}, {inner}, {size}, {coeffs}")
    return f"edgeir_lrn_f32(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_avg_pool_f32", "edgeir_max_pool_f32")
def _pool_f32(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    m.uses_math = True
    params = m.param("edgeir_pool_f32_params",
                     f"{window(x, node.result, a.kernel, a)}, "
                     f"{int(bool(a.get('count_include_pad', False)))}, -INFINITY, INFINITY")
    return f"{a.impl}(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_reduce_f32")
def _reduce_f32(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    shape = x.type.shape
    if node.op in ("global_avg_pool", "global_max_pool"):
        first, last = 1, len(shape) - 2  # NHWC
    else:
        axes = sorted(ax % len(shape) for ax in (a.axes or range(len(shape))))
        first, last = axes[0], axes[-1]
    outer, ax, inner = _split_axis(shape, first, last)
    params = m.param("edgeir_reduce_f32_params",
                     f"{outer}, {ax}, {inner}, {int(node.op == 'global_max_pool')}")
    return f"edgeir_reduce_f32(&{params}, {m.ptr(x)}, {m.out(node)});"


# -- data movement --------------------------------------------------------------------------------


def _dense_strides(shape: Sequence[int]) -> list[int]:
    return [int(np.prod(shape[i + 1:])) for i in range(len(shape))]


def _check_rank(node: Node, rank: int) -> None:
    if rank > 6:
        raise EdgeirError(f"rank {rank} data movement has no C kernel (6 at most)", node.label,
                          None, "unsupported")


def _strided(m: Module, node: Node, out_shape: Sequence[int], strides: Sequence[int],
             offset: int) -> str:
    x = node.operands[0]
    _check_rank(node, len(out_shape))
    rank = max(len(out_shape), 1)
    shape = list(out_shape) or [1]
    strides = list(strides) or [0]
    fill = 6 - rank
    params = m.param("edgeir_strided_params",
                     f"{rank}, {x.type.np_dtype.itemsize}, {{{_ints(shape + [1] * fill)}}}, "
                     f"{{{_ints(strides + [0] * fill)}}}, {offset}")
    return f"edgeir_strided_copy(&{params}, {m.ptr(x)}, {m.out(node)});"


@emitter("edgeir_strided_copy")
def _strided_copy(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    dense = _dense_strides(x.type.shape)
    if node.op == "transpose":
        perm = a.perm or tuple(reversed(range(x.type.rank)))
        return _strided(m, node, node.result.type.shape, [dense[p] for p in perm], 0)
    ranges = slice_indices(a, x.type.shape)  # slice
    strides = [dense[i] * r.step for i, r in enumerate(ranges)]
    offset = sum(dense[i] * r.start for i, r in enumerate(ranges) if len(r))
    return _strided(m, node, node.result.type.shape, strides, offset)


def _pieces(shape: Sequence[int], axis: int, sizes: Sequence[int], elem: int):
    outer = int(np.prod(shape[:axis]))
    after = int(np.prod(shape[axis + 1:]))
    total = sum(sizes)
    start = 0
    for s in sizes:
        yield outer, s * after * elem, total * after * elem, start * after * elem
        start += s


@emitter("edgeir_concat_piece_copy")
def _concat(m: Module, node: Node, a: Attrs) -> str:
    out = node.result
    axis = a.axis % out.type.rank
    elem = out.type.np_dtype.itemsize
    calls = []
    sizes = [v.type.shape[axis] for v in node.operands]
    for v, piece in zip(node.operands, _pieces(out.type.shape, axis, sizes, elem)):
        params = m.param("edgeir_concat_piece", _ints(piece))
        calls.append(f"edgeir_concat_piece_copy(&{params}, {m.ptr(v)}, {m.out(node)});")
    return "\n  ".join(calls)


@emitter("edgeir_split_piece_copy")
def _split(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    axis = a.axis % x.type.rank
    calls = []
    for i, piece in enumerate(_pieces(x.type.shape, axis, a.sizes, x.type.np_dtype.itemsize)):
        params = m.param("edgeir_concat_piece", _ints(piece))
        calls.append(f"edgeir_split_piece_copy(&{params}, {m.ptr(x)}, {m.out(node, i)});")
    return "\n  ".join(calls)


@emitter("edgeir_pad")
def _pad(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    rank = x.type.rank
    _check_rank(node, rank)
    from compiler.ops.shape import pad_value

    value = m.table(np.asarray([pad_value(a.value, x.type.np_dtype)]),
                    C_TYPES[x.type.dtype], "padv")
    fill = 6 - rank
    params = m.param("edgeir_pad_params",
                     f"{rank}, {x.type.np_dtype.itemsize}, "
                     f"{{{_ints(list(x.type.shape) + [1] * fill)}}}, "
                     f"{{{_ints(list(a.pads[:rank]) + [0] * fill)}}}, "
                     f"{{{_ints(list(node.result.type.shape) + [1] * fill)}}}, {value}")
    return f"edgeir_pad(&{params}, {m.ptr(x)}, {m.out(node)});"


def _pad_indices(a: Attrs, in_len: int, out_len: int, axis: int, rank: int) -> np.ndarray:
    before = a.pads[axis]
    src = np.arange(out_len) - before
    if a.mode == "reflect":
        period = 2 * (in_len - 1) if in_len > 1 else 1
        src = np.abs(np.mod(src, period))
        src = np.where(src >= in_len, period - src, src)
    elif a.mode == "wrap":
        src = np.mod(src, in_len)
    else:  # edge
        src = np.clip(src, 0, in_len - 1)
    return src.astype(np.int32)


@emitter("edgeir_gather_axes")
def _gather_axes(m: Module, node: Node, a: Attrs) -> str:
    x = node.operands[0]
    in_shape = list(x.type.shape)
    out_shape = list(node.result.type.shape)
    index: list[np.ndarray | None] = [None] * len(in_shape)
    if node.op == "gather":
        axis = a.axis % len(in_shape)
        idx = node.operands[1].data.reshape(-1).astype(np.int64) % in_shape[axis]
        out_shape = in_shape[:axis] + [idx.size] + in_shape[axis + 1:]
        index[axis] = idx.astype(np.int32)
    elif node.op == "resize":
        for axis, (n_out, scale) in enumerate(zip(a.sizes, a.scales)):
            if n_out != in_shape[axis] or scale != 1.0:
                index[axis] = _nearest_index(a, n_out, in_shape[axis], scale).astype(np.int32)
    else:  # pad with reflect / edge / wrap
        if a.mode == "constant" or min(a.pads) < 0:
            raise EdgeirError("pad with negative pads has no C kernel", node.label,
                              "crop with a slice first", "unsupported")
        for axis in range(len(in_shape)):
            if out_shape[axis] != in_shape[axis]:
                index[axis] = _pad_indices(a, in_shape[axis], out_shape[axis], axis,
                                           len(in_shape))
    _check_rank(node, len(in_shape))
    fill = 6 - len(in_shape)
    tables = [m.table(ix, "int32_t", "idx") if ix is not None else "0" for ix in index]
    params = m.param("edgeir_gather_nd_params",
                     f"{len(in_shape)}, {x.type.np_dtype.itemsize}, "
                     f"{{{_ints(in_shape + [1] * fill)}}}, {{{_ints(out_shape + [1] * fill)}}}, "
                     f"{{{', '.join(tables + ['0'] * fill)}}}")
    return f"edgeir_gather_axes(&{params}, {m.ptr(x)}, {m.out(node)});"


# -- the module ---------------------------------------------------------------------------


def emit_layers(m: Module) -> None:
    from compiler import ops

    for node in m.graph.nodes:
        impl = node.attrs.get("impl", "")
        if impl in ("alias", "fused"):  # no code: shares bytes / computed by the next node
            continue
        fn = EMITTERS.get(impl)
        if fn is None:
            raise EdgeirError(f"no C emitter for kernel '{impl or '(none)'}' of op "
                              f"'{node.op}'", node.label,
                              "run lower-c first, or this op has no C kernel", "unsupported")
        attrs = ops.get(node.op).attrs_of(node)
        # a layer's requantization tables go where its weights go (place-weights counts them
        # with the weights); a fused conv + add's layer is the conv
        layer = next((u.producer for u in node.operands if u.producer is not None
                      and u.producer.attrs.get("impl") == "fused"), node)
        weight = layer.operands[1] if len(layer.operands) > 1 else None
        m.layer_pinned = weight is not None and weight.is_constant and weight.name in m.pinned
        shapes = ", ".join("x".join(map(str, v.type.shape)) for v in node.results)
        m.calls.append(f"  /* {node.loc or node.result.name}: {node.op} -> {shapes} */")
        m.calls.append("  " + fn(m, node, attrs))
        m.kernels.add(kernel_file(impl))


def quant_comment(v: Value) -> str:
    q = v.type.quant
    if isinstance(q, PerTensor):
        return f", scale {q.scale!r}, zero point {q.zero_point}"
    return ""
