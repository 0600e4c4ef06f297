/* Runs the int8 kernels (backends/c/runtime/edgeir_s8.c) on edge cases: extreme zero points,
 * biases near INT32_MIN/INT32_MAX, multipliers INT32_MAX, shifts +-31, all-padding windows,
 * softmax rows past TFLM's reciprocal range, extreme activation parameters, NaN/inf.
 * Built with -fsanitize=address,undefined -fno-sanitize-recover=all by
 * tests/test_c_kernels_s8.py: any UB or out-of-bounds access aborts. Buffers are sized
 * exactly so that ASan sees any overrun. Returns non-zero if a checked value is wrong.
 * Prints a checksum of the outputs of fast_path_cases(): the test builds this program with
 * and without the x86 fast paths (-march=native) and requires the same checksum. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeir_kernels.h"

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort();
  return p;
}

static int8_t *fill8(size_t n, int8_t v) {
  int8_t *p = (int8_t *)xmalloc(n);
  memset(p, (unsigned char)v, n);
  return p;
}

static int32_t *fill32(size_t n, int32_t v) {
  int32_t *p = (int32_t *)xmalloc(n * sizeof(int32_t));
  size_t i;
  for (i = 0; i < n; ++i) p[i] = v;
  return p;
}

static edgeir_window win(int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh, int32_t ow,
                         int32_t oc, int32_t k, int32_t s, int32_t d, int32_t pt, int32_t pl,
                         int32_t pb, int32_t pr) {
  edgeir_window r;
  r.batch = n; r.in_h = h; r.in_w = w; r.in_c = c;
  r.out_h = oh; r.out_w = ow; r.out_c = oc;
  r.k_h = k; r.k_w = k; r.stride_h = s; r.stride_w = s; r.dil_h = d; r.dil_w = d;
  r.pad_top = pt; r.pad_left = pl; r.pad_bottom = pb; r.pad_right = pr;
  return r;
}

static void conv_cases(void) {
  static const int32_t biases[] = {INT32_MIN, INT32_MIN + 1, -1, 0, INT32_MAX - 1, INT32_MAX};
  static const int32_t shifts[] = {-31, -1, 0, 1, 30, 31};
  static const int8_t vals[] = {-128, 127, 0};
  static const int32_t zps[] = {-128, 127};
  size_t bi, si, vi, zi;
  for (bi = 0; bi < sizeof biases / sizeof biases[0]; ++bi)
    for (si = 0; si < sizeof shifts / sizeof shifts[0]; ++si)
      for (vi = 0; vi < 3; ++vi)
        for (zi = 0; zi < 2; ++zi) {
          /* 5x5 input, 3 channels, 3x3 kernel, stride 2, dilation 2, pads 3/1/2/4 */
          const int32_t c = 4, oc = 4;
          edgeir_conv_s8_params p;
          int8_t *in = fill8(5 * 5 * 4, vals[vi]);
          int8_t *w = fill8((size_t)oc * 3 * 3 * 4, (int8_t)(vals[vi] ^ 1));
          int32_t *bias = fill32((size_t)oc * 2, biases[bi]);
          int32_t *mult = fill32((size_t)oc * 2, INT32_MAX);
          int32_t *shift = fill32((size_t)oc * 2, shifts[si]);
          int8_t *out;
          int32_t oh = (5 + 3 + 2 - 4 - 1) / 2 + 1, ow = (5 + 1 + 4 - 4 - 1) / 2 + 1;
          p.win = win(1, 5, 5, c, oh, ow, oc, 3, 2, 2, 3, 1, 2, 4);
          p.in_zp = zps[zi];
          p.out_zp = zps[1 - zi];
          p.act_min = -128;
          p.act_max = 127;
          p.groups = 1;
          out = fill8((size_t)(oh * ow * oc), 0);
          edgeir_conv_s8(&p, in, w, bias, mult, shift, out);
          edgeir_conv_s8(&p, in, w, NULL, mult, shift, out);
          p.groups = 2;
          edgeir_conv_s8(&p, in, w, bias, mult, shift, out);
          p.groups = 4;
          edgeir_conv_s8(&p, in, w, bias, mult, shift, out);
          free(out);
          /* depthwise, multiplier 2: out_c 8 */
          p.groups = c;
          p.win.out_c = 2 * c;
          out = fill8((size_t)(oh * ow * 2 * c), 0);
          edgeir_depthwise_conv_s8(&p, in, w, bias, mult, shift, out);
          edgeir_depthwise_conv_s8(&p, in, w, NULL, mult, shift, out);
          free(out);
          /* a 1x1 output whose window is all padding */
          p.win = win(1, 2, 2, c, 1, 1, oc, 3, 1, 1, 5, 5, 0, 0);
          p.groups = 1;
          out = fill8((size_t)oc, 0);
          edgeir_conv_s8(&p, in, w, bias, mult, shift, out);
          p.groups = c;
          edgeir_depthwise_conv_s8(&p, in, w, bias, mult, shift, out);
          free(out);
          /* fully connected */
          {
            edgeir_fc_s8_params f;
            f.batch = 2; f.in_features = 25; f.out_features = 3;
            f.out_zp = zps[zi]; f.act_min = -128; f.act_max = 127;
            out = fill8(6, 0);
            edgeir_fc_s8(&f, in, w, bias, mult, shift, out);
            edgeir_fc_s8(&f, in, w, NULL, mult, shift, out);
            free(out);
          }
          free(in); free(w); free(bias); free(mult); free(shift);
        }
}

