/* edgeir int8 kernels for Cortex-M cores with the DSP extension (M4, M7, M33).
 *
 * Bit-exact with the portable kernels of edgeir_s8.c / edgeir_inplace.c (same integer
 * arithmetic, same requantization), faster on those cores:
 *  - dual 16-bit multiply-accumulates (SMLAD: two int16 products added to an int32) on
 *    int8 values sign-extended in pairs (SXTB16 takes bytes 0 and 2 of a word, SXTB16 with
 *    ROR #8 bytes 1 and 3). Inputs and weights go through the same two extractions, so the
 *    pairs match without any reordering: x0w0 + x2w2 and x1w1 + x3w3.
 *  - 2 x 2 output blocking for convolutions: two output channels of two output pixels per
 *    pass, so every weight word loaded serves two pixels and every input word two channels;
 *    fully connected layers take four channels of one row.
 *  - on a DSP core, three naked assembly routines run the common case (the fast form of
 *    requantization, int8's full activation range): pairs_asm (all channel pairs of a pixel
 *    pair), fc_quads_asm (all channel quads of a row) and dw3_fast_asm (a 3x3 depthwise
 *    row), each with its requantization and stores. They use all 14 registers (gcc 12
 *    cannot allocate that many around inline assembly, and spills in the C); the group loops
 *    load a pixel pair's four words with one LDM and run four groups a pass, entered
 *    part-way (TBB) for the remainder. Everything else stays C, the same on every core.
 *  - weights laid out at compile time for that access pattern (lower-c/emit, "DSP layout"):
 *    output channels in pairs (quads for fully connected layers; padded with zero filters),
 *    and per block the reduction in groups of 4: [oc/2][k4/4][2 channels][4 int8], k4 = k
 *    rounded up to a multiple of 4 with zero weights. No tails, no bounds checks.
 *  - inputs expanded once per pixel into int16 pairs in the same order (the `scratch`
 *    buffer), amortized over all output channels.
 *  - per-channel requantization records (edgeir_rq: bias, multiplier, rounding constant,
 *    shift) folded at compile time: TFLM's two roundings in one SMLAL and a shift, the output
 *    zero point in the rounding constant (rq_core); layers outside that form take TFLM's
 *    arithmetic out of line (rq_4).
 *  - depthwise four channels at a time over a ring of sign-extended rows (SMLABB/SMLATT),
 *    and the fused conv + add through a table of the add's scaled operands.
 * On other cores (and on the host, where the tests run them under sanitizers) the same code
 * runs with plain C versions of SMLAD, SMLABB, SMLATT, SSAT and SXTB16.
 *
 * Inputs stay int8 NHWC; the input zero point is folded into the bias (edgeir_kernels.h), so
 * padding taps and padded reduction slots read in_zp and 0 respectively.
 */
#include "edgeir_kernels.h"

/* The paths the assembly routines of a DSP core leave to C (a narrower activation range, the
 * general form, a partial last group) are rare there: compiled for size. Elsewhere they are
 * the only paths. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define DSP_COLD __attribute__((cold))
#else
#define DSP_COLD
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
static DSP_COLD __attribute__((noinline)) void rq_4(int8_t *v, const int32_t *a, const edgeir_rq *q,
                                           int32_t mask, int32_t zp, int32_t mode, int32_t lo,
                                           int32_t hi) {
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

/* Expand n int8 values (4-groups) into dst, `stride` words between groups: word 0 holds
 * x[0], x[2] and word `odd` holds x[1], x[3] (odd = 2 in a pixel pair's buffer, whose words
 * go [px0 even, px1 even, px0 odd, px1 odd]; 1 for a single pixel). A partial last group is
 * padded with zeros. */
