"""The pass registry: every pass by its pipeline name. One module per pass."""

from __future__ import annotations

from compiler.passbase import Pass
from passes.canonicalize import Canonicalize
from passes.dead_channel_elim import DeadChannelElim
from passes.fold_batchnorm import FoldBatchNorm
from passes.fold_pad import FoldPad
from passes.fuse_activation import FuseActivation
from passes.plan_memory import PlanMemory
from passes.qdq_to_int import QdqToInt
from passes.quantize import Quantize
from passes.schedule import Schedule
from passes.to_nhwc import ToNHWC

PASSES: dict[str, type[Pass]] = {
    p.name: p for p in (Canonicalize, FoldBatchNorm, FuseActivation, FoldPad, QdqToInt,
                        Quantize, ToNHWC, PlanMemory, Schedule, DeadChannelElim)
}

# The standard float pipeline `edgeir opt` and `edgeir compile` run by default.
STANDARD_PIPELINE = "canonicalize,fold-batchnorm,fuse-activation,fold-pad,to-nhwc"
# For QDQ (quantization-aware or onnxruntime-quantized) ONNX models.
QDQ_PIPELINE = "canonicalize,fold-batchnorm,fuse-activation,qdq-to-int,fold-pad,to-nhwc"
