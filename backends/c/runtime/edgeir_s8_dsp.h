/* edgeir int8 kernels for cores with the DSP extension: the primitives, the requantization,
 * the input expansion (im2col into int16 pairs) and the in-place depthwise kernel, shared by
 * edgeir_s8_dsp.c and, with --specialize, by the generated model code.
 *
 * The expansion and the depthwise kernel are written once, over a layer's
 * edgeir_conv_s8_params. edgeir_s8_dsp.c compiles each as one out-of-line function that
 * reads the shape at run time. A model compiled with --specialize defines EDGEIR_SPECIALIZE
 * before including this file and instantiates them per layer on the layer's `static const`
 * parameter block (EDGEIR_DSP_FN: always inlined there): gcc folds every field to a
 * constant, so the branches on the shape resolve at compile time, the divisions by the
 * output width and the ring's height become multiplications, and the loops over a tap's
 * channels and a ring row's pixels unroll (EDGEIR_UNROLL). Same source, same bytes out:
 * only the loop control differs. The depthwise kernel also takes its requantization mode
 * from the emitter then (a constant; -1 at run time: read from the records).
 */
#ifndef EDGEIR_S8_DSP_H
#define EDGEIR_S8_DSP_H

#include "edgeir_kernels.h"

#ifdef EDGEIR_SPECIALIZE
#define EDGEIR_DSP_FN static inline __attribute__((always_inline))
#define EDGEIR_PRAGMA(x) _Pragma(#x)
#define EDGEIR_UNROLL(n) EDGEIR_PRAGMA(GCC unroll n)
#else
#define EDGEIR_DSP_FN static __attribute__((noinline))
#define EDGEIR_UNROLL(n)
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define dsp_smlad(a, b, acc) __smlad((a), (b), (acc))
#define dsp_smlabb(a, b, acc) __smlabb((int32_t)(a), (int32_t)(b), (acc))
#define dsp_smlatt(a, b, acc) __smlatt((int32_t)(a), (int32_t)(b), (acc))
#define dsp_ssat8(x) __ssat((x), 8)
#define dsp_even(x) __sxtb16(x)
static inline uint32_t dsp_odd(uint32_t x) {
  uint32_t r; /* gcc 12 does not fold the rotation of __sxtb16(__ror(x, 8)) */
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
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
static inline int32_t dsp_smlad(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a) * dsp_h(b) + dsp_h(a >> 16) * dsp_h(b >> 16));
}
static inline int32_t dsp_smlabb(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a) * dsp_h(b));
}
static inline int32_t dsp_smlatt(uint32_t a, uint32_t b, int32_t acc) {
  return dsp_wrap(acc, dsp_h(a >> 16) * dsp_h(b >> 16));
}
static inline int32_t dsp_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif

static inline uint32_t ld32(const int8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4); /* inlined even with -ffreestanding: one LDR */
  return v;
}

/* ---- requantization ------------------------------------------------------------------ */

/* The paths the assembly routines of a DSP core leave to C (a narrower activation range, the
 * general form, a partial last group) are rare there: compiled for size. Elsewhere they are
 * the only paths. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define DSP_COLD __attribute__((cold))
#else
#define DSP_COLD
#endif

/* MultiplyByQuantizedMultiplier(a, mult, -r) for an edgeir_rq record (mult 0 or in
 * [2^30, 2^31), 2 <= r <= 31; round = 2^(r-2), shift = r - 1), as one 64-bit multiply-add
 * and one shift. The two roundings, t = floor((a m + 2^30) / 2^31) then t / 2^r to nearest
 * with ties away from zero, nest into one floor: floor((a m + 2^30 + 2^31 (2^(r-1) - [t<0]))
 * / 2^(31+r)), and with mult >= 2^30 (or 0), t < 0 exactly when a < 0. So the sum is
 * a m + (a < 0 ? -2^30 : 2^30) + round * 2^32, whose high word shifted right by r - 1 is the
 * result (the low word cannot carry into the kept bits). On a DSP core: AND, ORR, ADD, SMLAL
 * and ASR. The records add the output zero point too: round carries zp * 2^(r-1), which
 * the final shift turns into + zp (lower-c keeps the high word inside int32). So a fast
 * record's output is ssat8(rq_core(acc)). tests/c/dsp_requant.c checks it against
 * edgeir_mbqm. For the records of a layer in the general form (shift 31, below) the value
 * is meaningless but defined. */
