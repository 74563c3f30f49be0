"""ONNX Runtime: the FP32 export as is, and static (QDQ) or dynamic INT8 from
``onnxruntime.quantization``, on the CPU execution provider; with onnxruntime-gpu (installed
instead of onnxruntime), the FP32 export, an FP16 graph and a TensorRT-ready Q/DQ INT8 graph on
the CUDA and TensorRT execution providers.

Exports only: onnxruntime itself is imported inside functions, when a variant is built or loaded.
"""

from quantarena.toolchains.onnxruntime.gpu_recipes import (
    OrtCudaFp16,
    OrtCudaFp32,
    OrtGpuRecipe,
    OrtTrtFp16,
    OrtTrtInt8,
)
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
    "OnnxRuntimeToolchain", "OrtCudaFp16", "OrtCudaFp32", "OrtDynamicInt8", "OrtFp32",
    "OrtGpuRecipe", "OrtRecipe", "OrtSession", "OrtStaticInt8", "OrtStaticInt8Facts",
    "OrtTrtFp16", "OrtTrtInt8", "open_session",
]
