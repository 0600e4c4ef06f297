/* edgeir int8 kernels: the int8 half of the contract in edgeir_kernels.h.
 *
 * Bit-exact with edgeir's golden model (compiler/ops/qnn.py, compiler/quant/arith.py), i.e.
 * with the TFLite Micro reference kernels. C99; no malloc, no stdio, no recursion, no VLAs.
 *
 * Conventions used throughout:
 *  - Where the golden model (and TFLM's C++) relies on two's-complement wrap-around of int32
 *    arithmetic, we compute in uint32_t and convert back with as_i32(), so there is no signed
 *    overflow (no UB) and the result is the wrapped one the golden model specifies.
 *  - Left shifts of possibly negative values go through uint32_t.
 *  - The requantized value r is clamped to [act_min - out_zp, act_max - out_zp] *before*
 *    the output zero point is added: clamp(r + zp, lo, hi) == clamp(r, lo - zp, hi - zp) + zp,
 *    and the addition can then never overflow.
 *  - Dot products accumulate int8 x int8 products in int32 (TFLM does the same); they cannot
 *    overflow below 2^17 taps. The (zero-point folded) bias is added with wrap-around.
 *  - Division appears only where TFLM divides (average pool / mean: by the window count) and
 *    in one-off setup (channels per group); everything else is multiply / shift.
 */
#include "edgeir_kernels.h"

#include <math.h>

/* Channel-chunk sizes of the kernels that keep per-channel int32 accumulators on the stack
 * (depthwise conv, average pool, mean): chunk * 4 bytes of stack. */
#ifndef EDGEIR_S8_CHUNK
#define EDGEIR_S8_CHUNK 32
#endif

/* A lookup table over all 256 int8 inputs is built for the fixed-point activations once a
 * tensor has more elements than this (256 bytes of stack). */
#ifndef EDGEIR_S8_LUT_MIN
#define EDGEIR_S8_LUT_MIN 256
#endif

/* ---- small integer helpers ---------------------------------------------------------------- */

/* uint32 -> int32, two's complement, without implementation-defined conversion. */
static inline int32_t as_i32(uint32_t u) {
  return (u & 0x80000000u) ? -(int32_t)(~u) - 1 : (int32_t)u;
}

static inline int32_t wadd(int32_t a, int32_t b) { return as_i32((uint32_t)a + (uint32_t)b); }
static inline int32_t wsub(int32_t a, int32_t b) { return as_i32((uint32_t)a - (uint32_t)b); }
static inline int32_t wneg(int32_t a) { return as_i32(0u - (uint32_t)a); }
/* x * 2^s wrapped to int32 (0 <= s <= 31). */
static inline int32_t wshl(int32_t x, int s) { return as_i32((uint32_t)x << s); }

static inline int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

/* Requantize an accumulator to int8: mbqm, then clamp to [lo, hi] (already shifted by
 * -out_zp), then + out_zp. */
static inline int8_t requant_s8(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp,
                                int32_t lo, int32_t hi) {
  const int32_t r = edgeir_clamp_i32(edgeir_mbqm(acc, mult, shift), lo, hi);
  return (int8_t)(r + out_zp);
}

/* TFLM's rounding division of the average pool / mean: num > 0 ? (num + den/2) / den
 * : (num - den/2) / den with C truncating division, computed on magnitudes in uint32 so that
 * no intermediate can overflow (den >= 1). */
static inline int32_t div_round_half_away(int32_t num, int32_t den) {
  const uint32_t d = (uint32_t)den;
  if (num > 0) return (int32_t)(((uint32_t)num + d / 2u) / d);
  return as_i32(0u - ((0u - (uint32_t)num) + d / 2u) / d);
}

/* sum_i a[i] * b[i] */
static inline int32_t dot_s8(const int8_t *a, const int8_t *b, int32_t n) {
  int32_t s0 = 0, s1 = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i] + a[i + 1] * b[i + 1];
    s1 += a[i + 2] * b[i + 2] + a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return s0 + s1;
}

/* Two dot products sharing the loads of x: *r0 += x.w0, *r1 += x.w1. */
static inline void dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n,
                           int32_t *r0, int32_t *r1) {
  int32_t a0 = 0, a1 = 0, i = 0;
  for (; i + 2 <= n; i += 2) {
    const int32_t x0 = x[i], x1 = x[i + 1];
    a0 += x0 * w0[i] + x1 * w0[i + 1];
    a1 += x0 * w1[i] + x1 * w1[i + 1];
  }
  if (i < n) {
    a0 += x[i] * w0[i];
    a1 += x[i] * w1[i];
  }
  *r0 += a0;
  *r1 += a1;
}

static inline int32_t sum_s8(const int8_t *a, int32_t n) {
  int32_t s = 0, i;
  for (i = 0; i < n; ++i) s += a[i];
  return s;
}

/* First k in [0, k_n) with 0 <= origin + k * dil, and the end of the run of k with
 * origin + k * dil < size (windows are contiguous runs of in-bounds taps). */
static inline void valid_taps(int32_t origin, int32_t dil, int32_t k_n, int32_t size,
                              int32_t *k_lo, int32_t *k_hi) {
  int32_t lo = 0, hi;
  while (lo < k_n && origin + lo * dil < 0) ++lo;
  hi = lo;
  while (hi < k_n && origin + hi * dil < size) ++hi;
  *k_lo = lo;
  *k_hi = hi;
}

/* ---- x86-64 fast paths -------------------------------------------------------------------- */

/* Compiled only when the user's flags enable AVX2 (-mavx2, -march=native, ...) with GCC or
 * Clang, so nothing here exists in a Cortex-M (or any non-AVX2) build. The kernels with a
 * fast path (conv_s8_hwio, depthwise_conv_s8 with multiplier 1, fc_s8, add_s8 on contiguous
 * rows, quantize_f32_s8) call it first; it returns 0 for shapes it does not handle and the
 * portable code runs. Results are bit-identical to the portable code
 * (tests/test_c_kernels_s8.py builds the library portable, with -mavx2 and with
 * -march=native and compares each with the golden model; tests/c/s8_edge_cases.c compares
 * their outputs under the sanitizers; tests/test_c_kernels_s8_x86_models.py runs the MLPerf
 * Tiny models):
 *  - dot products are exact integer sums; int32 accumulation wraps (vector adds), which is
 *    the portable result whenever the portable int32 sum does not overflow;
 *  - requantization is edgeir_mbqm on 8 lanes (16 with AVX-512F), exact for all int32
 *    multipliers and shifts in [-31, 31] (see x86_mbqm);
 *  - padding taps read in_zp as in the portable code;
 *  - window kernels keep the order edgeir_kernels.h promises the memory planner (pixels in
 *    row-major order, each finished before the next, inputs read before outputs that may
 *    overwrite them are written), so outputs may overlap inputs as planned.
 * With VNNI (AVX-VNNI, or AVX512-VNNI + VL) the dense convolution and the fully connected
 * layer use vpdpbusd (u8 x s8, 4 products per lane): one operand is offset by 128 to u8
 * and 128 * (the sum of the other) is subtracted, exact modulo 2^32. Without VNNI they use
 * vpmaddwd on int16 pairs; the depthwise convolution uses int16 pairs in both cases.
 * Scratch lives on the stack (no malloc, no static state: reentrant): at most about 70 KB
 * (dense convolution: EDGEIR_X86_WBUF packed weights + EDGEIR_X86_XBUF input rows), 50 KB
 * (depthwise), 9 KB (fully connected); define smaller EDGEIR_X86_WBUF / EDGEIR_X86_XBUF for
 * small thread stacks (slower, same results). */
#if defined(__AVX2__) && defined(__GNUC__)
#define EDGEIR_S8_X86 1
#include <immintrin.h>

#if defined(__AVXVNNI__)
#define X86_VNNI 1
#define X86_DPBUSD(acc, a, b) _mm256_dpbusd_avx_epi32((acc), (a), (b))
#define X86_MADD(acc, a, b) _mm256_dpwssd_avx_epi32((acc), (a), (b))
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define X86_VNNI 1
#define X86_DPBUSD(acc, a, b) _mm256_dpbusd_epi32((acc), (a), (b))
#define X86_MADD(acc, a, b) _mm256_dpwssd_epi32((acc), (a), (b))
#else
#define X86_VNNI 0
/* acc + a0 * b0 + a1 * b1 per int32 lane (int16 pairs): exact for int8-valued operands */
#define X86_MADD(acc, a, b) _mm256_add_epi32((acc), _mm256_madd_epi16((a), (b)))
#endif

#if X86_VNNI
typedef uint8_t x86_xt; /* an im2col element: x + 128 */
#define X86_KG 4        /* reduction elements per int32 lane and step */
#else
typedef int16_t x86_xt; /* an im2col element: x */
#define X86_KG 2
#endif

/* Stack budgets of the fast paths (bytes of scratch; -D to change). */
#ifndef EDGEIR_X86_WBUF
#define EDGEIR_X86_WBUF 40960      /* packed dense-conv weights (more: interleaved per step) */
#endif
#ifndef EDGEIR_X86_XBUF
#define EDGEIR_X86_XBUF 16384      /* dense-conv input: padded rows or im2col rows */
#endif
#define X86_P 4                    /* output pixels per register block (dense conv) */
#define X86_WBUF EDGEIR_X86_WBUF
#define X86_XBUF EDGEIR_X86_XBUF
#define X86_TAPS 64                /* largest k_h * k_w of the direct dense path */
#define X86_MAXBLK 64              /* 16-channel blocks (out_c <= 1024) of the dense path */
#define X86_DW_KH 16               /* largest k_h of the depthwise path */
#define X86_DW_WV 512              /* depthwise weight vectors (16 KB): blocks * pairs * 2 */
#define X86_DW_ZBUF 24576          /* depthwise converted input rows */
#define X86_DW_MAXBLK 8            /* depthwise blocks with precomputed constants */
#define X86_KT 8                   /* dense-conv blocks with precomputed constants */

/* per-lane constants of edgeir_mbqm for 8 channels; the flags say whether any lane shifts
 * left and whether any lane's multiplier is INT32_MIN (else SRDHM cannot saturate) */
typedef struct {
  __m256i mult, mult_odd, left, right, mask, half;
  int any_left, any_sat;
} x86_rq;

static inline x86_rq x86_rq_make(__m256i mult, __m256i shift) {
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
  x86_rq q;
  q.mult = mult;
  q.mult_odd = _mm256_srli_epi64(mult, 32);
  q.left = _mm256_max_epi32(shift, zero);
  q.right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  q.mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, q.right), one); /* (1 << right) - 1 */
  q.half = _mm256_srli_epi32(q.mask, 1);
  q.any_left = !_mm256_testz_si256(q.left, q.left);
  q.any_sat = _mm256_movemask_epi8(_mm256_cmpeq_epi32(mult, _mm256_set1_epi32(INT32_MIN))) != 0;
  return q;
}

/* edgeir_mbqm on 8 lanes, bit-exact for shifts in [-31, 31]:
 *  - x << left wraps (vpsllvd), as the uint32 shift;
 *  - SRDHM: (ab + nudge) / 2^31 with C's truncating division equals floor((ab + 2^30) / 2^31)
 *    for both signs of ab (ab < 0: trunc(t / 2^31) = floor((t + 2^31 - 1) / 2^31) with
 *    t = ab + 1 - 2^30). |ab| <= 2^62, so ab + 2^30 fits in int64, and the result is bits
 *    31..62 of it (a logical 64-bit shift gives the same low 32 bits as an arithmetic one).
 *    The 64-bit products come from vpmuldq on the even lanes and on the odd lanes shifted
 *    down. The true result lies in [-2^31 + 1, 2^31 - 2] except INT32_MIN * INT32_MIN
 *    (2^31, saturated to INT32_MAX by the scalar code); its low 32 bits are INT32_MIN,
 *    which no other input produces, so lanes equal to INT32_MIN become INT32_MAX (only
 *    needed when a lane's multiplier is INT32_MIN);
 *  - RoundingDivideByPOT as gemmlowp: (x >> e) + (remainder > (mask >> 1) + (x < 0)). */
static inline __m256i x86_mbqm(__m256i x, const x86_rq *q) {
  const __m256i nudge = _mm256_set1_epi64x(1LL << 30);
  __m256i e, o, r, rem, thr;
  if (q->any_left) x = _mm256_sllv_epi32(x, q->left);
  e = _mm256_add_epi64(_mm256_mul_epi32(x, q->mult), nudge);
  o = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult_odd), nudge);
  r = _mm256_blend_epi32(_mm256_srli_epi64(e, 31), _mm256_slli_epi64(o, 1), 0xAA);
  if (q->any_sat)
    r = _mm256_add_epi32(r, _mm256_cmpeq_epi32(r, _mm256_set1_epi32(INT32_MIN)));
  rem = _mm256_and_si256(r, q->mask);
  thr = _mm256_sub_epi32(q->half, _mm256_srai_epi32(r, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(r, q->right), _mm256_cmpgt_epi32(rem, thr));
}

/* clamp to [lo, hi] (already shifted by -out_zp), + out_zp, low byte (the (int8_t) cast) */
static inline __m256i x86_clamp_zp(__m256i r, __m256i lo, __m256i hi, __m256i zp) {
  r = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(r, lo), hi), zp);
  return _mm256_and_si256(r, _mm256_set1_epi32(0xFF));
}

/* 16 requantized int32 (r0: channels 0-7, r1: 8-15) -> 16 int8 */
static inline __m128i x86_pack16(__m256i r0, __m256i r1) {
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(r0, r1), 0xD8);
  return _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

/* 8 requantized int32 -> 8 int8 in the low half */
static inline __m128i x86_pack8(__m256i r) {
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
  const __m128i h = _mm256_castsi256_si128(w);
  return _mm_packus_epi16(h, h);
}

