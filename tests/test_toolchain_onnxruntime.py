"""ONNX Runtime adapter on real images: FP32 equals PyTorch, INT8 is calibrated, small, close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from toolchain_checks import build_and_load, predictions, reference_predictions


def test_fp32_matches_pytorch_image_by_image(mv2_bundle, calibration_images, evaluation_images, tmp_path: Path) -> None:
    _, session = build_and_load("onnxruntime:fp32", mv2_bundle, calibration_images, tmp_path)
    np.testing.assert_array_equal(
        predictions(session, evaluation_images), reference_predictions(mv2_bundle, evaluation_images)
    )


def test_static_int8_is_qdq_per_channel_and_a_quarter_of_fp32(
    mv2_bundle, calibration_images, evaluation_images, tmp_path: Path
) -> None:
    result, session = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images, tmp_path)
    assert result.calibration_images == len(calibration_images)
    graph = onnx.load(str(result.artifact)).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    ratio = result.artifact.stat().st_size / mv2_bundle.onnx_path.stat().st_size
    assert 0.2 < ratio < 0.35, ratio
    agreement = np.mean(predictions(session, evaluation_images) == reference_predictions(mv2_bundle, evaluation_images))
    assert agreement > 0.8, agreement


def test_dynamic_int8_builds_and_runs(mv2_bundle, calibration_images, evaluation_images, tmp_path: Path) -> None:
    result, session = build_and_load("onnxruntime:int8-dynamic", mv2_bundle, calibration_images, tmp_path)
    assert result.calibration_images == 0
    logits = session.run(np.ascontiguousarray(evaluation_images.images[:2]))
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()
