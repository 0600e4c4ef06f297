"""examples/mlperf_tiny/run.py: the MLPerf Tiny one-command example, on AD and KWS.

Runs the script's main() into tmp_path and checks its JSON (every column, bit-exact on the
host and on the emulated Cortex-M4, RAM below tflite-micro's arena) and its markdown table;
and that one corrupted output byte turns into "not bit-exact" and exit code 1.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # C builds, cross builds and emulation: `make test-fast` skips

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "mlperf_tiny" / "run.py"
COLUMNS = ["model", "macs", "ram_bytes", "tflm_arena_bytes", "ram_ratio", "flash_bytes",
           "code_bytes", "flash_total_bytes", "sim_instructions", "sim_cycles_estimate",
           "host_us", "tflm_us", "host_speedup", "bit_exact_host", "bit_exact_sim"]


def load_script():
    spec = importlib.util.spec_from_file_location("mlperf_tiny_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ad_kws_bit_exact_and_smaller_than_tflm(tmp_path):
    run = load_script()
    assert run.main(["--models", "ad,kws", "--inputs", "2", "-o", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "mlperf_tiny.json").read_text())
    assert data["settings"]["inputs"] == 2 and data["settings"]["sim_inputs"] == 1
    rows = {r["model"]: r for r in data["models"]}
    assert list(rows) == ["ad", "kws"]
    for model, r in rows.items():
        missing = [c for c in COLUMNS if c not in r]
        assert not missing, f"{model}: no {missing}"
        assert r["bit_exact_host"] is True and r["bit_exact_sim"] is True, model
        assert r["bit_exact_host_m4_project"] and r["bit_exact_host_timed_build"], model
        assert 0 < r["ram_bytes"] < r["tflm_arena_bytes"], model
        assert r["flash_total_bytes"] == r["flash_bytes"] + r["code_bytes"] > r["code_bytes"] > 0
        assert r["sim_cycles_estimate"] >= r["sim_instructions"] > r["macs"] // 4 > 0
        assert r["host_us"] > 0 and r["tflm_us"] > 0
        assert (tmp_path / model / "cortex-m4" / f"{model}.c").exists()
        assert (tmp_path / model / "cortex-m4" / "report.json").exists()
    md = (tmp_path / "mlperf_tiny.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert table[0].startswith("| model | MACs | RAM (B) | TFLM arena (B)")
    assert set(table[1]) <= set("|-:")
    assert len(table) == 2 + 2
    assert table[2].startswith("| ad |") and table[3].startswith("| kws |")
    assert all(line.endswith("| yes | yes |") for line in table[2:])


def test_a_wrong_output_byte_fails(tmp_path, monkeypatch):
    """The comparison can fail: one flipped byte of the emulator's output -> exit code 1."""
    import backends.c.sim as sim

    real = sim.run_sim

    def corrupted(*args, **kwargs):
        result = real(*args, **kwargs)
        name = next(iter(result.outputs))
        out = result.outputs[name].copy()
        out.reshape(-1)[0] ^= np.int8(1)
        result.outputs[name] = out
        return result

    monkeypatch.setattr(sim, "run_sim", corrupted)
    run = load_script()
    assert run.main(["--models", "ad", "--inputs", "1", "-o", str(tmp_path)]) == 1
    r = json.loads((tmp_path / "mlperf_tiny.json").read_text())["models"][0]
    assert r["bit_exact_sim"] is False and r["bit_exact_host"] is True
    assert "| NO |" in (tmp_path / "mlperf_tiny.md").read_text()
