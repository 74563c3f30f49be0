"""ONNX Runtime adapter on real images: FP32 equals PyTorch, INT8 is calibrated, per-channel, small
and close; sessions report what ran, ``raw_call`` is the bare runtime, load errors are one line;
``reduce_range`` resolves per CPU (a saturating one stood in) and really reaches the quantizer; a
static Q/DQ session's exact twin runs no integer kernel and other graphs say why they have none."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from quantarena import hardware
from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.models.spec import ModelBundle
from quantarena.results.accuracy import PairedComparison
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import BuildOutcome, Session, get_toolchain
from quantarena.toolchains.onnxruntime import OrtFp32, OrtSession, OrtStaticInt8
from quantarena.toolchains.onnxruntime.build import ENTROPY_NOTE, even_batch, resolve_reduce_range
from quantarena.toolchains.onnxruntime.recipes import RECIPES as CPU_RECIPES
from quantarena.toolchains.onnxruntime.runtime import DISABLE_QUANT_QDQ, EXACT_ARITHMETIC
from toolchain_checks import (
    build_and_load,
    executed_ops,
    integer_kernels,
    predictions,
    reference_predictions,
)

Built = tuple[BuildOutcome, Session]

#: A CPU with AVX2 but no VNNI: its u8×s8 sums go through VPMADDUBSW and saturate.
SATURATING = hardware.int8_arithmetic("x86_64", {"avx2", "fma"})




@pytest.fixture(scope="module")
def fp32(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    return build_and_load("onnxruntime:fp32", mv2_bundle, calibration_images,
                          tmp_path_factory.mktemp("ort-fp32"))


@pytest.fixture(scope="module")
def static_int8(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    return build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                          tmp_path_factory.mktemp("ort-int8"))


def test_import_does_not_import_onnxruntime() -> None:
    code = ("import sys, quantarena.toolchains.onnxruntime\n"
            "assert not {'onnxruntime', 'onnx'} & set(sys.modules), "
            "'runtime imported at module level'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_declarations() -> None:
    toolchain = get_toolchain("onnxruntime")
    recipes = toolchain.recipes
    assert toolchain.title == "ONNX Runtime"
    assert recipes["fp32"].reference_rank == 1
    assert recipes["int8"].reference_rank is None and recipes["int8-dynamic"].reference_rank is None
    assert recipes["int8"].calibrates and not recipes["int8-dynamic"].calibrates
    for recipe in CPU_RECIPES.values():  # the GPU variants: test_toolchain_onnxruntime_gpu.py
        assert recipe.speed_unavailable is None, recipe.__name__
        assert recipe.needs.packages == ("onnxruntime", "onnx") and not recipe.needs.gpu
    assert set(recipes) - set(CPU_RECIPES) == {
        name for name, recipe in recipes.items() if recipe.needs.gpu
    }


def test_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    toolchain = get_toolchain("onnxruntime")
    assert all(toolchain.unavailable(name) is None for name in CPU_RECIPES)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    status = toolchain.unavailable("int8")
    assert status is not None
    assert status.reason == "onnxruntime not installed (pip install 'quantarena[onnxruntime]')"


def test_fp32_matches_pytorch_image_by_image(
    fp32: Built, mv2_bundle: ModelBundle, evaluation_images: ImageArray
) -> None:
    result, session = fp32
    opsets = onnx.load(str(mv2_bundle.onnx_path)).opset_import
    assert result.facts == {"opset": next(o.version for o in opsets if o.domain == "")}
    assert result.calibration_images == 0
    assert result.files == [result.artifact] and result.seconds > 0
    reference = reference_predictions(mv2_bundle, evaluation_images)
    np.testing.assert_array_equal(predictions(session, evaluation_images), reference)


def test_session_reports_what_ran_and_uses_the_knobs(fp32: Built) -> None:
    import onnxruntime as ort

    result, session = fp32
    assert isinstance(session, OrtSession)
    assert session.info() == {"providers": ["CPUExecutionProvider"], "onnxruntime": ort.__version__}
    options = session.session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    recipe = OrtFp32(graph_optimization="basic")
    basic = get_toolchain("onnxruntime").load(result.artifact, recipe, 1)
    assert isinstance(basic, OrtSession)
    options = basic.session.get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.intra_op_num_threads == 1


def test_raw_call_is_the_bare_runtime_with_the_same_output(
    fp32: Built, evaluation_images: ImageArray
) -> None:
    _, session = fp32
    batch = np.ascontiguousarray(evaluation_images.images[:2], dtype=np.float32)
    raw: Any = session.raw_call(batch)()
    assert isinstance(raw, list)  # InferenceSession.run's own return: one array per output
    np.testing.assert_array_equal(raw[0], session.run(batch))


def test_corrupt_onnx_is_one_line_naming_the_runtime(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"this is not a protobuf\n" * 8)
    with pytest.raises(ModelError) as caught:
        get_toolchain("onnxruntime").load(broken, OrtFp32(), 1)
    message = str(caught.value)
    assert message.startswith("ONNX Runtime cannot load model.onnx: ") and "\n" not in message
    assert len(message) > len("ONNX Runtime cannot load model.onnx: ")


def _graph_index(
    graph: onnx.GraphProto,
) -> tuple[dict[str, onnx.TensorProto], dict[str, onnx.NodeProto]]:
    """Initializers by name, and each tensor's producing node."""
    return {i.name: i for i in graph.initializer}, {o: n for n in graph.node for o in n.output}


