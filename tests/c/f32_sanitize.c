/* Runs every float32 and data-movement kernel on edge shapes (1x1 images, kernels larger
 * than the input, windows past the padding, negative strides, odd element sizes and
 * misaligned buffers) with every buffer malloc'ed to its exact size, for
 * tests/test_c_kernels_f32.py::test_sanitizers (built with -fsanitize=address,undefined).
 * A few results are checked by hand; the Python tests check the rest. Prints "ok". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeir_kernels.h"

static int failures = 0;

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond)) {                                                  \
      printf("check failed at line %d: %s\n", __LINE__, #cond);     \
      ++failures;                                                   \
    }                                                               \
  } while (0)

static float *fbuf(size_t n, int seed) {
  float *p = (float *)malloc(n * sizeof(float));
  if (!p) abort();
  for (size_t i = 0; i < n; ++i) p[i] = (float)((int)((i * 7 + (size_t)seed * 13) % 11) - 5) * 0.25f;
  return p;
}

static unsigned char *bbuf(size_t n, int seed) {
  unsigned char *p = (unsigned char *)malloc(n ? n : 1);
  if (!p) abort();
  for (size_t i = 0; i < n; ++i) p[i] = (unsigned char)(i * 31 + (size_t)seed);
  return p;
}

static int near(float a, float b) { return fabsf(a - b) <= 1e-5f * (1.0f + fabsf(b)); }

static edgeir_window win(int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh, int32_t ow,
                         int32_t oc, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                         int32_t dh, int32_t dw, int32_t pt, int32_t pl, int32_t pb,
                         int32_t pr) {
  edgeir_window q;
  q.batch = n; q.in_h = h; q.in_w = w; q.in_c = c;
  q.out_h = oh; q.out_w = ow; q.out_c = oc;
  q.k_h = kh; q.k_w = kw; q.stride_h = sh; q.stride_w = sw; q.dil_h = dh; q.dil_w = dw;
  q.pad_top = pt; q.pad_left = pl; q.pad_bottom = pb; q.pad_right = pr;
  return q;
}

static void conv_case(int kind, edgeir_window q, int32_t groups, int with_bias) {
  edgeir_conv_f32_params p;
  p.win = q;
  p.groups = groups;
  p.act_min = -INFINITY;
  p.act_max = INFINITY;
  size_t n_in = (size_t)q.batch * q.in_h * q.in_w * q.in_c;
  size_t n_out = (size_t)q.batch * q.out_h * q.out_w * q.out_c;
  size_t n_w;
  if (kind == 0) n_w = (size_t)q.out_c * q.k_h * q.k_w * (q.in_c / groups);
  else if (kind == 1) n_w = (size_t)q.k_h * q.k_w * q.out_c;
  else n_w = (size_t)q.in_c * q.k_h * q.k_w * (q.out_c / groups);
  float *in = fbuf(n_in, 1), *w = fbuf(n_w, 2), *out = fbuf(n_out, 3);
  float *bias = with_bias ? fbuf((size_t)q.out_c, 4) : NULL;
  if (kind == 0) edgeir_conv_f32(&p, in, w, bias, out);
  else if (kind == 1) edgeir_depthwise_conv_f32(&p, in, w, bias, out);
  else edgeir_conv_transpose_f32(&p, in, w, bias, out);
  for (size_t i = 0; i < n_out; ++i) CHECK(isfinite(out[i]));
  free(in); free(w); free(out); free(bias);
}

static void test_conv(void) {
  /* 1x1 image, 3x3 kernel, pad 1: only the centre tap; 5 output channels (4 + 1). */
  {
    edgeir_conv_f32_params p;
    p.win = win(1, 1, 1, 3, 1, 1, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
    p.groups = 1;
    p.act_min = -INFINITY;
    p.act_max = INFINITY;
    float *in = fbuf(3, 1), *w = fbuf(5 * 9 * 3, 2), *bias = fbuf(5, 3), *out = fbuf(5, 4);
    edgeir_conv_f32(&p, in, w, bias, out);
    for (int oc = 0; oc < 5; ++oc) {
      float want = bias[oc];
      for (int c = 0; c < 3; ++c) want += in[c] * w[(oc * 9 + 4) * 3 + c];
      CHECK(near(out[oc], want));
    }
    free(in); free(w); free(bias); free(out);
  }
  /* kernels larger than the input */
  conv_case(0, win(1, 2, 2, 3, 2, 2, 6, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2), 1, 1);
  conv_case(0, win(2, 2, 3, 4, 1, 1, 6, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1), 2, 0);
  conv_case(0, win(1, 1, 1, 2, 1, 1, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2), 2, 1);
  conv_case(0, win(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0), 1, 0);
  /* 1x1 fast path, strided; and 1x1 with padding (general path) */
  conv_case(0, win(1, 3, 3, 5, 2, 2, 7, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0), 1, 1);
  conv_case(0, win(1, 2, 2, 3, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1), 1, 0);
  /* depthwise: 1x1 image; multiplier 3 with a kernel larger than the input */
  conv_case(1, win(1, 1, 1, 5, 1, 1, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), 5, 1);
  conv_case(1, win(2, 2, 3, 2, 1, 2, 6, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2), 2, 0);
  conv_case(1, win(1, 3, 3, 9, 3, 3, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2), 9, 1);
  /* transposed: 1x1 input cropped; stride 3, dilation 2, output padding, groups 2; a
   * negative begin pad */
  conv_case(2, win(1, 1, 1, 2, 1, 1, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), 1, 1);
  conv_case(2, win(2, 2, 2, 4, 8, 8, 6, 2, 2, 3, 3, 2, 2, 0, 0, 0, 0), 2, 0);
  conv_case(2, win(1, 2, 1, 1, 6, 4, 1, 3, 3, 2, 2, 1, 1, -1, -1, 0, 0), 1, 1);
}

