"""The generated C of every shared model under valgrind memcheck.

The builds of tests/test_c_backend.py without AddressSanitizer (gcc -O2 -g -Wall -Wextra
-Werror): every int8 .tflite, QDQ .onnx and FP32 .onnx (--float) compiled for the host,
and the int8 .tflite ones for the Cortex-M4 (in-place and DSP kernels as portable C), run
on three random inputs in one process under
``valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite``:
any memcheck error (an invalid read or write, a conditional jump on an uninitialized
value, a definite leak) fails the test. The outputs are checked against the interpreter:
int8 bit-exact, float within 1e-5 of the output range.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from backends.c.build import run_host
from compiler import interp
from tests.test_c_backend import CASES, MODELS, compiled, random_inputs, reference_graph

pytestmark = pytest.mark.slow  # valgrind runs a few times slower than the program

VALGRIND = ("valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite")
N_INPUTS = 3
# The Cortex-M4 builds: the int8 .tflite (their QDQ twins run the same kernels).
M4_INT8 = [f"{m}_int8.tflite" for m in ("ad", "kws", "resnet8", "vww")]


def test_valgrind_is_installed():
    # CI installs it (.ci/run); without it the memcheck tests below would not run at all.
    assert shutil.which("valgrind"), "install valgrind (apt-get install valgrind)"


@pytest.mark.parametrize("model,target", [(m, "host") for m in CASES] +
                         [(m, "cortex-m4") for m in M4_INT8])
def test_memcheck_clean_and_outputs_match_the_interpreter(model, target):
    outdir, _ = compiled(model, target)
    ref = reference_graph(MODELS / model)
    feeds = random_inputs(ref, N_INPUTS, seed=3)
    got = run_host(outdir, feeds, batch=True, extra_flags=("-g",), wrapper=VALGRIND)
    for i in range(N_INPUTS):
        want = interp.run(ref, {k: v[i] for k, v in feeds.items()})
        for name, expected in want.items():
            actual = got[name][i]
            if model.endswith("_fp32.onnx"):
                tol = 1e-5 * max(float(np.ptp(expected)), 1e-6)
                assert np.abs(actual - expected).max() <= tol, f"{model}: input {i}"
            else:
                assert actual.tobytes() == expected.tobytes(), f"{model}: input {i} differs"


def test_memcheck_catches_an_invalid_read(tmp_path):
    """The harness as run_host drives it, on a program reading one byte before a heap
    block: valgrind's report fails the run."""
    import subprocess

    src = tmp_path / "bad.c"
    src.write_text("#include <stdlib.h>\nint main(void) {\n  volatile char *p = malloc(8);\n"
                   "  int r = p[-1];\n  free((void *)p);\n  return r & 0;\n}\n")
    exe = tmp_path / "bad"
    subprocess.run(["gcc", "-O0", "-g", str(src), "-o", str(exe)], check=True)
    proc = subprocess.run([*VALGRIND, str(exe)], capture_output=True, text=True)
    assert proc.returncode == 99
    assert "Invalid read of size 1" in proc.stderr
