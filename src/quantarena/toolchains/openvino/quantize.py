"""What both NNCF INT8 paths share: the FP32 model they start from, the calibration dataset, the
``nncf.quantize`` arguments as enums, and the count that shows a model was quantized."""

from __future__ import annotations

from typing import Any

import numpy as np

from quantarena.models.spec import ModelBundle
from quantarena.toolchains.openvino.recipes import OvInt8


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


def count_fake_quantize(model: Any) -> int:
    return sum(1 for op in model.get_ops() if op.get_type_name() == "FakeQuantize")


def nncf_version() -> str:
    import nncf

    return str(nncf.__version__)
