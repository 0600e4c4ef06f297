/* edgeir int8 kernels for Cortex-M cores with the DSP extension (M4, M7, M33).
 *
 * Bit-exact with the portable kernels of edgeir_s8.c / edgeir_inplace.c (same integer
 * arithmetic, same requantization), faster on those cores:
 *  - dual 16-bit multiply-accumulates (SMLAD: two int16 products added to an int32) on
 *    int8 values sign-extended in pairs (SXTB16 takes bytes 0 and 2 of a word, SXTB16 with
 *    ROR #8 bytes 1 and 3). Inputs and weights go through the same two extractions, so the
 *    pairs match without any reordering: x0w0 + x2w2 and x1w1 + x3w3.
 *  - 2 x 2 output blocking: two output channels of two output pixels per pass, so every
 *    weight word loaded serves two pixels and every input word two channels.
 *  - weights laid out at compile time for that access pattern (lower-c/emit, "DSP layout"):
 *    output channels in pairs (an odd last channel padded with a zero filter), and per pair
 *    the reduction in groups of 4: [oc/2][k4/4][2 channels][4 int8], k4 = k rounded up to a
 *    multiple of 4 with zero weights. The inner loop needs no tail and no bounds checks.
 *  - inputs expanded once per pixel into int16 pairs in the same order (the `scratch`
 *    buffer), amortized over all output channels.
 * On other cores (and on the host, where the tests run them under sanitizers) the same code
 * runs with plain C versions of SMLAD and SXTB16.
 *
 * Inputs stay int8 NHWC; the input zero point is folded into the bias (edgeir_kernels.h), so
 * padding taps and padded reduction slots read in_zp and 0 respectively.
 */
#include <string.h>

#include "edgeir_kernels.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define dsp_smlad(a, b, acc) __smlad((a), (b), (acc))
#define dsp_smladx(a, b, acc) __smladx((a), (b), (acc))
#define dsp_smlabb(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define dsp_smlatb(a, b, acc) __smlatb((int32_t)(a), (int32_t)(b), (acc))
#define dsp_even(x) __sxtb16(x)
static inline uint32_t dsp_odd(uint32_t x) {
  uint32_t r; /* gcc 12 does not fold the rotation of __sxtb16(__ror(x, 8)) */
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
static inline uint32_t dsp_pkhbt(uint32_t lo, uint32_t hi) { /* lo's bottom, hi's top half */
  uint32_t r; /* gcc 12's arm_acle.h has no __pkhbt */
  __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}
#else
static inline uint32_t dsp_sx16(uint32_t byte) { return ((byte ^ 0x80u) - 0x80u) & 0xffffu; }
static inline uint32_t dsp_even(uint32_t x) {
  return dsp_sx16(x & 0xffu) | (dsp_sx16((x >> 16) & 0xffu) << 16);
}
static inline uint32_t dsp_odd(uint32_t x) { return dsp_even(x >> 8); }
static inline int32_t dsp_h(uint32_t v) { /* a halfword as a signed value */
  return (int32_t)(v & 0xffffu) - (int32_t)((v & 0x8000u) << 1);
}
static inline int32_t dsp_wrap(int32_t acc, int32_t s) { /* acc + s, wrapping as SMLAD */
  const uint32_t u = (uint32_t)acc + (uint32_t)s;
  return (u & 0x80000000u) ? -(int32_t)(~u) - 1 : (int32_t)u;
}
static inline uint32_t dsp_pkhbt(uint32_t lo, uint32_t hi) {
  return (lo & 0xffffu) | (hi & 0xffff0000u);
}
static inline int32_t dsp_smlad(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a) * dsp_h(b) + dsp_h(a >> 16) * dsp_h(b >> 16));
}
static inline int32_t dsp_smladx(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a) * dsp_h(b >> 16) + dsp_h(a >> 16) * dsp_h(b));
}
static inline int32_t dsp_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a) * dsp_h(b));
}
static inline int32_t dsp_smlatb(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a >> 16) * dsp_h(b));
}
#endif

static inline uint32_t ld32(const int8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4); /* inlined even with -ffreestanding: one LDR */
  return v;
}

static inline int32_t wadd(int32_t a, int32_t b) { /* a + b, wrapped like the portable kernels */
  const uint32_t u = (uint32_t)a + (uint32_t)b;
  return (u & 0x80000000u) ? -(int32_t)(~u) - 1 : (int32_t)u;
}