/* store the first n (1..16) bytes of v */
static inline void x86_store_n(int8_t *dst, __m128i v, int32_t n) {
  if (n == 16) {
    _mm_storeu_si128((__m128i *)(void *)dst, v);
  } else if (n == 8) {
    _mm_storel_epi64((__m128i *)(void *)dst, v);
  } else {
    int8_t t[16];
    int32_t i;
    _mm_storeu_si128((__m128i *)(void *)t, v);
    for (i = 0; i < n; ++i) dst[i] = t[i];
  }
}

/* load n (0..16) bytes, zero-filled above n; never reads past src + n */
static inline __m128i x86_load_n(const int8_t *src, int32_t n) {
  if (n == 16) return _mm_loadu_si128((const __m128i *)(const void *)src);
  if (n == 8) return _mm_loadl_epi64((const __m128i *)(const void *)src);
  {
    int8_t t[16] = {0};
    int32_t i;
    for (i = 0; i < n; ++i) t[i] = src[i];
    return _mm_loadu_si128((const __m128i *)(const void *)t);
  }
}

/* load n (0..16) int32 (zero-filled) as two 8-lane vectors; src may be NULL (zeros) */
static inline void x86_load16_i32(const int32_t *src, int32_t n, __m256i *v0, __m256i *v1) {
  if (src && n == 16) {
    *v0 = _mm256_loadu_si256((const __m256i *)(const void *)src);
    *v1 = _mm256_loadu_si256((const __m256i *)(const void *)(src + 8));
  } else {
    int32_t t[16] = {0};
    int32_t i;
    if (src)
      for (i = 0; i < n; ++i) t[i] = src[i];
    *v0 = _mm256_loadu_si256((const __m256i *)(const void *)t);
    *v1 = _mm256_loadu_si256((const __m256i *)(const void *)(t + 8));
  }
}

#if defined(__AVX512F__)
/* With AVX-512F (e.g. -march=native on hosts that have it) 16 channels requantize in one
 * zmm register: the same arithmetic as x86_mbqm, with mask registers for the saturation and
 * rounding steps and vpmovdb (truncating, as the (int8_t) cast) for the narrowing. */
#define X86_AVX512 1
typedef struct {
  __m512i mult, mult_odd, left, right, mask, half;
  int any_left, any_sat;
} x86_rq16;

static inline x86_rq16 x86_rq16_make(const x86_rq *q0, const x86_rq *q1) {
  x86_rq16 q;
  q.mult = _mm512_inserti64x4(_mm512_castsi256_si512(q0->mult), q1->mult, 1);
  q.mult_odd = _mm512_inserti64x4(_mm512_castsi256_si512(q0->mult_odd), q1->mult_odd, 1);
  q.left = _mm512_inserti64x4(_mm512_castsi256_si512(q0->left), q1->left, 1);
  q.right = _mm512_inserti64x4(_mm512_castsi256_si512(q0->right), q1->right, 1);
  q.mask = _mm512_inserti64x4(_mm512_castsi256_si512(q0->mask), q1->mask, 1);
  q.half = _mm512_inserti64x4(_mm512_castsi256_si512(q0->half), q1->half, 1);
  q.any_left = q0->any_left || q1->any_left;
  q.any_sat = q0->any_sat || q1->any_sat;
  return q;
}

static inline __m512i x86_mbqm16(__m512i x, const x86_rq16 *q) {
  const __m512i nudge = _mm512_set1_epi64(1LL << 30), one = _mm512_set1_epi32(1);
  __m512i e, o, r, rem, thr;
  if (q->any_left) x = _mm512_sllv_epi32(x, q->left);
  e = _mm512_add_epi64(_mm512_mul_epi32(x, q->mult), nudge);
  o = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->mult_odd), nudge);
  r = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e, 31), _mm512_slli_epi64(o, 1));
  if (q->any_sat) /* INT32_MIN (only from INT32_MIN * INT32_MIN) - 1 = INT32_MAX */
    r = _mm512_mask_sub_epi32(r, _mm512_cmpeq_epi32_mask(r, _mm512_set1_epi32(INT32_MIN)), r,
                              one);
  rem = _mm512_and_si512(r, q->mask);
  thr = _mm512_sub_epi32(q->half, _mm512_srai_epi32(r, 31));
  r = _mm512_srav_epi32(r, q->right);
  return _mm512_mask_add_epi32(r, _mm512_cmpgt_epi32_mask(rem, thr), r, one);
}
#else
#define X86_AVX512 0
#endif

/* requantization constants, bias and store helper of one block of 16 output channels */
typedef struct {
  __m256i bias[2];
  x86_rq rq[2];
#if X86_AVX512
  x86_rq16 rq16;
#endif
} x86_blk;

static inline void x86_blk_make(x86_blk *k, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int32_t oc0, int32_t n) {
  __m256i m0, m1, s0, s1;
  x86_load16_i32(bias ? bias + oc0 : NULL, n, &k->bias[0], &k->bias[1]);
  x86_load16_i32(mult + oc0, n, &m0, &m1);
  x86_load16_i32(shift + oc0, n, &s0, &s1);
  k->rq[0] = x86_rq_make(m0, s0);
  k->rq[1] = x86_rq_make(m1, s1);
#if X86_AVX512
  k->rq16 = x86_rq16_make(&k->rq[0], &k->rq[1]);
#endif
}

/* requantize 16 accumulators (a0: channels 0-7, a1: 8-15) and store n of them */
static inline void x86_out16(int8_t *dst, __m256i a0, __m256i a1, const x86_blk *k,
                             __m256i lo, __m256i hi, __m256i zp, int32_t n) {
#if X86_AVX512
  const __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(a0), a1, 1);
  const __m512i r = _mm512_add_epi32(
      _mm512_min_epi32(_mm512_max_epi32(x86_mbqm16(a, &k->rq16), _mm512_broadcast_i64x4(lo)),
                       _mm512_broadcast_i64x4(hi)),
      _mm512_broadcast_i64x4(zp));
  x86_store_n(dst, _mm512_cvtepi32_epi8(r), n);
#else
  const __m256i r0 = x86_clamp_zp(x86_mbqm(a0, &k->rq[0]), lo, hi, zp);
  const __m256i r1 = x86_clamp_zp(x86_mbqm(a1, &k->rq[1]), lo, hi, zp);
  x86_store_n(dst, x86_pack16(r0, r1), n);
#endif
}

/* ---- dense convolution (HWIO): im2col rows x packed weights ----
 *
 * Output pixels are computed in row-major order in groups of X86_P, every channel of a group
 * before the next group, and a group's input windows are all read before any of its outputs
 * is written: the window-kernel order of edgeir_kernels.h (the output may start below the
 * input). Per call, the weights of each 16-channel block are packed for the MAC loop into
 * a stack buffer; blocks past X86_WBUF bytes are interleaved from the HWIO layout at each
 * step instead (slower, same results). */

/* dst[0..n) = the im2col form of src[0..n) */
static inline void x86_copy_x(x86_xt *dst, const int8_t *src, int32_t n) {
  int32_t i = 0;
#if X86_VNNI
  const __m128i flip = _mm_set1_epi8((char)-128);
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128((__m128i *)(void *)(dst + i),
                     _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(src + i)),
                                   flip));
  for (; i + 8 <= n; i += 8)
    _mm_storel_epi64((__m128i *)(void *)(dst + i),
                     _mm_xor_si128(_mm_loadl_epi64((const __m128i *)(const void *)(src + i)),
                                   flip));
  for (; i < n; ++i) dst[i] = (uint8_t)(src[i] + 128);
#else
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(
        (__m256i *)(void *)(dst + i),
        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(src + i))));
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(
        (__m128i *)(void *)(dst + i),
        _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(src + i))));
  for (; i < n; ++i) dst[i] = src[i];
#endif
}

static inline void x86_fill_x(x86_xt *dst, x86_xt v, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) dst[i] = v;
}

/* The im2col row of output pixel (b, oy, ox): the k_h * k_w * in_c window values in weight
 * order ((ky * k_w + kx) * in_c + ci), padding taps as zv (in_zp), zeros up to kp. */
static void x86_im2col(const edgeir_window *wn, const int8_t *in, int32_t b, int32_t oy,
                       int32_t ox, x86_xt zv, x86_xt *dst, int32_t kp) {
  const int32_t in_c = wn->in_c, in_w = wn->in_w, k_w = wn->k_w, d_w = wn->dil_w;
  const int32_t row = k_w * in_c;
  const int8_t *in_b = in + b * wn->in_h * in_w * in_c;
  const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
  const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
  int32_t kx_lo, kx_hi, ky, kx, e = 0;
  valid_taps(ix0, d_w, k_w, in_w, &kx_lo, &kx_hi);
  for (ky = 0; ky < wn->k_h; ++ky, e += row) {
    const int32_t iy = iy0 + ky * wn->dil_h;
    if (iy < 0 || iy >= wn->in_h || kx_hi <= kx_lo) {
      x86_fill_x(dst + e, zv, row);
    } else if (d_w == 1) { /* the in-bounds taps of the row are contiguous in the input */
      x86_fill_x(dst + e, zv, kx_lo * in_c);
      x86_copy_x(dst + e + kx_lo * in_c, in_b + (iy * in_w + ix0 + kx_lo) * in_c,
                 (kx_hi - kx_lo) * in_c);
      x86_fill_x(dst + e + kx_hi * in_c, zv, (k_w - kx_hi) * in_c);
    } else {
      for (kx = 0; kx < k_w; ++kx) {
        if (kx >= kx_lo && kx < kx_hi)
          x86_copy_x(dst + e + kx * in_c, in_b + (iy * in_w + ix0 + kx * d_w) * in_c, in_c);
        else
          x86_fill_x(dst + e + kx * in_c, zv, in_c);
      }
    }
  }
  x86_fill_x(dst + e, 0, kp - e);
}

/* Where the weights of one 16-channel block come from: packed (wb, X86_KG * 16 bytes per
 * step: VNNI channel-major quads, else channel-major pairs), or the HWIO tensor itself.
 * Reduction index k = tap * cpad + ci: input channels are padded from cin to cpad (the
 * padding rows are zero), as are k >= k_n and the channels past the block's n. */
typedef struct {
  const int8_t *wb;
  const int8_t *w;
  int32_t out_c, k_n, oc0, n, cin, cpad;
} x86_wsrc;

static inline __m128i x86_wrow(const x86_wsrc *src, int32_t k) {
  int32_t t, ci;
  if (k >= src->k_n) return _mm_setzero_si128();
  if (src->cpad == src->cin) return x86_load_n(src->w + k * src->out_c + src->oc0, src->n);
  t = k / src->cpad;
  ci = k - t * src->cpad;
  return ci < src->cin ? x86_load_n(src->w + (t * src->cin + ci) * src->out_c + src->oc0, src->n)
                       : _mm_setzero_si128();
}

/* The weights of step s for channels 0-7 (w0) and 8-15 (w1), ready for X86_MAC. Inlined
 * into each caller with `packed` constant. */
static inline __attribute__((always_inline)) void x86_wstep(const x86_wsrc *src, int packed,
                                                            int32_t s, __m256i *w0,
                                                            __m256i *w1) {
  if (packed) {
#if X86_VNNI
    *w0 = _mm256_loadu_si256((const __m256i *)(const void *)(src->wb + 64 * s));
    *w1 = _mm256_loadu_si256((const __m256i *)(const void *)(src->wb + 64 * s + 32));
#else
    *w0 = _mm256_cvtepi8_epi16(
        _mm_loadu_si128((const __m128i *)(const void *)(src->wb + 32 * s)));
    *w1 = _mm256_cvtepi8_epi16(
        _mm_loadu_si128((const __m128i *)(const void *)(src->wb + 32 * s + 16)));
#endif
  } else {
    __m128i r[X86_KG];
    int32_t t;
    for (t = 0; t < X86_KG; ++t) r[t] = x86_wrow(src, s * X86_KG + t);
#if X86_VNNI
    {
      const __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
      const __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
      *w0 = _mm256_set_m128i(_mm_unpackhi_epi16(t0, t2), _mm_unpacklo_epi16(t0, t2));
      *w1 = _mm256_set_m128i(_mm_unpackhi_epi16(t1, t3), _mm_unpacklo_epi16(t1, t3));
    }
#else
    *w0 = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r[0], r[1]));
    *w1 = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r[0], r[1]));
#endif
  }
}

/* Pack the block's weights (s_n steps) into dst, in x86_wstep's packed format. */
static void x86_pack_w(const x86_wsrc *src, int32_t s_n, int8_t *dst) {
  int32_t s;
  for (s = 0; s < s_n; ++s) {
    __m128i r[X86_KG];
    int32_t t;
    for (t = 0; t < X86_KG; ++t) r[t] = x86_wrow(src, s * X86_KG + t);
#if X86_VNNI
    {
      const __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
      const __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
      _mm_storeu_si128((__m128i *)(void *)(dst + 64 * s), _mm_unpacklo_epi16(t0, t2));
      _mm_storeu_si128((__m128i *)(void *)(dst + 64 * s + 16), _mm_unpackhi_epi16(t0, t2));
      _mm_storeu_si128((__m128i *)(void *)(dst + 64 * s + 32), _mm_unpacklo_epi16(t1, t3));
      _mm_storeu_si128((__m128i *)(void *)(dst + 64 * s + 48), _mm_unpackhi_epi16(t1, t3));
    }
#else
    _mm_storeu_si128((__m128i *)(void *)(dst + 32 * s), _mm_unpacklo_epi8(r[0], r[1]));
    _mm_storeu_si128((__m128i *)(void *)(dst + 32 * s + 16), _mm_unpackhi_epi8(r[0], r[1]));
#endif
  }
}

#if X86_VNNI
#define X86_MAC(acc, x, w) X86_DPBUSD((acc), (x), (w))
#else
#define X86_MAC(acc, x, w) X86_MADD((acc), (x), (w))
#endif

