"""The generated C of the MLPerf Tiny models with the int8 kernels' x86 fast paths compiled in
(-O3 -march=native and -O3 -mavx2), against the interpreter: outputs must be identical.

tests/test_c_backend.py builds the generated C with -O2 (the portable kernels); this runs
the same models through the AVX2 / VNNI code of backends/c/runtime/edgeir_s8.c, with the
memory plan's overlapping buffers (window kernels writing below their input) and without
the in-place kernels (lower-c inplace=false: every convolution then goes through
edgeir_s8.c). The -march=native build runs under AddressSanitizer + UBSan. Skipped on hosts
without AVX2.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_c_kernels_s8 import HAS_AVX2

from backends.c.build import _harness
from backends.c.driver import QDQ_PIPELINE, compile_model
from compiler import interp
from compiler.cli import load_model
from compiler.pipeline import parse_pipeline, run_pipeline

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
N_INPUTS = 12
FLAGS = {
    "native-asan": ["-O1", "-march=native", "-g", "-fno-omit-frame-pointer",
                    "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
    "avx2": ["-O3", "-mavx2", "-mfma"],
}
CASES = [(m, inplace, flags) for m in ("ad", "kws", "resnet8", "vww")
         for inplace in (True, False) for flags in FLAGS] + \
        [(f"{m}_qdq", False, "native-asan") for m in ("ad", "kws", "resnet8", "vww")]

pytestmark = pytest.mark.skipif(not HAS_AVX2, reason="host without AVX2")


def _model_file(name: str) -> Path:
    return MODELS / (f"{name}.onnx" if name.endswith("_qdq") else f"{name}_int8.tflite")


def _cc(flags: list[str], args: list[str]) -> None:
    proc = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Kernel objects (the runtime files copied into each output directory) compiled once
    per (content, flags)."""
    cache: dict[str, Path] = {}
    cache_dir = tmp_path_factory.mktemp("kernel_objects")

    def get(src: Path, flags: list[str]) -> Path:
        key = hashlib.sha256(src.read_bytes() + " ".join(flags).encode()).hexdigest()[:20]
        if key not in cache:
            obj = cache_dir / f"{src.stem}_{key}.o"
            _cc(flags, [f"-I{src.parent}", "-c", str(src), "-o", str(obj)])
            cache[key] = obj
        return cache[key]

    return get


@pytest.mark.parametrize("model,inplace,flags", CASES)
def test_fast_paths_match_interpreter(model, inplace, flags, tmp_path, objects):
    path = _model_file(model)
    out = tmp_path / "out"
    compile_model(load_model(str(path)), out, "net", "host", source=path.name, inplace=inplace)
    report = json.loads((out / "report.json").read_text())
    main = tmp_path / "main.c"
    main.write_text(_harness(report))
    exe = tmp_path / "model"
    srcs = [str(objects(f, FLAGS[flags])) if f.name.startswith("edgeir_") else str(f)
            for f in sorted(out.iterdir()) if f.suffix == ".c"]
    _cc(FLAGS[flags], [f"-I{out}", *srcs, str(main), "-lm", "-o", str(exe)])

    graph = load_model(str(path))
    if path.suffix == ".onnx":
        run_pipeline(graph, parse_pipeline(QDQ_PIPELINE))
    rng = np.random.default_rng(7)
    feeds = {}
    for name, v in zip(graph.input_names, graph.inputs):
        shape = (N_INPUTS, *v.type.shape)
        feeds[name] = (rng.integers(-128, 128, shape, dtype=np.int8) if v.type.dtype == "i8"
                       else rng.uniform(-1, 1, shape).astype(np.float32))
    args = []
    for i, spec in enumerate(report["inputs"]):
        f = tmp_path / f"in{i}.bin"
        f.write_bytes(np.ascontiguousarray(feeds[spec["name"]]).tobytes())
        args.append(str(f))
    outs = [str(tmp_path / f"out{i}.bin") for i in range(len(report["outputs"]))]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    run = subprocess.run([str(exe), *args, *outs], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    for i in range(N_INPUTS):
        want = interp.run(graph, {k: v[i] for k, v in feeds.items()})
        for spec, f in zip(report["outputs"], outs):
            expected = want[spec["name"]]
            got = np.fromfile(f, dtype=expected.dtype).reshape(N_INPUTS, *expected.shape)[i]
            assert got.tobytes() == expected.tobytes(), f"{model} ({flags}): input {i} differs"
