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
 *
 * The primitives, the requantization, the input expansion and the depthwise kernel are in
 * edgeir_s8_dsp.h: a model compiled with --specialize instantiates the expansion and the
 * depthwise kernel per layer from there, on the layer's constant shape, and passes them to
 * the *_spec entries below (or calls them directly).
 */
#include "edgeir_s8_dsp.h"

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
  const int32_t *lut;              /* the add's scaled operands, see channels_2_add */
  const edgeir_rq *out_rq;         /* the add's output requantization */
  const int8_t *residual;
  int8_t *out;
} dsp_sink;


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
  /* The int8 add (TFLM ADD) of the convolution's requantized value and the residual. Each
   * operand's scaled value, ((x - zp) << left_shift) times its multiplier, depends on one
   * int8 only: lower-c tabulated both (lut[0..255]: the convolution's operand, lut[256..511]:
   * the residual's, indexed by value + 128), so the add is two loads and the output
   * requantization. Everything it reads is in locals first: the int8 stores may alias the
   * parameter blocks for the compiler, which would reload them at every output. */
  const int32_t *lc = s->lut + 128, *lr = s->lut + 256 + 128;
  const int32_t mult = s->out_rq->mult, round = s->out_rq->round, shift = s->out_rq->shift;
  const int32_t lo = s->add->act_min, hi = s->add->act_max;
  int32_t i;
  channels_2(s, x, w, g, conv, conv + out_c);
  /* r[i] is read before o[i] is written: out may be the residual */
  if (lo == -128 && hi == 127) /* int8's full range: the clamp is a saturation */
    for (i = 0; i < n; ++i)
      o[i] = (int8_t)dsp_ssat8(rq_core(lc[conv[i]] + lr[r[i]], mult, round, shift));
  else
    for (i = 0; i < n; ++i)
      o[i] = (int8_t)edgeir_clamp_i32(rq_core(lc[conv[i]] + lr[r[i]], mult, round, shift),
                                      lo, hi);
}

/* ---- convolutions -------------------------------------------------------------------------- */

/* The pixels of a dense convolution in pairs (row-major, across rows and images). With
 * `add`, the fused conv + add (its odd last pixel alone, in place over the residual);
 * without, an odd last pixel fills both slots. */
static inline __attribute__((always_inline)) void conv_pixels(const dsp_sink *s,
                                                              const int8_t *in,
                                                              const int8_t *w, int8_t *scratch,
                                                              int add, int spec,
                                                              edgeir_dsp_window window) {
  /* spec: the layer's own expansion `window`, else the run-time one (a constant in each
   * instantiation, so neither carries the other's code) */
  const edgeir_window *wn = &s->p->win;
  const int32_t k = wn->k_h * wn->k_w * wn->in_c, g = (k + 3) / 4;
  const size_t pixels = (size_t)wn->batch * (size_t)(wn->out_h * wn->out_w);
  uint32_t *x = (uint32_t *)(void *)scratch;          /* 4 * g words */
  int8_t *stage = scratch + (size_t)16 * (size_t)g;   /* 4 * g bytes (in_c % 4 != 0) */
  int8_t *conv = stage + (wn->in_c & 3 ? 4 * g : 0);  /* 2 * out_c bytes (add) */
  size_t px;
  if (wn->in_c & 3) /* the padding of the last group: zero weights, but read */
    for (px = (size_t)k; px < (size_t)(4 * g); ++px) stage[px] = 0;
  for (px = 0; px < pixels; px += 2) {
    const size_t q = px + 1 < pixels ? px + 1 : px;
    if (spec) {
      window(in, px, x, stage);
      window(in, q, x + 1, stage);
    } else {
      expand_window(s->p, in, px, x, stage);
      expand_window(s->p, in, q, x + 1, stage);
    }
    if (!add)
      channels_2(s, x, w, g, s->out + px * (size_t)wn->out_c, s->out + q * (size_t)wn->out_c);
    else
      channels_2_add(s, x, w, g, px, q != px, conv);
  }
}