static void expand(const int8_t *x, int32_t n, uint32_t *dst, int32_t stride, int32_t odd) {
  int32_t i = 0;
  for (; i + 8 <= n; i += 8, dst += 2 * stride) { /* two groups a pass */
    const uint32_t v = ld32(x + i), u = ld32(x + i + 4);
    dst[0] = dsp_even(v);
    dst[odd] = dsp_odd(v);
    dst[stride] = dsp_even(u);
    dst[stride + odd] = dsp_odd(u);
  }
  for (; i + 4 <= n; i += 4, dst += stride) {
    const uint32_t v = ld32(x + i);
    dst[0] = dsp_even(v);
    dst[odd] = dsp_odd(v);
  }
  if (i < n) {
    int8_t t[4] = {0, 0, 0, 0};
    int32_t j;
    for (j = 0; i + j < n; ++j) t[j] = x[i + j];
    dst[0] = dsp_even(ld32(t));
    dst[odd] = dsp_odd(ld32(t));
  }
}

/* n bytes from src to dst, a word at a time (unaligned words are single loads and stores on
 * the Cortex-M cores with the DSP extension). */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint32_t v = ld32(src + i);
    __builtin_memcpy(dst + i, &v, 4);
  }
  for (; i < n; ++i) dst[i] = src[i];
}

/* One pixel's window (im2col row, taps in (ky, kx, ci) order, out-of-bounds taps = in_zp),
 * expanded into dst. With in_c % 4 == 0 every tap is whole 4-groups and expands directly;
 * otherwise the row is gathered in `stage` (k4 bytes, whose padding bytes past the window's
 * n the caller zeroed) first and expanded as whole groups. */
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
  if ((c & 3) && row_inside && d_w == 1 && iy0 >= 0 && iy0 + (k_h - 1) * d_h < in_h) {
    /* an interior window of a layer with few channels (e.g. a first 3-channel conv): k_h
     * runs of k_w * c bytes, gathered a word at a time */
    const int32_t run = k_w * c;
    const int8_t *src = in_b + iy0 * row + ix0 * c;
    for (ky = 0; ky < k_h; ++ky, src += d_h * row) copy_bytes(stage + ky * run, src, run);
    expand(stage, (k_h * run + 3) & ~3, dst, stride, odd);
    return;
  }
  for (ky = 0; ky < k_h; ++ky, n += k_w * c) {
    const int32_t iy = iy0 + ky * d_h;
    const int8_t *src = in_b + iy * row + ix0 * c;
    if ((c & 3) == 0 && row_inside && d_w == 1 && iy >= 0 && iy < in_h) {
      expand(src, k_w * c, dst + (n >> 2) * stride, stride, odd); /* one run of k_w taps */
    } else if ((c & 3) == 0) { /* whole 4-groups per tap: expand straight from the input */
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
      copy_bytes(stage + n, src, k_w * c);
    } else {
      for (kx = 0; kx < k_w; ++kx) {
        const int32_t ix = ix0 + kx * d_w;
        const int ok = ix >= 0 && ix < in_w;
        for (i = 0; i < c; ++i) stage[n + kx * c + i] = ok ? src[kx * d_w * c + i] : in_zp;
      }
    }
  }
  if (c & 3) expand(stage, (n + 3) & ~3, dst, stride, odd);
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

/* acc[0..3] += the 2 x 2 block over g >= 1 groups (see DSP_STEP_2X2): the path of the
 * layers pairs_asm does not take (a narrower activation range, the general form) and of
 * cores without the DSP extension; one group a pass keeps the code small. */
