"""OpenVINO adapter on real images: FP32 IR equals PyTorch in f32, INT8 IR is a quarter of the
size and agrees, accuracy control reports what it reverted and the drop it measured; sessions
report what ran, ``raw_call`` is the bare runtime, load errors are one line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import BuildFacts, BuildOutcome, Session, get_toolchain
from quantarena.toolchains.openvino import OvFp32
from toolchain_checks import build_and_load, predictions, reference_predictions

Built = tuple[BuildOutcome, Session]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None or importlib.util.find_spec("nncf") is None,
    reason="openvino/nncf not installed",
)


@pytest.fixture(scope="module")
def reference(mv2_bundle: ModelBundle, evaluation_images: ImageArray) -> np.ndarray:
    return reference_predictions(mv2_bundle, evaluation_images)


@pytest.fixture(scope="module")
def fp32(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    workdir = tmp_path_factory.mktemp("ov-fp32")
    return build_and_load("openvino:fp32", mv2_bundle, calibration_images, workdir)


@pytest.fixture(scope="module")
def int8(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    workdir = tmp_path_factory.mktemp("ov-int8")
    return build_and_load("openvino:int8", mv2_bundle, calibration_images, workdir)


def _bin_size(artifact: Path) -> int:
    files = get_toolchain("openvino").artifact_files(artifact)
    assert {p.suffix for p in files} == {".xml", ".bin"}, files
    return next(p for p in files if p.suffix == ".bin").stat().st_size


def test_import_does_not_import_openvino() -> None:
    code = (
        "import sys, quantarena.toolchains.openvino\n"
        "assert not {'openvino', 'nncf'} & set(sys.modules), 'runtime imported at module level'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_declarations() -> None:
    toolchain = get_toolchain("openvino")
    assert toolchain.title == "OpenVINO"
    recipes = toolchain.recipes
    assert recipes["fp32"].reference_rank == 2
    assert all(recipes[r].reference_rank is None for r in ("int8", "int8-accuracy-control"))
    assert recipes["fp32"].needs.packages == ("openvino",)
    assert recipes["int8"].needs.packages == ("openvino", "nncf")
    assert recipes["int8-accuracy-control"].needs.packages == ("openvino", "nncf")
    facts = [r.Facts for r in recipes.values()]
    assert len(set(facts)) == len(facts) and BuildFacts not in facts
    for recipe in recipes.values():  # a fact named like a knob would read as if it was asked for
        assert not set(recipe.Facts.model_fields) & set(recipe.model_fields), recipe.__name__


def test_fp32_ir_matches_pytorch_image_by_image(
    fp32: Built, evaluation_images: ImageArray, reference: np.ndarray
) -> None:
    result, session = fp32
    assert result.artifact.suffix == ".xml" and result.artifact.with_suffix(".bin").is_file()
    assert result.files == [result.artifact, result.artifact.with_suffix(".bin")]
    assert result.facts == {"ir_weights": "f32"} and result.calibration_images == 0
    np.testing.assert_array_equal(predictions(session, evaluation_images), reference)


def test_fp32_runs_in_f32_with_the_requested_threads(fp32: Built) -> None:
    _, session = fp32
    info = session.info()
    assert info["inference_precision"] == "f32"
    assert info["inference_num_threads"] == 2
    assert info["num_streams"] == 1
    assert info["performance_hint"] == "LATENCY"
    assert set(info["compute_layer_precisions"]) == {"f32"}, info


def test_raw_call_is_the_bare_runtime_with_the_same_output(
    fp32: Built, evaluation_images: ImageArray
) -> None:
    _, session = fp32
    batch = np.ascontiguousarray(evaluation_images.images[:2], dtype=np.float32)
    call = session.raw_call(batch)
    expected = session.run(batch)
    raw: Any = call()
    assert not isinstance(raw, np.ndarray)  # the infer request's own result (an OVDict)
    np.testing.assert_array_equal(np.asarray(raw[0]), expected)
    # the raw call has its own infer request: run on other images in between does not touch it
    session.run(np.ascontiguousarray(evaluation_images.images[2:4], dtype=np.float32))
    again: Any = call()
    np.testing.assert_array_equal(np.asarray(again[0]), expected)


def test_corrupt_ir_is_one_line_naming_the_runtime(tmp_path: Path) -> None:
    broken = tmp_path / "model.xml"
    broken.write_text("<net name='broken'><layers><layer id='0'\n" * 4)
    with pytest.raises(ModelError) as caught:
        get_toolchain("openvino").load(broken, OvFp32(), 1)
    message = str(caught.value)
    assert message.startswith("OpenVINO cannot load model.xml: ") and "\n" not in message


def test_fp32_ir_keeps_fp32_weights(fp32: Built, mv2_bundle: ModelBundle) -> None:
    """``save_model`` halves weights by default; the FP32 IR must be about the ONNX size."""
    result, _ = fp32
    ratio = _bin_size(result.artifact) / mv2_bundle.onnx_path.stat().st_size
    assert 0.9 < ratio < 1.1, ratio


def test_int8_is_a_quarter_of_fp32_and_agrees(
    fp32: Built, int8: Built, calibration_images: ImageArray, evaluation_images: ImageArray,
    reference: np.ndarray,
) -> None:
    result, session = int8
    assert result.calibration_images == len(calibration_images)
    assert result.facts["fake_quantize_nodes"] > 0
    assert result.facts["calibration_images_used"] == len(calibration_images)
    import nncf

    assert result.facts["nncf"] == nncf.__version__
    ratio = _bin_size(result.artifact) / _bin_size(fp32[0].artifact)
    assert 0.2 < ratio < 0.35, ratio
    agreement = np.mean(predictions(session, evaluation_images) == reference)
    assert agreement > 0.8, agreement
    info = session.info()
    assert (info["inference_precision"], info["num_streams"]) == ("f32", 1)
    precisions = info["compute_layer_precisions"]
    assert precisions.get("u8", 0) + precisions.get("i8", 0) > sum(precisions.values()) / 2, info


def test_accuracy_control_reports_reverted_layers_and_drop(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, evaluation_images: ImageArray,
    reference: np.ndarray, tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "openvino:int8-accuracy-control", mv2_bundle, calibration_images, tmp_path,
        options={"max_num_iterations": 2},
    )
    details = result.facts
    assert isinstance(details["reverted_layers"], list)
    assert details["validation_images"] + result.calibration_images == len(calibration_images)
    assert details["calibration_images_used"] == result.calibration_images
    assert details["fake_quantize_nodes"] > 0
    assert not (tmp_path / "accuracy-control-intermediate").exists()
    drop = details["validation_top1_fp32"] - details["validation_top1"]
    assert details["validation_drop"] == pytest.approx(drop)
    reverted = len(details["reverted_layers"])
    assert details["quantized_layers"] == details["quantized_layers_before_restore"] - reverted
    assert np.mean(predictions(session, evaluation_images) == reference) > 0.8


def test_accuracy_control_reverts_layers_of_a_poorly_calibrated_model(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """One calibration image and no drop allowed: NNCF must revert layers (if the quantized model
    lost anything on the validation images), and the reverted names are real graph ops."""
    options = {
        "subset_size": 1, "max_drop": 0.0, "max_num_iterations": 3, "validation_fraction": 0.5,
    }
    result, _ = build_and_load(
        "openvino:int8-accuracy-control", mv2_bundle, calibration_images, tmp_path, options=options
    )
    details = result.facts
    assert details["validation_images"] == 16 and result.calibration_images == 1
    if details["validation_drop_before_restore"] > 0:
        assert details["reverted_layers"], details
        assert details["validation_drop"] <= details["validation_drop_before_restore"]
    import openvino as ov

    model = ov.Core().read_model(str(result.artifact))
    assert set(details["reverted_layers"]) <= {op.get_friendly_name() for op in model.get_ops()}


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a)
    )


def test_missing_nncf_makes_int8_unavailable_but_not_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "nncf")
    toolchain = get_toolchain("openvino")
    assert toolchain.unavailable("fp32") is None
    for recipe in ("int8", "int8-accuracy-control"):
        status = toolchain.unavailable(recipe)
        assert status is not None
        assert status.reason == "nncf not installed (pip install 'quantarena[openvino]')"


def test_missing_openvino_makes_every_variant_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "openvino")
    toolchain = get_toolchain("openvino")
    for recipe in toolchain.recipes:
        status = toolchain.unavailable(recipe)
        assert status is not None and status.reason.startswith("openvino not installed"), status
