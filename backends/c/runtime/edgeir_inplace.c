/* edgeir in-place int8 kernels: convolutions whose output may share its input's bytes.
 *
 * Same arithmetic as the kernels of edgeir_s8.c (TFLM reference semantics, the input zero
 * point folded into the bias, padding taps reading in_zp), different memory behaviour:
 * - edgeir_depthwise_conv_s8_inplace works channel by channel, saving the input rows of
 *   that channel in a ring of ((k_h - 1) * dil_h + 1) rows (`scratch`, in_w bytes a row)
 *   before output writes can reach them. The output may be the input itself (same
 *   address; lower-c checks that each output row only overwrites input rows already
 *   saved) or disjoint from it.
 * - edgeir_pointwise_conv_s8 (1x1, stride 1, no padding) accumulates each output pixel in
 *   `scratch` (out_c int32 accumulators, 4-byte aligned) and writes it out only then: the
 *   output pixel p may overwrite input pixels 0..p, so with as many output as input
 *   channels it runs in place.
 */
#include "edgeir_kernels.h"

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, int32_t out_zp,
                             int32_t lo, int32_t hi) {
  return (int8_t)(edgeir_clamp_i32(edgeir_mbqm(acc, mult, shift), lo, hi) + out_zp);
}

void edgeir_depthwise_conv_s8_inplace(const edgeir_conv_s8_params *p, const int8_t *in,
                                      const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int8_t *out,
                                      int8_t *scratch) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, c_n = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w;
  const int32_t out_zp = p->out_zp, in_zp = p->in_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  const int32_t ring = (wn->k_h - 1) * wn->dil_h + 1; /* rows one window spans */
  int32_t b, c, y, x, ky, kx;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)(in_h * in_w * c_n);
    int8_t *out_b = out + (size_t)b * (size_t)(out_h * out_w * c_n);
    for (c = 0; c < c_n; ++c) {
      int32_t copied = 0; /* input rows of channel c saved in the ring so far */
      for (y = 0; y < out_h; ++y) {
        const int32_t iy0 = y * wn->stride_h - wn->pad_top;
        int32_t need = iy0 + (wn->k_h - 1) * wn->dil_h + 1;
        if (need > in_h) need = in_h;
        for (; copied < need; ++copied) { /* save rows before any write reaches them */
          int8_t *dst = scratch + (copied % ring) * in_w;
          const int8_t *src = in_b + (size_t)copied * (size_t)(in_w * c_n) + c;
          for (x = 0; x < in_w; ++x) dst[x] = src[x * c_n];
        }
        for (x = 0; x < out_w; ++x) {
          const int32_t ix0 = x * wn->stride_w - wn->pad_left;
          int32_t acc = bias ? bias[c] : 0;
          for (ky = 0; ky < wn->k_h; ++ky) {
            const int32_t iy = iy0 + ky * wn->dil_h;
            const int row_ok = iy >= 0 && iy < in_h;
            const int8_t *row = scratch + (row_ok ? iy % ring : 0) * in_w;
            for (kx = 0; kx < wn->k_w; ++kx) {
              const int32_t ix = ix0 + kx * wn->dil_w;
              const int32_t v = (row_ok && ix >= 0 && ix < in_w) ? row[ix] : in_zp;
              acc += v * (int32_t)w[(ky * wn->k_w + kx) * c_n + c];
            }
          }
          out_b[(y * out_w + x) * c_n + c] = requant(acc, mult[c], shift[c], out_zp, lo, hi);
        }
      }
    }
  }
}

/* One output pixel of a pointwise convolution: accumulate in acc, then write y. */
static void pointwise_pixel(const edgeir_conv_s8_params *p, const int8_t *x, const int8_t *w,
                            const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            int8_t *y, int32_t *acc) {
  const int32_t in_c = p->win.in_c, out_c = p->win.out_c, out_zp = p->out_zp;
  const int32_t lo = p->act_min - out_zp, hi = p->act_max - out_zp;
  int32_t oc, ci;
  for (oc = 0; oc < out_c; ++oc) acc[oc] = bias ? bias[oc] : 0;
  for (ci = 0; ci < in_c; ++ci) {
    const int32_t xv = x[ci];
    const int8_t *wr = w + ci * out_c;
    for (oc = 0; oc < out_c; ++oc) acc[oc] += xv * (int32_t)wr[oc];
  }
  /* all of the input pixel has been read: the output pixel may now overwrite it */
  for (oc = 0; oc < out_c; ++oc) y[oc] = requant(acc[oc], mult[oc], shift[oc], out_zp, lo, hi);
}

void edgeir_pointwise_conv_s8(const edgeir_conv_s8_params *p, const int8_t *in,
                              const int8_t *w, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, int8_t *out, int8_t *scratch) {
  const int32_t pixels = p->win.batch * p->win.out_h * p->win.out_w;
  int32_t px;
  for (px = 0; px < pixels; ++px)
    pointwise_pixel(p, in + (size_t)px * (size_t)p->win.in_c, w, bias, mult, shift,
                    out + (size_t)px * (size_t)p->win.out_c, (int32_t *)(void *)scratch);
}