/* the X86_KG input values of step s, broadcast to all lanes */
static inline __m256i x86_xstep(const x86_xt *x, int32_t s) {
  return _mm256_broadcastd_epi32(_mm_loadu_si32((const void *)(x + X86_KG * s)));
}

/* Where the input values of up to X86_P pixels come from: im2col rows (toff NULL: step s of
 * pixel i at base[i] + X86_KG * s), or a padded image (tap t's cpad values of pixel i at
 * base[i] + toff[t]; qn = cpad / X86_KG steps per tap). */
typedef struct {
  const x86_xt *base[X86_P];
  const int32_t *toff;
  int32_t taps, qn;
} x86_xsrc;

/* The MAC loops: acc[i * 2 + h] (pixel i, channels 8h..8h+7) = bias + the dot products of
 * the pixels' inputs with the block's weights. One function per variant (not inlined: each
 * loop keeps its accumulators in registers): packed or HWIO weights, 4 pixels or 1, 16
 * channels or only the first 8 (narrow: blocks with n <= 8), im2col rows or padded image. */
#define X86_MAC_STEP(PACKED, WIDE, FOUR, s, x0, x1, x2, x3, q)                          \
  do {                                                                                  \
    __m256i w0, w1, v;                                                                  \
    x86_wstep(src, (PACKED), (s), &w0, &w1);                                            \
    v = x86_xstep((x0), (q));                                                           \
    a00 = X86_MAC(a00, v, w0);                                                          \
    if (WIDE) a01 = X86_MAC(a01, v, w1);                                                \
    if (FOUR) {                                                                         \
      v = x86_xstep((x1), (q));                                                         \
      a10 = X86_MAC(a10, v, w0);                                                        \
      if (WIDE) a11 = X86_MAC(a11, v, w1);                                              \
      v = x86_xstep((x2), (q));                                                         \
      a20 = X86_MAC(a20, v, w0);                                                        \
      if (WIDE) a21 = X86_MAC(a21, v, w1);                                              \
      v = x86_xstep((x3), (q));                                                         \
      a30 = X86_MAC(a30, v, w0);                                                        \
      if (WIDE) a31 = X86_MAC(a31, v, w1);                                              \
    }                                                                                   \
  } while (0)

#define X86_MAC_FN(name, PACKED, WIDE, FOUR, DIRECT)                                     \
  static __attribute__((noinline)) void name(const x86_wsrc *src, const x86_xsrc *xs,  \
                                             int32_t s_n, const __m256i *bias,           \
                                             __m256i *acc) {                             \
    const x86_xt *b0 = xs->base[0], *b1 = xs->base[FOUR ? 1 : 0];                       \
    const x86_xt *b2 = xs->base[FOUR ? 2 : 0], *b3 = xs->base[FOUR ? 3 : 0];            \
    __m256i a00 = bias[0], a01 = bias[1], a10 = a00, a11 = a01;                         \
    __m256i a20 = a00, a21 = a01, a30 = a00, a31 = a01;                                 \
    int32_t s;                                                                          \
    if (DIRECT) {                                                                       \
      int32_t t, q;                                                                     \
      for (t = 0, s = 0; t < xs->taps; ++t) {                                           \
        const int32_t o = xs->toff[t];                                                  \
        const x86_xt *x0 = b0 + o, *x1 = b1 + o, *x2 = b2 + o, *x3 = b3 + o;            \
        for (q = 0; q < xs->qn; ++q, ++s)                                               \
          X86_MAC_STEP(PACKED, WIDE, FOUR, s, x0, x1, x2, x3, q);                       \
      }                                                                                 \
    } else {                                                                            \
      for (s = 0; s < s_n; ++s) X86_MAC_STEP(PACKED, WIDE, FOUR, s, b0, b1, b2, b3, s); \
    }                                                                                   \
    acc[0] = a00;                                                                       \
    acc[1] = a01;                                                                       \
    if (FOUR) {                                                                         \
      acc[2] = a10;                                                                     \
      acc[3] = a11;                                                                     \
      acc[4] = a20;                                                                     \
      acc[5] = a21;                                                                     \
      acc[6] = a30;                                                                     \
      acc[7] = a31;                                                                     \
    }                                                                                   \
  }

X86_MAC_FN(x86_mac4_packed, 1, 1, 1, 0)
X86_MAC_FN(x86_mac4_raw, 0, 1, 1, 0)
X86_MAC_FN(x86_mac1_packed, 1, 1, 0, 0)
X86_MAC_FN(x86_mac1_raw, 0, 1, 0, 0)
X86_MAC_FN(x86_mac4n_packed, 1, 0, 1, 0)
X86_MAC_FN(x86_mac4n_raw, 0, 0, 1, 0)
X86_MAC_FN(x86_mac1n_packed, 1, 0, 0, 0)
X86_MAC_FN(x86_mac1n_raw, 0, 0, 0, 0)
X86_MAC_FN(x86_macd4_packed, 1, 1, 1, 1)
X86_MAC_FN(x86_macd4_raw, 0, 1, 1, 1)
X86_MAC_FN(x86_macd1_packed, 1, 1, 0, 1)
X86_MAC_FN(x86_macd1_raw, 0, 1, 0, 1)
X86_MAC_FN(x86_macd4n_packed, 1, 0, 1, 1)
X86_MAC_FN(x86_macd4n_raw, 0, 0, 1, 1)
X86_MAC_FN(x86_macd1n_packed, 1, 0, 0, 1)
X86_MAC_FN(x86_macd1n_raw, 0, 0, 0, 1)

typedef void (*x86_mac_fn)(const x86_wsrc *, const x86_xsrc *, int32_t, const __m256i *,
                           __m256i *);

/* [direct][packed][narrow][four] */
static x86_mac_fn x86_mac_pick(int direct, int packed, int narrow, int four) {
  static const x86_mac_fn fns[2][2][2][2] = {
      {{{x86_mac1_raw, x86_mac4_raw}, {x86_mac1n_raw, x86_mac4n_raw}},
       {{x86_mac1_packed, x86_mac4_packed}, {x86_mac1n_packed, x86_mac4n_packed}}},
      {{{x86_macd1_raw, x86_macd4_raw}, {x86_macd1n_raw, x86_macd4n_raw}},
       {{x86_macd1_packed, x86_macd4_packed}, {x86_macd1n_packed, x86_macd4n_packed}}}};
  return fns[direct != 0][packed != 0][narrow != 0][four != 0];
}

/* Everything about one call the pixel groups share. */
typedef struct {
  x86_wsrc raw;              /* the HWIO weights (oc0, n set per block) */
  const int8_t *wb;          /* packed blocks [0, n_packed), blk_bytes each */
  int32_t n_packed, nblk, blk_bytes, s_n, out_c;
  const x86_blk *kt;         /* constants of blocks [0, X86_KT) */
  const int32_t *bias_t, *mult, *shift;
  __m256i lo, hi, zp;
} x86_conv_ctx;

/* All blocks of np pixels (outputs o[i]): MAC, requantize, store. */
static void x86_conv_group(const x86_conv_ctx *c, const x86_xsrc *xs, int32_t np,
                           int8_t *const *o) {
  int32_t j, i;
  for (j = 0; j < c->nblk; ++j) {
    x86_wsrc src = c->raw;
    x86_blk kb;
    const x86_blk *k = j < X86_KT ? &c->kt[j] : &kb;
    __m256i acc[2 * X86_P];
    const int packed = j < c->n_packed, narrow = c->out_c - 16 * j <= 8;
    const int direct = xs->toff != NULL;
    src.oc0 = j * 16;
    src.n = min_i32(16, c->out_c - src.oc0);
    src.wb = packed ? c->wb + j * c->blk_bytes : NULL;
    if (j >= X86_KT) x86_blk_make(&kb, c->bias_t, c->mult, c->shift, src.oc0, src.n);
    if (np == X86_P) {
      x86_mac_pick(direct, packed, narrow, 1)(&src, xs, c->s_n, k->bias, acc);
    } else {
      for (i = 0; i < np; ++i) {
        x86_xsrc one = *xs;
        one.base[0] = xs->base[i];
        x86_mac_pick(direct, packed, narrow, 0)(&src, &one, c->s_n, k->bias, acc + 2 * i);
      }
    }
    for (i = 0; i < np; ++i) {
      int8_t *dst = o[i] + src.oc0;
      if (narrow) {
        const __m256i r0 = x86_clamp_zp(x86_mbqm(acc[2 * i], &k->rq[0]), c->lo, c->hi, c->zp);
        x86_store_n(dst, x86_pack8(r0), src.n);
      } else {
        x86_out16(dst, acc[2 * i], acc[2 * i + 1], k, c->lo, c->hi, c->zp, src.n);
      }
    }
  }
}

/* Padded rows [py0, py0 + rows) of image in_b into dst (wp columns of cpad values): padded
 * row py, column px is input (py - pad_top, px - pad_left); outside the input in_zp (zv).
 * Channel padding (cpad > in_c) holds anything: its weights are zero. end: the end of the
 * input tensor (vector loads never pass it). */
static void x86_pad_rows(const edgeir_window *wn, const int8_t *in_b, const int8_t *end,
                         int32_t py0, int32_t rows, int32_t wp, int32_t cpad, x86_xt zv,
                         x86_xt *dst) {
  const int32_t in_c = wn->in_c, in_w = wn->in_w;
  const int32_t px_lo = min_i32(wp, max_i32(0, wn->pad_left));
  const int32_t px_hi = max_i32(px_lo, min_i32(wp, wn->pad_left + in_w));
  int32_t r;
  for (r = 0; r < rows; ++r) {
    const int32_t iy = py0 + r - wn->pad_top;
    x86_xt *d = dst + r * wp * cpad;
    const int8_t *x;
    int32_t px;
    if (iy < 0 || iy >= wn->in_h || px_hi <= px_lo) {
      x86_fill_x(d, zv, wp * cpad);
      continue;
    }
    x86_fill_x(d, zv, px_lo * cpad);
    x = in_b + (iy * in_w + px_lo - wn->pad_left) * in_c;
    if (cpad == in_c) {
      x86_copy_x(d + px_lo * cpad, x, (px_hi - px_lo) * in_c);
    } else {
      px = px_lo;
      if (in_c == 3 && cpad == 4) { /* 4 pixels per shuffle: 12 bytes -> 16 */
        const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
        for (; px + 4 <= px_hi && x + 16 <= end; px += 4, x += 12) {
          const __m128i v =
              _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)x), spread);
#if X86_VNNI
          _mm_storeu_si128((__m128i *)(void *)(d + px * 4),
                           _mm_xor_si128(v, _mm_set1_epi8((char)-128)));
#else
          _mm256_storeu_si256((__m256i *)(void *)(d + px * 4), _mm256_cvtepi8_epi16(v));
#endif
        }
      }
      for (; px < px_hi; ++px, x += in_c) {
        x86_copy_x(d + px * cpad, x, in_c);
        x86_fill_x(d + px * cpad + in_c, 0, cpad - in_c);
      }
    }
    x86_fill_x(d + px_hi * cpad, zv, (wp - px_hi) * cpad);
  }
}

