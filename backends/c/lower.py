"""lower-c: decide, in the IR, how the C backend computes every node.

Matches a graph after the standard pipeline (NHWC convolutions and pools; quantized or
float). Rewrites:
  * every node gets ``impl``: the C kernel of ``backends/c/runtime/edgeir_kernels.h`` that
    computes it (``alias`` for reshape: no code, the result shares its input's bytes);
  * int8 conv / fully connected: the input zero point is folded into the bias at compile
    time (``bias' = bias - x_zp * sum(w)``, ``zp_folded = true``), so the kernels' inner
    loops are pure int8 multiply-accumulates;
  * batch_norm (left unfused) becomes a mul and an add by per-channel constants.
Preserves: the results (the lowered graph runs in the interpreter with identical output).
Errors: an op or dtype without a C kernel, or an NCHW convolution/pool (run to-nhwc),
named with the node; an int8 layer whose int32 arithmetic could overflow for some input
(``backends/c/overflow.py`` checks every node first; statistic ``int32-bits``: the widest
int32 value any checked step can reach, sign included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.c import overflow
from compiler import ops
from compiler.diagnostics import EdgeirError
from compiler.ir import Graph, Node, PerAxis, constant
from compiler.passbase import Pass, PassResult
from compiler.rewrite import build

FLOAT_UNARY = ("relu", "leaky_relu", "clip", "sigmoid", "tanh", "hard_sigmoid", "hard_swish")
DATA_MOVE = {"transpose": "edgeir_strided_copy", "slice": "edgeir_strided_copy",
             "concat": "edgeir_concat_piece_copy", "split": "edgeir_split_piece_copy",
             "gather": "edgeir_gather_axes", "resize": "edgeir_gather_axes"}
SIMPLE = {
    "qadd": "edgeir_add_s8", "qmul": "edgeir_mul_s8", "qavg_pool": "edgeir_avg_pool_s8",
    "qmax_pool": "edgeir_max_pool_s8", "qmean": "edgeir_mean_s8",
    "qsoftmax": "edgeir_softmax_s8", "qlogistic": "edgeir_logistic_s8",
    "qtanh": "edgeir_tanh_s8", "qhard_swish": "edgeir_hard_swish_s8",
    "quantize": "edgeir_quantize_f32_s8", "dequantize": "edgeir_dequantize_s8_f32",
    "requantize": "edgeir_requantize_8", "qfully_connected": "edgeir_fc_s8",
    "add": "edgeir_binary_f32", "sub": "edgeir_binary_f32", "mul": "edgeir_binary_f32",
    "div": "edgeir_binary_f32", "softmax": "edgeir_softmax_f32",
    "log_softmax": "edgeir_softmax_f32", "lrn": "edgeir_lrn_f32",
    "max_pool": "edgeir_max_pool_f32",
    "avg_pool": "edgeir_avg_pool_f32", "global_avg_pool": "edgeir_reduce_f32",
    "global_max_pool": "edgeir_reduce_f32", "reduce_mean": "edgeir_reduce_f32",
    "matmul": "edgeir_matmul_f32", "conv_transpose2d": "edgeir_conv_transpose_f32",
    **{op: "edgeir_unary_f32" for op in FLOAT_UNARY}, **DATA_MOVE,
}
LAYOUT_OPS = ("conv2d", "qconv2d", "conv_transpose2d", "max_pool", "avg_pool", "qavg_pool",
              "qmax_pool", "qmean", "global_avg_pool", "global_max_pool")
C_DTYPES = ("f32", "i8", "ui8", "i32", "i64")


@dataclass
class LowerC(Pass):
    name = "lower-c"
    summary = "choose a C kernel per node and fold compile-time tables"
    # In-place kernels: depthwise convs through a channel-plane scratch, pointwise convs
    # through a pixel scratch; they save RAM (less arena) at some speed.
    inplace: bool = True
    # Kernels for cores with the DSP extension (dual 16-bit MACs): edgeir_s8_dsp.c, with
    # weights in its layout. Bit-exact with the portable kernels; correct (slower) anywhere.
    dsp: bool = False

    def run(self, graph: Graph) -> PassResult:
        stats = {"nodes": 0, "biases-folded": 0, "batchnorms-split": 0}
        for node in list(graph.nodes):
            if node.op == "batch_norm":
                self._split_batch_norm(graph, node)
                stats["batchnorms-split"] += 1
        widest = 0
        for node in graph.nodes:
            self._check(node)
            widest = max(widest, overflow.check_node(node))  # or refuses the layer
            node.attrs["impl"] = self._choose(graph, node, stats)
            if self.inplace:
                self._prefer_inplace(node)
            if self.dsp:
                prefer_dsp(node)
            overlap = overlap_rule(node)
            if overlap:
                node.attrs["overlap"] = overlap
                stats["overlap-rules"] = stats.get("overlap-rules", 0) + 1
            stats["nodes"] += 1
        if widest:
            stats["int32-bits"] = widest  # the widest int32 step of an int8 layer, signed
        if self.inplace:
            stats["conv-add-fused"] = fuse_conv_add(graph)
        graph.remove_unused_constants()
        return PassResult(True, stats)

    # -- checks -------------------------------------------------------------------------------
    @staticmethod
    def _fail(node: Node, what: str, hint: str) -> EdgeirError:
        return EdgeirError(what, node.label, hint, "unsupported")

    def _check(self, node: Node) -> None:
        for v in [*node.operands, *node.results]:
            if v.type.dtype not in C_DTYPES:
                raise self._fail(node, f"the C backend has no kernels for {v.type.dtype} "
                                 f"tensors ({node.op})", "use f32 or int8 models")
        if node.op in ("qconv2d", "qfully_connected") and \
                not all(v.is_constant for v in node.operands[1:]):
            raise self._fail(node, f"{node.op} with weights or bias computed at run time has "
                             "no C kernel", "the int8 kernels take constant weights and biases")
        if node.op in LAYOUT_OPS and ops.get(node.op).attrs_of(node).layout != "nhwc":
            raise self._fail(node, f"the C kernels take NHWC; this {node.op} is NCHW",
                             "run the to-nhwc pass before lower-c")

    # -- kernel choice ----------------------------------------------------------------------------
    def _choose(self, graph: Graph, node: Node, stats: dict) -> str:
        op = node.op
        if op in ("reshape", "identity", "dropout"):
            return "alias"
        if op == "qconv2d":
            self._fold_zero_point(graph, node, conv=True)
            stats["biases-folded"] += 1
            if _is_depthwise(node):
                return "edgeir_depthwise_conv_s8"
            return "edgeir_conv_s8_hwio" if node.attrs.get("group", 1) == 1 else "edgeir_conv_s8"
        if op == "qfully_connected":
            self._fold_zero_point(graph, node, conv=False)
            stats["biases-folded"] += 1
            return "edgeir_fc_s8"
        if op == "conv2d":
            return "edgeir_depthwise_conv_f32" if _is_depthwise(node) else "edgeir_conv_f32"
        if op == "gemm":
            return "edgeir_fc_f32" if _is_fully_connected(node) else "edgeir_matmul_f32"
        if op == "pad":
            if node.attrs.get("mode", "constant") == "constant" and min(node.attrs["pads"]) >= 0:
                return "edgeir_pad"
            return "edgeir_gather_axes"
        if op == "reduce_mean" and not _contiguous(node.attrs.get("axes", ()),
                                                   node.operands[0].type.rank):
            raise self._fail(node, "reduce_mean over non-adjacent axes has no C kernel",
                             "transpose the reduced axes together first")
        if op in SIMPLE:
            return SIMPLE[op]
        raise self._fail(node, f"no C kernel for op '{op}'",
                         "see the README's list of ops the C backend compiles")

    @staticmethod
    def _prefer_inplace(node: Node) -> None:
        impl = node.attrs["impl"]
        if impl == "edgeir_depthwise_conv_s8":
            x, y = node.operands[0].type, node.result.type
            if x.shape[3] == y.shape[3] and _ring_is_safe(node):  # multiplier 1
                node.attrs["impl"] = "edgeir_depthwise_conv_s8_inplace"
                ring = (node.operands[1].type.shape[1] - 1) * \
                    node.attrs.get("dilations", (1, 1))[0] + 1
                node.attrs["scratch"] = (ring * x.shape[2],)
        elif impl == "edgeir_conv_s8_hwio":
            w = node.operands[1].type.shape
            a = node.attrs
            if w[1] == w[2] == 1 and tuple(a.get("strides", (1, 1))) == (1, 1) \
                    and not any(a.get("pads", (0, 0, 0, 0))):
                expands = w[0] > w[3]  # more output than input channels: run backwards
                node.attrs["impl"] = ("edgeir_pointwise_conv_s8_reverse" if expands
                                      else "edgeir_pointwise_conv_s8")
                node.attrs["scratch"] = (4 * w[0],)

    # -- rewrites --------------------------------------------------------------------------
    @staticmethod
    def _fold_zero_point(graph: Graph, node: Node, conv: bool) -> None:
        if node.attrs.get("zp_folded"):
            return
        w = node.operands[1].data.astype(np.int64)
        sums = w.reshape(w.shape[0], -1).sum(axis=1)
        x_zp = int(node.attrs.get("x_zp", 0))
        if len(node.operands) > 2:
            old = node.operands[2]
            bias = old.data.astype(np.int64) - x_zp * sums
            quant = old.type.quant
            name = old.name
        else:
            bias = -x_zp * sums
            x_scale = node.operands[0].type.quant.scale
            wq = node.operands[1].type.quant
            w_scales = wq.scales if isinstance(wq, PerAxis) else (wq.scale,) * len(sums)
            quant = PerAxis(0, tuple(x_scale * s for s in w_scales), (0,) * len(sums))
            name = f"{node.loc or node.result.name}.bias"
        if np.any(np.abs(bias) > 2**31 - 1):
            raise EdgeirError("the folded bias does not fit int32", node.label,
                              "the weights are too large for int8 accumulation", "input")
        folded = constant(bias.astype(np.int32), f"{name}.folded", quant)
        graph.constants.append(folded)
        if len(node.operands) > 2:
            node.set_operand(2, folded)
        else:
            node.set_operands([*node.operands, folded])
        node.attrs["zp_folded"] = True

    @staticmethod
    def _split_batch_norm(graph: Graph, node: Node) -> None:
        x, scale, bias, mean, var = node.operands
        if not all(v.is_constant for v in (scale, bias, mean, var)):
            raise EdgeirError("batch_norm with non-constant parameters has no C kernel",
                              node.label, "fold it with fold-batchnorm first", "unsupported")
        eps = float(node.attrs.get("epsilon", 1e-5))
        mul = scale.data.astype(np.float64) / np.sqrt(var.data.astype(np.float64) + eps)
        add = bias.data.astype(np.float64) - mean.data.astype(np.float64) * mul
        rank = x.type.rank
        shape = [1] * rank
        shape[1 if node.attrs.get("layout", "nchw") == "nchw" else rank - 1] = -1
        m = graph.add_constant(mul.astype(np.float32).reshape(shape), f"{node.loc}.scale")
        a = graph.add_constant(add.astype(np.float32).reshape(shape), f"{node.loc}.shift")
        n1 = build("mul", [x, m], {}, node.loc, [f"{node.result.name}.scaled"])
        n2 = build("add", [n1.result, a], {}, node.loc, [node.result.name])
        graph.insert_before(node, n1)
        graph.insert_before(node, n2)
        graph.replace_node(node, [n2.result])


DSP_KERNELS = {"edgeir_conv_s8_hwio": "edgeir_conv_s8_dsp",
               "edgeir_pointwise_conv_s8": "edgeir_pointwise_conv_s8_dsp",
               "edgeir_pointwise_conv_s8_reverse": "edgeir_pointwise_conv_s8_dsp_reverse",
               "edgeir_fc_s8": "edgeir_fc_s8_dsp",
               "edgeir_depthwise_conv_s8_inplace": "edgeir_depthwise_conv_s8_inplace_dsp"}


def dsp_scratch(node: Node) -> int:
    """Bytes of scratch a DSP convolution needs: its inputs expanded to int16 pairs (two
    pixels, plus a staging row when in_c is not a multiple of 4), or int16 ring rows."""
    w = node.operands[1].type.shape
    if _is_depthwise(node):  # ring rows of pixels with their padding, a row of in_zp
        a = node.attrs
        ring = (w[1] - 1) * a.get("dilations", (1, 1))[0] + 1
        pads = a.get("pads", (0, 0, 0, 0))
        pixel = 4 if a.get("impl", "").endswith("_lean") else 8  # raw or int16 pairs
        return pixel * (ring + 1) * (node.operands[0].type.shape[2] + pads[1] + pads[3])
    k = int(np.prod(w[1:]))
    groups = (k + 3) // 4
    return 16 * groups + (4 * groups if w[-1] % 4 else 0)


def table_bytes(graph: Graph) -> dict[str, int]:
    """Bytes the C backend emits for each constant of a lowered graph, in its kernel's layout
    (DSP weights padded, depthwise DSP weights as int16), with the per-channel requantization
    tables the emitter pins together with the weights (8 bytes per channel for the portable
    kernels; 16 for the DSP kernels' records, which also hold the bias)."""
    size = {c.name: c.type.nbytes for c in graph.constants}
    for node in graph.nodes:
        impl = node.attrs.get("impl", "")
        conv = node
        if impl.startswith("edgeir_conv_add_s8"):
            conv = next(v.producer for v in node.operands
                        if v.producer is not None and v.producer.attrs.get("impl") == "fused")
        elif impl == "fused" or node.op not in ("qconv2d", "qfully_connected"):
            continue
        w = conv.operands[1]
        if not w.is_constant:
            continue
        oc = conv.result.type.shape[-1]
        if "_dsp" in impl:
            if "depthwise" in impl:
                c4 = -(-oc // 4) * 4
                size[w.name] = 2 * c4 * int(np.prod(w.type.shape[1:])) + 16 * c4
            else:  # output channels in pairs (quads: fully connected)
                k4 = -(-int(np.prod(w.type.shape[1:])) // 4) * 4
                block = 4 if "fc" in impl else 2
                padded = -(-oc // block) * block
                size[w.name] = padded * k4 + 16 * padded
            if len(conv.operands) > 2:  # the bias lives in the records
                size[conv.operands[2].name] = 0
            if impl.startswith("edgeir_conv_add"):  # the add's table and output record
                size[w.name] += 4 * 512 + 16
        else:
            size[w.name] += 8 * oc
    return size


def lean_at_peak(graph: Graph) -> bool:
    """Speed never costs RAM: when the arena's peak is a DSP depthwise layer with the fast
    ring (int16 pixel pairs), switch it to the lean one (raw int8 words, half the scratch,
    two instructions more per tap). True if it switched: plan the memory again."""
    from compiler.memory_report import peak

    step = peak(graph)["step"]
    if not 0 <= step < len(graph.nodes):
        return False
    node = graph.nodes[step]
    if node.attrs.get("impl") != "edgeir_depthwise_conv_s8_inplace_dsp":
        return False
    node.attrs["impl"] = "edgeir_depthwise_conv_s8_inplace_dsp_lean"
    node.attrs["scratch"] = (dsp_scratch(node),)
    return True


def fast_requant(multiplier: object, shift: object, out_zp: int,
                 acc_bound: object = 2**31) -> np.ndarray | None:
    """[channels][round, shift] of edgeir_rq's fast form (see rq_records), or None where a
    channel does not fit it: the multiplier must be 0 or in [2^30, 2^31), the shift -r in
    [-31, -2], and the rounding constant with the zero point must keep the high word of the
    64-bit sum inside int32. That word is round, minus 1 for a negative accumulator, plus
    floor((+-2^30 + acc * mult) / 2^32); with |acc| <= acc_bound (per channel: the
    accumulator's static bound, see accumulator_bound) the condition is |round| +
    (acc_bound * mult >> 32) + 4 <= 2^31 - 1. Deep shifts (tiny multipliers, e.g. of
    near-zero filters) fit thanks to the bound."""
    mult, sh, bound = np.broadcast_arrays(np.atleast_1d(np.asarray(multiplier, np.int64)),
                                          np.atleast_1d(np.asarray(shift, np.int64)),
                                          np.atleast_1d(np.asarray(acc_bound, np.int64)))
    if not np.all((mult == 0) | ((mult >= 2**30) & (mult < 2**31) & (sh >= -31) & (sh <= -2))):
        return None
    r = np.where(mult == 0, 2, -sh)
    rnd = np.left_shift(1, r - 2) + int(out_zp) * np.left_shift(1, r - 1)
    high = [(int(b) * int(m)) >> 32 for b, m in zip(np.minimum(bound, 2**31), mult)]
    if np.any(np.abs(rnd) + np.asarray(high, np.int64) + 4 > 2**31 - 1):
        return None
    return np.stack([rnd, r - 1], axis=-1)


def accumulator_bound(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Per output channel (axis 0 of w), the largest |accumulator| of an int8 layer whose
    input zero point is folded into its bias: |bias| + 128 * sum |w| (any int8 input)."""
    flat = np.abs(np.asarray(w, np.int64).reshape(w.shape[0], -1)).sum(axis=1)
    return np.abs(np.asarray(bias, np.int64).reshape(-1)) + 128 * flat


def prefer_dsp(node: Node) -> None:
    """Swap a portable int8 kernel for its DSP twin (same arithmetic and in-place rules)."""
    twin = DSP_KERNELS.get(node.attrs["impl"])
    if twin is not None:
        node.attrs["impl"] = twin
        if node.op != "qfully_connected":  # it sign-extends its input row on the fly
            node.attrs["scratch"] = (dsp_scratch(node),)


def _is_depthwise(node: Node) -> bool:
    x, w = node.operands[0].type.shape, node.operands[1].type.shape
    group = node.attrs.get("group", 1)
    return group > 1 and group == x[3] and w[3] == 1


def _is_fully_connected(node: Node) -> bool:
    a = node.attrs
    if a.get("trans_a") or not a.get("trans_b") or a.get("alpha", 1.0) != 1.0:
        return False
    if len(node.operands) > 2:
        c = node.operands[2]
        n = node.operands[1].type.shape[0]
        if a.get("beta", 1.0) != 1.0 or c.type.shape not in ((n,), (1, n)):
            return False
    return node.operands[1].is_constant


def _contiguous(axes: tuple, rank: int) -> bool:
    if not axes:
        return True
    norm = sorted(a % rank for a in axes)
    return norm == list(range(norm[0], norm[-1] + 1))



# Kernels that compute output pixels in row-major order (batch, row, column), finish each
# pixel before the next and read only the input rows of the current pixel's window
# (edgeir_kernels.h states it): their output may start below their input.
WINDOW_KERNELS = frozenset({
    "edgeir_conv_s8", "edgeir_conv_s8_hwio", "edgeir_conv_s8_dsp", "edgeir_depthwise_conv_s8",
    "edgeir_avg_pool_s8",
    "edgeir_max_pool_s8", "edgeir_conv_f32", "edgeir_depthwise_conv_f32",
    "edgeir_avg_pool_f32", "edgeir_max_pool_f32"})
# Elementwise kernels that read element i before writing element i, in order (or in blocks
# read before they are written): in place when the operand has the result's shape and
# elements at least as wide.
ELEMENTWISE_KERNELS = {"edgeir_unary_f32": (0,), "edgeir_binary_f32": (0, 1),
                       "edgeir_add_s8": (0, 1), "edgeir_mul_s8": (0, 1),
                       "edgeir_requantize_8": (0,), "edgeir_quantize_f32_s8": (0,)}


def overlap_rule(node: Node) -> tuple[int, ...]:
    """(operand index, delta, exact) triples: the result may start at most (exact: exactly)
    ``delta`` bytes after the operand (negative: before it) and the kernel stays correct."""
    impl = node.attrs.get("impl", "")
    out = node.results[0].type
    if impl in WINDOW_KERNELS:
        return (0, window_overlap(node), 0)
    if impl in ("edgeir_depthwise_conv_s8_inplace", "edgeir_depthwise_conv_s8_inplace_dsp",
                "edgeir_depthwise_conv_s8_inplace_dsp_lean"):
        return (0, 0, 1)
    if impl in ("edgeir_pointwise_conv_s8", "edgeir_pointwise_conv_s8_dsp"):
        # in_c >= out_c: output pixel p ends before input pixel p + 1 starts
        x = node.operands[0].type
        return (0, x.shape[3] - out.shape[3], 0)
    if impl in ("edgeir_pointwise_conv_s8_reverse", "edgeir_pointwise_conv_s8_dsp_reverse"):
        return (0, 0, 1)
    if impl in ELEMENTWISE_KERNELS:
        pairs: list[int] = []
        for i in ELEMENTWISE_KERNELS[impl]:
            v = node.operands[i]
            if (not v.is_constant and v.type.shape == out.shape
                    and v.type.np_dtype.itemsize >= out.np_dtype.itemsize):
                pairs += [i, 0, 0]
        return tuple(pairs)
    return ()


def window_overlap(node: Node) -> int:
    """How far after its input a window kernel's output may start (negative: before).

    While the kernel computes output pixel (y, x) (row-major, every channel of the pixel
    before the next), the input it may still read starts at the top-left tap of the
    current window or, for the rows below, at the start of the first row they read.
    Output pixel (y, x) must end before that: the bound is the minimum over all pixels of
    (first input byte still needed) - (end of the output pixel)."""
    import numpy as np

    x, out = node.operands[0].type, node.results[0].type
    n, h, w, c = x.shape
    _, oh, ow, oc = out.shape
    in_px = c * x.np_dtype.itemsize
    out_px = oc * out.np_dtype.itemsize
    sh, sw = node.attrs.get("strides", (1, 1))
    pt, pl = node.attrs.get("pads", (0, 0, 0, 0))[:2]
    rows = np.clip(np.arange(oh + 1) * sh - pt, 0, h)        # first input row of each out row
    cols = np.clip(np.arange(ow) * sw - pl, 0, w)            # first input column
    needed = rows[:oh, None] * w + cols[None, :]             # current window's top-left
    needed = np.minimum(needed, rows[1:oh + 1, None] * w)    # the rows below start there
    needed = np.where(np.arange(oh)[:, None] == oh - 1, rows[:oh, None] * w + cols[None, :],
                      needed)
    index = np.arange(oh * ow).reshape(oh, ow)
    bounds = []
    for b in range(n):
        bounds.append(((b * h * w + needed) * in_px - (b * oh * ow + index + 1) * out_px).min())
    return int(min(bounds))


def _ring_is_safe(node: Node) -> bool:
    """In place, output row y of a depthwise conv overwrites (channel by channel) the input
    pixels y*out_w .. (y+1)*out_w - 1; those must lie in input rows the kernel's ring has
    already saved, i.e. below the last row that output row y reads."""
    _, h, w, _ = node.operands[0].type.shape
    _, oh, ow, _ = node.result.type.shape
    kh = node.operands[1].type.shape[1]
    sh = node.attrs.get("strides", (1, 1))[0]
    dh = node.attrs.get("dilations", (1, 1))[0]
    pt = node.attrs.get("pads", (0, 0, 0, 0))[0]
    for y in range(oh):
        copied = min(h, y * sh - pt + (kh - 1) * dh + 1)
        last_written_row = ((y + 1) * ow - 1) // w
        if last_written_row >= copied:
            return False
    return True


CONV_KERNELS = ("edgeir_conv_s8", "edgeir_conv_s8_hwio", "edgeir_pointwise_conv_s8",
                "edgeir_pointwise_conv_s8_reverse", "edgeir_conv_s8_dsp",
                "edgeir_pointwise_conv_s8_dsp", "edgeir_pointwise_conv_s8_dsp_reverse")


def fuse_conv_add(graph: Graph) -> int:
    """An int8 add reading a convolution computed just before it (and read by nothing
    else) becomes one kernel, edgeir_conv_add_s8: the convolution's output is never
    stored (impl "fused"), and the add writes over its other operand in place (not when
    that operand is the convolution's own input, which it still reads)."""
    fused = 0
    for j, add in enumerate(graph.nodes):
        if add.attrs.get("impl") != "edgeir_add_s8" or j == 0:
            continue
        conv = graph.nodes[j - 1]
        shapes = {v.type.shape for v in [*add.operands, add.result]}
        if conv.attrs.get("impl") not in CONV_KERNELS or conv.attrs.get("group", 1) != 1 \
                or len(shapes) != 1 or graph.is_output(conv.result) \
                or len(conv.result.uses) != 1 or add.operands[0] is add.operands[1]:
            continue
        k = 0 if add.operands[0] is conv.result else 1
        residual = add.operands[1 - k]
        if add.operands[k] is not conv.result or residual.is_constant:
            continue
        if any(v is residual for v in conv.operands):
            continue  # writing over the residual would destroy the convolution's input
        dsp = "_dsp" in conv.attrs["impl"] and fast_requant(
            add.attrs.get("out_multiplier"), add.attrs.get("out_shift"),
            add.attrs.get("out_zp", 0)) is not None
        if "_dsp" in conv.attrs["impl"] and not dsp:
            continue  # the DSP add takes only edgeir_rq output scales: left unfused
        for key in ("overlap", "scratch"):
            conv.attrs.pop(key, None)
        conv.attrs["impl"] = "fused"
        add.attrs["impl"] = "edgeir_conv_add_s8_dsp" if dsp else "edgeir_conv_add_s8"
        out_c = conv.result.type.shape[-1]
        # DSP: the conv's scratch, then its requantized pixel pair (2 * out_c bytes)
        add.attrs["scratch"] = (dsp_scratch(conv) + 2 * out_c if dsp else 4 * out_c,)
        add.attrs["overlap"] = (1 - k, 0, 1)
        fused += 1
    return fused
