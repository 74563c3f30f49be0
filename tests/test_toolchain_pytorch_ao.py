"""PyTorch ``torch.ao.quantization`` variants (eager, FX, dynamic) on real images: INT8 files a
quarter of FP32, predictions close to FP32, artifacts that reload without re-quantizing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from toolchain_checks import build_and_load, predictions, reference_predictions

from quantarena.models.spec import ModelBundle
from quantarena.toolchains import get_toolchain


def _agreement(session, bundle, images) -> float:  # type: ignore[no-untyped-def]
    return float(np.mean(predictions(session, images) == reference_predictions(bundle, images)))


def _size_ratio(artifact: Path, bundle: ModelBundle) -> float:
    assert bundle.torch_state_path is not None
    return artifact.stat().st_size / bundle.torch_state_path.stat().st_size


@pytest.mark.parametrize("variant", ["pytorch:int8-eager", "pytorch:int8-fx"])
def test_static_int8_is_a_quarter_of_fp32_and_agrees(
    variant: str, mv2_bundle, calibration_images, evaluation_images, tmp_path: Path
) -> None:
    result, session = build_and_load(variant, mv2_bundle, calibration_images, tmp_path)
    assert result.calibration_images == len(calibration_images)
    details = result.recipe_details
    assert details["engine"] == "x86"
    assert details["weights"]["granularity"] == "per-channel" and details["weights"]["scheme"] == "symmetric"
    assert details["activations"]["dtype"] == "quint8" and details["activations"]["scheme"] == "affine"
    assert any("torch.ao.quantization is deprecated" in n for n in result.notes), result.notes
    assert 0.2 < _size_ratio(result.artifact, mv2_bundle) < 0.35
    assert session.info["engine"] == "x86"  # type: ignore[attr-defined]
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.7


def test_eager_int8_reloads_in_a_fresh_process(
    mv2_bundle, calibration_images, evaluation_images, tmp_path: Path
) -> None:
    """The artifact alone (no quantizable model class, no calibration) reproduces the logits."""
    result, session = build_and_load("pytorch:int8-eager", mv2_bundle, calibration_images, tmp_path)
    batch = np.ascontiguousarray(evaluation_images.images[:4])
    np.save(tmp_path / "batch.npy", batch)
    script = textwrap.dedent(f"""
        import numpy as np
        from quantarena.toolchains import parse_variant
        toolchain, name = parse_variant("pytorch:int8-eager")
        session = toolchain.load(__import__("pathlib").Path({str(result.artifact)!r}), toolchain.parse_recipe(name), 2)
        np.save({str(tmp_path / "logits.npy")!r}, session.run(np.load({str(tmp_path / "batch.npy")!r})))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), session.run(batch), rtol=1e-5, atol=1e-5)


def test_dynamic_quantizes_only_the_classifier(mv2_bundle, calibration_images, evaluation_images, tmp_path: Path) -> None:
    result, session = build_and_load("pytorch:int8-dynamic", mv2_bundle, calibration_images, tmp_path)
    assert result.calibration_images == 0
    assert result.recipe_details["quantized_layers"] == ["classifier.1"]
    # MobileNetV2's classifier is 1.28M of its 3.5M weights: the file shrinks by about a third.
    assert 0.6 < _size_ratio(result.artifact, mv2_bundle) < 0.85
    assert _agreement(session, mv2_bundle, evaluation_images) > 0.9


def test_eager_mode_needs_a_quantizable_torchvision_model(mv2_bundle) -> None:
    from dataclasses import replace

    toolchain = get_toolchain("pytorch")
    recipe = toolchain.parse_recipe("int8-eager")
    assert toolchain.supports(mv2_bundle, recipe).ok
    assert toolchain.supports(replace(mv2_bundle, torch_arch="resnet50"), recipe).ok
    verdict = toolchain.supports(replace(mv2_bundle, torch_arch="vgg16"), recipe)
    assert not verdict.ok and "quantizable" in verdict.reason
    assert toolchain.supports(replace(mv2_bundle, torch_arch="vgg16"), toolchain.parse_recipe("int8-fx")).ok
    pt2e = toolchain.supports(replace(mv2_bundle, torch_arch="resnet50"), toolchain.parse_recipe("int8-pt2e"))
    assert not pt2e.ok and "in-place residual add" in pt2e.reason


def test_recipes_state_their_knobs_and_requirements() -> None:
    toolchain = get_toolchain("pytorch")
    for name in ("int8-eager", "int8-fx", "int8-pt2e", "int8-qat", "int8-dynamic"):
        assert toolchain.recipes[name].precision == "int8"
    assert toolchain.recipes["int8-pt2e"].requires == ("torchao",)  # type: ignore[attr-defined]
    assert toolchain.recipes["int8-qat"].requires == ("torchao",)  # type: ignore[attr-defined]
    assert toolchain.parse_recipe("int8-qat", {"steps": 8}).steps == 8  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        toolchain.parse_recipe("int8-eager", {"observer": "minmax"})


def test_importing_the_adapter_does_not_import_torch() -> None:
    code = "import sys, quantarena.toolchains.pytorch; from quantarena.toolchains.pytorch import recipes; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
