"""The custom-pass tutorial (examples/custom_pass) runs as written, and the plugin hook works.

* its lit/FileCheck test passes (lit on examples/custom_pass, whose lit.cfg.py reuses ours);
* the pass file stays under 50 lines, and the README's line references point at its blocks;
* the pass folds the Mul of a real ONNX model (Conv -> Mul -> Relu) and the result matches
  onnxruntime;
* every command and code block of the README runs, and the output it shows is produced;
* ``register_pass``, ``load_plugin`` and ``edgeir opt --plugin`` refuse what they should.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler import pipeline
from compiler.diagnostics import EdgeirError
from compiler.frontends.onnx_import import load_onnx
from compiler.interp import run
from compiler.passbase import Pass, PassResult

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_pass"
PASS_FILE = EXAMPLE / "fold_mul_into_conv.py"
README = EXAMPLE / "README.md"
BIN = Path(sys.executable).parent
EDGEIR = str(BIN / "edgeir")
LIT = [sys.executable, "-c", "import sys, lit.main; sys.exit(lit.main.main())"]


@pytest.fixture
def plugins(monkeypatch):
    """An empty plugin registry for the test, so that registrations do not leak."""
    monkeypatch.setattr(pipeline, "_PLUGINS", {})
    return pipeline._PLUGINS


def env() -> dict[str, str]:
    return {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


# -- (a) the lit test -------------------------------------------------------------------------


def test_lit_example() -> None:
    result = subprocess.run([*LIT, "-sv", str(EXAMPLE / "fold-mul-into-conv.ir")],
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Passed: 1" in output, output


def test_lit_discovers_the_example_only() -> None:
    result = subprocess.run([*LIT, "--show-tests", str(EXAMPLE)], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    listed = [line.strip() for line in result.stdout.splitlines() if "::" in line]
    assert listed == ["edgeir-custom-pass :: fold-mul-into-conv.ir"]


# -- (b) the pass file ------------------------------------------------------------------------


def test_pass_file_is_under_50_lines() -> None:
    lines = PASS_FILE.read_text().splitlines()
    assert len(lines) < 50, f"{PASS_FILE.name} has {len(lines)} lines"
    assert f"the pass, {len(lines)} lines" in README.read_text(), "README states another count"
    doc = PASS_FILE.read_text().split('"""')[1]
    for word in ("Matches", "Rewrites", "Preserves"):
        assert word in doc


def test_readme_line_references_match_the_file() -> None:
    """The README's `**label**, [lines A-B](fold_mul_into_conv.py#LA-LB)` references walk
    through the whole file: every non-blank line in exactly one range, no range starting or
    ending on a blank line; a code label names the method defined on line A."""
    lines = PASS_FILE.read_text().splitlines()
    refs = re.findall(r"\*\*(.+?)\*\*, \[lines (\d+)-(\d+)\]"
                      r"\(fold_mul_into_conv\.py#L(\d+)-L(\d+)\)", README.read_text())
    covered: list[int] = []
    for label, a, b, la, lb in refs:
        a, b = int(a), int(b)
        assert (a, b) == (int(la), int(lb)), label
        assert lines[a - 1].strip() and lines[b - 1].strip(), f"{label}: {a}-{b}"
        covered += range(a, b + 1)
        if label.startswith("`"):
            assert lines[a - 1].strip().startswith(f"def {label.strip('`')}("), label
    assert len(set(covered)) == len(covered), f"ranges overlap: {refs}"
    uncovered = [i for i, line in enumerate(lines, 1) if line.strip() and i not in covered]
    assert not uncovered, f"lines {uncovered} are in no range of the README"


# -- (c) a real model against onnxruntime ---------------------------------------------------