def test_static_int8_is_qdq_per_channel_and_a_quarter_of_fp32(
    static_int8: Built, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    evaluation_images: ImageArray,
) -> None:
    import onnxruntime as ort

    result, session = static_int8
    assert result.calibration_images == len(calibration_images)
    facts = dict(result.facts)
    assert facts.pop("saturation_remedy")["asked"] == "auto"  # resolved: see the tests below
    assert facts == {
        "calibration_images_used": len(calibration_images), "format": "QDQ",
        "onnxruntime": ort.__version__,
    }
    assert not (result.artifact.parent / "model.prep.onnx").exists()  # the pre-processed copy
    graph = onnx.load(str(result.artifact)).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    # Per-channel weights: each Conv's weight is an INT8 initializer behind a DequantizeLinear
    # whose scale holds one value per output channel (axis 0).
    initializers, producers = _graph_index(graph)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 52  # every Conv of MobileNetV2
    for conv in convs:
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear", conv.name
        weight = initializers[dq.input[0]]
        assert weight.data_type == onnx.TensorProto.INT8, conv.name
        scale = numpy_helper.to_array(initializers[dq.input[1]])
        channels = weight.dims[0]
        assert channels > 1 and scale.shape == (channels,), (conv.name, scale.shape, channels)
        assert next((a.i for a in dq.attribute if a.name == "axis"), 1) == 0, conv.name
    ratio = result.artifact.stat().st_size / mv2_bundle.onnx_path.stat().st_size
    assert 0.2 < ratio < 0.35, ratio
    reference = reference_predictions(mv2_bundle, evaluation_images)
    agreement = np.mean(predictions(session, evaluation_images) == reference)
    assert agreement > 0.8, agreement


def test_static_int8_per_tensor_knob_gives_one_scale_per_weight(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """The other side of the check above: ``per_channel=False`` must give scalar weight scales,
    so the per-channel assertion can tell the two apart."""
    result, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images, tmp_path,
                               options={"per_channel": False, "calibration_images": 4})
    assert result.facts["calibration_images_used"] == 4 and result.calibration_images == 4
    graph = onnx.load(str(result.artifact)).graph
    initializers, producers = _graph_index(graph)
    conv = next(n for n in graph.node if n.op_type == "Conv")
    scale = numpy_helper.to_array(initializers[producers[conv.input[1]].input[1]])
    assert scale.size == 1