static void mac_2x2(const uint32_t *x, const int8_t *w, int32_t g, int32_t *acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  for (; g > 0; --g, x += 4, w += 8) DSP_STEP_2X2(x, w);
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

/* ---- output stage -------------------------------------------------------------------------- */

/* Where a pixel's results go: requantized to `out`, or (fused conv + add) requantized, added
 * to the residual pixel and written to `out` (which may be the residual itself). */
typedef struct {
  const edgeir_conv_s8_params *p;
  const edgeir_rq *rq;
  const edgeir_add_s8_params *add; /* NULL: a plain convolution */
  const int32_t *lut;              /* the add's scaled operands, see add_out */
  const edgeir_rq *out_rq;         /* the add's output requantization */
  const int8_t *residual;
  int8_t *out;
} dsp_sink;


/* The int8 add of the fused conv + add (TFLM ADD) on the convolution's requantized value v
 * and the residual r. Each operand's scaled value, ((x - zp) << left_shift) times its
 * multiplier, depends on one int8 only: lower-c tabulated both (lut[0..255]: the
 * convolution's operand, lut[256..511]: the residual's, indexed by value + 128), so the add
 * is two loads and the output requantization. */
static inline int8_t add_out(const dsp_sink *s, int32_t v, int32_t r) {
  const edgeir_add_s8_params *a = s->add;
  const edgeir_rq *q = s->out_rq;
  const int32_t sum = s->lut[v + 128] + s->lut[256 + 128 + r];
  return (int8_t)edgeir_clamp_i32(rq_core(sum, q->mult, q->round, q->shift), a->act_min,
                                  a->act_max);
}

/* The requantized 2 x 2 block of channel pair q[0..1]: v = (ch0, px0), (ch0, px1),
 * (ch1, px0), (ch1, px1). The accumulators start at the bias (int32 addition wraps alike in
 * any order, so this equals adding it last). */
static inline __attribute__((always_inline)) void block_2x2(int8_t *v, const uint32_t *x,
                                                            const int8_t *w, int32_t g,
                                                            const edgeir_rq *q, int32_t zp,
                                                            int32_t mode, int32_t lo,
                                                            int32_t hi) {
  int32_t acc[4];
  acc[0] = acc[2] = q[0].bias;
  acc[1] = acc[3] = q[1].bias;
  mac_2x2(x, w, g, acc);
  rq_4(v, acc, q, 1, zp, mode, lo, hi);
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* The channel pairs of a pixel pair in one routine of assembly (pairs_asm), for layers in
 * the fast form with int8's full activation range (no `mode`). Its frame: */
typedef struct {
  int8_t *o0;         /* [0]  (channel 2i, pixel 0) goes to o0[2i]... */
  const edgeir_rq *q; /* [4]  the records of the first pair */
  int32_t d;          /* [8]  ...and (channel 2i, pixel 1) to o0[2i + d] */
  const int8_t *w;    /* [12] the weights of the first pair */
  const uint32_t *x;  /* [16] the expanded pixel pair */
  int32_t g;          /* [20] 4-groups of the reduction, >= 1 */
  int8_t *end;        /* [24] o0 + 2 * pairs, pairs >= 1 */
} dsp_pairs;

/* One 4-group: the pair buffer's four words in one LDM (pixel 0 even, pixel 1 even, pixel
 * 0 odd, pixel 1 odd: r4-r7), the two channels' weight words (r8, r9), sign-extended into
 * r10; accumulators r0 (channel 0, pixel 0), r1 (1, 0), r2 (0, 1), r3 (1, 1). 14
 * instructions for 16 MACs. */
#define PAIRS_GROUP                                                                           \
  "ldm r11!, {r4, r5, r6, r7}\n\t"                                                           \
  "ldrd r8, r9, [r12], #8\n\t"                                                               \
  "sxtb16 r10, r8\n\t"                                                                       \
  "smlad r0, r10, r4, r0\n\t"                                                                \
  "smlad r2, r10, r5, r2\n\t"                                                                \
  "sxtb16 r10, r9\n\t"                                                                       \
  "smlad r1, r10, r4, r1\n\t"                                                                \
  "smlad r3, r10, r5, r3\n\t"                                                                \
  "sxtb16 r10, r8, ror #8\n\t"                                                               \
  "smlad r0, r10, r6, r0\n\t"                                                                \
  "smlad r2, r10, r7, r2\n\t"                                                                \
  "sxtb16 r10, r9, ror #8\n\t"                                                               \
  "smlad r1, r10, r6, r1\n\t"                                                                \
  "smlad r3, r10, r7, r3\n\t"

/* The group loop, four groups (GROUP) a pass, entered part-way for g % 4 groups first
 * (TBB on g % 4; lr = passes). Every instruction of GROUP is 32 bits wide, so the table's
 * halfword offsets are fixed. */
#define GROUPS_4(GROUP)                                                                       \
  "and r10, lr, #3\n\t"                                                                       \
  "add lr, lr, #3\n\t"                                                                        \
  "lsr lr, lr, #2\n\t"                                                                        \
  "tbb [pc, r10]\n"                                                                           \
  "6:\n\t"                                                                                    \
  ".byte (2f - 6b) / 2, (5f - 6b) / 2, (4f - 6b) / 2, (3f - 6b) / 2\n"                        \
  "2:\n\t" GROUP "3:\n\t" GROUP "4:\n\t" GROUP "5:\n\t" GROUP                                   \
  "subs lr, lr, #1\n\t"                                                                       \
  "bne 2b\n\t"

/* The same, two groups a pass (where code size matters more than 1 instruction per 2
 * groups). */
#define GROUPS_2(GROUP)                                                                       \
  "and r10, lr, #1\n\t"                                                                       \
  "add lr, lr, #1\n\t"                                                                        \
  "lsr lr, lr, #1\n\t"                                                                        \
  "tbb [pc, r10]\n"                                                                           \
  "6:\n\t"                                                                                    \
  ".byte (2f - 6b) / 2, (3f - 6b) / 2\n"                                                      \
  "2:\n\t" GROUP "3:\n\t" GROUP                                                                 \
  "subs lr, lr, #1\n\t"                                                                       \
  "bne 2b\n\t"

/* One output: accumulator A through the record in r5 (mult), r6 (round), r7 (shift), the
 * rq_core sequence, saturated and stored to ADDR. */
#define PAIRS_OUT(A, ADDR)                                                                    \
  "and r8, " A ", #0x80000000\n\t"                                                           \
  "orr r8, r8, #0x40000000\n\t"                                                              \
  "add r9, r6, " A ", asr #31\n\t"                                                           \
  "smlal r8, r9, " A ", r5\n\t"                                                              \
  "asr r9, r9, r7\n\t"                                                                       \
  "ssat r9, #8, r9\n\t"                                                                      \
  "strb r9, " ADDR "\n\t"

/* The start of the assembly routines: the callee-saved registers and lr pushed, a frame of
 * FRAME bytes (the saved registers and the frame keep sp 8-byte aligned). */
#define ROUTINE_ENTRY(FRAME)                                                                  \
  "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"                                           \
  "sub sp, sp, #" FRAME "\n\t"

/* The end of a pass of pairs_asm and fc_quads_asm: the output (r10) and record (r11)
 * pointers back to the frame, the next pass until the output reaches the frame's end
 * pointer (at byte offset END), then the frame (FRAME bytes) and the saved registers
 * released. */
#define ROUTINE_NEXT(END, FRAME)                                                              \
  "stm sp, {r10, r11}\n\t"                                                                    \
  "ldr lr, [sp, #" END "]\n\t"                                                                \
  "cmp r10, lr\n\t"                                                                           \
  "bne 1b\n\t"                                                                                \
  "add sp, sp, #" FRAME "\n\t"                                                                \
  "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"

/* Per pair: the biases into the four accumulators; the groups (GROUPS_4: the loop costs 2
 * instructions per 64 MACs); the four outputs; all
 * registers but sp and pc in use inside the loop, so the pointers live in the frame (the
 * weights' pointer r12 runs on from pair to pair). gcc 12 cannot allocate 14 registers
 * around inline assembly; this is the one naked routine of the kernels. */
static __attribute__((naked, noinline)) void pairs_asm(const dsp_pairs *job __attribute__((unused))) {
  __asm__(
      ROUTINE_ENTRY("28")
      "ldm r0, {r1, r2, r3, r4, r5, r6, r7}\n\t"
      "stm sp, {r1, r2, r3, r4, r5, r6, r7}\n\t"
      "mov r12, r4\n"
      "1:\n\t"
      "ldr r11, [sp, #4]\n\t"
      "ldr r0, [r11]\n\t"
      "ldr r1, [r11, #16]\n\t"
      "mov r2, r0\n\t"
      "mov r3, r1\n\t"
      "ldrd r11, lr, [sp, #16]\n\t" GROUPS_4(PAIRS_GROUP)
      "ldm sp, {r10, r11, lr}\n\t"
      "ldm r11!, {r4, r5, r6, r7}\n\t" PAIRS_OUT("r0", "[r10]") PAIRS_OUT("r2", "[r10, lr]")
      "ldm r11!, {r4, r5, r6, r7}\n\t"
      "add r10, r10, #1\n\t" PAIRS_OUT("r1", "[r10]") PAIRS_OUT("r3", "[r10, lr]")
      "add r10, r10, #1\n\t" ROUTINE_NEXT("24", "28"));
}
#endif

/* channels_2 in C: the layers with a `mode` (and every layer on cores without DSP). */
static DSP_COLD __attribute__((noinline)) void channels_2_c(const dsp_sink *s,
                                                            const uint32_t *x, const int8_t *w,
                                                            int32_t g, int8_t *o0, int8_t *o1,
                                                            int32_t mode) {
  const edgeir_conv_s8_params *p = s->p;
  const int32_t out_c = p->win.out_c;
  const edgeir_rq *q = s->rq;
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2, w += 8 * g, q += 2) {
    int8_t v[4];
    block_2x2(v, x, w, g, q, p->out_zp, mode, p->act_min, p->act_max);
    o0[oc] = v[0];
    o1[oc] = v[2];
    if (oc + 1 < out_c) {
      o0[oc + 1] = v[1];
      o1[oc + 1] = v[3];
    }
  }
}

/* All output channels of pixels px0 and px1 (the two slots of x), requantized, to o0[oc] and
 * o1[oc] (o1 == o0 for an odd last pixel: computed twice, written twice with the same
 * bytes). The records are padded to an even count, so an odd last channel loads without a
 * condition (see run_sim on the emulator's IT-block defect). */
static void channels_2(const dsp_sink *s, const uint32_t *x, const int8_t *w, int32_t g,
                       int8_t *o0, int8_t *o1) {
  const edgeir_conv_s8_params *p = s->p;
  const int32_t mode = rq_mode(s->rq, p->act_min, p->act_max);
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
  const int32_t out_c = p->win.out_c;
  const edgeir_rq *q = s->rq;
  if (!mode) {
    const int32_t pairs = out_c / 2;
    const int8_t *w_odd = w + (size_t)8 * (size_t)g * (size_t)pairs;
    if (pairs) {
      const dsp_pairs job = {o0, q, (int32_t)(o1 - o0), w, x, g, o0 + 2 * pairs};
      pairs_asm(&job);
    }
    if (out_c & 1) { /* with the padding channel, into t: (oc, px0), pad, (oc, px1), pad */
      int8_t t[4];
      const dsp_pairs job = {t, q + 2 * pairs, 2, w_odd, x, g, t + 2};
      pairs_asm(&job);
      o0[out_c - 1] = t[0];
      o1[out_c - 1] = t[2];
    }
    return;
  }
#endif
  channels_2_c(s, x, w, g, o0, o1, mode);
}

/* The fused conv + add version for a pixel pair (px1 = px0 + 1), or for one last pixel
 * (`two` = 0: only px0 is written): the convolution's requantized pair in `conv` (2 *
 * out_c bytes), then the add. Each residual element is read just before its write (out
 * may be the residual). */
static __attribute__((noinline)) void channels_2_add(const dsp_sink *s, const uint32_t *x,
                                                    const int8_t *w, int32_t g, size_t px0,
                                                    int32_t two, int8_t *conv) {
  const int32_t out_c = s->p->win.out_c;
  int8_t *o = s->out + px0 * (size_t)out_c;
  const int8_t *r = s->residual + px0 * (size_t)out_c;
  const int32_t n = two ? 2 * out_c : out_c;
  int32_t i;
  channels_2(s, x, w, g, conv, conv + out_c);
  for (i = 0; i < n; ++i) o[i] = add_out(s, conv[i], r[i]);
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
  int8_t *conv = stage + (wn->in_c & 3 ? 4 * g : 0);  /* 2 * out_c bytes (add) */
  size_t px;
  if (wn->in_c & 3) /* the padding of the last group: zero weights, but read */
    for (px = (size_t)k; px < (size_t)(4 * g); ++px) stage[px] = 0;
  for (px = 0; px < pixels; px += 2) {
    const size_t q = px + 1 < pixels ? px + 1 : px;
    const int32_t b0 = (int32_t)(px / (size_t)hw), r0 = (int32_t)(px % (size_t)hw);
    const int32_t b1 = (int32_t)(q / (size_t)hw), r1 = (int32_t)(q % (size_t)hw);
    expand_window(s->p, in, b0, r0 / wn->out_w, r0 % wn->out_w, x, 4, 2, stage);
    expand_window(s->p, in, b1, r1 / wn->out_w, r1 % wn->out_w, x + 1, 4, 2, stage);
    if (!add)
      channels_2(s, x, w, g, s->out + px * (size_t)wn->out_c, s->out + q * (size_t)wn->out_c);
    else
      channels_2_add(s, x, w, g, px, q != px, conv);
  }
}

void edgeir_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const edgeir_rq *rq, int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, rq, 0, 0, 0, 0, out};
  conv_pixels(&s, in, w, scratch, 0);
}