static inline int32_t rq_core(int32_t a, int32_t mult, int32_t round, int32_t shift) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  uint32_t lo;
  int32_t hi;
  __asm__("and %0, %2, #0x80000000\n\t"
          "orr %0, %0, #0x40000000\n\t"
          "add %1, %3, %2, asr #31\n\t"
          "smlal %0, %1, %2, %4"
          : "=&r"(lo), "=&r"(hi)
          : "r"(a), "r"(round), "r"(mult));
  (void)lo;
  return hi >> shift;
#else
  const int64_t init = (int64_t)round * 4294967296LL + (a < 0 ? -(1LL << 30) : (1LL << 30));
  return (int32_t)((init + (int64_t)a * mult) >> 32) >> shift;
#endif
}

/* How a layer's outputs are finished besides the fast form: RQ_CLAMP, an activation range
 * narrower than int8's; RQ_GENERAL, records in the general form (the emitter writes them for
 * every channel of a layer with one outside rq_core's range: shift 31, which the fast form
 * never has, and TFLM's multiplier, with TFLM's shift in `round`). */
enum { RQ_CLAMP = 1, RQ_GENERAL = 2 };

static inline int32_t rq_mode(const edgeir_rq *rq, int32_t lo, int32_t hi) {
  return (lo > -128 || hi < 127 ? RQ_CLAMP : 0) | (rq[0].shift == 31 ? RQ_GENERAL : 0);
}

/* The int8 outputs v[0..3] of four accumulators a[0..3] (bias included), a[k] through the
 * record q[k & mask]: requantized in the fast form (rq_core, the zero point included) or
 * the general one (TFLM's arithmetic, plus zp), saturated, then clamped when RQ_CLAMP. The
 * path of what the assembly routines do not take (a `mode`, a partial last group); out of
 * line, as it is rare. */
static DSP_COLD __attribute__((noinline, unused)) void rq_4(int8_t *v, const int32_t *a,
                                                            const edgeir_rq *q, int32_t mask,
                                                            int32_t zp, int32_t mode,
                                                            int32_t lo, int32_t hi) {
  int32_t k;
  for (k = 0; k < 4; ++k) {
    const edgeir_rq *r = &q[k & mask];
    int32_t x = dsp_ssat8(mode & RQ_GENERAL ? edgeir_mbqm(a[k], r->mult, r->round) + zp
                                            : rq_core(a[k], r->mult, r->round, r->shift));
    if (mode & RQ_CLAMP) x = edgeir_clamp_i32(x, lo, hi);
    v[k] = (int8_t)x;
  }
}

/* ---- input expansion ---------------------------------------------------------------------- */

/* A pixel pair's buffer holds, per 4-group of the reduction, four words: [px0 even, px1 even,
 * px0 odd, px1 odd] (even: int8 values 0 and 2 of the group as int16 pairs; odd: 1 and 3).
 * The expansion of one pixel writes the words of its slot: dst points at px0's or px1's
 * even word, 4 words between groups. */

/* Expand n int8 values (4-groups) into a slot of the pair buffer. A partial last group is
 * padded with zeros. */
