"""The memory report (compiler.memory_report): the buffer table, the peak, the SVG picture,
``edgeir show --memory`` and the ``buffers``/``peak`` keys of report.json, on the shared
int8 keyword-spotting model compiled as ``edgeir compile`` does."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from backends.c.driver import compile_model
from compiler import memory_report
from compiler.cli import load_model, main
from compiler.diagnostics import EdgeirError
from compiler.memory_report import NON_BUFFER_RECTS, arena_png, arena_svg, buffer_table, peak

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "models" / "kws_int8.tflite"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The planned graph (compile_model lowers and plans it in place) and report.json."""
    outdir = tmp_path_factory.mktemp("kws") / "out"
    graph = load_model(str(MODEL))
    compile_model(graph, outdir, "net", "cortex-m4", source=MODEL.name)
    return graph, json.loads((outdir / "report.json").read_text())


def _live_together(a, b):
    return a["first"] <= b["last"] and b["first"] <= a["last"]


def _bytes_overlap(a, b):
    return a["offset"] < b["offset"] + b["bytes"] and b["offset"] < a["offset"] + a["bytes"]


def test_buffers_overlap_only_where_shared_in_place(compiled):
    graph, _ = compiled
    rows = buffer_table(graph)
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names)
    shared_pairs = 0
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if _live_together(a, b) and _bytes_overlap(a, b):
                assert a["shares_with"] == b["name"] or b["shares_with"] == a["name"], (a, b)
                shared_pairs += 1
    assert shared_pairs > 0  # kws runs its depthwise/pointwise chain in place
    for r in rows:
        if r["shares_with"]:
            assert r["shares_with"] in names


def test_table_against_the_plan(compiled):
    graph, _ = compiled
    rows = buffer_table(graph)
    arena = graph.attrs["arena_size"]
    n = len(graph.nodes)
    assert sum(r["bytes"] for r in rows) >= arena
    top = max(r["offset"] + r["bytes"] for r in rows)
    # the arena is the top of the highest buffer, rounded up to the alignment
    align = graph.attrs["alignment"]
    assert arena == -(-top // align) * align
    assert all((a["offset"], a["first"]) <= (b["offset"], b["first"])
               for a, b in zip(rows, rows[1:]))
    assert {r["kind"] for r in rows} == {"input", "activation", "output", "scratch"}
    for r in rows:
        assert -1 <= r["first"] <= r["last"] <= n
        if r["kind"] == "input":
            assert r["first"] == -1 and r["op"] == "input"
        if r["kind"] == "output":
            assert r["last"] == n
        if r["kind"] == "scratch":
            assert r["first"] == r["last"] and r["name"].startswith("scratch of ")
    assert buffer_table(graph) == rows  # deterministic


def test_peak(compiled):
    graph, _ = compiled
    pk = peak(graph)
    assert pk["bytes"] >= graph.attrs["lower_bound"]
    assert pk["bytes"] <= graph.attrs["arena_size"]
    node = graph.nodes[pk["step"]]
    assert pk["op"] == node.op and pk["loc"] == node.loc
    assert pk["buffers"]


def test_svg_is_well_formed_and_deterministic(compiled):
    graph, _ = compiled
    rows = buffer_table(graph)
    text = arena_svg(graph, "kws <int8> & friends")  # the title must be escaped
    assert arena_svg(graph, "kws <int8> & friends") == text
    root = ET.fromstring(text.encode())
    assert root.tag == f"{SVG}svg"
    rects = list(root.iter(f"{SVG}rect"))
    buffers = [r for r in rects if r.get("class") == "buffer"]
    assert len(buffers) == len(rows)
    assert len(rects) == len(rows) + NON_BUFFER_RECTS
    assert [r.get("data-name") for r in buffers] == [row["name"] for row in rows]
    shared = {r["name"] for r in rows if r["shares_with"]}
    for rect, row in zip(buffers, rows):
        assert (rect.get("fill-opacity") is not None) >= (row["name"] in shared)
        if row["kind"] == "scratch":
            assert rect.get("fill") == "url(#scratch)"
    lines = {el.get("class") for el in root.iter(f"{SVG}line")}
    assert {"arena", "lower-bound"} <= lines


def _hide_matplotlib(monkeypatch):
    """Make ``import matplotlib`` (and its submodules) fail, installed or not."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_png_needs_matplotlib(compiled, tmp_path, monkeypatch):
    graph, _ = compiled
    _hide_matplotlib(monkeypatch)
    with pytest.raises(EdgeirError) as err:
        arena_png(graph, "kws", tmp_path / "a.png")
    assert err.value.kind == "unsupported" and "pip install matplotlib" in err.value.what
    assert not (tmp_path / "a.png").exists()


def test_png_with_matplotlib(compiled, tmp_path):
    import matplotlib  # noqa: F401 - a test dependency (the `test` extra pins it)
    graph, _ = compiled
    arena_png(graph, "kws", tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")


def test_report_json_has_buffers_and_peak(compiled):
    graph, report = compiled
    assert report["buffers"] == json.loads(json.dumps(buffer_table(graph)))
    assert report["peak"] == json.loads(json.dumps(peak(graph)))
    for key in ("arena_bytes", "layers", "inputs", "outputs", "ram_bytes"):
        assert key in report


def test_cli_show_memory(tmp_path, capsys):
    out = tmp_path / "out.svg"
    done = subprocess.run([sys.executable, "-m", "compiler.cli", "show", str(MODEL), "--memory",
                           "--svg", str(out)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    assert "arena" in done.stdout
    assert "lower bound" in done.stdout and "peak" in done.stdout
    assert "activation_2/Relu" in done.stdout  # the table's short buffer names
    ET.fromstring(out.read_bytes())
    assert main(["show", str(MODEL), "--memory", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["buffers"] and doc["peak"]["bytes"] >= doc["lower_bound"]


def test_cli_show_memory_png_without_matplotlib(tmp_path, monkeypatch, capsys):
    _hide_matplotlib(monkeypatch)
    out = tmp_path / "out.png"
    assert main(["show", str(MODEL), "--png", str(out)]) == 4
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not out.exists()


def test_unplanned_graph_is_an_error():
    with pytest.raises(EdgeirError, match="no memory plan"):
        memory_report.buffer_table(load_model(str(MODEL)))
