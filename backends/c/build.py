"""Build generated C for the host and run it (the ``c`` engine of ``edgeir run``).

A small harness (``main``) reads each input from a raw file, invokes the model and writes
each output to a raw file. Builds are cached by a hash of the sources and flags.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.ir import DTYPES

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
HOST_FLAGS = ["-O2", *WARNINGS]
SANITIZE_FLAGS = ["-O2", "-g", *WARNINGS, "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def _harness(report: dict) -> str:
    n = report["name"]
    lines = ['#include <stdio.h>', '#include <stdlib.h>', '#include <string.h>',
             f'#include "{n}.h"', "",
             "static int io(const char *path, void *buf, size_t size, int write) {",
             '  FILE *f = fopen(path, write ? "wb" : "rb");',
             "  size_t done;",
             "  if (f == NULL) return 1;",
             "  done = write ? fwrite(buf, 1, size, f) : fread(buf, 1, size, f);",
             "  fclose(f);",
             "  return done != size;",
             "}", "",
             "int main(int argc, char **argv) {",
             f"  const int n_in = {len(report['inputs'])}, n_out = {len(report['outputs'])};",
             "  int i, status;"]
    sizes_in = ", ".join(str(int(np.prod(x["shape"])) * DTYPES[x["dtype"]].itemsize)
                         for x in report["inputs"]) or "0"
    sizes_out = ", ".join(str(int(np.prod(x["shape"])) * DTYPES[x["dtype"]].itemsize)
                          for x in report["outputs"]) or "0"
    lines += [f"  const size_t in_bytes[] = {{{sizes_in}}};",
              f"  const size_t out_bytes[] = {{{sizes_out}}};",
              "  if (argc != 1 + n_in + n_out) return 64;",
              "  for (i = 0; i < n_in; ++i)",
              f"    if (io(argv[1 + i], {n}_input(i), in_bytes[i], 0)) return 65;",
              f"  status = {n}_invoke();",
              "  if (status != 0) return 66;",
              "  for (i = 0; i < n_out; ++i)",
              f"    if (io(argv[1 + n_in + i], {n}_output(i), out_bytes[i], 1)) return 67;",
              "  return 0;", "}", ""]
    return "\n".join(lines)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeir" / "c"


def build_host(outdir: Path, sanitize: bool = False, cc: str = "gcc") -> Path:
    """Compile the generated library with the harness; the executable's path (cached)."""
    outdir = Path(outdir)
    report_path = outdir / "report.json"
    if not report_path.exists():
        raise EdgeirError("not an edgeir output directory (no report.json)", str(outdir),
                          "run `edgeir compile MODEL -o OUTDIR` first", "input")
    report = json.loads(report_path.read_text())
    flags = SANITIZE_FLAGS if sanitize else HOST_FLAGS
    harness = _harness(report)
    digest = hashlib.sha256()
    for f in sorted(outdir.iterdir()):
        if f.suffix in (".c", ".h"):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    digest.update(harness.encode() + " ".join([cc, *flags]).encode())
    target = cache_dir() / digest.hexdigest()[:24] / "model"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        main = Path(tmp) / "edgeir_host_main.c"
        main.write_text(harness)
        srcs = sorted(str(f) for f in outdir.iterdir() if f.suffix == ".c")
        exe = Path(tmp) / "model"
        cmd = [cc, *flags, f"-I{outdir}", *srcs, str(main), "-lm", "-o", str(exe)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
            raise EdgeirError(f"the host C build failed: {first}", str(outdir),
                              "please report this with the output directory", "pass")
        os.replace(exe, target)
    return target


def run_host(outdir: Path, feeds: dict[str, np.ndarray], sanitize: bool = False) -> dict:
    """Outputs by name of the compiled model in ``outdir`` for inputs by name."""
    outdir = Path(outdir)
    report = json.loads((outdir / "report.json").read_text())
    exe = build_host(outdir, sanitize)
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for spec in report["inputs"]:
            if spec["name"] not in feeds:
                raise EdgeirError(f"missing input {spec['name']!r}", None,
                                  f"the model's inputs are {[x['name'] for x in report['inputs']]}",
                                  "input")
            array = np.asarray(feeds[spec["name"]])
            want = DTYPES[spec["dtype"]]
            if list(array.shape) != spec["shape"] or array.dtype != want:
                raise EdgeirError(f"input {spec['name']!r} is {array.dtype}{list(array.shape)}, "
                                  f"the model expects {want}{spec['shape']}", None, None, "input")
            path = Path(tmp) / f"in{len(args)}.bin"
            path.write_bytes(np.ascontiguousarray(array).astype(want.newbyteorder("<")).tobytes())
            args.append(str(path))
        outs = [str(Path(tmp) / f"out{i}.bin") for i in range(len(report["outputs"]))]
        proc = subprocess.run([str(exe), *args, *outs], capture_output=True, text=True)
        if proc.returncode != 0 or proc.stderr.strip():
            detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[0]
            raise EdgeirError(f"the compiled model failed: {detail}", str(outdir),
                              "please report this with the output directory", "pass")
        result = {}
        for spec, path in zip(report["outputs"], outs):
            dt = DTYPES[spec["dtype"]].newbyteorder("<")
            data = np.frombuffer(Path(path).read_bytes(), dtype=dt).reshape(spec["shape"])
            result[spec["name"]] = data.astype(DTYPES[spec["dtype"]])
        return result


