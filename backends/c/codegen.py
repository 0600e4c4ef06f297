"""The generated C library: files, API, report, build fragments.

``generate(graph, name, ...)`` returns every output file as text (the graph must have been
lowered with lower-c and planned with plan-memory); ``write_library`` writes them into an
output directory atomically (a temporary directory renamed into place).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from backends.c import debug
from backends.c.emit import C_TYPES, STRUCTS, Module, emit_layers, quant_comment
from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, PerTensor
from compiler.targets import Target, load_target

RUNTIME = Path(__file__).with_name("runtime")
C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed sizeof static
struct switch typedef union unsigned void volatile while _Bool _Complex _Imaginary""".split())
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name: str) -> None:
    if not IDENT.match(name) or name in C_KEYWORDS:
        raise EdgeirError(f"'{name}' is not a C identifier", "--name",
                          "use letters, digits and underscores, not starting with a digit",
                          "usage")


def generate(graph: Graph, name: str, target: Target | str = "host",
             source: str = "", specialize: bool = False) -> dict[str, str]:
    """The C library of a lowered, planned graph: file name -> text. ``specialize``: the DSP
    kernels' input expansion and depthwise kernel instantiated on each layer's constant
    shape (faster, more code)."""
    check_name(name)
    tgt = load_target(target) if isinstance(target, str) else target
    if "arena_size" not in graph.attrs:
        raise EdgeirError("the graph has no memory plan", None, "run plan-memory", "usage")
    m = Module(name, graph, pinned=frozenset(graph.attrs.get("pinned_weights", ())),
               specialize=specialize)
    # Each layer is emitted once with placeholder offsets, then printed with the release
    # plan's offsets and (-DEDGEIR_DEBUG) with the debug arena's (backends/c/debug.py).
    dbg = debug.debug_plan(graph)
    with debug.placeholder_offsets(graph, dbg) as offsets:
        emit_layers(m)
    dbg_calls = debug.render_offsets(m.calls, offsets, debug=True)
    m.calls = debug.render_offsets(m.calls, offsets, debug=False)
    debug.check_no_placeholder(m.params)
    io_dtypes = {v.type.dtype for v in [*graph.inputs, *graph.outputs]}
    needs_f32_wrapper = io_dtypes == {"i8"} and all(
        isinstance(v.type.quant, PerTensor) for v in [*graph.inputs, *graph.outputs])
    if needs_f32_wrapper:
        m.kernels.add("edgeir_s8.c")
    files = {
        f"{name}.h": _header(m, needs_f32_wrapper, source, dbg),
        f"{name}.c": _source(m, needs_f32_wrapper, source, dbg, dbg_calls),
        f"{name}_weights.c": _weights(m, source),
        "CMakeLists.txt": _cmake(m),
        f"{name}.mk": _makefile(m),
    }
    marker = '#include "edgeir_kernels.h"\n'
    files[f"{name}.c"] = files[f"{name}.c"].replace(marker, marker + _sections(m, tgt), 1) \
        + _init(m)
    marker = "#include <stdint.h>\n"
    files[f"{name}_weights.c"] = files[f"{name}_weights.c"].replace(
        marker, marker + _sections(m, tgt), 1)
    if tgt.bare_metal:
        files[f"{name}_sections.ld"] = linker_fragment(m, tgt)
    files["edgeir_kernels.h"] = (RUNTIME / "edgeir_kernels.h").read_text()
    for k in sorted(m.kernels):
        files[k] = (RUNTIME / k).read_text()
    if "edgeir_s8_dsp.c" in m.kernels:  # its shared half, which --specialize instantiates
        files["edgeir_s8_dsp.h"] = (RUNTIME / "edgeir_s8_dsp.h").read_text()
    files["report.json"] = json.dumps(report(m, tgt, source, dbg), indent=2,
                                      sort_keys=True) + "\n"
    return files


def _io_lines(m: Module) -> list[str]:
    g = m.graph
    up = m.name.upper()
    lines = []
    for kind, values, names in (("INPUT", g.inputs, g.input_names),
                                ("OUTPUT", g.outputs, g.output_names)):
        for i, (v, port) in enumerate(zip(values, names)):
            shape = "x".join(map(str, v.type.shape))
            lines.append(f"/* {kind.lower()} {i} \"{port}\": {C_TYPES[v.type.dtype]} [{shape}]"
                         f"{quant_comment(v)} */")
            lines.append(f"#define {up}_{kind}{i}_SIZE {v.type.numel}")
            q = v.type.quant
            if isinstance(q, PerTensor):
                lines.append(f"#define {up}_{kind}{i}_SCALE {repr(float(np.float32(q.scale)))}f")
                lines.append(f"#define {up}_{kind}{i}_ZERO_POINT {q.zero_point}")
    return lines


