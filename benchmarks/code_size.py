"""Code and memory size of the generated C for Cortex-M.

Each MLPerf Tiny model is compiled (the int8 .tflite and the QDQ .onnx) for cortex-m4,
cross-compiled with `arm-none-eabi-gcc -O2 -ffunction-sections -fdata-sections` and linked
into a minimal image whose entry calls `<name>_invoke` (--gc-sections drops unused code).
Prints the image's .text (code), .rodata (weights, tables, parameter blocks) and .bss (the
arena) for Cortex-M4 (with the DSP-extension kernels, its default; and the .text with
--specialize, which instantiates their loops per layer) and Cortex-M0+ (the portable
kernels), and TFLite Micro's arena for comparison.

    .venv/bin/python benchmarks/code_size.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from backends.c.build import cross_sizes
from backends.c.driver import compile_model
from compiler.cli import load_model

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
TFLM_ARENA = {"ad": 3984, "kws": 24272, "resnet8": 55984, "vww": 103680}  # TESTING.md


def main() -> None:
    print(f"{'model':18} {'M4 .text':>9} {'M4 --specialize':>16} {'M0+ .text':>10} "
          f"{'.rodata':>9} {'arena':>8} {'TFLM arena':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for m in ("ad", "kws", "resnet8", "vww"):
            for f in (f"{m}_int8.tflite", f"{m}_qdq.onnx"):
                out = Path(tmp) / f.replace(".", "_")
                report = compile_model(load_model(str(MODELS / f)), out, "net", "cortex-m4",
                                       source=f)
                m4 = cross_sizes(out, "cortex-m4")
                spec = out.with_name(out.name + "_spec")
                compile_model(load_model(str(MODELS / f)), spec, "net", "cortex-m4", source=f,
                              specialize=True)
                m4_spec = cross_sizes(spec, "cortex-m4")
                # the M0+ has no DSP extension: the same model with the portable kernels
                compile_model(load_model(str(MODELS / f)), out.with_name(out.name + "_m0"),
                              "net", "cortex-m4", source=f, dsp=False)
                m0 = cross_sizes(out.with_name(out.name + "_m0"), "cortex-m0plus")
                print(f"{f:18} {m4['text']:9,} {m4_spec['text']:16,} {m0['text']:10,} "
                      f"{m4['rodata']:9,} "
                      f"{report['arena_bytes']:8,} {TFLM_ARENA[m]:11,}")


if __name__ == "__main__":
    main()
