"""OpenVINO adapter on real images: FP32 IR equals PyTorch in f32, INT8 IR is a quarter of the
size and agrees, accuracy control reports what it reverted and the drop it measured; sessions
report what ran, ``raw_call`` is the bare runtime, load errors are one line. NNCF's overflow fix
resolves per CPU and reaches NNCF (read back from the IR: NNCF's own record of its arguments and
the int8 weight ranges it wrote); exact twins run the INT8 grid in f32 arithmetic."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantarena import hardware
from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import BuildOutcome, Session, get_toolchain
from quantarena.toolchains.openvino import OvFp32, OvInt8, OvSession
from toolchain_checks import build_and_load, predictions, reference_predictions

Built = tuple[BuildOutcome, Session]
#: an AVX2 CPU without VNNI: u8×s8 pair sums saturate in 16 bits
AVX2 = hardware.int8_arithmetic("x86_64", {"avx2", "fma"})
VNNI = hardware.int8_arithmetic("x86_64", {"avx2", "avx512bw", "avx512_vnni"})
#: the largest |int8 weight| of a layer whose range NNCF halved (127 * 127/254, rounded)
HALF_RANGE = 64

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


@pytest.fixture(scope="module")
def int8_on_avx2(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[BuildOutcome, list[Any]]:
    """``openvino:int8`` built as on an AVX2 CPU without VNNI (``hardware.this_cpu`` faked), with
    the ``advanced_parameters`` every ``nncf.quantize`` call received."""
    import nncf

    real = nncf.quantize
    seen: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("advanced_parameters"))
        return real(*args, **kwargs)

    workdir = tmp_path_factory.mktemp("ov-int8-avx2")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hardware, "this_cpu", lambda: AVX2)
        patch.setattr(nncf, "quantize", spy)
        toolchain = get_toolchain("openvino")
        result = toolchain.build(mv2_bundle, OvInt8(), calibration_images, workdir)
    return result, seen


def _nncf_argument(xml: Path, name: str) -> str:
    """The overflow fix NNCF recorded in the IR (``dump_parameters`` stores its advanced
    parameters as one string, under ``nncf/quantization/<argument name>``)."""
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    text = model.get_rt_info(["nncf", "quantization", name]).astype(str)
    found = re.search(r"'overflow_fix': '(\w+)'", text)
    assert found, text
    return found.group(1)


def _weight_ranges(xml: Path) -> list[tuple[str, int]]:
    """(kind, largest |int8 weight|) of each convolution and MatMul with int8 weights, in graph
    order; kind "depthwise" for a GroupConvolution with one channel per group. NNCF's symmetric
    weights reach 127; at most 64 where its overflow fix halved the range."""
    import openvino as ov

    def int8_constant(node: Any, depth: int = 0) -> Any:
        kind = node.get_type_name()
        if kind == "Constant":
            return node if node.get_output_element_type(0).get_type_name() == "i8" else None
        if depth > 4 or kind not in {"Convert", "Multiply", "Subtract", "Reshape", "Transpose"}:
            return None
        for i in range(node.get_input_size()):
            found = int8_constant(node.input(i).get_source_output().get_node(), depth + 1)
            if found is not None:
                return found
        return None

    ranges = []
    for op in ov.Core().read_model(str(xml)).get_ordered_ops():
        kind = op.get_type_name()
        if kind not in {"Convolution", "GroupConvolution", "MatMul"}:
            continue
        for port in range(op.get_input_size()):
            weights = int8_constant(op.input(port).get_source_output().get_node())
            if weights is None:
                continue
            data = weights.get_data().astype(np.int32)
            if kind == "GroupConvolution" and data.shape[1] == data.shape[2] == 1:
                kind = "depthwise"  # GroupConvolution weights: [groups, out/group, in/group, ...]
            ranges.append((kind, int(np.abs(data).max())))
    return ranges


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
    for name in ("int8", "int8-accuracy-control"):  # overflow_fix changed what a build does
        assert recipes[name].version == 2
        assert recipes[name]().overflow_fix == "auto"
        assert "saturation_remedy" in recipes[name].Facts.model_fields


def test_overflow_fix_resolves_per_cpu_to_what_nncf_is_given() -> None:
    """``auto``: "enable" where u8×s8 sums saturate, NNCF's own default elsewhere; any other
    value as asked, on any CPU; the value reaches NNCF as its ``OverflowFix`` member."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.algorithms.min_max.algorithm import MinMaxQuantization

    from quantarena.toolchains.openvino.quantize import (
        advanced_parameters,
        nncf_default_overflow_fix,
        resolve_overflow_fix,
    )

    # NNCF's default as NNCF itself resolves it when given none (its min-max algorithm)
    default = MinMaxQuantization(overflow_fix=None)._overflow_fix
    assert nncf_default_overflow_fix() == default.name.lower() == "first_layer"
    on_avx2 = resolve_overflow_fix(OvInt8(), AVX2)
    assert (on_avx2.asked, on_avx2.value) == ("auto", "enable")
    assert "VPMADDUBSW" in on_avx2.why and "16 bits" in on_avx2.why
    on_vnni = resolve_overflow_fix(OvInt8(), VNNI)
    assert (on_vnni.asked, on_vnni.value) == ("auto", "first_layer")
    assert "VNNI" in on_vnni.why and nncf.__version__ in on_vnni.why
    for asked in ("enable", "first_layer", "disable"):
        for cpu in (AVX2, VNNI):
            forced = resolve_overflow_fix(OvInt8(overflow_fix=asked), cpu)
            assert (forced.asked, forced.value) == (asked, asked)
            assert ("can saturate" in forced.why) == (cpu.saturates and asked != "enable")
    members = {v: advanced_parameters(resolve_overflow_fix(OvInt8(overflow_fix=v), VNNI))
               for v in ("enable", "first_layer", "disable")}
    assert {v: p.overflow_fix for v, p in members.items()} == {
        "enable": nncf.OverflowFix.ENABLE, "first_layer": nncf.OverflowFix.FIRST_LAYER,
        "disable": nncf.OverflowFix.DISABLE,
    }
    base = AdvancedQuantizationParameters(disable_bias_correction=True)
    merged = advanced_parameters(on_avx2, base)
    assert merged.overflow_fix == nncf.OverflowFix.ENABLE and merged.disable_bias_correction
    assert base.overflow_fix is None  # the caller's parameters are not changed


