"""edgeir compile on bad input: one line, the documented exit code, no traceback, and
nothing written (the output directory appears only when complete)."""

import subprocess
import sys
from pathlib import Path

import pytest

EDGEIR = str(Path(sys.executable).with_name("edgeir"))
MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"

NO_KERNEL = """graph @g(%x: tensor<1x4xf64>) {
  %y = relu(%x) : tensor<1x4xf64> loc("r")
  return %y
}
"""


def run(args, cwd):
    return subprocess.run([EDGEIR, *args], capture_output=True, text=True, cwd=cwd)


def assert_clean_failure(proc, code, *needles):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_float_model_for_a_target_without_fpu(tmp_path):
    proc = run(["compile", str(MODELS / "kws_fp32.onnx"), "--float", "--target",
                "cortex-m0plus", "-o", "out"], tmp_path)
    assert_clean_failure(proc, 4, "no FPU", "--allow-soft-float")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "small.ir").write_text(NO_KERNEL.replace("f64", "f32"))
    ok = run(["compile", "small.ir", "--float", "--target", "cortex-m0plus",
              "--allow-soft-float", "-o", "out", "-q"], tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_op_without_a_kernel(tmp_path):
    (tmp_path / "m.ir").write_text(NO_KERNEL)
    proc = run(["compile", "m.ir", "-o", "out"], tmp_path)
    assert_clean_failure(proc, 4, "node 'r'", "f64")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ir"]


@pytest.mark.parametrize("outdir", ["missing/dir/out", "file.txt/out"])
def test_unwritable_output_directory(tmp_path, outdir):
    (tmp_path / "file.txt").write_text("x")
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "-o", outdir], tmp_path)
    assert_clean_failure(proc, 7, outdir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("name", ["1net", "my-net", "int", "net name"])
def test_name_that_is_not_a_c_identifier(tmp_path, name):
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "--name", name, "-o", "out"],
               tmp_path)
    assert_clean_failure(proc, 2, "not a C identifier")
    assert list(tmp_path.iterdir()) == []


def test_float_model_needs_a_choice(tmp_path):
    proc = run(["compile", str(MODELS / "kws_fp32.onnx"), "-o", "out"], tmp_path)
    assert_clean_failure(proc, 2, "--calib", "--float")
    assert list(tmp_path.iterdir()) == []


def test_run_c_engine_end_to_end(tmp_path):
    import numpy as np

    assert run(["compile", str(MODELS / "kws_int8.tflite"), "-o", "out", "-q"],
               tmp_path).returncode == 0
    np.savez(tmp_path / "in.npz", **{
        "serving_default_input_1:0": np.zeros((1, 49, 10, 1), np.int8)})
    import json

    name = json.loads((tmp_path / "out" / "report.json").read_text())["inputs"][0]["name"]
    np.savez(tmp_path / "in.npz", **{name: np.zeros((1, 49, 10, 1), np.int8)})
    c = run(["run", "out", "--engine", "c", "--input", "in.npz", "-o", "c.npz"], tmp_path)
    i = run(["run", str(MODELS / "kws_int8.tflite"), "--input", "in.npz", "-o", "i.npz", "-q"],
            tmp_path)
    assert c.returncode == 0 and i.returncode == 0, c.stderr + i.stderr
    a, b = np.load(tmp_path / "c.npz"), np.load(tmp_path / "i.npz")
    assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)


TOML_OVERLAP = """[target]
name = "bad"
cpu = "cortex-m4"
arena_region = "SRAM"
weights_region = "FLASH"

[[region]]
name = "FLASH"
base = 0x08000000
size = 0x100000
kind = "flash"

[[region]]
name = "SRAM"
base = 0x080F0000
size = 0x10000
kind = "sram"
"""

TOML_SMALL = """[target]
name = "tiny"
cpu = "cortex-m4"
arena_region = "SRAM"
weights_region = "FLASH"

[[region]]
name = "FLASH"
base = 0x08000000
size = 1048576
kind = "flash"

[[region]]
name = "SRAM"
base = 0x20000000
size = 4096
kind = "sram"
"""


def test_target_with_overlapping_regions(tmp_path):
    (tmp_path / "t.toml").write_text(TOML_OVERLAP)
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "--target", "t.toml", "-o", "out"],
               tmp_path)
    assert_clean_failure(proc, 3, "t.toml", "FLASH", "SRAM", "overlap", "0x080f0000")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]


def test_region_too_small_for_the_arena(tmp_path):
    (tmp_path / "t.toml").write_text(TOML_SMALL)
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "--target", "t.toml", "-o", "out"],
               tmp_path)
    assert_clean_failure(proc, 4, "region SRAM (4,096 B) needs 8,", "arena", "peak at node")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]


def test_pin_budget_larger_than_sram(tmp_path):
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "--target", "cortex-m4", "--pin",
                "hot", "--pin-budget", "300000", "-o", "out"], tmp_path)
    assert_clean_failure(proc, 2, "300,000", "SRAM (262,144 B)")
    assert list(tmp_path.iterdir()) == []


def test_malformed_target_toml(tmp_path):
    (tmp_path / "t.toml").write_text("[target\nname = 1")
    proc = run(["compile", str(MODELS / "kws_int8.tflite"), "--target", "t.toml", "-o", "out"],
               tmp_path)
    assert_clean_failure(proc, 3, "t.toml", "malformed TOML")
