"""-DEDGEIR_DEBUG: guard bytes around every arena buffer, checked after every layer.

* The debug arena's layout (report.json's ``debug``): exact offsets on a small graph, and
  on every shared model the invariants (aligned, inside the arena, the guarded extents of
  buffers live at a common layer disjoint).
* The debug build of every shared model (the host compiles and the Cortex-M4 ones, whose
  in-place and DSP kernels run as portable C here), with AddressSanitizer and
  UndefinedBehaviorSanitizer, runs clean (invoke returns 0: no guard changed) and gives
  the release build's outputs byte for byte.
* Out-of-bounds writes are caught and named: a byte flipped just outside a buffer while a
  layer runs (through the EDGEIR_LAYER hook) makes invoke return 3 after exactly that
  layer, with edgeir_debug_fail(model, layer, buffer) naming that buffer; a kernel given a
  wrong output size (one channel too many) is caught after its layer, on its output.
* The debug sources compile with -Wall -Wextra -Werror for the Cortex-M4
  (arm-none-eabi-gcc), the debug arena filling .bss exactly.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from backends.c.build import build_host, cross_sizes, run_host
from backends.c.debug import GUARD
from backends.c.driver import compile_model
from compiler.text import parse
from tests.test_c_backend import CASES, M4_CASES, compiled

ALL = [(m, "host") for m in CASES] + [(m, "cortex-m4") for m in M4_CASES]


def feeds_for(report: dict, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` random samples of every input, stacked (int8: any value; float: [-1, 1))."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for x in report["inputs"]:
        shape = (n, *x["shape"])
        feeds[x["name"]] = (rng.integers(-128, 128, shape, dtype=np.int8) if x["dtype"] == "i8"
                            else rng.uniform(-1, 1, shape).astype(np.float32))
    return feeds


def check_layout(report: dict) -> None:
    """The debug arena's invariants, from report.json alone."""
    dbg = report["debug"]
    assert dbg["guard_bytes"] == GUARD
    size = dbg["arena_bytes"]
    bufs = dbg["buffers"]
    assert {b["name"] for b in bufs} <= {b["name"] for b in report["buffers"]}
    assert {b["bytes"] for b in bufs} <= {b["bytes"] for b in report["buffers"]}
    layers = len(dbg["layers"])
    assert layers == sum(1 for x in report["layers"] if x["kernel"] not in ("alias", "fused"))
    for b in bufs:
        assert b["offset"] % 16 == 0, b
        assert GUARD <= b["offset"] and b["offset"] + b["bytes"] + GUARD <= size, b
        assert 0 <= b["first_layer"] <= b["last_layer"] < layers, b
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if a["first_layer"] <= b["last_layer"] and b["first_layer"] <= a["last_layer"]:
                lo_a, hi_a = a["offset"] - GUARD, a["offset"] + a["bytes"] + GUARD
                lo_b, hi_b = b["offset"] - GUARD, b["offset"] + b["bytes"] + GUARD
                assert hi_a <= lo_b or hi_b <= lo_a, (a, b)
    outputs = {o["name"] for o in report["outputs"]}
    assert outputs, report["outputs"]


def test_debug_layout_of_a_small_graph(tmp_path):
    """A concat of two inputs (6 and 10 bytes) into 16, reshaped (an alias): three guarded
    buffers all live at the one layer, placed largest first with 32 guard bytes a side."""
    graph = parse("""
graph @cat(%a: tensor<2x3xi8, q(0.5, 0)>, %b: tensor<2x5xi8, q(0.5, 0)>) {
  %c = concat(%a, %b) {axis = 1} : tensor<2x8xi8, q(0.5, 0)> loc("cat")
  %r = reshape(%c) {shape = [16]} : tensor<16xi8, q(0.5, 0)> loc("flat")
  return %r
}
""")
    report = compile_model(graph, tmp_path / "out", "cat")
    assert report["debug"] == {
        "arena_bytes": 240, "guard_bytes": 32, "layers": ["cat"],
        "buffers": [{"name": "a", "offset": 192, "bytes": 6, "first_layer": 0, "last_layer": 0},
                    {"name": "b", "offset": 112, "bytes": 10, "first_layer": 0,
                     "last_layer": 0},
                    {"name": "c", "offset": 32, "bytes": 16, "first_layer": 0,
                     "last_layer": 0}]}
    header = (tmp_path / "out" / "cat.h").read_text()
    assert "#ifndef EDGEIR_DEBUG\n#define CAT_ARENA_SIZE 48\n#else\n" in header
    assert re.search(r"#define CAT_ARENA_SIZE 240\n#endif", header)
    source = (tmp_path / "out" / "cat.c").read_text()
    assert "static const uint32_t cat_input_offsets[] = {192, 112};" in source
    assert "static const uint32_t cat_output_offsets[] = {32};" in source
    check_layout(report)