EDGEIR_DSP_FN void expand(const int8_t *x, int32_t n, uint32_t *dst) {
  int32_t i = 0;
  EDGEIR_UNROLL(8)
  for (; i + 8 <= n; i += 8, dst += 8) { /* two groups a pass */
    const uint32_t v = ld32(x + i), u = ld32(x + i + 4);
    dst[0] = dsp_even(v);
    dst[2] = dsp_odd(v);
    dst[4] = dsp_even(u);
    dst[6] = dsp_odd(u);
  }
  for (; i + 4 <= n; i += 4, dst += 4) {
    const uint32_t v = ld32(x + i);
    dst[0] = dsp_even(v);
    dst[2] = dsp_odd(v);
  }
  if (i < n) {
    int8_t t[4] = {0, 0, 0, 0};
    int32_t j;
    for (j = 0; i + j < n; ++j) t[j] = x[i + j];
    dst[0] = dsp_even(ld32(t));
    dst[2] = dsp_odd(ld32(t));
  }
}

/* n bytes from src to dst, a word at a time (unaligned words are single loads and stores on
 * the Cortex-M cores with the DSP extension). */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i = 0;
  EDGEIR_UNROLL(8)
  for (; i + 4 <= n; i += 4) {
    const uint32_t v = ld32(src + i);
    __builtin_memcpy(dst + i, &v, 4);
  }
  for (; i < n; ++i) dst[i] = src[i];
}

/* Output pixel px's window (im2col row, taps in (ky, kx, ci) order, out-of-bounds taps =
 * in_zp; px counts row-major over the batch, rows and columns), expanded into its slot dst.
 * With in_c % 4 == 0 every tap is whole 4-groups and expands directly; otherwise the row is
 * gathered in `stage` (k4 bytes, whose padding bytes past the window's n the caller zeroed)
 * first and expanded as whole groups. */
EDGEIR_DSP_FN void expand_window(const edgeir_conv_s8_params *p, const int8_t *in, size_t px,
                                 uint32_t *dst, int8_t *stage) {
  /* the window's fields in locals: the int8 stores below may alias *p for the compiler */
  const edgeir_window *wn = &p->win;
  const int32_t c = wn->in_c, in_h = wn->in_h, in_w = wn->in_w, row = in_w * c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t out_w = wn->out_w;
  const size_t hw = (size_t)(wn->out_h * out_w);
  const int32_t b = (int32_t)(px / hw), r = (int32_t)(px % hw), oy = r / out_w, ox = r % out_w;
  const int8_t in_zp = (int8_t)p->in_zp;
  const int8_t *in_b = in + (size_t)b * (size_t)(in_h * row);
  const int32_t iy0 = oy * wn->stride_h - wn->pad_top, ix0 = ox * wn->stride_w - wn->pad_left;
  const int row_inside = ix0 >= 0 && ix0 + (k_w - 1) * d_w < in_w;
  const uint32_t zp = dsp_even((uint32_t)(uint8_t)in_zp * 0x01010101u);
  int32_t ky, kx, i, n = 0;
  if ((c & 3) && row_inside && d_w == 1 && iy0 >= 0 && iy0 + (k_h - 1) * d_h < in_h) {
    /* an interior window of a layer with few channels (e.g. a first 3-channel conv): k_h
     * runs of k_w * c bytes, gathered a word at a time */
    const int32_t run = k_w * c;
    const int8_t *src = in_b + iy0 * row + ix0 * c;
    for (ky = 0; ky < k_h; ++ky, src += d_h * row) copy_bytes(stage + ky * run, src, run);
    expand(stage, (k_h * run + 3) & ~3, dst);
    return;
  }
  for (ky = 0; ky < k_h; ++ky, n += k_w * c) {
    const int32_t iy = iy0 + ky * d_h;
    const int8_t *src = in_b + iy * row + ix0 * c;
    if ((c & 3) == 0 && row_inside && d_w == 1 && iy >= 0 && iy < in_h) {
      expand(src, k_w * c, dst + n); /* one run of k_w taps */
    } else if ((c & 3) == 0) { /* whole 4-groups per tap: expand straight from the input */
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx * d_w;
        uint32_t *d = dst + n + kx * c;
        if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
          expand(src + kx * d_w * c, c, d);
        } else {
          int32_t g;
          for (g = 0; g < c; g += 4, d += 4) d[0] = d[2] = zp;
        }
      }
    } else if (iy < 0 || iy >= in_h) { /* a padding row */
      for (i = 0; i < k_w * c; ++i) stage[n + i] = in_zp;
    } else if (row_inside && d_w == 1) { /* one contiguous run of k_w * c bytes */
      copy_bytes(stage + n, src, k_w * c);
    } else {
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx * d_w;
        const int ok = ix >= 0 && ix < in_w;
        for (i = 0; i < c; ++i) stage[n + kx * c + i] = ok ? src[kx * d_w * c + i] : in_zp;
      }
    }
  }
  if (c & 3) expand(stage, (n + 3) & ~3, dst);
}