void edgeir_conv_add_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                            const edgeir_rq *rq, const edgeir_add_s8_params *add,
                            const int32_t *lut, const edgeir_rq *out_rq,
                            const int8_t *residual, int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, rq, add, lut, out_rq, residual, out};
  conv_pixels(&s, in, w, scratch, 1);
}

/* 1x1, stride 1, no padding; both input pixels of a pair are expanded before either output
 * pixel is written, so the in-place rules of edgeir_pointwise_conv_s8 (forward) and
 * edgeir_pointwise_conv_s8_reverse (backward) hold unchanged. */
static void pointwise(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                      const edgeir_rq *rq, int8_t *out, int8_t *scratch, int reverse) {
  const dsp_sink s = {p, rq, 0, 0, 0, 0, out};
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
    channels_2(&s, x, w, g, out + px * (size_t)p->win.out_c, out + q * (size_t)p->win.out_c);
  }
}

void edgeir_pointwise_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                  const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                  int8_t *scratch) {
  pointwise(p, in, w, rq, out, scratch, 0);
}

void edgeir_pointwise_conv_s8_dsp_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch) {
  pointwise(p, in, w, rq, out, scratch, 1);
}

/* ---- fully connected ----------------------------------------------------------------------- */

/* One 4-group of a channel quad against one input word, sign-extended on the fly into pe
 * (bytes 0, 2) and po (1, 3); the quad's weights are 4 words, one per channel. */
