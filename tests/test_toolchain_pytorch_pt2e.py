"""PyTorch 2 export paths on real images: PT2E INT8 runs real INT8 kernels under Inductor, the
compiled FP32 baseline matches eager FP32, QAT really trains (loss down, weights moved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.data.cache import ImageArray
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import Session
from toolchain_checks import build_and_load, predictions, reference_predictions

# Compiled sessions are specialized to one batch size: batch 1 is compiled during load, so the
# checks use it rather than paying a second compile for another size.
COMPILED_BATCH = 1


def _agreement(session: Session, bundle: ModelBundle, images: ImageArray) -> float:
    ours = predictions(session, images, batch=COMPILED_BATCH)
    return float(np.mean(ours == reference_predictions(bundle, images)))


@pytest.mark.slow
def test_pt2e_int8_compiles_to_int8_kernels_and_agrees(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "pytorch:int8-pt2e", mv2_bundle, calibration_images, tmp_path
    )
    assert result.calibration_images == len(calibration_images)
    assert result.artifact.suffix == ".pt2"
    facts = result.facts
    assert facts["weights"]["granularity"] == "per-channel"
    assert facts["activations"]["dtype"] == "uint8"
    assert facts["fp32_tensors_dropped"] > 0
    assert facts["compiler"] == "inductor with freezing, at load"
    info = session.info()
    assert info["freezing"] is True and "during load" in info["compiled"]
    assert isinstance(info["load_notes"], list)
    assert info["format"] == "torch.export program (.pt2)"
    # Inductor packed every convolution's weights for oneDNN INT8 (52 in MobileNetV2).
    assert info["int8_kernels"]["qconv_weight_prepack"] >= 52
    # int8 weights plus the serialized graph; the replaced FP32 weights are not saved.
    assert mv2_bundle.torch_state_path is not None
    ratio = result.artifact.stat().st_size / mv2_bundle.torch_state_path.stat().st_size
    assert 0.2 < ratio < 0.4, ratio
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.7


@pytest.mark.slow
def test_compiled_fp32_matches_eager(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "pytorch:fp32-compiled", mv2_bundle, calibration_images, tmp_path
    )
    assert result.calibration_images == 0
    assert result.facts["compiler"] == "inductor with freezing, at load"
    assert "int8_kernels" not in session.info()  # only quantized programs count INT8 kernels
    batch = np.ascontiguousarray(evaluation_images.images[:1])
    from quantarena.toolchains.pytorch._common import fp32_module
    from quantarena.toolchains.pytorch.runtime import TorchModuleSession

    eager = TorchModuleSession(fp32_module(mv2_bundle)).run(batch)
    ours = session.run(batch)
    np.testing.assert_allclose(ours, eager, rtol=1e-3, atol=1e-3)
    # The compiled module called directly gives what run() gives.
    raw = session.raw_call(batch)()
    np.testing.assert_allclose(np.asarray(raw), ours, rtol=1e-6, atol=1e-6)
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.95


@pytest.mark.slow
def test_qat_trains_on_calibration_images_and_converts(
    mv2_bundle: ModelBundle,
    calibration_images: ImageArray,
    evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    options = {"steps": 8, "batch_size": 8}
    result, session = build_and_load(
        "pytorch:int8-qat", mv2_bundle, calibration_images, tmp_path, options
    )
    facts = result.facts
    assert result.calibration_images == len(calibration_images)
    # steps=8: one loss per step; the knobs themselves stay in the recipe, not among the facts.
    assert len(facts["loss_history"]) == 8 and "steps" not in facts
    # The distillation loss on all training images went down, and the weights really moved.
    assert facts["loss_all_images_after"] < facts["loss_all_images_before"], facts
    assert facts["weights_changed_fraction"] > 0.5
    assert facts["observers_frozen_at_step"] == 4 and facts["batchnorm_frozen_at_step"] == 0
    assert set(facts["seconds"]) == {"export_and_prepare", "training", "convert_and_save"}
    assert session.info()["int8_kernels"]["qconv_weight_prepack"] >= 52
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.7
