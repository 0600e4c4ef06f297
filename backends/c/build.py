"""Build generated C for the host and run it (the ``c`` engine of ``edgeir run``).

A small harness (``main``) reads each input from a raw file, invokes the model and writes
each output to a raw file. Builds are cached by a hash of the sources and flags.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import DTYPES

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
HOST_FLAGS = ["-O2", *WARNINGS]
SANITIZE_FLAGS = ["-O2", "-g", *WARNINGS, "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def _harness(report: dict) -> str:
    """main(): one raw file per graph input holding one or more samples back to back;
    outputs are written the same way, one sample per input sample."""
    n = report["name"]
    n_in, n_out = len(report["inputs"]), len(report["outputs"])
    sizes_in = ", ".join(str(int(np.prod(x["shape"])) * DTYPES[x["dtype"]].itemsize)
                         for x in report["inputs"]) or "0"
    sizes_out = ", ".join(str(int(np.prod(x["shape"])) * DTYPES[x["dtype"]].itemsize)
                          for x in report["outputs"]) or "0"
    return "\n".join([
        "#include <stdio.h>", f'#include "{n}.h"', "",
        "int main(int argc, char **argv) {",
        f"  const size_t in_bytes[] = {{{sizes_in}}};",
        f"  const size_t out_bytes[] = {{{sizes_out}}};",
        f"  FILE *in[{max(n_in, 1)}], *out[{max(n_out, 1)}];",
        "  int i, samples = 0;",
        f"  if (argc != {1 + n_in + n_out}) return 64;",
        f"  for (i = 0; i < {n_in}; ++i)",
        '    if ((in[i] = fopen(argv[1 + i], "rb")) == NULL) return 65;',
        f"  for (i = 0; i < {n_out}; ++i)",
        f'    if ((out[i] = fopen(argv[{1 + n_in} + i], "wb")) == NULL) return 65;',
        "  for (;;) {",
        "    int more = 1;",
        f"    for (i = 0; i < {n_in}; ++i)",
        f"      if (fread({n}_input(i), 1, in_bytes[i], in[i]) != in_bytes[i]) more = 0;",
        "    if (!more) break;",
        f"    if ({n}_invoke() != 0) return 66;",
        f"    for (i = 0; i < {n_out}; ++i)",
        f"      if (fwrite({n}_output(i), 1, out_bytes[i], out[i]) != out_bytes[i]) return 67;",
        "    ++samples;",
        "  }",
        f"  for (i = 0; i < {n_in}; ++i) fclose(in[i]);",
        f"  for (i = 0; i < {n_out}; ++i) fclose(out[i]);",
        "  return samples > 0 ? 0 : 68;",
        "}", ""])


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeir" / "c"


def build_host(outdir: Path, sanitize: bool = False, cc: str = "gcc", debug: bool = False,
               extra_flags: tuple[str, ...] = (), harness: str | None = None) -> Path:
    """Compile the generated library with the harness; the executable's path (cached).
    ``debug``: with -DEDGEIR_DEBUG (guard bytes around every arena buffer, checked after
    every layer); ``extra_flags`` go last (e.g. -g for valgrind); ``harness``: the C
    source of another ``main`` than the raw-file one of ``edgeir run``."""
    outdir = Path(outdir)
    report_path = outdir / "report.json"
    if not report_path.exists():
        raise EdgeirError("not an edgeir output directory (no report.json)", str(outdir),
                          "run `edgeir compile MODEL -o OUTDIR` first", "input")
    report = json.loads(report_path.read_text())
    flags = [*(SANITIZE_FLAGS if sanitize else HOST_FLAGS), *extra_flags]
    # A host process starts with initialized data in place: pinned weights need no copy
    # (and the linker symbols of the bare-metal copy do not exist here).
    model_flags = [*flags, f"-D{report['name'].upper()}_PINNED_COPIED_BY_STARTUP"]
    debug_flags = ["-DEDGEIR_DEBUG"] if debug else []
    harness = _harness(report) if harness is None else harness
    digest = hashlib.sha256()
    for f in sorted(outdir.iterdir()):
        if f.suffix in (".c", ".h"):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    digest.update(harness.encode() + " ".join([cc, *model_flags, *debug_flags]).encode())
    target = cache_dir() / digest.hexdigest()[:24] / "model"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        main = Path(tmp) / "edgeir_host_main.c"
        main.write_text(harness)
        srcs = sorted(f for f in outdir.iterdir() if f.suffix == ".c")
        # the model's own files get its defines; the kernel sources, the same for every
        # model, compile once per flag set (and in parallel); -DEDGEIR_DEBUG only where
        # a file (or a header it includes) looks at it
        jobs = [(f, model_flags if f.name.startswith(report["name"]) else flags)
                for f in srcs] + [(main, model_flags)]

        def build(job: tuple[Path, list[str]]) -> Path:
            src, src_flags = job
            text = _with_includes(src, outdir)
            return _object(src, text, [*src_flags, *(debug_flags if b"EDGEIR_DEBUG" in text
                                                     else [])], cc, outdir)

        with ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as pool:
            objs = list(pool.map(build, jobs))
        exe = Path(tmp) / "model"
        _run_cc([cc, *flags, *map(str, objs), "-lm", "-o", str(exe)], outdir)
        os.replace(exe, target)
    return target


INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)


def _with_includes(src: Path, include: Path) -> bytes:
    """The bytes of ``src`` and of the headers it includes (transitively) from
    ``include``."""
    parts = []
    seen: set[str] = set()
    todo = [src]
    while todo:
        text = todo.pop().read_bytes()
        parts.append(text)
        for name in INCLUDE.findall(text.decode(errors="replace")):
            header = include / name
            if name not in seen and header.is_file():
                seen.add(name)
                todo.append(header)
    return b"\0".join(parts)


def _object(src: Path, text: bytes, flags: list[str], cc: str, include: Path) -> Path:
    """``src`` compiled with ``flags`` (and -I``include``) into an object file cached by
    the compiler, the flags and ``text``: the source with the headers it includes."""
    digest = hashlib.sha256(" ".join([cc, *flags]).encode() + b"\0" + src.name.encode()
                            + b"\0" + text)
    obj = cache_dir() / "obj" / f"{digest.hexdigest()[:32]}.o"
    if obj.exists():
        return obj
    obj.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".o", dir=obj.parent)
    os.close(fd)
    try:
        _run_cc([cc, *flags, f"-I{include}", "-c", str(src), "-o", tmp], include)
        os.replace(tmp, obj)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return obj


def _run_cc(cmd: list[str], outdir: Path) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise EdgeirError(f"the host C build failed: {first}", str(outdir),
                          "please report this with the output directory", "pass")


def checked_inputs(report: dict, feeds: dict[str, np.ndarray], batch: bool) -> list[np.ndarray]:
    """The feeds in the order of report.json's inputs, little-endian, after checking their
    names, shapes and dtypes (with ``batch``, samples stacked on a new first axis)."""
    arrays = []
    for spec in report["inputs"]:
        if spec["name"] not in feeds:
            raise EdgeirError(f"missing input {spec['name']!r}", None,
                              f"the model's inputs are {[x['name'] for x in report['inputs']]}",
                              "input")
        array = np.asarray(feeds[spec["name"]])
        want = DTYPES[spec["dtype"]]
        shape = list(array.shape[1:]) if batch else list(array.shape)
        if shape != spec["shape"] or array.dtype != want:
            raise EdgeirError(f"input {spec['name']!r} is {array.dtype}{list(array.shape)}, "
                              f"the model expects {want}{spec['shape']}", None, None, "input")
        arrays.append(array.astype(want.newbyteorder("<")))
    return arrays


def run_host(outdir: Path, feeds: dict[str, np.ndarray], sanitize: bool = False,
             batch: bool = False, debug: bool = False, extra_flags: tuple[str, ...] = (),
             wrapper: tuple[str, ...] = ()) -> dict:
    """Outputs by name of the compiled model in ``outdir`` for inputs by name. With
    ``batch``, each feed holds samples stacked on a new first axis (one process runs all).
    ``debug`` and ``extra_flags`` as for :func:`build_host`; ``wrapper`` runs the program
    through another (e.g. valgrind): any output on stderr is a failure."""
    outdir = Path(outdir)
    report = json.loads((outdir / "report.json").read_text())
    exe = build_host(outdir, sanitize, debug=debug, extra_flags=extra_flags)
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for array in checked_inputs(report, feeds, batch):
            path = Path(tmp) / f"in{len(args)}.bin"
            path.write_bytes(np.ascontiguousarray(array).tobytes())
            args.append(str(path))
        outs = [str(Path(tmp) / f"out{i}.bin") for i in range(len(report["outputs"]))]
        proc = subprocess.run([*wrapper, str(exe), *args, *outs], capture_output=True,
                              text=True)
        if proc.returncode != 0 or proc.stderr.strip():
            detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[0]
            raise EdgeirError(f"the compiled model failed: {detail}", str(outdir),
                              "please report this with the output directory", "pass")
        result = {}
        for spec, path in zip(report["outputs"], outs):
            dt = DTYPES[spec["dtype"]].newbyteorder("<")
            data = np.frombuffer(Path(path).read_bytes(), dtype=dt)
            data = data.reshape([-1, *spec["shape"]] if batch else spec["shape"])
            result[spec["name"]] = data.astype(DTYPES[spec["dtype"]])
        return result




CPU_FLAGS = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "cortex-m33": ["-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
}
CROSS_FLAGS = ["-O2", "-ffreestanding", "-ffunction-sections", "-fdata-sections", *WARNINGS]


def cross_sizes(outdir: Path, cpu: str, cc: str = "arm-none-eabi-gcc",
                extra_flags: tuple[str, ...] = ()) -> dict[str, int]:
    """Cross-compile the library for ``cpu`` with -Werror, link it into a minimal image whose
    entry calls ``<name>_invoke`` (unused code removed by --gc-sections), and return the
    image's section sizes: ``text`` (code), ``rodata`` (weights, tables, parameters),
    ``data``, ``bss`` (the arena). ``extra_flags`` are added, e.g. -DEDGEIR_DEBUG."""
    outdir = Path(outdir)
    report = json.loads((outdir / "report.json").read_text())
    n = report["name"]
    with tempfile.TemporaryDirectory() as tmp:
        entry = Path(tmp) / "edgeir_entry.c"
        entry.write_text(f'#include "{n}.h"\nvoid edgeir_entry(void);\n'
                         f"void edgeir_entry(void) {{ (void){n}_invoke(); }}\n")
        elf = Path(tmp) / "image.elf"
        srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
        cmd = [cc, *CPU_FLAGS[cpu], *CROSS_FLAGS, *extra_flags, f"-I{outdir}", *srcs,
               str(entry),
               "-nostartfiles", "-Wl,--entry=edgeir_entry", "-Wl,--gc-sections",
               "--specs=nano.specs", "--specs=nosys.specs", "-lm", "-o", str(elf)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
            raise EdgeirError(f"the {cpu} build failed: {first}", str(outdir), None, "pass")
        size = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True,
                              text=True, check=True).stdout
    sections = {}
    for line in size.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0].lstrip(".")] = int(parts[1])
    return {k: sections.get(k, 0) for k in ("text", "rodata", "data", "bss")}