#define FC_STEP_4(pe, po, w)                                                                  \
  do {                                                                                        \
    const uint32_t w0 = ld32(w), w1 = ld32((w) + 4), w2 = ld32((w) + 8), w3 = ld32((w) + 12); \
    a0 = dsp_smlad(dsp_odd(w0), (po), dsp_smlad(dsp_even(w0), (pe), a0));                    \
    a1 = dsp_smlad(dsp_odd(w1), (po), dsp_smlad(dsp_even(w1), (pe), a1));                    \
    a2 = dsp_smlad(dsp_odd(w2), (po), dsp_smlad(dsp_even(w2), (pe), a2));                    \
    a3 = dsp_smlad(dsp_odd(w3), (po), dsp_smlad(dsp_even(w3), (pe), a3));                    \
  } while (0)

/* a0..a3 += four output channels of one input row over g >= 1 whole groups, the row's int8
 * words sign-extended on the fly (an int16 copy of the row would cost 2 * in_features bytes
 * of RAM: the fully connected layers of small models are where RAM is tightest): the path
 * of the rows fc_quads_asm does not take. */
#define FC_4(x_, w_, g_)                                                                      \
  do {                                                                                        \
    const int8_t *fx = (x_), *fw = (w_);                                                        \
    int32_t fg = (g_);                                                                         \
    for (; fg > 0; --fg, fx += 4, fw += 16) {                                                     \
      const uint32_t v = ld32(fx);                                                             \
      FC_STEP_4(dsp_even(v), dsp_odd(v), fw);                                                  \
    }                                                                                         \
  } while (0)

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* The whole channel quads of one row in one routine of assembly (fc_quads_asm), for rows of
 * whole 4-groups and layers in the fast form without a narrower activation range. Its
 * frame: */
