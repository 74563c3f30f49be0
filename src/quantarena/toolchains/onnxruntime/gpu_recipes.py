"""ONNX Runtime on an NVIDIA GPU: recipes for the CUDA and TensorRT execution providers of
onnxruntime-gpu, and the provider options each asks for.

onnxruntime-gpu is ONNX Runtime's GPU build (it carries the CPU provider too). It is installed
*instead of* the CPU build onnxruntime, never beside it: both are ``import onnxruntime``, so which
one an environment has is read from distribution metadata (``Needs.distributions``), without
importing either; ``make venv-gpu`` makes such an environment.

- ``cuda-fp32``: the FP32 export on the CUDA provider, TF32 off unless ``tf32=true``;
- ``cuda-fp16``: an FP16 graph written by ONNX Runtime's own converter
  (``onnxruntime.transformers.float16``), FP32 inputs and outputs, on the CUDA provider;
- ``tensorrt-fp16``: the FP32 export on the TensorRT provider with FP16 kernels allowed, the CUDA
  provider after it for nodes TensorRT does not take;
- ``tensorrt-int8``: the static Q/DQ graph ``onnxruntime.quantization`` writes, with TensorRT's
  rules (symmetric INT8, per-channel weights, FP32 bias), on the TensorRT provider, which takes
  its INT8 scales from the Q/DQ nodes (no calibration table).

Every variant is timed on the GPU. ``provider_options`` builds what each recipe asks of ONNX
Runtime without importing it; the session adds only its CUDA stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Needs, Recipe
from quantarena.toolchains.onnxruntime.recipes import (
    GraphKind,
    OrtFp32Facts,
    OrtRecipe,
    OrtStaticInt8,
)

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
#: (provider, options) in ONNX Runtime's order of preference, as ``InferenceSession`` takes them
ProviderOptions = list[tuple[str, dict[str, str]]]

#: Why a GPU variant is unavailable where only the CPU build is installed, and the way out.
GPU_BUILD_HINT = (
    "ONNX Runtime's GPU build; it replaces the CPU build onnxruntime, never beside it: "
    "`make venv-gpu` makes an environment with onnxruntime-gpu instead"
)

_NEEDS = Needs(
    packages=("onnxruntime", "onnx", "torch"),
    install="pip install 'quantarena[onnxruntime-gpu,torch]'",
    distributions=("onnxruntime-gpu",),
    distributions_install=GPU_BUILD_HINT,
    gpu=True,
)


def _flag(value: bool) -> str:
    return "True" if value else "False"


class OrtGpuRecipe(OrtRecipe):
    """What every GPU variant shares: onnxruntime-gpu, a GPU, the device it runs on; torch
    provides the CUDA buffers and the stream handed to ONNX Runtime (``user_compute_stream``)."""

    needs: ClassVar[Needs] = _NEEDS
    #: the provider the variant is about: a session that runs without it is refused
    provider: ClassVar[str] = CUDA

    device_id: int = Field(0, ge=0)

    def provider_options(
        self, cache_dir: Path, input_name: str, sample_shape: tuple[int, ...]
    ) -> ProviderOptions:
        """The providers and options this recipe asks for, for a graph whose input
        ``input_name`` has per-sample shape ``sample_shape``; TensorRT engines are cached in
        ``cache_dir``."""
        raise NotImplementedError

    def max_batch_size(self) -> int | None:
        """The largest batch a session of this recipe takes (``None``: any)."""
        return None


class CudaKnobs(OrtGpuRecipe):
    """The CUDA execution provider's settings."""

    # TF32 math for FP32 convolutions and GEMMs (ONNX Runtime's default is on; off here, so the
    # FP32 variant computes in FP32 unless asked)
    tf32: bool = False
    # cuDNN's convolution algorithm search (ONNX Runtime's default: EXHAUSTIVE)
    cudnn_conv_algo_search: Literal["EXHAUSTIVE", "HEURISTIC", "DEFAULT"] = "EXHAUSTIVE"

    def cuda_options(self) -> dict[str, str]:
        return {
            "device_id": str(self.device_id),
            "use_tf32": "1" if self.tf32 else "0",
            "cudnn_conv_algo_search": self.cudnn_conv_algo_search,
        }

    def provider_options(
        self, cache_dir: Path, input_name: str, sample_shape: tuple[int, ...]
    ) -> ProviderOptions:
        return [(CUDA, self.cuda_options())]