def _run_signature(m: Module, f32: bool = False) -> str:
    g = m.graph
    if len(g.inputs) == 1 and len(g.outputs) == 1:
        tin = "float" if f32 else C_TYPES[g.inputs[0].type.dtype]
        tout = "float" if f32 else C_TYPES[g.outputs[0].type.dtype]
        return f"const {tin} *input, {tout} *output"
    return "const void *const inputs[], void *const outputs[]"


def _header(m: Module, f32_wrapper: bool, source: str, dbg: debug.DebugPlan) -> str:
    g = m.graph
    up = m.name.upper()
    n = m.name
    lines = [f"/* Generated by edgeir from {source or g.name}. Do not edit. */",
             f"#ifndef {up}_H", f"#define {up}_H", "", "#include <stdint.h>", "",
             "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
             "/* Bytes of RAM the model needs, inputs and outputs included. */",
             "#ifndef EDGEIR_DEBUG",
             f"#define {up}_ARENA_SIZE {g.attrs['arena_size']}",
             "#else",
             "/* -DEDGEIR_DEBUG (the application's files too): the debug arena, with guard",
             "   bytes around every buffer, checked after every layer. */",
             f"#define {up}_ARENA_SIZE {dbg.arena_size}",
             "#endif",
             f"#define {up}_NUM_INPUTS {len(g.inputs)}",
             f"#define {up}_NUM_OUTPUTS {len(g.outputs)}", ""]
    lines += _io_lines(m)
    lines += ["",
              "/* Where to write input i and read output i: pointers into the arena. */",
              f"void *{n}_input(int index);",
              f"void *{n}_output(int index);",
              "/* Once at start-up, before invoke: copies the weights pinned into SRAM",
              "   from their load address (a no-op without pinned weights, or when",
              f"   {up}_PINNED_COPIED_BY_STARTUP is defined). */",
              f"void {n}_init(void);",
              "/* Run the network: 0 on success (with -DEDGEIR_DEBUG, 3 when a layer wrote",
              "   outside its buffers: see edgeir_debug_fail below). */",
              f"int {n}_invoke(void);",
              f"/* The same with a caller-supplied arena of {up}_ARENA_SIZE bytes,",
              "   aligned to 8 bytes. */",
              f"void *{n}_input_in(uint8_t *arena, int index);",
              f"void *{n}_output_in(uint8_t *arena, int index);",
              f"int {n}_invoke_with_arena(uint8_t *arena);",
              "/* Copy the input(s) in, invoke, copy the output(s) out. */",
              f"int {n}_run({_run_signature(m)});"]
    if f32_wrapper:
        lines += ["/* Float in and out: quantize the input(s), invoke, dequantize. */",
                  f"int {n}_run_f32({_run_signature(m, True)});"]
    lines += ["", "#ifdef EDGEIR_DEBUG",
              "/* Called once when invoke finds a guard byte changed after layer `layer`",
              "   (EDGEIR_LAYER's numbering) next to `buffer` (report.json's buffer name);",
              "   invoke then returns 3. GCC and clang builds have a default that does",
              "   nothing; define it to report or trap (other compilers: define it). */",
              "void edgeir_debug_fail(const char *model, int layer, const char *buffer);",
              "#endif"]
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {up}_H */", ""]
    return "\n".join(lines)


