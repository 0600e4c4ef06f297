/* edgeir kernel library: the contract between generated model code and the kernels.
 *
 * C99, no malloc, no stdio, no recursion. Activations are NHWC (channels last), row-major.
 * Every kernel is a plain function taking a const parameter struct that the generated
 * code defines as `static const` data, plus pointers to the arena and to constant tables.
 *
 * int8 semantics are those of the TFLite Micro reference kernels (see edgeir's
 * compiler/ops/qnn.py, the golden model): int32 accumulation, requantization with
 * edgeir_mbqm (TFLM MultiplyByQuantizedMultiplier, double rounding), then the output zero
 * point and the activation clamp. The input zero point is folded into the bias at compile
 * time: bias'[c] = bias[c] - in_zp * sum(w[c]); padding taps therefore read the value
 * in_zp (so that they contribute w * (in_zp - in_zp) = 0 after the folding).
 *
 * Float kernels compute in float32; a fused activation is a clamp [act_min, act_max]
 * (+-INFINITY when open).
 */
#ifndef EDGEIR_KERNELS_H
#define EDGEIR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed-point helpers (TFLM / gemmlowp semantics) -------------------------------- */

/* SaturatingRoundingDoublingHighMul: (a * b * 2 + 2^31 rounding nudge) >> 32, saturating
 * the single overflow case a == b == INT32_MIN. */
static inline int32_t edgeir_srdhm(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * (int64_t)b;
  int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
  /* division (not shift): truncation toward zero, as gemmlowp */
  return (int32_t)((ab + nudge) / (1LL << 31));
}

/* RoundingDivideByPOT: x / 2^exponent rounded half away from zero (0 <= exponent <= 31). */
static inline int32_t edgeir_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
  return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (double rounding): shift > 0 is a left shift. */
static inline int32_t edgeir_mbqm(int32_t x, int32_t mult, int32_t shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return edgeir_rdbpot(edgeir_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0), used by int8 ADD. */
static inline int32_t edgeir_mbqm_small(int32_t x, int32_t mult, int32_t shift) {
  return edgeir_rdbpot(edgeir_srdhm(x, mult), -shift);
}

static inline int32_t edgeir_clamp_i32(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- shared parameter blocks ----------------------------------------------------------- */

/* Broadcasting for elementwise binary ops: shapes padded to rank 4 (leading 1s). Element
 * (i0, i1, i2, i3) of the output reads a[sum(i_k * a_stride[k])] and b[...]; a stride is 0
 * on a broadcast dimension. out is dense with shape `shape`. */
typedef struct {
  int32_t shape[4];
  int32_t a_stride[4];
  int32_t b_stride[4];
} edgeir_bcast4;

/* 2-D windows over NHWC. pad_bottom/pad_right are the explicit end paddings (used by the
 * float average pool's divisor with count_include_pad; windows never read past them). */
typedef struct {
  int32_t batch, in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w;
  int32_t pad_top, pad_left, pad_bottom, pad_right;
} edgeir_window;

/* ---- in-place and overlapping buffers ----------------------------------------------------
 * The memory planner relies on two properties, checked by the tests with its real offsets:
 * - window kernels (conv, conv_hwio, depthwise, avg/max pool; int8 and float) compute the
 *   output pixels in row-major order (batch, row, column), finish each pixel before the
 *   next, and read only the input rows of the current pixel's window. So output row r may
 *   overwrite input rows that no later output row reads: the output may start below the
 *   input by the offset lower-c computes (the `overlap` attribute in the IR);
 * - elementwise kernels (unary, binary, add, mul, requantize, quantize) read element i no
 *   later than they write it: they run in place on an operand of the result's shape.
 * -------------------------------------------------------------------------------------------- */

/* ---- int8 kernels ------------------------------------------------------------------------- */

typedef struct {
  edgeir_window win;
  int32_t groups;          /* 1, in_c (depthwise), or any divisor of in_c */
  int32_t in_zp;           /* the value of padding taps */
  int32_t out_zp, act_min, act_max;
} edgeir_conv_s8_params;

/* Convolution. w: [out_c][k_h][k_w][in_c / groups]. bias (zero point folded), mult, shift:
 * [out_c]. */
void edgeir_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                    int8_t *out);

/* The same for groups == 1 with weights [k_h][k_w][in_c][out_c] (HWIO): the inner loop
 * runs over output channels, which vectorizes. What lower-c picks for dense convs. */
void edgeir_conv_s8_hwio(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         int8_t *out);

/* In place (edgeir_inplace.c). Depthwise with out_c == in_c, channel by channel through a
 * ring of ((k_h - 1) * dil_h + 1) input rows (`scratch`, in_w bytes each): `out` may be
 * `in` itself (when each output row overwrites only input rows already saved, which
 * lower-c checks) or disjoint from it. Pointwise
 * (1x1, stride 1, no padding, groups 1; weights [in_c][out_c]) through `scratch` (out_c
 * int32 accumulators, 4-byte aligned): output pixel p may overwrite input pixels 0..p. */
void edgeir_depthwise_conv_s8_inplace(const edgeir_conv_s8_params *p, const int8_t *in,
                                      const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int8_t *out,
                                      int8_t *scratch);
void edgeir_pointwise_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in,
                              const int8_t *w, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *out, int8_t *scratch);
