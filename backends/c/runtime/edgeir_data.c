/* edgeir data-movement kernels (see edgeir_kernels.h): element-type agnostic, sizes in
 * bytes. C99, no malloc, no stdio, no recursion, no VLAs; multi-dimensional loops are
 * odometers. Element sizes 1, 2 and 4 get their own loops (4 and 2 only when both buffers
 * are suitably aligned, which they are for the types of those sizes); contiguous runs are
 * memcpy.
 */
#include "edgeir_kernels.h"

#include <string.h>

/* Typed views of arena bytes that may alias any object type (float data is moved as
 * uint32_t without breaking strict aliasing). */
#if defined(__GNUC__)
typedef uint32_t __attribute__((__may_alias__)) edgeir_u32a;
typedef uint16_t __attribute__((__may_alias__)) edgeir_u16a;
#else
typedef uint32_t edgeir_u32a;
typedef uint16_t edgeir_u16a;
#endif

static inline int aligned_(const void *a, const void *b, uintptr_t n) {
  return (((uintptr_t)a | (uintptr_t)b) & (n - 1)) == 0;
}

/* out[i] = in[i * stride] for i < n (elements of es bytes; stride in elements). */
static void strided_row(uint8_t *out, const uint8_t *in, int32_t n, ptrdiff_t stride,
                        size_t es, int al) {
  if (stride == 1) {
    memcpy(out, in, (size_t)n * es);
    return;
  }
  if (es == 4 && al) {
    edgeir_u32a *o = (edgeir_u32a *)(void *)out;
    const edgeir_u32a *x = (const edgeir_u32a *)(const void *)in;
    for (int32_t i = 0; i < n; ++i) o[i] = x[i * stride];
  } else if (es == 1) {
    for (int32_t i = 0; i < n; ++i) out[i] = in[i * stride];
  } else if (es == 2 && al) {
    edgeir_u16a *o = (edgeir_u16a *)(void *)out;
    const edgeir_u16a *x = (const edgeir_u16a *)(const void *)in;
    for (int32_t i = 0; i < n; ++i) o[i] = x[i * stride];
  } else {
    const ptrdiff_t sb = stride * (ptrdiff_t)es;
    for (int32_t i = 0; i < n; ++i) memcpy(out + (size_t)i * es, in + i * sb, es);
  }
}

/* Fill n elements of es bytes with the element at value. */
static void fill_(uint8_t *out, int32_t n, const void *value, size_t es) {
  if (n <= 0) return;
  if (es == 1) {
    memset(out, *(const uint8_t *)value, (size_t)n);
  } else if (es == 4 && aligned_(out, value, 4)) {
    edgeir_u32a *o = (edgeir_u32a *)(void *)out;
    const edgeir_u32a v = *(const edgeir_u32a *)value;
    for (int32_t i = 0; i < n; ++i) o[i] = v;
  } else {
    /* Doubling copies: log2(n) memcpy calls. */
    const size_t total = (size_t)n * es;
    size_t done = es;
    memcpy(out, value, es);
    while (done < total) {
      const size_t chunk = done < total - done ? done : total - done;
      memcpy(out + done, out, chunk);
      done += chunk;
    }
  }
}