def test_int8_on_a_saturating_cpu_halves_every_weight_range(
    int8_on_avx2: tuple[BuildOutcome, list[Any]], int8: Built
) -> None:
    """On a (faked) AVX2 CPU ``auto`` gives NNCF ENABLE: the facts say so, ``nncf.quantize`` got
    it, NNCF recorded it in the IR, and the int8 weights of every convolution and the classifier
    use at most half the range, except depthwise convolutions (NNCF's ENABLE leaves them out).
    This machine's own build follows its CPU: on one with VNNI (``auto`` as NNCF's FIRST_LAYER)
    only the first convolution is halved; on one without, the same layers as above."""
    import nncf

    result, seen = int8_on_avx2
    remedy = result.facts["saturation_remedy"]
    assert (remedy["asked"], remedy["value"]) == ("auto", "enable"), remedy
    assert [a.overflow_fix for a in seen] == [nncf.OverflowFix.ENABLE]
    assert _nncf_argument(result.artifact, "advanced_parameters") == "enable"
    halved = _weight_ranges(result.artifact)
    kinds = {kind: sum(1 for k, _ in halved if k == kind) for kind, _ in halved}
    assert kinds == {"Convolution": 35, "depthwise": 17, "MatMul": 1}, kinds
    for kind, largest in halved:
        assert (largest <= HALF_RANGE) == (kind != "depthwise"), halved
    assert result.facts["fake_quantize_nodes"] == int8[0].facts["fake_quantize_nodes"]
    here = _weight_ranges(int8[0].artifact)
    assert len(here) == 53, here
    if hardware.this_cpu().saturates:
        assert here == halved and int8[0].facts["saturation_remedy"]["value"] == "enable"
    else:
        largest = [top for _, top in here]
        assert largest[0] <= HALF_RANGE and min(largest[1:]) > HALF_RANGE, here


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
    assert "arithmetic" not in info  # what only an exact twin reports


def test_int8_auto_on_a_vnni_cpu_is_nncf_default(int8: Built) -> None:
    """Where INT8 sums do not saturate, ``auto`` is NNCF's own default, said with the reason;
    NNCF received it explicitly (recorded in the IR)."""
    result, _ = int8
    remedy = result.facts["saturation_remedy"]
    cpu = hardware.this_cpu()
    if cpu.saturates:
        pytest.skip(f"this CPU saturates ({cpu.describe()}): auto resolves to enable here")
    assert (remedy["asked"], remedy["value"]) == ("auto", "first_layer"), remedy
    assert "VNNI" in remedy["why"] or cpu.dot_product not in ("avx512_vnni", "avx_vnni")
    assert _nncf_argument(result.artifact, "advanced_parameters") == "first_layer_only"


def test_exact_twin_of_fp32_is_unavailable(fp32: Built) -> None:
    _, session = fp32
    assert session.exact_twin() == Unavailable(reason="an FP32 graph has no quantized arithmetic")


