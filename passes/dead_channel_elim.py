"""dead-channel-elim: structural pruning of channels that are zero, constant or never active.

Matches the output channels of layers (``conv2d``/``qconv2d``, depthwise ones through their
chains, ``gemm`` fully connected, ``qfully_connected``), float or int8, whose whole channel
dependency group (``compiler.channels``: the channel as it flows through activations,
pools, depthwise convs, residual adds, concats and flattens into the next layers) is
  (a) structurally dead: every layer producing it has all-zero weights for it (after
      fold-batchnorm a gamma of 0 does that), so it holds a constant whatever the input;
  (b) never active on the calibration data (``calib=``): every member is always 0, or
      always the same constant, at every position of every sample;
  (c) nearly dead, opt-in: ``threshold=T`` removes channels whose max |activation| is at
      most T in every member, ``threshold=P%`` at most P% of their tensor's max |activation|.
Rewrites: the group's channels are cut out of every weight, bias, per-channel constant and
attribute and shape they touch; the constant a removed channel held (for (c), its mean on
the calibration data) is folded into the bias of each layer that read it. A nonzero
constant is removed only where those layers have no padding (padding reads 0, not c).
Preserves: in modes (a) and (b), every output on the calibration data: exactly for int8,
up to float summation order for float. Graph inputs and outputs are never changed; a
residual add keeps a channel that is live in any operand; every layer keeps >= 1 channel
(an error names the layer otherwise). Run after fold-batchnorm and fuse-activation.
``val=DATA.npz`` (with an int ``labels`` array: accuracy; without: output SQNR) measures
the outputs before and after. Statistics: channels removed by reason, MACs and parameters
before and after; the per-layer table is the pass's report (``--stats``, report.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from compiler import interp, ops
from compiler.channel_surgery import remove_channels
from compiler.channels import ChannelGroups, Group, channel_groups
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerTensor, Value
from compiler.passbase import Pass, PassResult
from compiler.quant import calib

LAYER_OPS = ("conv2d", "qconv2d", "gemm", "qfully_connected")


@dataclass
class DeadChannelElim(Pass):
    name = "dead-channel-elim"
    summary = "remove layer channels that are zero, constant or (opt-in) nearly zero"
    calib: str = ""
    threshold: str = "0"
    val: str = ""

    def run(self, graph: Graph) -> PassResult:
        limit = Threshold.parse(self.threshold)
        samples = calib.load_samples(graph, self.calib) if self.calib else None
        if limit.value and samples is None:
            raise EdgeirError("a threshold needs calibration data", "-p",
                              "write dead-channel-elim{calib=DATA.npz,threshold=...}", "usage")
        val = load_val(graph, self.val) if self.val else None
        return eliminate(graph, samples, limit, val)


@dataclass(frozen=True)
class Threshold:
    """Max |activation| at or below which a channel counts as dead: absolute or relative."""

    value: float = 0.0
    relative: bool = False

    @staticmethod
    def parse(text: str, where: str = "-p") -> Threshold:
        text = str(text).strip()
        relative = text.endswith("%")
        try:
            value = float(text[:-1] if relative else text)
        except ValueError:
            value = -1.0
        if not math.isfinite(value) or value < 0 or (relative and value >= 100):
            raise EdgeirError(f"bad threshold {text!r}", where, "write 'exact', a number >= 0 (max "
                              "|activation|) or a percentage below 100% of the layer's range",
                              "usage")
        return Threshold(value / 100 if relative else value, relative)

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


# -- what calibration saw ------------------------------------------------------------------


@dataclass
class Seen:
    """Per channel of one value, over every position of every sample."""

    lo: np.ndarray  # in the value's own domain (float, or the int8 code)
    hi: np.ndarray
    absmax: np.ndarray  # real values from here on
    total: np.ndarray
    count: int = 0


def real(array: np.ndarray, value: Value) -> np.ndarray:
    q = value.type.quant
    if isinstance(q, PerTensor) and array.dtype.kind in "iu":
        return (array.astype(np.float64) - q.zero_point) * q.scale
    return array.astype(np.float64)


def observe(graph: Graph, cg: ChannelGroups,
            samples: Sequence[Mapping[str, np.ndarray]]) -> dict[int, Seen]:
    """Per-channel ranges of every value in a removable group, over ``samples``."""
    wanted = {id(v): v for g in cg.groups for v, _ in g.slots}
    seen: dict[int, Seen] = {}
    for feeds in samples:
        env = interp.run_all(graph, feeds)
        for key, v in wanted.items():
            axis = cg.axes[key]
            flat = np.moveaxis(env[key], axis, -1).reshape(-1, v.type.shape[axis])
            r = real(flat, v)
            s = seen.get(key)
            if s is None:
                seen[key] = Seen(flat.min(0), flat.max(0), np.abs(r).max(0), r.sum(0),
                                 flat.shape[0])
                continue
            s.lo, s.hi = np.minimum(s.lo, flat.min(0)), np.maximum(s.hi, flat.max(0))
            s.absmax = np.maximum(s.absmax, np.abs(r).max(0))
            s.total, s.count = s.total + r.sum(0), s.count + flat.shape[0]
    return seen


def zero_feeds(graph: Graph) -> dict[str, np.ndarray]:
    return {n: np.zeros(v.type.shape, v.type.np_dtype)
            for n, v in zip(graph.input_names, graph.inputs)}


# -- deciding --------------------------------------------------------------------------------


@dataclass
class Verdict:
    reason: str  # zero-weight | inactive | constant | threshold
    folds: dict[tuple[int, int], float | int] = field(default_factory=dict)  # (id(v), c) -> k


def zero_weight(node: Node, c: int) -> bool:
    w = node.operands[1].data
    if node.op == "gemm" and not ops.get("gemm").attrs_of(node).trans_b:
        return not np.any(w[:, c])
    return not np.any(w[c])


def is_real_zero(k: float | int, value: Value) -> bool:
    q = value.type.quant
    if isinstance(q, PerTensor) and value.type.dtype in ("i8", "ui8"):
        return int(k) == q.zero_point
    return float(k) == 0.0


def absorbs_constants(node: Node) -> bool:
    """Whether a layer can take a removed input's nonzero constant into its bias exactly:
    not through padding (which reads 0), not into a gemm whose C is scaled by beta = 0."""
    if node.op in ("conv2d", "qconv2d"):
        return not any(ops.get(node.op).attrs_of(node).pads)
    if node.op == "gemm":
        return ops.get("gemm").attrs_of(node).beta != 0
    return True


def _constant(group: Group, seen: Mapping[int, Seen]) -> dict[tuple[int, int], float | int] | None:
    """Each member's constant, if every member is constant; else None."""
    values = {}
    for v, c in group.slots:
        s = seen[id(v)]
        if s.lo[c] != s.hi[c]:
            return None
        values[(id(v), c)] = s.lo[c].item()
    return values


