/* edgeir float32 kernels (see edgeir_kernels.h for the contract).
 *
 * C99, no malloc, no stdio, no recursion, no VLAs. All arithmetic is float32 (no double
 * promotion). Activations are NHWC. Inner loops run over contiguous memory; the window
 * kernels compute, per output row / pixel, the range of kernel taps that land on real
 * input once, so interior and border pixels share one loop without per-tap bounds checks.
 */
#include "edgeir_kernels.h"

#include <math.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* Clamp that lets NaN through (as numpy's clip does). */
static inline float clampf_(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* The taps t in [0, k) with lo <= base + t * dil < hi are [*t0, *t1) (dil >= 1). */
static inline void tap_range(int32_t base, int32_t dil, int32_t k, int32_t lo, int32_t hi,
                             int32_t *t0, int32_t *t1) {
  int32_t a = 0, b;
  if (base < lo) a = (lo - base + dil - 1) / dil;
  if (base >= hi) {
    b = 0;
  } else {
    b = (hi - base + dil - 1) / dil;
    if (b > k) b = k;
  }
  if (a > b) a = b;
  *t0 = a;
  *t1 = b;
}

/* One fully connected row: out[o] = clamp(bias[o] + sum_k w[o][k] * x[k]), four outputs at
 * a time so that each input load feeds four multiply-adds. */
static void fc_row(const float *x, const float *w, const float *bias, float *out,
                   int32_t k_len, int32_t n_out, float lo, float hi) {
  int32_t o = 0;
  const ptrdiff_t ks = k_len;
  for (; o + 4 <= n_out; o += 4) {
    const float *w0 = w + (ptrdiff_t)o * ks;
    const float *w1 = w0 + ks;
    const float *w2 = w1 + ks;
    const float *w3 = w2 + ks;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    if (bias) {
      a0 = bias[o];
      a1 = bias[o + 1];
      a2 = bias[o + 2];
      a3 = bias[o + 3];
    }
    for (int32_t k = 0; k < k_len; ++k) {
      const float xv = x[k];
      a0 += xv * w0[k];
      a1 += xv * w1[k];
      a2 += xv * w2[k];
      a3 += xv * w3[k];
    }
    out[o] = clampf_(a0, lo, hi);
    out[o + 1] = clampf_(a1, lo, hi);
    out[o + 2] = clampf_(a2, lo, hi);
    out[o + 3] = clampf_(a3, lo, hi);
  }
  for (; o < n_out; ++o) {
    const float *w0 = w + (ptrdiff_t)o * ks;
    float a0 = bias ? bias[o] : 0.0f;
    for (int32_t k = 0; k < k_len; ++k) a0 += x[k] * w0[k];
    out[o] = clampf_(a0, lo, hi);
  }
}

/* ---- convolution -------------------------------------------------------------------------- */

void edgeir_conv_f32(const edgeir_conv_f32_params *p, const float *in, const float *w,
                     const float *bias, float *out) {
  const edgeir_window *q = &p->win;
  const int32_t in_h = q->in_h, in_w = q->in_w, in_c = q->in_c;
  const int32_t out_h = q->out_h, out_w = q->out_w, out_c = q->out_c;
  const int32_t kh_n = q->k_h, kw_n = q->k_w;
  const int32_t sh = q->stride_h, sw = q->stride_w, dh = q->dil_h, dw = q->dil_w;
  const int32_t groups = p->groups;
  const int32_t cg = in_c / groups, og = out_c / groups;
  const float lo = p->act_min, hi = p->act_max;
  const ptrdiff_t in_img = (ptrdiff_t)in_h * in_w * in_c;
  const ptrdiff_t in_row = (ptrdiff_t)in_w * in_c;

  /* 1x1, no padding, every output pixel on real input: a fully connected layer per pixel. */
  if (kh_n == 1 && kw_n == 1 && groups == 1 && q->pad_top == 0 && q->pad_left == 0 &&
      (out_h - 1) * sh < in_h && (out_w - 1) * sw < in_w) {
    for (int32_t n = 0; n < q->batch; ++n) {
      for (int32_t oh = 0; oh < out_h; ++oh) {
        const float *xr = in + n * in_img + (ptrdiff_t)oh * sh * in_row;
        for (int32_t ow = 0; ow < out_w; ++ow) {
          fc_row(xr + (ptrdiff_t)ow * sw * in_c, w, bias, out, in_c, out_c, lo, hi);
          out += out_c;
        }
      }
    }
    return;
  }

  /* With one group and no horizontal dilation, the taps of one kernel row are one
   * contiguous run of the input row, and of the weights. */
  const int merged = (groups == 1 && dw == 1);
  const ptrdiff_t w_oc = (ptrdiff_t)kh_n * kw_n * cg; /* weights per output channel */

  for (int32_t n = 0; n < q->batch; ++n) {
    const float *img = in + n * in_img;
    for (int32_t oh = 0; oh < out_h; ++oh) {
      const int32_t ih0 = oh * sh - q->pad_top;
      int32_t kh0, kh1;
      tap_range(ih0, dh, kh_n, 0, in_h, &kh0, &kh1);
      for (int32_t ow = 0; ow < out_w; ++ow) {
        const int32_t iw0 = ow * sw - q->pad_left;
        int32_t kw0, kw1;
        tap_range(iw0, dw, kw_n, 0, in_w, &kw0, &kw1);
        const int32_t run = (kw1 - kw0) * cg; /* merged run length */
        for (int32_t g = 0; g < groups; ++g) {
          const float *xg = img + (ptrdiff_t)g * cg;
          const int32_t oc_end = (g + 1) * og;
          int32_t oc = g * og;
          for (; oc < oc_end; oc += 4) {
            const int32_t nb = oc_end - oc < 4 ? oc_end - oc : 4;
            const float *wb = w + (ptrdiff_t)oc * w_oc;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (int32_t kh = kh0; kh < kh1; ++kh) {
              const float *xr = xg + (ptrdiff_t)(ih0 + kh * dh) * in_row;
              const float *wr = wb + (ptrdiff_t)kh * kw_n * cg;
              if (merged) {
                const float *xs = xr + (ptrdiff_t)(iw0 + kw0) * in_c;
                const float *w0 = wr + (ptrdiff_t)kw0 * cg;
                if (nb == 4) {
                  const float *w1 = w0 + w_oc, *w2 = w1 + w_oc, *w3 = w2 + w_oc;
                  for (int32_t i = 0; i < run; ++i) {
                    const float xv = xs[i];
                    a0 += xv * w0[i];
                    a1 += xv * w1[i];
                    a2 += xv * w2[i];
                    a3 += xv * w3[i];
                  }
                } else {
                  for (int32_t j = 0; j < nb; ++j) {
                    const float *wj = w0 + j * w_oc;
                    float s = 0.0f;
                    for (int32_t i = 0; i < run; ++i) s += xs[i] * wj[i];
                    if (j == 0) a0 += s; else if (j == 1) a1 += s; else a2 += s;
                  }
                }
              } else {
                for (int32_t kw = kw0; kw < kw1; ++kw) {
                  const float *xs = xr + (ptrdiff_t)(iw0 + kw * dw) * in_c;
                  const float *w0 = wr + (ptrdiff_t)kw * cg;
                  if (nb == 4) {
                    const float *w1 = w0 + w_oc, *w2 = w1 + w_oc, *w3 = w2 + w_oc;
                    for (int32_t i = 0; i < cg; ++i) {
                      const float xv = xs[i];
                      a0 += xv * w0[i];
                      a1 += xv * w1[i];
                      a2 += xv * w2[i];
                      a3 += xv * w3[i];
                    }
                  } else {
                    for (int32_t j = 0; j < nb; ++j) {
                      const float *wj = w0 + j * w_oc;
                      float s = 0.0f;
                      for (int32_t i = 0; i < cg; ++i) s += xs[i] * wj[i];
                      if (j == 0) a0 += s; else if (j == 1) a1 += s; else a2 += s;
                    }
                  }
                }
              }
            }
            if (bias) {
              a0 += bias[oc];
              if (nb > 1) a1 += bias[oc + 1];
              if (nb > 2) a2 += bias[oc + 2];
              if (nb > 3) a3 += bias[oc + 3];
            }
            out[oc] = clampf_(a0, lo, hi);
            if (nb > 1) out[oc + 1] = clampf_(a1, lo, hi);
            if (nb > 2) out[oc + 2] = clampf_(a2, lo, hi);
            if (nb > 3) out[oc + 3] = clampf_(a3, lo, hi);
          }
        }
        out += out_c;
      }
    }
  }
}

void edgeir_depthwise_conv_f32(const edgeir_conv_f32_params *p, const float *in,
                               const float *w, const float *bias, float *out) {
  const edgeir_window *q = &p->win;
  const int32_t in_h = q->in_h, in_w = q->in_w, in_c = q->in_c;
  const int32_t out_h = q->out_h, out_w = q->out_w, out_c = q->out_c;
  const int32_t kh_n = q->k_h, kw_n = q->k_w;
  const int32_t sh = q->stride_h, sw = q->stride_w, dh = q->dil_h, dw = q->dil_w;
  const int32_t mult = out_c / in_c;
  const float lo = p->act_min, hi = p->act_max;
  const ptrdiff_t in_img = (ptrdiff_t)in_h * in_w * in_c;
  const ptrdiff_t in_row = (ptrdiff_t)in_w * in_c;
  const ptrdiff_t w_row = (ptrdiff_t)kw_n * out_c;

  for (int32_t n = 0; n < q->batch; ++n) {
    const float *img = in + n * in_img;
    for (int32_t oh = 0; oh < out_h; ++oh) {
      const int32_t ih0 = oh * sh - q->pad_top;
      int32_t kh0, kh1;
      tap_range(ih0, dh, kh_n, 0, in_h, &kh0, &kh1);
      for (int32_t ow = 0; ow < out_w; ++ow) {
        const int32_t iw0 = ow * sw - q->pad_left;
        int32_t kw0, kw1;
        tap_range(iw0, dw, kw_n, 0, in_w, &kw0, &kw1);
        if (mult == 1) {
          int32_t c = 0;
          for (; c + 4 <= out_c; c += 4) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (int32_t kh = kh0; kh < kh1; ++kh) {
              const float *xr = img + (ptrdiff_t)(ih0 + kh * dh) * in_row + c;
              const float *wr = w + kh * w_row + c;
              for (int32_t kw = kw0; kw < kw1; ++kw) {
                const float *xs = xr + (ptrdiff_t)(iw0 + kw * dw) * in_c;
                const float *ws = wr + (ptrdiff_t)kw * out_c;
                a0 += xs[0] * ws[0];
                a1 += xs[1] * ws[1];
                a2 += xs[2] * ws[2];
                a3 += xs[3] * ws[3];
              }
            }
            if (bias) {
              a0 += bias[c];
              a1 += bias[c + 1];
              a2 += bias[c + 2];
              a3 += bias[c + 3];
            }
            out[c] = clampf_(a0, lo, hi);
            out[c + 1] = clampf_(a1, lo, hi);
            out[c + 2] = clampf_(a2, lo, hi);
            out[c + 3] = clampf_(a3, lo, hi);
          }
          for (; c < out_c; ++c) {
            float a0 = 0.0f;
            for (int32_t kh = kh0; kh < kh1; ++kh) {
              const float *xr = img + (ptrdiff_t)(ih0 + kh * dh) * in_row + c;
              const float *wr = w + kh * w_row + c;
              for (int32_t kw = kw0; kw < kw1; ++kw)
                a0 += xr[(ptrdiff_t)(iw0 + kw * dw) * in_c] * wr[(ptrdiff_t)kw * out_c];
            }
            if (bias) a0 += bias[c];
            out[c] = clampf_(a0, lo, hi);
          }
        } else {
          for (int32_t ic = 0; ic < in_c; ++ic) {
            for (int32_t j = 0; j < mult; ++j) {
              const int32_t oc = ic * mult + j;
              float a0 = 0.0f;
              for (int32_t kh = kh0; kh < kh1; ++kh) {
                const float *xr = img + (ptrdiff_t)(ih0 + kh * dh) * in_row + ic;
                const float *wr = w + kh * w_row + oc;
                for (int32_t kw = kw0; kw < kw1; ++kw)
                  a0 += xr[(ptrdiff_t)(iw0 + kw * dw) * in_c] * wr[(ptrdiff_t)kw * out_c];
              }
              if (bias) a0 += bias[oc];
              out[oc] = clampf_(a0, lo, hi);
            }
          }
        }
        out += out_c;
      }
    }
  }
}