/* edgeir_mbqm for multipliers >= 0 (all that quantize_multiplier gives), in fewer
 * instructions: gemmlowp's doubling high multiply with its sign-dependent nudge and
 * truncating division, (ab + nudge) / 2^31, equals floor((ab + 2^30) / 2^31) for both signs
 * of ab (one SMLAL-style multiply-add and a 64-bit shift); the rounding right shift is
 * edgeir_rdbpot's. The saturating case a == b == INT32_MIN needs a negative multiplier.
 * tests/c/dsp_requant.c checks it against edgeir_mbqm. */
static inline int32_t mbqm(int32_t x, int32_t mult, int32_t shift) {
  const int32_t a = shift > 0 ? (int32_t)((uint32_t)x << shift) : x;
  const int32_t right = shift > 0 ? 0 : -shift;
  const int32_t t = (int32_t)(((int64_t)a * mult + (1LL << 30)) >> 31);
  const int32_t mask = (int32_t)((1u << right) - 1u);
  return (t >> right) + ((t & mask) > ((mask >> 1) + (int32_t)((uint32_t)t >> 31)));
}

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp,
                             int32_t lo, int32_t hi) {
  return (int8_t)(edgeir_clamp_i32(mbqm(acc, mult, shift), lo, hi) + out_zp);
}

/* ---- input expansion ---------------------------------------------------------------------- */

/* Expand n int8 values (4-groups) into dst, `stride` words between groups: word 0 holds
 * x[0], x[2] and word `odd` holds x[1], x[3] (odd = 2 in a pixel pair's buffer, whose words
 * go [px0 even, px1 even, px0 odd, px1 odd]; 1 for a single pixel). A partial last group is
 * padded with zeros. */
static void expand(const int8_t *x, int32_t n, uint32_t *dst, int32_t stride, int32_t odd) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4, dst += stride) {
    const uint32_t v = ld32(x + i);
    dst[0] = dsp_even(v);
    dst[odd] = dsp_odd(v);
  }
  if (i < n) {
    int8_t t[4] = {0, 0, 0, 0};
    memcpy(t, x + i, (size_t)(n - i));
    dst[0] = dsp_even(ld32(t));
    dst[odd] = dsp_odd(ld32(t));
  }
}

/* One pixel's window (im2col row, taps in (ky, kx, ci) order, out-of-bounds taps = in_zp),
 * expanded into dst. With in_c % 4 == 0 every tap is whole 4-groups and expands directly;
 * otherwise the row is gathered in `stage` (k4 bytes) first. */
static void expand_window(const edgeir_conv_s8_params *p, const int8_t *in, int32_t b,
                          int32_t oy, int32_t ox, uint32_t *dst, int32_t stride, int32_t odd,
                          int8_t *stage) {
  /* the window's fields in locals: the int8 stores below may alias *p for the compiler */
  const edgeir_window *wn = &p->win;
  const int32_t c = wn->in_c, in_h = wn->in_h, in_w = wn->in_w, row = in_w * c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int8_t in_zp = (int8_t)p->in_zp;
  const int8_t *in_b = in + (size_t)b * (size_t)(in_h * row);
  const int32_t iy0 = oy * wn->stride_h - wn->pad_top, ix0 = ox * wn->stride_w - wn->pad_left;
  const int row_inside = ix0 >= 0 && ix0 + (k_w - 1) * d_w < in_w;
  const uint32_t zp = dsp_even((uint32_t)(uint8_t)in_zp * 0x01010101u);
  int32_t ky, kx, i, n = 0;
  for (ky = 0; ky < k_h; ++ky, n += k_w * c) {
    const int32_t iy = iy0 + ky * d_h;
    const int8_t *src = in_b + iy * row + ix0 * c;
    if ((c & 3) == 0) { /* whole 4-groups per tap: expand straight from the input */
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx * d_w;
        uint32_t *d = dst + ((n + kx * c) >> 2) * stride;
        if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
          expand(src + kx * d_w * c, c, d, stride, odd);
        } else {
          int32_t g;
          for (g = 0; g < c; g += 4, d += stride) d[0] = d[odd] = zp;
        }
      }
    } else if (iy < 0 || iy >= in_h) { /* a padding row */
      for (i = 0; i < k_w * c; ++i) stage[n + i] = in_zp;
    } else if (row_inside && d_w == 1) { /* one contiguous run of k_w * c bytes */
      for (i = 0; i < k_w * c; ++i) stage[n + i] = src[i];
    } else {
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx * d_w;
        const int ok = ix >= 0 && ix < in_w;
        for (i = 0; i < c; ++i) stage[n + kx * c + i] = ok ? src[kx * d_w * c + i] : in_zp;
      }
    }
  }
  if (c & 3) expand(stage, n, dst, stride, odd);
}

