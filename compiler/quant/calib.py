"""Calibration: representative inputs in, an activation range per float value out.

Data: an ``.npz`` keyed by graph input name (each array holds one sample of the input's
shape, or a stack of samples along a new first axis, or, for a batch-1 input, samples
stacked on the batch axis), or a directory of ``.npy`` files for a single-input graph
(each file one sample or a stack). The Python API takes any iterable of
``{input name: array}`` dicts.

Observers: ``minmax`` (the observed range), ``percentile`` (clip both tails at the
given percentile of a 2048-bin histogram) and ``mse`` (the clipping range that minimizes
the expected int8 quantization error over that histogram: clipping error plus the uniform
rounding error ``scale^2 / 12`` of the values inside). Ranges always include 0, so that
zero (padding, ReLU) is exactly representable.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from compiler import interp
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Value

OBSERVERS = ("minmax", "percentile", "mse")
BINS = 2048


# -- data --------------------------------------------------------------------------------------


def _split_samples(graph: Graph, name: str, array: np.ndarray, where: str) -> list[np.ndarray]:
    value = graph.inputs[graph.input_names.index(name)]
    shape = value.type.shape
    if array.dtype.kind not in "fiu":
        raise EdgeirError(f"calibration array {name!r} has dtype {array.dtype}", where,
                          "store numbers (float32 for float inputs)", "input")
    if value.type.dtype in ("f16", "f32", "f64") and array.dtype.kind != "f":
        raise EdgeirError(f"calibration array {name!r} has dtype {array.dtype} but the input "
                          f"is {value.type.dtype}", where, "store float32 samples", "input")
    if value.type.dtype not in ("f16", "f32", "f64") and array.dtype.kind == "f":
        raise EdgeirError(f"calibration array {name!r} has dtype {array.dtype} but the input "
                          f"is {value.type.dtype}", where, "store the samples as the model's "
                          "input takes them (quantized with its scale and zero point)", "input")
    if array.shape == shape:
        samples = [array]
    elif array.shape[1:] == shape:
        samples = list(array)
    elif shape and shape[0] == 1 and array.shape[1:] == shape[1:]:
        samples = [a[None] for a in array]
    else:
        raise EdgeirError(f"calibration array {name!r} has shape {list(array.shape)}, the input "
                          f"is {list(shape)}", where,
                          f"store samples of shape {list(shape)} (optionally stacked on a new "
                          "first axis)", "input")
    if not samples:
        raise EdgeirError(f"calibration array {name!r} holds no samples", where,
                          "store at least one sample", "input")
    out = []
    for i, s in enumerate(samples):
        s = np.ascontiguousarray(s, dtype=value.type.np_dtype)
        if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
            raise EdgeirError(f"calibration sample {i} of {name!r} contains NaN or Inf", where,
                              "clean the calibration data", "input")
        out.append(s)
    return out


def samples_from_arrays(graph: Graph, arrays: Mapping[str, np.ndarray],
                        where: str = "calibration data") -> list[dict[str, np.ndarray]]:
    missing = [n for n in graph.input_names if n not in arrays]
    if missing:
        raise EdgeirError(f"no calibration data for input(s) {missing} (the file has "
                          f"{sorted(arrays)})", where,
                          f"key the arrays by the graph input names {graph.input_names}", "input")
    extra = sorted(set(arrays) - set(graph.input_names))
    if extra:
        raise EdgeirError(f"calibration data has unknown key(s) {extra}", where,
                          f"the graph inputs are {graph.input_names}", "input")
    per_input = {n: _split_samples(graph, n, np.asarray(arrays[n]), where)
                 for n in graph.input_names}
    counts = {n: len(v) for n, v in per_input.items()}
    if len(set(counts.values())) != 1:
        raise EdgeirError(f"inputs have different sample counts {counts}", where,
                          "store the same number of samples for every input", "input")
    n = next(iter(counts.values()))
    return [{k: per_input[k][i] for k in graph.input_names} for i in range(n)]


def load_samples(graph: Graph, path: str | Path) -> list[dict[str, np.ndarray]]:
    """Samples from an ``.npz`` file or a directory of ``.npy`` files."""
    p = Path(path)
    if p.is_dir():
        if len(graph.inputs) != 1:
            raise EdgeirError("a directory of .npy files calibrates single-input graphs only",
                              str(p), "use an .npz keyed by input name", "input")
        files = sorted(p.glob("*.npy"))
        if not files:
            raise EdgeirError("no .npy files in the calibration directory", str(p),
                              "put one .npy file per sample (or stack) there, or pass an .npz",
                              "input")
        samples: list[dict[str, np.ndarray]] = []
        for f in files:
            try:
                array = np.load(f, allow_pickle=False)
            except (ValueError, OSError):
                raise EdgeirError("not a readable .npy file", str(f), None, "input") from None
            samples += samples_from_arrays(graph, {graph.input_names[0]: array}, str(f))
        return samples
    return samples_from_arrays(graph, load_arrays(p), str(p))


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file by key (clean errors for a missing or broken file)."""
    p = Path(path)
    if not p.exists():
        raise EdgeirError("no such file", str(p), "check the data path", "input")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError
            return {k: data[k] for k in data.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError):
        raise EdgeirError("not a readable .npz file", str(p), "save samples with "
                          "numpy.savez(path, input_name=array)", "input") from None


