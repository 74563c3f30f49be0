"""ONNX Runtime recipes: the FP32 export as is, static QDQ INT8 and dynamic INT8, every knob typed
with the default the results disclose, and the facts each build reports.

Knob names follow ``onnxruntime.quantization``'s own arguments, so a result reads like the call
that made it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from quantarena.hardware import Resolved
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Needs, Recipe
from quantarena.tune.space import REMEDY_OPTIONS, Choice, Count, Knob

#: ``SessionOptions.graph_optimization_level``, by name (also used by TensorRT's CPU simulation).
GraphOptimization = Literal["all", "extended", "basic", "disabled"]

#: What kind of arithmetic an ONNX graph asks of ONNX Runtime, which decides whether a session of
#: it has an exact twin: "qdq" (quantize/dequantize pairs around float ops, which ONNX Runtime
#: fuses into integer kernels, or can leave unfused), "qoperator" (integer ops such as
#: ``QLinearConv`` written into the graph), "dynamic" (``ConvInteger``/``MatMulInteger`` with
#: activations quantized at run time) or "fp32". Known from the recipe, never from the file name.
GraphKind = Literal["fp32", "qdq", "qoperator", "dynamic"]

#: Either a bool forcing ``reduce_range``, or "auto": resolved per CPU by the build (on where u8×s8
#: sums can saturate, i.e. x86 without VNNI), which records what it became and why.
ReduceRange = Literal["auto"] | bool

#: ONNX ops whose weights static INT8 quantizes: the layers a mixed-precision fallback can skip
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")

_NEEDS = Needs(packages=("onnxruntime", "onnx"), install="pip install 'quantarena[onnxruntime]'")


class OrtRecipe(Recipe):
    """What every ONNX Runtime variant shares: the CPU execution provider, and how much ONNX
    Runtime may rewrite the graph when the session is created."""

    needs: ClassVar[Needs] = _NEEDS

    graph_optimization: GraphOptimization = "all"

    def graph_kind(self) -> GraphKind:
        """The arithmetic this recipe's artifact asks for (see ``GraphKind``)."""
        return "fp32"


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
    #: ``reduce_range`` as asked ("auto", "true", "false"), the bool the quantizer got, and why:
    #: the remedy for u8×s8 saturation is decided per CPU, so the result names the decision
    saturation_remedy: Resolved


class OrtDynamicInt8Facts(BuildFacts):
    """Which integer operators the dynamic quantizer put in the graph: on the CPU provider a
    ``ConvInteger`` can be slower than the FP32 convolution it replaced, so the mix explains
    the speed."""

    #: op type -> count, e.g. {"ConvInteger": 52, "MatMulInteger": 1, "DynamicQuantizeLinear": 53}
    integer_ops: dict[str, int]
    onnxruntime: str
    #: ``reduce_range`` as asked, what it became on this CPU, and why (as for static INT8)
    saturation_remedy: Resolved


class OrtStaticInt8(OrtRecipe):
    """Static post-training quantization in QDQ format.

    Defaults follow ONNX Runtime's guidance for x86 CPUs: unsigned 8-bit activations with signed
    8-bit weights (U8S8, which VNNI executes natively), per-channel weights, MinMax calibration,
    and ``reduce_range`` (7-bit weights) exactly where ``quantize_static``'s docstring asks for it:
    on x86 without VNNI, whose VPMADDUBSW sums u8×s8 pairs in 16 bits and saturates (measured:
    MobileNetV2 lost 5.5 pp top-1 there, none of it in exact arithmetic). ``reduce_range=false``
    is the vendor's unmitigated default, one knob away.

    Version 2: ``reduce_range`` became ``"auto"`` (was ``False``), resolved per CPU by the build.
    """

    version: ClassVar[int] = 2
    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "static QDQ INT8 (per-channel weights, calibrated)"
    Facts: ClassVar[type[BuildFacts]] = OrtStaticInt8Facts
    search_space: ClassVar[tuple[Knob, ...]] = (
        Choice("calibration_method", ("minmax", "entropy", "percentile")),
        Count("calibration_images", low=16),
        Choice("per_channel", (True, False)),
        Choice("symmetric_activations", (False, True)),
        Choice("reduce_range", REMEDY_OPTIONS),
    )

    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    # None: the whole calibration split; a count keeps the first N images of it
    calibration_images: int | None = Field(default=None, ge=1)
    calibration_batch: int = Field(default=16, ge=1)
    quant_format: Literal["qdq", "qoperator"] = "qdq"
    activation_type: Literal["uint8", "int8"] = "uint8"
    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: ReduceRange = "auto"
    symmetric_activations: bool = False
    symmetric_weights: bool = True
    preprocess: bool = True  # onnxruntime's quant_pre_process: shape inference + graph cleanup
    # Node names left in FP32 (``quantize_static``'s ``nodes_to_exclude``): mixed precision.
    nodes_to_exclude: tuple[str, ...] = ()

    layer_knob: ClassVar[str | None] = "nodes_to_exclude"
    study_cost_s: ClassVar[dict[str | None, tuple[float, float]]] = {
        "minmax": (6.5, 0.02), "entropy": (5.0, 0.19), "percentile": (5.0, 0.19),
    }

    @classmethod
    def layers(cls, bundle: ModelBundle) -> list[str]:
        """The nodes whose weights the quantizer makes INT8 (Conv, Gemm, MatMul), by name."""
        import onnx

        graph = onnx.load(str(bundle.onnx_path), load_external_data=False).graph
        return [n.name for n in graph.node if n.op_type in QUANTIZED_OPS]

    def graph_kind(self) -> GraphKind:
        return "qdq" if self.quant_format == "qdq" else "qoperator"


class OrtDynamicInt8(OrtRecipe):
    """Weights quantized ahead of time, activations at run time: nothing is calibrated.

    ``reduce_range`` resolves per CPU as for static INT8: ``quantize_dynamic`` documents the same
    7-bit-weight remedy for non-VNNI machines, and its ``ConvInteger``/``MatMulInteger`` run the
    same u8×s8 kernels (activations quantized at run time to uint8 over their full observed range,
    so the 16-bit sums of VPMADDUBSW are if anything more exposed, not less).

    Version 2: ``reduce_range`` became ``"auto"`` (was ``False``), resolved per CPU by the build.
    """

    version: ClassVar[int] = 2
    precision: ClassVar[str] = "int8"
    summary: ClassVar[str] = "dynamic INT8 (weights only quantized ahead of time)"
    Facts: ClassVar[type[BuildFacts]] = OrtDynamicInt8Facts

    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: ReduceRange = "auto"

    def graph_kind(self) -> GraphKind:
        return "dynamic"


#: recipe name -> Recipe class
RECIPES: dict[str, type[Recipe]] = {
    "fp32": OrtFp32,
    "int8": OrtStaticInt8,
    "int8-dynamic": OrtDynamicInt8,
}