/* ---- the 2 x 2 and 2 x 1 blocks ------------------------------------------------------------ */

/* acc[0..3] = (ch0, px0), (ch1, px0), (ch0, px1), (ch1, px1) over g 4-groups: x holds both
 * pixels per group ([px0 even, px1 even, px0 odd, px1 odd]: two LDRDs), w a channel pair in
 * the DSP layout (one LDRD). Ordered so that at most 12 registers are live. */
#define DSP_STEP_2X2(x, w)                                                                    \
  do {                                                                                        \
    const uint32_t wa = ld32(w), wb = ld32((w) + 4);                                          \
    uint32_t pa = (x)[0], pb = (x)[1], t = dsp_even(wa);                                      \
    a00 = dsp_smlad(t, pa, a00);                                                              \
    a10 = dsp_smlad(t, pb, a10);                                                              \
    t = dsp_even(wb);                                                                         \
    a01 = dsp_smlad(t, pa, a01);                                                              \
    a11 = dsp_smlad(t, pb, a11);                                                              \
    pa = (x)[2];                                                                              \
    pb = (x)[3];                                                                              \
    t = dsp_odd(wa);                                                                          \
    a00 = dsp_smlad(t, pa, a00);                                                              \
    a10 = dsp_smlad(t, pb, a10);                                                              \
    t = dsp_odd(wb);                                                                          \
    a01 = dsp_smlad(t, pa, a01);                                                              \
    a11 = dsp_smlad(t, pb, a11);                                                              \
  } while (0)

