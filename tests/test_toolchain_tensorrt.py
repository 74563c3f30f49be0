"""TensorRT adapter: availability reasons from the recipes' declarations, the CPU simulation of the
INT8 graph on real images (through ONNX Runtime's session function, not its adapter, in exact
arithmetic: no integer kernel, the predictions of an unoptimized exact session), the engine build
paths with the TensorRT builder stubbed, the explicit-quantization rules checker on right and wrong
graphs, and (on a GPU) real engines."""

from __future__ import annotations

import importlib.metadata
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
from quantarena.errors import ModelError, ToolchainUnavailable
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import BuildOutcome, Session, base, get_toolchain
from quantarena.toolchains.gpu import nvidia_gpu_problem
from quantarena.toolchains.tensorrt import EngineFacts, inspect_qdq
from quantarena.toolchains.tensorrt import build as trt_build
from quantarena.toolchains.tensorrt.recipes import EngineKnobs, ProfileShapes
from quantarena.toolchains.tensorrt.runtime import SimulatedInt8Session
from toolchain_checks import (
    build_and_load,
    executed_ops,
    integer_kernels,
    predictions,
    reference_predictions,
)

Built = tuple[BuildOutcome, Session]

REPO = Path(__file__).resolve().parents[1]
SIMULATED_TIMING = "graph simulated on CPU with ONNX Runtime; not TensorRT speed"
TRT = "pip install 'quantarena[tensorrt,torch]'"
MODELOPT = "pip install --no-deps nvidia-modelopt==0.47.0 -r requirements/tensorrt.txt"
SIMULATION_HINT = "; tensorrt:int8-simulated checks this INT8 graph on the CPU"
EXACT = "exact (Q/DQ unfused: float math between exact quantize/dequantize)"




def _require_tensorrt_gpu() -> None:
    """Skip unless this machine can build and run TensorRT engines (no conftest involved)."""
    problem = nvidia_gpu_problem()
    if problem is not None:
        pytest.skip(problem)  # "no NVIDIA GPU (...)"
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("no NVIDIA GPU stack: tensorrt is not installed")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no NVIDIA GPU: torch.cuda.is_available() is False")


