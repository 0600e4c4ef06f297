"""int32 overflow check: every int32 value an int8 kernel computes fits, for every input.

The int8 kernels (``runtime/edgeir_s8.c``, ``edgeir_s8_dsp.c``, ``edgeir_inplace.c``) and
TFLM's reference kernels, whose results they reproduce (docs/QUANT.md), accumulate in
int32. A sum that leaves int32 is undefined behaviour in TFLM's C++ (and in the portable
kernels' signed ``+=``); the golden model (``compiler/ops/qnn.py``) and the vector paths
wrap, so the layer silently computes garbage. ``check_node`` proves, per layer and per
output channel, from the constant weights and biases and the int8 range of every
non-constant operand, that no such step can overflow, and refuses the layer
(``EdgeirError`` kind ``unsupported``, exit 4) naming it, the bound and 2^31-1 otherwise.
lower-c runs it on every node before it chooses a kernel, so every compile checks every
int8 layer.

Convolution / depthwise / fully connected (``dot_bounds``), output channel c, weights w_j
(j over the channel's reduction: KH*KW*Cin/groups, or K features), bias b, input zero point
z, inputs x_j in [-128, 127] (padding taps read z, which is in that range too):
  * TFLM adds ``(x_j - z) * w_j`` one by one, then ``b``;
  * the C kernels fold the zero point into the bias (``b' = b - z * sum(w)``, lower-c) and
    add ``x_j * w_j`` with the bias first (HWIO, in-place, DSP kernels), or last, or in two
    to four interleaved partial sums (``dot_s8``, the x86 tails), padding taps in one
    ``z * sum(w)`` product.
  Every term's range contains 0 (x_j = z, resp. x_j = 0, is a valid input), so every
  partial sum of any subset of the terms lies in [sum of the terms' minima, sum of their
  maxima], and adding the bias before, in between or after stays within
  [min(0, b) + that minimum, max(0, b) + that maximum]. The check takes the hull of both
  forms: the kernel's form with b' and terms in [min(127 w, -128 w), max(127 w, -128 w)],
  TFLM's with b and terms (x - z) w, x - z in [-128 - z, 127 - z]. The bounds are attained
  (all weights' signs known, every x_j chosen at an end of its range), so nothing is
  refused that some input could not overflow in TFLM's or the kernels' order, except for
  the sliver where only the other order's partial sum overflows (widths of the two term
  ranges differ by at most 1/255). Then requantization: ``MultiplyByQuantizedMultiplier``
  shifts the accumulator left by ``max(shift, 0)`` in int32 first (TFLM: a plain int32
  multiply), so ``|acc| * 2^shift`` must fit as well.
Average pool: a window's sum of raw int8 inputs (TFLM and the kernel): |sum| <= 128 * KH*KW.
Mean over H, W: the raw sum (<= 128 * H*W), the zero point subtracted
(<= max(|-128 - z|, |127 - z|) * H*W), then the requantization's left shift.
Add: each operand ``(x - z) * 2^left_shift`` (TFLM's int32 multiply), scaled by its
multiplier (<= the shifted value), their sum, then the output scaling.
Mul: ``(a - za) * (b - zb)`` (<= 255^2) and the requantization's left shift.
Softmax: the sum of exps over the row in Q12.19 (TFLM ``kAccumulationIntegerBits``): each
term is at most exp(0) = 2^19, so the row must be at most 4095 long.
Logistic / tanh: ``(x - z) * 2^input_left_shift`` only for |x - z| <= input_range_radius,
which TFLM chooses so that it fits; checked all the same. Requantize: the left shift of
``x - z``. Max pool, hard swish (16-bit saturating arithmetic), quantize, dequantize and the
data-movement ops compute no int32 sums.

Why refuse rather than split: when a bound exceeds int32 there is an int8 input for which
TFLM's int32 arithmetic overflows (the bounds are attained), so the layer has no defined
TFLM result to be bit-exact with; splitting the reduction into two int32 halves summed in
int64 would be exact arithmetic, but a different result from the golden model's wrapped
one and from every TFLM-compatible runtime, for no layer a real model has: in the MLPerf
Tiny models the sums of products stay below 2^23 and, with the biases, below 2^27, but for
dead channels (zero weights) whose bias alone comes within 214,504 of -2^31 in VWW's QDQ
export, which the check accepts. A
layer that reaches the limit (a reduction of more than ~66,000 products of extreme
weights, or a bias at the limit with weights on top) is refused with what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import Node
from compiler.quant import arith

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
I8_MIN, I8_MAX = -128, 127


@dataclass(frozen=True)
class Bound:
    """The range [lo, hi] of the int32 values of one step of a layer (for ``channel``)."""

    step: str
    lo: int
    hi: int
    channel: int | None = None
    detail: str = ""

    @property
    def fits(self) -> bool:
        return INT32_MIN <= self.lo and self.hi <= INT32_MAX

    @property
    def magnitude(self) -> int:
        return max(-self.lo, self.hi)

    @property
    def bits(self) -> int:
        """The width of the smallest signed integer type that holds [lo, hi]."""
        return max(max(self.hi, 0).bit_length(), max(-self.lo - 1, 0).bit_length()) + 1


def _fmt(n: int) -> str:
    return f"{n:,}"


def refuse(node: Node, bound: Bound) -> EdgeirError:
    """The one-line error of a layer whose ``bound`` leaves int32."""
    where = f" (output channel {bound.channel})" if bound.channel is not None else ""
    over = bound.hi if bound.hi > INT32_MAX else bound.lo
    limit = "2^31-1 = 2,147,483,647" if over > 0 else "-2^31 = -2,147,483,648"
    detail = f": {bound.detail}" if bound.detail else ""
    return EdgeirError(
        f"int32 overflow: the {bound.step}{where} can reach {_fmt(over)}, beyond {limit}"
        f"{detail}", node.label,
        "split the layer's reduction (e.g. its input channels over two layers), quantize "
        "the weights with a coarser scale, or keep this layer in float", "unsupported")


# -- helpers -------------------------------------------------------------------------------------


def _zp(node: Node, name: str) -> int:
    return int(node.attrs.get(name, 0))


def _shift_bound(node: Node, acc: Bound, step: str = "requantization") -> Bound:
    """``acc * 2^max(shift, 0)``: the int32 left shift of MultiplyByQuantizedMultiplier
    (per channel when the shifts are)."""
    shifts = [int(s) for s in node.attrs.get("shift", ()) or (0,)]
    s = shifts[acc.channel] if acc.channel is not None and len(shifts) > 1 else max(shifts)
    k = 1 << max(s, 0)
    return Bound(f"{step} (accumulator x 2^{max(s, 0)})", acc.lo * k, acc.hi * k,
                 acc.channel, acc.detail)


def _times(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """The range of x * y for x in the interval a and y in b."""
    ends = [x * y for x in a for y in b]
    return min(ends), max(ends)


def dot_bounds(w: np.ndarray | None, k: int, bias: np.ndarray | None, x_zp: int,
               channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output channel: (lo, hi) of every partial sum in either order (the hull above),
    and (lo, hi) of the final accumulator ``b + sum((x - z) w)``. ``w`` is the
    [channels, k] int64 weight matrix, or None for a non-constant int8 weight (each
    weight anywhere in [-128, 127])."""
    x, d = (I8_MIN, I8_MAX), (I8_MIN - x_zp, I8_MAX - x_zp)
    if w is None:
        full = np.ones(channels, np.int64) * k
        k_lo, k_hi = (v * full for v in _times(x, x))
        t_lo, t_hi = (v * full for v in _times(d, x))
        wsum_lo, wsum_hi = I8_MIN * full, I8_MAX * full
    else:
        pos = np.where(w > 0, w, 0).sum(axis=1)
        neg = np.where(w < 0, w, 0).sum(axis=1)
        k_lo, k_hi = x[0] * pos + x[1] * neg, x[1] * pos + x[0] * neg  # x * w
        t_lo, t_hi = d[0] * pos + d[1] * neg, d[1] * pos + d[0] * neg  # (x - z) * w
        wsum_lo = wsum_hi = pos + neg
    b = np.zeros(channels, np.int64) if bias is None else bias
    folded = np.stack([b - x_zp * wsum_lo, b - x_zp * wsum_hi])  # b' = b - z * sum(w)
    f_lo, f_hi = folded.min(axis=0), folded.max(axis=0)
    lo = np.minimum(np.minimum(0, f_lo) + k_lo, np.minimum(0, b) + t_lo)
    hi = np.maximum(np.maximum(0, f_hi) + k_hi, np.maximum(0, b) + t_hi)
    return lo, hi, b + t_lo, b + t_hi