static int x86_conv_hwio(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int8_t *out) {
  const edgeir_window *wn = &p->win;
  const int32_t out_c = wn->out_c, in_c = wn->in_c, in_zp = p->in_zp;
  const int32_t out_h = wn->out_h, out_w = wn->out_w;
  const int32_t taps = wn->k_h * wn->k_w;
  const int32_t npix = wn->batch * out_h * out_w;
  const int32_t nblk = (out_c + 15) / 16;
  /* 1x1, stride 1, no padding, channels a multiple of the step: the im2col rows of
   * consecutive pixels are the input itself, contiguous */
  const int dense_rows = wn->k_h == 1 && wn->k_w == 1 && wn->stride_h == 1 &&
                         wn->stride_w == 1 && wn->pad_top == 0 && wn->pad_left == 0 &&
                         wn->in_h == out_h && wn->in_w == out_w && in_c % X86_KG == 0;
  /* direct: the taps read a padded copy of the input (channels padded to cpad), converted
   * band by band (rows of out_rows output rows); else im2col rows per pixel */
  const int32_t cpad = (in_c + X86_KG - 1) / X86_KG * X86_KG;
  const int32_t wp = (out_w - 1) * wn->stride_w + (wn->k_w - 1) * wn->dil_w + 1;
  const int32_t ext_h = (wn->k_h - 1) * wn->dil_h + 1;
  const int32_t row_n = wp * cpad;
  const int32_t xbuf_n = X86_XBUF / (int32_t)sizeof(x86_xt);
  const int32_t band = row_n > 0 && xbuf_n / row_n >= ext_h && wn->stride_h > 0
                           ? (xbuf_n / row_n - ext_h) / wn->stride_h + 1
                           : 0;
  const int direct = !dense_rows && 3 * cpad <= 4 * in_c && taps <= X86_TAPS && band >= 1;
  const int32_t cw = direct ? cpad : in_c;         /* channels per tap in k */
  const int32_t k_n = taps * cw;
  const int32_t s_n = (k_n + X86_KG - 1) / X86_KG, kp = s_n * X86_KG;
  const int32_t blk_bytes = s_n * 16 * X86_KG;
#if X86_VNNI
  const x86_xt zv = (x86_xt)(in_zp + 128);
#else
  const x86_xt zv = (x86_xt)in_zp;
#endif
  int8_t wbuf[X86_WBUF];
  x86_xt xbuf[X86_XBUF / sizeof(x86_xt)];
  int32_t bias_t[X86_MAXBLK * 16];
  int32_t toff[X86_TAPS];
  x86_blk kt[X86_KT];
  x86_conv_ctx c;
  x86_xsrc xs;
  int32_t j, i;
  if (k_n <= 0 || out_c <= 0 || nblk > X86_MAXBLK || npix <= 0 || in_zp < -128 ||
      in_zp > 127 || wn->in_h <= 0 || wn->in_w <= 0 || wn->dil_h <= 0 || wn->dil_w <= 0 ||
      wn->stride_h <= 0 || wn->stride_w <= 0 || (!direct && X86_P * kp > xbuf_n))
    return 0;
  c.raw.wb = NULL;
  c.raw.w = w;
  c.raw.out_c = out_c;
  c.raw.k_n = k_n;
  c.raw.cin = in_c;
  c.raw.cpad = cw;
  c.wb = wbuf;
  c.n_packed = min_i32(nblk, X86_WBUF / blk_bytes);
  c.nblk = nblk;
  c.blk_bytes = blk_bytes;
  c.s_n = s_n;
  c.out_c = out_c;
  c.kt = kt;
  c.bias_t = bias_t;
  c.mult = mult;
  c.shift = shift;
  c.lo = _mm256_set1_epi32(p->act_min - p->out_zp);
  c.hi = _mm256_set1_epi32(p->act_max - p->out_zp);
  c.zp = _mm256_set1_epi32(p->out_zp);
  for (j = 0; j < nblk; ++j) {
    const int32_t oc0 = j * 16, n = min_i32(16, out_c - oc0);
    __m256i b0, b1;
    x86_wsrc src = c.raw;
    x86_load16_i32(bias ? bias + oc0 : NULL, n, &b0, &b1);
    src.oc0 = oc0;
    src.n = n;
    if (j < c.n_packed) x86_pack_w(&src, s_n, wbuf + j * blk_bytes);
#if X86_VNNI
    { /* sum (x + 128) w = sum x w + 128 sum w: the bias takes -128 sum w */
      const __m256i ones = _mm256_set1_epi8(1);
      __m256i s0 = _mm256_setzero_si256(), s1 = s0, w0, w1;
      int32_t s;
      src.wb = j < c.n_packed ? wbuf + j * blk_bytes : NULL;
      for (s = 0; s < s_n; ++s) {
        if (j < c.n_packed)
          x86_wstep(&src, 1, s, &w0, &w1);
        else
          x86_wstep(&src, 0, s, &w0, &w1);
        s0 = X86_DPBUSD(s0, ones, w0);
        s1 = X86_DPBUSD(s1, ones, w1);
      }
      b0 = _mm256_sub_epi32(b0, _mm256_slli_epi32(s0, 7));
      b1 = _mm256_sub_epi32(b1, _mm256_slli_epi32(s1, 7));
    }
#endif
    _mm256_storeu_si256((__m256i *)(void *)(bias_t + oc0), b0);
    _mm256_storeu_si256((__m256i *)(void *)(bias_t + oc0 + 8), b1);
    if (j < X86_KT) x86_blk_make(&kt[j], bias_t, mult, shift, oc0, n);
  }
  if (direct) {
    const int8_t *end = in + wn->batch * wn->in_h * wn->in_w * in_c;
    int32_t b, oy0, t;
    for (t = 0; t < taps; ++t)
      toff[t] = ((t / wn->k_w) * wn->dil_h * wp + (t % wn->k_w) * wn->dil_w) * cpad;
    xs.toff = toff;
    xs.taps = taps;
    xs.qn = cpad / X86_KG;
    for (b = 0; b < wn->batch; ++b) {
      const int8_t *in_b = in + b * wn->in_h * wn->in_w * in_c;
      for (oy0 = 0; oy0 < out_h; oy0 += band) {
        const int32_t rows = min_i32(band, out_h - oy0);
        const int32_t bpix = rows * out_w;
        int32_t pix;
        /* every input row of the band, before any of its outputs is written */
        x86_pad_rows(wn, in_b, end, oy0 * wn->stride_h, (rows - 1) * wn->stride_h + ext_h, wp,
                     cpad, zv, xbuf);
        for (pix = 0; pix < bpix; pix += X86_P) {
          const int32_t np = min_i32(X86_P, bpix - pix);
          int8_t *o[X86_P];
          for (i = 0; i < np; ++i) {
            const int32_t r = (pix + i) / out_w, ox = (pix + i) - r * out_w;
            xs.base[i] = xbuf + (r * wn->stride_h * wp + ox * wn->stride_w) * cpad;
            o[i] = out + ((b * out_h + oy0 + r) * out_w + ox) * out_c;
          }
          x86_conv_group(&c, &xs, np, o);
        }
      }
    }
  } else {
    int32_t pix, cb = 0, cy = 0, cx = 0; /* cursor: the next pixel's (b, oy, ox) */
    xs.toff = NULL;
    xs.taps = 0;
    xs.qn = 0;
    for (i = 0; i < X86_P; ++i) xs.base[i] = xbuf + i * kp;
    for (pix = 0; pix < npix; pix += X86_P) {
      const int32_t np = min_i32(X86_P, npix - pix);
      int8_t *o[X86_P];
      if (dense_rows) {
        x86_copy_x(xbuf, in + pix * in_c, np * in_c);
      } else {
        for (i = 0; i < np; ++i) {
          x86_im2col(wn, in, cb, cy, cx, zv, xbuf + i * kp, kp);
          if (++cx == out_w) {
            cx = 0;
            if (++cy == out_h) {
              cy = 0;
              ++cb;
            }
          }
        }
      }
      for (i = 0; i < np; ++i) o[i] = out + (pix + i) * out_c;
      x86_conv_group(&c, &xs, np, o);
    }
  }
  return 1;
}

/* ---- depthwise convolution (multiplier 1) ----
 * Each input row is converted once, when the first output row that reads it starts, into a
 * ring of rows of int16 pairs Z[zi][c] = (X[zc][c], X[zc + dil_w][c]) for the padded columns
 * zc = zi * zs that windows start taps at (zs = stride_w when it divides 2 * dil_w: every
 * other column for stride 2), X being the row padded with in_zp (padded column zc is input
 * column zc - pad_left; channels padded to a multiple of 8); rows above or below the input
 * are a row of (in_zp, in_zp). Taps (kx, kx + 1) of a kernel row then are one Z element,
 * multiplied by the weight pairs with vpmaddwd / vpdpwssd: no shuffles and no bounds checks
 * in the pixel loop, which computes 4 pixels at a time (independent accumulator chains).
 * Pixels are finished in row-major order; an output row only reads (through the ring) input
 * rows that its own windows read, converted before any of its outputs is written: the
 * window-kernel order of edgeir_kernels.h. */

/* Z row of input row x (NULL: a row of in_zp) */
static void x86_dw_row(const int8_t *x, int32_t in_w, int32_t c_n, int32_t cp, int32_t pad_l,
                       int32_t d_w, int32_t zs, int32_t wz, __m128i zx, int16_t *z) {
  int32_t zi, c0;
  for (zi = 0; zi < wz; ++zi) {
    const int32_t ia = zi * zs - pad_l, ib = ia + d_w;
    const int8_t *xa = x && ia >= 0 && ia < in_w ? x + ia * c_n : NULL;
    const int8_t *xb = x && ib >= 0 && ib < in_w ? x + ib * c_n : NULL;
    int16_t *zr = z + zi * cp * 2;
    for (c0 = 0; c0 < cp; c0 += 16) {
      const int32_t n = min_i32(16, c_n - c0); /* >= 1; zero-filled above n */
      const __m128i a = xa ? x86_load_n(xa + c0, n) : zx;
      const __m128i b = xb ? x86_load_n(xb + c0, n) : zx;
      _mm256_storeu_si256((__m256i *)(void *)(zr + 2 * c0),
                          _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a, b)));
      if (c0 + 8 < cp)
        _mm256_storeu_si256((__m256i *)(void *)(zr + 2 * c0 + 16),
                            _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(a, b)));
    }
  }
}

/* One 16-channel block (8 if not WIDE) of 1 or 4 pixels: acc[i * 2 + h] = bias + the taps.
 * zr[ky] + off: the Z element of the first pixel's first pair; pixels px_step int16 apart,
 * pairs pair_step; w: the block's weight pairs, w_step vectors from one pair to the next. */
#define X86_DW_FN(name, WIDE, FOUR)                                                      \
  static __attribute__((noinline)) void name(                                           \
      const int16_t *const *zr, int32_t off, int32_t k_h, int32_t kxp_n, int32_t pair_step, \
      int32_t px_step, const __m256i *w, int32_t w_step, const __m256i *bias,           \
      __m256i *acc) {                                                                   \
    __m256i a00 = bias[0], a01 = bias[1], a10 = a00, a11 = a01;                         \
    __m256i a20 = a00, a21 = a01, a30 = a00, a31 = a01;                                 \
    int32_t ky, kxp;                                                                    \
    for (ky = 0; ky < k_h; ++ky) {                                                      \
      const int16_t *z = zr[ky] + off;                                                  \
      for (kxp = 0; kxp < kxp_n; ++kxp, z += pair_step, w += w_step) {                  \
        const __m256i w0 = w[0], w1 = w[1];                                             \
        a00 = X86_MADD(a00, _mm256_loadu_si256((const __m256i *)(const void *)z), w0);  \
        if (WIDE)                                                                       \
          a01 = X86_MADD(a01, _mm256_loadu_si256((const __m256i *)(const void *)(z + 16)), \
                         w1);                                                           \
        if (FOUR) {                                                                     \
          const int16_t *z1 = z + px_step, *z2 = z1 + px_step, *z3 = z2 + px_step;      \
          a10 = X86_MADD(a10, _mm256_loadu_si256((const __m256i *)(const void *)z1), w0); \
          a20 = X86_MADD(a20, _mm256_loadu_si256((const __m256i *)(const void *)z2), w0); \
          a30 = X86_MADD(a30, _mm256_loadu_si256((const __m256i *)(const void *)z3), w0); \
          if (WIDE) {                                                                   \
            a11 = X86_MADD(a11, _mm256_loadu_si256((const __m256i *)(const void *)(z1 + 16)), \
                           w1);                                                         \
            a21 = X86_MADD(a21, _mm256_loadu_si256((const __m256i *)(const void *)(z2 + 16)), \
                           w1);                                                         \
            a31 = X86_MADD(a31, _mm256_loadu_si256((const __m256i *)(const void *)(z3 + 16)), \
                           w1);                                                         \
          }                                                                             \
        }                                                                               \
      }                                                                                 \
    }                                                                                   \
    acc[0] = a00;                                                                       \
    acc[1] = a01;                                                                       \
    if (FOUR) {                                                                         \
      acc[2] = a10;                                                                     \
      acc[3] = a11;                                                                     \
      acc[4] = a20;                                                                     \
      acc[5] = a21;                                                                     \
      acc[6] = a30;                                                                     \
      acc[7] = a31;                                                                     \
    }                                                                                   \
  }

X86_DW_FN(x86_dw4, 1, 1)
X86_DW_FN(x86_dw1, 1, 0)
X86_DW_FN(x86_dw4n, 0, 1)
X86_DW_FN(x86_dw1n, 0, 0)

