"""Numeric check of a pass pipeline: the graph computes the same before and after.

    python tests/tools/check_equiv.py FILE.ir -p PIPELINE [--seeds N] [--rtol X]
                                      [--plugin FILE.py]

Parses FILE.ir twice, runs PIPELINE on the second copy (verifier on, no reproducer), then
runs both graphs through the reference interpreter on seeded random inputs and compares
every output. The pipeline must keep the output names, shapes and dtypes; the values may
differ by at most ``rtol`` times the output's range (max - min, at least 1). The default
``rtol`` is 0 (bit-exact up to the sign of zero and NaN payloads) when every pass of the
pipeline is documented as bit-exact, else 1e-5. Exits 1 with the max difference when the
outputs differ, 2 on bad usage; prints one ``ok`` line otherwise. ``--plugin`` imports a
file that registers passes, as ``edgeir opt --plugin`` does.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from compiler.diagnostics import EdgeirError
from compiler.interp import run
from compiler.ir import Graph
from compiler.pipeline import Instrumentation, load_plugin, parse_pipeline, run_pipeline
from compiler.text import parse_file

# Passes whose docstring promises the outputs bit for bit.
BIT_EXACT = frozenset({"canonicalize", "fuse-activation", "fold-pad", "to-nhwc", "schedule"})
DEFAULT_RTOL = 1e-5


def random_feeds(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, value in zip(graph.input_names, graph.inputs, strict=True):
        t = value.type
        if t.dtype == "i1":
            array = rng.integers(0, 2, t.shape).astype(bool)
        elif np.issubdtype(t.np_dtype, np.integer):
            info = np.iinfo(t.np_dtype)
            lo, hi = max(int(info.min), -100), min(int(info.max), 100)
            array = rng.integers(lo, hi + 1, t.shape).astype(t.np_dtype)
        else:
            array = rng.standard_normal(t.shape).astype(t.np_dtype)
        feeds[name] = array
    return feeds


def max_difference(before: np.ndarray, after: np.ndarray) -> float:
    """Largest absolute elementwise difference; NaN matches NaN, inf matches inf."""
    a = before.astype(np.float64)
    b = after.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0.0
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
    diff[same] = 0.0
    diff[np.isnan(diff)] = np.inf  # NaN on one side only, or inf vs -inf
    return float(diff.max())


def value_range(array: np.ndarray) -> float:
    finite = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
    if finite.size == 0:
        return 1.0
    return max(1.0, float(finite.max()) - float(finite.min()))


def compare(before: dict[str, np.ndarray], after: dict[str, np.ndarray], rtol: float,
            seed: int) -> list[str]:
    problems = []
    if list(before) != list(after):
        return [f"output names changed: {list(before)} -> {list(after)}"]
    for name, a in before.items():
        b = after[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"output {name!r}: {a.dtype}{list(a.shape)} became "
                            f"{b.dtype}{list(b.shape)}")
            continue
        diff = max_difference(a, b)
        limit = rtol * value_range(a)
        if diff > limit:
            problems.append(f"output {name!r} (seed {seed}): max difference {diff:.9g} exceeds "
                            f"{limit:.9g} (rtol {rtol:g} of the output range)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the .ir file")
    parser.add_argument("-p", "--pipeline", required=True)
    parser.add_argument("--seeds", type=int, default=3, help="random inputs to try")
    parser.add_argument("--rtol", type=float, default=None,
                        help="allowed difference relative to the output range")
    parser.add_argument("--plugin", action="append", default=[], metavar="FILE.py",
                        help="a Python file that registers passes (repeatable)")
    args = parser.parse_args(argv)
    try:
        for plugin in args.plugin:
            load_plugin(plugin)
        passes = parse_pipeline(args.pipeline)
        original = parse_file(args.file)
        rewritten = run_pipeline(parse_file(args.file), passes,
                                 Instrumentation(reproducer=None))
    except EdgeirError as err:
        print(err.line(), file=sys.stderr)
        return 2
    if args.rtol is not None:
        rtol = args.rtol
    else:
        rtol = 0.0 if all(p.name in BIT_EXACT for p in passes) else DEFAULT_RTOL
    problems = []
    worst = 0.0
    for seed in range(args.seeds):
        feeds = random_feeds(original, seed)
        before, after = run(original, feeds), run(rewritten, feeds)
        problems += compare(before, after, rtol, seed)
        for name, a in before.items():
            if name in after and a.shape == after[name].shape:
                worst = max(worst, max_difference(a, after[name]))
    if problems:
        for problem in problems:
            print(f"{args.file}: error: {problem}", file=sys.stderr)
        return 1
    print(f"ok: {len(original.outputs)} output(s) x {args.seeds} seed(s), max difference "
          f"{worst:.3g}, rtol {rtol:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