/* Gather form: each output pixel collects the (input pixel, tap) pairs that reach it,
 * oh + pad_top == ih * stride_h + kh * dil_h, accumulating into the output pixel (contiguous
 * over the group's output channels), then clamps it. */
void edgeir_conv_transpose_f32(const edgeir_conv_f32_params *p, const float *in,
                               const float *w, const float *bias, float *out) {
  const edgeir_window *q = &p->win;
  const int32_t in_h = q->in_h, in_w = q->in_w, in_c = q->in_c;
  const int32_t out_h = q->out_h, out_w = q->out_w, out_c = q->out_c;
  const int32_t kh_n = q->k_h, kw_n = q->k_w;
  const int32_t sh = q->stride_h, sw = q->stride_w, dh = q->dil_h, dw = q->dil_w;
  const int32_t groups = p->groups;
  const int32_t cg = in_c / groups, og = out_c / groups;
  const float lo = p->act_min, hi = p->act_max;
  const ptrdiff_t in_img = (ptrdiff_t)in_h * in_w * in_c;
  const ptrdiff_t w_ic = (ptrdiff_t)kh_n * kw_n * og; /* weights per input channel */

  for (int32_t n = 0; n < q->batch; ++n) {
    const float *img = in + n * in_img;
    for (int32_t oh = 0; oh < out_h; ++oh) {
      const int32_t th = oh + q->pad_top;
      for (int32_t ow = 0; ow < out_w; ++ow) {
        const int32_t tw = ow + q->pad_left;
        if (bias) {
          for (int32_t oc = 0; oc < out_c; ++oc) out[oc] = bias[oc];
        } else {
          for (int32_t oc = 0; oc < out_c; ++oc) out[oc] = 0.0f;
        }
        for (int32_t kh = 0; kh < kh_n; ++kh) {
          const int32_t vh = th - kh * dh;
          if (vh < 0) break;
          if (vh % sh) continue;
          const int32_t ih = vh / sh;
          if (ih >= in_h) continue;
          for (int32_t kw = 0; kw < kw_n; ++kw) {
            const int32_t vw = tw - kw * dw;
            if (vw < 0) break;
            if (vw % sw) continue;
            const int32_t iw = vw / sw;
            if (iw >= in_w) continue;
            const float *x = img + ((ptrdiff_t)ih * in_w + iw) * in_c;
            const float *wt = w + ((ptrdiff_t)kh * kw_n + kw) * og;
            for (int32_t g = 0; g < groups; ++g) {
              float *o = out + (ptrdiff_t)g * og;
              for (int32_t ic = g * cg; ic < (g + 1) * cg; ++ic) {
                const float xv = x[ic];
                const float *wr = wt + ic * w_ic;
                for (int32_t oc = 0; oc < og; ++oc) o[oc] += xv * wr[oc];
              }
            }
          }
        }
        for (int32_t oc = 0; oc < out_c; ++oc) out[oc] = clampf_(out[oc], lo, hi);
        out += out_c;
      }
    }
  }
}