static void elementwise_cases(void) {
  static const int32_t zps[] = {-128, 127};
  static const int32_t shifts[] = {-31, -20, 0};
  int8_t *a = fill8(6, -128), *b = fill8(3, 127), *out = fill8(6, 0);
  size_t zi, si;
  a[1] = 127; a[4] = 0; b[2] = -128;
  for (zi = 0; zi < 2; ++zi)
    for (si = 0; si < 3; ++si) {
      edgeir_add_s8_params p;
      edgeir_mul_s8_params m;
      memset(&p, 0, sizeof p);
      p.bc.shape[0] = 1; p.bc.shape[1] = 1; p.bc.shape[2] = 2; p.bc.shape[3] = 3;
      p.bc.a_stride[2] = 3; p.bc.a_stride[3] = 1;
      p.bc.b_stride[2] = 0; p.bc.b_stride[3] = 1;
      p.a_zp = zps[zi]; p.b_zp = zps[1 - zi]; p.out_zp = zps[zi];
      p.left_shift = 20;
      p.a_mult = INT32_MAX; p.b_mult = INT32_MAX; p.out_mult = INT32_MAX;
      p.a_shift = shifts[si]; p.b_shift = -1; p.out_shift = shifts[si];
      p.act_min = -128; p.act_max = 127;
      edgeir_add_s8(&p, a, b, out);
      memset(&m, 0, sizeof m);
      m.bc = p.bc;
      m.a_zp = zps[zi]; m.b_zp = zps[1 - zi]; m.out_zp = zps[zi];
      m.mult = INT32_MAX; m.act_min = -128; m.act_max = 127;
      m.shift = 31;
      edgeir_mul_s8(&m, a, b, out);
      m.shift = -31;
      edgeir_mul_s8(&m, a, b, out);
      m.shift = 0;
      edgeir_mul_s8(&m, a, b, out);
    }
  free(a); free(b); free(out);
}

