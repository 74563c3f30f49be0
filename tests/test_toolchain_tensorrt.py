"""TensorRT adapter: availability reasons, the CPU simulation of the INT8 graph on real images,
the explicit-quantization rules checker on right and wrong graphs, and (on a GPU) real engines."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from toolchain_checks import build_and_load, predictions, reference_predictions

from quantarena.errors import ModelError
from quantarena.toolchains import get_toolchain
from quantarena.toolchains.base import timing_unavailable
from quantarena.toolchains.tensorrt import availability as avail
from quantarena.toolchains.tensorrt import inspect_qdq
from quantarena.toolchains.tensorrt.toolchain import SIMULATED_TIMING

REPO = Path(__file__).resolve().parents[1]


def _require_tensorrt_gpu() -> None:
    """Skip unless this machine can build and run TensorRT engines (no conftest involved)."""
    problem = avail.nvidia_gpu_problem()
    if problem is not None:
        pytest.skip(problem)  # "no NVIDIA GPU (...)"
    if avail.missing_module("tensorrt"):
        pytest.skip("no NVIDIA GPU stack: tensorrt is not installed")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no NVIDIA GPU: torch.cuda.is_available() is False")


@pytest.fixture(scope="module")
def simulated(mv2_bundle, calibration_images, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The INT8 Q/DQ graph built once for the module, loaded on ONNX Runtime (CPU)."""
    return build_and_load("tensorrt:int8-simulated", mv2_bundle, calibration_images,
                          tmp_path_factory.mktemp("trt-sim"))


@pytest.fixture(scope="module")
def reference(mv2_bundle, evaluation_images) -> np.ndarray:  # type: ignore[no-untyped-def]
    return reference_predictions(mv2_bundle, evaluation_images)


# --- packaging and availability -------------------------------------------------------------