def test_an_input_no_node_reads_is_guarded_at_no_layer(tmp_path):
    """Found by the ONNX and TFLite fuzzers: a graph input that no node reads is live
    before the first layer only. It was given the last node's layer (before[-1]), so its
    guards shared bytes with that layer's output (a false alarm at run time), or, in a
    graph without nodes, the compile crashed with an IndexError."""
    graph = parse("""
graph @g(%a: tensor<2x3xi8, q(0.5, 0)>, %u: tensor<2x5xi8, q(0.5, 0)>) {
  %c = concat(%a, %a) {axis = 1} : tensor<2x6xi8, q(0.5, 0)> loc("cat")
  return %c
}
""")
    report = compile_model(graph, tmp_path / "cat", "g")
    assert [b["name"] for b in report["debug"]["buffers"]] == ["a", "c"]
    check_layout(report)
    graph = parse("""
graph @g(%u: tensor<8xi8, q(0.5, 0)>) {
  %c = const dense<[1, 2]> : tensor<2xi8, q(0.5, 0)>
  return %c
}
""")
    report = compile_model(graph, tmp_path / "const", "g")
    assert report["debug"]["buffers"] == [] and report["debug"]["layers"] == []


@pytest.mark.slow  # two sanitized builds per model (the kernels' objects are cached)
@pytest.mark.parametrize("model,target", ALL)
def test_debug_build_runs_clean_with_the_release_outputs(model, target):
    outdir, report = compiled(model, target)
    check_layout(report)
    feeds = feeds_for(report, 4, seed=7)
    release = run_host(outdir, feeds, sanitize=True, batch=True)  # vs the interpreter:
    debug = run_host(outdir, feeds, sanitize=True, batch=True, debug=True)  # test_c_backend
    assert sorted(release) == sorted(debug)
    for name in release:
        assert debug[name].tobytes() == release[name].tobytes(), name


# -- injected out-of-bounds writes ---------------------------------------------------------

# Defined at the top of a copy of net.c: the profiling hook runs before each layer and flips
# the byte at the offset argv[2] before layer argv[1].
HOOK = """#include <stdint.h>
void edgeir_test_layer(int k, uint8_t *arena);
#define EDGEIR_LAYER(k) edgeir_test_layer((k), arena)
"""
HARNESS = r"""#include <stdio.h>
#include <stdlib.h>
#include "net.h"

static long corrupt_layer = -1, corrupt_offset = -1;
static int fails = 0, fail_layer = -1;
static const char *fail_model = "", *fail_buffer = "";

void edgeir_test_layer(int k, uint8_t *arena);
void edgeir_test_layer(int k, uint8_t *arena) {
  if (k == corrupt_layer) arena[corrupt_offset] ^= 0x5A;
}

void edgeir_debug_fail(const char *model, int layer, const char *buffer) {
  ++fails;
  fail_model = model;
  fail_layer = layer;
  fail_buffer = buffer;
}

int main(int argc, char **argv) {
  int status;
  if (argc != 3) return 64;
  corrupt_layer = strtol(argv[1], NULL, 10);
  corrupt_offset = strtol(argv[2], NULL, 10);
  status = net_invoke();
  printf("%d\n%d\n%s\n%d\n%s\n", status, fails, fail_model, fail_layer, fail_buffer);
  return 0;
}
"""


def hooked_copy(outdir: Path, dest: Path) -> Path:
    shutil.copytree(outdir, dest)
    net = dest / "net.c"
    net.write_text(HOOK + net.read_text())
    return dest


def run_injected(exe: Path, layer: int, offset: int) -> tuple[int, int, str, int, str]:
    out = subprocess.run([str(exe), str(layer), str(offset)], capture_output=True, text=True,
                         check=True)
    assert out.stderr == ""
    status, fails, model, fail_layer, buffer = out.stdout.split("\n")[:5]
    return int(status), int(fails), model, int(fail_layer), buffer