/* ---- fully connected / matmul ------------------------------------------------------------- */

void edgeir_fc_f32(const edgeir_fc_f32_params *p, const float *in, const float *w,
                   const float *bias, float *out) {
  const int32_t k = p->in_features, o = p->out_features;
  for (int32_t b = 0; b < p->batch; ++b)
    fc_row(in + (ptrdiff_t)b * k, w, bias, out + (ptrdiff_t)b * o, k, o, p->act_min,
           p->act_max);
}

void edgeir_matmul_f32(const edgeir_matmul_f32_params *p, const float *a, const float *b,
                       const float *c, float *out) {
  const int32_t m = p->m, n = p->n, k = p->k;
  const float alpha = p->alpha, beta = p->beta, lo = p->act_min, hi = p->act_max;
  /* A'[i][kk] = a[i * a_i + kk * a_k] */
  const ptrdiff_t a_i = p->trans_a ? 1 : k, a_k = p->trans_a ? m : 1;
  /* C over [batch, m, n] is dims 1..3 of c_bc (dim 0 is the leading 1). */
  const ptrdiff_t c_b = p->c_bc.a_stride[1], c_i = p->c_bc.a_stride[2];
  const ptrdiff_t c_j = p->c_bc.a_stride[3];

  for (int32_t bt = 0; bt < p->batch; ++bt) {
    const float *ab = a + (ptrdiff_t)bt * p->a_batch_stride;
    const float *bb = b + (ptrdiff_t)bt * p->b_batch_stride;
    const float *cb = c ? c + bt * c_b : NULL;
    float *ob = out + (ptrdiff_t)bt * m * n;
    for (int32_t i = 0; i < m; ++i) {
      const float *ar = ab + i * a_i;
      float *orow = ob + (ptrdiff_t)i * n;
      if (p->trans_b) {
        /* B'[kk][j] = bb[j * k + kk]: dot products over contiguous B rows. */
        int32_t j = 0;
        for (; j + 4 <= n; j += 4) {
          const float *b0 = bb + (ptrdiff_t)j * k;
          const float *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
          float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
          for (int32_t kk = 0; kk < k; ++kk) {
            const float av = ar[kk * a_k];
            s0 += av * b0[kk];
            s1 += av * b1[kk];
            s2 += av * b2[kk];
            s3 += av * b3[kk];
          }
          orow[j] = s0;
          orow[j + 1] = s1;
          orow[j + 2] = s2;
          orow[j + 3] = s3;
        }
        for (; j < n; ++j) {
          const float *b0 = bb + (ptrdiff_t)j * k;
          float s0 = 0.0f;
          for (int32_t kk = 0; kk < k; ++kk) s0 += ar[kk * a_k] * b0[kk];
          orow[j] = s0;
        }
      } else {
        /* B'[kk][j] = bb[kk * n + j]: accumulate scaled B rows into the output row. */
        for (int32_t j = 0; j < n; ++j) orow[j] = 0.0f;
        for (int32_t kk = 0; kk < k; ++kk) {
          const float av = ar[kk * a_k];
          const float *br = bb + (ptrdiff_t)kk * n;
          for (int32_t j = 0; j < n; ++j) orow[j] += av * br[j];
        }
      }
      if (cb) {
        const float *cr = cb + i * c_i;
        for (int32_t j = 0; j < n; ++j)
          orow[j] = clampf_(alpha * orow[j] + beta * cr[j * c_j], lo, hi);
      } else {
        for (int32_t j = 0; j < n; ++j) orow[j] = clampf_(alpha * orow[j], lo, hi);
      }
    }
  }
}