static void pool_mean_cases(void) {
  int8_t *in = fill8(3 * 3 * 5, -128), *out;
  edgeir_pool_s8_params p;
  edgeir_mean_s8_params m;
  static const int32_t shifts[] = {-31, 0, 31};
  size_t si;
  in[7] = 127;
  /* windows entirely in padding (pads >= kernel) get count 0 */
  p.win = win(1, 3, 3, 5, 4, 4, 5, 2, 2, 1, 3, 3, 3, 3);
  p.act_min = -100; p.act_max = 100;
  out = fill8(4 * 4 * 5, 0);
  edgeir_avg_pool_s8(&p, in, out);
  CHECK(out[0] == 0); /* all padding: 0 (the golden model's value), clamped */
  edgeir_max_pool_s8(&p, in, out);
  CHECK(out[0] == -100); /* all padding: act_min */
  free(out);
  p.win = win(1, 3, 3, 5, 2, 2, 5, 3, 2, 2, 1, 1, 1, 1);
  out = fill8(2 * 2 * 5, 0);
  edgeir_avg_pool_s8(&p, in, out);
  edgeir_max_pool_s8(&p, in, out);
  free(out);
  for (si = 0; si < 3; ++si) {
    m.batch = 1; m.h = 3; m.w = 3; m.c = 5;
    m.in_zp = 127; m.out_zp = -128; m.mult = INT32_MAX; m.shift = shifts[si];
    out = fill8(5, 0);
    edgeir_mean_s8(&m, in, out);
    m.in_zp = -128; m.out_zp = 127;
    edgeir_mean_s8(&m, in, out);
    m.h = 1; m.w = 1; /* no division rounding to absorb an INT32_MIN */
    edgeir_mean_s8(&m, in, out);
    free(out);
  }
  free(in);
}

static void softmax_cases(void) {
  edgeir_softmax_s8_params p;
  int8_t *in = fill8(1000, 5), *out = fill8(1000, 0);
  int32_t i;
  p.rows = 1; p.depth = 1000;
  p.input_mult = 1717986918; p.input_left_shift = 23; p.diff_min = -248;
  edgeir_softmax_s8(&p, in, out); /* sum 1000.0 in Q12.19: reciprocal exponent 33 */
  for (i = 0; i < 1000; ++i) CHECK(out[i] == -128);
  p.input_mult = INT32_MAX; p.input_left_shift = 31; p.diff_min = 0;
  edgeir_softmax_s8(&p, in, out);
  in[3] = -128; in[4] = 127;
  p.input_mult = 1073741824; p.input_left_shift = 1; p.diff_min = -255;
  edgeir_softmax_s8(&p, in, out);
  p.rows = 1000; p.depth = 1;
  edgeir_softmax_s8(&p, in, out);
  for (i = 0; i < 1000; ++i) CHECK(out[i] == 127);
  free(in); free(out);
}

static void activation_cases(void) {
  int8_t *in = fill8(300, 0), *out = fill8(300, 0);
  static const int32_t lshifts[] = {-5, 0, 24, 31};
  static const int32_t radii[] = {0, 1, 120, INT32_MAX};
  static const int32_t zps[] = {-128, 127};
  size_t li, ri, zi;
  int32_t i, e;
  for (i = 0; i < 300; ++i) in[i] = (int8_t)(i - 128 > 127 ? 127 : i - 128);
  for (li = 0; li < 4; ++li)
    for (ri = 0; ri < 4; ++ri)
      for (zi = 0; zi < 2; ++zi) {
        edgeir_sigmoid_s8_params p;
        p.in_zp = zps[zi]; p.input_mult = INT32_MAX; p.input_left_shift = lshifts[li];
        p.input_range_radius = radii[ri];
        p.size = 256;
        edgeir_logistic_s8(&p, in, out);
        edgeir_tanh_s8(&p, in, out);
        p.size = 300;
        edgeir_logistic_s8(&p, in, out);
        edgeir_tanh_s8(&p, in, out);
      }
  for (e = -31; e <= 20; e += 3)
    for (zi = 0; zi < 2; ++zi) {
      edgeir_hard_swish_s8_params h;
      h.size = 300; h.in_zp = zps[zi]; h.out_zp = zps[1 - zi];
      h.out_mult_fixedpoint_int16 = 32767; h.out_mult_exponent = e > 0 ? -e : e;
      h.reluish_mult_fixedpoint_int16 = 32767; h.reluish_mult_exponent = e;
      edgeir_hard_swish_s8(&h, in, out);
      h.size = 200;
      h.out_mult_fixedpoint_int16 = 0;
      edgeir_hard_swish_s8(&h, in, out);
    }
  free(in); free(out);
}