/* Input pixel px of a pointwise layer (1 x 1, stride 1, no padding) into its slot dst. */
static inline void expand_pixel(const edgeir_conv_s8_params *p, const int8_t *in, size_t px,
                                uint32_t *dst) {
  expand(in + px * (size_t)p->win.in_c, p->win.in_c, dst);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* The start of the assembly routines: the callee-saved registers and lr pushed, a frame of
 * FRAME bytes (the saved registers and the frame keep sp 8-byte aligned). */
#define ROUTINE_ENTRY(FRAME)                                                                  \
  "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                           \
  "sub sp, sp, #" FRAME "\n\t"
#endif

/* ---- depthwise, in place ------------------------------------------------------------------- */

/* One tap of four channels: xe, xo hold the group's input channels 0, 2 and 1, 3 as int16
 * pairs, wp the weights likewise; one SMLABB or SMLATT per channel. */
#define DW_TAP(xe, xo, wp)                                                                    \
  do {                                                                                        \
    const uint32_t we = (uint32_t)(wp)[0], wo = (uint32_t)(wp)[1];                            \
    a0 = dsp_smlabb((xe), we, a0);                                                            \
    a2 = dsp_smlatt((xe), we, a2);                                                            \
    a1 = dsp_smlabb((xo), wo, a1);                                                            \
    a3 = dsp_smlatt((xo), wo, a3);                                                            \
  } while (0)

/* The tap's input from a ring pixel: `lean` rings hold the raw int8 word (4 bytes a pixel),
 * the others the two words already sign-extended (8 bytes a pixel, two instructions less). */
#define DW_TAP_PX(px, wp, lean)                                                               \
  do {                                                                                        \
    const uint32_t *px_ = (px);                                                               \
    if (lean)                                                                                 \
      DW_TAP(dsp_even(px_[0]), dsp_odd(px_[0]), wp);                                          \
    else                                                                                      \
      DW_TAP(px_[0], px_[1], wp);                                                             \
  } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One tap of the lean ring in assembly: the raw pixel word at byte offset X of row P,
 * sign-extended, the weights at byte offset W (the fast ring has dw3_fast_asm). */
#define DW_TAP_ASM_LEAN(P, X, W)                                                              \
  "ldr %[xo], [%[" P "], #" X "]\n\t"                                                        \
  "ldrd %[we], %[wo], [%[w], #" W "]\n\t"                                                    \
  "sxtb16 %[xe], %[xo]\n\t"                                                                  \
  "sxtb16 %[xo], %[xo], ror #8\n\t"                                                          \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"                                                    \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"                                                    \
  "smlabb %[a1], %[xo], %[wo], %[a1]\n\t"                                                    \
  "smlatt %[a3], %[xo], %[wo], %[a3]\n\t"
#define DW3_LEAN_ASM                                                                          \
  DW_TAP_ASM_LEAN("r0", "0", "0") DW_TAP_ASM_LEAN("r0", "4", "8")                             \
  DW_TAP_ASM_LEAN("r0", "8", "16") DW_TAP_ASM_LEAN("r1", "0", "24")                           \
  DW_TAP_ASM_LEAN("r1", "4", "32") DW_TAP_ASM_LEAN("r1", "8", "40")                           \
  DW_TAP_ASM_LEAN("r2", "0", "48") DW_TAP_ASM_LEAN("r2", "4", "56")                           \
  DW_TAP_ASM_LEAN("r2", "8", "64")
#define DW3_OPERANDS                                                                          \
  : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xe] "=&r"(xe),              \
    [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)                                            \
  : [r0] "r"(r0), [r1] "r"(r1), [r2] "r"(r2), [w] "r"(wg)                                     \
  : "memory"