/* ---- elementwise -------------------------------------------------------------------------- */

/* One innermost row of a binary op; stride patterns (1,1), (1,0), (0,1) get their own
 * loops. */
#define EDGEIR_BINARY_ROW(EXPR)                                                     \
  do {                                                                              \
    if (sa == 1 && sb == 1) {                                                       \
      for (int32_t i = 0; i < len; ++i) {                                           \
        const float x = a[i], y = b[i];                                             \
        o[i] = clampf_(EXPR, lo, hi);                                               \
      }                                                                             \
    } else if (sa == 1 && sb == 0) {                                                \
      const float y = b[0];                                                         \
      for (int32_t i = 0; i < len; ++i) {                                           \
        const float x = a[i];                                                       \
        o[i] = clampf_(EXPR, lo, hi);                                               \
      }                                                                             \
    } else if (sa == 0 && sb == 1) {                                                \
      const float x = a[0];                                                         \
      for (int32_t i = 0; i < len; ++i) {                                           \
        const float y = b[i];                                                       \
        o[i] = clampf_(EXPR, lo, hi);                                               \
      }                                                                             \
    } else {                                                                        \
      for (int32_t i = 0; i < len; ++i) {                                           \
        const float x = a[i * sa], y = b[i * sb];                                   \
        o[i] = clampf_(EXPR, lo, hi);                                               \
      }                                                                             \
    }                                                                               \
  } while (0)

