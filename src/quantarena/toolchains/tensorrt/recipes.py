"""TensorRT recipes: every knob typed, with the default the results will disclose.

Precision lives in the ONNX graph, not in builder flags: TensorRT 11 removed the weak-typing flags
(``BuilderFlag.FP16``/``INT8``) and the implicit INT8 calibrator, and 10.x deprecates them. So the
FP16 engine is built from an FP16 graph (ModelOpt AutoCast) and the INT8 engine from a Q/DQ graph
(ModelOpt PTQ), both as strongly typed networks; the same code then runs on TensorRT 10 and 11.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from quantarena.toolchains.base import Recipe


class EngineKnobs(Recipe):
    """Builder settings shared by every engine variant."""

    max_batch: int = Field(32, ge=1)  # the optimization profile covers batch 1..max_batch
    opt_batch: int | None = Field(None, ge=1)  # the batch TensorRT tunes kernels for; None: max_batch
    workspace_mb: int = Field(1024, ge=16)  # workspace memory pool limit
    optimization_level: int = Field(3, ge=0, le=5)  # builder_optimization_level (3 is TensorRT's default)
    tf32: bool = True  # allow TF32 math for FP32 layers (TensorRT's default on Ampere and newer)
    timing_cache: str | None = None  # a cache file shared across builds; None: a fresh one per build

    @model_validator(mode="after")
    def _opt_within_profile(self) -> EngineKnobs:
        if self.opt_batch is not None and self.opt_batch > self.max_batch:
            raise ValueError(f"opt_batch ({self.opt_batch}) must not exceed max_batch ({self.max_batch})")
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
    precision: ClassVar[str] = "fp32"
    summary: ClassVar[str] = "FP32 engine (TF32 math unless tf32=false)"


class TrtFp16(EngineKnobs):
    precision: ClassVar[str] = "fp16"
    summary: ClassVar[str] = "FP16 engine from a ModelOpt AutoCast FP16 graph (FP32 I/O)"


class TrtInt8(EngineKnobs, QdqKnobs):
    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "explicit INT8 engine from a ModelOpt Q/DQ graph (calibrated)"

    # Precision of the layers left unquantized. fp32 keeps the graph identical to the one the
    # CPU simulation checks; fp16 is ModelOpt's default and faster on the GPU.
    high_precision_dtype: Literal["fp32", "fp16"] = "fp32"


class TrtInt8Simulated(QdqKnobs):
    """The ``tensorrt:int8`` Q/DQ graph, checked against the explicit-quantization rules and run by
    ONNX Runtime on the CPU. Accuracy is meaningful; speed is not TensorRT's and is not reported."""

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "TensorRT INT8 graph simulated on CPU (ONNX Runtime; accuracy only, no timing)"

    graph_optimization: Literal["all", "extended", "basic", "disabled"] = "all"