def test_exact_twin_runs_the_int8_grid_in_f32(
    fp32: Built, int8: Built, evaluation_images: ImageArray
) -> None:
    """The twin has no integer kernel and no FakeQuantize left, is still quantized (as far from
    FP32 as the INT8 session), and, where INT8 sums do not saturate (so the integer kernels are
    exact too), sits much closer to the INT8 session than FP32 does."""
    _, session = int8
    twin = session.exact_twin()
    assert isinstance(twin, OvSession), twin
    assert twin.exact_twin() == Unavailable(reason="this session already runs in exact arithmetic")
    info = twin.info()
    assert info["arithmetic"].startswith("exact: ") and info["inference_precision"] == "f32"
    assert info["compute_layer_precisions"] == {"f32": 53}, info
    layers = {
        op.get_rt_info()["layerType"].astype(str)
        for op in twin.compiled.get_runtime_model().get_ordered_ops()
    }
    assert "FakeQuantize" not in layers, layers
    batch = np.ascontiguousarray(evaluation_images.images, dtype=np.float32)
    exact, integer, float32 = twin.run(batch), session.run(batch), fp32[1].run(batch)
    quantization = np.abs(integer - float32).mean()
    assert np.abs(exact - float32).mean() > 0.5 * quantization
    if not hardware.this_cpu().saturates:
        assert np.abs(exact - integer).mean() < 0.75 * quantization
        assert np.mean(exact.argmax(1) == integer.argmax(1)) >= 0.95


def test_exact_fake_quantize_is_the_specification_and_the_plugin() -> None:
    """One FakeQuantize with per-channel ranges (one channel empty): the twin's f32 ops give the
    specification's values (float64 NumPy) except where f32 rounding moves a value across a
    rounding boundary (then by one step), and the plugin's own FakeQuantize values."""
    import openvino as ov
    import openvino.opset13 as ops

    from quantarena.toolchains.openvino.exact import exact_model, fake_quantize_reference
    from quantarena.toolchains.openvino.runtime import compile_model

    rng = np.random.default_rng(0)
    low = rng.uniform(-3, 0, (1, 8, 1, 1)).astype(np.float32)
    high = (low + rng.uniform(0.5, 4, low.shape)).astype(np.float32)
    high[0, 7] = low[0, 7]  # an empty range: outputs only output_low / output_high
    out_low, out_high = low * 2, high * 2
    x = rng.uniform(-5, 5, (1, 8, 64, 64)).astype(np.float32)
    x[0, :, 0, 0], x[0, :, 0, 1] = low.ravel(), high.ravel()  # the bounds themselves

    def model() -> Any:
        data = ops.parameter([1, 8, 64, 64], np.float32)
        fq = ops.fake_quantize(data, low, high, out_low, out_high, 256)
        return ov.Model([fq], [data])

    exact = compile_model(exact_model(model()))({0: x})[0]
    plugin = compile_model(model())({0: x})[0]
    reference = fake_quantize_reference(x, low, high, out_low, out_high, 256)
    step = np.maximum((out_high - out_low) / 255, 1e-6)
    off = np.abs(exact - reference) / step
    assert np.mean(off > 1e-3) < 1e-3 and off.max() < 1.001, (np.sum(off > 1e-3), off.max())
    np.testing.assert_array_equal(exact[0, 7], reference[0, 7])
    versus_plugin = np.abs(exact - plugin)[0, :7] / step[0, :7]
    assert np.mean(versus_plugin > 1e-3) < 1e-3, np.sum(versus_plugin > 1e-3)


def test_accuracy_control_reports_reverted_layers_and_drop(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, evaluation_images: ImageArray,
    reference: np.ndarray, tmp_path: Path,
) -> None:
    result, session = build_and_load(
        "openvino:int8-accuracy-control", mv2_bundle, calibration_images, tmp_path,
        options={"max_num_iterations": 2},
    )
    details = result.facts
    remedy = details["saturation_remedy"]
    assert remedy["asked"] == "auto" and remedy["value"] in ("enable", "first_layer"), remedy
    recorded = {"enable": "enable", "first_layer": "first_layer_only"}[remedy["value"]]
    assert _nncf_argument(result.artifact, "advanced_quantization_parameters") == recorded
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
    lost anything on the validation images), and the reverted names are real graph ops. The
    overflow fix forced off is recorded as asked, reaches NNCF and leaves every weight full-range.
    """
    options = {
        "subset_size": 1, "max_drop": 0.0, "max_num_iterations": 3, "validation_fraction": 0.5,
        "overflow_fix": "disable",
    }
    result, _ = build_and_load(
        "openvino:int8-accuracy-control", mv2_bundle, calibration_images, tmp_path, options=options
    )
    details = result.facts
    assert details["validation_images"] == 16 and result.calibration_images == 1
    remedy = details["saturation_remedy"]
    assert (remedy["asked"], remedy["value"]) == ("disable", "disable"), remedy
    assert remedy["why"].startswith("asked by the recipe")
    assert _nncf_argument(result.artifact, "advanced_quantization_parameters") == "disable"
    assert all(largest > HALF_RANGE for _, largest in _weight_ranges(result.artifact))
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