static __attribute__((noinline)) void mac_2x2(const uint32_t *x, const int8_t *w_, int32_t g,
                                             int32_t *acc) { /* shared: one copy of the code */
  const int8_t *w = (const int8_t *)__builtin_assume_aligned(w_, 4);
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  for (; g >= 2; g -= 2, x += 8, w += 16) { /* two groups a pass: half the loop overhead */
    DSP_STEP_2X2(x, w);
    DSP_STEP_2X2(x + 4, w + 8);
  }
  if (g) DSP_STEP_2X2(x, w);
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* One 4-group of a channel pair against one pixel's pair words pe (even) and po (odd). */
#define DSP_STEP_2X1(pe, po, w)                                                               \
  do {                                                                                        \
    const uint32_t wa = ld32(w), wb = ld32((w) + 4);                                          \
    a0 = dsp_smlad(dsp_even(wa), (pe), a0);                                                   \
    a0 = dsp_smlad(dsp_odd(wa), (po), a0);                                                    \
    a1 = dsp_smlad(dsp_even(wb), (pe), a1);                                                   \
    a1 = dsp_smlad(dsp_odd(wb), (po), a1);                                                    \
  } while (0)

/* acc[0..1] = channels 0 and 1 of one pixel whose groups are `stride` words apart (even
 * word first, odd word `odd` words later) */
static inline void mac_2x1(const uint32_t *x, int32_t stride, int32_t odd, const int8_t *w_,
                           int32_t g, int32_t *acc) {
  const int8_t *w = (const int8_t *)__builtin_assume_aligned(w_, 4);
  int32_t a0 = acc[0], a1 = acc[1];
  for (; g > 0; --g, x += stride, w += 8) DSP_STEP_2X1(x[0], x[odd], w);
  acc[0] = a0;
  acc[1] = a1;
}

/* ---- output stage -------------------------------------------------------------------------- */

/* Where a pixel's results go: requantized to `out`, or (fused conv + add) requantized, added
 * to the residual pixel and written to `out` (which may be the residual itself). */
typedef struct {
  const edgeir_conv_s8_params *p;
  const int32_t *bias, *mult, *shift;
  const edgeir_add_s8_params *add; /* NULL: a plain convolution */
  int32_t conv_is_b;
  const int8_t *residual;
  int8_t *out;
} dsp_sink;

/* The int8 add of the fused conv + add, on the convolution's requantized value v and the
 * residual r (TFLM ADD, with the exact fast multiply of mbqm: its multipliers are >= 0). */
static inline int8_t add_out(const edgeir_add_s8_params *a, int32_t conv_is_b, int32_t v,
                             int32_t r) {
  const int32_t x = conv_is_b ? r : v, y = conv_is_b ? v : r;
  const int32_t sx = mbqm((int32_t)((uint32_t)(x - a->a_zp) << a->left_shift), a->a_mult,
                          a->a_shift);
  const int32_t sy = mbqm((int32_t)((uint32_t)(y - a->b_zp) << a->left_shift), a->b_mult,
                          a->b_shift);
  const int32_t o = mbqm(sx + sy, a->out_mult, a->out_shift);
  return (int8_t)(edgeir_clamp_i32(o, a->act_min - a->out_zp, a->act_max - a->out_zp) +
                  a->out_zp);
}

static inline __attribute__((always_inline)) void emit1(const dsp_sink *s, size_t px, int32_t oc,
                                                        int32_t acc) {
  const edgeir_conv_s8_params *p = s->p;
  const int32_t out_c = p->win.out_c, zp = p->out_zp;
  const size_t at = px * (size_t)out_c + (size_t)oc;
  int32_t v;
  if (oc >= out_c) return; /* the zero filter padding an odd channel count */
  if (s->bias) acc = wadd(acc, s->bias[oc]);
  v = requant(acc, s->mult[oc], s->shift[oc], zp, p->act_min - zp, p->act_max - zp);
  s->out[at] = s->add ? add_out(s->add, s->conv_is_b, v, s->residual[at]) : (int8_t)v;
}

/* All output channels of pixels px0 and px1 (the two slots of x; px1 == px0 for an odd
 * last pixel, computed twice and written twice with the same bytes). The accumulators start
 * at the bias (int32 addition wraps alike in any order, so this equals adding it last). */
static void channels_2(const dsp_sink *s, const uint32_t *x, const int8_t *w, int32_t g,
                       size_t px0, size_t px1) {
  const edgeir_conv_s8_params *p = s->p;
  const int32_t out_c = p->win.out_c, zp = p->out_zp;
  const int32_t lo = p->act_min - zp, hi = p->act_max - zp;
  const int32_t *bias = s->bias, *mult = s->mult, *shift = s->shift;
  int8_t *o0 = s->out + px0 * (size_t)out_c, *o1 = s->out + px1 * (size_t)out_c;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2, w += 8 * g) {
    /* no loads under a condition (see run_sim on the emulator's IT-block defect): an odd
     * last channel reads its own parameters twice */
    const int32_t c1 = oc + 1 < out_c ? oc + 1 : oc;
    const int32_t m0 = mult[oc], m1 = mult[c1], s0 = shift[oc], s1 = shift[c1];
    int32_t acc[4];
    acc[0] = acc[2] = bias ? bias[oc] : 0;
    acc[1] = acc[3] = bias ? bias[c1] : 0;
    mac_2x2(x, w, g, acc);
    o0[oc] = requant(acc[0], m0, s0, zp, lo, hi);
    o1[oc] = requant(acc[2], m0, s0, zp, lo, hi);
    if (c1 != oc) {
      o0[c1] = requant(acc[1], m1, s1, zp, lo, hi);
      o1[c1] = requant(acc[3], m1, s1, zp, lo, hi);
    }
  }
}

/* The fused conv + add version of channels_2 for a pixel pair: each residual element is read
 * just before its write (out may be the residual). */