def test_histogram_calibration_with_an_uneven_last_batch_builds(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """ONNX Runtime's entropy calibrator stacks every batch's outputs: 23 images in batches of
    16 (16 + 7) failed with "inhomogeneous shape". The builder now feeds equal batches, says so,
    and still reads every image."""
    result, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images, tmp_path,
                               options={"calibration_method": "entropy", "calibration_images": 23})
    assert result.facts["calibration_images_used"] == 23
    assert any("calibration batch 16 -> 1" in note for note in result.notes)
    assert even_batch(200, 16) == 10 and even_batch(48, 16) == 16 and even_batch(8, 16) == 8


def test_entropy_calibration_is_flagged_because_it_builds_the_minmax_model(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """The note on an entropy build is a fact: with the bin counts quantize_static leaves it,
    ONNX Runtime's entropy calibrator writes the very graph minmax writes (if a release passes
    the bins through, this fails and the note must go)."""
    options = {"calibration_images": 8, "calibration_batch": 8}
    entropy, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                                tmp_path / "entropy",
                                options={**options, "calibration_method": "entropy"})
    minmax, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                               tmp_path / "minmax", options={**options})
    assert ENTROPY_NOTE in entropy.notes and ENTROPY_NOTE not in minmax.notes
    assert entropy.artifact.read_bytes() == minmax.artifact.read_bytes()


def test_dynamic_int8_builds_and_runs(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    result, session = build_and_load("onnxruntime:int8-dynamic", mv2_bundle, calibration_images,
                                     tmp_path)
    assert result.calibration_images == 0
    # every Conv (52) and the classifier became integer ops, each input quantized at run time
    assert result.facts["integer_ops"] == {
        "ConvInteger": 52, "DynamicQuantizeLinear": 53, "MatMulInteger": 1,
    }
    logits = session.run(np.ascontiguousarray(evaluation_images.images[:2]))
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()
    cpu = hardware.this_cpu()
    assert result.facts["saturation_remedy"]["value"] is cpu.saturates
    assert result.facts["saturation_remedy"]["why"].startswith(cpu.describe())
    twin = session.exact_twin()
    assert isinstance(twin, Unavailable)
    assert twin.reason.startswith("a dynamic INT8 graph has no Q/DQ pairs to keep exact")


# --- reduce_range, resolved per CPU -----------------------------------------------------------


def _weight_codes(artifact: Path) -> np.ndarray:
    """Every Conv weight's INT8 codes (the initializers behind the weights' DequantizeLinear)."""
    graph = onnx.load(str(artifact)).graph
    initializers, producers = _graph_index(graph)
    codes = [numpy_helper.to_array(initializers[producers[n.input[1]].input[0]]).ravel()
             for n in graph.node if n.op_type == "Conv"]
    return np.concatenate(codes).astype(np.int32)


def test_auto_reduce_range_on_this_cpu_follows_its_int8_arithmetic(static_int8: Built) -> None:
    """On this machine's CPU: with VNNI (32-bit sums) ``auto`` is off, the vendor's default, and
    the weights use the full INT8 range; without VNNI it would be on."""
    result, _ = static_int8
    cpu = hardware.this_cpu()
    remedy = result.facts["saturation_remedy"]
    assert remedy["asked"] == "auto" and remedy["value"] is cpu.saturates
    assert remedy["why"].startswith(cpu.describe())
    if cpu.dot_product in ("avx512_vnni", "avx_vnni"):  # this machine: AVX-512 VNNI
        assert remedy["value"] is False and "VNNI" in remedy["why"], remedy
        assert "no saturation" in remedy["why"] and "not needed" in remedy["why"], remedy
    codes = _weight_codes(result.artifact)
    assert np.abs(codes).max() == (64 if cpu.saturates else 127)


def test_auto_reduce_range_on_a_saturating_cpu_quantizes_weights_to_7_bits(
    monkeypatch: pytest.MonkeyPatch, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path: Path,
) -> None:
    """An AVX2-only CPU stood in: ``auto`` resolves on, the facts say so and why, and the quantizer
    really got it: every weight code lies in ONNX Runtime's reduced INT8 range [-64, 64]."""
    monkeypatch.setattr(hardware, "this_cpu", lambda: SATURATING)
    result, session = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                                     tmp_path, options={"calibration_images": 4})
    remedy = result.facts["saturation_remedy"]
    assert remedy == {
        "asked": "auto", "value": True,
        "why": f"{SATURATING.describe()}: reduce_range (7-bit weights) avoids the 16-bit overflow",
    }
    codes = _weight_codes(result.artifact)
    assert codes.min() >= -64 and codes.max() <= 64
    assert np.abs(codes).max() == 64  # the range is used, not collapsed
    assert isinstance(session.exact_twin(), OrtSession)