static void conversion_cases(void) {
  float x[10];
  int8_t q[10];
  uint8_t u[256];
  int8_t s[256];
  float f[256];
  edgeir_quantize_params qp;
  edgeir_dequantize_params dp;
  edgeir_requantize_params rp;
  int32_t i, k;
  x[0] = INFINITY; x[1] = -INFINITY; x[2] = NAN; x[3] = 3e38f; x[4] = -3e38f;
  x[5] = 2.5f; x[6] = -2.5f; x[7] = 1e-45f; x[8] = -0.0f; x[9] = 63.5f;
  qp.size = 10; qp.scale = 0.5f; qp.zero_point = -128; qp.round_half_even = 0;
  edgeir_quantize_f32_s8(&qp, x, q);
  CHECK(q[0] == 127 && q[1] == -128 && q[2] == -128 && q[3] == 127 && q[4] == -128);
  CHECK(q[5] == -123 && q[6] == -128 && q[7] == -128 && q[9] == -1);
  qp.zero_point = 127; qp.round_half_even = 1;
  edgeir_quantize_f32_s8(&qp, x, q);
  CHECK(q[0] == 127 && q[1] == -128 && q[2] == 127 && q[3] == 127 && q[4] == -128);
  CHECK(q[5] == 127 && q[6] == 122);
  qp.zero_point = 0; qp.scale = 1e-38f;
  edgeir_quantize_f32_s8(&qp, x, q);
  CHECK(q[2] == 0 && q[5] == 127 && q[6] == -128);
  qp.scale = 0.0f; /* division by zero: +-inf / NaN quotients, saturated */
  edgeir_quantize_f32_s8(&qp, x, q);
  CHECK(q[5] == 127 && q[6] == -128 && q[8] == 0);

  for (i = 0; i < 256; ++i) {
    s[i] = (int8_t)(i - 128);
    u[i] = (uint8_t)i;
  }
  dp.size = 256; dp.scale = 3e38f; dp.zero_point = 127;
  edgeir_dequantize_s8_f32(&dp, s, f);
  CHECK(isinf(f[0]) && f[255] == 0.0f);
  for (k = -31; k <= 31; k += 31) {
    rp.size = 256; rp.in_zp = 255; rp.out_zp = -128; rp.mult = INT32_MAX; rp.shift = k;
    rp.in_unsigned = 1; rp.out_unsigned = 0;
    edgeir_requantize_8(&rp, u, s);
    rp.in_zp = -128; rp.out_zp = 255; rp.in_unsigned = 0; rp.out_unsigned = 1;
    edgeir_requantize_8(&rp, s, u);
    rp.in_zp = 0; rp.out_zp = 0; rp.in_unsigned = 1; rp.out_unsigned = 1;
    edgeir_requantize_8(&rp, u, u); /* in place */
  }
}

/* ---- shapes of the x86 fast paths (and the same calls in a portable build) ---- */

static uint64_t checksum = 1469598103934665603ull; /* FNV-1a over every output byte */

static void hash_out(const int8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) {
    checksum ^= (uint8_t)p[i];
    checksum *= 1099511628211ull;
  }
}

static uint32_t rng_state = 12345u;

static int32_t rnd(int32_t lo, int32_t hi) { /* uniform in [lo, hi] */
  rng_state = rng_state * 1664525u + 1013904223u;
  return lo + (int32_t)((rng_state >> 8) % (uint32_t)(hi - lo + 1));
}

static int8_t *rand8(size_t n) {
  int8_t *p = (int8_t *)xmalloc(n);
  size_t i;
  for (i = 0; i < n; ++i) p[i] = (int8_t)rnd(-128, 127);
  return p;
}

/* per-channel multipliers and shifts: mostly real, some extreme */
static void requant_params(int32_t *mult, int32_t *shift, int32_t n) {
  static const int32_t specials[] = {INT32_MIN, INT32_MAX, 0, -1, 1, 1 << 30};
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t r = rnd(0, 9);
    mult[i] = r < 7 ? rnd(1 << 30, INT32_MAX) : specials[rnd(0, 5)];
    shift[i] = r < 5 ? rnd(-12, -4) : rnd(-31, 31);
  }
}

