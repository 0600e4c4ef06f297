"""The sim engine: the generated C cross-compiled for a Cortex-M4 and run in unicorn.

For every shared int8 model compiled for cortex-m4, a few random inputs run in one emulator
session: the outputs equal the interpreter's and the host C build's byte for byte; the
per-layer instruction counts plus the harness's overhead equal the total exactly; the
cycle estimate is at least the instruction count. A small model's counts are deterministic
(the same input twice in one session and in two sessions); weights in QSPI flash cost
more estimated cycles than the same weights pinned into SRAM, for the same instructions.
Two models compiled with --specialize give the interpreter's outputs in fewer instructions.
The CLI writes the outputs and the report, and refuses bad setups with one line: a host
OUTDIR, no cross compiler on PATH, no unicorn, an image too big for the target's regions,
an emulator fault (with the PC and the symbol).
"""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.c.build import run_host
from backends.c.driver import compile_model
from backends.c.sim import run_sim
from compiler import interp
from compiler.cli import load_model, main
from compiler.text import parse, print_graph

pytestmark = pytest.mark.slow  # cross builds and emulation: `make test-fast` skips them

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
SAMPLES = {"ad": 4, "kws": 3, "resnet8": 2, "vww": 2}


def random_inputs(graph, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.integers(-128, 128, (n, *v.type.shape), dtype=np.int8)
            for name, v in zip(graph.input_names, graph.inputs)}


def compile_for(model: str, outdir: Path, target: str = "cortex-m4", pin: str = "none") -> Path:
    compile_model(load_model(str(MODELS / f"{model}_int8.tflite")), outdir, model, target,
                  source=f"{model}_int8.tflite", pin=pin)
    return outdir


@pytest.fixture(scope="module", params=list(SAMPLES))
def simulated(request, tmp_path_factory):
    """One model compiled for cortex-m4 and its samples run in one emulator session."""
    model = request.param
    outdir = compile_for(model, tmp_path_factory.mktemp(model) / "out")
    graph = load_model(str(MODELS / f"{model}_int8.tflite"))
    feeds = random_inputs(graph, SAMPLES[model], seed=7)
    return model, outdir, graph, feeds, run_sim(outdir, feeds, batch=True)


def test_outputs_match_interpreter_and_host_build(simulated):
    model, outdir, graph, feeds, run = simulated
    host = run_host(outdir, feeds, batch=True)
    assert run.report["samples"] == SAMPLES[model]
    for i in range(SAMPLES[model]):
        want = interp.run(graph, {k: v[i] for k, v in feeds.items()})
        for name, expected in want.items():
            got = run.outputs[name][i]
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert got.tobytes() == expected.tobytes(), f"{model}: sample {i} vs interpreter"
            assert got.tobytes() == host[name][i].tobytes(), f"{model}: sample {i} vs host C"


@pytest.mark.parametrize("model", ["kws", "resnet8"])
def test_specialized_models_on_the_emulator(model, tmp_path):
    """--specialize on shared models (KWS: a conv, depthwise and pointwise layers;
    ResNet-8: convs and fused conv + adds): the outputs equal the interpreter's, every DSP
    convolution is specialized, and it takes fewer instructions than the default build."""
    graph = load_model(str(MODELS / f"{model}_int8.tflite"))
    feeds = random_inputs(graph, 1, seed=11)
    runs = {}
    for specialize in (False, True):
        out = tmp_path / str(specialize)
        report = compile_model(load_model(str(MODELS / f"{model}_int8.tflite")), out, model,
                               "cortex-m4", source=f"{model}_int8.tflite",
                               specialize=specialize)
        convs = [layer for layer in report["layers"]
                 if "conv" in layer["kernel"] and layer["kernel"].endswith(("_dsp", "_lean",
                                                                             "_reverse"))]
        assert convs and all(layer.get("specialized", False) == specialize for layer in convs)
        runs[specialize] = run_sim(out, feeds, batch=True)
    want = interp.run(graph, {k: v[0] for k, v in feeds.items()})
    for name, expected in want.items():
        assert runs[True].outputs[name][0].tobytes() == expected.tobytes(), model
    assert runs[True].report["instructions"] < runs[False].report["instructions"]


