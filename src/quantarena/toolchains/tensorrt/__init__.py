"""TensorRT toolchain: engines built from FP32, AutoCast FP16 and ModelOpt Q/DQ INT8 ONNX graphs,
plus ``int8-simulated``, the INT8 graph checked and run on the CPU.

Exports only: importing this package imports neither tensorrt, ModelOpt, onnxruntime nor torch.
"""

from quantarena.toolchains.tensorrt.qdq_rules import (
    QdqReport,
    Violation,
    check_qdq_rules,
    inspect_qdq,
)
from quantarena.toolchains.tensorrt.recipes import (
    SIMULATED_TIMING,
    EngineFacts,
    QdqGraphFacts,
    TrtFp16,
    TrtFp32,
    TrtInt8,
    TrtInt8Simulated,
)
from quantarena.toolchains.tensorrt.toolchain import TensorRtToolchain

__all__ = [
    "SIMULATED_TIMING", "EngineFacts", "QdqGraphFacts", "QdqReport", "TensorRtToolchain",
    "TrtFp16", "TrtFp32", "TrtInt8", "TrtInt8Simulated", "Violation", "check_qdq_rules",
    "inspect_qdq",
]
