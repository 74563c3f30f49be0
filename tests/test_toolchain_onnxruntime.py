"""ONNX Runtime adapter on real images: FP32 equals PyTorch, INT8 is calibrated, per-channel, small
and close; sessions report what ran, ``raw_call`` is the bare runtime, load errors are one line."""

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

from quantarena.data.cache import ImageArray
from quantarena.errors import ModelError
from quantarena.models.spec import ModelBundle
from quantarena.toolchains import BuildFacts, BuildOutcome, Recipe, Session, get_toolchain
from quantarena.toolchains.onnxruntime import OrtFp32, OrtSession
from toolchain_checks import build_and_load, predictions, reference_predictions

Built = tuple[BuildOutcome, Session]


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
    for recipe in recipes.values():
        assert recipe.speed_unavailable is None, recipe.__name__
        assert recipe.needs.packages == ("onnxruntime", "onnx") and not recipe.needs.gpu
        # a fact named like a knob would read as if it was asked for
        assert not set(recipe.Facts.model_fields) & set(recipe.model_fields), recipe.__name__
    facts = [r.Facts for r in recipes.values()]
    assert len(set(facts)) == len(facts) and BuildFacts not in facts


def test_a_recipe_of_another_toolchain_is_refused(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    class Stranger(Recipe):
        """Not an ONNX Runtime recipe."""

    toolchain = get_toolchain("onnxruntime")
    with pytest.raises(TypeError, match="no ONNX Runtime builder for Stranger"):
        toolchain.build(mv2_bundle, Stranger(), calibration_images, tmp_path)
    expected = "ONNX Runtime cannot load model.onnx: no ONNX Runtime loader for Stranger"
    with pytest.raises(ModelError, match=expected):
        toolchain.load(tmp_path / "model.onnx", Stranger(), 1)


def test_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    toolchain = get_toolchain("onnxruntime")
    assert all(toolchain.unavailable(name) is None for name in toolchain.recipes)
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
    assert result.facts == {
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