static void test_fc_matmul(void) {
  {
    edgeir_fc_f32_params p = {2, 1, 5, -INFINITY, INFINITY};
    float *in = fbuf(2, 1), *w = fbuf(5, 2), *out = fbuf(10, 3);
    edgeir_fc_f32(&p, in, w, NULL, out);
    for (int b = 0; b < 2; ++b)
      for (int o = 0; o < 5; ++o) CHECK(near(out[b * 5 + o], in[b] * w[o]));
    free(in); free(w); free(out);
  }
  {
    edgeir_fc_f32_params p = {1, 7, 3, 0.0f, 0.5f};
    float *in = fbuf(7, 1), *w = fbuf(21, 2), *b = fbuf(3, 3), *out = fbuf(3, 4);
    edgeir_fc_f32(&p, in, w, b, out);
    for (int o = 0; o < 3; ++o) CHECK(out[o] >= 0.0f && out[o] <= 0.5f);
    free(in); free(w); free(b); free(out);
  }
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      /* 1x1x1 with a scalar C; then batch 3 with A broadcast, C over [m, n] */
      edgeir_matmul_f32_params p;
      memset(&p, 0, sizeof p);
      p.batch = 1; p.m = 1; p.n = 1; p.k = 1;
      p.trans_a = ta; p.trans_b = tb; p.alpha = 2.0f; p.beta = 0.5f;
      p.c_bc.shape[0] = 1; p.c_bc.shape[1] = 1; p.c_bc.shape[2] = 1; p.c_bc.shape[3] = 1;
      p.act_min = -INFINITY; p.act_max = INFINITY;
      float *a = fbuf(1, 1), *b = fbuf(1, 2), *c = fbuf(1, 3), *out = fbuf(1, 4);
      edgeir_matmul_f32(&p, a, b, c, out);
      CHECK(near(out[0], 2.0f * a[0] * b[0] + 0.5f * c[0]));
      free(a); free(b); free(c); free(out);

      p.batch = 3; p.m = 2; p.n = 5; p.k = 3;
      p.a_batch_stride = 0; p.b_batch_stride = 15;
      p.c_bc.shape[1] = 3; p.c_bc.shape[2] = 2; p.c_bc.shape[3] = 5;
      p.c_bc.a_stride[2] = 5; p.c_bc.a_stride[3] = 1;
      a = fbuf(6, 1); b = fbuf(45, 2); c = fbuf(10, 3); out = fbuf(30, 4);
      edgeir_matmul_f32(&p, a, b, c, out);
      edgeir_matmul_f32(&p, a, b, NULL, out);
      free(a); free(b); free(c); free(out);
    }
  }
}