def _worst(lo: np.ndarray, hi: np.ndarray, step: str, detail) -> Bound:
    """The channel that goes furthest past (or comes closest to) int32's limits, as a
    Bound (``detail(c)`` explains it)."""
    c = int(np.argmax(np.maximum(hi - INT32_MAX, INT32_MIN - lo)))
    return Bound(step, int(lo[c]), int(hi[c]), c, detail(c))


# -- one function per op kind ---------------------------------------------------------------------


def conv_bounds(node: Node) -> list[Bound]:
    """qconv2d (plain, grouped, depthwise) and qfully_connected: the accumulator of the
    worst output channel, then its requantization's left shift."""
    w_value = node.operands[1]
    channels = w_value.type.shape[0]
    k = w_value.type.numel // max(channels, 1)
    w = (w_value.data.astype(np.int64).reshape(channels, -1) if w_value.is_constant
         else None)
    bias = None
    if len(node.operands) > 2:
        if not node.operands[2].is_constant:
            return [Bound("accumulator", INT32_MIN - 1, INT32_MAX + 1, None,
                          "the bias is not a constant")]
        bias = node.operands[2].data.astype(np.int64).reshape(-1)
    x_zp = _zp(node, "x_zp")
    if node.attrs.get("zp_folded"):
        if w is None:
            return [Bound("accumulator", INT32_MIN - 1, INT32_MAX + 1, None,
                          "a folded zero point needs constant weights")]
        if bias is not None:  # the stored bias is b' = b - z * sum(w): recover TFLM's b
            bias = bias + x_zp * w.sum(axis=1)
    lo, hi, f_lo, f_hi = dot_bounds(w, k, bias, x_zp, channels)

    def detail(c: int) -> str:
        mags = f"sum|w| = {_fmt(int(np.abs(w[c]).sum()))}" if w is not None else "any weights"
        b = 0 if bias is None else int(bias[c])
        return (f"{_fmt(k)} products of int8 inputs (zero point {x_zp}) and weights "
                f"({mags}), bias {_fmt(b)}")

    acc = _worst(lo, hi, "accumulator", detail)
    shifted = []
    shifts = [int(s) for s in node.attrs.get("shift", ())]
    if shifts and max(shifts) > 0:
        s = np.broadcast_to(np.maximum(np.asarray(shifts, np.int64), 0), (channels,))
        q = _worst(f_lo << s, f_hi << s, "requantization", detail)
        shifted.append(Bound(f"requantization (accumulator x 2^{int(s[q.channel])})", q.lo,
                             q.hi, q.channel, q.detail))
    return [acc, *shifted]