typedef struct {
  int8_t *y;          /* [0]  outputs of the first quad */
  const edgeir_rq *q; /* [4]  their records */
  const int8_t *x;    /* [8]  the input row */
  int32_t g;          /* [12] its 4-groups, >= 1 */
  int8_t *end;        /* [16] y + 4 * quads, quads >= 1 */
  const int8_t *w;    /* [20] the weights of the first quad */
} dsp_quads;

/* One 4-group of a quad: the input word sign-extended (r8: bytes 0 and 2, r9: 1 and 3), the
 * four channels' words in one LDM (r4-r7), each sign-extended in place after its even half
 * went through r10; accumulators r0-r3. 20 instructions for 16 MACs. */
#define QUAD_CHANNEL(W, A)                                                                    \
  "sxtb16 r10, " W "\n\t"                                                                    \
  "smlad " A ", r10, r8, " A "\n\t"                                                          \
  "sxtb16 " W ", " W ", ror #8\n\t"                                                          \
  "smlad " A ", " W ", r9, " A "\n\t"
#define QUADS_GROUP                                                                           \
  "ldr r9, [r11], #4\n\t"                                                                    \
  "ldm r12!, {r4, r5, r6, r7}\n\t"                                                           \
  "sxtb16 r8, r9\n\t"                                                                        \
  "sxtb16 r9, r9, ror #8\n\t" QUAD_CHANNEL("r4", "r0") QUAD_CHANNEL("r5", "r1")              \
      QUAD_CHANNEL("r6", "r2") QUAD_CHANNEL("r7", "r3")

