"""ONNX Runtime: the FP32 export as is, and static (QDQ) or dynamic INT8 from
``onnxruntime.quantization``, all on the CPU execution provider.

Exports only: onnxruntime itself is imported inside functions, when a variant is built or loaded.
"""

from quantarena.toolchains.onnxruntime.recipes import (
    OrtDynamicInt8,
    OrtFp32,
    OrtRecipe,
    OrtStaticInt8,
    OrtStaticInt8Facts,
)
from quantarena.toolchains.onnxruntime.runtime import OrtSession, open_session
from quantarena.toolchains.onnxruntime.toolchain import OnnxRuntimeToolchain

__all__ = [
    "OnnxRuntimeToolchain", "OrtDynamicInt8", "OrtFp32", "OrtRecipe", "OrtSession",
    "OrtStaticInt8", "OrtStaticInt8Facts", "open_session",
]