/* The same from the last pixel to the first: with out_c >= in_c, `out` may be `in`. */
void edgeir_pointwise_conv_s8_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                      const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int8_t *out,
                                      int8_t *scratch);

/* Depthwise convolution (groups == in_c; out_c == in_c * depth multiplier).
 * w: [k_h][k_w][out_c] (output channel oc reads input channel oc / multiplier). */
void edgeir_depthwise_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in,
                              const int8_t *w, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *out);

typedef struct {
  int32_t batch, in_features, out_features;
  int32_t out_zp, act_min, act_max;
} edgeir_fc_s8_params;

/* Fully connected: out[b][o] = requant(bias[o] + sum_k w[o][k] * in[b][k]).
 * w: [out_features][in_features]; bias (zero point folded), mult, shift: [out_features]. */
void edgeir_fc_s8(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

typedef struct {
  edgeir_bcast4 bc;
  int32_t a_zp, b_zp, out_zp, left_shift;
  int32_t a_mult, a_shift, b_mult, b_shift, out_mult, out_shift;
  int32_t act_min, act_max;
} edgeir_add_s8_params;

/* TFLM int8 ADD: ((a - a_zp) << left_shift) scaled by a_mult/a_shift with
 * edgeir_mbqm_small, likewise b, summed, scaled by out_mult/out_shift, + out_zp, clamped. */
void edgeir_add_s8(const edgeir_add_s8_params *p, const int8_t *a, const int8_t *b,
                   int8_t *out);

typedef struct {
  edgeir_bcast4 bc;
  int32_t a_zp, b_zp, out_zp, mult, shift, act_min, act_max;
} edgeir_mul_s8_params;

/* TFLM int8 MUL: edgeir_mbqm((a - a_zp) * (b - b_zp), mult, shift) + out_zp, clamped. */
void edgeir_mul_s8(const edgeir_mul_s8_params *p, const int8_t *a, const int8_t *b,
                   int8_t *out);

/* A convolution fused with the int8 add that reads it (edgeir_inplace.c): groups 1,
 * weights [k_h][k_w][in_c][out_c]; the convolution's int8 output (as edgeir_conv_s8 gives
 * it) is added to `residual` with `add` (the convolution is the add's operand b when
 * conv_is_b; add->bc is not used: same shapes) and written to `out`, which may be
 * `residual`. `scratch`: out_c int32 accumulators. */
void edgeir_conv_add_s8(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        const edgeir_add_s8_params *add, int32_t conv_is_b,
                        const int8_t *residual, int8_t *out, int8_t *scratch);

/* Per output channel, the bias and requantization of the DSP kernels, folded at compile time:
 * out = MultiplyByQuantizedMultiplier(acc + bias, mult, -r) + out_zp with round = 2^(r - 2)
 * + out_zp * 2^(r - 1) and shift = r - 1 when every channel of the layer has a multiplier 0
 * or in [2^30, 2^31), a shift -r in [-31, -2] and |round| + 2^30 + 2 < 2^31 (see rq_core in
 * edgeir_s8_dsp.c); otherwise, for every channel, round = TFLM's shift and shift = 31 (the
 * general form, TFLM's arithmetic; the kernel adds out_zp). */
typedef struct {
  int32_t bias, mult, round, shift;
} edgeir_rq;

/* Kernels for cores with the DSP extension (edgeir_s8_dsp.c): dual 16-bit MACs, two output
 * channels of two pixels per pass. Same arithmetic and the same in-place rules as their
 * portable twins (conv: edgeir_conv_s8_hwio's window order; pointwise: forward/reverse;
 * conv_add; fc); correct on any core (plain C stands in for SMLAD/SXTB16 without DSP).
 * Weights in the DSP layout [out/2][k4/4][2][4] (k = k_h * k_w * in_c in (ky, kx, ci)
 * order, padded with zeros to k4, a multiple of 4; an odd out_c padded with a zero filter);
 * `rq`: out_c records, padded to an even count. The fully connected kernel takes output
 * channels in quads instead: [out/4][k4/4][4][4], records padded to a multiple of 4.
 * `scratch` (4-byte aligned): 16 * k4/4 bytes, plus k4 bytes when in_c % 4 != 0
 * (convolutions); the fully connected kernel needs none. The in-place depthwise twin takes
 * four channels at a time: weights [c4/4][k_h * k_w][2] words of int16 pairs (channels 0, 2
 * and 1, 3 of the group), c4 = c rounded up to a multiple of 4, c4 records; its scratch is
 * rows of int16 pairs (see the kernel). */
void edgeir_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const edgeir_rq *rq, int8_t *out, int8_t *scratch);
void edgeir_pointwise_conv_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                  const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                  int8_t *scratch);
void edgeir_pointwise_conv_s8_dsp_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch);
/* The fused conv + add: `lut` holds the add's scaled operands ((x - zp) << left_shift times
 * the operand's multiplier) for x = -128..127, the convolution's operand first, then the
 * residual's (512 int32); `out_rq` the add's output requantization (bias 0). */