class TensorRtKnobs(OrtGpuRecipe):
    """The TensorRT execution provider's settings: one optimization profile (batch 1 to
    ``max_batch``), the engine cached in the variant's artifact folder, and the CUDA provider
    after TensorRT for the nodes it does not take (TF32 off there)."""

    provider: ClassVar[str] = TENSORRT

    # the profile's largest batch: 64 covers ``--device cuda``'s throughput batches (1 and 64)
    max_batch: int = Field(64, ge=1)
    # the batch TensorRT tunes kernels for; None: max_batch
    opt_batch: int | None = Field(None, ge=1)
    # trt_max_workspace_size
    workspace_mb: int = Field(1024, ge=16)

    @model_validator(mode="after")
    def _opt_within_profile(self) -> TensorRtKnobs:
        if self.opt_batch is not None and self.opt_batch > self.max_batch:
            raise ValueError(f"opt_batch ({self.opt_batch}) must not exceed "
                             f"max_batch ({self.max_batch})")
        return self

    def precision_options(self) -> dict[str, str]:
        """``trt_fp16_enable`` / ``trt_int8_enable``, per variant."""
        raise NotImplementedError

    def provider_options(
        self, cache_dir: Path, input_name: str, sample_shape: tuple[int, ...]
    ) -> ProviderOptions:
        dims = "x".join(str(d) for d in sample_shape)

        def shape(batch: int) -> str:
            return f"{input_name}:{batch}x{dims}"

        tensorrt = {
            "device_id": str(self.device_id),
            **self.precision_options(),
            "trt_max_workspace_size": str(self.workspace_mb * 2**20),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache_dir),
            "trt_profile_min_shapes": shape(1),
            "trt_profile_opt_shapes": shape(self.opt_batch or self.max_batch),
            "trt_profile_max_shapes": shape(self.max_batch),
        }
        cuda = {"device_id": str(self.device_id), "use_tf32": "0"}
        return [(TENSORRT, tensorrt), (CUDA, cuda)]

    def max_batch_size(self) -> int | None:
        return self.max_batch


class OrtCudaFp32Facts(OrtFp32Facts):
    """The copied export's opset, as for the CPU FP32 variant."""


class OrtCudaFp32(CudaKnobs):
    precision: ClassVar[str] = "fp32"
    summary: ClassVar[str] = "FP32 ONNX export on the CUDA execution provider (TF32 off)"
    Facts: ClassVar[type[BuildFacts]] = OrtCudaFp32Facts


class OrtCudaFp16Facts(BuildFacts):
    """What ONNX Runtime's float16 converter wrote."""

    #: "fp16", "fp32", "int64" ... -> initializer count: what stayed FP32
    initializers_by_type: dict[str, int]
    #: op type -> nodes left in FP32 because the converter's block list names the op type
    ops_kept_in_fp32: dict[str, int]
    #: Cast nodes the converter added (graph inputs/outputs, around nodes kept in FP32)
    casts_added: int
    #: the graph's inputs and outputs stay FP32 (``keep_io_types=True``)
    keep_io_types: bool = True
    onnxruntime: str


class OrtCudaFp16(CudaKnobs):
    """The FP32 export converted to FP16 at build time by ONNX Runtime's own converter
    (``convert_float_to_float16``, ``keep_io_types=True``): initializers and activations in FP16
    except for the op types its block list keeps in FP32, with Casts around them."""

    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = (
        "FP16 graph from ONNX Runtime's float16 converter (FP32 I/O) on the CUDA execution provider"
    )
    Facts: ClassVar[type[BuildFacts]] = OrtCudaFp16Facts

    # Op types kept in FP32 (``op_block_list``); None: the converter's own DEFAULT_OP_BLOCK_LIST
    op_block_list: tuple[str, ...] | None = None


class OrtTrtFp16Facts(OrtFp32Facts):
    """The copied FP32 export's opset: TensorRT picks FP16 or FP32 per layer when the engine is
    built (at load, cached in the artifact folder)."""