static void binary_row(int32_t op, const float *a, ptrdiff_t sa, const float *b,
                       ptrdiff_t sb, float *o, int32_t len, float lo, float hi) {
  switch (op) {
    case EDGEIR_ADD: EDGEIR_BINARY_ROW(x + y); break;
    case EDGEIR_SUB: EDGEIR_BINARY_ROW(x - y); break;
    case EDGEIR_MUL: EDGEIR_BINARY_ROW(x * y); break;
    default: EDGEIR_BINARY_ROW(x / y); break;
  }
}

void edgeir_binary_f32(const edgeir_binary_f32_params *p, const float *a, const float *b,
                       float *out) {
  /* Drop size-1 dims and merge neighbours that are contiguous in both operands, so that
   * the non-broadcast case is a single flat row and broadcasts have the longest rows. */
  int32_t shape[4] = {1, 1, 1, 1};
  ptrdiff_t sa[4] = {0, 0, 0, 0}, sb[4] = {0, 0, 0, 0};
  int r = 0;
  for (int d = 0; d < 4; ++d) {
    const int32_t s = p->bc.shape[d];
    if (s == 1) continue;
    if (s == 0) return;
    const ptrdiff_t da = p->bc.a_stride[d], db = p->bc.b_stride[d];
    if (r > 0 && sa[r - 1] == da * s && sb[r - 1] == db * s) {
      shape[r - 1] *= s;
      sa[r - 1] = da;
      sb[r - 1] = db;
    } else {
      shape[r] = s;
      sa[r] = da;
      sb[r] = db;
      ++r;
    }
  }
  if (r == 0) r = 1;
  /* Right-align the r collapsed dims into 4. */
  int32_t sh[4] = {1, 1, 1, 1};
  ptrdiff_t ta[4] = {0, 0, 0, 0}, tb[4] = {0, 0, 0, 0};
  for (int d = 0; d < r; ++d) {
    sh[4 - r + d] = shape[d];
    ta[4 - r + d] = sa[d];
    tb[4 - r + d] = sb[d];
  }
  const float lo = p->act_min, hi = p->act_max;
  const int32_t len = sh[3];
  for (int32_t i0 = 0; i0 < sh[0]; ++i0) {
    for (int32_t i1 = 0; i1 < sh[1]; ++i1) {
      for (int32_t i2 = 0; i2 < sh[2]; ++i2) {
        const float *ar = a + i0 * ta[0] + i1 * ta[1] + i2 * ta[2];
        const float *br = b + i0 * tb[0] + i1 * tb[1] + i2 * tb[2];
        binary_row(p->op, ar, ta[3], br, tb[3], out, len, lo, hi);
        out += len;
      }
    }
  }
}