void edgeir_conv_add_s8_dsp(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                            const edgeir_rq *rq, const edgeir_add_s8_params *add,
                            const int32_t *lut, const edgeir_rq *out_rq,
                            const int8_t *residual, int8_t *out, int8_t *scratch);
void edgeir_depthwise_conv_s8_inplace_dsp(const edgeir_conv_s8_params *p, const int8_t *in,
                                          const int32_t *w, const edgeir_rq *rq, int8_t *out,
                                          int8_t *scratch);
/* The same with half the scratch (raw int8 words in the ring, sign-extended at every tap):
 * lower-c's choice where the depthwise layer sets the arena's peak. */
void edgeir_depthwise_conv_s8_inplace_dsp_lean(const edgeir_conv_s8_params *p,
                                               const int8_t *in, const int32_t *w,
                                               const edgeir_rq *rq, int8_t *out,
                                               int8_t *scratch);
void edgeir_fc_s8_dsp(const edgeir_fc_s8_params *p, const int8_t *in, const int8_t *w,
                      const edgeir_rq *rq, int8_t *out);

/* The same convolutions with the expansion of a pixel's input (its im2col window into int16
 * pairs, edgeir_s8_dsp.h) passed in: what --specialize emits, one `window` per layer
 * instantiated on the layer's constant parameter block. `window` expands output pixel px's
 * input into the slot `dst` of a pixel pair's buffer (`stage`: the scratch's staging bytes
 * when in_c % 4 != 0). The pointwise kernel runs backward when `reverse` is set. */
typedef void (*edgeir_dsp_window)(const int8_t *in, size_t px, uint32_t *dst, int8_t *stage);
void edgeir_conv_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                             const edgeir_rq *rq, int8_t *out, int8_t *scratch,
                             edgeir_dsp_window window);
void edgeir_conv_add_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in,
                                 const int8_t *w, const edgeir_rq *rq,
                                 const edgeir_add_s8_params *add, const int32_t *lut,
                                 const edgeir_rq *out_rq, const int8_t *residual, int8_t *out,
                                 int8_t *scratch, edgeir_dsp_window window);
