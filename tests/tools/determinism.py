"""Full compiles of the shared models and the sha256 of every file they write.

    python tests/tools/determinism.py            # compare with tests/determinism/hashes.json
    python tests/tools/determinism.py --write    # regenerate it (`make hashes`)

Every shared MLPerf Tiny model is compiled with the CLI, each in a fresh process, in the
configurations of ``CONFIGS``: the int8 .tflite for the Cortex-M4 and for the host, the QDQ
.onnx for the Cortex-M4, VWW with --specialize (its per-layer functions), the FP32 .onnx with
--float (host), and two post-training
quantizations (--calib) on calibration data made here from a seeded generator. The manifest
records, per configuration, the sha256 of every file of the output directory (sources,
headers, the copied kernels, report.json, the linker fragment, CMake and make fragments).

The output depends only on the model, the options and edgeir itself (its sources and the
versions of the Python packages that compute it, recorded in the manifest's ``fixed``):
not on the machine, its CPU, the paths, the user, the time or PYTHONHASHSEED.
tests/test_determinism.py checks both. When a change to edgeir changes the output on
purpose (a kernel, an emitter, a pass), regenerate the manifest with ``make hashes`` and
commit it with the change: the diff of hashes.json shows which outputs changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT.parent / "shared" / "models"
MANIFEST = ROOT / "tests" / "determinism" / "hashes.json"
# The CLI in a fresh interpreter: `edgeir ARGS...` without relying on the console script.
CLI = [sys.executable, "-c", "import sys; from compiler.cli import main; sys.exit(main())"]


@dataclass(frozen=True)
class Config:
    """One compile: ``edgeir compile MODEL -o OUT ARGS`` (with ``calib``: on calibration
    data of that many seeded samples, ``--calib DATA.npz``)."""

    id: str
    model: str
    args: tuple[str, ...] = ()
    calib: int = 0

    def command(self) -> str:
        calib = " --calib DATA.npz" if self.calib else ""
        return " ".join(["edgeir compile", self.model, "-o OUT", *self.args]) + calib


NETS = ("ad", "kws", "resnet8", "vww")
CONFIGS = (
    [Config(f"{m}_int8-cortex-m4", f"{m}_int8.tflite", ("--target", "cortex-m4")) for m in NETS]
    + [Config(f"{m}_int8-host", f"{m}_int8.tflite") for m in NETS]
    + [Config(f"{m}_qdq-cortex-m4", f"{m}_qdq.onnx", ("--target", "cortex-m4")) for m in NETS]
    + [Config(f"{m}_fp32-float-host", f"{m}_fp32.onnx", ("--float",)) for m in NETS]
    + [Config("vww_int8-cortex-m4-specialize", "vww_int8.tflite",
              ("--target", "cortex-m4", "--specialize"))]
    + [Config("kws_fp32-calib-cortex-m4", "kws_fp32.onnx", ("--target", "cortex-m4"), 8),
       Config("resnet8_fp32-calib-host", "resnet8_fp32.onnx", (), 8)])


def calibration_data(model: Path, samples: int, path: Path, seed: int = 0) -> Path:
    """``samples`` inputs drawn from numpy's default_rng(seed), uniform in [-1, 1), as an
    .npz keyed by the model's input names (the same bytes on every machine)."""
    from compiler.cli import load_model

    graph = load_model(str(model))
    rng = np.random.default_rng(seed)
    arrays = {name: rng.uniform(-1.0, 1.0, (samples, *v.type.shape)).astype(np.float32)
              for name, v in zip(graph.input_names, graph.inputs)}
    np.savez(path, **arrays)
    return path


def sha256_tree(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by path relative to it."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """``edgeir ARGS`` in a fresh process; its stdout (raises with stderr on failure)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")])
    proc = subprocess.run([*CLI, *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"edgeir {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stderr}")
    return proc.stdout


def compile_config(cfg: Config, workdir: Path, models: Path = MODELS,
                   env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Path:
    """Compile ``cfg`` into ``workdir/cfg.id`` (the CLI runs in ``workdir``: ``models`` may
    be relative to it); the output directory."""
    out = workdir / cfg.id
    args = ["compile", str(models / cfg.model), "-o", str(out), "-q", *cfg.args, *extra]
    if cfg.calib:
        data = calibration_data(workdir / models / cfg.model, cfg.calib,
                                workdir / f"{cfg.id}.npz")
        args += ["--calib", str(data)]
    run_cli(args, workdir, env)
    return out


def compile_all(workdir: Path, configs=CONFIGS, jobs: int | None = None
                ) -> dict[str, dict[str, str]]:
    """Every configuration compiled (``jobs`` processes at a time); hashes by config id."""
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(jobs) as pool:
        outs = list(pool.map(lambda c: compile_config(c, workdir), configs))
    return {cfg.id: sha256_tree(out) for cfg, out in zip(configs, outs)}


def fixed_versions() -> dict[str, str]:
    """What the manifest's hashes were made with: edgeir and the packages that compute its
    output (the importers' parsers and numpy's arithmetic and number formatting)."""
    from importlib.metadata import version

    return {"edgeir": version("edgeir"), "numpy": np.__version__, "onnx": version("onnx"),
            "tflite": version("tflite"), "flatbuffers": version("flatbuffers"),
            "python": ".".join(map(str, sys.version_info[:2]))}


def manifest(hashes: dict[str, dict[str, str]]) -> dict:
    return {
        "about": "sha256 of every file edgeir writes for the shared models, per compile "
                 "configuration; checked by tests/test_determinism.py. The same on every "
                 "machine for the versions in 'fixed'. Regenerate deliberately, when the "
                 "output changes on purpose: make hashes",
        "fixed": fixed_versions(),
        "configs": {cfg.id: {"command": cfg.command(), "files": hashes[cfg.id]}
                    for cfg in CONFIGS},
    }


def differences(expected: dict, hashes: dict[str, dict[str, str]]) -> list[str]:
    """One line per configuration and file whose hash is not the manifest's."""
    lines = []
    want = expected["configs"]
    for cid in sorted(set(want) | set(hashes)):
        if cid not in hashes:
            lines.append(f"{cid}: in the manifest, no longer compiled")
            continue
        if cid not in want:
            lines.append(f"{cid}: compiled, not in the manifest")
            continue
        files = want[cid]["files"]
        for name in sorted(set(files) | set(hashes[cid])):
            if name not in hashes[cid]:
                lines.append(f"{cid}/{name}: missing from the output")
            elif name not in files:
                lines.append(f"{cid}/{name}: new file, not in the manifest")
            elif files[name] != hashes[cid][name]:
                lines.append(f"{cid}/{name}: differs")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"regenerate {MANIFEST}")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="compiles at a time")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        hashes = compile_all(Path(tmp), jobs=args.jobs)
    if args.write:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(json.dumps(manifest(hashes), indent=2, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST.relative_to(ROOT)}: {len(hashes)} configurations, "
              f"{sum(len(f) for f in hashes.values())} files")
        return 0
    diff = differences(json.loads(MANIFEST.read_text()), hashes)
    print("\n".join(diff) or "all files match the manifest")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