static __attribute__((naked, noinline)) void fc_quads_asm(const dsp_quads *job
                                                          __attribute__((unused))) {
  __asm__(
      ROUTINE_ENTRY("20")
      "ldm r0, {r1, r2, r3, r4, r5, r12}\n\t"
      "stm sp, {r1, r2, r3, r4, r5}\n"
      "1:\n\t"
      "ldr r11, [sp, #4]\n\t"
      "ldr r0, [r11]\n\t"
      "ldr r1, [r11, #16]\n\t"
      "ldr r2, [r11, #32]\n\t"
      "ldr r3, [r11, #48]\n\t"
      "ldrd r11, lr, [sp, #8]\n\t" GROUPS_2(QUADS_GROUP)
      "ldm sp, {r10, r11}\n\t"
      "ldm r11!, {r4, r5, r6, r7}\n\t" PAIRS_OUT("r0", "[r10]")
      "ldm r11!, {r4, r5, r6, r7}\n\t" PAIRS_OUT("r1", "[r10, #1]")
      "ldm r11!, {r4, r5, r6, r7}\n\t" PAIRS_OUT("r2", "[r10, #2]")
      "ldm r11!, {r4, r5, r6, r7}\n\t" PAIRS_OUT("r3", "[r10, #3]")
      "add r10, r10, #4\n\t" ROUTINE_NEXT("16", "20"));
}
#endif

/* The quads of one row from w, q on in C: n outputs to y. */
static DSP_COLD __attribute__((noinline)) void fc_c(const edgeir_fc_s8_params *p,
                                                    const int8_t *x, const int8_t *tail,
                                                    const int8_t *w, const edgeir_rq *q,
                                                    int8_t *y, int32_t n, int32_t mode) {
  const int32_t k = p->in_features, full = k / 4, g = (k + 3) / 4;
  int32_t o, i;
  for (o = 0; o < n; o += 4, w += 16 * g, q += 4) {
    int32_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias, seg;
    int8_t v[4];
    for (seg = 0; seg < 2; ++seg) /* the whole groups, then a partial last one */
      if (seg ? full < g : full > 0)
        FC_4(seg ? tail : x, seg ? w + 16 * full : w, seg ? 1 : full);
    {
      const int32_t acc[4] = {a0, a1, a2, a3};
      rq_4(v, acc, q, 3, p->out_zp, mode, p->act_min, p->act_max);
    }
    for (i = 0; i < 4 && o + i < n; ++i) y[o + i] = v[i];
  }
}

