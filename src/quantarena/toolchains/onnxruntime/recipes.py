"""ONNX Runtime recipes: the FP32 export as is, static QDQ INT8 and dynamic INT8, every knob typed
with the default the results disclose, and the facts each build reports.

Knob names follow ``onnxruntime.quantization``'s own arguments, so a result reads like the call
that made it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from quantarena.toolchains.base import BuildFacts, Needs, Recipe

#: ``SessionOptions.graph_optimization_level``, by name (also used by TensorRT's CPU simulation).
GraphOptimization = Literal["all", "extended", "basic", "disabled"]

_NEEDS = Needs(packages=("onnxruntime", "onnx"), install="pip install 'quantarena[onnxruntime]'")


class OrtRecipe(Recipe):
    """What every ONNX Runtime variant shares: the CPU execution provider, and how much ONNX
    Runtime may rewrite the graph when the session is created."""

    needs: ClassVar[Needs] = _NEEDS

    graph_optimization: GraphOptimization = "all"


class OrtFp32Facts(BuildFacts):
    """The FP32 build copies the export and decides nothing; what it copied is disclosed."""

    #: the graph's ONNX opset (default domain): which operator versions ONNX Runtime runs
    opset: int


class OrtFp32(OrtRecipe):
    """The FP32 export, unchanged: the first choice of FP32 reference (the plain export on the
    most common runtime)."""

    summary: ClassVar[str] = "FP32 ONNX export on the CPU execution provider"
    reference_rank: ClassVar[int | None] = 1
    Facts: ClassVar[type[BuildFacts]] = OrtFp32Facts


class OrtStaticInt8Facts(BuildFacts):
    """What a static INT8 build used and wrote."""

    #: calibration images read by the calibrator (the knob may ask for fewer than the split)
    calibration_images_used: int
    #: how the quantized graph stores quantization ("QDQ" node pairs or "QOperator" fused ops)
    format: Literal["QDQ", "QOperator"]
    #: the onnxruntime whose quantizer wrote the graph (its defaults change between releases)
    onnxruntime: str


class OrtDynamicInt8Facts(BuildFacts):
    """Which integer operators the dynamic quantizer put in the graph: on the CPU provider a
    ``ConvInteger`` can be slower than the FP32 convolution it replaced, so the mix explains
    the speed."""

    #: op type -> count, e.g. {"ConvInteger": 52, "MatMulInteger": 1, "DynamicQuantizeLinear": 53}
    integer_ops: dict[str, int]
    onnxruntime: str


class OrtStaticInt8(OrtRecipe):
    """Static post-training quantization in QDQ format.

    Defaults follow ONNX Runtime's guidance for x86 CPUs: unsigned 8-bit activations with signed
    8-bit weights (U8S8, which VNNI executes natively), per-channel weights, MinMax calibration.
    """

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "static QDQ INT8 (per-channel weights, calibrated)"
    Facts: ClassVar[type[BuildFacts]] = OrtStaticInt8Facts

    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    calibration_images: int | None = None  # None: the whole calibration split
    calibration_batch: int = 16
    quant_format: Literal["qdq", "qoperator"] = "qdq"
    activation_type: Literal["uint8", "int8"] = "uint8"
    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    symmetric_activations: bool = False
    symmetric_weights: bool = True
    preprocess: bool = True  # onnxruntime's quant_pre_process: shape inference + graph cleanup


class OrtDynamicInt8(OrtRecipe):
    """Weights quantized ahead of time, activations at run time: nothing is calibrated."""

    precision: ClassVar[str] = "int8"
    summary: ClassVar[str] = "dynamic INT8 (weights only quantized ahead of time)"
    Facts: ClassVar[type[BuildFacts]] = OrtDynamicInt8Facts

    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: bool = False


#: recipe name -> Recipe class
RECIPES: dict[str, type[Recipe]] = {
    "fp32": OrtFp32,
    "int8": OrtStaticInt8,
    "int8-dynamic": OrtDynamicInt8,
}