def _absorbable(group: Group, values: Mapping[tuple[int, int], float | int]) -> bool:
    """Every reading layer can take the constant into its bias exactly."""
    for node, c in group.sinks:
        x = node.operands[0]
        k = values[(id(x), c)]
        if not is_real_zero(k, x) and not absorbs_constants(node):
            return False
    return True


def decide(graph: Graph, cg: ChannelGroups, structural: Mapping[int, Seen] | None,
           seen: Mapping[int, Seen] | None, limit: Threshold) -> dict[int, Verdict]:
    """Which groups go (by index into ``cg.groups``), why, and what their sinks fold."""
    verdicts: dict[int, Verdict] = {}
    peak = {}
    if seen is not None and limit.relative:
        peak = {k: float(s.absmax.max()) for k, s in seen.items()}
    for index, group in enumerate(cg.groups):
        if group.pinned:
            continue
        if (structural is not None and not group.input_dependent
                and all(zero_weight(n, c) for n, c in group.sources)):
            values = _constant(group, structural)
            if values is not None and _absorbable(group, values):
                verdicts[index] = Verdict("zero-weight", values)
                continue
        if seen is None:
            continue
        values = _constant(group, seen)
        if values is not None and _absorbable(group, values):
            live = any(not is_real_zero(values[(id(v), c)], v) for v, c in group.slots)
            verdicts[index] = Verdict("constant" if live else "inactive", values)
            continue
        if limit.value and all(
                seen[id(v)].absmax[c] <= (limit.value * peak[id(v)] if limit.relative
                                          else limit.value) for v, c in group.slots):
            verdicts[index] = Verdict("threshold", _means(group, seen))
    return verdicts


def _means(group: Group, seen: Mapping[int, Seen]) -> dict[tuple[int, int], float | int]:
    """What a nearly dead channel folds: its mean, in each member's own domain."""
    out: dict[tuple[int, int], float | int] = {}
    for v, c in group.slots:
        s = seen[id(v)]
        mean = s.total[c] / s.count
        q = v.type.quant
        if isinstance(q, PerTensor) and v.type.dtype == "i8":
            out[(id(v), c)] = int(np.clip(np.round(mean / q.scale + q.zero_point), -128, 127))
        else:
            out[(id(v), c)] = float(np.float32(mean))
    return out


# -- the whole elimination ------------------------------------------------------------------


def load_val(graph: Graph, path: str) -> tuple[list[dict[str, np.ndarray]], np.ndarray | None]:
    """Validation samples and their labels (an int ``labels`` array, optional)."""
    arrays = calib.load_arrays(path)
    labels = arrays.pop("labels", None)
    samples = calib.samples_from_arrays(graph, arrays, path)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.dtype.kind not in "iu" or len(labels) != len(samples):
            raise EdgeirError(f"'labels' must be {len(samples)} integers (one per sample), got "
                              f"{labels.dtype} [{len(labels)}]", path, None, "input")
    return samples, labels


def evaluate(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]]) -> list[np.ndarray]:
    """The first output of every sample, as real numbers."""
    out = graph.outputs[0]
    return [real(interp.run(graph, s)[graph.output_names[0]], out) for s in samples]