# -- observers ---------------------------------------------------------------------------------


@dataclass
class Stats:
    """What calibration saw of one float value."""

    lo: float = np.inf
    hi: float = -np.inf
    hist: np.ndarray | None = None
    edges: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def _ranges_minmax(stats: Stats, _: float) -> tuple[float, float]:
    return stats.lo, stats.hi


def _ranges_percentile(stats: Stats, percentile: float) -> tuple[float, float]:
    cdf = np.cumsum(stats.hist) / stats.hist.sum()
    tail = (100.0 - percentile) / 100.0
    lo_i = int(np.searchsorted(cdf, tail, side="left"))
    hi_i = int(np.searchsorted(cdf, 1.0 - tail, side="left"))
    lo = stats.edges[lo_i] if stats.lo < 0 else stats.lo
    hi = stats.edges[min(hi_i + 1, len(stats.edges) - 1)] if stats.hi > 0 else stats.hi
    return float(lo), float(hi)


def _ranges_mse(stats: Stats, _: float) -> tuple[float, float]:
    centers = (stats.edges[:-1] + stats.edges[1:]) / 2
    weights = stats.hist.astype(np.float64)
    best, best_err = (stats.lo, stats.hi), np.inf
    for frac in np.geomspace(0.01, 1.0, 200):
        lo, hi = min(stats.lo * frac, 0.0), max(stats.hi * frac, 0.0)
        scale = (hi - lo) / 255.0
        if scale <= 0:
            continue
        clipped = np.clip(centers, lo, hi)
        inside = (centers >= lo) & (centers <= hi)
        err = np.sum(weights * (centers - clipped) ** 2) + np.sum(weights[inside]) * scale**2 / 12
        if err < best_err - 1e-12 * abs(best_err if np.isfinite(best_err) else 1):
            best, best_err = (lo, hi), err
    return float(best[0]), float(best[1])


RANGE_FNS: dict[str, Callable[[Stats, float], tuple[float, float]]] = {
    "minmax": _ranges_minmax, "percentile": _ranges_percentile, "mse": _ranges_mse}


def calibrate(graph: Graph, samples: Iterable[Mapping[str, np.ndarray]], observer: str = "minmax",
              percentile: float = 99.99, progress: bool = False) -> dict[int, tuple[float, float]]:
    """The activation range of every float value (graph inputs and node results), keyed by
    ``id(value)``, as the observer chooses it over the samples."""
    if observer not in RANGE_FNS:
        raise EdgeirError(f"unknown observer {observer!r}", "--observer",
                          f"use one of {', '.join(OBSERVERS)}", "usage")
    if not 0 < percentile <= 100:
        raise EdgeirError(f"percentile {percentile} must be in (0, 100]", "--percentile", None,
                          "usage")
    samples = list(samples)
    if not samples:
        raise EdgeirError("no calibration samples", "calibration data", None, "input")
    values = [v for v in _float_values(graph)]
    stats = {id(v): Stats() for v in values}
    for env in _runs(graph, samples, "calibrating (ranges)", progress):
        for v in values:
            a = env[id(v)]
            if a.size:
                s = stats[id(v)]
                s.lo = min(s.lo, float(a.min()))
                s.hi = max(s.hi, float(a.max()))
    for v in values:
        s = stats[id(v)]
        if not (np.isfinite(s.lo) and np.isfinite(s.hi)):
            raise EdgeirError(f"value %{v.name} is not finite on the calibration data",
                              _where(v), "check the model and the calibration data", "input")
    if observer != "minmax":
        for v in values:
            s = stats[id(v)]
            s.edges = np.linspace(min(s.lo, 0.0), max(s.hi, 0.0), BINS + 1)
            s.hist = np.zeros(BINS, np.int64)
        for env in _runs(graph, samples, "calibrating (histograms)", progress):
            for v in values:
                s = stats[id(v)]
                if s.edges[-1] > s.edges[0]:
                    s.hist += np.histogram(env[id(v)], bins=s.edges)[0]
    fn = RANGE_FNS[observer]
    ranges = {}
    for v in values:
        s = stats[id(v)]
        lo, hi = (s.lo, s.hi) if s.hist is None or s.hist.sum() == 0 else fn(s, percentile)
        ranges[id(v)] = (min(lo, 0.0), max(hi, 0.0))
    return ranges


def _where(v: Value) -> str:
    return v.producer.label if v.producer is not None else f"input {v.name!r}"


def _float_values(graph: Graph) -> Iterator[Value]:
    for v in graph.inputs:
        if v.type.dtype == "f32":
            yield v
    for node in graph.nodes:
        for v in node.results:
            if v.type.dtype == "f32":
                yield v


def _runs(graph: Graph, samples: list, title: str, progress: bool) -> Iterator[dict]:
    if not progress:
        for s in samples:
            yield interp.run_all(graph, s)
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(title, total=len(samples))
        for s in samples:
            yield interp.run_all(graph, s)
            bar.advance(task)