def _source(m: Module, f32_wrapper: bool, source: str, dbg: debug.DebugPlan,
            dbg_calls: list[str]) -> str:
    g = m.graph
    n = m.name
    up = n.upper()
    ins = ", ".join(str(o) for o in g.attrs["input_offsets"]) or "0"
    outs = ", ".join(str(o) for o in g.attrs["output_offsets"]) or "0"
    dbg_ins = ", ".join(str(dbg.buffers[dbg.index_of_value[id(v)]].offset)
                        for v in g.inputs) or "0"
    dbg_outs = ", ".join(str(dbg.buffers[dbg.index_of_value[id(v)]].offset)
                         if id(v) in dbg.index_of_value else "0" for v in g.outputs) or "0"
    in_bytes = ", ".join(str(v.type.nbytes) for v in g.inputs) or "0"
    out_bytes = ", ".join(str(v.type.nbytes) for v in g.outputs) or "0"
    lines = [f"/* Generated by edgeir from {source or g.name}. Do not edit. */",
             f'#include "{n}.h"', '#include "edgeir_kernels.h"', "",
             "#include <stddef.h>", "#include <string.h>"]
    if m.functions:
        lines += ["#define EDGEIR_SPECIALIZE", '#include "edgeir_s8_dsp.h"']
    if m.uses_math:
        lines.append("#include <math.h>")
    lines += ["", *LAYER_HOOK]
    lines += ["", "/* Weights and tables (in " + n + "_weights.c). */"] + m.array_decls
    lines += ["", f"static union {{ uint64_t align; uint8_t bytes[{up}_ARENA_SIZE]; }} "
              f"{n}_arena {up}_ARENA;",
              "#ifndef EDGEIR_DEBUG",
              f"static const uint32_t {n}_input_offsets[] = {{{ins}}};",
              f"static const uint32_t {n}_output_offsets[] = {{{outs}}};",
              "#else",
              f"static const uint32_t {n}_input_offsets[] = {{{dbg_ins}}};",
              f"static const uint32_t {n}_output_offsets[] = {{{dbg_outs}}};",
              "#endif",
              f"static const uint32_t {n}_input_bytes[] = {{{in_bytes}}};",
              f"static const uint32_t {n}_output_bytes[] = {{{out_bytes}}};", ""]
    lines += m.params
    if m.functions:
        lines += ["", "/* The loops of each specialized layer (--specialize): edgeir_s8_dsp.h's "
                  "input expansion or", " * depthwise kernel, instantiated on the layer's "
                  "constant parameter block. */", *m.functions]
    lines += ["", "#ifndef EDGEIR_DEBUG", f"static void {n}_layers(uint8_t *arena) {{"] \
        + layer_calls(m.calls) + ["}", "#else", *debug.helpers(n, dbg), "",
                                  f"static int {n}_layers(uint8_t *arena) {{"] \
        + debug.layer_calls(n, dbg_calls) + ["}", "#endif", ""]
    lines += [
        f"void *{n}_input_in(uint8_t *arena, int index) {{",
        f"  if (arena == NULL || index < 0 || index >= {up}_NUM_INPUTS) return NULL;",
        f"  return arena + {n}_input_offsets[index];",
        "}", "",
        f"void *{n}_output_in(uint8_t *arena, int index) {{",
        f"  if (arena == NULL || index < 0 || index >= {up}_NUM_OUTPUTS) return NULL;",
        f"  return arena + {n}_output_offsets[index];",
        "}", "",
        f"void *{n}_input(int index) {{ return {n}_input_in({n}_arena.bytes, index); }}", "",
        f"void *{n}_output(int index) {{ return {n}_output_in({n}_arena.bytes, index); }}", "",
        f"int {n}_invoke_with_arena(uint8_t *arena) {{",
        "  if (arena == NULL || ((uintptr_t)arena & 7u) != 0) return 1;",
        "#ifndef EDGEIR_DEBUG",
        f"  {n}_layers(arena);",
        "  return 0;",
        "#else",
        f"  return {n}_layers(arena);",
        "#endif",
        "}", "",
        f"int {n}_invoke(void) {{ return {n}_invoke_with_arena({n}_arena.bytes); }}", ""]
    single = len(g.inputs) == 1 and len(g.outputs) == 1
    lines += [f"int {n}_run({_run_signature(m)}) {{", "  int i, status;"]
    if single:
        lines += ["  const void *const inputs[1] = {input};",
                  "  void *const outputs[1] = {output};"]
    lines += [f"  for (i = 0; i < {up}_NUM_INPUTS; ++i) {{",
              "    if (inputs[i] == NULL) return 2;",
              f"    memcpy({n}_input(i), inputs[i], {n}_input_bytes[i]);",
              "  }",
              f"  status = {n}_invoke();",
              "  if (status != 0) return status;",
              f"  for (i = 0; i < {up}_NUM_OUTPUTS; ++i) {{",
              "    if (outputs[i] == NULL) return 2;",
              f"    memcpy(outputs[i], {n}_output(i), {n}_output_bytes[i]);",
              "  }",
              "  return 0;", "}", ""]
    if f32_wrapper:
        lines += _f32_wrapper(m, single)
    return "\n".join(lines)


