"""The textual IR: one printer, one lark grammar, an exact round trip."""

from compiler.text.parser import parse, parse_file
from compiler.text.printer import print_graph, print_graph_with_sidecar

__all__ = ["parse", "parse_file", "print_graph", "print_graph_with_sidecar"]
