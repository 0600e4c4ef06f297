/* The DSP kernels' requantization shortcut (rq_core, the one-multiply form of the edgeir_rq
 * records) against the portable edgeir_mbqm (TFLM's MultiplyByQuantizedMultiplier) where
 * lower-c admits it: edge cases and pseudo-random ones. Built by tests/test_c_kernels_dsp.py
 * with AddressSanitizer and UBSan; prints the count. */
#include <stdio.h>

#include "edgeir_s8_dsp.c"

static uint64_t state = 0x9E3779B97F4A7C15u;
static uint32_t next(void) { /* xorshift64* */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return (uint32_t)((state * 0x2545F4914F6CDD1Du) >> 32);
}

static int check(int32_t x, int32_t m, int32_t s) {
  /* rq_core's domain (what lower-c admits): m 0 or in [2^30, 2^31), shift in [-31, -2] */
  const int32_t r = m == 0 ? 2 : -s;
  int32_t want, got;
  if (!((m == 0 || m >= (1 << 30)) && s <= -2 && s >= -31)) return 0;
  want = edgeir_mbqm(x, m, s);
  got = rq_core(x, m, 1 << (r - 2), r - 1);
  if (want != got) {
    printf("mismatch x=%ld m=%ld s=%ld: rq_core %ld, want %ld\n", (long)x, (long)m, (long)s,
           (long)got, (long)want);
    return 1;
  }
  return 0;
}

int main(void) {
  static const int32_t xs[] = {0, 1, -1, 2, -2, 3, -3, 127, -128, 255, -256, 1 << 20,
                               -(1 << 20), INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1};
  static const int32_t ms[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, INT32_MAX - 1,
                               1518500250, 1431655765};
  long n = 0;
  int bad = 0, s;
  size_t i, j;
  for (i = 0; i < sizeof xs / sizeof xs[0]; ++i)
    for (j = 0; j < sizeof ms / sizeof ms[0]; ++j)
      for (s = -31; s <= 0; ++s, ++n) bad |= check(xs[i], ms[j], s);
  for (; n < 20000000L; ++n) {
    const int32_t x = (int32_t)(next() >> (next() & 31)) * ((next() & 1) ? 1 : -1);
    const int32_t m = (int32_t)(0x40000000u | (next() & 0x3FFFFFFFu));
    const int32_t sh = -(int32_t)(next() % 32);
    const int32_t small = (int32_t)(next() & 0xFFFF) - 0x8000; /* accumulators near zero */
    bad |= check(x, m, sh);
    bad |= check(small, m, sh);
  }
  printf("%ld cases, %s\n", n, bad ? "MISMATCH" : "all equal");
  return bad;
}