def test_layer_counts_sum_to_the_total(simulated):
    model, outdir, _, _, run = simulated
    r = run.report
    compiled = json.loads((outdir / "report.json").read_text())
    coded = [layer["node"] for layer in compiled["layers"]
             if layer["kernel"] not in ("alias", "fused")]
    assert [layer["node"] for layer in r["layers"]] == coded
    assert all(layer["instructions"] > 0 for layer in r["layers"])
    for key in ("instructions", "cycles_estimate"):
        parts = sum(layer[key] for layer in r["layers"]) + r["outside_layers"][key]
        assert parts == r[key], f"{model}: {key}"
    assert r["outside_layers"]["instructions"] < 100  # invoke's and the harness's calls
    assert r["per_sample"][0]["instructions"] == r["instructions"]


def test_cycle_estimate_and_report(simulated):
    model, _, _, _, run = simulated
    r = run.report
    assert r["cycles_estimate"] >= r["instructions"] > 0
    assert r["cycles_estimate"] == (r["cycles_estimate_parts"]["instruction_table_and_branches"]
                                    + sum(r["cycles_estimate_parts"]["wait_states"].values()))
    # cortex-m4: weights in FLASH (5 wait states on each data read), arena in SRAM (none)
    assert r["data_reads"]["FLASH"] > 0 and "SRAM" not in r["data_reads"]
    assert r["cost_model"]["data_read_wait_states"] == {"FLASH": 5, "SRAM": 0}
    assert r["cost_model"]["taken_branch_penalty"] == 2
    assert 0 < r["stack_bytes"] < 4096
    json.dumps(r)  # the report is plain JSON


def test_counts_are_deterministic(tmp_path):
    outdir = compile_for("ad", tmp_path / "ad")
    graph = load_model(str(MODELS / "ad_int8.tflite"))
    x = random_inputs(graph, 2, seed=1)
    name = graph.input_names[0]
    feeds = {name: np.stack([x[name][0], x[name][1], x[name][0]])}
    first = run_sim(outdir, feeds, batch=True).report
    again = run_sim(outdir, {name: x[name][0]}).report  # another session, same input
    counts = [(s["instructions"], s["cycles_estimate"]) for s in first["per_sample"]]
    assert counts[0] == counts[2]
    assert (again["instructions"], again["cycles_estimate"]) == counts[0]
    assert [layer["instructions"] for layer in again["layers"]] == \
        [layer["instructions"] for layer in first["layers"]]


def test_weights_in_qspi_cost_more_cycles_than_pinned(tmp_path):
    graph = load_model(str(MODELS / "kws_int8.tflite"))
    feeds = {k: v[0] for k, v in random_inputs(graph, 1, seed=3).items()}
    qspi = run_sim(compile_for("kws", tmp_path / "qspi", "cortex-m4-qspi"), feeds)
    pinned = run_sim(compile_for("kws", tmp_path / "pinned", "cortex-m4-qspi", "all"), feeds)
    for name in qspi.outputs:
        assert qspi.outputs[name].tobytes() == pinned.outputs[name].tobytes()
    q, p = qspi.report, pinned.report
    assert q["instructions"] == p["instructions"]  # the same code, other addresses
    # --pin all pins the weights and, with them, the requantization tables: nothing of the
    # model is read from QSPI any more
    assert q["data_reads"]["QSPI"] > p["data_reads"]["QSPI"] == 0
    assert q["cycles_estimate"] > p["cycles_estimate"] >= p["instructions"]
    # The difference is the wait states alone: 20 per QSPI read, 5 per FLASH read.
    table = "instruction_table_and_branches"
    assert q["cycles_estimate_parts"][table] == p["cycles_estimate_parts"][table]
    assert q["cycles_estimate"] - p["cycles_estimate"] == \
        20 * (q["data_reads"]["QSPI"] - p["data_reads"]["QSPI"]) \
        + 5 * (q["data_reads"]["FLASH"] - p["data_reads"]["FLASH"])


