"""TensorRT recipes: every knob typed, with the default the results will disclose, and the facts
each build reports (nested: the Q/DQ graph, the AutoCast graph, the engine).

Precision lives in the ONNX graph, not in builder flags: TensorRT 11 removed the weak-typing flags
(``BuilderFlag.FP16``/``INT8``) and the implicit INT8 calibrator, and 10.x deprecates them. So the
FP16 engine is built from an FP16 graph (ModelOpt AutoCast) and the INT8 engine from a Q/DQ graph
(ModelOpt PTQ), both as strongly typed networks; the same code then runs on TensorRT 10 and 11.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantarena.toolchains.base import BuildFacts, Needs, Recipe
from quantarena.toolchains.onnxruntime.recipes import GraphOptimization
from quantarena.tune.space import Choice, Count, Knob

#: Why the simulated variant reports no latency, throughput or energy.
SIMULATED_TIMING = "graph simulated on CPU with ONNX Runtime; not TensorRT speed"
_SIMULATION_HINT = "; tensorrt:int8-simulated checks this INT8 graph on the CPU"
# torch provides the CUDA buffers and stream the engine runs with (see ``runtime``).
_ENGINE_INSTALL = "pip install 'quantarena[tensorrt,torch]'"
# ModelOpt's [onnx] extra would replace the CPU onnxruntime with onnxruntime-gpu: --no-deps.
_MODELOPT_INSTALL = "pip install --no-deps nvidia-modelopt==0.47.0 -r requirements/tensorrt.txt"
_ENGINE = ("tensorrt", "torch")


class _Block(BaseModel):
    """A group of facts nested in a recipe's facts: unknown keys refused, as in ``BuildFacts``."""

    model_config = ConfigDict(extra="forbid")


class ProfileShapes(_Block):
    """One input's optimization profile: the batch runs 1..max, kernels are tuned for opt."""

    min: list[int]
    opt: list[int]
    max: list[int]


class EngineFacts(_Block):
    """How the engine was built: what the results disclose next to the builder knobs."""

    tensorrt: str
    strongly_typed: bool = True  # the graph's types decide each layer's precision
    profile: dict[str, ProfileShapes]  # input name -> shapes
    tf32: bool  # TF32 math allowed for FP32 layers (asked for and available)
    timing_cache: str
    #: the TensorRT builder alone (the build's total also counts graph export and calibration)
    engine_build_seconds: float


class QdqGraphFacts(_Block):
    """The ModelOpt Q/DQ graph an INT8 engine (or its simulation) is made from."""

    quantizer: Literal["nvidia-modelopt"] = "nvidia-modelopt"
    high_precision_dtype: Literal["fp32", "fp16"]
    calibration_images_used: int
    quantized_layers: int
    #: layers ModelOpt left unquantized on purpose (e.g. a GEMV-shaped classifier)
    layers_kept_in_high_precision: list[str]
    #: the build fails when a TensorRT explicit-quantization rule is broken
    qdq_rules: Literal["passed"] = "passed"


class AutocastFacts(_Block):
    """ModelOpt AutoCast's FP16 graph: initializer counts show what stayed FP32."""

    low_precision_type: Literal["fp16"] = "fp16"
    keep_io_types: bool = True  # FP32 inputs and outputs
    initializers_by_type: dict[str, int]


class TrtFp32Facts(BuildFacts):
    engine: EngineFacts


class TrtFp16Facts(BuildFacts):
    autocast: AutocastFacts
    engine: EngineFacts


class TrtInt8Facts(BuildFacts):
    graph: QdqGraphFacts
    engine: EngineFacts


#: What runs the simulated graph, and in which arithmetic: TensorRT sums INT8 products in 32 bits,
#: so the simulation keeps ONNX Runtime's Q/DQ pairs unfused rather than let the CPU's integer
#: kernels (16-bit saturating sums without VNNI) score TensorRT's graph.
SIMULATION_EXECUTED_BY = (
    "onnxruntime CPUExecutionProvider in exact arithmetic (session.disable_quant_qdq=1: float "
    "math between exact quantize/dequantize, as TensorRT's 32-bit INT8 accumulation; "
    "simulation, no TensorRT)"
)


class TrtInt8SimulatedFacts(BuildFacts):
    graph: QdqGraphFacts
    executed_by: str = SIMULATION_EXECUTED_BY