void edgeir_unary_f32(const edgeir_unary_f32_params *p, const float *in, float *out) {
  const int32_t size = p->size;
  const float alpha = p->alpha, beta = p->beta;
  switch (p->op) {
    case EDGEIR_RELU:
      for (int32_t i = 0; i < size; ++i) {
        const float x = in[i];
        out[i] = x < 0.0f ? 0.0f : x;
      }
      break;
    case EDGEIR_LEAKY_RELU:
      for (int32_t i = 0; i < size; ++i) {
        const float x = in[i];
        out[i] = x < 0.0f ? x * alpha : x;
      }
      break;
    case EDGEIR_CLIP:
      for (int32_t i = 0; i < size; ++i) out[i] = clampf_(in[i], alpha, beta);
      break;
    case EDGEIR_SIGMOID:
      /* Two branches so that exp never overflows. */
      for (int32_t i = 0; i < size; ++i) {
        const float x = in[i];
        if (x >= 0.0f) {
          out[i] = 1.0f / (1.0f + expf(-x));
        } else {
          const float e = expf(x);
          out[i] = e / (1.0f + e);
        }
      }
      break;
    case EDGEIR_TANH:
      for (int32_t i = 0; i < size; ++i) out[i] = tanhf(in[i]);
      break;
    case EDGEIR_HARD_SIGMOID:
      for (int32_t i = 0; i < size; ++i) out[i] = clampf_(alpha * in[i] + beta, 0.0f, 1.0f);
      break;
    case EDGEIR_HARD_SWISH:
      for (int32_t i = 0; i < size; ++i) {
        const float x = in[i];
        out[i] = x * clampf_(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
      }
      break;
    default:
      break;
  }
}

static float strided_max(const float *x, int32_t n, int32_t stride) {
  float mx = x[0];
  for (int32_t i = 1; i < n; ++i) {
    const float v = x[(ptrdiff_t)i * stride];
    if (v > mx) mx = v;
  }
  return mx;
}

void edgeir_softmax_f32(const edgeir_softmax_f32_params *p, const float *in, float *out) {
  const int32_t axis = p->axis, inner = p->inner;
  const ptrdiff_t block = (ptrdiff_t)axis * inner;
  for (int32_t o = 0; o < p->outer; ++o) {
    for (int32_t j = 0; j < inner; ++j) {
      const float *x = in + o * block + j;
      float *y = out + o * block + j;
      const float mx = strided_max(x, axis, inner);
      float sum = 0.0f;
      for (int32_t i = 0; i < axis; ++i) {
        const ptrdiff_t t = (ptrdiff_t)i * inner;
        const float e = expf(x[t] - mx);
        y[t] = e;
        sum += e;
      }
      const float inv = 1.0f / sum;
      for (int32_t i = 0; i < axis; ++i) y[(ptrdiff_t)i * inner] *= inv;
    }
  }
}

void edgeir_log_softmax_f32(const edgeir_softmax_f32_params *p, const float *in, float *out) {
  const int32_t axis = p->axis, inner = p->inner;
  const ptrdiff_t block = (ptrdiff_t)axis * inner;
  for (int32_t o = 0; o < p->outer; ++o) {
    for (int32_t j = 0; j < inner; ++j) {
      const float *x = in + o * block + j;
      float *y = out + o * block + j;
      const float mx = strided_max(x, axis, inner);
      float sum = 0.0f;
      for (int32_t i = 0; i < axis; ++i) sum += expf(x[(ptrdiff_t)i * inner] - mx);
      const float lse = logf(sum);
      for (int32_t i = 0; i < axis; ++i) {
        const ptrdiff_t t = (ptrdiff_t)i * inner;
        y[t] = (x[t] - mx) - lse;
      }
    }
  }
}

void edgeir_lrn_f32(const edgeir_lrn_f32_params *p, const float *in, float *out) {
  const int32_t axis = p->axis, inner = p->inner;
  const int32_t before = (p->size - 1) / 2, after = p->size / 2;
  const ptrdiff_t block = (ptrdiff_t)axis * inner;
  for (int32_t o = 0; o < p->outer; ++o) {
    for (int32_t j = 0; j < inner; ++j) {
      const float *x = in + o * block + j;
      float *y = out + o * block + j;
      for (int32_t i = 0; i < axis; ++i) {
        const int32_t lo = i - before < 0 ? 0 : i - before;
        const int32_t hi = i + after > axis - 1 ? axis - 1 : i + after;
        float sum = 0.0f;
        for (int32_t k = lo; k <= hi; ++k) {
          const float v = x[(ptrdiff_t)k * inner];
          sum += v * v;
        }
        y[(ptrdiff_t)i * inner] =
            x[(ptrdiff_t)i * inner] / powf(p->bias + p->alpha_over_size * sum, p->beta);
      }
    }
  }
}

/* ---- pooling and reductions --------------------------------------------------------------- */

void edgeir_avg_pool_f32(const edgeir_pool_f32_params *p, const float *in, float *out) {
  const edgeir_window *q = &p->win;
  const int32_t in_h = q->in_h, in_w = q->in_w, c = q->in_c;
  const int32_t kh_n = q->k_h, kw_n = q->k_w;
  const int32_t sh = q->stride_h, sw = q->stride_w, dh = q->dil_h, dw = q->dil_w;
  const float lo = p->act_min, hi = p->act_max;
  const ptrdiff_t in_img = (ptrdiff_t)in_h * in_w * c;
  const ptrdiff_t in_row = (ptrdiff_t)in_w * c;
  for (int32_t n = 0; n < q->batch; ++n) {
    const float *img = in + n * in_img;
    for (int32_t oh = 0; oh < q->out_h; ++oh) {
      const int32_t ih0 = oh * sh - q->pad_top;
      int32_t kh0, kh1, ph0, ph1;
      tap_range(ih0, dh, kh_n, 0, in_h, &kh0, &kh1);
      if (p->count_include_pad)
        tap_range(ih0, dh, kh_n, -q->pad_top, in_h + q->pad_bottom, &ph0, &ph1);
      else
        ph0 = kh0, ph1 = kh1;
      for (int32_t ow = 0; ow < q->out_w; ++ow) {
        const int32_t iw0 = ow * sw - q->pad_left;
        int32_t kw0, kw1, pw0, pw1;
        tap_range(iw0, dw, kw_n, 0, in_w, &kw0, &kw1);
        if (p->count_include_pad)
          tap_range(iw0, dw, kw_n, -q->pad_left, in_w + q->pad_right, &pw0, &pw1);
        else
          pw0 = kw0, pw1 = kw1;
        for (int32_t ch = 0; ch < c; ++ch) out[ch] = 0.0f;
        for (int32_t kh = kh0; kh < kh1; ++kh) {
          const float *xr = img + (ptrdiff_t)(ih0 + kh * dh) * in_row;
          for (int32_t kw = kw0; kw < kw1; ++kw) {
            const float *x = xr + (ptrdiff_t)(iw0 + kw * dw) * c;
            for (int32_t ch = 0; ch < c; ++ch) out[ch] += x[ch];
          }
        }
        /* An empty window (all padding) gives 0 / 0 = NaN, as the golden op. */
        const float count = (float)((ph1 - ph0) * (pw1 - pw0));
        const float inv = 1.0f / count;
        for (int32_t ch = 0; ch < c; ++ch) out[ch] = clampf_(out[ch] * inv, lo, hi);
        out += c;
      }
    }
  }
}

void edgeir_max_pool_f32(const edgeir_pool_f32_params *p, const float *in, float *out) {
  const edgeir_window *q = &p->win;
  const int32_t in_h = q->in_h, in_w = q->in_w, c = q->in_c;
  const int32_t kh_n = q->k_h, kw_n = q->k_w;
  const int32_t sh = q->stride_h, sw = q->stride_w, dh = q->dil_h, dw = q->dil_w;
  const float lo = p->act_min, hi = p->act_max;
  const ptrdiff_t in_img = (ptrdiff_t)in_h * in_w * c;
  const ptrdiff_t in_row = (ptrdiff_t)in_w * c;
  for (int32_t n = 0; n < q->batch; ++n) {
    const float *img = in + n * in_img;
    for (int32_t oh = 0; oh < q->out_h; ++oh) {
      const int32_t ih0 = oh * sh - q->pad_top;
      int32_t kh0, kh1;
      tap_range(ih0, dh, kh_n, 0, in_h, &kh0, &kh1);
      for (int32_t ow = 0; ow < q->out_w; ++ow) {
        const int32_t iw0 = ow * sw - q->pad_left;
        int32_t kw0, kw1;
        tap_range(iw0, dw, kw_n, 0, in_w, &kw0, &kw1);
        for (int32_t ch = 0; ch < c; ++ch) out[ch] = -INFINITY;
        for (int32_t kh = kh0; kh < kh1; ++kh) {
          const float *xr = img + (ptrdiff_t)(ih0 + kh * dh) * in_row;
          for (int32_t kw = kw0; kw < kw1; ++kw) {
            const float *x = xr + (ptrdiff_t)(iw0 + kw * dw) * c;
            for (int32_t ch = 0; ch < c; ++ch) {
              const float v = x[ch];
              if (v > out[ch]) out[ch] = v;
            }
          }
        }
        for (int32_t ch = 0; ch < c; ++ch) out[ch] = clampf_(out[ch], lo, hi);
        out += c;
      }
    }
  }
}

void edgeir_reduce_f32(const edgeir_reduce_f32_params *p, const float *in, float *out) {
  const int32_t axis = p->axis, inner = p->inner;
  const ptrdiff_t block = (ptrdiff_t)axis * inner;
  for (int32_t o = 0; o < p->outer; ++o) {
    const float *x = in + o * block;
    if (inner == 1) {
      float acc = x[0];
      if (p->op == 1) {
        for (int32_t i = 1; i < axis; ++i)
          if (x[i] > acc) acc = x[i];
      } else {
        for (int32_t i = 1; i < axis; ++i) acc += x[i];
        acc /= (float)axis;
      }
      out[o] = acc;
      continue;
    }
    /* Accumulate whole contiguous rows into the output row. */
    float *y = out + (ptrdiff_t)o * inner;
    for (int32_t j = 0; j < inner; ++j) y[j] = x[j];
    if (p->op == 1) {
      for (int32_t i = 1; i < axis; ++i) {
        const float *xr = x + (ptrdiff_t)i * inner;
        for (int32_t j = 0; j < inner; ++j)
          if (xr[j] > y[j]) y[j] = xr[j];
      }
    } else {
      for (int32_t i = 1; i < axis; ++i) {
        const float *xr = x + (ptrdiff_t)i * inner;
        for (int32_t j = 0; j < inner; ++j) y[j] += xr[j];
      }
      const float inv = 1.0f / (float)axis;
      for (int32_t j = 0; j < inner; ++j) y[j] *= inv;
    }
  }
}

void edgeir_channel_affine_f32(const edgeir_channel_affine_f32_params *p, const float *in,
                               const float *scale, const float *shift, float *out) {
  const int32_t ch = p->channels, inner = p->inner;
  if (inner == 1) {
    for (int32_t o = 0; o < p->outer; ++o) {
      for (int32_t c = 0; c < ch; ++c) out[c] = in[c] * scale[c] + shift[c];
      in += ch;
      out += ch;
    }
    return;
  }
  for (int32_t o = 0; o < p->outer; ++o) {
    for (int32_t c = 0; c < ch; ++c) {
      const float s = scale[c], t = shift[c];
      for (int32_t j = 0; j < inner; ++j) out[j] = in[j] * s + t;
      in += inner;
      out += inner;
    }
  }
}