def avg_pool_bounds(node: Node) -> list[Bound]:
    """qavg_pool: the sum of the window's raw int8 inputs (TFLM and the kernel alike)."""
    kh, kw = node.attrs["kernel"]
    n = int(kh) * int(kw)
    return [Bound("window sum", I8_MIN * n, I8_MAX * n, None, f"{_fmt(n)} int8 inputs")]


def mean_bounds(node: Node) -> list[Bound]:
    """qmean over H and W: the raw sum, the sum minus the zero points, the left shift."""
    shape = node.operands[0].type.shape
    axes = (2, 3) if node.attrs.get("layout", "nhwc") == "nchw" else (1, 2)
    n = int(shape[axes[0]]) * int(shape[axes[1]])
    z = _zp(node, "x_zp")
    detail = f"{_fmt(n)} int8 inputs (zero point {z})"
    raw = Bound("sum", I8_MIN * n, I8_MAX * n, None, detail)
    centred = Bound("sum", (I8_MIN - z) * n, (I8_MAX - z) * n, None, detail)
    return [raw, centred, _shift_bound(node, centred)]


def add_bounds(node: Node) -> list[Bound]:
    """qadd: each operand's (x - z) * 2^left_shift, its scaled value, their sum, the
    output scaling (TFLM's int8 ADD; the fused conv + add kernel computes the same)."""
    ls = int(node.attrs.get("left_shift", 20))
    if not 0 <= ls <= 30:
        return [Bound(f"left shift by {ls}", INT32_MIN - 1, INT32_MAX + 1)]
    small = arith.multiply_by_quantized_multiplier_smaller_than_one_exp
    out: list[Bound] = []
    scaled = []
    for side in ("a", "b"):
        z = _zp(node, f"{side}_zp")
        lo, hi = (I8_MIN - z) << ls, (I8_MAX - z) << ls
        step = Bound(f"input {side} shifted left by {ls}", lo, hi, None, f"zero point {z}")
        out.append(step)
        if not step.fits:
            return out
        m, s = int(node.attrs[f"{side}_multiplier"]), int(node.attrs[f"{side}_shift"])
        if s > 0:
            return [*out, Bound(f"input {side} scaling shift {s} > 0", INT32_MIN - 1,
                                INT32_MAX + 1)]
        # monotone in its input: the extremes come from the extremes
        scaled.append((int(small(lo, m, s)), int(small(hi, m, s))))
    total = Bound("sum of the scaled inputs", scaled[0][0] + scaled[1][0],
                  scaled[0][1] + scaled[1][1])
    return [*out, total]