@pytest.mark.parametrize("case,target", [
    ("depthwise-conv-s8.ir", "cortex-m0plus"),  # ARMv6-M, soft float, the M0 model
    ("depthwise-conv-s8.ir", "cortex-m7"),
    ("depthwise-conv-s8.ir", "cortex-m33"),
    ("conv-f32-relu.ir", "cortex-m4"),           # float: the FPU must be enabled
    ("conv-f32-relu.ir", "cortex-m7"),
])
def test_small_models_on_other_cores(case, target, tmp_path):
    path = Path(__file__).resolve().parent / "codegen" / case
    graph = load_model(str(path))
    outdir = tmp_path / "out"
    compile_model(load_model(str(path)), outdir, "net", target, float_model="f32" in case)
    rng = np.random.default_rng(11)
    feeds = {name: (rng.integers(-128, 128, (3, *v.type.shape), dtype=np.int8)
                    if v.type.dtype == "i8" else
                    rng.uniform(-1, 1, (3, *v.type.shape)).astype(np.float32))
             for name, v in zip(graph.input_names, graph.inputs)}
    run = run_sim(outdir, feeds, batch=True)
    assert run.report["cpu"] == target and run.report["instructions"] > 0
    for i in range(3):
        for name, want in interp.run(graph, {k: v[i] for k, v in feeds.items()}).items():
            got = run.outputs[name][i]
            if want.dtype == np.float32:
                assert np.abs(got - want).max() <= 1e-5 * max(float(np.ptp(want)), 1e-6)
            else:
                assert got.tobytes() == want.tobytes()


# -- the command line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ad_outdir(tmp_path_factory):
    outdir = compile_for("ad", tmp_path_factory.mktemp("ad_cli") / "out")
    graph = load_model(str(MODELS / "ad_int8.tflite"))
    feeds = {k: v[0] for k, v in random_inputs(graph, 1, seed=5).items()}
    inp = outdir.parent / "in.npz"
    np.savez(inp, **feeds)
    return outdir, inp, feeds


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_outputs_and_report(ad_outdir, tmp_path, capsys):
    outdir, inp, feeds = ad_outdir
    out, rep = tmp_path / "out.npz", tmp_path / "sim.json"
    code, stdout, err = run_cli(capsys, "run", outdir, "--engine", "sim", "--input", inp,
                                "-o", out, "--report", rep)
    assert code == 0, err
    assert "instructions" in stdout and "(estimate)" in stdout
    report = json.loads(rep.read_text())
    assert report["engine"] == "sim" and report["target"] == "cortex-m4"
    assert report["cycles_estimate"] >= report["instructions"] > 0
    host = run_host(outdir, feeds)
    with np.load(out) as got:
        assert sorted(got.files) == sorted(host)
        for name in host:
            assert got[name].tobytes() == host[name].tobytes()


def test_report_flag_needs_the_sim_engine(ad_outdir, tmp_path, capsys):
    outdir, inp, _ = ad_outdir
    code, _, err = run_cli(capsys, "run", outdir, "--engine", "c", "--input", inp, "-o",
                           tmp_path / "o.npz", "--report", tmp_path / "r.json")
    assert code == 2 and "--report is for --engine sim" in err


def expect_error(capsys, tmp_path, args, code, *fragments):
    out, rep = tmp_path / "o.npz", tmp_path / "r.json"
    got, _, err = run_cli(capsys, "run", *args, "-o", out, "--report", rep)
    assert got == code, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not out.exists() and not rep.exists()


def test_host_outdir_is_refused(ad_outdir, tmp_path, capsys):
    _, inp, _ = ad_outdir
    outdir = tmp_path / "host"
    compile_model(load_model(str(MODELS / "ad_int8.tflite")), outdir, "ad", "host")
    expect_error(capsys, tmp_path, [outdir, "--engine", "sim", "--input", inp], 2,
                 "compiled for host", "Cortex-M target")


def test_missing_cross_compiler(ad_outdir, tmp_path, capsys, monkeypatch):
    outdir, inp, _ = ad_outdir
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    expect_error(capsys, tmp_path, [outdir, "--engine", "sim", "--input", inp], 4,
                 "arm-none-eabi-gcc", "apt install gcc-arm-none-eabi libnewlib-arm-none-eabi")