def test_forced_reduce_range_overrides_the_cpu(
    monkeypatch: pytest.MonkeyPatch, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path: Path,
) -> None:
    """``reduce_range=false`` on a saturating CPU is the vendor's unmitigated default: full-range
    weights, and the facts say it was forced off."""
    monkeypatch.setattr(hardware, "this_cpu", lambda: SATURATING)
    result, _ = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images, tmp_path,
                               options={"calibration_images": 4, "reduce_range": False})
    remedy = result.facts["saturation_remedy"]
    assert remedy["asked"] == "false" and remedy["value"] is False
    assert remedy["why"].startswith("forced off by the recipe (the vendor's default)")
    assert np.abs(_weight_codes(result.artifact)).max() == 127


def test_reduce_range_resolution_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "this_cpu", lambda: SATURATING)
    signed = resolve_reduce_range("auto", activation_type="uint8", weight_type="int8")
    assert signed.value is True
    # U8U8 kernels widen to 16 bits before multiplying: nothing saturates, nothing to remedy.
    unsigned = resolve_reduce_range("auto", activation_type="uint8", weight_type="uint8")
    assert unsigned.value is False and "U8U8" in unsigned.why
    forced = resolve_reduce_range(True, activation_type="uint8", weight_type="uint8")
    assert forced.asked == "true" and forced.value is True
    monkeypatch.setattr(hardware, "this_cpu",
                        lambda: hardware.int8_arithmetic("x86_64", {"avx2", "avx512_vnni"}))
    assert resolve_reduce_range("auto", activation_type="uint8", weight_type="int8").value is False
    recipes = get_toolchain("onnxruntime").recipes
    assert recipes["int8"].version == 2 and recipes["int8-dynamic"].version == 2
    assert recipes["int8"] is OrtStaticInt8 and OrtStaticInt8().reduce_range == "auto"
    knobs: dict[str, Any] = {"reduce_range": "true"}  # as a config file spells it
    assert OrtStaticInt8(**knobs).reduce_range is True
    with pytest.raises(ValueError):
        OrtStaticInt8(**{"reduce_range": "sometimes"})


# --- exact twins ------------------------------------------------------------------------------


def test_static_int8_exact_twin_runs_no_integer_kernel(
    static_int8: Built, tmp_path: Path
) -> None:
    """The twin is the same file, threads and optimization level with Q/DQ pairs left unfused: no
    integer kernel in what it executes, while the deployed session's graph has them."""
    import onnxruntime as ort

    result, deployed = static_int8
    assert isinstance(deployed, OrtSession)
    twin = deployed.exact_twin()
    assert isinstance(twin, OrtSession)
    options = twin.session.get_session_options()
    assert options.get_session_config_entry(DISABLE_QUANT_QDQ) == "1"
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert twin.path == result.artifact and twin.info()["arithmetic"] == EXACT_ARITHMETIC
    assert "arithmetic" not in deployed.info()
    again = twin.exact_twin()
    assert isinstance(again, Unavailable) and "already runs in exact arithmetic" in again.reason

    fused = executed_ops(deployed.session, result.artifact, tmp_path / "deployed.onnx")
    exact = executed_ops(twin.session, result.artifact, tmp_path / "exact.onnx")
    assert "QLinearConv" in integer_kernels(fused), fused
    assert not integer_kernels(exact), exact
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= exact