static __attribute__((noinline)) void channels_2_add(const dsp_sink *s, const uint32_t *x,
                                                    const int8_t *w, int32_t g, size_t px0) {
  const edgeir_conv_s8_params *p = s->p;
  const int32_t out_c = p->win.out_c, zp = p->out_zp;
  const int32_t lo = p->act_min - zp, hi = p->act_max - zp;
  const int32_t *bias = s->bias, *mult = s->mult, *shift = s->shift;
  const edgeir_add_s8_params *a = s->add;
  const int32_t cb = s->conv_is_b;
  int8_t *o0 = s->out + px0 * (size_t)out_c, *o1 = o0 + out_c;
  const int8_t *r0 = s->residual + px0 * (size_t)out_c, *r1 = r0 + out_c;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2, w += 8 * g) {
    const int32_t c1 = oc + 1 < out_c ? oc + 1 : oc;
    int32_t acc[4];
    acc[0] = acc[2] = bias ? bias[oc] : 0;
    acc[1] = acc[3] = bias ? bias[c1] : 0;
    mac_2x2(x, w, g, acc);
    o0[oc] = add_out(a, cb, requant(acc[0], mult[oc], shift[oc], zp, lo, hi), r0[oc]);
    o1[oc] = add_out(a, cb, requant(acc[2], mult[oc], shift[oc], zp, lo, hi), r1[oc]);
    if (c1 != oc) {
      o0[c1] = add_out(a, cb, requant(acc[1], mult[c1], shift[c1], zp, lo, hi), r0[c1]);
      o1[c1] = add_out(a, cb, requant(acc[3], mult[c1], shift[c1], zp, lo, hi), r1[c1]);
    }
  }
}

static __attribute__((noinline)) void channels_1(const dsp_sink *s, const uint32_t *x,
                                                int32_t stride, int32_t odd, const int8_t *w,
                                                int32_t g, size_t px) {
  const int32_t out_c = s->p->win.out_c;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2, w += 8 * g) {
    int32_t acc[2] = {0, 0};
    mac_2x1(x, stride, odd, w, g, acc);
    emit1(s, px, oc, acc[0]);
    emit1(s, px, oc + 1, acc[1]);
  }
}

/* ---- convolutions -------------------------------------------------------------------------- */

/* The pixels of a dense convolution in pairs (row-major, across rows and images). With
 * `add`, the fused conv + add (its odd last pixel alone, in place over the residual);
 * without, an odd last pixel fills both slots. */
static inline __attribute__((always_inline)) void conv_pixels(const dsp_sink *s,
                                                              const int8_t *in,
                                                              const int8_t *w, int8_t *scratch,
                                                              int add) {
  const edgeir_window *wn = &s->p->win;
  const int32_t k = wn->k_h * wn->k_w * wn->in_c, g = (k + 3) / 4;
  const int32_t hw = wn->out_h * wn->out_w;
  const size_t pixels = (size_t)wn->batch * (size_t)hw;
  uint32_t *x = (uint32_t *)(void *)scratch;          /* 4 * g words */
  int8_t *stage = scratch + (size_t)16 * (size_t)g;   /* 4 * g bytes (in_c % 4 != 0) */
  size_t px;
  for (px = 0; px < pixels; px += 2) {
    const size_t q = px + 1 < pixels ? px + 1 : px;
    const int32_t b0 = (int32_t)(px / (size_t)hw), r0 = (int32_t)(px % (size_t)hw);
    const int32_t b1 = (int32_t)(q / (size_t)hw), r1 = (int32_t)(q % (size_t)hw);
    expand_window(s->p, in, b0, r0 / wn->out_w, r0 % wn->out_w, x, 4, 2, stage);
    expand_window(s->p, in, b1, r1 / wn->out_w, r1 % wn->out_w, x + 1, 4, 2, stage);
    if (!add)
      channels_2(s, x, w, g, px, q);
    else if (q != px)
      channels_2_add(s, x, w, g, px);
    else
      channels_1(s, x, 4, 2, w, g, px);
  }
}

void edgeir_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, bias, mult, shift, 0, 0, 0, out};
  conv_pixels(&s, in, w, scratch, 0);
}

void edgeir_conv_add_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                            const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            const edgeir_add_s8_params *add, int32_t conv_is_b,
                            const int8_t *residual, int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, bias, mult, shift, add, conv_is_b, residual, out};
  conv_pixels(&s, in, w, scratch, 1);
}

/* 1x1, stride 1, no padding; both input pixels of a pair are expanded before either output
 * pixel is written, so the in-place rules of edgeir_pointwise_conv_s8 (forward) and
 * edgeir_pointwise_conv_s8_reverse (backward) hold unchanged. */