void edgeir_pointwise_conv_s8_dsp_spec(const edgeir_conv_s8_params *p, const int8_t *in,
                                       const int8_t *w, const edgeir_rq *rq, int8_t *out,
                                       int8_t *scratch, int reverse, edgeir_dsp_window pixel);

typedef struct {
  edgeir_window win;       /* in_c == out_c; dil 1 */
  int32_t act_min, act_max;
} edgeir_pool_s8_params;

/* TFLM average pool: sum of the in-bounds taps divided by their count, rounded half away
 * from zero; max pool: max of the in-bounds taps. Then clamped. */
void edgeir_avg_pool_s8(const edgeir_pool_s8_params *p, const int8_t *in, int8_t *out);
void edgeir_max_pool_s8(const edgeir_pool_s8_params *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t batch, h, w, c;
  int32_t in_zp, out_zp, mult, shift;
} edgeir_mean_s8_params;

/* TFLM MEAN over H and W (NHWC, keep dims): acc = sum(x - in_zp); acc = mbqm(acc);
 * acc = round-half-away(acc / (h * w)); + out_zp; clamped to int8. */
void edgeir_mean_s8(const edgeir_mean_s8_params *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t rows, depth;     /* softmax over the last axis of a [rows][depth] tensor */
  int32_t input_mult, input_left_shift, diff_min;
} edgeir_softmax_s8_params;

/* TFLM int8 softmax (gemmlowp fixed point; output scale 1/256, zero point -128). */
void edgeir_softmax_s8(const edgeir_softmax_s8_params *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t size;
  int32_t in_zp, input_mult, input_left_shift, input_range_radius;
} edgeir_sigmoid_s8_params;

/* TFLM int8 logistic (output 1/256, -128) and tanh (output 1/128, 0). */
void edgeir_logistic_s8(const edgeir_sigmoid_s8_params *p, const int8_t *in, int8_t *out);
void edgeir_tanh_s8(const edgeir_sigmoid_s8_params *p, const int8_t *in, int8_t *out);

typedef struct {
  int32_t size;
  int32_t in_zp, out_zp;
  int32_t out_mult_fixedpoint_int16, out_mult_exponent;
  int32_t reluish_mult_fixedpoint_int16, reluish_mult_exponent;
} edgeir_hard_swish_s8_params;

/* TFLM int8 hard swish (16-bit fixed point). */
void edgeir_hard_swish_s8(const edgeir_hard_swish_s8_params *p, const int8_t *in,
                          int8_t *out);

typedef struct {
  int32_t size;
  float scale;             /* the output's scale (float32) */
  int32_t zero_point;
  int32_t round_half_even; /* 0: TFLM (x / scale, roundf); 1: ONNX (x / scale, rintf) */
} edgeir_quantize_params;

/* float32 -> int8: clamp(round(x / scale) + zero_point, -128, 127). The quotient is a
 * float32 division. +-inf and out-of-range quotients saturate; NaN gives the zero point
 * (ARM's saturating conversion; x86 TFLM gives -128 or 127 there). */
void edgeir_quantize_f32_s8(const edgeir_quantize_params *p, const float *in, int8_t *out);
/* The same with the rounding fixed (round_half_even ignored): what generated code calls. */
void edgeir_quantize_f32_s8_half_away(const edgeir_quantize_params *p, const float *in,
                                      int8_t *out);
void edgeir_quantize_f32_s8_half_even(const edgeir_quantize_params *p, const float *in,
                                      int8_t *out);

typedef struct {
  int32_t size;
  float scale;
  int32_t zero_point;
} edgeir_dequantize_params;

/* int8 -> float32: (float)((double)scale * (x - zero_point)). */
void edgeir_dequantize_s8_f32(const edgeir_dequantize_params *p, const int8_t *in,
                              float *out);

typedef struct {
  int32_t size;
  int32_t in_zp, out_zp, mult, shift;
  int32_t in_unsigned, out_unsigned; /* 1: uint8 data, 0: int8 */
} edgeir_requantize_params;