def mul_bounds(node: Node) -> list[Bound]:
    """qmul: (a - za) * (b - zb), then the requantization's left shift."""
    za, zb = _zp(node, "a_zp"), _zp(node, "b_zp")
    ends = [(x - za) * (y - zb) for x in (I8_MIN, I8_MAX) for y in (I8_MIN, I8_MAX)]
    prod = Bound("product", min(ends), max(ends), None, f"zero points {za}, {zb}")
    return [prod, _shift_bound(node, prod)]


def softmax_bounds(node: Node) -> list[Bound]:
    """qsoftmax: the row's sum of exps in Q12.19 (each term at most exp(0))."""
    n = int(node.operands[0].type.shape[-1])
    one = int(arith.rescale(arith.exp_on_negative_values(0, 5), 0, 12))
    return [Bound("sum of exps (Q12.19)", 0, one * n, None, f"a row of {_fmt(n)} values")]


def activation_bounds(node: Node) -> list[Bound]:
    """qlogistic / qtanh: (x - z) * 2^input_left_shift for |x - z| <= the input radius."""
    z = int(node.attrs["input_zero_point"])
    radius = min(int(node.attrs["input_range_radius"]), max(I8_MAX - z, z - I8_MIN))
    ls = int(node.attrs["input_left_shift"])
    return [Bound(f"input shifted left by {ls}", -radius << ls, radius << ls, None,
                  f"|x - zero point| <= {radius}")]


def requantize_bounds(node: Node) -> list[Bound]:
    """requantize: x - z and its left shift."""
    z = _zp(node, "x_zp")
    lo, hi = (0, 255) if node.operands[0].type.dtype == "ui8" else (I8_MIN, I8_MAX)
    return [_shift_bound(node, Bound("input", lo - z, hi - z))]


BOUNDS = {
    "qconv2d": conv_bounds,
    "qfully_connected": conv_bounds,
    "qavg_pool": avg_pool_bounds,
    "qmean": mean_bounds,
    "qadd": add_bounds,
    "qmul": mul_bounds,
    "qsoftmax": softmax_bounds,
    "qlogistic": activation_bounds,
    "qtanh": activation_bounds,
    "requantize": requantize_bounds,
}


def node_bounds(node: Node) -> list[Bound]:
    """Every int32 step of ``node`` with its range (empty: the op has none)."""
    fn = BOUNDS.get(node.op)
    return fn(node) if fn is not None else []


def check_node(node: Node) -> int:
    """Raise the one-line error of the first step of ``node`` that can leave int32;
    return the bits its widest int32 step needs (sign included; 0 if it has none)."""
    bits = 0
    for bound in node_bounds(node):
        if not bound.fits:
            raise refuse(node, bound)
        bits = max(bits, bound.bits)
    return bits
