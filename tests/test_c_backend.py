"""The generated C against the interpreter, on the shared MLPerf Tiny models.

Every int8 model (the four .tflite, bit-exact with tflite-micro through the interpreter,
and the four QDQ .onnx) and the four FP32 .onnx compiled with --float: the generated C,
built with gcc -O2 -Wall -Wextra -Werror and AddressSanitizer + UndefinedBehaviorSanitizer,
run on 50 random inputs in one process. int8 outputs must be identical to the
interpreter's; float outputs within 1e-5 of the output range. Any sanitizer report fails
the run (-fno-sanitize-recover=all). The int8 models compiled for the Cortex-M4 (in-place
and DSP kernels, here as portable C) likewise, on 10 inputs. tests/test_c_debug.py runs
the same builds with -DEDGEIR_DEBUG, tests/test_c_memcheck.py under valgrind.
"""

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from backends.c.build import run_host
from backends.c.driver import FLOAT_PIPELINE, QDQ_PIPELINE, compile_model
from compiler import interp
from compiler.cli import load_model
from compiler.pipeline import parse_pipeline, run_pipeline

pytestmark = pytest.mark.slow  # C builds with sanitizers: `make test-fast` skips them

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
CASES = [f"{m}_int8.tflite" for m in ("ad", "kws", "resnet8", "vww")] + \
        [f"{m}_qdq.onnx" for m in ("ad", "kws", "resnet8", "vww")] + \
        [f"{m}_fp32.onnx" for m in ("ad", "kws", "resnet8", "vww")]
M4_CASES = [f"{m}_{kind}" for kind in ("int8.tflite", "qdq.onnx")
            for m in ("ad", "kws", "resnet8", "vww")]
N_INPUTS = 50


@functools.cache
def compiled(model: str, target: str = "host") -> tuple[Path, dict]:
    """The shared model compiled for ``target`` (named net; --float for the FP32 .onnx)
    once per test session, into a temporary directory: the output directory and report."""
    root = _session_dir()
    outdir = root / f"{model}-{target}"
    report = compile_model(load_model(str(MODELS / model)), outdir, "net", target,
                           float_model=model.endswith("_fp32.onnx"), source=model)
    return outdir, report


@functools.cache
def _session_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="edgeir-compiled-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def reference_graph(path: Path):
    graph = load_model(str(path))
    if path.name.endswith("_qdq.onnx"):
        run_pipeline(graph, parse_pipeline(QDQ_PIPELINE))
    elif path.name.endswith("_fp32.onnx"):
        run_pipeline(graph, parse_pipeline(FLOAT_PIPELINE))
    return graph


def random_inputs(graph, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, v in zip(graph.input_names, graph.inputs):
        shape = (n, *v.type.shape)
        if v.type.dtype == "i8":
            feeds[name] = rng.integers(-128, 128, shape, dtype=np.int8)
        else:
            feeds[name] = rng.uniform(-1, 1, shape).astype(np.float32)
    return feeds


@pytest.mark.parametrize("model,target", [(m, "host") for m in CASES] +
                         [(m, "cortex-m4") for m in M4_CASES])
def test_generated_c_matches_interpreter(model, target):
    outdir, report = compiled(model, target)
    assert report["arena_bytes"] > 0 and report["layers"]
    assert report["target"] == target
    if target == "cortex-m4":  # the microcontroller kernels, not the host's
        assert any(k.endswith("_dsp") for k in report["kernels"]), report["kernels"]
    ref_graph = reference_graph(MODELS / model)
    n = N_INPUTS if target == "host" else 10
    feeds = random_inputs(ref_graph, n, seed=42)
    got = run_host(outdir, feeds, sanitize=True, batch=True)
    for i in range(n):
        want = interp.run(ref_graph, {k: v[i] for k, v in feeds.items()})
        for name, expected in want.items():
            actual = got[name][i]
            assert actual.dtype == expected.dtype
            if expected.dtype == np.float32 and model.endswith("_fp32.onnx"):
                tol = 1e-5 * max(float(np.ptp(expected)), 1e-6)
                assert np.abs(actual - expected).max() <= tol, f"{model}: input {i}"
            else:
                assert actual.tobytes() == expected.tobytes(), f"{model}: input {i} differs"


def test_same_input_gives_byte_identical_files(tmp_path):
    path = MODELS / "kws_int8.tflite"
    a, b = tmp_path / "a", tmp_path / "b"
    compile_model(load_model(str(path)), a, "kws", "cortex-m4", source="kws_int8.tflite")
    compile_model(load_model(str(path)), b, "kws", "cortex-m4", source="kws_int8.tflite")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
