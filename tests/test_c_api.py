"""The generated C API, exercised from C: zero-copy input/output pointers, invoke with
the static arena and with a caller-supplied one, run() with several inputs and outputs,
the float wrapper of an int8 model, and error codes. Built with ASan + UBSan."""

import subprocess
from pathlib import Path

import numpy as np

from backends.c.build import SANITIZE_FLAGS
from backends.c.driver import compile_model
from compiler import interp
from compiler.quant import arith
from compiler.text import parse

TWO_IN_TWO_OUT = """graph @two(%a: tensor<2x3xf32>, %b: tensor<2x3xf32>) {
  %s = add(%a, %b) : tensor<2x3xf32> loc("sum")
  %p = mul(%a, %b) : tensor<2x3xf32> loc("prod")
  return %s as "sum", %p as "prod"
}
"""

MAIN_TWO = r"""
#include <stdio.h>
#include <string.h>
#include "two.h"
static uint64_t mine[(TWO_ARENA_SIZE + 7) / 8];
int main(void) {
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {0.5f, -1, 2, 0, 3, -2}, s[6], p[6];
  const void *const in[2] = {a, b};
  void *const out[2] = {s, p};
  uint8_t *arena = (uint8_t *)mine;
  int i;
  if (two_run(in, out) != 0) return 1;
  for (i = 0; i < 6; ++i) printf("%.9g %.9g\n", s[i], p[i]);
  /* the same through a caller-supplied arena and the zero-copy pointers */
  memcpy(two_input_in(arena, 0), a, sizeof a);
  memcpy(two_input_in(arena, 1), b, sizeof b);
  if (two_invoke_with_arena(arena) != 0) return 2;
  if (memcmp(two_output_in(arena, 0), s, sizeof s) || memcmp(two_output_in(arena, 1), p, sizeof p))
    return 3;
  if (two_input(2) != NULL || two_output(-1) != NULL) return 4;
  if (two_invoke_with_arena(NULL) == 0 || two_invoke_with_arena(arena + 1) == 0) return 5;
  if (two_run(in, (void *const[2]){s, NULL}) == 0) return 6;
  return 0;
}
"""

MAIN_F32 = r"""
#include <stdio.h>
#include "kws.h"
int main(void) {
  static float x[KWS_INPUT0_SIZE], y[KWS_OUTPUT0_SIZE];
  int i;
  for (i = 0; i < KWS_INPUT0_SIZE; ++i) x[i] = (float)((i * 37) % 101) - 50.0f;
  if (kws_run_f32(x, y) != 0) return 1;
  for (i = 0; i < KWS_OUTPUT0_SIZE; ++i) printf("%.9g\n", y[i]);
  return 0;
}
"""

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def _build_and_run(outdir: Path, main: str, tmp: Path) -> str:
    (tmp / "main.c").write_text(main)
    srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
    exe = tmp / "prog"
    subprocess.run(["gcc", *SANITIZE_FLAGS, f"-I{outdir}", *srcs, str(tmp / "main.c"), "-lm",
                    "-o", str(exe)], check=True)
    proc = subprocess.run([str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, (proc.returncode, proc.stderr)
    return proc.stdout


def test_two_inputs_two_outputs_and_caller_arena(tmp_path):
    compile_model(parse(TWO_IN_TWO_OUT), tmp_path / "out", "two", float_model=True)
    header = (tmp_path / "out" / "two.h").read_text()
    assert "int two_run(const void *const inputs[], void *const outputs[]);" in header
    lines = _build_and_run(tmp_path / "out", MAIN_TWO, tmp_path).split()
    got = np.array(lines, dtype=np.float32).reshape(6, 2)
    a = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    b = np.array([0.5, -1, 2, 0, 3, -2], np.float32).reshape(2, 3)
    want = interp.run(parse(TWO_IN_TWO_OUT), {"a": a, "b": b})
    assert np.array_equal(got[:, 0], want["sum"].ravel())
    assert np.array_equal(got[:, 1], want["prod"].ravel())


def test_float_wrapper_of_an_int8_model(tmp_path):
    from compiler.frontends.tflite_import import load_tflite

    compile_model(load_tflite(MODELS / "kws_int8.tflite"), tmp_path / "out", "kws")
    header = (tmp_path / "out" / "kws.h").read_text()
    assert "int kws_run_f32(const float *input, float *output);" in header
    got = np.array(_build_and_run(tmp_path / "out", MAIN_F32, tmp_path).split(), np.float32)
    graph = load_tflite(MODELS / "kws_int8.tflite")
    iq, oq = graph.inputs[0].type.quant, graph.outputs[0].type.quant
    x = (np.arange(490) * 37 % 101 - 50).astype(np.float32).reshape(1, 49, 10, 1)
    xq = arith.quantize_float_to_int8(x, iq.scale, iq.zero_point)
    yq = interp.run(graph, {graph.input_names[0]: xq})[graph.output_names[0]]
    want = arith.dequantize_int8(yq, oq.scale, oq.zero_point).ravel()
    assert np.array_equal(got, want)