LAYER_HOOK = [
    "/* Profiling hook: EDGEIR_LAYER(k) runs before layer k (k = 0, 1, ... in the order of",
    "   report.json's layers whose kernel emits code, i.e. not alias or fused) and",
    "   EDGEIR_LAYER(n) after the last one. It does nothing unless defined to a function",
    "   call, e.g. -DEDGEIR_LAYER(k)=my_layer_hook(k) with the function declared through",
    "   -include; `edgeir run --engine sim` uses it to count instructions per layer. */",
    "#ifndef EDGEIR_LAYER",
    "#define EDGEIR_LAYER(k) ((void)0)",
    "#endif"]


def layer_calls(calls: list[str]) -> list[str]:
    """The body of ``<name>_layers``: the emitters' calls, each layer (a comment line, then
    its call or calls) preceded by ``EDGEIR_LAYER(k);``, and ``EDGEIR_LAYER(n);`` last."""
    out: list[str] = []
    k = 0
    for line in calls:
        if line.startswith("  /* "):  # a layer's header comment (emit_layers)
            out.append(f"  EDGEIR_LAYER({k});")
            k += 1
        out.append(line)
    out.append(f"  EDGEIR_LAYER({k});")
    return out


def _f32_wrapper(m: Module, single: bool) -> list[str]:
    g = m.graph
    n = m.name
    lines = []
    for kind, values in (("q", g.inputs), ("dq", g.outputs)):
        for i, v in enumerate(values):
            q = v.type.quant
            from backends.c.emit import c_float

            if kind == "q":
                lines.append(f"static const edgeir_quantize_params {n}_in{i}_q = "
                             f"{{{v.type.numel}, {c_float(q.scale)}, {q.zero_point}, 0}};")
            else:
                lines.append(f"static const edgeir_dequantize_params {n}_out{i}_dq = "
                             f"{{{v.type.numel}, {c_float(q.scale)}, {q.zero_point}}};")
    lines += ["", f"int {n}_run_f32({_run_signature(m, True)}) {{", "  int status;"]
    if single:
        lines.append("  if (input == NULL || output == NULL) return 2;")
        lines.append(f"  edgeir_quantize_f32_s8_half_away(&{n}_in0_q, input, "
                     f"(int8_t *){n}_input(0));")
    else:
        for i in range(len(g.inputs)):
            lines.append(f"  if (inputs[{i}] == NULL) return 2;")
            lines.append(f"  edgeir_quantize_f32_s8_half_away(&{n}_in{i}_q, "
                         f"(const float *)inputs[{i}], (int8_t *){n}_input({i}));")
    lines.append(f"  status = {n}_invoke();")
    lines.append("  if (status != 0) return status;")
    if single:
        lines.append(f"  edgeir_dequantize_s8_f32(&{n}_out0_dq, (const int8_t *){n}_output(0), "
                     "output);")
    else:
        for i in range(len(g.outputs)):
            lines.append(f"  if (outputs[{i}] == NULL) return 2;")
            lines.append(f"  edgeir_dequantize_s8_f32(&{n}_out{i}_dq, "
                         f"(const int8_t *){n}_output({i}), (float *)outputs[{i}]);")
    lines += ["  return 0;", "}", ""]
    return lines


def _weights(m: Module, source: str) -> str:
    head = [f"/* Generated by edgeir from {source or m.graph.name}: weights and tables. */",
            "#include <stdint.h>"]
    if any(f" {t} " in d for d in m.array_defs for t in STRUCTS):
        head.append('#include "edgeir_kernels.h"')
    if any("INFINITY" in d or "NAN" in d for d in m.array_defs):
        head.append("#include <math.h>")
    return "\n".join(head) + "\n\n" + "\n".join(m.array_defs)


def sources(m: Module) -> list[str]:
    return [f"{m.name}.c", f"{m.name}_weights.c", *sorted(m.kernels)]


def _cmake(m: Module) -> str:
    srcs = " ".join(sources(m))
    return (f"# Generated by edgeir: the model as a static library.\n"
            f"add_library({m.name} STATIC {srcs})\n"
            f"target_include_directories({m.name} PUBLIC ${{CMAKE_CURRENT_LIST_DIR}})\n"
            f"set_property(TARGET {m.name} PROPERTY C_STANDARD 99)\n"
            f"if(NOT MSVC)\n  target_link_libraries({m.name} PUBLIC m)\nendif()\n")