class OrtTrtFp16(TensorRtKnobs):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = (
        "FP32 export on the TensorRT execution provider, FP16 kernels allowed (engine cached)"
    )
    Facts: ClassVar[type[BuildFacts]] = OrtTrtFp16Facts

    def precision_options(self) -> dict[str, str]:
        return {"trt_fp16_enable": "True", "trt_int8_enable": "False"}


class OrtTrtInt8Facts(BuildFacts):
    """The Q/DQ graph handed to TensorRT, checked against its explicit-quantization rules."""

    calibration_images_used: int
    #: the onnxruntime whose quantizer wrote the graph
    onnxruntime: str
    #: how the graph quantizes (fixed by TensorRT's rules, not knobs)
    activations: Literal["int8, symmetric (zero point 0), per tensor"] = (
        "int8, symmetric (zero point 0), per tensor"
    )
    weights: Literal["int8, symmetric, per output channel"] = "int8, symmetric, per output channel"
    bias: Literal["fp32 (TensorRT fuses it; no INT32 DequantizeLinear)"] = (
        "fp32 (TensorRT fuses it; no INT32 DequantizeLinear)"
    )
    quantized_layers: int
    #: Conv/Gemm/MatMul layers with no Q/DQ (``nodes_to_exclude``): TensorRT runs them in float
    layers_kept_in_high_precision: list[str]
    #: TensorRT explicit-quantization rules the graph breaks (each such layer runs in higher
    #: precision); empty when none
    qdq_rule_violations: list[str]


class OrtTrtInt8(TensorRtKnobs):
    """Explicit INT8 on the TensorRT provider: the static QDQ build of ``int8`` with what
    TensorRT requires (INT8 symmetric activations, per-channel symmetric INT8 weights, no
    ``reduce_range``: TensorRT sums INT8 products in 32 bits), biases left FP32 and one Q/DQ pair
    per consumer. TensorRT reads the scales from the graph; ``trt_int8_enable`` with no
    calibration table."""

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "explicit INT8 Q/DQ graph (symmetric, per-channel, calibrated) on the TensorRT "
        "execution provider"
    )
    Facts: ClassVar[type[BuildFacts]] = OrtTrtInt8Facts
    layer_knob: ClassVar[str | None] = "nodes_to_exclude"

    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    # None: the whole calibration split; a count keeps the first N images of it
    calibration_images: int | None = Field(default=None, ge=1)
    calibration_batch: int = Field(default=16, ge=1)
    preprocess: bool = True  # onnxruntime's quant_pre_process: shape inference + graph cleanup
    # Node names left without Q/DQ (TensorRT runs them in FP32, or FP16 with fp16_enable)
    nodes_to_exclude: tuple[str, ...] = ()
    # trt_fp16_enable: FP16 kernels allowed for the layers left unquantized (faster; their
    # accuracy is then FP16's). Off: they run in FP32, as the graph says.
    fp16_enable: bool = False

    @classmethod
    def layers(cls, bundle: ModelBundle) -> list[str]:
        return OrtStaticInt8.layers(bundle)

    def graph_kind(self) -> GraphKind:
        return "qdq"

    def static_recipe(self) -> OrtStaticInt8:
        """The CPU static INT8 recipe whose build writes this graph, with TensorRT's settings."""
        return OrtStaticInt8(
            calibration_method=self.calibration_method,
            calibration_images=self.calibration_images,
            calibration_batch=self.calibration_batch,
            quant_format="qdq",
            activation_type="int8",
            weight_type="int8",
            per_channel=True,
            reduce_range=False,
            symmetric_activations=True,
            symmetric_weights=True,
            preprocess=self.preprocess,
            nodes_to_exclude=self.nodes_to_exclude,
        )

    def precision_options(self) -> dict[str, str]:
        return {"trt_fp16_enable": _flag(self.fp16_enable), "trt_int8_enable": "True"}


#: recipe name -> Recipe class (the GPU half of the toolchain's recipes)
GPU_RECIPES: dict[str, type[Recipe]] = {
    "cuda-fp32": OrtCudaFp32,
    "cuda-fp16": OrtCudaFp16,
    "tensorrt-fp16": OrtTrtFp16,
    "tensorrt-int8": OrtTrtInt8,
}
