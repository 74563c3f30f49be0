"""The CUDA recipes: every knob typed, with the default the results disclose.

A separate toolchain rather than a device knob on the CPU recipes: the CPU INT8 paths (eager, FX,
PT2E) produce x86 kernels only, and the GPU's precisions (TF32, FP16, BF16, torchao INT8) have no
CPU counterpart worth timing. Accuracy is still compared image by image with the CPU FP32
reference (``pytorch:fp32``) when it is in the run.
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeAlias

from pydantic import Field

from quantarena.toolchains.base import BuildFacts, Needs, Recipe

#: How a reduced precision is applied: ``cast`` converts the module's weights and the input
#: (every op runs in that type); ``autocast`` keeps FP32 weights and lets ``torch.autocast``
#: pick per op (convolutions and matmuls in the low type, reductions and softmax in FP32).
Cast: TypeAlias = Literal["cast", "autocast"]
Dtype: TypeAlias = Literal["fp32", "fp16", "bf16"]
#: ``torch.compile`` modes (``max-autotune-no-cudagraphs`` tunes kernels without CUDA graphs,
#: whose static input buffers would hide the host-to-device copy the meter reports).
CompileMode: TypeAlias = Literal["default", "reduce-overhead", "max-autotune",
                                 "max-autotune-no-cudagraphs"]

CUDA_TORCH = Needs(
    packages=("torch", "torchvision"),
    install="pip install 'quantarena[torch]' (a CUDA build of torch)",
    gpu=True,
    torch_module=True,
    gpu_hint="; the CPU variants (pytorch:*) run here",
)
CUDA_TORCHAO = Needs(
    packages=("torch", "torchvision", "torchao"),
    install="pip install 'quantarena[pytorch-quant]' (a CUDA build of torch)",
    gpu=True,
    torch_module=True,
    gpu_hint="; the CPU variants (pytorch:*) run here",
)


class CudaFacts(BuildFacts):
    """What the build saved (the load decides and reports the rest: kernels, TF32, GPU)."""

    arch: str
    torch: str
    #: the type the artifact's weights are stored in
    weights_dtype: str


class CudaInt8Facts(CudaFacts):
    torchao: str
    config: str  # the torchao config class, with its settings
    #: layers torchao replaced (it quantizes nn.Linear; convolutions keep ``dtype``)
    quantized_layers: list[str]
    layers_total: int


# One facts class per recipe (the results name the class): what the build saved is the same for
# the casts; the INT8 builds add what torchao quantized.
class CudaFp32Facts(CudaFacts):
    """FP32 weights (TF32 off)."""


class CudaTf32Facts(CudaFacts):
    """FP32 weights (TF32 on at load)."""


class CudaFp16Facts(CudaFacts):
    """FP16 weights (module cast)."""


class CudaBf16Facts(CudaFacts):
    """BF16 weights (module cast)."""


class CudaFp16AutocastFacts(CudaFacts):
    """FP32 weights, FP16 autocast at run time."""


class CudaBf16AutocastFacts(CudaFacts):
    """FP32 weights, BF16 autocast at run time."""


class CudaFp32CompiledFacts(CudaFacts):
    """FP32 weights, compiled at load."""


class CudaFp16CompiledFacts(CudaFacts):
    """FP16 weights, compiled at load."""


class CudaInt8WeightOnlyFacts(CudaInt8Facts):
    """torchao int8 weight-only tensors."""


class CudaInt8DynamicFacts(CudaInt8Facts):
    """torchao int8 weights, activations quantized per call."""


class CudaRecipe(Recipe):
    """Knobs every CUDA variant has."""

    needs: ClassVar[Needs] = CUDA_TORCH

    #: the CUDA device ordinal
    device_index: int = Field(0, ge=0)
    #: cuDNN benchmarks convolution algorithms per input shape and keeps the fastest
    cudnn_benchmark: bool = True
    #: TF32 tensor-core math for FP32 convolutions and matmuls (Ampere and newer)
    tf32: bool = False
    #: the arithmetic type and how it is applied (see ``Cast``)
    dtype: Dtype = "fp32"
    cast: Cast = "cast"
    #: ``torch.compile`` the module at load (``None``: eager)
    compile_mode: CompileMode | None = None

    @property
    def label(self) -> str:
        """"fp16 (module cast)", "bf16 (autocast)", "fp32 (TF32 on)": for the results."""
        if self.dtype == "fp32":
            return f"fp32 (TF32 {'on' if self.tf32 else 'off'})"
        return f"{self.dtype} ({'module cast' if self.cast == 'cast' else 'autocast'})"


class CudaFp32(CudaRecipe):
    summary: ClassVar[str] = "FP32 module on the GPU, TF32 off (the GPU baseline)"
    Facts: ClassVar[type[BuildFacts]] = CudaFp32Facts


class CudaTf32(CudaRecipe):
    precision: ClassVar[str] = "tf32"
    summary: ClassVar[str] = "FP32 module on the GPU with TF32 tensor-core math"
    Facts: ClassVar[type[BuildFacts]] = CudaTf32Facts
    tf32: bool = True


class CudaFp16(CudaRecipe):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "module and input cast to FP16"
    Facts: ClassVar[type[BuildFacts]] = CudaFp16Facts
    dtype: Dtype = "fp16"


class CudaBf16(CudaRecipe):
    precision: ClassVar[str] = "bf16"
    summary: ClassVar[str] = "module and input cast to BF16"
    Facts: ClassVar[type[BuildFacts]] = CudaBf16Facts
    dtype: Dtype = "bf16"


class CudaFp16Autocast(CudaRecipe):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "FP32 module under torch.autocast(float16)"
    Facts: ClassVar[type[BuildFacts]] = CudaFp16AutocastFacts
    dtype: Dtype = "fp16"
    cast: Cast = "autocast"


class CudaBf16Autocast(CudaRecipe):
    precision: ClassVar[str] = "bf16"
    summary: ClassVar[str] = "FP32 module under torch.autocast(bfloat16)"
    Facts: ClassVar[type[BuildFacts]] = CudaBf16AutocastFacts
    dtype: Dtype = "bf16"
    cast: Cast = "autocast"


class CudaFp16Compiled(CudaRecipe):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "FP16 module compiled with torch.compile (Inductor, autotuned)"
    Facts: ClassVar[type[BuildFacts]] = CudaFp16CompiledFacts
    dtype: Dtype = "fp16"
    compile_mode: CompileMode | None = "max-autotune-no-cudagraphs"


class CudaFp32Compiled(CudaRecipe):
    summary: ClassVar[str] = "FP32 module compiled with torch.compile (Inductor, autotuned)"
    Facts: ClassVar[type[BuildFacts]] = CudaFp32CompiledFacts
    compile_mode: CompileMode | None = "max-autotune-no-cudagraphs"


class CudaInt8(CudaRecipe):
    """torchao INT8 on ``nn.Linear`` layers (torchao's INT8 configs quantize linear layers only;
    a CNN keeps its convolutions in ``dtype`` and the facts list what was quantized)."""

    precision: ClassVar[str] = "int8"
    needs: ClassVar[Needs] = CUDA_TORCHAO

    #: torchao's INT8 kernels are written for BF16 activations
    dtype: Dtype = "bf16"
    #: Inductor fuses torchao's quantize/matmul/dequantize (torchao's recommended way to run it)
    compile_mode: CompileMode | None = "default"


class CudaInt8WeightOnly(CudaInt8):
    summary: ClassVar[str] = "torchao Int8WeightOnlyConfig (int8 weights, bf16 math)"
    Facts: ClassVar[type[BuildFacts]] = CudaInt8WeightOnlyFacts


class CudaInt8Dynamic(CudaInt8):
    summary: ClassVar[str] = (
        "torchao Int8DynamicActivationInt8WeightConfig (int8 x int8 matmuls)"
    )
    Facts: ClassVar[type[BuildFacts]] = CudaInt8DynamicFacts


RECIPES: dict[str, type[Recipe]] = {
    "fp32": CudaFp32,
    "tf32": CudaTf32,
    "fp16": CudaFp16,
    "bf16": CudaBf16,
    "fp16-autocast": CudaFp16Autocast,
    "bf16-autocast": CudaBf16Autocast,
    "fp32-compiled": CudaFp32Compiled,
    "fp16-compiled": CudaFp16Compiled,
    "int8-weight-only": CudaInt8WeightOnly,
    "int8-dynamic": CudaInt8Dynamic,
}
