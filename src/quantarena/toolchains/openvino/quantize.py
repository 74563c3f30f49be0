"""FP32 IR conversion and ``nncf.quantize`` INT8, both from the bundle's FP32 ONNX export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains.base import BuildResult
from quantarena.toolchains.openvino.recipes import OvFp32, OvInt8
from quantarena.toolchains.openvino.runtime import save_ir

ARTIFACT = "model.xml"


def read_fp32(bundle: ModelBundle) -> Any:
    """The ONNX export as an ``ov.Model`` (dynamic batch kept, so any batch size runs)."""
    import openvino as ov

    return ov.convert_model(str(bundle.onnx_path))


def nncf_dataset(images: np.ndarray) -> Any:
    """One image per item: NNCF counts ``subset_size`` in items, so items are images."""
    import nncf

    def image(i: int) -> np.ndarray:
        return np.ascontiguousarray(images[i : i + 1], dtype=np.float32)

    return nncf.Dataset(range(len(images)), image)


def quantize_kwargs(recipe: OvInt8, calibration_count: int) -> dict[str, Any]:
    """The NNCF keyword arguments both INT8 recipes share, as enums."""
    import nncf

    return {
        "preset": nncf.QuantizationPreset(recipe.preset),
        "target_device": nncf.TargetDevice(recipe.target_device.upper()),
        "subset_size": min(recipe.subset_size or calibration_count, calibration_count),
        "fast_bias_correction": recipe.fast_bias_correction,
        "model_type": nncf.ModelType(recipe.model_type) if recipe.model_type else None,
    }


def build_fp32(bundle: ModelBundle, recipe: OvFp32, workdir: Path) -> BuildResult:
    start = time.perf_counter()
    target = workdir / ARTIFACT
    save_ir(read_fp32(bundle), target)
    return BuildResult(
        artifact=target, seconds=time.perf_counter() - start,
        recipe_details={"ir_weights": "f32"},
    )


def build_int8(
    bundle: ModelBundle, recipe: OvInt8, calibration: ImageArray, workdir: Path
) -> BuildResult:
    import nncf

    start = time.perf_counter()
    kwargs = quantize_kwargs(recipe, len(calibration))
    quantized = nncf.quantize(read_fp32(bundle), nncf_dataset(calibration.images), **kwargs)
    target = workdir / ARTIFACT
    save_ir(quantized, target)
    used = kwargs["subset_size"]
    return BuildResult(
        artifact=target, seconds=time.perf_counter() - start, calibration_images=used,
        recipe_details={
            "calibration_images_used": used,
            "fake_quantize_nodes": count_fake_quantize(quantized),
            "nncf": nncf.__version__,
        },
    )


def count_fake_quantize(model: Any) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")