static void pointwise(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out, int8_t *scratch, int reverse) {
  const dsp_sink s = {p, bias, mult, shift, 0, 0, 0, out};
  const int32_t c = p->win.in_c, g = (c + 3) / 4;
  const size_t pixels = (size_t)p->win.batch * (size_t)(p->win.out_h * p->win.out_w);
  uint32_t *x = (uint32_t *)(void *)scratch;
  size_t i;
  for (i = 0; i < pixels; i += 2) {
    const int two = i + 1 < pixels;
    const size_t px = reverse ? pixels - i - 1 - (size_t)two : i;  /* the pair's first */
    const size_t q = two ? px + 1 : px;   /* an odd last pixel fills both slots */
    expand(in + px * (size_t)c, c, x, 4, 2);
    expand(in + q * (size_t)c, c, x + 1, 4, 2);
    channels_2(&s, x, w, g, px, q);
  }
}

void edgeir_pointwise_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                  const int8_t *w, const int32_t *bias, const int32_t *mult,
                                  const int32_t *shift, int8_t *out, int8_t *scratch) {
  pointwise(p, in, w, bias, mult, shift, out, scratch, 0);
}

void edgeir_pointwise_conv_s8_dsp_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int8_t *w, const int32_t *bias,
                                          const int32_t *mult, const int32_t *shift,
                                          int8_t *out, int8_t *scratch) {
  pointwise(p, in, w, bias, mult, shift, out, scratch, 1);
}

/* ---- fully connected ----------------------------------------------------------------------- */

/* Two output channels of one input row, the row's int8 words sign-extended on the fly (an
 * int16 copy would save one instruction per 8 MACs and cost 2 * in_features bytes of RAM:
 * the fully connected layers of small models are where RAM is tightest). */
static inline void fc_2(const int8_t *x, const int8_t *w_, int32_t g, int32_t *acc) {
  const int8_t *w = (const int8_t *)__builtin_assume_aligned(w_, 4);
  int32_t a0 = acc[0], a1 = acc[1];
  for (; g > 0; --g, x += 4, w += 8) {
    const uint32_t v = ld32(x);
    DSP_STEP_2X1(dsp_even(v), dsp_odd(v), w);
  }
  acc[0] = a0;
  acc[1] = a1;
}

void edgeir_fc_s8_dsp(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                      int8_t *out) {
  const int32_t k = p->in_features, n = p->out_features, full = k / 4, g = (k + 3) / 4;
  const int32_t zp = p->out_zp, lo = p->act_min - zp, hi = p->act_max - zp;
  int32_t b, o;
  for (b = 0; b < p->batch; ++b) {
    const int8_t *x = in + (size_t)b * (size_t)k, *wp = w;
    int8_t *y = out + (size_t)b * (size_t)n;
    int8_t tail[4] = {0, 0, 0, 0}; /* a partial last group of the row, zero padded */
    int32_t i;
    for (i = 4 * full; i < k; ++i) tail[i - 4 * full] = x[i];
    for (o = 0; o < n; o += 2, wp += 8 * g) {
      const int32_t o1 = o + 1 < n ? o + 1 : o; /* an odd last channel: itself */
      int32_t acc[2];
      acc[0] = bias ? bias[o] : 0;
      acc[1] = bias ? bias[o1] : 0;
      fc_2(x, wp, full, acc);
      if (full < g) fc_2(tail, wp + 8 * full, 1, acc);
      y[o] = requant(acc[0], mult[o], shift[o], zp, lo, hi);
      if (o1 != o) y[o1] = requant(acc[1], mult[o1], shift[o1], zp, lo, hi);
    }
  }
}

/* ---- depthwise, in place ------------------------------------------------------------------- */