/* int8/uint8 -> int8/uint8: edgeir_mbqm(x - in_zp, mult, shift) + out_zp, saturated to the
 * output type. in and out may be the same buffer. */
void edgeir_requantize_8(const edgeir_requantize_params *p, const void *in, void *out);

/* ---- float32 kernels ---------------------------------------------------------------------- */

typedef struct {
  edgeir_window win;
  int32_t groups;
  float act_min, act_max;
} edgeir_conv_f32_params;

/* w: [out_c][k_h][k_w][in_c / groups]; bias [out_c] or NULL. */
void edgeir_conv_f32(const edgeir_conv_f32_params *p, const float *in, const float *w,
                     const float *bias, float *out);
/* Depthwise: w [k_h][k_w][out_c] (out_c = in_c * multiplier); bias [out_c] or NULL. */
void edgeir_depthwise_conv_f32(const edgeir_conv_f32_params *p, const float *in,
                               const float *w, const float *bias, float *out);

/* Transposed convolution, NHWC. win describes the forward direction as ONNX does:
 * in_h/in_w/in_c the input, out_h/out_w/out_c the output, k/stride/dil, and pad_top/pad_left
 * the (cropped) begin paddings. w: [in_c][k_h][k_w][out_c / groups]. bias [out_c] or NULL. */
void edgeir_conv_transpose_f32(const edgeir_conv_f32_params *p, const float *in,
                               const float *w, const float *bias, float *out);

typedef struct {
  int32_t batch, in_features, out_features;
  float act_min, act_max;
} edgeir_fc_f32_params;

/* out[b][o] = clamp(bias[o] + sum_k w[o][k] * in[b][k]); w [out][in]; bias or NULL. */
void edgeir_fc_f32(const edgeir_fc_f32_params *p, const float *in, const float *w,
                   const float *bias, float *out);

typedef struct {
  int32_t batch;                     /* number of (M x K) @ (K x N) products */
  int32_t m, n, k;
  int32_t a_batch_stride, b_batch_stride;  /* 0 broadcasts one operand over the batch */
  int32_t trans_a, trans_b;          /* operand stored transposed (K x M) / (N x K) */
  float alpha, beta;                 /* out = alpha * A' @ B' + beta * C */
  edgeir_bcast4 c_bc;                /* how C (may be NULL) broadcasts over [batch, m, n] */
  float act_min, act_max;
} edgeir_matmul_f32_params;

/* General (batched) matmul / gemm. */
void edgeir_matmul_f32(const edgeir_matmul_f32_params *p, const float *a, const float *b,
                       const float *c, float *out);

enum { EDGEIR_ADD = 0, EDGEIR_SUB = 1, EDGEIR_MUL = 2, EDGEIR_DIV = 3 };

typedef struct {
  edgeir_bcast4 bc;
  int32_t op;                        /* EDGEIR_ADD ... EDGEIR_DIV */
  float act_min, act_max;
} edgeir_binary_f32_params;

void edgeir_binary_f32(const edgeir_binary_f32_params *p, const float *a, const float *b,
                       float *out);

enum {
  EDGEIR_RELU = 0, EDGEIR_LEAKY_RELU = 1, EDGEIR_CLIP = 2, EDGEIR_SIGMOID = 3,
  EDGEIR_TANH = 4, EDGEIR_HARD_SIGMOID = 5, EDGEIR_HARD_SWISH = 6
};

typedef struct {
  int32_t size;
  int32_t op;                        /* EDGEIR_RELU ... */
  float alpha, beta;                 /* leaky: alpha; clip: [alpha, beta]; hard sigmoid */
} edgeir_unary_f32_params;

/* in and out may be the same buffer. */
void edgeir_unary_f32(const edgeir_unary_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t outer, axis, inner;        /* over `axis` of an [outer][axis][inner] view */
} edgeir_softmax_f32_params;

/* Softmax and log-softmax are separate functions so that a model without log-softmax
 * does not link logf. */