static void binary_case(const int32_t *shape, const int32_t *as, const int32_t *bs,
                        size_t na, size_t nb) {
  edgeir_binary_f32_params p;
  size_t n_out = 1;
  for (int d = 0; d < 4; ++d) {
    p.bc.shape[d] = shape[d];
    p.bc.a_stride[d] = as[d];
    p.bc.b_stride[d] = bs[d];
    n_out *= (size_t)shape[d];
  }
  p.act_min = -INFINITY;
  p.act_max = INFINITY;
  float *a = fbuf(na, 1), *b = fbuf(nb, 2), *out = fbuf(n_out, 3);
  for (size_t i = 0; i < nb; ++i) b[i] = b[i] == 0.0f ? 1.0f : b[i];
  for (int op = 0; op < 4; ++op) {
    p.op = op;
    edgeir_binary_f32(&p, a, b, out);
  }
  free(a); free(b); free(out);
}

static void test_elementwise(void) {
  {
    const int32_t shape[4] = {2, 4, 3, 5}, as[4] = {3, 0, 1, 0}, bs[4] = {0, 5, 0, 1};
    binary_case(shape, as, bs, 6, 20);
  }
  {
    const int32_t shape[4] = {1, 1, 1, 1}, z[4] = {0, 0, 0, 0};
    binary_case(shape, z, z, 1, 1);
  }
  {
    const int32_t shape[4] = {1, 1, 1, 7}, d[4] = {7, 7, 7, 1}, z[4] = {0, 0, 0, 0};
    binary_case(shape, d, d, 7, 7);
    binary_case(shape, z, d, 1, 7);
    binary_case(shape, d, z, 7, 1);
  }
  {
    const float x[9] = {-INFINITY, -100.0f, -1.0f, -0.0f, 0.0f, 1.0f, 100.0f, INFINITY, NAN};
    float *in = fbuf(9, 0), *out = fbuf(9, 1);
    memcpy(in, x, sizeof x);
    for (int op = 0; op <= EDGEIR_HARD_SWISH; ++op) {
      edgeir_unary_f32_params p = {9, op, 0.2f, 0.5f};
      edgeir_unary_f32(&p, in, out);
      if (op == EDGEIR_SIGMOID) {
        CHECK(out[0] == 0.0f && out[7] == 1.0f && near(out[4], 0.5f));
        CHECK(out[1] > 0.0f && out[1] < 1e-40f && near(out[6], 1.0f));
      }
      if (op == EDGEIR_TANH) CHECK(out[0] == -1.0f && out[7] == 1.0f);
    }
    edgeir_unary_f32_params p = {9, EDGEIR_SIGMOID, 0.0f, 0.0f};
    edgeir_unary_f32(&p, in, in); /* in place */
    free(in); free(out);
  }
  for (int log = 0; log < 2; ++log) {
    edgeir_softmax_f32_params p = {2, 1, 3};
    float *in = fbuf(6, 1), *out = fbuf(6, 2);
    (log ? edgeir_log_softmax_f32 : edgeir_softmax_f32)(&p, in, out);
    for (int i = 0; i < 6; ++i) CHECK(out[i] == (log ? 0.0f : 1.0f));
    edgeir_softmax_f32_params q = {1, 5, 1};
    float *x = fbuf(5, 3), *y = fbuf(5, 4);
    x[0] = 1e30f;
    (log ? edgeir_log_softmax_f32 : edgeir_softmax_f32)(&q, x, y);
    for (int i = 0; i < 5; ++i) CHECK(isfinite(y[i]) || (log && y[i] < 0.0f));
    free(in); free(out); free(x); free(y);
  }
  {
    edgeir_channel_affine_f32_params p = {2, 3, 1};
    float *in = fbuf(6, 1), *s = fbuf(3, 2), *t = fbuf(3, 3), *out = fbuf(6, 4);
    edgeir_channel_affine_f32(&p, in, s, t, out);
    CHECK(near(out[4], in[4] * s[1] + t[1]));
    edgeir_channel_affine_f32_params q = {1, 3, 2};
    edgeir_channel_affine_f32(&q, in, s, t, out);
    CHECK(near(out[3], in[3] * s[1] + t[1]));
    free(in); free(s); free(t); free(out);
  }
}