/* The same, pixels from the last to the first: output pixel p (written once input pixel p
 * has been read) may overwrite input pixels p.. and above, so a convolution with more
 * output than input channels runs in place (output at the input's address). */
void edgeir_pointwise_conv_s8_reverse(const edgeir_conv_s8_params *p, const int8_t *in,
                                      const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int8_t *out,
                                      int8_t *scratch) {
  int32_t px;
  for (px = p->win.batch * p->win.out_h * p->win.out_w - 1; px >= 0; --px)
    pointwise_pixel(p, in + (size_t)px * (size_t)p->win.in_c, w, bias, mult, shift,
                    out + (size_t)px * (size_t)p->win.out_c, (int32_t *)(void *)scratch);
}

/* A convolution (groups 1, weights [k_h][k_w][in_c][out_c]) whose result feeds an int8 add
 * with `residual`, fused: each output pixel's convolution is accumulated in `scratch`
 * (out_c int32, 4-byte aligned), requantized as the convolution's own output (bit-exact
 * with running the two kernels one after the other), added to the residual pixel, and
 * written to `out`. `out` may be `residual` itself (the residual pixel is read just before
 * the output pixel is written); `in` must not overlap either. */
void edgeir_conv_add_s8(const edgeir_conv_s8_params *p, const int8_t *in, const int8_t *w,
                        const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        const edgeir_add_s8_params *add, int32_t conv_is_b,
                        const int8_t *residual, int8_t *out, int8_t *scratch) {
  const edgeir_window *wn = &p->win;
  const int32_t in_h = wn->in_h, in_w = wn->in_w, in_c = wn->in_c;
  const int32_t out_h = wn->out_h, out_w = wn->out_w, out_c = wn->out_c;
  const int32_t k_h = wn->k_h, k_w = wn->k_w;
  const int32_t in_row = in_w * in_c;
  const int32_t c_zp = p->out_zp;
  const int32_t c_lo = p->act_min - c_zp, c_hi = p->act_max - c_zp;
  const int32_t a_lo = add->act_min - add->out_zp, a_hi = add->act_max - add->out_zp;
  int32_t *acc = (int32_t *)(void *)scratch;
  int32_t b, oy, ox, oc, ky, kx, ci;
  for (b = 0; b < wn->batch; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)(in_h * in_row);
    for (oy = 0; oy < out_h; ++oy) {
      const int32_t iy0 = oy * wn->stride_h - wn->pad_top;
      for (ox = 0; ox < out_w; ++ox) {
        const int32_t ix0 = ox * wn->stride_w - wn->pad_left;
        const size_t px = ((size_t)b * (size_t)out_h + (size_t)oy) * (size_t)out_w + (size_t)ox;
        for (oc = 0; oc < out_c; ++oc) acc[oc] = bias ? bias[oc] : 0;
        for (ky = 0; ky < k_h; ++ky) {
          const int32_t iy = iy0 + ky * wn->dil_h;
          for (kx = 0; kx < k_w; ++kx) {
            const int32_t ix = ix0 + kx * wn->dil_w;
            const int ok = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
            const int8_t *xp = ok ? in_b + iy * in_row + ix * in_c : 0;
            const int8_t *wt = w + (size_t)((ky * k_w + kx) * in_c) * (size_t)out_c;
            for (ci = 0; ci < in_c; ++ci) {
              const int32_t xv = ok ? xp[ci] : p->in_zp;
              const int8_t *wr = wt + (size_t)ci * (size_t)out_c;
              for (oc = 0; oc < out_c; ++oc) acc[oc] += xv * (int32_t)wr[oc];
            }
          }
        }
        for (oc = 0; oc < out_c; ++oc) {
          const int32_t conv = edgeir_clamp_i32(edgeir_mbqm(acc[oc], mult[oc], shift[oc]),
                                                c_lo, c_hi) + c_zp;
          const int32_t res = residual[px * (size_t)out_c + (size_t)oc];
          const int32_t a = conv_is_b ? res : conv, bv = conv_is_b ? conv : res;
          const int32_t sa = edgeir_mbqm_small((int32_t)((uint32_t)(a - add->a_zp)
                                                         << add->left_shift),
                                               add->a_mult, add->a_shift);
          const int32_t sb = edgeir_mbqm_small((int32_t)((uint32_t)(bv - add->b_zp)
                                                         << add->left_shift),
                                               add->b_mult, add->b_shift);
          const int32_t r = edgeir_mbqm_small(sa + sb, add->out_mult, add->out_shift);
          out[px * (size_t)out_c + (size_t)oc] =
              (int8_t)(edgeir_clamp_i32(r, a_lo, a_hi) + add->out_zp);
        }
      }
    }
  }
}
