"""The one printer of the textual IR.

Output is deterministic: value names come from name hints made unique in schedule order,
attributes are sorted and printed only where they differ from the op's default, and
constants print their exact bytes. ``parse(print(g))`` prints the same text again.

    graph @kws(%input: tensor<1x1x49x10xf32>) {
      %w = const dense<"0x0000803F..."> : tensor<64x1x10x4xf32>
      %conv_1 = conv2d(%input, %w, %b) {pads = [5, 1, 4, 2], strides = [2, 2]}
                   : tensor<1x64x25x5xf32> loc("conv_1")   (one line in real output)
      return %softmax as "output"
    }
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compiler import ops
from compiler.ir import Graph, Node, TensorType, Value, format_float
from compiler.ops.base import check_attr_value

NAME_OK = re.compile(r"[A-Za-z0-9_.$-]")
BARE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.$-]*$")
INLINE_MAX_ELEMENTS = 16
SIDECAR_ALIGN = 16


def sanitize(name: str) -> str:
    return "".join(c if NAME_OK.match(c) else "_" for c in name)


def format_type(t: TensorType) -> str:
    return str(t)


def format_attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(format_attr(v) for v in value) + "]"


def format_element(x: Any, dtype: np.dtype) -> str:
    if dtype == np.bool_:
        return "true" if x else "false"
    if np.issubdtype(dtype, np.floating):
        text = str(x)  # numpy prints the shortest text that round-trips in that precision
        return text if any(c in text for c in ".enia") else text + ".0"
    return str(int(x))


@dataclass
class Sidecar:
    """Collects large constants' bytes for a ``.bin`` file next to the ``.ir``."""

    filename: str
    threshold: int = 1024
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, data: bytes) -> int:
        pad = (-self.size) % SIDECAR_ALIGN
        if pad:
            self.chunks.append(b"\0" * pad)
            self.size += pad
        offset = self.size
        self.chunks.append(data)
        self.size += len(data)
        return offset

    def content(self) -> bytes:
        return b"".join(self.chunks)


class Namer:
    """Unique printable names for values, assigned in schedule order."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.taken: set[str] = set()
        self.counter = 0

    def unique(self, hint: str) -> str:
        base = sanitize(hint)
        if not base:
            while str(self.counter) in self.taken:
                self.counter += 1
            base = str(self.counter)
        name, n = base, 0
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def define(self, value: Value) -> str:
        name = self.unique(value.name)
        self.names[id(value)] = name
        return name

    def __getitem__(self, value: Value) -> str:
        return self.names.get(id(value), "<<undefined>>")


class Printer:
    """Prints graphs. ``elide_bytes`` shortens constants larger than that (the text then no
    longer parses: for terminal dumps); ``sidecar`` moves large constants to a .bin file."""

    def __init__(self, elide_bytes: int | None = None, sidecar: Sidecar | None = None) -> None:
        self.elide_bytes = elide_bytes
        self.sidecar = sidecar

    def graph(self, graph: Graph) -> str:
        names = Namer()
        args = []
        for value, port in zip(graph.inputs, graph.input_names):
            name = names.define(value)
            suffix = "" if port == name else f" as {json.dumps(port)}"
            args.append(f"%{name}: {format_type(value.type)}{suffix}")
        head = f"graph @{sanitize(graph.name) or 'main'}({', '.join(args)})"
        if graph.attrs:
            head += " attributes {" + ", ".join(
                f"{k} = {format_attr(_plain(graph.attrs[k]))}" for k in sorted(graph.attrs)) + "}"
        lines = [head + " {"]
        for value in graph.constants:
            lines.append(f"  %{names.define(value)} = const {self.const_body(value)} : "
                         f"{format_type(value.type)}")
        for node in graph.nodes:
            lines.append("  " + self.node(node, names))
        rets = []
        for value, port in zip(graph.outputs, graph.output_names):
            name = names[value]
            rets.append(f"%{name}" + ("" if port == name else f" as {json.dumps(port)}"))
        lines.append("  return " + ", ".join(rets) if rets else "  return")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def const_body(self, value: Value) -> str:
        data = value.data
        assert data is not None
        raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<")).tobytes()
        if self.sidecar is not None and len(raw) > self.sidecar.threshold:
            offset = self.sidecar.add(raw)
            return f"external<{json.dumps(self.sidecar.filename)}, {offset}, {len(raw)}>"
        if self.elide_bytes is not None and len(raw) > self.elide_bytes:
            return f"dense<elided {len(raw)} bytes>"
        if data.size <= INLINE_MAX_ELEMENTS and _list_is_exact(data):
            flat = data.reshape(-1)
            return "dense<[" + ", ".join(format_element(x, data.dtype) for x in flat) + "]>"
        return f'dense<"0x{raw.hex().upper()}">'

    def node(self, node: Node, names: Namer) -> str:
        operands = ", ".join(f"%{names[v]}" for v in node.operands)
        results = ", ".join(f"%{names.define(v)}" for v in node.results)
        text = f"{results} = {node.op}({operands})"
        attrs = self.attrs(node)
        if attrs:
            text += " {" + ", ".join(f"{k} = {format_attr(v)}" for k, v in attrs) + "}"
        text += " : " + ", ".join(format_type(v.type) for v in node.results)
        if node.loc:
            text += f" loc({json.dumps(node.loc)})"
        return text

    @staticmethod
    def attrs(node: Node) -> list[tuple[str, Any]]:
        opdef = ops.REGISTRY.get(node.op)
        out = []
        for key in sorted(node.attrs):
            value = node.attrs[key]
            if isinstance(value, list):
                value = tuple(value)
            spec = opdef.all_attrs.get(key) if opdef is not None else None
            if spec is not None:
                try:
                    value = check_attr_value(spec.kind, value)
                except ValueError:
                    pass  # printed as is; the verifier reports it
            if spec is not None and not spec.required and _same(value, spec.default):
                continue
            out.append((key, value))
        return out


def _list_is_exact(data: np.ndarray) -> bool:
    """Whether the element list form keeps every bit: a NaN prints as ``nan``, which
    parses back as the default NaN only, so NaNs with a sign or payload need hex."""
    if not np.issubdtype(data.dtype, np.floating):
        return True
    nans = data[np.isnan(data)]
    return nans.tobytes() == np.full(nans.shape, np.nan, data.dtype).tobytes()


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and a == b == 0.0:
        return math.copysign(1.0, a) == math.copysign(1.0, b)  # -0.0 is not the default 0.0
    return a == b


def print_graph(graph: Graph, elide_bytes: int | None = None) -> str:
    """The textual IR of ``graph`` (every constant inline unless ``elide_bytes``)."""
    return Printer(elide_bytes=elide_bytes).graph(graph)


def print_graph_with_sidecar(graph: Graph, bin_name: str,
                             threshold: int = 1024) -> tuple[str, bytes]:
    """The textual IR plus the content of the sidecar ``bin_name`` it refers to."""
    sidecar = Sidecar(bin_name, threshold)
    text = Printer(sidecar=sidecar).graph(graph)
    return text, sidecar.content()
