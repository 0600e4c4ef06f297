/* The DSP kernels' requantization shortcut (rq_core, the one-multiply form of the edgeir_rq
 * records, with the output zero point folded into the rounding constant) against the
 * portable edgeir_mbqm (TFLM's MultiplyByQuantizedMultiplier) plus the zero point, where
 * lower-c admits it (backends/c/lower.py fast_requant): edge cases and pseudo-random ones.
 * Built by tests/test_c_kernels_dsp.py with AddressSanitizer and UBSan; prints the count. */
#include <stdio.h>

#include "edgeir_s8_dsp.c"

static uint64_t state = 0x9E3779B97F4A7C15u;
static uint32_t next(void) { /* xorshift64* */
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return (uint32_t)((state * 0x2545F4914F6CDD1Du) >> 32);
}

static int check(int32_t x, int32_t m, int32_t s, int32_t zp) {
  /* rq_core's domain (what lower-c admits): m 0 or in [2^30, 2^31), shift in [-31, -2],
   * and |round| + 2^30 + 2 < 2^31 with round = 2^(r-2) + zp * 2^(r-1) */
  const int32_t r = m == 0 ? 2 : -s;
  int64_t round;
  int32_t want, got;
  if (!((m == 0 || m >= (1 << 30)) && s <= -2 && s >= -31)) return 0;
  round = ((int64_t)1 << (r - 2)) + (int64_t)zp * ((int64_t)1 << (r - 1));
  if ((round < 0 ? -round : round) + (1LL << 30) + 2 >= (1LL << 31)) return 0;
  want = edgeir_mbqm(x, m, s) + zp;
  got = rq_core(x, m, (int32_t)round, r - 1);
  if (want != got) {
    printf("mismatch x=%ld m=%ld s=%ld zp=%ld: rq_core %ld, want %ld\n", (long)x, (long)m,
           (long)s, (long)zp, (long)got, (long)want);
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
      for (s = -31; s <= 0; ++s, ++n) {
        bad |= check(xs[i], ms[j], s, 0);
        bad |= check(xs[i], ms[j], s, -128);
        bad |= check(xs[i], ms[j], s, 127);
      }
  for (; n < 20000000L; ++n) {
    const int32_t x = (int32_t)(next() >> (next() & 31)) * ((next() & 1) ? 1 : -1);
    const int32_t m = (int32_t)(0x40000000u | (next() & 0x3FFFFFFFu));
    const int32_t sh = -(int32_t)(next() % 32);
    const int32_t small = (int32_t)(next() & 0xFFFF) - 0x8000; /* accumulators near zero */
    const int32_t zp = (int32_t)(next() & 0xFF) - 128;
    bad |= check(x, m, sh, zp);
    bad |= check(small, m, sh, zp);
  }
  printf("%ld cases, %s\n", n, bad ? "MISMATCH" : "all equal");
  return bad;
}
