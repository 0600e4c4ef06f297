"""The pass manager: pipeline strings, instrumentation, verifier, reproducers."""

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.diagnostics import EdgeirError
from compiler.ir import Graph
from compiler.passbase import Pass, PassResult
from compiler.pipeline import Instrumentation, parse_pipeline, run_pipeline
from compiler.text import parse, parse_file, print_graph

EDGEIR = str(Path(sys.executable).with_name("edgeir"))

IR = """graph @g(%x: tensor<1x4xf32>) {
  %i = identity(%x) : tensor<1x4xf32> loc("id")
  %r = relu(%i) : tensor<1x4xf32> loc("relu")
  return %r as "y"
}
"""


@dataclass
class Explodes(Pass):
    name = "explodes"

    def run(self, graph: Graph) -> PassResult:
        raise ZeroDivisionError("boom")


@dataclass
class Corrupts(Pass):
    """Leaves a type the op does not give: the verifier must catch it after the pass."""

    name = "corrupts"

    def run(self, graph: Graph) -> PassResult:
        graph.nodes[-1].result.type = graph.nodes[-1].result.type.with_shape((1, 5))
        return PassResult(True)


def test_pipeline_string_with_options():
    passes = parse_pipeline("canonicalize{fold-limit=7}, fold-pad,to-nhwc")
    assert [p.spec() for p in passes] == ["canonicalize{fold-limit=7}", "fold-pad", "to-nhwc"]


@pytest.mark.parametrize("text, message", [
    ("nope", "unknown pass 'nope'"),
    ("canonicalize{x=1}", "unknown option 'x'"),
    ("canonicalize{fold-limit=big}", "must be an int"),
    ("canonicalize,", "ends with ','"),
    ("canonicalize{fold-limit}", "needs a value"),
])
def test_bad_pipelines(text, message):
    with pytest.raises(EdgeirError) as err:
        parse_pipeline(text)
    assert err.value.kind == "usage" and message in err.value.line()


def test_crashing_pass_writes_a_reproducer(tmp_path):
    repro = tmp_path / "repro.ir"
    graph = parse(IR)
    passes = parse_pipeline("canonicalize") + [Explodes()]
    with pytest.raises(EdgeirError) as err:
        run_pipeline(graph, passes, Instrumentation(reproducer=repro))
    assert err.value.kind == "pass" and "explodes" in err.value.line()
    assert str(repro) in err.value.line()
    lines = repro.read_text().splitlines()
    assert lines[0] == "// RUN: edgeir opt %s -p 'explodes'"
    # The rest is the IR the failing pass saw: after canonicalize removed the identity.
    reparsed = parse_file(repro)
    assert [n.op for n in reparsed.nodes] == ["relu"]


def test_verifier_runs_after_each_pass_and_can_be_skipped(tmp_path):
    with pytest.raises(EdgeirError) as err:
        run_pipeline(parse(IR), [Corrupts()], Instrumentation(reproducer=tmp_path / "r.ir"))
    assert err.value.kind == "pass" and "corrupts" in err.value.line()
    assert "typed tensor<1x5xf32>" in err.value.line()
    run_pipeline(parse(IR), [Corrupts()], Instrumentation(verify=False))


def test_print_after_all_and_after_change():
    out = io.StringIO()
    run_pipeline(parse(IR), parse_pipeline("canonicalize,fold-pad"),
                 Instrumentation(print_after_all=True, out=out))
    text = out.getvalue()
    assert "IR Dump After canonicalize" in text and "IR Dump After fold-pad" in text
    out = io.StringIO()
    run_pipeline(parse(IR), parse_pipeline("canonicalize,fold-pad"),
                 Instrumentation(print_after_change=True, out=out))
    assert "After canonicalize" in out.getvalue() and "After fold-pad" not in out.getvalue()


def test_dump_dir_numbers_every_pass(tmp_path):
    graph = parse(IR)
    inst = Instrumentation(dump_dir=tmp_path)
    run_pipeline(graph, parse_pipeline("canonicalize,fold-pad"), inst)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-input.ir", "01-canonicalize.ir", "02-fold-pad.ir"]
    assert print_graph(parse_file(tmp_path / "02-fold-pad.ir")) == print_graph(graph)
    assert dict(inst.stats)["canonicalize"] == {"identities-removed": 1}
    assert [name for name, _ in inst.timings] == ["canonicalize", "fold-pad"]


def test_cli_instrumentation_flags(tmp_path):
    src = tmp_path / "in.ir"
    src.write_text(IR)
    proc = subprocess.run([EDGEIR, "opt", str(src), "-p", "canonicalize,fold-pad",
                           "--time-passes", "--stats", "--print-ir-after-change",
                           "-o", str(tmp_path / "out.ir")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "pass timing" in proc.stderr and "pass statistics" in proc.stderr
    assert "identities-removed" in proc.stderr and "IR Dump After canonicalize" in proc.stderr
    assert "identity" not in (tmp_path / "out.ir").read_text()