static int x86_depthwise(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int8_t *out) {
  const edgeir_window *wn = &p->win;
  const int32_t c_n = wn->in_c, in_h = wn->in_h, in_w = wn->in_w;
  const int32_t k_h = wn->k_h, k_w = wn->k_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t s_w = wn->stride_w;
  const int32_t kxp_n = (k_w + 1) / 2;                 /* tap pairs per kernel row */
  const int32_t cp = (c_n + 7) / 8 * 8;                /* Z channels */
  const int32_t nblk = (c_n + 15) / 16;
  const int32_t zs = s_w > 0 && (2 * d_w) % s_w == 0 ? s_w : 1; /* Z column step */
  const int32_t wz = ((wn->out_w - 1) * s_w + (k_w - 1) * d_w) / zs + 1; /* Z columns */
  const int32_t ring = (k_h - 1) * d_h + 1;            /* input rows one window spans */
  const int32_t zrow = wz * cp * 2;                    /* int16 per Z row */
  const int32_t px_step = s_w / zs * cp * 2, pair_step = 2 * d_w / zs * cp * 2;
  const int32_t in_row = in_w * c_n, in_img = in_h * in_row;
  const __m256i lo = _mm256_set1_epi32(p->act_min - p->out_zp);
  const __m256i hi = _mm256_set1_epi32(p->act_max - p->out_zp);
  const __m256i zp = _mm256_set1_epi32(p->out_zp);
  const __m128i zx = _mm_set1_epi8((char)p->in_zp);
  __m256i wv[X86_DW_WV]; /* [block][ky][kx pair][2] */
  int16_t zbuf[X86_DW_ZBUF / 2];
  x86_blk kt[X86_DW_MAXBLK];
  int16_t *zpad;
  int32_t j, ky, kxp, b, oy, ox;
  if (wn->out_c != c_n || c_n <= 0 || k_h <= 0 || k_h > X86_DW_KH || k_w <= 0 ||
      wn->out_w <= 0 || wn->out_h <= 0 || k_h * kxp_n * nblk * 2 > X86_DW_WV ||
      p->in_zp < -128 || p->in_zp > 127 || d_h <= 0 || d_w <= 0 || in_h <= 0 || in_w <= 0 ||
      s_w <= 0 || wn->stride_h <= 0 || (ring + 1) * zrow > X86_DW_ZBUF / 2)
    return 0;
  zpad = zbuf + ring * zrow;
  x86_dw_row(NULL, in_w, c_n, cp, wn->pad_left, d_w, zs, wz, zx, zpad);
  for (j = 0; j < nblk; ++j) /* weight pairs (w[ky][2 kxp][c], w[ky][2 kxp + 1][c]) */
    for (ky = 0; ky < k_h; ++ky)
      for (kxp = 0; kxp < kxp_n; ++kxp) {
        const int32_t c0 = 16 * j, n = min_i32(16, c_n - c0);
        const int32_t t0 = ky * k_w + 2 * kxp;
        const __m128i r0 = x86_load_n(w + t0 * c_n + c0, n);
        const __m128i r1 =
            2 * kxp + 1 < k_w ? x86_load_n(w + (t0 + 1) * c_n + c0, n) : _mm_setzero_si128();
        __m256i *v = wv + ((j * k_h + ky) * kxp_n + kxp) * 2;
        v[0] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1));
        v[1] = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r0, r1));
      }
  for (j = 0; j < nblk && j < X86_DW_MAXBLK; ++j)
    x86_blk_make(&kt[j], bias, mult, shift, 16 * j, min_i32(16, c_n - 16 * j));
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    int32_t done = 0; /* input rows [0, done) have been converted */
    for (oy = 0; oy < wn->out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      const int32_t need = min_i32(in_h, iy0 + ring);
      const int16_t *zr[X86_DW_KH];
      int8_t *o = out + (b * wn->out_h + oy) * wn->out_w * c_n;
      for (done = max_i32(done, max_i32(iy0, 0)); done < need; ++done)
        x86_dw_row(in_b + done * in_row, in_w, c_n, cp, wn->pad_left, d_w, zs, wz, zx,
                   zbuf + (done % ring) * zrow);
      for (ky = 0; ky < k_h; ++ky) {
        const int32_t iy = iy0 + ky * d_h;
        zr[ky] = iy >= 0 && iy < in_h ? zbuf + (iy % ring) * zrow : zpad;
      }
      for (ox = 0; ox < wn->out_w; ox += X86_P) {
        const int32_t np = min_i32(X86_P, wn->out_w - ox);
        for (j = 0; j < nblk; ++j) {
          const int32_t c0 = 16 * j, n = min_i32(16, c_n - c0);
          const int32_t off = ox * px_step + 2 * c0;
          const __m256i *wj = wv + j * k_h * kxp_n * 2;
          x86_blk kb;
          const x86_blk *k = j < X86_DW_MAXBLK ? &kt[j] : &kb;
          __m256i acc[2 * X86_P];
          int32_t i;
          if (j >= X86_DW_MAXBLK) x86_blk_make(&kb, bias, mult, shift, c0, n);
          if (np == X86_P) {
            (n > 8 ? x86_dw4 : x86_dw4n)(zr, off, k_h, kxp_n, pair_step, px_step, wj, 2,
                                         k->bias, acc);
          } else {
            for (i = 0; i < np; ++i)
              (n > 8 ? x86_dw1 : x86_dw1n)(zr, off + i * px_step, k_h, kxp_n, pair_step, 0, wj,
                                           2, k->bias, acc + 2 * i);
          }
          for (i = 0; i < np; ++i) {
            int8_t *dst = o + (ox + i) * c_n + c0;
            if (n > 8) {
              x86_out16(dst, acc[2 * i], acc[2 * i + 1], k, lo, hi, zp, n);
            } else {
              const __m256i r0 = x86_clamp_zp(x86_mbqm(acc[2 * i], &k->rq[0]), lo, hi, zp);
              x86_store_n(dst, x86_pack8(r0), n);
            }
          }
        }
      }
    }
  }
  return 1;
}

/* ---- fully connected: 4 rows at a time, 32 (VNNI) / 16 inputs per step ---- */

/* horizontal sums of 4 vectors -> 4 lanes */
static inline __m128i x86_hsum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* With VNNI the weights are the unsigned operand: sum (w + 128) x = sum w x + 128 sum x,
 * so the correction, 128 * (the sum of x over the vector steps), is computed once per input
 * row (xcorr) rather than once per weight row. */
#if X86_VNNI
#define X86_FC_STEP 32
#else
#define X86_FC_STEP 16
#endif

static inline __m256i x86_fc_w(const int8_t *w) {
#if X86_VNNI
  return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)w),
                          _mm256_set1_epi8((char)-128));
#else
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)w));
#endif
}

static inline __m256i x86_fc_x(const int8_t *x) {
#if X86_VNNI
  return _mm256_loadu_si256((const __m256i *)(const void *)x);
#else
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)x));
#endif
}

#if X86_VNNI
#define X86_FC_MAC(acc, xv, wv) X86_DPBUSD((acc), (wv), (xv))
#else
#define X86_FC_MAC(acc, xv, wv) X86_MADD((acc), (xv), (wv))
#endif

/* the dot products of x with rows w0 + r * n_in (r < 4), minus xcorr each */
static inline __m128i x86_fc_rows4(const int8_t *x, const int8_t *w0, int32_t n_in,
                                   int32_t xcorr) {
  const int8_t *w1 = w0 + n_in, *w2 = w1 + n_in, *w3 = w2 + n_in;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  int32_t i = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  for (; i + X86_FC_STEP <= n_in; i += X86_FC_STEP) {
    const __m256i xv = x86_fc_x(x + i);
    a0 = X86_FC_MAC(a0, xv, x86_fc_w(w0 + i));
    a1 = X86_FC_MAC(a1, xv, x86_fc_w(w1 + i));
    a2 = X86_FC_MAC(a2, xv, x86_fc_w(w2 + i));
    a3 = X86_FC_MAC(a3, xv, x86_fc_w(w3 + i));
  }
  for (; i < n_in; ++i) {
    const int32_t xi = x[i];
    t0 += xi * w0[i];
    t1 += xi * w1[i];
    t2 += xi * w2[i];
    t3 += xi * w3[i];
  }
  return _mm_add_epi32(x86_hsum4(a0, a1, a2, a3),
                       _mm_sub_epi32(_mm_setr_epi32(t0, t1, t2, t3), _mm_set1_epi32(xcorr)));
}

static inline int32_t x86_fc_row1(const int8_t *x, const int8_t *w0, int32_t n_in,
                                  int32_t xcorr) {
  __m256i a0 = _mm256_setzero_si256();
  int32_t i = 0, t0 = 0;
  for (; i + X86_FC_STEP <= n_in; i += X86_FC_STEP)
    a0 = X86_FC_MAC(a0, x86_fc_x(x + i), x86_fc_w(w0 + i));
  for (; i < n_in; ++i) t0 += x[i] * w0[i];
  return as_i32((uint32_t)_mm_cvtsi128_si32(x86_hsum4(a0, a0, a0, a0)) + (uint32_t)t0 -
                (uint32_t)xcorr);
}

static int x86_fc(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out) {
  const int32_t n_in = p->in_features, n_out = p->out_features;
  const __m256i lo = _mm256_set1_epi32(p->act_min - p->out_zp);
  const __m256i hi = _mm256_set1_epi32(p->act_max - p->out_zp);
  const __m256i zp = _mm256_set1_epi32(p->out_zp);
  x86_blk kt[X86_KT];
  int32_t b, j;
  if (n_in <= 0 || n_out <= 0) return 0;
  for (j = 0; j < X86_KT && 16 * j < n_out; ++j)
    x86_blk_make(&kt[j], bias, mult, shift, 16 * j, min_i32(16, n_out - 16 * j));
  for (b = 0; b < p->batch; ++b) {
    const int8_t *x = in + b * n_in;
    int8_t *y = out + b * n_out;
    int32_t o0, xcorr = 0;
#if X86_VNNI
    {
      __m256i sx = _mm256_setzero_si256();
      int32_t i;
      for (i = 0; i + X86_FC_STEP <= n_in; i += X86_FC_STEP)
        sx = X86_DPBUSD(sx, _mm256_set1_epi8(1), x86_fc_x(x + i));
      xcorr = wshl(_mm_cvtsi128_si32(x86_hsum4(sx, sx, sx, sx)), 7);
    }
#endif
    for (o0 = 0; o0 < n_out; o0 += 16) {
      const int32_t n = min_i32(16, n_out - o0);
      int32_t acc[16];
      __m256i a0, a1;
      x86_blk kb;
      const x86_blk *k = o0 / 16 < X86_KT ? &kt[o0 / 16] : &kb;
      int32_t r = 0;
      for (; r + 4 <= n; r += 4)
        _mm_storeu_si128((__m128i *)(void *)(acc + r),
                         x86_fc_rows4(x, w + (o0 + r) * n_in, n_in, xcorr));
      for (; r < n; ++r) acc[r] = x86_fc_row1(x, w + (o0 + r) * n_in, n_in, xcorr);
      if (o0 / 16 >= X86_KT) x86_blk_make(&kb, bias, mult, shift, o0, n);
      x86_load16_i32(acc, n, &a0, &a1);
      x86_out16(y + o0, _mm256_add_epi32(a0, k->bias[0]), _mm256_add_epi32(a1, k->bias[1]), k,
                lo, hi, zp, n);
    }
  }
  return 1;
}

/* ---- add: contiguous rows, 8 elements at a time ---- */

typedef struct {
  x86_rq qa, qb, qo;
  __m256i azp, bzp, lo, hi, zp;
  __m128i ls;
#if X86_AVX512
  x86_rq16 qa16, qb16, qo16;
#endif
} x86_add_k;

static void x86_add_row(const edgeir_add_s8_params *p, const x86_add_k *k, const int8_t *a,
                        const int8_t *b, int8_t *out, int32_t n) {
  const int32_t lo = p->act_min - p->out_zp, hi = p->act_max - p->out_zp;
  int32_t i = 0;
#if X86_AVX512
  for (; i + 16 <= n; i += 16) {
    const __m512i xa =
        _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(a + i)));
    const __m512i xb =
        _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b + i)));
    const __m512i va = _mm512_sll_epi32(_mm512_sub_epi32(xa, _mm512_broadcast_i64x4(k->azp)),
                                        k->ls);
    const __m512i vb = _mm512_sll_epi32(_mm512_sub_epi32(xb, _mm512_broadcast_i64x4(k->bzp)),
                                        k->ls);
    const __m512i sum = _mm512_add_epi32(x86_mbqm16(va, &k->qa16), x86_mbqm16(vb, &k->qb16));
    const __m512i r = _mm512_add_epi32(
        _mm512_min_epi32(_mm512_max_epi32(x86_mbqm16(sum, &k->qo16),
                                          _mm512_broadcast_i64x4(k->lo)),
                         _mm512_broadcast_i64x4(k->hi)),
        _mm512_broadcast_i64x4(k->zp));
    _mm_storeu_si128((__m128i *)(void *)(out + i), _mm512_cvtepi32_epi8(r));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    const __m256i xa =
        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(a + i)));
    const __m256i xb =
        _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(b + i)));
    const __m256i va = _mm256_sll_epi32(_mm256_sub_epi32(xa, k->azp), k->ls);
    const __m256i vb = _mm256_sll_epi32(_mm256_sub_epi32(xb, k->bzp), k->ls);
    const __m256i s = _mm256_add_epi32(x86_mbqm(va, &k->qa), x86_mbqm(vb, &k->qb));
    const __m256i r = x86_clamp_zp(x86_mbqm(s, &k->qo), k->lo, k->hi, k->zp);
    _mm_storel_epi64((__m128i *)(void *)(out + i), x86_pack8(r));
  }
  for (; i < n; ++i) { /* as add_one */
    const int32_t sa =
        edgeir_mbqm_small(wshl(a[i] - p->a_zp, p->left_shift), p->a_mult, p->a_shift);
    const int32_t sb =
        edgeir_mbqm_small(wshl(b[i] - p->b_zp, p->left_shift), p->b_mult, p->b_shift);
    const int32_t r = edgeir_mbqm_small(wadd(sa, sb), p->out_mult, p->out_shift);
    out[i] = (int8_t)(edgeir_clamp_i32(r, lo, hi) + p->out_zp);
  }
}

static int x86_add(const edgeir_add_s8_params *p, const int8_t *a, const int8_t *b,
                   int8_t *out) {
  const edgeir_bcast4 *bc = &p->bc;
  const int32_t n3 = bc->shape[3];
  x86_add_k k;
  int32_t i0, i1, i2, dense = 1, stride = 1, d;
  /* contiguous innermost rows only; shifts <= 0 (mbqm_small), left shift in [0, 31] */
  if (bc->a_stride[3] != 1 || bc->b_stride[3] != 1 || n3 < 8 || p->a_shift > 0 ||
      p->b_shift > 0 || p->out_shift > 0 || p->left_shift < 0 || p->left_shift > 31)
    return 0;
  k.qa = x86_rq_make(_mm256_set1_epi32(p->a_mult), _mm256_set1_epi32(p->a_shift));
  k.qb = x86_rq_make(_mm256_set1_epi32(p->b_mult), _mm256_set1_epi32(p->b_shift));
  k.qo = x86_rq_make(_mm256_set1_epi32(p->out_mult), _mm256_set1_epi32(p->out_shift));
  k.azp = _mm256_set1_epi32(p->a_zp);
  k.bzp = _mm256_set1_epi32(p->b_zp);
  k.lo = _mm256_set1_epi32(p->act_min - p->out_zp);
  k.hi = _mm256_set1_epi32(p->act_max - p->out_zp);
  k.zp = _mm256_set1_epi32(p->out_zp);
  k.ls = _mm_cvtsi32_si128(p->left_shift);
#if X86_AVX512
  k.qa16 = x86_rq16_make(&k.qa, &k.qa);
  k.qb16 = x86_rq16_make(&k.qb, &k.qb);
  k.qo16 = x86_rq16_make(&k.qo, &k.qo);
#endif
  for (d = 3; d >= 0; --d) { /* a and b both dense: one row */
    if (bc->shape[d] != 1 && (bc->a_stride[d] != stride || bc->b_stride[d] != stride)) dense = 0;
    stride *= bc->shape[d];
  }
  if (dense) {
    x86_add_row(p, &k, a, b, out, stride);
    return 1;
  }
  for (i0 = 0; i0 < bc->shape[0]; ++i0)
    for (i1 = 0; i1 < bc->shape[1]; ++i1)
      for (i2 = 0; i2 < bc->shape[2]; ++i2) {
        const int8_t *pa =
            a + i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2];
        const int8_t *pb =
            b + i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2];
        x86_add_row(p, &k, pa, pb, out, n3);
        out += n3;
      }
  return 1;
}