/* Two int16 values at p (any 2-byte alignment) as one word: low half p[0], high half p[1]. */
static inline uint32_t ld16x2(const int16_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

static inline uint32_t pack16(int32_t lo, int32_t hi) {
  return ((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16);
}

/* One output row of one channel of a 3x3 depthwise conv (stride 1 or 2), two columns a
 * pass (an odd last column computes a discarded twin: the rows have room for its reads). */
static void dw3_row(const int16_t *r0, const int16_t *r1, const int16_t *r2, const uint32_t *w01,
                    const uint32_t *w2, int32_t s_w, int32_t out_w, int32_t c_n, int32_t b0,
                    int32_t m, int32_t sh, int32_t zp, int32_t lo, int32_t hi, int8_t *o) {
  const uint32_t wa0 = w01[0], wa1 = w01[1], wa2 = w01[2];
  const uint32_t wb0 = w2[0], wb1 = w2[1], wb2 = w2[2];
  int32_t x;
  for (x = 0; x < out_w; x += 2, r0 += 2 * s_w, r1 += 2 * s_w, r2 += 2 * s_w) {
    int32_t a0 = b0, a1 = b0;
    uint32_t p, q;
    if (s_w == 1) {
      p = ld16x2(r0), q = ld16x2(r0 + 2);
      a0 = dsp_smlabb(q, wb0, dsp_smlad(p, wa0, a0));
      a1 = dsp_smlatb(q, wb0, dsp_smladx(dsp_pkhbt(q, p), wa0, a1));
      p = ld16x2(r1), q = ld16x2(r1 + 2);
      a0 = dsp_smlabb(q, wb1, dsp_smlad(p, wa1, a0));
      a1 = dsp_smlatb(q, wb1, dsp_smladx(dsp_pkhbt(q, p), wa1, a1));
      p = ld16x2(r2), q = ld16x2(r2 + 2);
      a0 = dsp_smlabb(q, wb2, dsp_smlad(p, wa2, a0));
      a1 = dsp_smlatb(q, wb2, dsp_smladx(dsp_pkhbt(q, p), wa2, a1));
    } else {
      p = ld16x2(r0), q = ld16x2(r0 + 2);
      a0 = dsp_smlabb(q, wb0, dsp_smlad(p, wa0, a0));
      a1 = dsp_smlabb(ld16x2(r0 + 4), wb0, dsp_smlad(q, wa0, a1));
      p = ld16x2(r1), q = ld16x2(r1 + 2);
      a0 = dsp_smlabb(q, wb1, dsp_smlad(p, wa1, a0));
      a1 = dsp_smlabb(ld16x2(r1 + 4), wb1, dsp_smlad(q, wa1, a1));
      p = ld16x2(r2), q = ld16x2(r2 + 2);
      a0 = dsp_smlabb(q, wb2, dsp_smlad(p, wa2, a0));
      a1 = dsp_smlabb(ld16x2(r2 + 4), wb2, dsp_smlad(q, wa2, a1));
    }
    o[(size_t)x * (size_t)c_n] = requant(a0, m, sh, zp, lo, hi);
    if (x + 1 < out_w) o[(size_t)(x + 1) * (size_t)c_n] = requant(a1, m, sh, zp, lo, hi);
  }
}

/* Depthwise (multiplier 1) with the in-place contract of edgeir_depthwise_conv_s8_inplace:
 * channel by channel, the input rows of that channel are saved before any output write can
 * reach them, here as int16 rows with the horizontal padding (in_zp) included, in a ring of
 * ((k_h - 1) * dil_h + 1) rows plus one row of in_zp for the vertical padding (`scratch`:
 * (ring + 1) * (in_w + pad_left + pad_right + 6) int16). No bounds checks in the taps.
 * 3-wide kernels with stride 1 or 2 and dilation 1 take two output columns at a time with
 * SMLAD/SMLADX/SMLABB/SMLATB: per kernel row 2 or 3 loads and 4 MACs for 6 products. */
void edgeir_depthwise_conv_s8_inplace_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int8_t *w, const int32_t *bias,
                                          const int32_t *mult, const int32_t *shift,
                                          int8_t *out, int8_t *scratch) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, k_h = wn->k_h, k_w = wn->k_w;
  const int32_t s_w = wn->stride_w, d_w = wn->dil_w, pad_l = wn->pad_left;
  const int32_t zp = p->out_zp, in_zp = p->in_zp;
  const int32_t lo = p->act_min - zp, hi = p->act_max - zp;
  const int32_t ring = (k_h - 1) * wn->dil_h + 1;
  const int32_t row_n = in_w + pad_l + wn->pad_right + 6; /* +6: the pair loads' overreach */
  const int fast = k_w == 3 && d_w == 1 && (s_w == 1 || s_w == 2) && k_h <= 16;
  int16_t *rows = (int16_t *)(void *)scratch;
  int16_t *zrow = rows + (size_t)ring * (size_t)row_n;
  int32_t b, c, y, x, i, ky, kx;
  for (i = 0; i < row_n; ++i) zrow[i] = (int16_t)in_zp;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)(in_h * in_w * c_n);
    int8_t *out_b = out + (size_t)b * (size_t)(out_h * out_w * c_n);
    for (c = 0; c < c_n; ++c) {
      const int8_t *wc = w + c;
      const int32_t b0 = bias ? bias[c] : 0, m = mult[c], sh = shift[c];
      uint32_t w01[16], w2[16]; /* the fast path's weights: (w0, w1) and w2 per kernel row */
      int32_t copied = 0;
      if (fast) {
        for (ky = 0; ky < k_h; ++ky) {
          const int8_t *wt = wc + (size_t)(ky * 3) * (size_t)c_n;
          w01[ky] = pack16(wt[0], wt[c_n]);
          w2[ky] = (uint32_t)(int32_t)wt[2 * c_n];
        }
      }
      for (y = 0; y < out_h; ++y) {
        const int32_t iy0 = y * wn->stride_h - wn->pad_top;
        const int16_t *r[16];
        int32_t need = iy0 + (k_h - 1) * wn->dil_h + 1;
        int8_t *o = out_b + (size_t)y * (size_t)(out_w * c_n) + c;
        if (need > in_h) need = in_h;
        for (; copied < need; ++copied) { /* save rows before any write reaches them */
          int16_t *dst = rows + (size_t)(copied % ring) * (size_t)row_n;
          const int8_t *src = in_b + (size_t)copied * (size_t)(in_w * c_n) + c;
          for (i = 0; i < pad_l; ++i) dst[i] = (int16_t)in_zp;
          for (i = 0; i < in_w; ++i) dst[pad_l + i] = src[(size_t)i * (size_t)c_n];
          for (i = pad_l + in_w; i < row_n; ++i) dst[i] = (int16_t)in_zp;
        }
        for (ky = 0; ky < k_h && ky < 16; ++ky) {
          const int32_t iy = iy0 + ky * wn->dil_h;
          r[ky] = (iy >= 0 && iy < in_h) ? rows + (size_t)(iy % ring) * (size_t)row_n : zrow;
        }
        x = 0;
        if (fast && k_h == 3) {
          dw3_row(r[0], r[1], r[2], w01, w2, s_w, out_w, c_n, b0, m, sh, zp, lo, hi, o);
          x = out_w;
        } else if (fast) {
          for (; x + 2 <= out_w; x += 2, o += 2 * c_n) {
            int32_t a0 = b0, a1 = b0;
            const int32_t col = x * s_w;
            for (ky = 0; ky < k_h; ++ky) {
              const int16_t *rr = r[ky] + col;
              const uint32_t pab = ld16x2(rr), pcd = ld16x2(rr + 2);
              a0 = dsp_smlad(pab, w01[ky], a0);
              a0 = dsp_smlabb(pcd, w2[ky], a0);
              if (s_w == 1) { /* (b, c) . (w0, w1) + d w2 */
                a1 = dsp_smladx(dsp_pkhbt(pcd, pab), w01[ky], a1);
                a1 = dsp_smlatb(pcd, w2[ky], a1);
              } else { /* (c, d) . (w0, w1) + e w2 */
                a1 = dsp_smlad(pcd, w01[ky], a1);
                a1 = dsp_smlabb(ld16x2(rr + 4), w2[ky], a1);
              }
            }
            o[0] = requant(a0, m, sh, zp, lo, hi);
            o[c_n] = requant(a1, m, sh, zp, lo, hi);
          }
        }
        for (; x < out_w; ++x, o += c_n) {
          int32_t a0 = b0;
          for (ky = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky * wn->dil_h;
            const int16_t *rr = (ky < 16) ? r[ky]
                                          : ((iy >= 0 && iy < in_h)
                                                 ? rows + (size_t)(iy % ring) * (size_t)row_n
                                                 : zrow);
            for (kx = 0; kx < k_w; ++kx)
              a0 += rr[x * s_w + kx * d_w] * (int32_t)wc[(size_t)(ky * k_w + kx) * (size_t)c_n];
          }
          o[0] = requant(a0, m, sh, zp, lo, hi);
        }
      }
    }
  }
}