static void pool_case(edgeir_window q, int32_t cip) {
  edgeir_pool_f32_params p;
  p.win = q;
  p.count_include_pad = cip;
  p.act_min = -INFINITY;
  p.act_max = INFINITY;
  size_t n_in = (size_t)q.batch * q.in_h * q.in_w * q.in_c;
  size_t n_out = (size_t)q.batch * q.out_h * q.out_w * q.out_c;
  float *in = fbuf(n_in, 1), *out = fbuf(n_out, 2);
  edgeir_avg_pool_f32(&p, in, out);
  for (size_t i = 0; i < n_out; ++i) CHECK(isfinite(out[i]));
  edgeir_max_pool_f32(&p, in, out);
  for (size_t i = 0; i < n_out; ++i) CHECK(isfinite(out[i]));
  free(in); free(out);
}

static void test_pools(void) {
  for (int cip = 0; cip < 2; ++cip) {
    pool_case(win(1, 1, 1, 3, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), cip);
    /* ceil mode: the last window runs past the input and the explicit padding */
    pool_case(win(1, 4, 4, 2, 2, 2, 2, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0), cip);
    pool_case(win(2, 5, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1), cip);
    pool_case(win(1, 2, 2, 1, 2, 2, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2), cip);
    pool_case(win(1, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 0, 0, 0, 0), cip);
  }
  {
    /* 1x1 image, 3x3 window, pad 1: avg divisor 1 (9 with count_include_pad) */
    edgeir_pool_f32_params p;
    p.win = win(1, 1, 1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
    p.act_min = -INFINITY;
    p.act_max = INFINITY;
    float *in = fbuf(1, 0), *out = fbuf(1, 1);
    in[0] = 9.0f;
    p.count_include_pad = 0;
    edgeir_avg_pool_f32(&p, in, out);
    CHECK(near(out[0], 9.0f));
    p.count_include_pad = 1;
    edgeir_avg_pool_f32(&p, in, out);
    CHECK(near(out[0], 1.0f));
    free(in); free(out);
  }
  for (int op = 0; op < 2; ++op) {
    edgeir_reduce_f32_params p = {2, 3, 1, op};
    float *in = fbuf(6, 1), *out = fbuf(2, 2);
    edgeir_reduce_f32(&p, in, out);
    edgeir_reduce_f32_params q = {1, 4, 3, op};
    float *x = fbuf(12, 3), *y = fbuf(3, 4);
    edgeir_reduce_f32(&q, x, y);
    edgeir_reduce_f32_params r = {1, 1, 1, op};
    edgeir_reduce_f32(&r, x, y);
    CHECK(y[0] == x[0]);
    free(in); free(out); free(x); free(y);
  }
}

static void strided_case(int32_t es, int32_t rank, const int32_t *shape, const int32_t *stride,
                         int32_t offset, size_t in_elems, int misalign) {
  edgeir_strided_params p;
  memset(&p, 0, sizeof p);
  p.rank = rank;
  p.elem_size = es;
  size_t n = 1;
  for (int d = 0; d < rank; ++d) {
    p.out_shape[d] = shape[d];
    p.in_stride[d] = stride[d];
    n *= (size_t)shape[d];
  }
  p.in_offset = offset;
  unsigned char *in = bbuf(in_elems * (size_t)es + (size_t)misalign, 1);
  unsigned char *out = bbuf(n * (size_t)es + (size_t)misalign, 2);
  edgeir_strided_copy(&p, in + misalign, out + misalign);
  free(in); free(out);
}

static void test_data(void) {
  for (int32_t es = 1; es <= 4; ++es) {
    /* transpose of [2][3][4] to [4][2][3] */
    const int32_t shape[3] = {4, 2, 3}, stride[3] = {1, 12, 4};
    strided_case(es, 3, shape, stride, 0, 24, 0);
    strided_case(es, 3, shape, stride, 0, 24, 1);
    /* reversed rows and columns of [3][5], every other column */
    const int32_t s2[2] = {3, 3}, st2[2] = {-5, -2};
    strided_case(es, 2, s2, st2, 14, 15, 0);
    /* rank-6 broadcast of one element, and a one-element copy */
    const int32_t s6[6] = {2, 1, 3, 1, 2, 2}, st6[6] = {0, 0, 0, 0, 0, 0};
    strided_case(es, 6, s6, st6, 0, 1, 0);
    const int32_t s1[1] = {1}, st1[1] = {1};
    strided_case(es, 1, s1, st1, 0, 1, 0);
    strided_case(es, 0, s1, st1, 0, 1, 0);
  }
  {
    /* concat of [2][1][3] and [2][2][3] floats on axis 1, then split back */
    edgeir_concat_piece a = {2, 12, 36, 0}, b = {2, 24, 36, 12};
    unsigned char *x = bbuf(24, 1), *y = bbuf(48, 2), *out = bbuf(72, 3);
    unsigned char *x2 = bbuf(24, 4), *y2 = bbuf(48, 5);
    edgeir_concat_piece_copy(&a, x, out);
    edgeir_concat_piece_copy(&b, y, out);
    edgeir_split_piece_copy(&a, out, x2);
    edgeir_split_piece_copy(&b, out, y2);
    CHECK(memcmp(x, x2, 24) == 0 && memcmp(y, y2, 48) == 0);
    edgeir_concat_piece whole = {3, 8, 8, 0};
    edgeir_concat_piece_copy(&whole, x, x2);
    edgeir_split_piece_copy(&whole, x, x2);
    free(x); free(y); free(out); free(x2); free(y2);
  }
  for (int32_t es = 1; es <= 4; ++es) {
    /* pad [1][2][3] by (1,0,2) before and (0,3,1) after; and a 1-element tensor */
    edgeir_pad_params p;
    memset(&p, 0, sizeof p);
    unsigned char *value = bbuf((size_t)es, 9);
    p.rank = 3; p.elem_size = es; p.value = value;
    p.in_shape[0] = 1; p.in_shape[1] = 2; p.in_shape[2] = 3;
    p.pad_before[0] = 1; p.pad_before[1] = 0; p.pad_before[2] = 2;
    p.out_shape[0] = 2; p.out_shape[1] = 5; p.out_shape[2] = 6;
    unsigned char *in = bbuf(6 * (size_t)es, 1), *out = bbuf(60 * (size_t)es, 2);
    edgeir_pad(&p, in, out);
    CHECK(memcmp(out, value, (size_t)es) == 0);
    CHECK(memcmp(out + (size_t)(30 + 2) * (size_t)es, in, (size_t)es) == 0);
    free(out);
    p.rank = 2;
    p.in_shape[0] = 1; p.in_shape[1] = 1; p.pad_before[0] = 0; p.pad_before[1] = 0;
    p.out_shape[0] = 1; p.out_shape[1] = 1;
    out = bbuf((size_t)es, 3);
    edgeir_pad(&p, in, out);
    CHECK(memcmp(out, in, (size_t)es) == 0);
    free(in); free(out); free(value);
  }
  for (int32_t es = 1; es <= 4; ++es) {
    /* [3][4] -> rows {2, 0, 2, 1, 1}, columns identity; then columns {3, 3}, rows identity */
    static const int32_t rows[5] = {2, 0, 2, 1, 1}, cols[2] = {3, 3};
    edgeir_gather_nd_params p;
    memset(&p, 0, sizeof p);
    p.rank = 2; p.elem_size = es;
    p.in_shape[0] = 3; p.in_shape[1] = 4;
    p.out_shape[0] = 5; p.out_shape[1] = 4;
    p.index[0] = rows;
    unsigned char *in = bbuf(12 * (size_t)es, 1), *out = bbuf(20 * (size_t)es, 2);
    edgeir_gather_axes(&p, in, out);
    CHECK(memcmp(out, in + 8 * (size_t)es, 4 * (size_t)es) == 0);
    free(out);
    p.index[0] = NULL; p.index[1] = cols;
    p.out_shape[0] = 3; p.out_shape[1] = 2;
    out = bbuf(6 * (size_t)es, 2);
    edgeir_gather_axes(&p, in, out);
    CHECK(memcmp(out + 5 * (size_t)es, in + 11 * (size_t)es, (size_t)es) == 0);
    free(out);
    p.index[1] = NULL; p.out_shape[1] = 4;
    out = bbuf(12 * (size_t)es, 2);
    edgeir_gather_axes(&p, in, out);
    CHECK(memcmp(out, in, 12 * (size_t)es) == 0);
    free(in); free(out);
  }
}

int main(void) {
  test_conv();
  test_fc_matmul();
  test_elementwise();
  test_pools();
  test_data();
  if (failures) return 1;
  printf("ok\n");
  return 0;
}