void edgeir_strided_copy(const edgeir_strided_params *p, const void *in, void *out) {
  const size_t es = (size_t)p->elem_size;
  int32_t shape[EDGEIR_MAX_RANK];
  ptrdiff_t stride[EDGEIR_MAX_RANK];
  int r = 0;
  /* Drop size-1 dims and merge dims whose input strides nest (a contiguous run, or a
   * broadcast of a broadcast), so that the inner row is as long as possible. */
  for (int d = 0; d < p->rank; ++d) {
    const int32_t s = p->out_shape[d];
    if (s == 1) continue;
    if (s <= 0) return;
    const ptrdiff_t st = p->in_stride[d];
    if (r > 0 && stride[r - 1] == st * s) {
      shape[r - 1] *= s;
      stride[r - 1] = st;
    } else {
      shape[r] = s;
      stride[r] = st;
      ++r;
    }
  }
  const uint8_t *src = (const uint8_t *)in;
  uint8_t *dst = (uint8_t *)out;
  ptrdiff_t off = p->in_offset;
  if (r == 0) {
    memcpy(dst, src + off * (ptrdiff_t)es, es);
    return;
  }
  const int al = aligned_(in, out, es == 4 ? 4 : 2);
  const int32_t n = shape[r - 1];
  const ptrdiff_t s_in = stride[r - 1];
  const size_t row_bytes = (size_t)n * es;
  int32_t idx[EDGEIR_MAX_RANK] = {0};
  for (;;) {
    strided_row(dst, src + off * (ptrdiff_t)es, n, s_in, es, al);
    dst += row_bytes;
    int d = r - 2;
    for (; d >= 0; --d) {
      off += stride[d];
      if (++idx[d] < shape[d]) break;
      off -= stride[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

void edgeir_concat_piece_copy(const edgeir_concat_piece *p, const void *in, void *out) {
  const uint8_t *src = (const uint8_t *)in;
  uint8_t *dst = (uint8_t *)out + p->out_offset_bytes;
  const size_t n = (size_t)p->inner_bytes;
  if (p->inner_bytes == p->out_inner_bytes) {
    memcpy(dst, src, n * (size_t)p->outer);
    return;
  }
  for (int32_t r = 0; r < p->outer; ++r) {
    memcpy(dst, src, n);
    src += n;
    dst += p->out_inner_bytes;
  }
}

void edgeir_split_piece_copy(const edgeir_concat_piece *p, const void *in, void *out) {
  const uint8_t *src = (const uint8_t *)in + p->out_offset_bytes;
  uint8_t *dst = (uint8_t *)out;
  const size_t n = (size_t)p->inner_bytes;
  if (p->inner_bytes == p->out_inner_bytes) {
    memcpy(dst, src, n * (size_t)p->outer);
    return;
  }
  for (int32_t r = 0; r < p->outer; ++r) {
    memcpy(dst, src, n);
    src += p->out_inner_bytes;
    dst += n;
  }
}

void edgeir_pad(const edgeir_pad_params *p, const void *in, void *out) {
  const size_t es = (size_t)p->elem_size;
  int r = p->rank;
  if (r <= 0) {
    memcpy(out, in, es);
    return;
  }
  int32_t in_shape[EDGEIR_MAX_RANK], before[EDGEIR_MAX_RANK], out_shape[EDGEIR_MAX_RANK];
  for (int d = 0; d < r; ++d) {
    in_shape[d] = p->in_shape[d];
    before[d] = p->pad_before[d];
    out_shape[d] = p->out_shape[d];
    if (out_shape[d] <= 0) return;
  }
  /* Unpadded trailing dims fold into the row: (i, j) with j unpadded is row position
   * i * W + j of a dim of in_shape * W padded by before * W. */
  while (r > 1 && before[r - 1] == 0 && in_shape[r - 1] == out_shape[r - 1]) {
    const int32_t wd = in_shape[r - 1];
    in_shape[r - 2] *= wd;
    before[r - 2] *= wd;
    out_shape[r - 2] *= wd;
    --r;
  }
  ptrdiff_t in_stride[EDGEIR_MAX_RANK];
  in_stride[r - 1] = 1;
  for (int d = r - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * in_shape[d + 1];

  const uint8_t *src = (const uint8_t *)in;
  uint8_t *dst = (uint8_t *)out;
  const int32_t row_in = in_shape[r - 1], row_out = out_shape[r - 1];
  const int32_t row_before = before[r - 1];
  int32_t row_after = row_out - row_before - row_in;
  int32_t row_copy = row_in;
  if (row_after < 0) { /* out_shape cuts the input short (not expected; stay in bounds) */
    row_copy += row_after;
    row_after = 0;
  }
  const size_t out_row_bytes = (size_t)row_out * es;
  int32_t idx[EDGEIR_MAX_RANK] = {0};
  for (;;) {
    /* Does this output row come from an input row, and which? */
    int inside = 1;
    ptrdiff_t off = 0;
    for (int d = 0; d < r - 1; ++d) {
      const int32_t i = idx[d] - before[d];
      if (i < 0 || i >= in_shape[d]) {
        inside = 0;
        break;
      }
      off += i * in_stride[d];
    }
    if (inside && row_copy > 0) {
      fill_(dst, row_before, p->value, es);
      memcpy(dst + (size_t)row_before * es, src + off * (ptrdiff_t)es, (size_t)row_copy * es);
      fill_(dst + (size_t)(row_before + row_copy) * es, row_after, p->value, es);
    } else {
      fill_(dst, row_out, p->value, es);
    }
    dst += out_row_bytes;
    int d = r - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

void edgeir_gather_axes(const edgeir_gather_nd_params *p, const void *in, void *out) {
  const size_t es = (size_t)p->elem_size;
  const int r = p->rank;
  for (int d = 0; d < r; ++d)
    if (p->out_shape[d] <= 0) return;
  /* Trailing identity axes are one contiguous block per gathered element. */
  int t = r;
  size_t block = es;
  while (t > 0 && p->index[t - 1] == NULL) {
    block *= (size_t)p->in_shape[t - 1];
    --t;
  }
  const uint8_t *src = (const uint8_t *)in;
  uint8_t *dst = (uint8_t *)out;
  if (t == 0) {
    memcpy(dst, src, block);
    return;
  }
  /* Byte strides of the input axes. */
  ptrdiff_t stride[EDGEIR_MAX_RANK];
  stride[t - 1] = (ptrdiff_t)block;
  for (int d = t - 2; d >= 0; --d) stride[d] = stride[d + 1] * p->in_shape[d + 1];

  const int32_t *tab = p->index[t - 1];
  const int32_t n = p->out_shape[t - 1];
  const ptrdiff_t s_in = stride[t - 1];
  const int al4 = block == 4 && aligned_(in, out, 4);
  int32_t idx[EDGEIR_MAX_RANK] = {0};
  for (;;) {
    ptrdiff_t off = 0;
    for (int d = 0; d < t - 1; ++d) {
      const int32_t *ix = p->index[d];
      off += (ptrdiff_t)(ix ? ix[idx[d]] : idx[d]) * stride[d];
    }
    const uint8_t *row = src + off;
    if (al4) {
      edgeir_u32a *o = (edgeir_u32a *)(void *)dst;
      for (int32_t i = 0; i < n; ++i)
        o[i] = *(const edgeir_u32a *)(const void *)(row + tab[i] * s_in);
    } else if (block == 1) {
      for (int32_t i = 0; i < n; ++i) dst[i] = row[tab[i]];
    } else {
      for (int32_t i = 0; i < n; ++i) memcpy(dst + (size_t)i * block, row + tab[i] * s_in, block);
    }
    dst += (size_t)n * block;
    int d = t - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < p->out_shape[d]) break;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}