#endif

/* Four requantized channels to o[0..nc-1] (the records are padded: all four are computed). */
static inline void dw_store(int8_t *o, int32_t nc, const edgeir_rq *q, int32_t a0, int32_t a1,
                            int32_t a2, int32_t a3, const edgeir_conv_s8_params *p,
                            int32_t mode) {
  const int32_t acc[4] = {a0, a1, a2, a3};
  int8_t v[4];
  int32_t i;
  rq_4(v, acc, q, 3, p->out_zp, mode, p->act_min, p->act_max);
  for (i = 0; i < nc; ++i) o[i] = v[i];
}

/* One output row of a whole channel group (4 channels) for a 3x3 kernel with dilation 1
 * across: rows r0..r2 (from the row's first window on), `step` words from one window to the
 * next; outputs saturated to int8 only (the caller clamps a narrower activation range). On
 * a DSP core only the lean ring comes here (the fast one runs dw3_fast_asm); its nine taps
 * are one block of assembly (gcc 12 spills the 12 live registers of the C version). */
static inline __attribute__((always_inline)) void dw3_row(
    const uint32_t *r0, const uint32_t *r1, const uint32_t *r2, const int32_t *wg,
    const edgeir_rq *q, int32_t step, int8_t *o, int32_t out_w, int32_t c_n, int lean) {
  int8_t *const end = o + (size_t)out_w * (size_t)c_n;
  const int32_t px = lean ? 1 : 2; /* words a ring pixel */
  for (; o != end; o += c_n, r0 += step, r1 += step, r2 += step) {
    int32_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    uint32_t xe, xo, we, wo; /* a DSP core runs the fast ring in dw3_fast_asm: lean here */
    (void)px;
    (void)lean;
    __asm__(DW3_LEAN_ASM DW3_OPERANDS);
#else
    DW_TAP_PX(r0, wg, lean);
    DW_TAP_PX(r0 + px, wg + 2, lean);
    DW_TAP_PX(r0 + 2 * px, wg + 4, lean);
    DW_TAP_PX(r1, wg + 6, lean);
    DW_TAP_PX(r1 + px, wg + 8, lean);
    DW_TAP_PX(r1 + 2 * px, wg + 10, lean);
    DW_TAP_PX(r2, wg + 12, lean);
    DW_TAP_PX(r2 + px, wg + 14, lean);
    DW_TAP_PX(r2 + 2 * px, wg + 16, lean);
#endif
    o[0] = (int8_t)dsp_ssat8(rq_core(a0, q[0].mult, q[0].round, q[0].shift));
    o[1] = (int8_t)dsp_ssat8(rq_core(a1, q[1].mult, q[1].round, q[1].shift));
    o[2] = (int8_t)dsp_ssat8(rq_core(a2, q[2].mult, q[2].round, q[2].shift));
    o[3] = (int8_t)dsp_ssat8(rq_core(a3, q[3].mult, q[3].round, q[3].shift));
  }
}