def compare(before: list[np.ndarray], after: list[np.ndarray],
            labels: np.ndarray | None) -> dict:
    if labels is not None:
        def acc(outs: list[np.ndarray]) -> float:
            hits = sum(int(np.argmax(o.reshape(-1)) == y) for o, y in zip(outs, labels))
            return round(100.0 * hits / len(labels), 4)
        return {"samples": len(labels), "accuracy_before": acc(before),
                "accuracy_after": acc(after)}
    a, b = np.concatenate([x.reshape(-1) for x in before]), np.concatenate(
        [x.reshape(-1) for x in after])
    noise = float(np.sum((a - b) ** 2))
    sqnr = math.inf if noise == 0 else 10 * math.log10(float(np.sum(a ** 2)) / noise)
    return {"samples": len(before), "output_sqnr_db": "inf" if math.isinf(sqnr)
            else round(sqnr, 2)}


def _layer_rows(graph: Graph) -> dict[Node, dict]:
    rows = {}
    for node in graph.nodes:
        if node.op in LAYER_OPS:
            x, y = node.operands[0], node.results[0]
            nchw = node.op in ("conv2d", "qconv2d") and \
                ops.get(node.op).attrs_of(node).layout == "nchw"
            rows[node] = {"in": x.type.shape[1 if nchw else -1],
                          "out": y.type.shape[1 if nchw else -1],
                          "macs": ops.get(node.op).macs_of(node),
                          "params": sum(v.type.numel for v in node.operands if v.is_constant)}
    return rows


def total_macs(graph: Graph) -> int:
    return sum(ops.get(n.op).macs_of(n) for n in graph.nodes)


def eliminate(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]] | None,
              limit: Threshold = Threshold(),
              val: tuple[list[dict[str, np.ndarray]], np.ndarray | None] | None = None
              ) -> PassResult:
    """Remove the dead channels of ``graph`` in place (the pass's Python API)."""
    cg = channel_groups(graph)
    structural = observe(graph, cg, [zero_feeds(graph)]) if cg.groups else {}
    seen = observe(graph, cg, samples) if samples and cg.groups else None
    verdicts = decide(graph, cg, structural, seen, limit)
    removed: dict[int, list[int]] = {}
    folds: dict[Node, dict[int, float | int]] = {}
    counts = {"zero-weight": 0, "inactive": 0, "constant": 0, "threshold": 0}
    for index, verdict in verdicts.items():
        group = cg.groups[index]
        for v, c in group.slots:
            removed.setdefault(id(v), []).append(c)
        for node, c in group.sinks:
            folds.setdefault(node, {})[c] = verdict.folds[(id(node.operands[0]), c)]
        counts[verdict.reason] += len(group.sources)
    _check_keeps_one(graph, cg, removed, limit, samples is not None)
    before_rows, macs_before = _layer_rows(graph), total_macs(graph)
    params_before = sum(r["params"] for r in before_rows.values())
    before_out = evaluate(graph, val[0]) if val else None
    if removed:
        remove_channels(graph, cg.axes, removed, folds)
    after_rows, macs_after = _layer_rows(graph), total_macs(graph)
    params_after = sum(r["params"] for r in after_rows.values())
    layers = []
    for node, b in before_rows.items():
        a = after_rows[node]
        layers.append({"layer": node.loc or node.op, "op": node.op,
                       "out_channels": [b["out"], a["out"]], "in_channels": [b["in"], a["in"]],
                       "macs": [b["macs"], a["macs"]], "params": [b["params"], a["params"]]})
    report = {"threshold": str(limit) if limit.value else "exact",
              "channels_removed": counts, "layers": layers,
              "macs": [macs_before, macs_after], "params": [params_before, params_after]}
    if val:
        report["validation"] = compare(before_out, evaluate(graph, val[0]), val[1])
    stats = {f"channels-{k}": n for k, n in counts.items() if n}
    if removed:
        stats.update({"macs-before": macs_before, "macs-after": macs_after,
                      "params-before": params_before, "params-after": params_after})
    return PassResult(bool(removed), stats, report)


def _check_keeps_one(graph: Graph, cg: ChannelGroups, removed: Mapping[int, list[int]],
                     limit: Threshold, calibrated: bool) -> None:
    for value in graph.values():
        gone = removed.get(id(value))
        if gone and len(gone) == cg.channels(value):
            where = value.producer.label if value.producer is not None else f"%{value.name}"
            if limit.value:
                raise EdgeirError(f"threshold {limit} would remove all {len(gone)} channels of "
                                  f"%{value.name} (a layer keeps at least one)", where,
                                  "use a smaller threshold", "input")
            if calibrated:
                raise EdgeirError(f"all {len(gone)} channels of %{value.name} are constant on "
                                  "the calibration data (a layer keeps at least one)", where,
                                  "check the model and the calibration data", "input")
            raise EdgeirError(f"all {len(gone)} channels of %{value.name} have zero weights "
                              "(a layer keeps at least one)", where, "check the model's weights",
                              "input")