@pytest.mark.slow  # a sanitized build
def test_a_byte_written_outside_a_buffer_is_caught_after_its_layer_and_named(tmp_path):
    # ResNet-8 for the Cortex-M4: in-place and DSP kernels with scratch buffers, fused
    # convolution + add, a residual buffer live over several layers.
    outdir, report = compiled("resnet8_int8.tflite", "cortex-m4")
    dbg = report["debug"]
    exe = build_host(hooked_copy(outdir, tmp_path / "hooked"), sanitize=True,
                     debug=True, harness=HARNESS)
    assert run_injected(exe, -1, 0) == (0, 0, "", -1, "")  # nothing injected: clean
    bufs = dbg["buffers"]
    long_lived = max(bufs, key=lambda b: b["last_layer"] - b["first_layer"])
    assert long_lived["last_layer"] - long_lived["first_layer"] >= 2
    scratch = next(b for b in bufs if b["name"].startswith("scratch of "))
    model_input = next(b for b in bufs if b["name"] == report["inputs"][0]["name"])
    cases = [
        # (buffer, layer to corrupt before, offset): a byte past the end, a byte before the
        # start, the last guard byte past the end
        (long_lived, long_lived["first_layer"], long_lived["offset"] + long_lived["bytes"]),
        (long_lived, long_lived["last_layer"], long_lived["offset"] - 1),
        (scratch, scratch["first_layer"], scratch["offset"] + scratch["bytes"] + GUARD - 1),
        (model_input, 0, model_input["offset"] - GUARD),
    ]
    for buf, layer, offset in cases:
        assert run_injected(exe, layer, offset) == (3, 1, "net", layer, buf["name"]), \
            (buf, layer, offset)
    # A byte inside a buffer (the data, not a guard) is no out-of-bounds write.
    assert run_injected(exe, long_lived["first_layer"], long_lived["offset"]) == \
        (0, 0, "", -1, "")


@pytest.mark.slow  # a C build
def test_a_kernel_writing_past_its_output_is_caught(tmp_path):
    """AD's fully connected layers, one of them given one output channel too many: the
    kernel writes one byte past its output (and reads a row past its weights: no
    sanitizer in this build); the check after that layer names its output buffer."""
    outdir, report = compiled("ad_int8.tflite", "host")
    bad = hooked_copy(outdir, tmp_path / "bad")
    source = (bad / "net.c").read_text()
    fc = re.compile(r"(static const edgeir_fc_s8_params (net_p\d+) = \{1, (\d+), )(\d+)(,)")
    params = fc.findall(source)
    assert len(params) == 10  # one per layer
    _, pname, _, out_features, _ = params[3]
    # the layer (EDGEIR_LAYER's numbering) whose call takes these parameters
    layer = int(re.search(r"EDGEIR_LAYER\((\d+)\);\n[^\n]*\n\s*edgeir_fc_s8\(&" + pname + ",",
                          source).group(1))
    source = fc.sub(lambda m: m.group(1) + (str(int(m.group(4)) + 1) if m.group(2) == pname
                                            else m.group(4)) + m.group(5), source)
    (bad / "net.c").write_text(source)
    dbg = report["debug"]
    out_buffer = next(b for b in dbg["buffers"] if b["first_layer"] == layer
                      and b["bytes"] == int(out_features))
    exe = build_host(bad, debug=True, harness=HARNESS)
    assert run_injected(exe, -1, 0) == (3, 1, "net", layer, out_buffer["name"])


@pytest.mark.slow  # cross builds
@pytest.mark.parametrize("model", [f"{m}_int8.tflite" for m in ("ad", "kws", "resnet8", "vww")])
def test_debug_build_compiles_warning_free_for_cortex_m4(model):
    outdir, report = compiled(model, "cortex-m4")
    sizes = cross_sizes(outdir, "cortex-m4", extra_flags=("-DEDGEIR_DEBUG",))
    assert sizes["bss"] == report["debug"]["arena_bytes"]
    assert report["debug"]["arena_bytes"] > report["arena_bytes"]


def test_guarded_names_are_c_string_literals():
    from backends.c.debug import c_string

    assert c_string('a/b;c"d\\e??/f') == '"a/b;c\\"d\\\\e\\?\\?/f"'
    assert c_string("é\n") == '"\\303\\251\\012"'
    assert json.loads(c_string("conv_1/BiasAdd;x")) == "conv_1/BiasAdd;x"


def test_offsets_are_placeholders_until_printed():
    """The calls are printed with each buffer's release or debug offset; an offset an
    emitter printed any other way than ``arena + N)`` (arithmetic on it) is refused."""
    from backends.c.debug import PLACEHOLDER, render_offsets

    table = {PLACEHOLDER + 3: (48, 96)}
    key = PLACEHOLDER + 3
    call = [f"k((const int8_t *)(arena + {key}), (int8_t *)(arena + {key}));"]
    assert render_offsets(call, table, debug=False) == \
        ["k((const int8_t *)(arena + 48), (int8_t *)(arena + 48));"]
    assert render_offsets(call, table, debug=True) == \
        ["k((const int8_t *)(arena + 96), (int8_t *)(arena + 96));"]
    with pytest.raises(AssertionError, match="outside 'arena"):
        render_offsets([f"k((int8_t *)(arena + {PLACEHOLDER + 3} + 4));"], table, debug=False)
    with pytest.raises(AssertionError, match="did not come from the memory plan"):
        render_offsets([f"k((int8_t *)(arena + {PLACEHOLDER + 4}));"], table, debug=False)