def _makefile(m: Module) -> str:
    up = m.name.upper()
    srcs = " ".join(f"$({up}_DIR)/{s}" for s in sources(m))
    return (f"# Generated by edgeir: include this fragment and link lib{m.name}.a.\n"
            f"{up}_DIR := $(dir $(lastword $(MAKEFILE_LIST)))\n"
            f"{up}_SRCS := {srcs}\n"
            f"{up}_OBJS := $({up}_SRCS:.c=.o)\n"
            f"{up}_CFLAGS ?= -std=c99 -O2\n\n"
            f"$({up}_DIR)/%.o: $({up}_DIR)/%.c\n"
            f"\t$(CC) $({up}_CFLAGS) $(CFLAGS) -I$({up}_DIR) -c $< -o $@\n\n"
            f"lib{m.name}.a: $({up}_OBJS)\n"
            f"\t$(AR) rcs $@ $^\n")


def _sections(m: Module, tgt: Target) -> str:
    """Section macros: weights in flash, pinned weights in SRAM, the arena (bare metal)."""
    up, n = m.name.upper(), m.name
    if not tgt.bare_metal:
        return f"#define {up}_WEIGHTS\n#define {up}_PINNED\n#define {up}_ARENA\n"
    return (f"#if defined(__GNUC__)\n"
            f'#define {up}_WEIGHTS __attribute__((section(".rodata.edgeir_{n}_weights")))\n'
            f'#define {up}_PINNED __attribute__((section(".data.edgeir_{n}_pinned")))\n'
            f'#define {up}_ARENA __attribute__((section(".bss.edgeir_{n}_arena")))\n'
            f"#else\n#define {up}_WEIGHTS\n#define {up}_PINNED\n#define {up}_ARENA\n"
            f"#endif\n")


def _init(m: Module) -> str:
    n, up = m.name, m.name.upper()
    if not m.graph.attrs.get("pinned_weights"):
        return f"\nvoid {n}_init(void) {{}}\n"
    return (f"\n#ifndef {up}_PINNED_COPIED_BY_STARTUP\n"
            f"extern uint8_t __edgeir_{n}_pinned_start[], __edgeir_{n}_pinned_end[];\n"
            f"extern const uint8_t __edgeir_{n}_pinned_load[];\n#endif\n\n"
            f"void {n}_init(void) {{\n#ifndef {up}_PINNED_COPIED_BY_STARTUP\n"
            f"  memcpy(__edgeir_{n}_pinned_start, __edgeir_{n}_pinned_load,\n"
            f"         (size_t)(__edgeir_{n}_pinned_end - __edgeir_{n}_pinned_start));\n"
            f"#endif\n}}\n")


def linker_fragment(m: Module, tgt: Target) -> str:
    """GNU ld output sections for the model: INCLUDE it inside SECTIONS (before the
    catch-all .rodata/.data/.bss rules) of a script whose MEMORY defines the regions."""
    n = m.name
    load = tgt.weights_region if tgt.region(tgt.weights_region).kind == "flash" else next(
        r.name for r in tgt.regions if r.kind == "flash")
    regions = ", ".join(r.name for r in tgt.regions)
    return (f"/* Generated by edgeir for {n} on {tgt.name}. INCLUDE inside SECTIONS of a\n"
            f"   linker script whose MEMORY defines {regions}. */\n"
            f".edgeir_{n}_weights : ALIGN(16)\n{{\n  KEEP(*(.rodata.edgeir_{n}_weights))\n}}"
            f" > {tgt.weights_region}\n\n"
            f".edgeir_{n}_pinned : ALIGN(16)\n{{\n  __edgeir_{n}_pinned_start = .;\n"
            f"  KEEP(*(.data.edgeir_{n}_pinned))\n  . = ALIGN(4);\n"
            f"  __edgeir_{n}_pinned_end = .;\n}} > {tgt.arena_region} AT > {load}\n"
            f"__edgeir_{n}_pinned_load = LOADADDR(.edgeir_{n}_pinned);\n\n"
            f".edgeir_{n}_arena (NOLOAD) : ALIGN(16)\n{{\n  *(.bss.edgeir_{n}_arena)\n}}"
            f" > {tgt.arena_region}\n")


