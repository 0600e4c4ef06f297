"""The latency playbook (benchmarks/playbook.py): a fresh run gives the table the docs show.

Runs the four configurations of the vibration model (FP32 with weights in QSPI, + INT8, +
dead-channel elimination, + pinning) on the emulated Cortex-M4 and the validation set, and
checks that README.md and benchmarks/RESULTS.md carry exactly that table (regenerate them
with `benchmarks/playbook.py --update-docs` when the numbers change on purpose), that every
step speeds the model up, that the accuracy loss stays within 1.5 points, and that the
output folder holds what `make demo` promises.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # four compiles, four emulated inferences, 4 x 1000 windows

ROOT = Path(__file__).resolve().parents[1]


def load_playbook():
    spec = importlib.util.spec_from_file_location("playbook", ROOT / "benchmarks" / "playbook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_playbook_matches_the_docs_and_every_step_pays(tmp_path):
    pb = load_playbook()
    result = pb.run_playbook(tmp_path)
    table = pb.markdown(result)
    assert (tmp_path / "playbook.md").read_text() == table
    assert json.loads((tmp_path / "playbook.json").read_text()) == result
    for doc in pb.DOCS:
        assert pb.docs_block(doc.read_text()) == table, f"{doc.name} is stale: run " \
            "benchmarks/playbook.py --update-docs"
    rows = result["configs"]
    cycles = [r["cycles_estimate"] for r in rows]
    assert cycles == sorted(cycles, reverse=True) and len(set(cycles)) == 4
    assert rows[2]["macs"] < rows[1]["macs"] == rows[0]["macs"]
    assert rows[3]["instructions"] == rows[2]["instructions"]  # pinning moves bytes only
    assert rows[3]["data_reads"].get("QSPI", 0) == 0 < rows[2]["data_reads"]["QSPI"]
    assert result["accuracy_loss_pp"] <= 1.5
    assert result["speedups"]["total"] >= 15  # the playbook's headline goal
    for folder in sorted(p for p in tmp_path.iterdir() if p.is_dir()):
        for name in ("report.json", "sim.json", "memory.svg", "vibration.c", "vibration.h"):
            assert (folder / name).exists(), folder / name