@pytest.fixture(scope="module")
def simulated(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """The INT8 Q/DQ graph built once for the module, loaded on ONNX Runtime (CPU)."""
    return build_and_load("tensorrt:int8-simulated", mv2_bundle, calibration_images,
                          tmp_path_factory.mktemp("trt-sim"))


@pytest.fixture(scope="module")
def reference(mv2_bundle: ModelBundle, evaluation_images: ImageArray) -> np.ndarray:
    return reference_predictions(mv2_bundle, evaluation_images)


# --- packaging and availability -------------------------------------------------------------


def test_import_loads_no_runtime() -> None:
    code = ("import sys, quantarena.toolchains.tensorrt; "
            "print(sorted(m for m in ('tensorrt', 'modelopt', 'onnxruntime', 'torch') "
            "if m in sys.modules))")
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


def _hide(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in packages else real(name, *a)
    )


def _reason(recipe: str) -> str | None:
    status = get_toolchain("tensorrt").unavailable(recipe)
    return None if status is None else status.reason


def test_availability_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU problem first (with the simulation's hint for int8), then the missing packages with
    how to install them; the simulation needs no GPU."""
    no_gpu = "no NVIDIA GPU (no /dev/nvidia* device)"
    monkeypatch.setattr(base, "nvidia_gpu_problem", lambda: no_gpu)
    _hide(monkeypatch, "tensorrt")
    assert _reason("fp32") == "no NVIDIA GPU (no /dev/nvidia* device)"
    assert _reason("fp16") == "no NVIDIA GPU (no /dev/nvidia* device)"
    assert _reason("int8") == "no NVIDIA GPU (no /dev/nvidia* device)" + SIMULATION_HINT
    assert _reason("int8-simulated") is None
    monkeypatch.setattr(base, "nvidia_gpu_problem", lambda: None)
    assert _reason("fp32") == f"tensorrt not installed ({TRT})"
    assert _reason("fp16") == f"tensorrt not installed ({TRT}; {MODELOPT})"
    assert _reason("int8") == f"tensorrt not installed ({TRT}; {MODELOPT}{SIMULATION_HINT})"
    _hide(monkeypatch, "tensorrt", "torch", "modelopt")
    assert _reason("fp32") == f"tensorrt, torch not installed ({TRT})"
    assert _reason("fp16") == f"tensorrt, torch, modelopt not installed ({TRT}; {MODELOPT})"
    assert _reason("int8-simulated") == (
        f"modelopt not installed (pip install 'quantarena[onnxruntime]'; {MODELOPT})"
    )
    _hide(monkeypatch, "onnxruntime")  # on top of the three above: every missing one is named
    assert _reason("int8-simulated") == (
        f"onnxruntime, modelopt not installed (pip install 'quantarena[onnxruntime]'; {MODELOPT})"
    )


def test_availability_on_this_machine() -> None:
    assert _reason("int8-simulated") is None  # ModelOpt + onnxruntime are in the test env
    gpu = nvidia_gpu_problem()
    for recipe in ("fp32", "fp16", "int8"):
        reason = _reason(recipe)
        if gpu is not None:
            assert reason is not None and reason.startswith("no NVIDIA GPU"), reason
        elif importlib.util.find_spec("tensorrt") is None:
            assert reason is not None and reason.startswith("tensorrt not installed"), reason


def test_recipes_disclose_the_simulation() -> None:
    tc = get_toolchain("tensorrt")
    recipes = tc.recipes
    assert tc.title == "TensorRT"
    assert "TensorRT INT8 graph simulated on CPU" in recipes["int8-simulated"].summary
    assert recipes["int8"].calibrates and recipes["int8-simulated"].precision == "int8"
    with pytest.raises(ValueError):
        int8: Any = recipes["int8"]  # the registry's type is the base Recipe's
        int8(opt_batch=64, max_batch=32)
    # Declared, not read off a session: the measuring code skips speed for the simulation only.
    assert recipes["int8-simulated"].speed_unavailable == SIMULATED_TIMING
    assert all(recipes[r].speed_unavailable is None for r in ("fp32", "fp16", "int8"))
    # TensorRT FP32 runs TF32 on a GPU: never the FP32 reference.
    assert all(r.reference_rank is None for r in recipes.values())
    assert all(recipes[r].needs.gpu for r in ("fp32", "fp16", "int8"))
    assert not recipes["int8-simulated"].needs.gpu


# --- the CPU simulation on real images ------------------------------------------------------


def test_simulated_int8_is_a_rule_abiding_qdq_graph(
    simulated: Built, mv2_bundle: ModelBundle, calibration_images: ImageArray
) -> None:
    result, session = simulated
    assert result.calibration_images == len(calibration_images)
    ops = {n.op_type for n in onnx.load(str(result.artifact)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    report = inspect_qdq(result.artifact)
    assert report.ok, [str(v) for v in report.violations]
    assert len(report.quantized_layers) == 52  # every Conv of MobileNetV2
    assert result.facts == {
        "graph": {
            "quantizer": "nvidia-modelopt", "high_precision_dtype": "fp32",
            "calibration_images_used": len(calibration_images), "quantized_layers": 52,
            "layers_kept_in_high_precision": report.float_layers, "qdq_rules": "passed",
        },
        "executed_by": (
            "onnxruntime CPUExecutionProvider in exact arithmetic (session.disable_quant_qdq=1: "
            "float math between exact quantize/dequantize, as TensorRT's 32-bit INT8 "
            "accumulation; simulation, no TensorRT)"
        ),
    }
    assert result.files == [result.artifact]  # no staged copy or timing cache counted
    # INT8 weights stored as INT8 (dq_only): only the float classifier keeps FP32 weights.
    assert result.artifact.stat().st_size < 0.6 * mv2_bundle.onnx_path.stat().st_size
    info = session.info()
    assert info["providers"] == ["CPUExecutionProvider"] and "simulates" in info
    assert info["timing"] == SIMULATED_TIMING and info["arithmetic"] == EXACT


def test_simulated_int8_raw_call_is_onnxruntime_with_the_same_output(
    simulated: Built, evaluation_images: ImageArray
) -> None:
    _, session = simulated
    batch = np.ascontiguousarray(evaluation_images.images[:2], dtype=np.float32)
    raw: Any = session.raw_call(batch)()
    np.testing.assert_array_equal(raw[0], session.run(batch))


def test_simulated_int8_borrows_no_adapter(
    simulated: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulation opens its session with ONNX Runtime's ``open_session`` and its own recipe's
    knob, never through the ONNX Runtime adapter."""
    import onnxruntime as ort

    from quantarena.toolchains.onnxruntime import runtime as ort_runtime
    from quantarena.toolchains.onnxruntime.toolchain import OnnxRuntimeToolchain

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ONNX Runtime adapter was borrowed")

    for method in ("__init__", "load", "_load"):
        monkeypatch.setattr(OnnxRuntimeToolchain, method, refuse)
    calls: list[tuple[Path, int, str, dict[str, Any]]] = []
    real = ort_runtime.open_session

    def spy(
        path: Path, threads: int, graph_optimization: Any, **kwargs: Any
    ) -> ort_runtime.OrtSession:
        calls.append((path, threads, graph_optimization, kwargs))
        return real(path, threads, graph_optimization, **kwargs)

    monkeypatch.setattr(ort_runtime, "open_session", spy)
    tc = get_toolchain("tensorrt")
    artifact = simulated[0].artifact
    recipe = tc.parse_recipe("int8-simulated", {"graph_optimization": "basic"})
    session = tc.load(artifact, recipe, 1)
    assert calls == [(artifact, 1, "basic", {"kind": "qdq", "exact": True})]
    assert isinstance(session, SimulatedInt8Session)
    options = session.inner.session.get_session_options()
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.intra_op_num_threads == 1
    package = REPO / "src" / "quantarena" / "toolchains" / "tensorrt"
    source = "".join(p.read_text() for p in package.glob("*.py"))
    assert "OnnxRuntimeToolchain" not in source and "getattr(recipe" not in source


def test_corrupt_simulated_graph_is_one_line_naming_tensorrt(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x00not an onnx graph\n" * 8)
    tc = get_toolchain("tensorrt")
    with pytest.raises(ModelError) as caught:
        tc.load(broken, tc.parse_recipe("int8-simulated"), 1)
    message = str(caught.value)
    assert message.startswith("TensorRT cannot load model.onnx: ") and "\n" not in message


def test_simulated_int8_agrees_with_fp32(
    simulated: Built, evaluation_images: ImageArray, reference: np.ndarray
) -> None:
    _, session = simulated
    agreement = float(np.mean(predictions(session, evaluation_images) == reference))
    assert agreement > 0.8, agreement


def _logits(session: Session, images: ImageArray) -> np.ndarray:
    return np.concatenate([session.run(chunk)[:valid] for chunk, valid in images.batches(16)])


def _raw_session(path: Path, level: str, exact: bool) -> Any:
    """An ``InferenceSession`` opened here, not through quantarena: the check's own reference."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    if exact:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_simulated_int8_runs_in_exact_arithmetic(
    simulated: Built, evaluation_images: ImageArray, tmp_path: Path
) -> None:
    """TensorRT sums INT8 products in 32 bits, so the simulation must not score its graph with
    the CPU's fused integer kernels: what it executes has none (the same graph opened the deployed
    way has them), its outputs are those of an exact-arithmetic ONNX Runtime session of the same
    graph and settings opened independently (and not those of the fused one), and they are closer
    than the fused session's to ONNX Runtime running the graph node by node (no optimization: the
    plain meaning of the Q/DQ graph; float reordering alone keeps them from being equal)."""
    from quantarena.toolchains.onnxruntime.runtime import OrtSession

    result, session = simulated
    assert isinstance(session, SimulatedInt8Session)
    options = session.inner.session.get_session_options()
    assert options.get_session_config_entry("session.disable_quant_qdq") == "1"
    exact_ops = executed_ops(session.inner.session, result.artifact, tmp_path / "exact.onnx")
    assert not integer_kernels(exact_ops), exact_ops
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= exact_ops
    fused_session = _raw_session(result.artifact, "ORT_ENABLE_ALL", exact=False)
    fused_ops = executed_ops(fused_session, result.artifact, tmp_path / "fused.onnx")
    assert integer_kernels(fused_ops), "the check cannot fail: ONNX Runtime fused nothing"

    def wrap(raw: Any) -> OrtSession:
        return OrtSession(raw, path=result.artifact, threads=2, graph_optimization="all",
                          kind="qdq", exact=False)

    simulated_logits = _logits(session, evaluation_images)
    exact = _logits(wrap(_raw_session(result.artifact, "ORT_ENABLE_ALL", exact=True)),
                    evaluation_images)
    fused = _logits(wrap(fused_session), evaluation_images)
    np.testing.assert_array_equal(simulated_logits, exact)
    np.testing.assert_array_equal(predictions(session, evaluation_images), exact.argmax(axis=1))
    assert not np.array_equal(simulated_logits, fused)
    meaning = _logits(wrap(_raw_session(result.artifact, "ORT_DISABLE_ALL", exact=True)),
                      evaluation_images)
    assert np.abs(simulated_logits - meaning).mean() < np.abs(fused - meaning).mean()


def test_simulated_int8_has_no_exact_twin(simulated: Built) -> None:
    twin = simulated[1].exact_twin()
    assert twin == Unavailable(reason="the simulation already runs in exact arithmetic")


# --- the rules checker on wrong graphs ------------------------------------------------------


@pytest.fixture()
def qdq_model(simulated: Built) -> onnx.ModelProto:
    return onnx.load(str(simulated[0].artifact))


def _node(model: onnx.ModelProto, op_type: str, index: int = 0) -> onnx.NodeProto:
    node: onnx.NodeProto = [n for n in model.graph.node if n.op_type == op_type][index]
    return node


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    tensor: onnx.TensorProto = next(i for i in model.graph.initializer if i.name == name)
    return tensor


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
    largest = np.array(numpy_helper.to_array(scale).max())
    scale.CopyFrom(numpy_helper.from_array(largest, scale.name))
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


def test_rules_reject_onnxruntime_u8_graph(
    simulated: Built, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    """ONNX Runtime's CPU default (asymmetric UINT8 activations) is not a TensorRT INT8 graph.

    Built after ModelOpt ran in this process (``simulated``): ModelOpt patches ONNX Runtime's
    quantizer process-wide, and the build must undo that, or this ``quantize_static`` fails."""
    tc = get_toolchain("onnxruntime")
    recipe = tc.parse_recipe("int8", {"calibration_images": 8})
    built = tc.build(mv2_bundle, recipe, calibration_images, tmp_path)
    found = _rules(onnx.load(str(built.artifact)))
    assert {"zero-point", "int8-type"} <= set(found)
    assert any(name.startswith("input_") for name in found["zero-point"])


def test_rules_reject_a_float_graph(mv2_bundle: ModelBundle) -> None:
    assert set(_rules(onnx.load(str(mv2_bundle.onnx_path)))) == {"no-quantized-layers"}


# --- engine build paths, the TensorRT builder stubbed (no GPU needed) -------------------------


Calls = list[dict[str, Any]]


@pytest.fixture()
def stub_builder(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Replace ``build_engine`` by a stub that writes a fake engine and records its arguments:
    what reaches the builder, and how its facts land in the results, checked without TensorRT."""
    calls: Calls = []

    def fake(graph: Path, engine: Path, knobs: EngineKnobs, timing_cache: Path) -> EngineFacts:
        calls.append({"graph": graph, "engine": engine, "knobs": knobs, "cache": timing_cache})
        engine.write_bytes(b"engine")
        image = [3, 224, 224]
        profile = {"input": ProfileShapes(min=[1, *image], opt=[knobs.max_batch, *image],
                                          max=[knobs.max_batch, *image])}
        return EngineFacts(tensorrt="stub", profile=profile, tf32=knobs.tf32,
                           timing_cache=str(timing_cache), engine_build_seconds=0.5)

    monkeypatch.setattr(trt_build, "build_engine", fake)
    return calls


def test_fp32_engine_path_builds_from_the_export(
    stub_builder: Calls, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    tc = get_toolchain("tensorrt")
    result = tc.build(mv2_bundle, tc.parse_recipe("fp32", {"max_batch": 8, "tf32": False}),
                      calibration_images, tmp_path / "a")
    (call,) = stub_builder
    assert call["graph"] == mv2_bundle.onnx_path
    assert call["cache"] == tmp_path / "a" / "timing.cache"  # a fresh cache per build
    assert result.artifact == tmp_path / "a" / "model.engine" and result.files == [result.artifact]
    assert result.calibration_images == 0 and result.seconds >= 0
    engine = result.facts["engine"]
    assert engine["tf32"] is False and engine["engine_build_seconds"] == 0.5
    assert engine["profile"]["input"]["max"] == [8, 3, 224, 224] and engine["strongly_typed"]
    shared = tc.parse_recipe("fp32", {"timing_cache": "~/trt-timing.cache"})
    tc.build(mv2_bundle, shared, calibration_images, tmp_path / "b")
    assert stub_builder[1]["cache"] == Path.home() / "trt-timing.cache"


def test_fp16_engine_path_builds_from_an_autocast_graph(
    stub_builder: Calls, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    tc = get_toolchain("tensorrt")
    result = tc.build(mv2_bundle, tc.parse_recipe("fp16"), calibration_images, tmp_path)
    graph = stub_builder[0]["graph"]
    assert graph == tmp_path / "fp16.onnx"
    types = {i.data_type for i in onnx.load(str(graph)).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
    autocast = result.facts["autocast"]
    assert autocast["low_precision_type"] == "fp16" and autocast["keep_io_types"] is True
    assert autocast["initializers_by_type"].get("fp16", 0) > 0
    assert set(result.facts) == {"autocast", "engine"} and result.files == [result.artifact]
    assert not (tmp_path / "fp32-staged.onnx").exists()


def test_int8_engine_path_builds_from_a_rule_abiding_qdq_graph(
    stub_builder: Calls, mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    tc = get_toolchain("tensorrt")
    recipe = tc.parse_recipe("int8", {"calibration_images": 4, "high_precision_dtype": "fp16"})
    result = tc.build(mv2_bundle, recipe, calibration_images, tmp_path)
    graph = stub_builder[0]["graph"]
    assert graph == tmp_path / "int8-qdq.onnx" and inspect_qdq(graph).ok
    assert result.calibration_images == 4
    facts = result.facts["graph"]
    assert facts["high_precision_dtype"] == "fp16" and facts["calibration_images_used"] == 4
    assert facts["quantized_layers"] == 52 and set(result.facts) == {"graph", "engine"}


def test_engine_load_without_cuda_is_unavailable_not_a_model_error(tmp_path: Path) -> None:
    """No CUDA in the worker is a machine problem, passed through as such by the base's load."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    tc = get_toolchain("tensorrt")
    with pytest.raises(ToolchainUnavailable, match="no NVIDIA GPU"):
        tc.load(engine, tc.parse_recipe("fp32"), 1)


# --- real engines (GPU only) ----------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize(("recipe", "least"), [("fp32", 0.97), ("fp16", 0.95), ("int8", 0.8)])
def test_engine_on_gpu(
    recipe: str, least: float, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    evaluation_images: ImageArray, reference: np.ndarray, tmp_path: Path,
) -> None:
    _require_tensorrt_gpu()
    result, session = build_and_load(f"tensorrt:{recipe}", mv2_bundle, calibration_images,
                                     tmp_path, options={"max_batch": 16})
    assert result.artifact.name == "model.engine" and result.artifact.stat().st_size > 0
    assert get_toolchain("tensorrt").recipes[recipe].speed_unavailable is None
    engine = result.facts["engine"]
    assert engine["tensorrt"] and engine["engine_build_seconds"] > 0
    assert engine["profile"][mv2_bundle.input_name]["max"][0] == 16
    agreement = float(np.mean(predictions(session, evaluation_images, batch=16) == reference))
    assert agreement >= least, agreement
    single = session.run(np.ascontiguousarray(evaluation_images.images[:1]))
    assert single.shape == (1, 1000) and single.dtype == np.float32 and np.isfinite(single).all()
    with pytest.raises(ModelError):
        session.run(np.zeros((17, *evaluation_images.images.shape[1:]), dtype=np.float32))
    info = session.info()
    assert info["tensorrt"] and info["gpu"] and info["device_memory_mb"] > 0
    batch = np.ascontiguousarray(evaluation_images.images[:4], dtype=np.float32)
    raw: Any = session.raw_call(batch)()  # the engine alone, output left on the device
    np.testing.assert_allclose(raw.float().cpu().numpy(), session.run(batch), rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_int8_engine_matches_its_simulation(
    simulated: Built, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    evaluation_images: ImageArray, tmp_path: Path,
) -> None:
    _require_tensorrt_gpu()
    _, engine = build_and_load("tensorrt:int8", mv2_bundle, calibration_images, tmp_path)
    same = predictions(engine, evaluation_images) == predictions(simulated[1], evaluation_images)
    agreement = float(np.mean(same))
    assert agreement > 0.9, agreement
