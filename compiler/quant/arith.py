"""Integer arithmetic of the TFLite int8 quantization spec, bit-exact with TFLite Micro.

Everything here is a vectorized numpy re-implementation of the arithmetic that the TFLite
Micro reference kernels perform (oracle: the PyPI package ``tflite-micro`` built from
TFLM commit 8f6596d; see docs/QUANT.md). Only the arithmetic is reproduced; the code
is ours.

Conventions
-----------
* Integer inputs may be Python ints or numpy arrays of any integer dtype; they are read
  as the C type named in each docstring (usually int32). Internally every computation
  runs on int64 arrays, which hold all intermediate products exactly; where the C code
  would wrap (plain int32 ``+``/``-``/``*`` that may overflow) we wrap explicitly to 32
  (or 16) bits, and where it saturates we saturate.
* The fixed-point helpers work on *raw* int32 values of a gemmlowp ``FixedPoint`` with
  ``integer_bits`` integer bits, i.e. the real value is ``raw / 2**(31 - integer_bits)``.
* Public integer helpers return numpy ``int32`` arrays (0-d for scalar inputs); op-level
  helpers return arrays of the tensor dtype (``int8`` or ``float32``).

Rounding rules used below (names as in the docstrings)
-------------------------------------------------------
* *half away from zero*: ``round(2.5) = 3``, ``round(-2.5) = -3`` (C ``std::round``).
* *half up*: nearest, ties toward +infinity: ``2.5 -> 3``, ``-2.5 -> -2``. This is what
  gemmlowp's SaturatingRoundingDoublingHighMul does: ``(a*b + nudge) / 2**31`` with C
  truncating division and ``nudge = 2**30`` (``a*b >= 0``) or ``1 - 2**30`` (``a*b < 0``)
  equals ``floor(a*b / 2**31 + 1/2)`` for every sign (like ARM ``VQRDMULH``). It is *not*
  half away from zero: ``a*b / 2**31 = -0.5`` gives 0.
* *half away from zero* is what RoundingDivideByPOT, RoundingHalfSum and ``std::round`` do.
* *truncation*: toward zero (C integer division).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "quantize_multiplier",
    "quantize_multiplier_array",
    "quantize_multiplier_greater_than_one",
    "quantize_multiplier_smaller_than_one_exp",
    "downscale_int32_to_int16_multiplier",
    "preprocess_softmax_scaling",
    "calculate_input_radius",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "saturating_rounding_multiply_by_pot",
    "rounding_half_sum",
    "multiply_by_quantized_multiplier",
    "multiply_by_quantized_multiplier_smaller_than_one_exp",
    "multiply_by_quantized_multiplier_greater_than_one",
    "multiply_by_quantized_multiplier_int64",
    "count_leading_zeros32",
    "rescale",
    "exp_on_interval_between_negative_one_quarter_and_0_excl",
    "exp_on_negative_values",
    "one_over_one_plus_x_for_x_in_0_1",
    "one_minus_x_over_one_plus_x_for_x_in_0_1",
    "fixed_point_logistic",
    "fixed_point_tanh",
    "get_reciprocal",
    "softmax_int8_params",
    "softmax_int8",
    "logistic_int8_params",
    "logistic_int8",
    "tanh_int8_params",
    "tanh_int8",
    "hard_swish_int8_params",
    "hard_swish_int8",
    "quantize_float_to_int8",
    "dequantize_int8",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_INT16_MIN = -(2**15)
_INT16_MAX = 2**15 - 1

# ---------------------------------------------------------------------------------------
# Small internal helpers (all on int64 arrays)
# ---------------------------------------------------------------------------------------


def _i64(x: Any) -> np.ndarray:
    """Read ``x`` as an int64 array (exact for every C integer type up to int64)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise TypeError(f"expected an integer array, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to a signed ``bits``-bit integer."""
    half = np.int64(1) << np.int64(bits - 1)
    mask = (np.int64(1) << np.int64(bits)) - np.int64(1)
    return ((x + half) & mask) - half


def _wrap32(x: np.ndarray) -> np.ndarray:
    return _wrap(x, 32)


def _out32(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).astype(np.int32)


def _trunc_div_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """``x / 2**exponent`` truncated toward zero (C integer division by a power of two)."""
    e = np.int64(exponent)
    return np.where(x >= 0, x >> e, -((-x) >> e))


def _round_half_away_f64(v: np.ndarray) -> np.ndarray:
    """``std::round`` on doubles: nearest integer, ties away from zero (exact for |v| < 2**52).

    Returns float64 values (integral)."""
    v = np.asarray(v, dtype=np.float64)
    a = np.abs(v)
    # a + 0.5 is exact below 2**52; above that every double is already an integer.
    r = np.where(a < 2.0**52, np.floor(a + 0.5), a)
    return np.copysign(r, v)


def round_half_away(v: Any) -> np.ndarray:
    """``std::round``/``TfLiteRound``: nearest integer, ties away from zero (float64 result)."""
    return _round_half_away_f64(v)


def _srdhm_bits(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for a ``bits``-bit raw type (32 or 16)."""
    lo = -(1 << (bits - 1))
    hi = (1 << (bits - 1)) - 1
    ab = a * b
    nudge = np.where(ab >= 0, np.int64(1 << (bits - 2)), np.int64(1 - (1 << (bits - 2))))
    q = _trunc_div_pot(ab + nudge, bits - 1)
    overflow = (a == lo) & (b == lo)
    return np.where(overflow, np.int64(hi), _wrap(q, bits))


def _srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _srdhm_bits(a, b, 32)


def _rdbp_bits(x: np.ndarray, exponent: Any, bits: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT on a ``bits``-bit raw type; ``exponent`` broadcasts.

    As in C, the mask ``(1 << exponent) - 1`` is truncated to the raw type (this only
    matters for exponents >= bits, which int16 callers can produce)."""
    e = np.asarray(exponent, dtype=np.int64)
    mask = _wrap((np.int64(1) << e) - np.int64(1), bits)
    remainder = x & mask
    threshold = (mask >> np.int64(1)) + (x < 0).astype(np.int64)
    return (x >> np.minimum(e, np.int64(63))) + (remainder > threshold).astype(np.int64)


def _rdbp(x: np.ndarray, exponent: Any) -> np.ndarray:
    return _rdbp_bits(x, exponent, 32)


def _srmbp(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values."""
    if exponent == 0:
        return x
    if exponent < 0:
        return _rdbp(x, -exponent)
    threshold = np.int64((1 << (31 - exponent)) - 1)
    shifted = np.clip(x << np.int64(exponent), INT32_MIN, INT32_MAX)
    return np.where(x > threshold, np.int64(INT32_MAX),
                    np.where(x < -threshold, np.int64(INT32_MIN), shifted))


def _clz32(x: np.ndarray) -> np.ndarray:
    """Count leading zeros of ``x`` read as uint32 (32 for 0)."""
    u = x & np.int64(0xFFFFFFFF)
    _, e = np.frexp(u.astype(np.float64))  # exact: u < 2**53; e == bit length
    return np.int64(32) - e.astype(np.int64)


# ---------------------------------------------------------------------------------------
# Multipliers (prepare-time, in double precision as TFLM does)
# ---------------------------------------------------------------------------------------


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplier``: ``real ~= multiplier * 2**(shift - 31)``.

    ``q, shift = frexp(real)`` (``0.5 <= |q| < 1``), then ``multiplier = round(q * 2**31)``
    with rounding *half away from zero* (``q * 2**31`` is exact in double, so this is the
    only rounding). If that rounds up to ``2**31`` the multiplier is halved and ``shift``
    incremented. If ``shift < -31`` (``|real| < 2**-32`` roughly) the result is flushed to
    ``(0, 0)``; ``real == 0`` also gives ``(0, 0)``. For ``real > 0`` the multiplier is
    in ``[2**30, 2**31)`` (or 0). NaN/inf raise ``ValueError`` (TFLM aborts on a CHECK).
    """
    real = float(real)
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"quantize_multiplier: non-finite multiplier {real}")
    q, shift = math.frexp(real)
    q_fixed = int(_round_half_away_f64(np.float64(q) * 2.0**31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def quantize_multiplier_array(reals: Any) -> tuple[np.ndarray, np.ndarray]:
    """Element-wise :func:`quantize_multiplier` (e.g. per-channel conv scales).

    Same rounding (half away from zero of ``q * 2**31``, the ``2**31`` fix-up and the
    ``shift < -31`` flush to zero). Returns ``(multipliers int32, shifts int32)``.
    """
    r = np.asarray(reals, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("quantize_multiplier_array: non-finite multiplier")
    q, shift = np.frexp(r)
    shift = shift.astype(np.int64)
    q_fixed = _round_half_away_f64(q * 2.0**31).astype(np.int64)
    fix = q_fixed == (1 << 31)
    q_fixed = np.where(fix, q_fixed // 2, q_fixed)
    shift = np.where(fix, shift + 1, shift)
    flush = (shift < -31) | (r == 0.0)
    q_fixed = np.where(flush, 0, q_fixed)
    shift = np.where(flush, 0, shift)
    return q_fixed.astype(np.int32), shift.astype(np.int32)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierGreaterThanOne``: :func:`quantize_multiplier` for
    ``real > 1`` (``shift >= 0``); raises ``ValueError`` where TFLM's CHECK would abort."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} must be > 1")
    m, s = quantize_multiplier(real)
    if s < 0:
        raise ValueError(f"multiplier {real} gave negative shift {s}")
    return m, s


def quantize_multiplier_smaller_than_one_exp(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierSmallerThanOneExp``: for ``0 < real < 1``, returns
    ``(multiplier, left_shift)`` with ``left_shift <= 0`` (same rounding as
    :func:`quantize_multiplier`)."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} must be in (0, 1)")
    m, s = quantize_multiplier(real)
    if s > 0:
        raise ValueError(f"multiplier {real} gave positive shift {s}")
    return m, s


def downscale_int32_to_int16_multiplier(multiplier: int) -> int:
    """TFLM ``DownScaleInt32ToInt16Multiplier``: ``(m + 2**15) >> 16`` (round half up),
    saturated to 32767 when ``m >= 2**31 - 1 - 2**15``."""
    multiplier = int(multiplier)
    if multiplier < 0:
        raise ValueError("multiplier must be >= 0")
    if multiplier >= INT32_MAX - (1 << 15):
        return _INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def preprocess_softmax_scaling(
    beta: float, input_scale: float, input_integer_bits: int
) -> tuple[int, int]:
    """TFLM ``PreprocessSoftmaxScaling`` (double-rounding build).

    ``real = min(beta * input_scale * 2**(31 - input_integer_bits), 2**31 - 1)``, computed
    in double in that order, then :func:`quantize_multiplier_greater_than_one`.
    Returns ``(input_multiplier, input_left_shift)``.
    """
    real = float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits))
    real = min(real, float((1 << 31) - 1))
    return quantize_multiplier_greater_than_one(real)


def calculate_input_radius(
    input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31
) -> int:
    """TFLM ``CalculateInputRadius``:
    ``floor((2**ib - 1) * 2**(total_signed_bits - ib) / 2**input_left_shift)`` (double)."""
    value = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * float(1 << (total_signed_bits - input_integer_bits))
        / 2.0 ** input_left_shift
    )
    return int(math.floor(value))


# ---------------------------------------------------------------------------------------
# gemmlowp / TFLM integer primitives
# ---------------------------------------------------------------------------------------


def saturating_rounding_doubling_high_mul(a: Any, b: Any) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int32 (ARM ``VQRDMULH``).

    Returns ``a * b / 2**31`` rounded to nearest with ties *half up* (toward +infinity):
    ``(a*b + nudge) / 2**31`` with ``nudge = 2**30`` or ``1 - 2**30`` and truncating
    division is exactly ``floor(a*b / 2**31 + 1/2)``. The single overflow case
    ``INT32_MIN * INT32_MIN`` saturates to ``INT32_MAX``.
    """
    return _out32(_srdhm(_i64(a), _i64(b)))


def rounding_divide_by_pot(x: Any, exponent: Any) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT`` on int32: ``x / 2**exponent`` rounded to nearest,
    ties *half away from zero* (e.g. ``5/2 -> 3``, ``-5/2 -> -3``). ``exponent`` must be
    in ``[0, 31]`` and may be an array broadcast against ``x``."""
    e = _i64(exponent)
    if np.any(e < 0) or np.any(e > 31):
        raise ValueError("rounding_divide_by_pot: exponent must be in [0, 31]")
    return _out32(_rdbp(_i64(x), e))


def saturating_rounding_multiply_by_pot(x: Any, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<exponent>`` on int32 raw values.

    ``exponent > 0``: left shift, saturating to ``[INT32_MIN, INT32_MAX]`` (gemmlowp
    saturates once ``|x| > 2**(31 - exponent) - 1``). ``exponent < 0``:
    :func:`rounding_divide_by_pot` (ties away from zero). ``exponent == 0``: identity.
    """
    return _out32(_srmbp(_i64(x), int(exponent)))


def rounding_half_sum(a: Any, b: Any) -> np.ndarray:
    """gemmlowp ``RoundingHalfSum`` on int32: ``(a + b) / 2`` computed in 64 bits as
    ``(a + b + sign) / 2`` with truncating division, i.e. ties *away from zero*."""
    s = _i64(a) + _i64(b)
    sign = np.where(s >= 0, np.int64(1), np.int64(-1))
    return _out32(_trunc_div_pot(s + sign, 1))


def _mbqm(x: np.ndarray, multiplier: Any, shift: Any) -> np.ndarray:
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return _rdbp(_srdhm(_wrap32(x << left), np.asarray(multiplier, dtype=np.int64)), right)


def multiply_by_quantized_multiplier(acc: Any, multiplier: Any, shift: Any) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift)``,
    default *double-rounding* build (``TFLITE_SINGLE_ROUNDING`` off).

    ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**max(shift, 0),
    multiplier), max(-shift, 0))``: two roundings, the first to nearest with ties half
    up (toward +inf), the second to nearest with ties away from zero (see
    :func:`saturating_rounding_doubling_high_mul`, :func:`rounding_divide_by_pot`). The
    result can therefore differ by 1 (never more) from a single round-half-away of the
    exact ``x * multiplier * 2**(shift - 31)``, e.g. ``(7, 2**30 + 12345, -3) -> 1``
    where the exact value is 0.4375. The left shift ``x * 2**shift`` is a plain
    int32 multiply in C; it wraps here as it does on the targets (callers keep it in range).

    ``multiplier`` and ``shift`` may be arrays broadcast against ``acc`` (per-channel).
    """
    return _out32(_mbqm(_i64(acc), _i64(multiplier), _i64(shift)))


def multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: Any, multiplier: Any, left_shift: Any
) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (double rounding), as used by
    the int8 ADD/SUB kernels: ``RoundingDivideByPOT(SRDHM(x, multiplier), -left_shift)``
    with ``left_shift <= 0``; the high-mul rounds half up, the shift half away from zero."""
    ls = _i64(left_shift)
    if np.any(ls > 0):
        raise ValueError("left_shift must be <= 0")
    return _out32(_rdbp(_srdhm(_i64(x), _i64(multiplier)), -ls))


def multiply_by_quantized_multiplier_greater_than_one(
    x: Any, multiplier: Any, left_shift: Any
) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplierGreaterThanOne`` (double-rounding build):
    ``SRDHM(x * 2**left_shift, multiplier)`` (one rounding, ties half up); the
    int32 left shift wraps as in C."""
    ls = _i64(left_shift)
    if np.any(ls < 0):
        raise ValueError("left_shift must be >= 0")
    return _out32(_srdhm(_wrap32(_i64(x) << ls), _i64(multiplier)))


def multiply_by_quantized_multiplier_int64(x: Any, multiplier: Any, shift: Any) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier(int64 x, ...)`` (used by 16x8 kernels).

    The multiplier is first reduced to 16 bits, ``(m + 2**15) >> 16`` (saturating at
    0x7FFF), then ``(x * reduced + 2**(14 - shift)) >> (15 - shift)``: a single rounding,
    half *up* (toward +inf) on ties. The result is truncated to int32 as in C.
    Requires ``|x| < 2**47`` and ``-31 <= shift < 8``.
    """
    x = _i64(x)
    m = _i64(multiplier)
    s = _i64(shift)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, np.int64(0x7FFF))
    total = np.int64(15) - s
    y = x * reduced + (np.int64(1) << (total - 1))
    return _out32(_wrap32(y >> total))


def count_leading_zeros32(x: Any) -> np.ndarray:
    """Leading zero bits of ``x`` read as uint32 (32 for 0), as TFLM ``CountLeadingZeros``."""
    return _clz32(_i64(x)).astype(np.int32)


# ---------------------------------------------------------------------------------------
# gemmlowp fixed-point functions (raw int32 values, given integer bits)
# ---------------------------------------------------------------------------------------


def rescale(x: Any, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp ``Rescale<dst>`` of a FixedPoint with ``src`` integer bits:
    :func:`saturating_rounding_multiply_by_pot` by ``src - dst`` (saturating left shift, or
    right shift rounding half away from zero)."""
    return _out32(_srmbp(_i64(x), int(src_integer_bits) - int(dst_integer_bits)))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    constant_term = np.int64(1895147668)  # exp(-1/8) in Q0.31
    one_third = np.int64(715827883)  # 1/3 in Q0.31
    x = _wrap32(a + np.int64(1 << 28))  # a + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbp(x4, 2)
    poly = _rdbp(_wrap32(_srdhm(_wrap32(x4_over_4 + x3), one_third) + x2), 1)
    return _wrap32(constant_term + _srdhm(constant_term, _wrap32(x + poly)))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: Any) -> np.ndarray:
    """gemmlowp: ``exp(a)`` for Q0.31 ``a`` in ``[-1/4, 0)``, Q0.31 result.

    Fourth-order Taylor expansion around -1/8; each product rounds as
    :func:`saturating_rounding_doubling_high_mul`, the divisions by 4 and 2 as
    :func:`rounding_divide_by_pot` (ties away from zero); sums are int32 adds."""
    return _out32(_exp_quarter(_i64(a)))


_EXP_BARREL = (
    (-2, 1672461947),  # exp(-1/4)
    (-1, 1302514674),  # exp(-1/2)
    (0, 790015084),  # exp(-1)
    (1, 290630308),  # exp(-2)
    (2, 39332535),  # exp(-4)
    (3, 720401),  # exp(-8)
    (4, 242),  # exp(-16)
)


def _exp_neg(a: np.ndarray, integer_bits: int) -> np.ndarray:
    frac_bits = 31 - integer_bits
    quarter = np.int64(1) << np.int64(frac_bits - 2)
    a_mod_q_minus_q = (a & (quarter - 1)) - quarter
    result = _exp_quarter(_srmbp(a_mod_q_minus_q, integer_bits))
    remainder = _wrap32(a_mod_q_minus_q - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << np.int64(frac_bits + exponent)
            result = np.where((remainder & bit) != 0, _srdhm(result, np.int64(multiplier)), result)
    if integer_bits > 5:
        clamp = -(np.int64(1) << np.int64(36 - integer_bits))  # -32.0
        result = np.where(a < clamp, np.int64(0), result)
    return np.where(a == 0, np.int64(INT32_MAX), result)


def exp_on_negative_values(a: Any, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values``: ``exp(a)`` for a non-positive FixedPoint with
    ``integer_bits`` integer bits; Q0.31 result (``a == 0`` gives ``INT32_MAX``).

    ``a`` is split into ``(a mod 1/4) - 1/4`` (evaluated by
    :func:`exp_on_interval_between_negative_one_quarter_and_0_excl`) and a sum of powers of
    two, each applied as a rounding multiply by the constant ``exp(-2**k)`` (gemmlowp
    high-mul rounding, ties half up). With more than 5 integer bits, inputs below -32
    give 0.
    """
    return _out32(_exp_neg(_i64(a), int(integer_bits)))


def _newton_reciprocal_f2(half_denominator: np.ndarray) -> np.ndarray:
    c48_17 = np.int64(1515870810)  # 48/17 in Q2.29
    cm32_17 = np.int64(-1010580540)  # -32/17 in Q2.29
    one_f2 = np.int64(1 << 29)
    x = _wrap32(c48_17 + _srdhm(half_denominator, cm32_17))
    for _ in range(3):
        hdx = _srdhm(half_denominator, x)
        one_minus = _wrap32(one_f2 - hdx)
        x = _wrap32(x + _srmbp(_srdhm(x, one_minus), 2))
    return x


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    half_den = _i64(rounding_half_sum(a, INT32_MAX))
    x = _newton_reciprocal_f2(half_den)
    return _srmbp(x, 1)  # Q2 value / 2 == same raw in Q1; Rescale<0> from Q1


def one_over_one_plus_x_for_x_in_0_1(a: Any) -> np.ndarray:
    """gemmlowp: ``1 / (1 + a)`` for Q0.31 ``a`` in ``[0, 1)``, Q0.31 result.

    Halves the denominator with :func:`rounding_half_sum` (ties away from zero), then three
    Newton-Raphson steps in Q2.29 from ``48/17 - 32/17 * d``; products round as
    :func:`saturating_rounding_doubling_high_mul`, rescales saturate."""
    return _out32(_one_over_one_plus_x(_i64(a)))


def _one_minus_x_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    half_den = _i64(rounding_half_sum(a, INT32_MAX))
    x = _newton_reciprocal_f2(half_den)
    return _srmbp(_wrap32(x - np.int64(1 << 29)), 2)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: Any) -> np.ndarray:
    """gemmlowp: ``(1 - a) / (1 + a)`` for Q0.31 ``a`` in ``[0, 1)`` (same Newton-Raphson
    scheme and roundings as :func:`one_over_one_plus_x_for_x_in_0_1`), Q0.31 result."""
    return _out32(_one_minus_x_over_one_plus_x(_i64(a)))


def _logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    positive = a > 0
    abs_a = np.where(positive, a, _wrap32(-a))
    r_pos = _one_over_one_plus_x(_exp_neg(_wrap32(-abs_a), integer_bits))
    r_neg = _wrap32(np.int64(INT32_MAX) - r_pos)
    return np.where(a == 0, np.int64(1 << 30), np.where(positive, r_pos, r_neg))


def fixed_point_logistic(a: Any, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic`` of a FixedPoint with ``integer_bits`` integer bits; Q0.31
    result. ``1 / (1 + exp(-|a|))`` via :func:`exp_on_negative_values` and
    :func:`one_over_one_plus_x_for_x_in_0_1`; negative inputs use ``1 - f(|a|)`` (plain
    int32 subtraction from ``INT32_MAX``); ``a == 0`` gives exactly ``2**30``."""
    return _out32(_logistic(_i64(a), int(integer_bits)))


def _tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    negative = a < 0
    n = np.where(negative, a, _wrap32(-a))  # -|a|
    t = _one_minus_x_over_one_plus_x(_exp_neg(n, integer_bits + 1))  # exp(-2|a|)
    return np.where(a == 0, np.int64(0), np.where(negative, _wrap32(-t), t))


def fixed_point_tanh(a: Any, integer_bits: int) -> np.ndarray:
    """gemmlowp ``tanh`` of a FixedPoint with ``integer_bits`` integer bits; Q0.31 result.

    ``(1 - exp(-2|a|)) / (1 + exp(-2|a|))`` with the sign restored by (wrapping) int32
    negation; ``exp(-2|a|)`` reuses the raw value of ``-|a|`` with one more integer bit.
    Same roundings as :func:`exp_on_negative_values` and
    :func:`one_minus_x_over_one_plus_x_for_x_in_0_1`."""
    return _out32(_tanh(_i64(a), int(integer_bits)))


def _get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    hp1 = _clz32(x)
    num_bits_over_unit = np.int64(x_integer_digits) - hp1
    u = x & np.int64(0xFFFFFFFF)
    shifted = ((u << hp1) - np.int64(1 << 31)) & np.int64(0xFFFFFFFF)  # uint32 arithmetic
    return _one_over_one_plus_x(_wrap32(shifted)), num_bits_over_unit


def get_reciprocal(x: Any, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM ``GetReciprocal``: for a positive FixedPoint ``x`` with ``x_integer_digits``
    integer bits, returns ``(scale, num_bits_over_unit)`` with
    ``1/x ~= scale / 2**31 / 2**num_bits_over_unit``. ``x`` is normalized by its leading
    zeros (exact) and ``scale = 1 / (1 + frac)`` by :func:`one_over_one_plus_x_for_x_in_0_1`.
    """
    s, n = _get_reciprocal(_i64(x), int(x_integer_digits))
    return _out32(s), n.astype(np.int32)


# ---------------------------------------------------------------------------------------
# Op-level int8 kernels
# ---------------------------------------------------------------------------------------

_SOFTMAX_DIFF_INT_BITS = 5  # kScaledDiffIntegerBits
_SOFTMAX_ACCUM_INT_BITS = 12  # kAccumulationIntegerBits


def _f32(v: float) -> float:
    """The value as stored in a float32 tensor field, back as a Python float (exact)."""
    return float(np.float32(v))


def softmax_int8_params(input_scale: float, beta: float = 1.0) -> dict[str, Any]:
    """What TFLM's SOFTMAX prepare computes for int8 input and int8 output.

    ``input_multiplier, input_left_shift`` from :func:`preprocess_softmax_scaling` with
    ``beta`` and ``input_scale`` (both float32 values widened to double) and
    ``kScaledDiffIntegerBits = 5``: ``real = min(beta * scale * 2**26, 2**31 - 1)``,
    quantized with round-half-away-from-zero (TFLM aborts if ``real <= 1``: ValueError).
    ``diff_min = -calculate_input_radius(5, input_left_shift)`` (floor). The output is
    fixed at scale 1/256, zero point -128 (TFLM checks this in prepare).
    """
    mult, shift = preprocess_softmax_scaling(_f32(beta), _f32(input_scale), _SOFTMAX_DIFF_INT_BITS)
    diff_min = -calculate_input_radius(_SOFTMAX_DIFF_INT_BITS, shift)
    return {
        "input_multiplier": mult,
        "input_left_shift": shift,
        "diff_min": diff_min,
        "output_scale": 1.0 / 256.0,
        "output_zero_point": -128,
    }


def softmax_int8(x: Any, params: dict[str, Any], axis: int = -1) -> np.ndarray:
    """int8 -> int8 SOFTMAX exactly as TFLM's reference kernel (``reference_ops::Softmax``,
    the gemmlowp fixed-point path; no LUT for int8 at this commit).

    Per row: ``d = x - max(row)``; entries with ``d < diff_min`` contribute nothing and
    output -128. Otherwise ``d`` is scaled to Q5.26 by
    :func:`multiply_by_quantized_multiplier_greater_than_one` (one rounding, ties half
    up), ``exp`` by :func:`exp_on_negative_values`; the sum accumulates in Q12.19 (each
    term rescaled with rounding half away from zero; int32 adds). The reciprocal of the sum
    comes from :func:`get_reciprocal`, and each output is
    ``RoundingDivideByPOT(SRDHM(recip, exp), num_bits_over_unit + 23) - 128``, clamped to
    int8. TFLM always reduces over the last axis; ``axis`` is moved there first.
    """
    xi = np.moveaxis(_i64(x), axis, -1)
    mult = np.int64(params["input_multiplier"])
    shift = np.int64(params["input_left_shift"])
    diff_min = np.int64(params["diff_min"])

    diff = xi - xi.max(axis=-1, keepdims=True)
    valid = diff >= diff_min
    d = np.where(valid, diff, np.int64(0))
    scaled = _srdhm(_wrap32(d << shift), mult)  # Q5.26
    exp_q0 = _exp_neg(scaled, _SOFTMAX_DIFF_INT_BITS)
    terms = np.where(valid, _srmbp(exp_q0, -_SOFTMAX_ACCUM_INT_BITS), np.int64(0))
    sum_of_exps = _wrap32(terms.sum(axis=-1, keepdims=True))
    recip, bits_over_unit = _get_reciprocal(sum_of_exps, _SOFTMAX_ACCUM_INT_BITS)
    exponent = bits_over_unit + np.int64(31 - 8)
    # TFLM aborts when a row's sum of exps reaches 512 (exponent > 31; it is never < 0).
    # edgeir defines that case as the exact rounding division it stands for: 0, i.e. -128,
    # as the C kernel computes it.
    overflow = exponent > 31
    out = _rdbp(_srdhm(recip, exp_q0), np.minimum(exponent, 31)) + np.int64(-128)
    out = np.where(valid & ~overflow, np.clip(out, -128, 127), np.int64(-128))
    return np.moveaxis(out, -1, axis).astype(np.int8)


_ACT_INPUT_INT_BITS = 4  # kInputIntegerBits of int8 LOGISTIC and TANH


def _act_int8_params(input_scale: float, input_zero_point: int) -> dict[str, Any]:
    real = _f32(input_scale) * float(1 << (31 - _ACT_INPUT_INT_BITS))
    q, shift = math.frexp(real)
    # No 2**31 fix-up here (TFLM calls frexp/round directly). For a float32 scale q has at
    # most 24 significant bits, so q * 2**31 is an integer below 2**31 and cannot round up.
    mult = int(_round_half_away_f64(np.float64(q) * 2.0**31))
    mult = int(_wrap32(np.int64(mult)))
    return {
        "input_zero_point": int(input_zero_point),
        "input_multiplier": mult,
        "input_left_shift": shift,
        "input_range_radius": calculate_input_radius(_ACT_INPUT_INT_BITS, shift, 31),
    }


def logistic_int8_params(input_scale: float, input_zero_point: int) -> dict[str, Any]:
    """What TFLM's LOGISTIC prepare computes for int8 (output fixed at 1/256, -128).

    ``real = scale * 2**27`` (Q4.27 input), ``q, left_shift = frexp(real)``,
    ``input_multiplier = round(q * 2**31)`` (half away from zero; no fix-up needed),
    ``input_range_radius = floor(15 * 2**27 / 2**left_shift)``.
    """
    p = _act_int8_params(input_scale, input_zero_point)
    p.update(output_scale=1.0 / 256.0, output_zero_point=-128)
    return p


def logistic_int8(x: Any, params: dict[str, Any]) -> np.ndarray:
    """int8 LOGISTIC as ``reference_integer_ops::Logistic`` (gemmlowp fixed point).

    ``v = x - zp``; ``v <= -radius -> -128``, ``v >= radius -> 127``; otherwise
    ``v`` to Q4.27 with :func:`multiply_by_quantized_multiplier` (double rounding),
    :func:`fixed_point_logistic`, then ``RoundingDivideByPOT(., 23)`` (ties away from
    zero) ``- 128``, clamped to int8.
    """
    v = _i64(x) - np.int64(params["input_zero_point"])
    radius = np.int64(params["input_range_radius"])
    inside = (v > -radius) & (v < radius)
    q4 = _mbqm(np.where(inside, v, 0), params["input_multiplier"], params["input_left_shift"])
    out = _rdbp(_logistic(q4, _ACT_INPUT_INT_BITS), 23) - np.int64(128)
    out = np.clip(out, -128, 127)
    out = np.where(v <= -radius, np.int64(-128), np.where(v >= radius, np.int64(127), out))
    return out.astype(np.int8)


def tanh_int8_params(input_scale: float, input_zero_point: int) -> dict[str, Any]:
    """What TFLM's TANH prepare computes for int8 (output assumed 1/128, zero point 0).

    Same as :func:`logistic_int8_params`: Q4.27 input, ``frexp`` + round half away from
    zero for the multiplier, ``radius = floor(15 * 2**27 / 2**left_shift)``.
    """
    p = _act_int8_params(input_scale, input_zero_point)
    p.update(output_scale=1.0 / 128.0, output_zero_point=0)
    return p


def tanh_int8(x: Any, params: dict[str, Any]) -> np.ndarray:
    """int8 TANH as ``reference_integer_ops::Tanh`` (gemmlowp fixed point).

    ``v = x - zp``; ``v <= -radius -> -128``, ``v >= radius -> 127``; otherwise Q4.27 via
    :func:`multiply_by_quantized_multiplier`, :func:`fixed_point_tanh`, then
    ``RoundingDivideByPOT(., 24)`` (ties away from zero), clamped to int8 (no zero point:
    the kernel assumes output zero point 0).
    """
    v = _i64(x) - np.int64(params["input_zero_point"])
    radius = np.int64(params["input_range_radius"])
    inside = (v > -radius) & (v < radius)
    q4 = _mbqm(np.where(inside, v, 0), params["input_multiplier"], params["input_left_shift"])
    out = np.clip(_rdbp(_tanh(q4, _ACT_INPUT_INT_BITS), 24), -128, 127)
    out = np.where(v <= -radius, np.int64(-128), np.where(v >= radius, np.int64(127), out))
    return out.astype(np.int8)


def hard_swish_int8_params(
    input_scale: float, input_zp: int, output_scale: float, output_zp: int
) -> dict[str, Any]:
    """What TFLM's HARD_SWISH prepare computes for int8.

    In float32 (as TFLM): ``hires = input_scale / 128``, ``reluish_scale = 3 / 32768``,
    ``output_multiplier = hires / output_scale`` and ``reluish_multiplier = hires /
    reluish_scale`` (float32 divisions, then widened to double); each goes through
    :func:`quantize_multiplier` (half away from zero) and
    :func:`downscale_int32_to_int16_multiplier` (``(m + 2**15) >> 16``). TFLM rejects a
    positive output exponent (``ValueError`` here).
    """
    f32 = np.float32
    hires = f32(1.0 / 128.0) * f32(input_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    out_real = float(f32(hires / f32(output_scale)))
    relu_real = float(f32(hires / reluish_scale))
    om32, oexp = quantize_multiplier(out_real)
    if oexp > 0:
        raise ValueError("hard_swish: output multiplier exponent must be <= 0 (TFLM prepare)")
    rm32, rexp = quantize_multiplier(relu_real)
    return {
        "input_zero_point": int(input_zp),
        "output_zero_point": int(output_zp),
        "output_multiplier_fixedpoint_int16": downscale_int32_to_int16_multiplier(om32),
        "output_multiplier_exponent": oexp,
        "reluish_multiplier_fixedpoint_int16": downscale_int32_to_int16_multiplier(rm32),
        "reluish_multiplier_exponent": rexp,
    }


def _sat_left_shift16(v: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(v * np.int64(1 << min(int(amount), 40)), _INT16_MIN, _INT16_MAX)


def hard_swish_int8(x: Any, params: dict[str, Any]) -> np.ndarray:
    """int8 HARD_SWISH as TFLM's ``reference_ops::HardSwish`` (16-bit fixed point).

    ``v = (x - zp_in) * 128`` (int16). The output path is ``SRDHM16(v, out_m16)``
    (gemmlowp int16 high-mul: ties half up). The "reluish" factor rescales ``v`` so
    that 3.0 maps to 2**15: saturating left shift by ``exp - 1``, ``SRDHM16``, a final
    saturating shift by 1 (or a rounding right shift for negative exponents), then maps
    [-1, 1] to [0, 1] by ``(r + 2**15) >> 1`` (floor). The product uses the *truncating*
    doubling high-mul (``a*b / 2**15`` toward zero), then ``RoundingDivideByPOT`` by
    ``-out_exp`` (ties away from zero), the output zero point is added in int16 (wrapping as
    in C) and the result is clamped to int8.
    """
    p = params
    v = _wrap(_i64(x) - np.int64(p["input_zero_point"]), 16)
    hires = _wrap(v * np.int64(128), 16)
    out_m = np.int64(p["output_multiplier_fixedpoint_int16"])
    rel_m = np.int64(p["reluish_multiplier_fixedpoint_int16"])
    rexp = int(p["reluish_multiplier_exponent"])
    oexp = int(p["output_multiplier_exponent"])

    preshift_out = _srdhm_bits(hires, out_m, 16)
    reluish = hires
    if rexp > 0:
        reluish = _sat_left_shift16(reluish, rexp - 1)
    reluish = _srdhm_bits(reluish, rel_m, 16)
    if rexp > 0:
        reluish = _sat_left_shift16(reluish, 1)
    if rexp < 0:
        reluish = _wrap(_rdbp_bits(reluish, -rexp, 16), 16)
    reluish = (reluish + np.int64(1 << 15)) >> np.int64(1)
    # SaturatingDoublingHighMul (int16, truncating); reluish >= 0 so no -32768*-32768 case.
    overflow = (reluish == _INT16_MIN) & (preshift_out == _INT16_MIN)
    prod = np.where(overflow, np.int64(_INT16_MAX),
                    _wrap(_trunc_div_pot(reluish * preshift_out, 15), 16))
    out = _wrap(_rdbp_bits(prod, -oexp, 16), 16)
    out = _wrap(out + np.int64(p["output_zero_point"]), 16)
    return np.clip(out, -128, 127).astype(np.int8)


def quantize_float_to_int8(x: Any, scale: float, zero_point: int) -> np.ndarray:
    """float32 -> int8 QUANTIZE as TFLM's ``AffineQuantize`` at this commit.

    ``q = x / scale`` as a **float32** division (``scale`` is the tensor's float32 scale;
    TFLM stores it as double and casts it back to float), then ``roundf`` (nearest, ties
    *away from zero*, applied to the float32 quotient), converted to int32, plus
    ``zero_point``, clamped to [-128, 127]. Non-finite or out-of-int32-range quotients
    are undefined behaviour in C; here they follow the x86-64 build the oracle runs
    (conversion gives INT32_MIN, then a wrapping int32 add of the zero point). ARM
    targets saturate instead; the two agree except on such inputs.
    """
    xf = np.asarray(x, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = xf / np.float32(scale)
        r = _round_half_away_f64(q.astype(np.float64))
        ok = np.isfinite(r) & (r >= -(2.0**31)) & (r < 2.0**31)
        as_int = np.where(ok, np.where(ok, r, 0.0).astype(np.int64), np.int64(INT32_MIN))
    out = _wrap32(as_int + np.int64(zero_point))
    return np.clip(out, -128, 127).astype(np.int8)


def dequantize_int8(x: Any, scale: float, zero_point: int) -> np.ndarray:
    """int8 -> float32 DEQUANTIZE as TFLM: ``float(double(scale) * (x - zero_point))``.

    ``scale`` is the float32 tensor scale widened to double; the product with the small
    integer is exact in double, so the only rounding is the final cast to float32 (round
    to nearest even).
    """
    v = (_i64(x) - np.int64(zero_point)).astype(np.float64)
    return (np.float64(_f32(scale)) * v).astype(np.float32)