/* The two ring formats, each one loop (the format is a constant inside). */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* dw3_row over the sign-extended ring in one routine of assembly (the requantization too;
 * gcc 12 spills around the taps' 12 live registers). Its job: */
typedef struct {
  const uint32_t *r0, *r1, *r2; /* the three rows, at the row's first window */
  const int32_t *w;             /* the group's 9 taps, two words each */
  const edgeir_rq *q;           /* the group's 4 records */
  int32_t step;                 /* bytes from one window to the next */
  int8_t *o;                    /* the first output pixel's 4 channels */
  int32_t c_n;                  /* bytes from one output pixel to the next */
  int8_t *end;                  /* o + out_w * c_n, out_w >= 1 */
} dw3_job;

/* One tap: the pixel at byte offset X of row register P, the weights at byte offset W. */
#define DW3_TAP(P, X, W)                                                                      \
  "ldrd r4, r5, [" P ", #" X "]\n\t"                                                         \
  "ldrd r6, r7, [r11, #" W "]\n\t"                                                           \
  "smlabb r0, r4, r6, r0\n\t"                                                                \
  "smlatt r2, r4, r6, r2\n\t"                                                                \
  "smlabb r1, r5, r7, r1\n\t"                                                                \
  "smlatt r3, r5, r7, r3\n\t"
/* Channel A's output through the record loaded from lr (r5 mult, r6 round, r7 shift). */
#define DW3_OUT(A)                                                                            \
  "ldm lr!, {r4, r5, r6, r7}\n\t"                                                            \
  "and r4, " A ", #0x80000000\n\t"                                                           \
  "orr r4, r4, #0x40000000\n\t"                                                              \
  "add r11, r6, " A ", asr #31\n\t"                                                          \
  "smlal r4, r11, " A ", r5\n\t"                                                             \
  "asr " A ", r11, r7\n\t"                                                                   \
  "ssat " A ", #8, " A "\n\t"

/* Frame: [0..12] the four biases, [16] q, [20] w, [24] c_n, [28] step, [32] end; rows in
 * r8-r10, weights r11, output r12, accumulators r0-r3. 97 instructions an output pixel of
 * four channels (54 of them the taps). */
static __attribute__((naked, noinline, unused)) void dw3_fast_asm(const dw3_job *job
                                                          __attribute__((unused))) {
  __asm__(
      ROUTINE_ENTRY("36")
      "ldm r0, {r4, r5, r6, r7, r8, r9, r10, r11, r12}\n\t"
      "ldr r0, [r8]\n\t"
      "ldr r1, [r8, #16]\n\t"
      "ldr r2, [r8, #32]\n\t"
      "ldr r3, [r8, #48]\n\t"
      "stm sp, {r0, r1, r2, r3}\n\t"
      "str r8, [sp, #16]\n\t"
      "str r7, [sp, #20]\n\t"
      "str r11, [sp, #24]\n\t"
      "str r9, [sp, #28]\n\t"
      "str r12, [sp, #32]\n\t"
      "mov r12, r10\n\t"
      "mov r8, r4\n\t"
      "mov r9, r5\n\t"
      "mov r10, r6\n\t"
      "mov r11, r7\n"
      "1:\n\t"
      "ldm sp, {r0, r1, r2, r3}\n\t" DW3_TAP("r8", "0", "0") DW3_TAP("r8", "8", "8")
      DW3_TAP("r8", "16", "16") DW3_TAP("r9", "0", "24") DW3_TAP("r9", "8", "32")
      DW3_TAP("r9", "16", "40") DW3_TAP("r10", "0", "48") DW3_TAP("r10", "8", "56")
      DW3_TAP("r10", "16", "64")
      "ldr lr, [sp, #16]\n\t" DW3_OUT("r0") DW3_OUT("r1") DW3_OUT("r2") DW3_OUT("r3")
      "strb r0, [r12]\n\t"
      "strb r1, [r12, #1]\n\t"
      "strb r2, [r12, #2]\n\t"
      "strb r3, [r12, #3]\n\t"
      "ldrd r11, lr, [sp, #20]\n\t"
      "add r12, r12, lr\n\t"
      "ldr lr, [sp, #28]\n\t"
      "add r8, r8, lr\n\t"
      "add r9, r9, lr\n\t"
      "add r10, r10, lr\n\t"
      "ldr lr, [sp, #32]\n\t"
      "cmp r12, lr\n\t"
      "bne 1b\n\t"
      "add sp, sp, #36\n\t"
      "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#endif

static inline void dw3_row_fast(const uint32_t *const *r, const int32_t *wg, const edgeir_rq *q,
                                int32_t step, int8_t *o, int32_t out_w, int32_t c_n) {
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  const dw3_job job = {r[0], r[1], r[2], wg, q, 4 * step, o, c_n,
                       o + (size_t)out_w * (size_t)c_n};
  dw3_fast_asm(&job);
#else
  dw3_row(r[0], r[1], r[2], wg, q, step, o, out_w, c_n, 0);
#endif
}

static __attribute__((noinline, unused)) void dw3_row_lean(const uint32_t *const *r,
                                                           const int32_t *wg,
                                                           const edgeir_rq *q, int32_t step,
                                                           int8_t *o, int32_t out_w,
                                                           int32_t c_n) {
  dw3_row(r[0], r[1], r[2], wg, q, step, o, out_w, c_n, 1);
}

/* One input row of a channel group (nc <= 4 channels, the missing ones 0) into its ring
 * row: n pixels, raw (lean) or sign-extended into two words. */
EDGEIR_DSP_FN void ring_row(uint32_t *dst, const int8_t *src, int32_t n, int32_t c_n, int32_t nc,
                            int lean) {
  const int8_t *const end = src + (size_t)n * (size_t)c_n;
  if (nc < 4) { /* the last, partial group */
    for (; src != end; src += c_n, dst += lean ? 1 : 2) {
      int8_t t[4] = {0, 0, 0, 0};
      int32_t i;
      uint32_t v;
      for (i = 0; i < nc; ++i) t[i] = src[i];
      v = ld32(t);
      dst[0] = lean ? v : (uint32_t)dsp_even(v);
      if (!lean) dst[1] = dsp_odd(v);
    }
  } else if (lean) {
    EDGEIR_UNROLL(4)
    for (; src != end; src += c_n) *dst++ = ld32(src);
  } else {
    EDGEIR_UNROLL(4)
    for (; src != end; src += c_n, dst += 2) {
      const uint32_t v = ld32(src);
      dst[0] = dsp_even(v);
      dst[1] = dsp_odd(v);
    }
  }
}

/* Depthwise (multiplier 1) with the in-place contract of edgeir_depthwise_conv_s8_inplace,
 * four channels at a time (writes to a channel reach only that channel's inputs, so a group
 * follows the portable kernel's per-channel order). Per group, the input rows are saved
 * before any output write can reach them, in a ring of ((k_h - 1) * dil_h + 1) rows plus one
 * row of in_zp for the vertical padding (`scratch`: (ring + 1) * (pad_left + in_w +
 * pad_right) pixels of 8 bytes, each sign-extended once into the int16 pairs of the
 * weights' layout; or, `lean`, of 4 bytes, the raw words, sign-extended at every tap), with
 * the horizontal padding (in_zp) in place, so the taps need no bounds checks. 3x3 kernels
 * (dilation 1 across) unroll their taps (dw3_row). */
EDGEIR_DSP_FN void depthwise_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                 const int32_t *w, const edgeir_rq *rq, int8_t *out,
                                 int8_t *scratch, int lean, int32_t mode) {
  /* mode < 0: found from the records (a constant when specialized: the emitter's) */
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, k_h = wn->k_h, k_w = wn->k_w;
  const int32_t s_h = wn->stride_h, s_w = wn->stride_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t pad_t = wn->pad_top, pad_l = wn->pad_left, taps = k_h * k_w;
  const int32_t ring = (k_h - 1) * d_h + 1, px = lean ? 1 : 2;
  if (mode < 0) mode = rq_mode(rq, p->act_min, p->act_max);
  const int32_t row = (pad_l + in_w + wn->pad_right) * px; /* words a ring row */
  const int dw3 = k_h == 3 && k_w == 3 && d_w == 1;
  uint32_t *rows = (uint32_t *)(void *)scratch;
  uint32_t *zrow = rows + (size_t)ring * (size_t)row;
  const uint32_t zp4 = (uint32_t)(uint8_t)p->in_zp * 0x01010101u;
  const uint32_t zp_px = lean ? zp4 : (uint32_t)dsp_even(zp4); /* each word of a zp pixel */
  int32_t b, c, y, x, i, ky, kx;
  for (i = 0; i < (ring + 1) * row; ++i) rows[i] = zp_px; /* the padding stays */
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)(in_h * in_w * c_n);
    int8_t *out_b = out + (size_t)b * (size_t)(out_h * out_w * c_n);
    const int32_t *wg = w;
    const edgeir_rq *q = rq;
    for (c = 0; c < c_n; c += 4, wg += 2 * taps, q += 4) {
      /* channels in this group: 4 but in a partial last one (a constant when specialized) */
      const int32_t nc = (c_n & 3) && c + 4 > c_n ? c_n & 3 : 4;
      const int fast = dw3 && nc == 4 && !(mode & RQ_GENERAL);
      int32_t copied = 0;
      for (y = 0; y < out_h; ++y) {
        const int32_t iy0 = y * s_h - pad_t;
        int32_t need = iy0 + (k_h - 1) * d_h + 1;
        int8_t *o = out_b + (size_t)y * (size_t)(out_w * c_n) + c;
        if (need > in_h) need = in_h;
        for (; copied < need; ++copied) /* save rows before any write reaches them */
          ring_row(rows + (size_t)(copied % ring) * (size_t)row + (size_t)(pad_l * px),
                   in_b + (size_t)copied * (size_t)(in_w * c_n) + c, in_w, c_n, nc, lean);
        if (fast) {
          const uint32_t *r[3];
          for (ky = 0; ky < 3; ++ky) {
            const int32_t iy = iy0 + ky * d_h;
            r[ky] = iy >= 0 && iy < in_h ? rows + (size_t)(iy % ring) * (size_t)row : zrow;
          }
          if (lean)
            dw3_row_lean(r, wg, q, s_w, o, out_w, c_n);
          else
            dw3_row_fast(r, wg, q, 2 * s_w, o, out_w, c_n);
          if (mode & RQ_CLAMP) /* a narrower activation range than int8's */
            for (x = 0; x < out_w; ++x)
              for (i = 0; i < 4; ++i) {
                int8_t *v = o + (size_t)x * (size_t)c_n + i;
                *v = (int8_t)edgeir_clamp_i32(*v, p->act_min, p->act_max);
              }
          continue;
        }
        for (x = 0; x < out_w; ++x, o += c_n) {
          int32_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias;
          for (ky = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky * d_h;
            const uint32_t *rr = iy >= 0 && iy < in_h
                                     ? rows + (size_t)(iy % ring) * (size_t)row
                                     : zrow;
            for (kx = 0; kx < k_w; ++kx) { /* both rings, selecting rather than branching */
              const uint32_t *v = rr + (size_t)((x * s_w + kx * d_w) * px);
              const uint32_t xe = lean ? (uint32_t)dsp_even(v[0]) : v[0];
              const uint32_t xo = lean ? dsp_odd(v[0]) : v[1];
              DW_TAP(xe, xo, wg + (ky * k_w + kx) * 2);
            }
          }
          dw_store(o, nc, q, a0, a1, a2, a3, p, mode);
        }
      }
    }
  }
}

#endif