static void fast_path_cases(void) {
  static const int32_t zps[] = {-128, 127, 0, -5};
  /* dense HWIO convs: in_c, out_c, k, stride, pad (all sides), h, w, batch */
  static const int32_t convs[][8] = {
      {3, 8, 3, 2, 1, 9, 9, 1},   {16, 16, 3, 1, 1, 6, 5, 2}, {8, 24, 1, 1, 0, 7, 3, 1},
      {64, 130, 3, 1, 1, 4, 3, 1}, {5, 33, 3, 2, 2, 5, 7, 2}, {1, 40, 5, 1, 4, 3, 3, 1},
      {40, 17, 1, 1, 0, 3, 3, 1}};
  /* depthwise (multiplier 1): channels, k, stride, dilation, pad, h, w */
  static const int32_t dws[][7] = {{8, 3, 1, 1, 1, 6, 6}, {24, 3, 2, 1, 1, 7, 5},
                                   {13, 5, 1, 2, 4, 5, 5}, {300, 3, 1, 1, 1, 3, 3},
                                   {64, 1, 1, 1, 0, 2, 3}, {7, 3, 1, 1, 3, 2, 2}};
  size_t ci, zi;
  for (ci = 0; ci < sizeof convs / sizeof convs[0]; ++ci)
    for (zi = 0; zi < 4; ++zi) {
      const int32_t *c = convs[ci];
      const int32_t in_c = c[0], oc = c[1], k = c[2], s = c[3], pad = c[4], h = c[5], w = c[6];
      const int32_t n = c[7];
      const int32_t oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
      const size_t in_n = (size_t)(n * h * w * in_c), w_n = (size_t)(k * k * in_c * oc);
      const size_t out_n = (size_t)(n * oh * ow * oc);
      edgeir_conv_s8_params p;
      int8_t *in = rand8(in_n), *wt = rand8(w_n), *out = fill8(out_n, 0);
      int32_t *bias = fill32((size_t)oc, 0), *mult = fill32((size_t)oc, 0);
      int32_t *shift = fill32((size_t)oc, 0);
      int32_t i;
      /* biases near the int32 limits, far enough that the portable sum cannot overflow */
      for (i = 0; i < oc; ++i)
        bias[i] = i % 3 == 0 ? INT32_MIN + (1 << 24) : i % 3 == 1 ? INT32_MAX - (1 << 24)
                                                                   : rnd(-100000, 100000);
      requant_params(mult, shift, oc);
      p.win = win(n, h, w, in_c, oh, ow, oc, k, s, 1, pad, pad, pad, pad);
      p.groups = 1;
      p.in_zp = zps[zi];
      p.out_zp = zps[3 - zi];
      p.act_min = zi == 1 ? -100 : -128;
      p.act_max = zi == 1 ? 20 : 127;
      edgeir_conv_s8_hwio(&p, in, wt, bias, mult, shift, out);
      hash_out(out, out_n);
      edgeir_conv_s8_hwio(&p, in, wt, NULL, mult, shift, out);
      hash_out(out, out_n);
      free(in); free(wt); free(out); free(bias); free(mult); free(shift);
    }
  for (ci = 0; ci < sizeof dws / sizeof dws[0]; ++ci)
    for (zi = 0; zi < 4; ++zi) {
      const int32_t *d = dws[ci];
      const int32_t c = d[0], k = d[1], s = d[2], dil = d[3], pad = d[4], h = d[5], w = d[6];
      const int32_t ext = (k - 1) * dil + 1;
      const int32_t oh = (h + 2 * pad - ext) / s + 1, ow = (w + 2 * pad - ext) / s + 1;
      const size_t out_n = (size_t)(oh * ow * c);
      edgeir_conv_s8_params p;
      int8_t *in = rand8((size_t)(h * w * c)), *wt = rand8((size_t)(k * k * c));
      int8_t *out = fill8(out_n, 0);
      int32_t *bias = fill32((size_t)c, 0), *mult = fill32((size_t)c, 0);
      int32_t *shift = fill32((size_t)c, 0);
      int32_t i;
      for (i = 0; i < c; ++i) bias[i] = i % 2 ? INT32_MIN : INT32_MAX - rnd(0, 1000);
      requant_params(mult, shift, c);
      p.win = win(1, h, w, c, oh, ow, c, k, s, dil, pad, pad, pad, pad);
      p.groups = c;
      p.in_zp = zps[zi];
      p.out_zp = zps[(zi + 1) % 4];
      p.act_min = -128;
      p.act_max = 127;
      edgeir_depthwise_conv_s8(&p, in, wt, bias, mult, shift, out);
      hash_out(out, out_n);
      edgeir_depthwise_conv_s8(&p, in, wt, NULL, mult, shift, out);
      hash_out(out, out_n);
      free(in); free(wt); free(out); free(bias); free(mult); free(shift);
    }
  for (ci = 0; ci < 6; ++ci) { /* fully connected: 4-row groups, 32/16-input steps, tails */
    static const int32_t fcs[][3] = {{1, 640, 128}, {2, 33, 17}, {3, 7, 5},
                                     {1, 64, 12}, {2, 100, 3}, {1, 1, 40}};
    const int32_t b = fcs[ci][0], n_in = fcs[ci][1], n_out = fcs[ci][2];
    edgeir_fc_s8_params f;
    int8_t *in = rand8((size_t)(b * n_in)), *wt = rand8((size_t)(n_in * n_out));
    int8_t *out = fill8((size_t)(b * n_out), 0);
    int32_t *bias = fill32((size_t)n_out, INT32_MAX), *mult = fill32((size_t)n_out, 0);
    int32_t *shift = fill32((size_t)n_out, 0);
    requant_params(mult, shift, n_out);
    bias[0] = INT32_MIN;
    f.batch = b; f.in_features = n_in; f.out_features = n_out;
    f.out_zp = zps[ci % 4]; f.act_min = -128; f.act_max = 127;
    edgeir_fc_s8(&f, in, wt, bias, mult, shift, out);
    hash_out(out, (size_t)(b * n_out));
    edgeir_fc_s8(&f, in, wt, NULL, mult, shift, out);
    hash_out(out, (size_t)(b * n_out));
    free(in); free(wt); free(out); free(bias); free(mult); free(shift);
  }
  for (ci = 0; ci < 4; ++ci) { /* add: one dense row, rows with a broadcast operand, in place */
    const int32_t rows = 3, c = ci < 2 ? 16 : 13;
    const size_t n = (size_t)(rows * c);
    int8_t *a = rand8(n), *b = rand8(n), *out = fill8(n, 0);
    edgeir_add_s8_params p;
    memset(&p, 0, sizeof p);
    p.bc.shape[0] = 1; p.bc.shape[1] = 1; p.bc.shape[2] = rows; p.bc.shape[3] = c;
    p.bc.a_stride[2] = c; p.bc.a_stride[3] = 1;
    p.bc.b_stride[2] = ci % 2 ? 0 : c; p.bc.b_stride[3] = 1;
    p.a_zp = zps[ci]; p.b_zp = zps[3 - ci]; p.out_zp = zps[(ci + 1) % 4];
    p.left_shift = ci == 3 ? 31 : 20;
    p.a_mult = ci == 2 ? INT32_MIN : 1623821475; p.a_shift = ci == 1 ? -31 : -2;
    p.b_mult = INT32_MAX; p.b_shift = 0;
    p.out_mult = ci == 0 ? INT32_MIN : 1098017566; p.out_shift = ci == 0 ? 0 : -17;
    p.act_min = -128; p.act_max = 127;
    edgeir_add_s8(&p, a, b, out);
    hash_out(out, n);
    edgeir_add_s8(&p, a, b, a); /* in place */
    hash_out(a, n);
    free(a); free(b); free(out);
  }
}

int main(void) {
  conv_cases();
  elementwise_cases();
  pool_mean_cases();
  softmax_cases();
  activation_cases();
  conversion_cases();
  fast_path_cases();
  printf("checksum %016llx\n", (unsigned long long)checksum);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  return failures ? 1 : 0;
}