#endif /* __AVX2__ && __GNUC__ */

/* ---- convolution -------------------------------------------------------------------------- */

#define EDGEIR_OC_BLOCK 16

/* acc[0..n) += x * w[0..n): the inner loop of the HWIO convolution, contiguous over
 * output channels (compilers vectorize it). */
static inline void axpy_s8(int32_t *acc, int32_t x, const int8_t *w, int32_t n) {
  int32_t j;
  for (j = 0; j < n; ++j) acc[j] += x * (int32_t)w[j];
}

void edgeir_conv_s8_hwio(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (x86_conv_hwio(p, in, w, bias, mult, shift, out)) return;
#endif
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, in_c = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, out_c = wn->out_c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t in_row = in_w * in_c, in_img = in_h * in_row;
  const int32_t tap = in_c * out_c; /* weights of one (ky, kx) tap */
  const int32_t in_zp = p->in_zp, out_zp = p->out_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  int32_t b, oy, ox;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      int32_t ky_lo, ky_hi;
      valid_taps(iy0, d_h, k_h, in_h, &ky_lo, &ky_hi);
      for (ox = 0; ox < out_w; ++ox) {
        const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
        int8_t *o = out + ((b * out_h + oy) * out_w + ox) * out_c;
        int32_t kx_lo, kx_hi, oc0;
        valid_taps(ix0, d_w, k_w, in_w, &kx_lo, &kx_hi);
        for (oc0 = 0; oc0 < out_c; oc0 += EDGEIR_OC_BLOCK) {
          const int32_t n = out_c - oc0 < EDGEIR_OC_BLOCK ? out_c - oc0 : EDGEIR_OC_BLOCK;
          int32_t acc[EDGEIR_OC_BLOCK];
          int32_t j, ky, kx, ci;
          for (j = 0; j < EDGEIR_OC_BLOCK; ++j) acc[j] = (bias && j < n) ? bias[oc0 + j] : 0;
          for (ky = 0; ky < k_h; ++ky) {
            const int row_ok = ky >= ky_lo && ky < ky_hi;
            const int8_t *xr = in_b + (iy0 + ky * d_h) * in_row;
            for (kx = 0; kx < k_w; ++kx) {
              const int8_t *wt = w + (ky * k_w + kx) * tap + oc0;
              if (row_ok && kx >= kx_lo && kx < kx_hi) {
                const int8_t *xp = xr + (ix0 + kx * d_w) * in_c;
                if (n == EDGEIR_OC_BLOCK) {
                  for (ci = 0; ci < in_c; ++ci)
                    axpy_s8(acc, xp[ci], wt + ci * out_c, EDGEIR_OC_BLOCK);
                } else {
                  for (ci = 0; ci < in_c; ++ci) axpy_s8(acc, xp[ci], wt + ci * out_c, n);
                }
              } else { /* padding taps read in_zp (the bias holds -in_zp * sum(w)) */
                for (ci = 0; ci < in_c; ++ci) axpy_s8(acc, in_zp, wt + ci * out_c, n);
              }
            }
          }
          for (j = 0; j < n; ++j)
            o[oc0 + j] = requant_s8(acc[j], mult[oc0 + j], shift[oc0 + j], out_zp, lo, hi);
        }
      }
    }
  }
}

void edgeir_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                    int8_t *out) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, in_c = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, out_c = wn->out_c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w;
  const int32_t s_h = wn->stride_h, s_w = wn->stride_w;
  const int32_t pad_t = wn->pad_top, pad_l = wn->pad_left;
  const int32_t groups = p->groups > 0 ? p->groups : 1;
  const int32_t cin_g = in_c / groups, cout_g = out_c / groups; /* setup only */
  const int32_t w_row = k_w * cin_g;      /* weights of one kernel row */
  const int32_t w_oc = k_h * w_row;       /* weights of one output channel */
  const int32_t in_row = in_w * in_c;     /* elements of one input row */
  const int32_t in_img = in_h * in_row;
  const int32_t tap_dy = wn->dil_h * in_row; /* input step between kernel rows */
  const int32_t tap_dx = wn->dil_w * in_c;   /* input step between kernel columns */
  const int32_t ext_h = (k_h - 1) * wn->dil_h, ext_w = (k_w - 1) * wn->dil_w;
  const int32_t in_zp = p->in_zp, out_zp = p->out_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  /* groups == 1 and dil_w == 1: each kernel row is one contiguous run of k_w * in_c values in
   * the input and in the weights, so the whole row is a single dot product. */
  const int row_runs = groups == 1 && wn->dil_w == 1;
  int32_t ox_lo = 0, ox_hi, b, oy, ox, g;

  /* output columns whose windows lie inside the input: [ox_lo, ox_hi) */
  while (ox_lo < out_w && ox_lo * s_w - pad_l < 0) ++ox_lo;
  ox_hi = ox_lo;
  while (ox_hi < out_w && ox_hi * s_w - pad_l + ext_w < in_w) ++ox_hi;

  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * s_h - pad_t;
      const int row_inside = iy0 >= 0 && iy0 + ext_h < in_h;
      int8_t *o = out + (b * out_h + oy) * out_w * out_c;
      for (ox = 0; ox < out_w; ++ox, o += out_c) {
        const int32_t ix0 = ox * s_w - pad_l;
        if (row_inside && ox >= ox_lo && ox < ox_hi) {
          /* interior: every tap in bounds, no checks */
          const int8_t *x0 = in_b + iy0 * in_row + ix0 * in_c;
          for (g = 0; g < groups; ++g) {
            const int8_t *xg = x0 + g * cin_g;
            const int32_t oc_end = (g + 1) * cout_g;
            int32_t oc = g * cout_g;
            for (; oc + 2 <= oc_end; oc += 2) {
              const int8_t *w0 = w + oc * w_oc;
              const int8_t *w1 = w0 + w_oc;
              int32_t a0 = 0, a1 = 0, ky, kx;
              for (ky = 0; ky < k_h; ++ky) {
                const int8_t *xr = xg + ky * tap_dy;
                const int32_t wr = ky * w_row;
                if (row_runs) {
                  dot2_s8(xr, w0 + wr, w1 + wr, w_row, &a0, &a1);
                } else {
                  for (kx = 0; kx < k_w; ++kx)
                    dot2_s8(xr + kx * tap_dx, w0 + wr + kx * cin_g, w1 + wr + kx * cin_g,
                            cin_g, &a0, &a1);
                }
              }
              if (bias) {
                a0 = wadd(a0, bias[oc]);
                a1 = wadd(a1, bias[oc + 1]);
              }
              o[oc] = requant_s8(a0, mult[oc], shift[oc], out_zp, lo, hi);
              o[oc + 1] = requant_s8(a1, mult[oc + 1], shift[oc + 1], out_zp, lo, hi);
            }
            for (; oc < oc_end; ++oc) {
              const int8_t *w0 = w + oc * w_oc;
              int32_t a0 = 0, ky, kx;
              for (ky = 0; ky < k_h; ++ky) {
                const int8_t *xr = xg + ky * tap_dy;
                const int8_t *wr = w0 + ky * w_row;
                if (row_runs) {
                  a0 += dot_s8(xr, wr, w_row);
                } else {
                  for (kx = 0; kx < k_w; ++kx)
                    a0 += dot_s8(xr + kx * tap_dx, wr + kx * cin_g, cin_g);
                }
              }
              if (bias) a0 = wadd(a0, bias[oc]);
              o[oc] = requant_s8(a0, mult[oc], shift[oc], out_zp, lo, hi);
            }
          }
        } else {
          /* border: out-of-bounds taps read in_zp, i.e. add in_zp * (their weights' sum) */
          int32_t ky_lo, ky_hi, kx_lo, kx_hi;
          valid_taps(iy0, wn->dil_h, k_h, in_h, &ky_lo, &ky_hi);
          valid_taps(ix0, wn->dil_w, k_w, in_w, &kx_lo, &kx_hi);
          for (g = 0; g < groups; ++g) {
            const int32_t oc_end = (g + 1) * cout_g;
            const int8_t *xg = in_b + g * cin_g;
            int32_t oc;
            for (oc = g * cout_g; oc < oc_end; ++oc) {
              const int8_t *w0 = w + oc * w_oc;
              int32_t acc = 0, pad_w = 0, ky, kx;
              for (ky = 0; ky < k_h; ++ky) {
                const int8_t *wr = w0 + ky * w_row;
                const int8_t *xr;
                if (ky < ky_lo || ky >= ky_hi) {
                  pad_w += sum_s8(wr, w_row);
                  continue;
                }
                xr = xg + (iy0 + ky * wn->dil_h) * in_row;
                for (kx = 0; kx < k_w; ++kx) {
                  const int8_t *wt = wr + kx * cin_g;
                  if (kx < kx_lo || kx >= kx_hi)
                    pad_w += sum_s8(wt, cin_g);
                  else
                    acc += dot_s8(xr + (ix0 + kx * wn->dil_w) * in_c, wt, cin_g);
                }
              }
              acc += in_zp * pad_w;
              if (bias) acc = wadd(acc, bias[oc]);
              o[oc] = requant_s8(acc, mult[oc], shift[oc], out_zp, lo, hi);
            }
          }
        }
      }
    }
  }
}

/* ---- depthwise convolution ---------------------------------------------------------------- */

void edgeir_depthwise_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in,
                              const int8_t *w, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (x86_depthwise(p, in, w, bias, mult, shift, out)) return;
#endif
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, in_c = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, out_c = wn->out_c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w;
  const int32_t d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t depth_mult = in_c > 0 ? out_c / in_c : 1; /* setup only */
  const int32_t in_row = in_w * in_c, in_img = in_h * in_row;
  const int32_t in_zp = p->in_zp, out_zp = p->out_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  int32_t acc[EDGEIR_S8_CHUNK];
  int32_t b, oy, ox;

  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      int32_t ky_lo, ky_hi;
      int8_t *o = out + (b * out_h + oy) * out_w * out_c;
      valid_taps(iy0, d_h, k_h, in_h, &ky_lo, &ky_hi);
      for (ox = 0; ox < out_w; ++ox, o += out_c) {
        const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
        int32_t kx_lo, kx_hi, oc0;
        int32_t ic_start = 0, j_start = 0; /* input channel / multiplier index of oc0 */
        valid_taps(ix0, d_w, k_w, in_w, &kx_lo, &kx_hi);
        for (oc0 = 0; oc0 < out_c; oc0 += EDGEIR_S8_CHUNK) {
          const int32_t n = min_i32(EDGEIR_S8_CHUNK, out_c - oc0);
          int32_t k, ky, kx, ic_next = ic_start, j_next = j_start;
          for (k = 0; k < n; ++k) acc[k] = 0;
          for (ky = 0; ky < k_h; ++ky) {
            const int row_ok = ky >= ky_lo && ky < ky_hi;
            for (kx = 0; kx < k_w; ++kx) {
              const int8_t *wt = w + (ky * k_w + kx) * out_c + oc0;
              if (!row_ok || kx < kx_lo || kx >= kx_hi) {
                /* padding tap: reads in_zp */
                for (k = 0; k < n; ++k) acc[k] += in_zp * wt[k];
              } else {
                const int8_t *x = in_b + (iy0 + ky * d_h) * in_row + (ix0 + kx * d_w) * in_c;
                if (depth_mult == 1) {
                  const int8_t *xc = x + oc0;
                  for (k = 0; k < n; ++k) acc[k] += xc[k] * wt[k];
                } else {
                  int32_t ic = ic_start, j = j_start;
                  for (k = 0; k < n; ++k) {
                    acc[k] += x[ic] * wt[k];
                    if (++j == depth_mult) {
                      j = 0;
                      ++ic;
                    }
                  }
                }
              }
            }
          }
          /* advance the (input channel, multiplier index) of the next chunk's start */
          for (k = 0; k < n; ++k) {
            if (++j_next == depth_mult) {
              j_next = 0;
              ++ic_next;
            }
          }
          ic_start = ic_next;
          j_start = j_next;
          for (k = 0; k < n; ++k) {
            const int32_t oc = oc0 + k;
            const int32_t a = bias ? wadd(acc[k], bias[oc]) : acc[k];
            o[oc] = requant_s8(a, mult[oc], shift[oc], out_zp, lo, hi);
          }
        }
      }
    }
  }
}

/* ---- fully connected ---------------------------------------------------------------------- */

void edgeir_fc_s8(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                  int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (x86_fc(p, in, w, bias, mult, shift, out)) return;
#endif
  const int32_t n_in = p->in_features, n_out = p->out_features;
  const int32_t out_zp = p->out_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  int32_t b;
  for (b = 0; b < p->batch; ++b) {
    const int8_t *x = in + b * n_in;
    int8_t *y = out + b * n_out;
    int32_t o = 0;
    for (; o + 2 <= n_out; o += 2) {
      int32_t a0 = 0, a1 = 0;
      dot2_s8(x, w + o * n_in, w + (o + 1) * n_in, n_in, &a0, &a1);
      if (bias) {
        a0 = wadd(a0, bias[o]);
        a1 = wadd(a1, bias[o + 1]);
      }
      y[o] = requant_s8(a0, mult[o], shift[o], out_zp, lo, hi);
      y[o + 1] = requant_s8(a1, mult[o + 1], shift[o + 1], out_zp, lo, hi);
    }
    for (; o < n_out; ++o) {
      int32_t a0 = dot_s8(x, w + o * n_in, n_in);
      if (bias) a0 = wadd(a0, bias[o]);
      y[o] = requant_s8(a0, mult[o], shift[o], out_zp, lo, hi);
    }
  }
}

/* ---- broadcasting add / mul --------------------------------------------------------------- */

