"""Determinism: the generated files depend on the model, the options and edgeir, nothing else.

* Two compiles of a representative set in fresh processes, differing in everything that
  must not matter: PYTHONHASHSEED (0 and 12345), the working directory, the model's path
  (absolute, or relative to a copy), the output and dump directory names, the time zone
  and the locale, and the CPU features numpy and OpenBLAS use (the second run as on a
  baseline x86-64 machine): every file is byte-identical (sources, report.json, the
  linker fragment, the .ir dumps of --dump-dir, `edgeir show --memory`'s SVG and JSON).
* The search budgets of schedule and plan-memory count work, not time: a machine a
  thousand times slower finds the same order and plan.
* A full compile of every shared model matches the sha256 manifest committed in
  tests/determinism/hashes.json (regenerated deliberately with `make hashes`).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.tools import determinism as det

SET = [det.Config("kws_int8-cortex-m4", "kws_int8.tflite", ("--target", "cortex-m4")),
       det.Config("resnet8_qdq-host", "resnet8_qdq.onnx"),
       det.Config("ad_fp32-float-host", "ad_fp32.onnx", ("--float",)),
       det.Config("kws_fp32-calib-cortex-m4", "kws_fp32.onnx", ("--target", "cortex-m4"), 8)]


def other_machine() -> dict[str, str]:
    """Environment of a second run: another hash seed, time zone and locale, and numpy's
    and OpenBLAS's baseline kernels instead of the ones this CPU would pick (which add up
    float sums in another order)."""
    from numpy._core import _multiarray_umath as mu

    env = {"PYTHONHASHSEED": "12345", "TZ": "Asia/Kolkata", "LC_ALL": "C.UTF-8"}
    supported = [f for f in mu.__cpu_dispatch__ if mu.__cpu_features__.get(f)]
    if supported:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(supported)
    if platform.machine() in ("x86_64", "AMD64"):
        env["OPENBLAS_CORETYPE"] = "Prescott"  # SSE3 kernels, any x86-64
    return env


def compile_set(root: Path, models: Path, env: dict[str, str]) -> dict[str, str]:
    """The representative set compiled under ``root`` (cwd), with --dump-dir, plus the
    memory picture; sha256 of every file and of the JSON printed, by name."""
    root.mkdir()
    hashes = {}
    for cfg in SET:
        dumps = root / f"{cfg.id}.dumps"
        dumps.mkdir()
        out = det.compile_config(cfg, root, models, env, ("--dump-dir", str(dumps)))
        hashes.update({f"{cfg.id}/{k}": v for k, v in det.sha256_tree(out).items()})
        hashes.update({f"{cfg.id}.dumps/{k}": v for k, v in det.sha256_tree(dumps).items()})
    stdout = det.run_cli(["show", str(models / "resnet8_int8.tflite"), "--memory", "--json",
                          "--svg", str(root / "memory.svg")], root, env)
    hashes["memory.svg"] = det.sha256_tree(root)["memory.svg"]
    hashes["show.json"] = stdout
    return hashes


@pytest.mark.slow  # 10 compiles in fresh processes
def test_output_is_the_same_whatever_the_seed_paths_clock_and_cpu(tmp_path):
    a = compile_set(tmp_path / "a", det.MODELS,
                    {"PYTHONHASHSEED": "0", "TZ": "UTC", "LC_ALL": "C"})
    copies = tmp_path / "b-models"
    copies.mkdir()
    for name in {cfg.model for cfg in SET} | {"resnet8_int8.tflite"}:
        shutil.copy(det.MODELS / name, copies / name)
    b = compile_set(tmp_path / "b", Path("../b-models"), other_machine())
    assert sorted(a) == sorted(b)
    assert len([k for k in a if ".dumps/" in k and k.endswith(".ir")]) >= 4 * 10
    assert any(k.endswith("_sections.ld") for k in a)  # the Cortex-M4 linker fragment
    differ = [k for k in sorted(a) if a[k] != b[k]]
    assert not differ, f"files that depend on the environment: {differ}"
    assert json.loads(a["show.json"])["arena_bytes"] > 0


def test_search_budgets_count_work_not_time(monkeypatch):
    """Twelve buffers whose best plan (496 bytes) the exact search finds after the greedy
    ones (512), and a branching graph whose exact schedule stops at its budget: with a
    clock that advances an hour at every read, both give what they give at normal speed."""
    import random

    from compiler.pipeline import parse_pipeline, run_pipeline
    from compiler.text import print_graph
    from passes import plan_memory
    from tests.test_schedule import wide_graph

    def buffers():
        rng = random.Random(0)
        out = []
        for _ in range(rng.randint(6, 12)):
            first = rng.randint(0, 8)
            last = first + rng.randint(0, 4)
            out.append(plan_memory.Buffer(rng.choice([16, 32, 48, 64, 96, 128, 160]),
                                          first, last))
        return [plan_memory.Group([b]) for b in out]

    def plan():
        groups = buffers()
        size = plan_memory.exact(groups, 16, budget_ms=200)
        return size, [g.offset for g in groups]

    def order():
        g = wide_graph(80, 0)
        run_pipeline(g, parse_pipeline("schedule{budget-ms=20}"))
        return print_graph(g)

    groups = buffers()
    greedy = min(plan_memory.greedy_by_size(groups, 16),
                 plan_memory.greedy_by_conflicts(groups, 16))
    normal_plan, normal_order = plan(), order()
    assert (greedy, normal_plan[0]) == (512, 496)
    clock = [time.perf_counter()]

    def slow_clock() -> float:
        clock[0] += 3600.0
        return clock[0]

    monkeypatch.setattr(time, "perf_counter", slow_clock)
    monkeypatch.setattr(time, "monotonic", slow_clock)
    monkeypatch.setattr(time, "time", slow_clock)
    assert plan() == normal_plan
    slow_order = order()
    monkeypatch.undo()
    assert slow_order == normal_order


@pytest.mark.slow  # 18 compiles in fresh processes (2 at a time)
def test_full_compiles_match_the_committed_manifest(tmp_path):
    expected = json.loads(det.MANIFEST.read_text())
    assert {c["command"] for c in expected["configs"].values()} == \
        {cfg.command() for cfg in det.CONFIGS}
    hashes = det.compile_all(tmp_path)
    diff = det.differences(expected, hashes)
    versions = {k: (v, det.fixed_versions()[k]) for k, v in expected["fixed"].items()
                if det.fixed_versions().get(k) != v}
    assert not diff, (
        f"{len(diff)} generated file(s) differ from tests/determinism/hashes.json:\n  "
        + "\n  ".join(diff[:40])
        + "\nIf the change to the output is intended, regenerate the manifest with "
          "`make hashes` and commit it with the change."
        + (f"\nNote: versions differ from the manifest's (manifest, here): {versions}"
           if versions else ""))


def test_calibration_data_is_seeded(tmp_path):
    a = det.calibration_data(det.MODELS / "kws_fp32.onnx", 3, tmp_path / "a.npz")
    b = det.calibration_data(det.MODELS / "kws_fp32.onnx", 3, tmp_path / "b.npz")
    with np.load(a) as x, np.load(b) as y:
        assert list(x.files) == ["input"] and x["input"].shape == (3, 1, 1, 49, 10)
        assert x["input"].tobytes() == y["input"].tobytes()
