"""What a pass is: a small dataclass whose fields are its options.

A pass has a kebab-case ``name``, a ``summary``, option fields with defaults, and
``run(graph) -> PassResult``. Its docstring says what it matches, what it rewrites, what it
preserves and what must run before it. Passes are registered in ``passes/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from compiler.ir import Graph


@dataclass
class PassResult:
    """Whether the pass changed the graph, its statistics (name -> count), and an optional
    structured report."""

    changed: bool
    stats: dict[str, int] = field(default_factory=dict)
    report: dict | None = None  # a structured report (e.g. per layer), for --stats and json


@dataclass
class Pass:
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, graph: Graph) -> PassResult:  # pragma: no cover - interface
        raise NotImplementedError

    def spec(self) -> str:
        """The pipeline text that recreates this pass with its options."""
        from dataclasses import fields

        opts = [f"{f.name.replace('_', '-')}={_fmt(getattr(self, f.name))}" for f in fields(self)
                if getattr(self, f.name) != f.default]
        return self.name + ("{" + ",".join(opts) + "}" if opts else "")


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
