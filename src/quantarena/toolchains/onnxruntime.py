"""ONNX Runtime: the FP32 export as is, and static QDQ INT8 from ``onnxruntime.quantization``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult, Recipe, Session, Toolchain


class OrtFp32(Recipe):
    summary: ClassVar[str] = "FP32 ONNX export on the CPU execution provider"
    graph_optimization: Literal["all", "extended", "basic", "disabled"] = "all"


class OrtStaticInt8(Recipe):
    """Static post-training quantization in QDQ format.

    Defaults follow ONNX Runtime's guidance for x86 CPUs: unsigned 8-bit activations with signed
    8-bit weights (U8S8, which VNNI executes natively), per-channel weights, MinMax calibration.
    """

    precision: ClassVar[str] = "int8"
    calibrates: ClassVar[bool] = True
    summary: ClassVar[str] = "static QDQ INT8 (per-channel weights, calibrated)"

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
    graph_optimization: Literal["all", "extended", "basic", "disabled"] = "all"


class OrtDynamicInt8(Recipe):
    precision: ClassVar[str] = "int8"
    summary: ClassVar[str] = "dynamic INT8 (weights only quantized ahead of time)"
    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    graph_optimization: Literal["all", "extended", "basic", "disabled"] = "all"


class OrtSession:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]  # type: ignore[no-any-return]


class _Reader:
    """``CalibrationDataReader`` over preprocessed calibration images."""

    def __init__(self, images: ImageArray, input_name: str, batch: int) -> None:
        self.batches = iter(images.batches(batch, pad=False))
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        item = next(self.batches, None)
        return None if item is None else {self.input_name: item[0]}

    def rewind(self) -> None:  # pragma: no cover - only some calibrators call it
        raise RuntimeError("calibration data is single-pass")


class OnnxRuntimeToolchain(Toolchain):
    name: ClassVar[str] = "onnxruntime"
    recipes: ClassVar[dict[str, type[Recipe]]] = {
        "fp32": OrtFp32,
        "int8": OrtStaticInt8,
        "int8-dynamic": OrtDynamicInt8,
    }
    requires: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx")
    packages: ClassVar[tuple[str, ...]] = ("onnxruntime", "onnx")
    extra: ClassVar[str] = "onnxruntime"

    def build(
        self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path
    ) -> BuildResult:
        start = time.perf_counter()
        target = workdir / "model.onnx"
        if isinstance(recipe, OrtFp32):
            target.write_bytes(bundle.onnx_path.read_bytes())
            return BuildResult(artifact=target, seconds=time.perf_counter() - start)
        if isinstance(recipe, OrtDynamicInt8):
            return self._build_dynamic(bundle, recipe, target, start)
        assert isinstance(recipe, OrtStaticInt8)
        return self._build_static(bundle, recipe, calibration, workdir, target, start)

    def _build_static(
        self, bundle: ModelBundle, recipe: OrtStaticInt8, calibration: ImageArray,
        workdir: Path, target: Path, start: float,
    ) -> BuildResult:
        from onnxruntime import quantization as q

        source = bundle.onnx_path
        if recipe.preprocess:
            prepared = workdir / "model.prep.onnx"
            q.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            source = prepared
        images = calibration if recipe.calibration_images is None else calibration.subset(recipe.calibration_images)
        methods = {
            "minmax": q.CalibrationMethod.MinMax,
            "entropy": q.CalibrationMethod.Entropy,
            "percentile": q.CalibrationMethod.Percentile,
        }
        types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
        q.quantize_static(
            str(source), str(target),
            _Reader(images, bundle.input_name, recipe.calibration_batch),
            quant_format=q.QuantFormat.QDQ if recipe.quant_format == "qdq" else q.QuantFormat.QOperator,
            per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range,
            activation_type=types[recipe.activation_type],
            weight_type=types[recipe.weight_type],
            calibrate_method=methods[recipe.calibration_method],
            extra_options={
                "ActivationSymmetric": recipe.symmetric_activations,
                "WeightSymmetric": recipe.symmetric_weights,
            },
        )
        if recipe.preprocess:
            (workdir / "model.prep.onnx").unlink(missing_ok=True)
        return BuildResult(
            artifact=target, seconds=time.perf_counter() - start, calibration_images=len(images),
            recipe_details={"calibration_images_used": len(images), "format": "QDQ" if recipe.quant_format == "qdq" else "QOperator"},
        )

    def _build_dynamic(
        self, bundle: ModelBundle, recipe: OrtDynamicInt8, target: Path, start: float
    ) -> BuildResult:
        from onnxruntime import quantization as q

        types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
        q.quantize_dynamic(
            str(bundle.onnx_path), str(target), per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range, weight_type=types[recipe.weight_type],
        )
        return BuildResult(artifact=target, seconds=time.perf_counter() - start)

    def load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        import onnxruntime as ort

        levels = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = levels[getattr(recipe, "graph_optimization", "all")]
        try:
            session = ort.InferenceSession(str(artifact), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            from quantarena.errors import ModelError

            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"ONNX Runtime cannot load {artifact.name}: {first}") from exc
        return OrtSession(session)

    def runtime_info(self, session: Session) -> dict[str, Any]:
        import onnxruntime as ort

        assert isinstance(session, OrtSession)
        return {"providers": session.session.get_providers(), "onnxruntime": ort.__version__}