static inline int8_t add_one(const edgeir_add_s8_params *p, int32_t a, int32_t b, int32_t lo,
                             int32_t hi) {
  const int32_t sa = edgeir_mbqm_small(wshl(a - p->a_zp, p->left_shift), p->a_mult, p->a_shift);
  const int32_t sb = edgeir_mbqm_small(wshl(b - p->b_zp, p->left_shift), p->b_mult, p->b_shift);
  const int32_t r = edgeir_mbqm_small(wadd(sa, sb), p->out_mult, p->out_shift);
  return (int8_t)(edgeir_clamp_i32(r, lo, hi) + p->out_zp);
}

void edgeir_add_s8(const edgeir_add_s8_params *p, const int8_t *a, const int8_t *b,
                   int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (x86_add(p, a, b, out)) return;
#endif
  const edgeir_bcast4 *bc = &p->bc;
  const int32_t lo = p->act_min - p->out_zp, hi = p->act_max - p->out_zp;
  const int32_t n3 = bc->shape[3], as3 = bc->a_stride[3], bs3 = bc->b_stride[3];
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < bc->shape[0]; ++i0)
    for (i1 = 0; i1 < bc->shape[1]; ++i1)
      for (i2 = 0; i2 < bc->shape[2]; ++i2) {
        const int8_t *pa = a + i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2];
        const int8_t *pb = b + i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2];
        if (as3 == 1 && bs3 == 1) {
          for (i3 = 0; i3 < n3; ++i3) out[i3] = add_one(p, pa[i3], pb[i3], lo, hi);
        } else {
          for (i3 = 0; i3 < n3; ++i3) out[i3] = add_one(p, pa[i3 * as3], pb[i3 * bs3], lo, hi);
        }
        out += n3;
      }
}

void edgeir_mul_s8(const edgeir_mul_s8_params *p, const int8_t *a, const int8_t *b,
                   int8_t *out) {
  const edgeir_bcast4 *bc = &p->bc;
  const int32_t a_zp = p->a_zp, b_zp = p->b_zp, out_zp = p->out_zp;
  const int32_t mult = p->mult, shift = p->shift;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  const int32_t n3 = bc->shape[3], as3 = bc->a_stride[3], bs3 = bc->b_stride[3];
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < bc->shape[0]; ++i0)
    for (i1 = 0; i1 < bc->shape[1]; ++i1)
      for (i2 = 0; i2 < bc->shape[2]; ++i2) {
        const int8_t *pa = a + i0 * bc->a_stride[0] + i1 * bc->a_stride[1] + i2 * bc->a_stride[2];
        const int8_t *pb = b + i0 * bc->b_stride[0] + i1 * bc->b_stride[1] + i2 * bc->b_stride[2];
        for (i3 = 0; i3 < n3; ++i3) {
          const int32_t prod = (pa[i3 * as3] - a_zp) * (pb[i3 * bs3] - b_zp);
          out[i3] = requant_s8(prod, mult, shift, out_zp, lo, hi);
        }
        out += n3;
      }
}

/* ---- pooling and mean --------------------------------------------------------------------- */