def test_missing_unicorn(ad_outdir, tmp_path, capsys, monkeypatch):
    outdir, inp, _ = ad_outdir
    monkeypatch.setitem(sys.modules, "unicorn", None)  # import unicorn raises ImportError
    expect_error(capsys, tmp_path, [outdir, "--engine", "sim", "--input", inp], 4,
                 "unicorn", "pip install edgeir[sim]")


def test_image_too_big_for_the_flash_is_refused(ad_outdir, tmp_path, capsys):
    _, inp, _ = ad_outdir
    # The weights fit (so compile accepts the model), the code after them does not.
    target = tmp_path / "tiny.toml"
    target.write_text('[target]\nname = "tiny-m4"\ncpu = "cortex-m4"\narena_region = "SRAM"\n'
                      'weights_region = "FLASH"\n\n'
                      '[[region]]\nname = "FLASH"\nbase = 0x08000000\nsize = 285000\n'
                      'kind = "flash"\nwait_states = 2\n\n'
                      '[[region]]\nname = "SRAM"\nbase = 0x20000000\nsize = 65536\n'
                      'kind = "sram"\n')
    outdir = tmp_path / "tiny"
    compile_model(load_model(str(MODELS / "ad_int8.tflite")), outdir, "ad", str(target))
    expect_error(capsys, tmp_path, [outdir, "--engine", "sim", "--input", inp], 4,
                 "region FLASH (285,000 B) needs", "B too many", "tiny-m4")


def test_emulator_fault_names_pc_and_symbol(ad_outdir, tmp_path, capsys, monkeypatch):
    from backends.c.sim import emulator

    outdir, inp, _ = ad_outdir
    init = emulator._Elf.__init__

    def corrupted(self, path):  # an undefined instruction (UDF #0) at edgeir_sim_done
        init(self, path)
        addr = self.addr("edgeir_sim_done")
        self.segments = [(base, data[:addr - base] + b"\x00\xde" + data[addr - base + 2:])
                         if base <= addr < base + len(data) else (base, data)
                         for base, data in self.segments]

    monkeypatch.setattr(emulator._Elf, "__init__", corrupted)
    expect_error(capsys, tmp_path, [outdir, "--engine", "sim", "--input", inp], 6,
                 "the emulated program stopped", "edgeir_sim_done+0x0")


def test_engine_c_runs_a_pinned_bare_metal_output(tmp_path):
    """A library compiled with pinned weights for a microcontroller also builds and runs on
    the host (the start-up copy of the pinned weights is a no-op there), with the outputs
    the emulated Cortex-M4 gives."""
    from backends.c.build import run_host

    graph = load_model(str(MODELS / "kws_int8.tflite"))
    feeds = {k: v[0] for k, v in random_inputs(graph, 1, seed=4).items()}
    out = compile_for("kws", tmp_path / "pinned", "cortex-m4-qspi", "all")
    host = run_host(out, feeds)
    sim = run_sim(out, feeds)
    for name, value in interp.run(graph, feeds).items():
        assert host[name].tobytes() == value.tobytes() == sim.outputs[name].tobytes()


def test_kernels_have_no_conditional_loads_from_memory_with_wait_states(tmp_path):
    """The sim counts flash reads with memory hooks, and unicorn 2.1 mis-executes a Thumb IT
    block whose conditional load is hooked (the next block's first instruction is skipped);
    run_sim then falls back to a report without read counts. Keep the int8 kernels free of
    conditional loads other than stack reloads (SRAM has no wait states)."""
    import re
    import subprocess

    from backends.c.build import CPU_FLAGS, CROSS_FLAGS

    runtime = Path(__file__).resolve().parents[1] / "backends" / "c" / "runtime"
    cond = re.compile(r"\s(ldr|ldrb|ldrh|ldrsb|ldrsh|ldrd|ldm|vldr)"
                      r"(eq|ne|lt|le|gt|ge|hi|ls|cs|cc|mi|pl|hs|lo)(\.w)?\s+(.*)")
    for name in ("edgeir_s8.c", "edgeir_s8_dsp.c", "edgeir_inplace.c", "edgeir_data.c"):
        obj = tmp_path / f"{name}.o"
        subprocess.run(["arm-none-eabi-gcc", *CPU_FLAGS["cortex-m4"], *CROSS_FLAGS,
                        f"-I{runtime}", "-c", str(runtime / name), "-o", str(obj)], check=True)
        dump = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(obj)],
                              capture_output=True, text=True, check=True).stdout
        bad = [line.strip() for line in dump.splitlines()
               if (m := cond.search(line)) and "[sp" not in m.group(4)]
        assert not bad, f"{name}: conditional loads {bad[:3]}"