def conv_mul_relu(path: Path, scale_shape: tuple[int, ...], constant_first: bool) -> None:
    """Conv (4 output channels, bias) -> Mul by a constant -> Relu, written with onnx.helper."""
    rng = np.random.default_rng(1)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4),
             "scale": rng.uniform(-2.0, 2.0, scale_shape)}
    mul_inputs = ["scale", "conv"] if constant_first else ["conv", "scale"]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Mul", mul_inputs, ["scaled"], name="mul"),
         helper.make_node("Relu", ["scaled"], ["output"], name="relu")],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(a.astype(np.float32), n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.mark.parametrize("pipeline_text", [
    "canonicalize,fold-mul-into-conv",
    "canonicalize,fuse-activation,to-nhwc,fold-mul-into-conv",  # nhwc, relu fused into the mul
])
@pytest.mark.parametrize("scale_shape, constant_first", [
    ((1, 4, 1, 1), False), ((4, 1, 1), True), ((), False)], ids=["1c11", "c11-first", "scalar"])
def test_folds_the_mul_of_an_onnx_model(tmp_path, plugins, pipeline_text, scale_shape,
                                        constant_first) -> None:
    import onnxruntime as ort

    model = tmp_path / "model.onnx"
    conv_mul_relu(model, scale_shape, constant_first)
    pipeline.load_plugin(PASS_FILE)
    graph = load_onnx(model)
    inst = pipeline.Instrumentation()
    pipeline.run_pipeline(graph, pipeline.parse_pipeline(pipeline_text), inst)
    assert [n.op for n in graph.nodes if n.op == "mul"] == []
    assert ("fold-mul-into-conv", {"muls-folded": 1}) in inst.stats
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((1, 3, 8, 8)).astype(np.float32)
        (expected,) = session.run(None, {"input": x})
        got = run(graph, {"input": x})["output"]
        assert got.shape == expected.shape
        # Within 1e-5 relative to the output's largest magnitude (elementwise relative
        # error means nothing next to the zeros of the ReLU).
        np.testing.assert_allclose(got, expected, rtol=0,
                                   atol=1e-5 * float(np.abs(expected).max()))


# -- (d) the README runs ----------------------------------------------------------------------


def readme_blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced code block of the README, in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", README.read_text(), flags=re.M | re.S)


def shows(expected: str, output: str) -> bool:
    """``output`` has a line equal to ``expected``; ``...`` in it stands for any text."""
    head, sep, tail = expected.partition("...")
    lines = output.splitlines()
    if not sep:
        return expected in lines
    return any(line.startswith(head) and line.endswith(tail) for line in lines)


def test_readme_commands_run(tmp_path) -> None:
    """Every block runs in a scratch directory that sees the repository's examples/ and
    tests/ (the README's paths are relative to the repository root): python blocks as
    scripts, each `edgeir`, `python` and `lit` line of a sh block as a shell command; a text
    block is output that the command before it must print."""
    for name in ("examples", "tests"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    blocks = readme_blocks()
    assert [lang for lang, _ in blocks].count("sh") >= 4, blocks
    output, ran = "", []
    for lang, body in blocks:
        if lang == "python":
            script = tmp_path / f"block{len(ran)}.py"
            script.write_text(body)
            commands = [f"python {script.name}"]
        elif lang == "sh":
            commands = [line for line in body.replace("\\\n", " ").splitlines()
                        if line.split(" ", 1)[0] in ("edgeir", "python", "lit")]
            assert commands, body
        else:
            missing = [line for line in body.splitlines() if not shows(line, output)]
            assert not missing, f"README shows lines `{ran[-1]}` does not print: {missing}"
            continue
        for command in commands:
            result = subprocess.run(command, shell=True, cwd=tmp_path, env=env(), text=True,
                                    capture_output=True, timeout=300, check=False)
            output = result.stdout + result.stderr
            assert result.returncode == 0, f"`{command}` failed:\n{output}"
            ran.append(command)
    folded = tmp_path / "out" / "custom_pass" / "model.ir"
    assert folded.is_file() and "mul(" not in folded.read_text()
    assert any(c.startswith("lit ") for c in ran) and any("check_equiv" in c for c in ran)


# -- the plugin hook --------------------------------------------------------------------------


def test_register_pass_refuses_bad_classes(plugins) -> None:
    class NotADataclass(Pass):
        name = "not-a-dataclass"

    from dataclasses import dataclass

    @dataclass
    class BadName(Pass):
        name = "Bad_Name"

    @dataclass
    class Builtin(Pass):
        name = "canonicalize"

    for cls, message in [(NotADataclass, "not a pass"), (int, "not a pass"),
                         (BadName, "bad pass name"), (Builtin, "built-in pass")]:
        with pytest.raises(EdgeirError, match=message) as err:
            pipeline.register_pass(cls)
        assert err.value.kind == "usage"
    assert plugins == {}


def test_register_pass_adds_to_the_registry_and_replaces(plugins) -> None:
    from dataclasses import dataclass

    @dataclass
    class First(Pass):
        name = "my-pass"
        level: int = 0

        def run(self, graph):
            return PassResult(False)

    @dataclass
    class Second(First):
        pass

    assert pipeline.register_pass(First) is First
    [p] = pipeline.parse_pipeline("my-pass{level=3}")
    assert isinstance(p, First) and p.level == 3 and p.spec() == "my-pass{level=3}"
    pipeline.register_pass(Second)  # the same name again: a reloaded plugin
    assert pipeline.registry()["my-pass"] is Second


def test_load_plugin_errors(tmp_path, plugins) -> None:
    with pytest.raises(EdgeirError, match="no such Python file") as err:
        pipeline.load_plugin(tmp_path / "missing.py")
    assert err.value.kind == "usage"
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(EdgeirError, match="RuntimeError: boom") as err:
        pipeline.load_plugin(broken)
    assert err.value.kind == "input" and "edgeir_plugin_broken" not in sys.modules


def test_cli_plugin_option(tmp_path) -> None:
    ir = EXAMPLE / "fold-mul-into-conv.ir"

    def opt(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([EDGEIR, "opt", str(ir), *args], cwd=tmp_path, text=True,
                              capture_output=True, timeout=120, check=False)

    without = opt("-p", "fold-mul-into-conv")
    assert without.returncode == 2 and "unknown pass 'fold-mul-into-conv'" in without.stderr
    missing = opt("--plugin", "missing.py", "-p", "fold-mul-into-conv")
    assert missing.returncode == 2
    assert missing.stderr == ("missing.py: error: no such Python file; give the path of a .py "
                              "file that calls register_pass\n")
    (tmp_path / "clash.py").write_text(
        "from dataclasses import dataclass\n"
        "from compiler.passbase import Pass\n"
        "from compiler.pipeline import register_pass\n"
        "register_pass(dataclass(type('Clash', (Pass,), {'name': 'fold-pad'})))\n")
    clash = opt("--plugin", "clash.py", "-p", "fold-pad")
    assert clash.returncode == 2 and "'fold-pad' is a built-in pass" in clash.stderr
    ok = opt("--plugin", str(PASS_FILE), "-p", "fold-mul-into-conv")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("mul(") == 10  # the ten negative cases of the lit test
