"""Making ONNX Runtime artifacts: a copy of the FP32 export, or an INT8 graph written by
``onnxruntime.quantization``. Each builder returns the artifact with its recipe's facts; the
adapter's base class times the build."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildFacts, Built, Recipe
from quantarena.toolchains.onnxruntime.recipes import (
    OrtDynamicInt8,
    OrtFp32,
    OrtStaticInt8,
    OrtStaticInt8Facts,
)

ARTIFACT = "model.onnx"


def build(bundle: ModelBundle, recipe: Recipe, calibration: ImageArray, workdir: Path) -> Built:
    """Dispatch from the recipe's class to its builder; an unknown class is a programming error."""
    target = workdir / ARTIFACT
    match recipe:
        case OrtFp32():
            return build_fp32(bundle, target)
        case OrtStaticInt8():
            return build_static_int8(bundle, recipe, calibration, target)
        case OrtDynamicInt8():
            return build_dynamic_int8(bundle, recipe, target)
    raise TypeError(f"no ONNX Runtime builder for {type(recipe).__name__}")


def build_fp32(bundle: ModelBundle, target: Path) -> Built:
    """A byte copy, so the artifact is self-contained in the variant's folder."""
    target.write_bytes(bundle.onnx_path.read_bytes())
    return Built(artifact=target, facts=BuildFacts())


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


def build_static_int8(
    bundle: ModelBundle, recipe: OrtStaticInt8, calibration: ImageArray, target: Path
) -> Built:
    from onnxruntime import quantization as q

    source = bundle.onnx_path
    prepared = target.parent / "model.prep.onnx"
    if recipe.preprocess:
        q.quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        source = prepared
    count = recipe.calibration_images
    images = calibration if count is None else calibration.subset(count)
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
    prepared.unlink(missing_ok=True)
    facts = OrtStaticInt8Facts(
        calibration_images_used=len(images),
        format="QDQ" if recipe.quant_format == "qdq" else "QOperator",
    )
    return Built(artifact=target, facts=facts, calibration_images=len(images))


def build_dynamic_int8(bundle: ModelBundle, recipe: OrtDynamicInt8, target: Path) -> Built:
    from onnxruntime import quantization as q

    types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    q.quantize_dynamic(
        str(bundle.onnx_path), str(target), per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range, weight_type=types[recipe.weight_type],
    )
    return Built(artifact=target, facts=BuildFacts())