def test_import_loads_no_runtime() -> None:
    code = ("import sys, quantarena.toolchains.tensorrt; "
            "print(sorted(m for m in ('tensorrt', 'modelopt', 'onnxruntime', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _lock_pin(name: str) -> str:
    for line in (REPO / "requirements" / "lock.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in requirements/lock.txt")


def test_modelopt_install_kept_the_cpu_onnxruntime() -> None:
    """nvidia-modelopt[onnx] pulls onnxruntime-gpu, which replaces onnxruntime's files; it must be
    installed with --no-deps so the pinned CPU runtime stays."""
    import onnxruntime

    assert importlib.metadata.version("onnxruntime") == _lock_pin("onnxruntime")
    assert onnxruntime.__version__ == _lock_pin("onnxruntime")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.version("onnxruntime-gpu")


def test_availability_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    tc = get_toolchain("tensorrt")
    monkeypatch.setattr(avail, "nvidia_gpu_problem", lambda: "no NVIDIA GPU (no /dev/nvidia* device)")
    assert tc.availability("fp32").reason == "no NVIDIA GPU (no /dev/nvidia* device)"
    assert "tensorrt:int8-simulated" in tc.availability("int8").reason
    monkeypatch.setattr(avail, "nvidia_gpu_problem", lambda: None)
    real_missing = avail.missing_module
    monkeypatch.setattr(avail, "missing_module", lambda m: m == "tensorrt" or real_missing(m))
    assert tc.availability("fp16").reason == "tensorrt not installed (pip install 'quantarena[tensorrt]')"


def test_availability_on_this_machine() -> None:
    tc = get_toolchain("tensorrt")
    assert tc.availability("int8-simulated").ok  # ModelOpt + onnxruntime are in the test env
    gpu = avail.nvidia_gpu_problem()
    for recipe in ("fp32", "fp16", "int8"):
        verdict = tc.availability(recipe)
        if gpu is not None:
            assert not verdict.ok and verdict.reason.startswith("no NVIDIA GPU"), verdict
        elif avail.missing_module("tensorrt"):
            assert not verdict.ok and verdict.reason.startswith("tensorrt not installed"), verdict


def test_recipes_disclose_the_simulation() -> None:
    recipes = get_toolchain("tensorrt").recipes
    assert "TensorRT INT8 graph simulated on CPU" in recipes["int8-simulated"].summary
    assert recipes["int8"].calibrates and recipes["int8-simulated"].precision == "int8"
    with pytest.raises(ValueError):
        recipes["int8"](opt_batch=64, max_batch=32)


# --- the CPU simulation on real images ------------------------------------------------------


def test_simulated_int8_is_a_rule_abiding_qdq_graph(simulated, mv2_bundle, calibration_images) -> None:  # type: ignore[no-untyped-def]
    result, session = simulated
    assert result.calibration_images == len(calibration_images)
    ops = {n.op_type for n in onnx.load(str(result.artifact)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    report = inspect_qdq(result.artifact)
    assert report.ok, [str(v) for v in report.violations]
    assert len(report.quantized_layers) == 52  # every Conv of MobileNetV2
    assert result.recipe_details["layers_kept_in_high_precision"] == report.float_layers
    # INT8 weights stored as INT8 (dq_only): only the float classifier keeps FP32 weights.
    assert result.artifact.stat().st_size < 0.6 * mv2_bundle.onnx_path.stat().st_size
    assert timing_unavailable(session) == SIMULATED_TIMING
    info = get_toolchain("tensorrt").runtime_info(session)
    assert info["providers"] == ["CPUExecutionProvider"] and "simulates" in info


def test_simulated_int8_agrees_with_fp32(simulated, evaluation_images, reference) -> None:  # type: ignore[no-untyped-def]
    _, session = simulated
    agreement = float(np.mean(predictions(session, evaluation_images) == reference))
    assert agreement > 0.8, agreement


# --- the rules checker on wrong graphs ------------------------------------------------------


@pytest.fixture()
def qdq_model(simulated) -> onnx.ModelProto:  # type: ignore[no-untyped-def]
    return onnx.load(str(simulated[0].artifact))


def _node(model: onnx.ModelProto, op_type: str, index: int = 0) -> onnx.NodeProto:
    return [n for n in model.graph.node if n.op_type == op_type][index]


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(i for i in model.graph.initializer if i.name == name)


def _rules(model: onnx.ModelProto) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for v in inspect_qdq(model).violations:
        found.setdefault(v.rule, []).append(v.node)
    return found


def test_rules_reject_nonzero_zero_point(qdq_model: onnx.ModelProto) -> None:
    q = _node(qdq_model, "QuantizeLinear")
    zp = _initializer(qdq_model, q.input[2])
    zp.CopyFrom(numpy_helper.from_array(np.full_like(numpy_helper.to_array(zp), 3), zp.name))
    assert q.name in _rules(qdq_model)["zero-point"]


def test_rules_reject_per_tensor_weights(qdq_model: onnx.ModelProto) -> None:
    conv = _node(qdq_model, "Conv")
    dq = next(n for n in qdq_model.graph.node if n.output[0] == conv.input[1])
    scale = _initializer(qdq_model, dq.input[1])
    zp = _initializer(qdq_model, dq.input[2])
    scale.CopyFrom(numpy_helper.from_array(np.array(numpy_helper.to_array(scale).max()), scale.name))
    zp.CopyFrom(numpy_helper.from_array(np.array(0, dtype=np.int8), zp.name))
    assert conv.name in _rules(qdq_model)["per-channel-weight"]


def test_rules_reject_unquantized_activation_and_residual(qdq_model: onnx.ModelProto) -> None:
    producers = {o: n for n in qdq_model.graph.node for o in n.output}
    conv = _node(qdq_model, "Conv", 1)
    act_dq = producers[conv.input[0]]
    conv.input[0] = producers[act_dq.input[0]].input[0]  # bypass the activation's Q/DQ pair
    add = _node(qdq_model, "Add")
    skip = next(name for name in add.input if producers[name].op_type == "DequantizeLinear")
    add.input[list(add.input).index(skip)] = producers[producers[skip].input[0]].input[0]
    found = _rules(qdq_model)
    assert conv.name in found["layer-inputs"]
    assert add.name in found["residual-add"]


def test_rules_reject_onnxruntime_u8_graph(simulated, mv2_bundle, calibration_images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ONNX Runtime's CPU default (asymmetric UINT8 activations) is not a TensorRT INT8 graph.

    Built after ModelOpt ran in this process (``simulated``): ModelOpt patches ONNX Runtime's
    quantizer process-wide, and the build must undo that, or this ``quantize_static`` fails."""
    tc = get_toolchain("onnxruntime")
    recipe = tc.parse_recipe("int8", {"calibration_images": 8})
    built = tc.build(mv2_bundle, recipe, calibration_images, tmp_path)
    found = _rules(onnx.load(str(built.artifact)))
    assert {"zero-point", "int8-type"} <= set(found)
    assert any(name.startswith("input_") for name in found["zero-point"])


def test_rules_reject_a_float_graph(mv2_bundle) -> None:  # type: ignore[no-untyped-def]
    assert set(_rules(onnx.load(str(mv2_bundle.onnx_path)))) == {"no-quantized-layers"}


# --- real engines (GPU only) ----------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize(("recipe", "least"), [("fp32", 0.97), ("fp16", 0.95), ("int8", 0.8)])
def test_engine_on_gpu(recipe: str, least: float, mv2_bundle, calibration_images, evaluation_images,  # type: ignore[no-untyped-def]
                       reference, tmp_path: Path) -> None:
    _require_tensorrt_gpu()
    result, session = build_and_load(f"tensorrt:{recipe}", mv2_bundle, calibration_images, tmp_path,
                                     options={"max_batch": 16})
    assert result.artifact.name == "model.engine" and result.artifact.stat().st_size > 0
    assert timing_unavailable(session) is None
    agreement = float(np.mean(predictions(session, evaluation_images, batch=16) == reference))
    assert agreement >= least, agreement
    single = session.run(np.ascontiguousarray(evaluation_images.images[:1]))
    assert single.shape == (1, 1000) and single.dtype == np.float32 and np.isfinite(single).all()
    with pytest.raises(ModelError):
        session.run(np.zeros((17, *evaluation_images.images.shape[1:]), dtype=np.float32))
    info = get_toolchain("tensorrt").runtime_info(session)
    assert info["tensorrt"] and info["gpu"] and info["device_memory_mb"] > 0


@pytest.mark.gpu
def test_int8_engine_matches_its_simulation(simulated, mv2_bundle, calibration_images, evaluation_images,  # type: ignore[no-untyped-def]
                                            tmp_path: Path) -> None:
    _require_tensorrt_gpu()
    _, engine = build_and_load("tensorrt:int8", mv2_bundle, calibration_images, tmp_path)
    agreement = float(np.mean(predictions(engine, evaluation_images) == predictions(simulated[1], evaluation_images)))
    assert agreement > 0.9, agreement