def _logits(session: Session, images: ImageArray) -> np.ndarray:
    return np.concatenate([session.run(chunk)[:valid] for chunk, valid in images.batches(16)])


def test_static_int8_exact_twin_agrees_with_fp32_at_least_as_well(
    static_int8: Built, fp32: Built, evaluation_images: ImageArray
) -> None:
    """The twin computes what the Q/DQ graph means: its logits are closer than the deployed
    session's to ONNX Runtime executing the graph node by node (no optimization, so no fusion:
    the definition of the graph), and it agrees with ONNX Runtime FP32 at least as well.

    "At least as well" is measured on the logits (mean absolute error to FP32) and, for top-1, as
    "not significantly worse" (paired McNemar): on a CPU with VNNI nothing saturates and the two
    arithmetics differ by rounding flips only, which on 48 images move a handful of top-1 answers
    either way (here 1 gained, 5 lost, p = 0.22). On a CPU without VNNI the twin is the one that
    keeps FP32 accuracy."""
    import onnxruntime as ort

    result, deployed = static_int8
    twin = deployed.exact_twin()
    assert isinstance(twin, OrtSession)
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain.intra_op_num_threads = 2
    node_by_node = OrtSession(
        ort.InferenceSession(str(result.artifact), plain, providers=["CPUExecutionProvider"]),
        path=result.artifact, threads=2, graph_optimization="disabled", kind="qdq", exact=False,
    )
    meaning = _logits(node_by_node, evaluation_images)
    exact, fused = _logits(twin, evaluation_images), _logits(deployed, evaluation_images)
    assert np.abs(exact - meaning).mean() < np.abs(fused - meaning).mean()

    float_logits = _logits(fp32[1], evaluation_images)
    assert np.abs(exact - float_logits).mean() <= np.abs(fused - float_logits).mean()
    float_top1 = float_logits.argmax(axis=1)
    comparison = PairedComparison.of(exact.argmax(axis=1) == float_top1,
                                     fused.argmax(axis=1) == float_top1)
    assert not (comparison.significant and comparison.delta_pp < 0), comparison


def test_fp32_and_qoperator_sessions_have_no_exact_twin(
    fp32: Built, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    twin = fp32[1].exact_twin()
    assert twin == Unavailable(reason="an FP32 graph has no quantized arithmetic")
    result, session = build_and_load("onnxruntime:int8", mv2_bundle, calibration_images,
                                     tmp_path, options={"calibration_images": 4,
                                                        "quant_format": "qoperator"})
    assert result.facts["format"] == "QOperator"
    assert "QLinearConv" in {n.op_type for n in onnx.load(str(result.artifact)).graph.node}
    twin = session.exact_twin()
    assert isinstance(twin, Unavailable)
    assert twin.reason.startswith("a QOperator graph has no Q/DQ pairs to keep exact")


def test_the_recipe_not_the_file_decides_the_twin(fp32: Built) -> None:
    """The session is told what its graph is by the recipe it was loaded for: the FP32 file loaded
    as a static QDQ recipe gets a twin (there is nothing in a file name to go by)."""
    toolchain = get_toolchain("onnxruntime")
    as_qdq = toolchain.load(fp32[0].artifact, toolchain.parse_recipe("int8"), 1)
    assert isinstance(as_qdq.exact_twin(), OrtSession)
    as_dynamic = toolchain.load(fp32[0].artifact, toolchain.parse_recipe("int8-dynamic"), 1)
    assert isinstance(as_dynamic.exact_twin(), Unavailable)