def test_a_relative_output_directory(tmp_path, monkeypatch):
    """run_sim builds in a temporary directory: a relative OUTDIR must still be found."""
    graph = load_model(str(MODELS / "ad_int8.tflite"))
    feeds = {k: v[0] for k, v in random_inputs(graph, 1, seed=9).items()}
    compile_for("ad", tmp_path / "rel")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached build
    out = run_sim(Path("rel"), feeds).outputs
    for name, value in interp.run(graph, feeds).items():
        assert out[name].tobytes() == value.tobytes()



def test_dead_channels_on_the_emulator(tmp_path):
    """The PTQ vibration model without pruning keeps its dead channels (all-zero weights,
    tiny scales): their DSP records are constants (mult 0, round 2C + 1, shift 1) and the
    layers keep the fast form. On the emulated core (real SMLAD, the assembly routines)
    the outputs equal the interpreter's on the lowered graph."""
    from passes.dead_channel_elim import load_val

    root = Path(__file__).resolve().parents[1] / "examples" / "vibration"
    graph = load_model(str(root / "model.onnx"))
    samples, _ = load_val(graph, str(root / "val.npz"))
    out = tmp_path / "vib"
    compile_model(graph, out, "vib", "cortex-m4", calib=str(root / "calib.npz"), prune="none")
    records = [list(map(int, r)) for part in
               (out / "vib_weights.c").read_text().split("edgeir_rq ")[1:]
               for r in re.findall(r"\{(-?\d+), (-?\d+), (-?\d+), (-?\d+)\}",
                                   part.split("};")[0])]
    constant = [r for r in records if r[1] == 0 and r[3] == 1 and r[2] != 1]
    assert len(constant) >= 4, "no constant records"
    assert not any(r[3] == 31 for r in records), "a layer in the general form"
    name = graph.input_names[0]
    feeds = {name: np.stack([s[name] for s in samples[:3]])}
    run = run_sim(out, feeds, batch=True)
    for i in range(3):
        want = interp.run(graph, {name: feeds[name][i]})
        for k, v in want.items():
            assert np.array_equal(run.outputs[k][i], v), (k, i)


def test_general_requantization_on_the_emulator(tmp_path):
    """Layers with a real multiplier of 1/4 or more take the general form of the records
    (TFLM's arithmetic in C: rq_4): a conv (also with zero filters), a fully connected
    layer and a 3x3 depthwise one; on the emulated core the outputs equal the
    interpreter's."""
    from tests.test_c_kernels_dsp import depthwise_graph, fc_graph, scaled_conv_graph

    graphs = [scaled_conv_graph(3, zero_filters=False, last_real=0.7),
              scaled_conv_graph(4, zero_filters=True, last_real=1.5),
              fc_graph(2, last_real=0.3), depthwise_graph(2, last_real=1.5)]
    for j, graph in enumerate(graphs):
        reference = parse(print_graph(graph))
        out = tmp_path / f"g{j}"
        compile_model(graph, out, "net", "cortex-m4", inplace=j == 3)
        records = re.search(r"edgeir_rq \w+\[\d+\] = \{\s*\{-?\d+, -?\d+, -?\d+, (\d+)\}",
                            (out / "net_weights.c").read_text())
        assert records and records.group(1) == "31", f"graph {j}: not the general form"
        rng = np.random.default_rng(j)
        feeds = {"x": rng.integers(-128, 128, (2, *graph.inputs[0].type.shape), dtype=np.int8)}
        got = run_sim(out, feeds, batch=True).outputs["y"]
        for i in range(2):
            want = interp.run(reference, {"x": feeds["x"][i]})["y"]
            assert got[i].tobytes() == want.tobytes(), (j, i)
