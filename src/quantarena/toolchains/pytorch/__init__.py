"""PyTorch toolchain: the eager FP32 reference and every PyTorch quantization path (eager, FX,
PT2E, QAT, dynamic INT8) plus an Inductor-compiled FP32 baseline.

Importing this package imports no torch: every module imports it inside functions only.
"""

from __future__ import annotations

from quantarena.toolchains.pytorch.recipes import (
    TorchCompiledFp32,
    TorchDynamicInt8,
    TorchEagerInt8,
    TorchFp32,
    TorchFxInt8,
    TorchPt2eInt8,
    TorchQatInt8,
)
from quantarena.toolchains.pytorch.toolchain import PyTorchToolchain

__all__ = [
    "PyTorchToolchain", "TorchCompiledFp32", "TorchDynamicInt8", "TorchEagerInt8", "TorchFp32",
    "TorchFxInt8", "TorchPt2eInt8", "TorchQatInt8",
]