class EngineKnobs(Recipe):
    """Builder settings shared by every engine variant."""

    # the optimization profile covers batch 1..max_batch
    max_batch: int = Field(64, ge=1)  # covers --device cuda's batch-64 throughput pass
    # the batch TensorRT tunes kernels for; None: max_batch
    opt_batch: int | None = Field(None, ge=1)
    # workspace memory pool limit
    workspace_mb: int = Field(1024, ge=16)
    # builder_optimization_level (3 is TensorRT's default)
    optimization_level: int = Field(3, ge=0, le=5)
    # allow TF32 math for FP32 layers (TensorRT's default on Ampere and newer)
    tf32: bool = True
    # a cache file shared across builds; None: a fresh one per build
    timing_cache: str | None = None

    @model_validator(mode="after")
    def _opt_within_profile(self) -> EngineKnobs:
        if self.opt_batch is not None and self.opt_batch > self.max_batch:
            raise ValueError(f"opt_batch ({self.opt_batch}) must not exceed "
                             f"max_batch ({self.max_batch})")
        return self


class QdqKnobs(Recipe):
    """How ModelOpt makes the Q/DQ INT8 graph (TensorRT's rules: symmetric INT8, per-channel
    weights, residual adds quantized); shared by the engine and the CPU simulation."""

    calibration_method: Literal["entropy", "max"] = "entropy"
    calibration_images: int | None = Field(None, ge=1)  # None: the whole calibration split
    # Weights as INT8 initializers behind DequantizeLinear (False: FP32 weights with Q/DQ pairs).
    # Either way TensorRT stores INT8 weights; True keeps the ONNX file's size honest too.
    dq_only: bool = True


class TrtFp32(EngineKnobs):
    """The FP32 export as an engine. Not an FP32 reference: TensorRT runs FP32 layers in TF32 on
    the GPU by default, and a GPU is not where the other variants run."""

    precision: ClassVar[str] = "fp32"
    summary: ClassVar[str] = "FP32 engine (TF32 math unless tf32=false)"
    needs: ClassVar[Needs] = Needs(packages=_ENGINE, install=_ENGINE_INSTALL, gpu=True)
    Facts: ClassVar[type[BuildFacts]] = TrtFp32Facts


class TrtFp16(EngineKnobs):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "FP16 engine from a ModelOpt AutoCast FP16 graph (FP32 I/O)"
    needs: ClassVar[Needs] = Needs(
        packages=(*_ENGINE, "modelopt"), install=f"{_ENGINE_INSTALL}; {_MODELOPT_INSTALL}",
        gpu=True,
    )
    Facts: ClassVar[type[BuildFacts]] = TrtFp16Facts


class TrtInt8(EngineKnobs, QdqKnobs):
    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "explicit INT8 engine from a ModelOpt Q/DQ graph (calibrated)"
    needs: ClassVar[Needs] = Needs(
        packages=(*_ENGINE, "modelopt"),
        install=f"{_ENGINE_INSTALL}; {_MODELOPT_INSTALL}{_SIMULATION_HINT}",
        gpu=True, gpu_hint=_SIMULATION_HINT,
    )
    Facts: ClassVar[type[BuildFacts]] = TrtInt8Facts

    # Precision of the layers left unquantized. fp32 keeps the graph identical to the one the
    # CPU simulation checks; fp16 is ModelOpt's default and faster on the GPU.
    high_precision_dtype: Literal["fp32", "fp16"] = "fp32"


class TrtInt8Simulated(QdqKnobs):
    """The ``tensorrt:int8`` Q/DQ graph, checked against the explicit-quantization rules and run by
    ONNX Runtime on the CPU in exact arithmetic (Q/DQ pairs unfused, as TensorRT's 32-bit INT8
    accumulation: the CPU's saturating integer kernels are not TensorRT's). Accuracy is
    meaningful; speed is not TensorRT's and is not reported."""

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = (
        "TensorRT INT8 graph simulated on CPU (ONNX Runtime, exact arithmetic; accuracy only, "
        "no timing)"
    )
    needs: ClassVar[Needs] = Needs(
        packages=("onnx", "onnxruntime", "modelopt"),
        install=f"pip install 'quantarena[onnxruntime]'; {_MODELOPT_INSTALL}",
    )
    speed_unavailable: ClassVar[str | None] = SIMULATED_TIMING
    Facts: ClassVar[type[BuildFacts]] = TrtInt8SimulatedFacts
    study_cost_s: ClassVar[dict[str | None, tuple[float, float]]] = {
        "entropy": (9.0, 0.10), "max": (8.5, 0.02),
    }
    search_space: ClassVar[tuple[Knob, ...]] = (
        Choice("calibration_method", ("entropy", "max")),
        Count("calibration_images", low=16),
    )

    graph_optimization: GraphOptimization = "all"


#: recipe name -> Recipe class
RECIPES: dict[str, type[Recipe]] = {
    "fp32": TrtFp32,
    "fp16": TrtFp16,
    "int8": TrtInt8,
    "int8-simulated": TrtInt8Simulated,
}