def report(m: Module, target: Target, source: str,
           dbg: debug.DebugPlan | None = None) -> dict:
    from compiler.memory_report import buffer_table, peak

    g = m.graph
    weights = sum(c.type.nbytes for c in g.constants)
    io_bytes = sum(v.type.nbytes for v in [*g.inputs, *g.outputs])
    layers = []
    total_macs = 0
    for node in g.nodes:
        macs = ops.get(node.op).macs_of(node)
        total_macs += macs
        layers.append({
            "node": node.loc or node.result.name,
            "op": node.op,
            "kernel": node.attrs.get("impl", ""),
            **({"specialized": True} if (node.loc or node.result.name) in m.specialized
               else {}),
            "output_shape": list(node.result.type.shape),
            "macs": macs,
            "arena_offset": node.attrs["offsets"][0],
            "arena_bytes": node.result.type.nbytes,
        })
    arena = g.attrs["arena_size"]
    buffers = buffer_table(g)  # the arena plan: one row per buffer (and the peak step below)
    pinned = m.pinned_bytes
    placement = {
        "regions": [{"name": r.name, "base": r.base, "size": r.size, "kind": r.kind,
                     "wait_states": r.wait_states} for r in target.regions],
        "arena": {"region": target.arena_region, "bytes": g.attrs["arena_size"],
                  "section": f".bss.edgeir_{m.name}_arena"},
        "weights": {"region": target.weights_region, "bytes": m.flash_bytes,
                    "section": f".rodata.edgeir_{m.name}_weights"},
        "pinned": {"region": target.arena_region, "bytes": pinned,
                   "constants": list(g.attrs.get("pinned_weights", ())),
                   "section": f".data.edgeir_{m.name}_pinned"},
    }
    return {
        "model": source or g.name,
        "name": m.name,
        "target": target.name,
        "cpu": target.cpu,
        "placement": placement,
        "macs": total_macs,
        "weights_bytes": weights,
        "arena_bytes": arena,
        "scratch_bytes": 0,
        "io_bytes": io_bytes,
        "ram_bytes": arena + pinned,
        "flash_bytes": m.flash_bytes + m.pinned_bytes,
        "tables_bytes": m.flash_bytes + m.pinned_bytes - weights,
        "flash_note": "weights, tables and the load image of pinned weights; add the "
                      "code size of the build (size -A)",
        "inputs": [{"name": p, "dtype": v.type.dtype, "shape": list(v.type.shape),
                    "arena_offset": o}
                   for p, v, o in zip(g.input_names, g.inputs, g.attrs["input_offsets"])],
        "outputs": [{"name": p, "dtype": v.type.dtype, "shape": list(v.type.shape),
                     "arena_offset": o}
                    for p, v, o in zip(g.output_names, g.outputs, g.attrs["output_offsets"])],
        "kernels": sorted({layer["kernel"] for layer in layers if layer["kernel"] != "alias"}),
        "specialize": m.specialize,
        "layers": layers,
        "buffers": buffers,
        "peak": peak(g, buffers),
        **({"debug": _debug_report(g, dbg)} if dbg is not None else {}),
    }


def _debug_report(g: Graph, dbg: debug.DebugPlan) -> dict:
    """The -DEDGEIR_DEBUG arena: its size, the guards, each guarded buffer's place and the
    layers (EDGEIR_LAYER's numbering, the hook's ``layer``) whose checks cover it."""
    return {
        "arena_bytes": dbg.arena_size,
        "guard_bytes": debug.GUARD,
        "layers": [n.loc or n.result.name for n in g.nodes
                   if debug.emits_code(n.attrs.get("impl", ""))],
        "buffers": [{"name": b.name, "offset": b.offset, "bytes": b.bytes,
                     "first_layer": b.first, "last_layer": b.last} for b in dbg.checked],
    }


def write_library(files: dict[str, str], outdir: Path) -> None:
    """Write all files into ``outdir`` or nothing: a temporary sibling directory is filled,
    then renamed into place (an existing ``outdir`` is replaced only when complete)."""
    from compiler.fileio import check_parent

    outdir = Path(outdir)
    parent = check_parent(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise EdgeirError("exists and is not a directory", str(outdir),
                          "choose another output directory", "output")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=parent))
    except OSError as err:
        raise EdgeirError(f"cannot write output: {err.strerror}", str(outdir),
                          "choose a writable output directory", "output") from None
    try:
        for fname, text in sorted(files.items()):
            (tmp / fname).write_text(text)
        os.chmod(tmp, 0o755)
        if outdir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old.", dir=parent))
            old.rmdir()
            os.replace(outdir, old)
            os.replace(tmp, outdir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, outdir)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EdgeirError(f"cannot write output: {err.strerror}", str(outdir),
                          "choose a writable output directory", "output") from None