void edgeir_softmax_f32(const edgeir_softmax_f32_params *p, const float *in, float *out);
void edgeir_log_softmax_f32(const edgeir_softmax_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t outer, axis, inner;        /* over `axis` of an [outer][axis][inner] view */
  int32_t size;                      /* window: channels c - (size-1)/2 .. c + size/2 */
  float alpha_over_size, beta, bias;
} edgeir_lrn_f32_params;

/* ONNX LRN: out = in / (bias + alpha/size * sum of in^2 over the window)^beta. */
void edgeir_lrn_f32(const edgeir_lrn_f32_params *p, const float *in, float *out);

typedef struct {
  edgeir_window win;
  int32_t count_include_pad;         /* average pool divisor counts explicit padding */
  float act_min, act_max;
} edgeir_pool_f32_params;

/* Pads never extend past pad_bottom/pad_right; taps beyond the input (padding) are skipped
 * by max pool, and count in the average pool's divisor only with count_include_pad (and
 * only up to the explicit pads). */
void edgeir_avg_pool_f32(const edgeir_pool_f32_params *p, const float *in, float *out);
void edgeir_max_pool_f32(const edgeir_pool_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t outer, axis, inner;        /* reduce over `axis` of an [outer][axis][inner] view */
  int32_t op;                        /* 0: mean, 1: max */
} edgeir_reduce_f32_params;

void edgeir_reduce_f32(const edgeir_reduce_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t outer, channels, inner;    /* out = in * scale[c] + shift[c] over [outer][c][inner] */
} edgeir_channel_affine_f32_params;

void edgeir_channel_affine_f32(const edgeir_channel_affine_f32_params *p, const float *in,
                               const float *scale, const float *shift, float *out);

/* ---- data movement (any element type: sizes in bytes) -------------------------------------- */

#define EDGEIR_MAX_RANK 6

typedef struct {
  int32_t rank;
  int32_t elem_size;
  int32_t out_shape[EDGEIR_MAX_RANK];
  int32_t in_stride[EDGEIR_MAX_RANK];  /* elements; input offset of output index i is
                                          sum(i_k * in_stride[k]) + in_offset */
  int32_t in_offset;
} edgeir_strided_params;

/* out (dense, out_shape) = gather of in at the strided offsets: transpose, slice (negative
 * steps too) and broadcast are all this. */
void edgeir_strided_copy(const edgeir_strided_params *p, const void *in, void *out);

typedef struct {
  int32_t outer;                     /* product of the dims before the axis */
  int32_t inner_bytes;               /* (axis dim of this piece) * (product after) * elem */
  int32_t out_inner_bytes;           /* the same for the whole concatenated tensor */
  int32_t out_offset_bytes;          /* where this piece starts within an output row */
} edgeir_concat_piece;

/* One concat input (or, with in/out swapped, one split output) copied into place. */
void edgeir_concat_piece_copy(const edgeir_concat_piece *p, const void *in, void *out);
void edgeir_split_piece_copy(const edgeir_concat_piece *p, const void *in, void *out);

typedef struct {
  int32_t rank;
  int32_t elem_size;
  int32_t in_shape[EDGEIR_MAX_RANK];
  int32_t pad_before[EDGEIR_MAX_RANK];   /* >= 0 (negative pads are lowered to a slice) */
  int32_t out_shape[EDGEIR_MAX_RANK];
  const void *value;                     /* one element: the constant pad value */
} edgeir_pad_params;

/* Constant-mode pad. */
void edgeir_pad(const edgeir_pad_params *p, const void *in, void *out);

typedef struct {
  int32_t rank;
  int32_t elem_size;
  int32_t in_shape[EDGEIR_MAX_RANK];
  int32_t out_shape[EDGEIR_MAX_RANK];
  const int32_t *index[EDGEIR_MAX_RANK]; /* per output axis: the input index it reads, or
                                            NULL for the identity (out_shape == in_shape) */
} edgeir_gather_nd_params;

/* out[i0..] = in[index[0][i0], index[1][i1], ...]: gather along one axis, nearest resize,
 * reflect/edge padding are all this, with index tables computed at compile time. */
void edgeir_gather_axes(const edgeir_gather_nd_params *p, const void *in, void *out);

#ifdef __cplusplus
}
#endif

#endif /* EDGEIR_KERNELS_H */
