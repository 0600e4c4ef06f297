"""The op registry: every op edgeir knows, by name.

Each family module defines its ops as :class:`OpDef` values and lists them in ``OPS``;
this module collects them. To add an op, add an ``OpDef`` to a family module's ``OPS``.
"""

from __future__ import annotations

from compiler.ops import elementwise, nn, qnn, quant, shape
from compiler.ops.base import REQUIRED, Attr, Attrs, InferError, OpDef

FAMILIES = (elementwise, nn, shape, quant, qnn)

REGISTRY: dict[str, OpDef] = {}
for _family in FAMILIES:
    for _op in _family.OPS:
        if _op.name in REGISTRY:
            raise RuntimeError(f"op '{_op.name}' defined twice")
        REGISTRY[_op.name] = _op


def get(name: str) -> OpDef:
    """The definition of op ``name`` (KeyError if unknown)."""
    return REGISTRY[name]


__all__ = ["REGISTRY", "REQUIRED", "Attr", "Attrs", "InferError", "OpDef", "get"]
