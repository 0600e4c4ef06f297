"""The generated C builds warning-free for Cortex-M (arm-none-eabi-gcc -Werror
-ffreestanding): the same sources for Cortex-M4 (hard float) and Cortex-M0+ (soft float).
The code of a linked Cortex-M4 image (.text, unused kernels removed by --gc-sections) is at
most 10 KB for every int8 MLPerf Tiny model."""

from pathlib import Path

import pytest

from backends.c.build import cross_sizes
from backends.c.driver import compile_model
from compiler.cli import load_model

pytestmark = pytest.mark.slow  # C builds with sanitizers: `make test-fast` skips them

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
INT8 = [f"{m}_int8.tflite" for m in ("ad", "kws", "resnet8", "vww")] + \
       [f"{m}_qdq.onnx" for m in ("ad", "kws", "resnet8", "vww")]


@pytest.mark.parametrize("model", INT8)
def test_int8_models_build_for_cortex_m4_and_m0plus(model, tmp_path):
    compile_model(load_model(str(MODELS / model)), tmp_path / "out", "net", "cortex-m4",
                  source=model)
    m4 = cross_sizes(tmp_path / "out", "cortex-m4")
    assert m4["text"] <= 10 * 1024, m4
    assert m4["bss"] > 0
    m0 = cross_sizes(tmp_path / "out", "cortex-m0plus")
    assert m0["text"] > 0


@pytest.mark.parametrize("model", [f"{m}_fp32.onnx" for m in ("ad", "kws", "resnet8", "vww")])
def test_float_models_build_for_cortex_m4(model, tmp_path):
    # Float weights: AD's 1.06 MB exceed the internal flash; external QSPI flash holds them.
    compile_model(load_model(str(MODELS / model)), tmp_path / "out", "net", "cortex-m4-qspi",
                  float_model=True, source=model)
    assert cross_sizes(tmp_path / "out", "cortex-m4")["text"] > 0