void edgeir_avg_pool_s8(const edgeir_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t d_h = wn->dil_h > 0 ? wn->dil_h : 1, d_w = wn->dil_w > 0 ? wn->dil_w : 1;
  const int32_t in_row = in_w * c_n, in_img = in_h * in_row;
  int32_t acc[EDGEIR_S8_CHUNK];
  int32_t b, oy, ox;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    for (oy = 0; oy < wn->out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      int32_t ky_lo, ky_hi;
      valid_taps(iy0, d_h, wn->k_h, in_h, &ky_lo, &ky_hi);
      for (ox = 0; ox < wn->out_w; ++ox) {
        const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
        int8_t *o = out + ((b * wn->out_h + oy) * wn->out_w + ox) * c_n;
        int32_t kx_lo, kx_hi, count, c0;
        valid_taps(ix0, d_w, wn->k_w, in_w, &kx_lo, &kx_hi);
        count = (ky_hi - ky_lo) * (kx_hi - kx_lo);
        for (c0 = 0; c0 < c_n; c0 += EDGEIR_S8_CHUNK) {
          const int32_t n = min_i32(EDGEIR_S8_CHUNK, c_n - c0);
          int32_t k, ky, kx;
          for (k = 0; k < n; ++k) acc[k] = 0;
          for (ky = ky_lo; ky < ky_hi; ++ky) {
            const int8_t *xr = in_b + (iy0 + ky * d_h) * in_row + c0;
            for (kx = kx_lo; kx < kx_hi; ++kx) {
              const int8_t *x = xr + (ix0 + kx * d_w) * c_n;
              for (k = 0; k < n; ++k) acc[k] += x[k];
            }
          }
          for (k = 0; k < n; ++k) {
            /* an all-padding window (count 0) gives 0, as the golden model */
            const int32_t avg = count > 0 ? div_round_half_away(acc[k], count) : 0;
            o[c0 + k] = (int8_t)edgeir_clamp_i32(avg, p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

void edgeir_max_pool_s8(const edgeir_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t d_h = wn->dil_h > 0 ? wn->dil_h : 1, d_w = wn->dil_w > 0 ? wn->dil_w : 1;
  const int32_t in_row = in_w * c_n, in_img = in_h * in_row;
  const int8_t act_min = (int8_t)max_i32(p->act_min, -128);
  const int8_t act_max = (int8_t)min_i32(p->act_max, 127);
  int32_t b, oy, ox, c;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + b * in_img;
    for (oy = 0; oy < wn->out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      int32_t ky_lo, ky_hi;
      valid_taps(iy0, d_h, wn->k_h, in_h, &ky_lo, &ky_hi);
      for (ox = 0; ox < wn->out_w; ++ox) {
        const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
        int8_t *o = out + ((b * wn->out_h + oy) * wn->out_w + ox) * c_n;
        int32_t kx_lo, kx_hi, ky, kx;
        valid_taps(ix0, d_w, wn->k_w, in_w, &kx_lo, &kx_hi);
        /* the running max lives in the output row; starting at act_min folds the lower
         * clamp in (an all-padding window gives act_min, as the golden model) */
        for (c = 0; c < c_n; ++c) o[c] = act_min;
        for (ky = ky_lo; ky < ky_hi; ++ky) {
          const int8_t *xr = in_b + (iy0 + ky * d_h) * in_row;
          for (kx = kx_lo; kx < kx_hi; ++kx) {
            const int8_t *x = xr + (ix0 + kx * d_w) * c_n;
            for (c = 0; c < c_n; ++c) o[c] = x[c] > o[c] ? x[c] : o[c];
          }
        }
        for (c = 0; c < c_n; ++c) o[c] = o[c] < act_max ? o[c] : act_max;
      }
    }
  }
}

void edgeir_mean_s8(const edgeir_mean_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t hw = p->h * p->w, c_n = p->c;
  const int32_t out_zp = p->out_zp;
  const int32_t lo = -128 - out_zp, hi = 127 - out_zp;
  /* sum(x - in_zp) == sum(x) - in_zp * hw modulo 2^32 (the golden model wraps the sum to
   * int32 as well), so the zero point is taken out once per channel */
  const uint32_t zp_total = (uint32_t)p->in_zp * (uint32_t)hw;
  int32_t acc[EDGEIR_S8_CHUNK];
  int32_t b, c0, i, k;
  for (b = 0; b < p->batch; ++b) {
    const int8_t *in_b = in + b * hw * c_n;
    int8_t *o = out + b * c_n;
    for (c0 = 0; c0 < c_n; c0 += EDGEIR_S8_CHUNK) {
      const int32_t n = min_i32(EDGEIR_S8_CHUNK, c_n - c0);
      for (k = 0; k < n; ++k) acc[k] = 0;
      for (i = 0; i < hw; ++i) {
        const int8_t *x = in_b + i * c_n + c0;
        for (k = 0; k < n; ++k) acc[k] += x[k];
      }
      for (k = 0; k < n; ++k) {
        const int32_t sum = as_i32((uint32_t)acc[k] - zp_total);
        int32_t r = edgeir_mbqm(sum, p->mult, p->shift);
        r = hw > 0 ? div_round_half_away(r, hw) : r;
        o[c0 + k] = (int8_t)(edgeir_clamp_i32(r, lo, hi) + out_zp);
      }
    }
  }
}

/* ---- gemmlowp fixed point ----------------------------------------------------------------- */

/* SaturatingRoundingMultiplyByPOT (exponent in [-31, 31]). */
static inline int32_t fp_srmbp(int32_t x, int exponent) {
  if (exponent > 0) {
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return wshl(x, exponent);
  }
  if (exponent < 0) return edgeir_rdbpot(x, -exponent);
  return x;
}

/* exp(a) for a Q0.31 value a in [-1/4, 0). */
static int32_t fp_exp_quarter(int32_t a) {
  const int32_t constant_term = 1895147668; /* exp(-1/8) */
  const int32_t one_third = 715827883;
  const int32_t x = wadd(a, 1 << 28); /* a + 1/8 */
  const int32_t x2 = edgeir_srdhm(x, x);
  const int32_t x3 = edgeir_srdhm(x2, x);
  const int32_t x4 = edgeir_srdhm(x2, x2);
  const int32_t x4_over_4 = edgeir_rdbpot(x4, 2);
  const int32_t poly =
      edgeir_rdbpot(wadd(edgeir_srdhm(wadd(x4_over_4, x3), one_third), x2), 1);
  return wadd(constant_term, edgeir_srdhm(constant_term, wadd(x, poly)));
}

/* exp(a) for a non-positive fixed-point a with `integer_bits` integer bits (1..30); Q0.31. */
static int32_t fp_exp_neg(int32_t a, int integer_bits) {
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                    39332535,   720401,     242};
  const int frac_bits = 31 - integer_bits;
  const int32_t quarter = (int32_t)(1u << (frac_bits - 2));
  const int32_t a_mod_q_minus_q = (a & (quarter - 1)) - quarter;
  int32_t result = fp_exp_quarter(fp_srmbp(a_mod_q_minus_q, integer_bits));
  const uint32_t remainder = (uint32_t)wsub(a_mod_q_minus_q, a);
  int e;
  for (e = -2; e <= 4; ++e) {
    if (integer_bits > e && (remainder & (1u << (frac_bits + e))) != 0u)
      result = edgeir_srdhm(result, barrel[e + 2]);
  }
  if (integer_bits > 5) {
    const int32_t clamp = -(int32_t)(1u << (36 - integer_bits)); /* -32.0 */
    if (a < clamp) result = 0;
  }
  return a == 0 ? INT32_MAX : result;
}

/* Newton-Raphson 1 / (2 * half_denominator) in Q2.29 (gemmlowp). */
static int32_t fp_newton_reciprocal(int32_t half_den) {
  const int32_t c48_17 = 1515870810;   /* 48/17 in Q2.29 */
  const int32_t cm32_17 = -1010580540; /* -32/17 in Q2.29 */
  const int32_t one_f2 = 1 << 29;
  int32_t x = wadd(c48_17, edgeir_srdhm(half_den, cm32_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t hdx = edgeir_srdhm(half_den, x);
    const int32_t one_minus = wsub(one_f2, hdx);
    x = wadd(x, fp_srmbp(edgeir_srdhm(x, one_minus), 2));
  }
  return x;
}

/* RoundingHalfSum(a, INT32_MAX): (a + b + sign) / 2, truncating, in 64 bits. */
static inline int32_t fp_half_sum_max(int32_t a) {
  const int64_t s = (int64_t)a + INT32_MAX;
  const int64_t t = s + (s >= 0 ? 1 : -1);
  return (int32_t)(t >= 0 ? t >> 1 : -((-t) >> 1));
}

/* 1 / (1 + a), Q0.31 in and out, a in [0, 1). */
static int32_t fp_one_over_one_plus_x(int32_t a) {
  return fp_srmbp(fp_newton_reciprocal(fp_half_sum_max(a)), 1);
}

/* (1 - a) / (1 + a), Q0.31 in and out, a in [0, 1). */
static int32_t fp_one_minus_x_over_one_plus_x(int32_t a) {
  return fp_srmbp(wsub(fp_newton_reciprocal(fp_half_sum_max(a)), 1 << 29), 2);
}

static int32_t fp_logistic(int32_t a, int integer_bits) {
  int32_t abs_a, r_pos;
  if (a == 0) return 1 << 30;
  abs_a = a > 0 ? a : wneg(a);
  r_pos = fp_one_over_one_plus_x(fp_exp_neg(wneg(abs_a), integer_bits));
  return a > 0 ? r_pos : wsub(INT32_MAX, r_pos);
}

static int32_t fp_tanh(int32_t a, int integer_bits) {
  int32_t t;
  if (a == 0) return 0;
  t = fp_one_minus_x_over_one_plus_x(fp_exp_neg(a < 0 ? a : wneg(a), integer_bits + 1));
  return a < 0 ? wneg(t) : t;
}

/* count leading zeros of a uint32 (32 for 0) */
static inline int clz32(uint32_t x) {
#if defined(__GNUC__)
  return x ? __builtin_clz(x) : 32;
#else
  int n = 0;
  if (x == 0u) return 32;
  if (!(x & 0xFFFF0000u)) { n += 16; x <<= 16; }
  if (!(x & 0xFF000000u)) { n += 8; x <<= 8; }
  if (!(x & 0xF0000000u)) { n += 4; x <<= 4; }
  if (!(x & 0xC0000000u)) { n += 2; x <<= 2; }
  if (!(x & 0x80000000u)) { n += 1; }
  return n;
#endif
}

/* ---- softmax ------------------------------------------------------------------------------ */

#define SOFTMAX_DIFF_INT_BITS 5   /* kScaledDiffIntegerBits */
#define SOFTMAX_ACCUM_INT_BITS 12 /* kAccumulationIntegerBits */

void edgeir_softmax_s8(const edgeir_softmax_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->depth, mult = p->input_mult, diff_min = p->diff_min;
  const int left_shift = (int)p->input_left_shift;
  int32_t r, c;
  for (r = 0; r < p->rows; ++r) {
    const int8_t *x = in + r * depth;
    int8_t *y = out + r * depth;
    int32_t max_v = -128, recip, exponent;
    uint32_t sum = 0u, shifted;
    int hp1;
    for (c = 0; c < depth; ++c) max_v = x[c] > max_v ? x[c] : max_v;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max_v;
      if (diff >= diff_min) {
        const int32_t scaled = edgeir_srdhm(wshl(diff, left_shift), mult); /* Q5.26 */
        const int32_t e = fp_exp_neg(scaled, SOFTMAX_DIFF_INT_BITS);
        sum += (uint32_t)edgeir_rdbpot(e, SOFTMAX_ACCUM_INT_BITS); /* Q12.19, int32 wrap */
      }
    }
    /* GetReciprocal(sum, 12): normalize by the leading zeros (uint32 arithmetic) */
    hp1 = clz32(sum);
    shifted = (hp1 < 32 ? sum << hp1 : 0u) - 0x80000000u;
    recip = fp_one_over_one_plus_x(as_i32(shifted));
    exponent = (SOFTMAX_ACCUM_INT_BITS - hp1) + (31 - 8);
    /* TFLM CHECKs (gemmlowp asserts) 0 <= exponent <= 31 here. exponent >= 3 always
     * (hp1 <= 32); it exceeds 31 once the Q12.19 sum reaches 512 (rows of >= 512 values
     * near the maximum), where TFLM's RoundingDivideByPOT is undefined and the golden model
     * raises. We return what an exact rounding division gives instead: for exponent >= 32
     * the non-negative int32 SRDHM(recip, exp) rounds to 0, i.e. the output -128. */
    for (c = 0; c < depth; ++c) {
      const int32_t diff = x[c] - max_v;
      int32_t v = -128;
      if (diff >= diff_min && exponent <= 31) {
        const int32_t scaled = edgeir_srdhm(wshl(diff, left_shift), mult);
        const int32_t e = fp_exp_neg(scaled, SOFTMAX_DIFF_INT_BITS);
        v = edgeir_rdbpot(edgeir_srdhm(recip, e), (int)exponent) - 128;
        v = edgeir_clamp_i32(v, -128, 127);
      }
      y[c] = (int8_t)v;
    }
  }
}

/* ---- logistic / tanh ---------------------------------------------------------------------- */

#define ACT_INPUT_INT_BITS 4 /* kInputIntegerBits (Q4.27 input) */

static int8_t logistic_one(const edgeir_sigmoid_s8_params *p, int32_t x) {
  const int32_t v = x - p->in_zp;
  int32_t q4, o;
  if (v <= -p->input_range_radius) return -128;
  if (v >= p->input_range_radius) return 127;
  q4 = edgeir_mbqm(v, p->input_mult, p->input_left_shift);
  o = edgeir_rdbpot(fp_logistic(q4, ACT_INPUT_INT_BITS), 23) - 128;
  return (int8_t)edgeir_clamp_i32(o, -128, 127);
}

static int8_t tanh_one(const edgeir_sigmoid_s8_params *p, int32_t x) {
  const int32_t v = x - p->in_zp;
  int32_t q4, o;
  if (v <= -p->input_range_radius) return -128;
  if (v >= p->input_range_radius) return 127;
  q4 = edgeir_mbqm(v, p->input_mult, p->input_left_shift);
  o = edgeir_rdbpot(fp_tanh(q4, ACT_INPUT_INT_BITS), 24);
  return (int8_t)edgeir_clamp_i32(o, -128, 127);
}

void edgeir_logistic_s8(const edgeir_sigmoid_s8_params *p, const int8_t *in, int8_t *out) {
  int32_t i;
  if (p->size > EDGEIR_S8_LUT_MIN) {
    int8_t lut[256];
    for (i = 0; i < 256; ++i) lut[i] = logistic_one(p, i - 128);
    for (i = 0; i < p->size; ++i) out[i] = lut[in[i] + 128];
  } else {
    for (i = 0; i < p->size; ++i) out[i] = logistic_one(p, in[i]);
  }
}

void edgeir_tanh_s8(const edgeir_sigmoid_s8_params *p, const int8_t *in, int8_t *out) {
  int32_t i;
  if (p->size > EDGEIR_S8_LUT_MIN) {
    int8_t lut[256];
    for (i = 0; i < 256; ++i) lut[i] = tanh_one(p, i - 128);
    for (i = 0; i < p->size; ++i) out[i] = lut[in[i] + 128];
  } else {
    for (i = 0; i < p->size; ++i) out[i] = tanh_one(p, in[i]);
  }
}

/* ---- hard swish (int16 fixed point) ------------------------------------------------------- */

/* two's-complement wrap to int16 (the C++ kernel's int16_t stores) */
static inline int32_t wrap16(int32_t v) {
  const int32_t u = (int32_t)((uint32_t)v & 0xFFFFu);
  return u >= 0x8000 ? u - 0x10000 : u;
}

/* x / 2^e truncated toward zero; |x| < 2^31 */
static inline int32_t tdiv_pot(int32_t x, int e) { return x >= 0 ? x >> e : -((-x) >> e); }

/* gemmlowp SaturatingRoundingDoublingHighMul on int16 (ties half up) */
static inline int32_t srdhm16(int32_t a, int32_t b) {
  int32_t ab;
  if (a == -32768 && b == -32768) return 32767;
  ab = a * b;
  return wrap16(tdiv_pot(ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14))), 15));
}

/* gemmlowp RoundingDivideByPOT on int16: the mask (1 << e) - 1 is truncated to int16, as in
 * C++ (relevant for e >= 16 only; e is capped at 31, which changes nothing for int16 x). */
static inline int32_t rdbp16(int32_t x, int e) {
  int32_t mask, remainder, threshold;
  if (e > 31) e = 31;
  mask = wrap16((int32_t)(((uint32_t)1 << e) - 1u));
  remainder = x & mask;
  threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* TFLM SaturatingLeftShift on int16 (amount >= 0) */
static inline int32_t sat_lshift16(int32_t v, int amount) {
  if (v == 0) return 0;
  if (amount >= 16) return v > 0 ? 32767 : -32768;
  return edgeir_clamp_i32(v * (1 << amount), -32768, 32767);
}

static int8_t hard_swish_one(const edgeir_hard_swish_s8_params *p, int32_t x) {
  const int rexp = (int)p->reluish_mult_exponent;
  const int oexp = (int)p->out_mult_exponent;
  const int32_t hires = wrap16(wrap16(x - p->in_zp) * 128);
  const int32_t preshift = srdhm16(hires, p->out_mult_fixedpoint_int16);
  int32_t reluish = hires, prod, o;
  if (rexp > 0) reluish = sat_lshift16(reluish, rexp - 1);
  reluish = srdhm16(reluish, p->reluish_mult_fixedpoint_int16);
  if (rexp > 0) reluish = sat_lshift16(reluish, 1);
  if (rexp < 0) reluish = wrap16(rdbp16(reluish, -rexp));
  reluish = (reluish + (1 << 15)) >> 1; /* [-1, 1] -> [0, 1] */
  /* SaturatingDoublingHighMul (truncating); reluish >= 0, so never -32768 * -32768 */
  prod = wrap16(tdiv_pot(reluish * preshift, 15));
  /* TFLM prepare guarantees oexp <= 0 */
  o = wrap16(rdbp16(prod, oexp < 0 ? -oexp : 0));
  o = wrap16(o + p->out_zp);
  return (int8_t)edgeir_clamp_i32(o, -128, 127);
}

void edgeir_hard_swish_s8(const edgeir_hard_swish_s8_params *p, const int8_t *in,
                          int8_t *out) {
  int32_t i;
  if (p->size > EDGEIR_S8_LUT_MIN) {
    int8_t lut[256];
    for (i = 0; i < 256; ++i) lut[i] = hard_swish_one(p, i - 128);
    for (i = 0; i < p->size; ++i) out[i] = lut[in[i] + 128];
  } else {
    for (i = 0; i < p->size; ++i) out[i] = hard_swish_one(p, in[i]);
  }
}

/* ---- quantize / dequantize / requantize --------------------------------------------------- */

/* q (already rounded) + zero point, saturated to int8. NaN gives the zero point (as an ARM
 * saturating conversion and ONNX's path do); +-inf and huge values saturate. */
static inline int8_t saturate_q(float r, int32_t zp) {
  int32_t v;
  if (isnan(r)) {
    v = zp;
  } else {
    if (r > 1024.0f) r = 1024.0f;
    if (r < -1024.0f) r = -1024.0f;
    v = (int32_t)r + zp;
  }
  return (int8_t)edgeir_clamp_i32(v, -128, 127);
}

#ifdef EDGEIR_S8_X86
/* The quantize loops 8 floats at a time, then saturate_q for the tail. vdivps is the same
 * IEEE division as the scalar one; rintf is vroundps to nearest (even); roundf is
 * trunc(q) + (|q - trunc(q)| >= 1/2 ? sign(q) : 0), exact because q - trunc(q) is exact in
 * float (and NaN for infinite q, which then stays infinite). Then as saturate_q: NaN gives
 * the zero point, the rest is clamped to +-1024, converted (exactly: integral values), offset
 * by the zero point and clamped to int8. */
static void x86_quantize(const edgeir_quantize_params *p, const float *in, int8_t *out,
                         int half_even) {
  const __m256 scale = _mm256_set1_ps(p->scale);
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 lim = _mm256_set1_ps(1024.0f), nlim = _mm256_set1_ps(-1024.0f);
  const __m256i zp = _mm256_set1_epi32(p->zero_point);
  const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
  int32_t i = 0;
  for (; i + 8 <= p->size; i += 8) {
    const __m256 q = _mm256_div_ps(_mm256_loadu_ps(in + i), scale);
    __m256 r, nan;
    __m256i v;
    if (half_even) {
      r = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
      const __m256 t = _mm256_round_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(q, t));
      const __m256 step = _mm256_or_ps(_mm256_and_ps(q, sign), one); /* +-1 */
      r = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), step));
    }
    nan = _mm256_cmp_ps(r, r, _CMP_UNORD_Q);
    r = _mm256_min_ps(_mm256_max_ps(r, nlim), lim);
    v = _mm256_add_epi32(_mm256_cvttps_epi32(r), zp);
    v = _mm256_blendv_epi8(v, zp, _mm256_castps_si256(nan));
    v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
    _mm_storel_epi64((__m128i *)(void *)(out + i),
                     x86_pack8(_mm256_and_si256(v, _mm256_set1_epi32(0xFF))));
  }
  for (; i < p->size; ++i)
    out[i] = saturate_q(half_even ? rintf(in[i] / p->scale) : roundf(in[i] / p->scale),
                        p->zero_point);
}
#endif

/* x / scale is a float32 division (never a multiplication by 1/scale, which rounds
 * differently); roundf = half away from zero (TFLM), rintf = half to even (ONNX). The two
 * roundings are separate functions so that a model links only the one it uses. */
void edgeir_quantize_f32_s8_half_away(const edgeir_quantize_params *p, const float *in,
                                      int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (p->size >= 8) {
    x86_quantize(p, in, out, 0);
    return;
  }
#endif
  const float scale = p->scale;
  const int32_t zp = p->zero_point;
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = saturate_q(roundf(in[i] / scale), zp);
}

void edgeir_quantize_f32_s8_half_even(const edgeir_quantize_params *p, const float *in,
                                      int8_t *out) {
#ifdef EDGEIR_S8_X86
  if (p->size >= 8) {
    x86_quantize(p, in, out, 1);
    return;
  }
#endif
  const float scale = p->scale;
  const int32_t zp = p->zero_point;
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = saturate_q(rintf(in[i] / scale), zp);
}

void edgeir_quantize_f32_s8(const edgeir_quantize_params *p, const float *in, int8_t *out) {
  if (p->round_half_even) {
    edgeir_quantize_f32_s8_half_even(p, in, out);
  } else {
    edgeir_quantize_f32_s8_half_away(p, in, out);
  }
}

void edgeir_dequantize_s8_f32(const edgeir_dequantize_params *p, const int8_t *in,
                              float *out) {
  const float scale = p->scale;
  const int32_t zp = p->zero_point;
  int32_t i;
  /* (float)((double)scale * v) == scale * (float)v in float32: the double product of a
   * 24-bit mantissa and |v| < 2^24 is exact, so both are the correctly rounded float32
   * product. The float form avoids double arithmetic (soft-float on most Cortex-M). */
  for (i = 0; i < p->size; ++i) out[i] = scale * (float)(in[i] - zp);
}

void edgeir_requantize_8(const edgeir_requantize_params *p, const void *in, void *out) {
  const int8_t *in_s = (const int8_t *)in;
  const uint8_t *in_u = (const uint8_t *)in;
  int8_t *out_s = (int8_t *)out;
  uint8_t *out_u = (uint8_t *)out;
  const int32_t in_zp = p->in_zp, out_zp = p->out_zp, mult = p->mult, shift = p->shift;
  const int32_t lo = (p->out_unsigned ? 0 : -128) - out_zp;
  const int32_t hi = (p->out_unsigned ? 255 : 127) - out_zp;
  int32_t i;
  /* element i is read before it is written: in == out is fine */
  for (i = 0; i < p->size; ++i) {
    const int32_t x = p->in_unsigned ? (int32_t)in_u[i] : (int32_t)in_s[i];
    const int32_t r = edgeir_clamp_i32(edgeir_mbqm(x - in_zp, mult, shift), lo, hi) + out_zp;
    if (p->out_unsigned)
      out_u[i] = (uint8_t)r;
    else
      out_s[i] = (int8_t)r;
  }
}