/* Weights in the fully connected DSP layout: output channels in quads (padded with zero
 * filters), per quad the reduction in 4-groups, [out/4][k4/4][4][4]; 4 * out/4 records. */
void edgeir_fc_s8_dsp(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                      const edgeir_rq *rq, int8_t *out) {
  const int32_t k = p->in_features, n = p->out_features, full = k / 4;
  const int32_t mode = rq_mode(rq, p->act_min, p->act_max);
  int32_t b, o;
  for (b = 0; b < p->batch; ++b) {
    const int8_t *x = in + (size_t)b * (size_t)k, *wp = w;
    const edgeir_rq *q = rq;
    int8_t *y = out + (size_t)b * (size_t)n;
    int8_t tail[4] = {0, 0, 0, 0}; /* a partial last group of the row, zero padded */
    int32_t i;
    for (i = 4 * full; i < k; ++i) tail[i - 4 * full] = x[i];
    o = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    if (!mode && 4 * full == k && n >= 4) {
      const int32_t quads = n / 4, g = full;
      const dsp_quads job = {y, q, x, g, y + 4 * quads, wp};
      fc_quads_asm(&job);
      o = 4 * quads;
      wp += (size_t)16 * (size_t)g * (size_t)quads;
      q += o;
    }
#endif
    if (o < n) fc_c(p, x, tail, wp, q, y + o, n - o, mode);
  }
}

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
static __attribute__((naked, noinline)) void dw3_fast_asm(const dw3_job *job
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

static __attribute__((noinline)) void dw3_row_lean(const uint32_t *const *r, const int32_t *wg,
                                                   const edgeir_rq *q, int32_t step, int8_t *o,
                                                   int32_t out_w, int32_t c_n) {
  dw3_row(r[0], r[1], r[2], wg, q, step, o, out_w, c_n, 1);
}

/* One input row of a channel group (nc <= 4 channels, the missing ones 0) into its ring
 * row: n pixels, raw (lean) or sign-extended into two words. */
static __attribute__((noinline)) void ring_row(uint32_t *dst, const int8_t *src, int32_t n,
                                               int32_t c_n, int32_t nc, int lean) {
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
    for (; src != end; src += c_n) *dst++ = ld32(src);
  } else {
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
static void depthwise_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int32_t *w,
                          const edgeir_rq *rq, int8_t *out, int8_t *scratch, int lean) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, k_h = wn->k_h, k_w = wn->k_w;
  const int32_t s_h = wn->stride_h, s_w = wn->stride_w, d_h = wn->dil_h, d_w = wn->dil_w;
  const int32_t pad_t = wn->pad_top, pad_l = wn->pad_left, taps = k_h * k_w;
  const int32_t mode = rq_mode(rq, p->act_min, p->act_max);
  const int32_t ring = (k_h - 1) * d_h + 1, px = lean ? 1 : 2;
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
      const int32_t nc = c_n - c < 4 ? c_n - c : 4;
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
            for (kx = 0; kx < k_w; ++kx)
              DW_TAP_PX(rr + (size_t)((x * s_w + kx * d_w) * px), wg + (ky * k_w + kx) * 2,
                        lean);
          }
          dw_store(o, nc, q, a0, a1, a2, a3, p, mode);
        }
      }
    }
  }
}

void edgeir_depthwise_conv_s8_inplace_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int32_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch) {
  depthwise_dsp(p, in, w, rq, out, scratch, 0);
}

void edgeir_depthwise_conv_s8_inplace_dsp_lean(const edgeir_conv_s8_params *p,
                                               const int8_t *in, const int32_t *w,
                                               const edgeir_rq *rq, int8_t *out,
                                               int8_t *scratch) {
  depthwise_dsp(p, in, w, rq, out, scratch, 1);
}