void edgeir_conv_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                             const edgeir_rq *rq, int8_t *out, int8_t *scratch,
                             edgeir_dsp_window window) {
  const dsp_sink s = {p, rq, 0, 0, 0, 0, out};
  conv_pixels(&s, in, w, scratch, 0, 1, window);
}

void edgeir_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const edgeir_rq *rq, int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, rq, 0, 0, 0, 0, out};
  conv_pixels(&s, in, w, scratch, 0, 0, 0);
}

void edgeir_conv_add_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in,
                                 const int8_t *w, const edgeir_rq *rq,
                                 const edgeir_add_s8_params *add, const int32_t *lut,
                                 const edgeir_rq *out_rq, const int8_t *residual, int8_t *out,
                                 int8_t *scratch, edgeir_dsp_window window) {
  const dsp_sink s = {p, rq, add, lut, out_rq, residual, out};
  conv_pixels(&s, in, w, scratch, 1, 1, window);
}

void edgeir_conv_add_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                            const edgeir_rq *rq, const edgeir_add_s8_params *add,
                            const int32_t *lut, const edgeir_rq *out_rq,
                            const int8_t *residual, int8_t *out, int8_t *scratch) {
  const dsp_sink s = {p, rq, add, lut, out_rq, residual, out};
  conv_pixels(&s, in, w, scratch, 1, 0, 0);
}

/* 1x1, stride 1, no padding; both input pixels of a pair are expanded before either output
 * pixel is written, so the in-place rules of edgeir_pointwise_conv_s8 (forward) and
 * edgeir_pointwise_conv_s8_reverse (backward) hold unchanged. */
static inline __attribute__((always_inline)) void pointwise(
    const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w, const edgeir_rq *rq,
    int8_t *out, int8_t *scratch, int reverse, int spec, edgeir_dsp_window pixel) {
  const dsp_sink s = {p, rq, 0, 0, 0, 0, out};
  const int32_t c = p->win.in_c, g = (c + 3) / 4;
  const size_t pixels = (size_t)p->win.batch * (size_t)(p->win.out_h * p->win.out_w);
  uint32_t *x = (uint32_t *)(void *)scratch;
  size_t i;
  for (i = 0; i < pixels; i += 2) {
    const int two = i + 1 < pixels;
    const size_t px = reverse ? pixels - i - 1 - (size_t)two : i;  /* the pair's first */
    const size_t q = two ? px + 1 : px;   /* an odd last pixel fills both slots */
    if (spec) { /* the layer's own expansion, else the run-time one (see conv_pixels) */
      pixel(in, px, x, 0);
      pixel(in, q, x + 1, 0);
    } else {
      expand(in + px * (size_t)c, c, x);
      expand(in + q * (size_t)c, c, x + 1);
    }
    channels_2(&s, x, w, g, out + px * (size_t)p->win.out_c, out + q * (size_t)p->win.out_c);
  }
}

static __attribute__((noinline)) void pointwise_generic(const edgeir_conv_s8_params *p,
                                                        const int8_t *in, const int8_t *w,
                                                        const edgeir_rq *rq, int8_t *out,
                                                        int8_t *scratch, int reverse) {
  pointwise(p, in, w, rq, out, scratch, reverse, 0, 0);
}

void edgeir_pointwise_conv_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in,
                                       const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                       int8_t *scratch, int reverse, edgeir_dsp_window pixel) {
  pointwise(p, in, w, rq, out, scratch, reverse, 1, pixel);
}

void edgeir_pointwise_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                  const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                  int8_t *scratch) {
  pointwise_generic(p, in, w, rq, out, scratch, 0);
}

void edgeir_pointwise_conv_s8_dsp_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch) {
  pointwise_generic(p, in, w, rq, out, scratch, 1);
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

void edgeir_depthwise_conv_s8_inplace_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int32_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch) {
  depthwise_dsp(p, in, w, rq, out, scratch, 0, -1);
}

void edgeir_depthwise_conv_s8_inplace_dsp_lean(const edgeir_conv_s8_params *p,
                                               const int8_t *in, const int32_t *w,
                                               const edgeir_rq *rq, int8_t *out,
                                               int8_t *scratch) {
  depthwise_dsp(p, in, w, rq, out, scratch, 1, -1);
}
