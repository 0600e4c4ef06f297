"""Small questions about a planned graph's memory."""

from __future__ import annotations

from compiler.ir import Graph


def peak_node(graph: Graph) -> str:
    """The node at whose step the most activation bytes are live (a planned graph)."""
    from passes.plan_memory import buffers

    bufs, _ = buffers(graph)
    best, where = -1, "the graph inputs"
    for position, node in enumerate(graph.nodes):
        live = sum(b.size for b in bufs if b.first <= position <= b.last)
        if live > best:
            best, where = live, f"node '{node.loc or node.result.name}' ({node.op})"
    return where
