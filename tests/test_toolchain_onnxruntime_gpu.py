"""ONNX Runtime's GPU variants on a machine without a GPU or onnxruntime-gpu: each is unavailable
with the GPU reason, then (GPU check bypassed) with onnxruntime-gpu named, and available once that
distribution is installed (metadata faked); everything short of the GPU runs for real: the FP16
conversion and the TensorRT Q/DQ INT8 build on the real MobileNetV2, the session's IO binding and
staging on the CPU provider, the provider options each recipe asks for, and the check that refuses
a session ONNX Runtime silently moved off the provider asked for."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from pydantic import ValidationError

from quantarena.data.cache import ImageArray
from quantarena.errors import ConfigError, ModelError, ToolchainUnavailable
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import RUNS_ON_CPU, Unavailable
from quantarena.toolchains import BuildOutcome, base, get_toolchain
from quantarena.toolchains.base import BuildFacts, Built, Needs, Recipe, Session, Toolchain
from quantarena.toolchains.gpu import nvidia_gpu_problem
from quantarena.toolchains.onnxruntime import gpu_providers
from quantarena.toolchains.onnxruntime.gpu_recipes import (
    CUDA,
    GPU_BUILD_HINT,
    TENSORRT,
    OrtCudaFp16,
    OrtCudaFp32,
    OrtTrtFp16,
    OrtTrtInt8,
)
from quantarena.toolchains.onnxruntime.gpu_runtime import OrtGpuSession
from toolchain_checks import predictions, reference_predictions

GPU_VARIANTS = {
    "cuda-fp32": "fp32", "cuda-fp16": "fp16", "tensorrt-fp16": "fp16", "tensorrt-int8": "int8",
}
NO_GPU_BUILD = f"onnxruntime-gpu not installed ({GPU_BUILD_HINT})"


@pytest.fixture(scope="module")
def fp16(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> BuildOutcome:
    return get_toolchain("onnxruntime").build(
        mv2_bundle, OrtCudaFp16(), calibration_images, tmp_path_factory.mktemp("ort-cuda-fp16")
    )


@pytest.fixture(scope="module")
def trt_int8(
    mv2_bundle: ModelBundle, calibration_images: ImageArray,
    tmp_path_factory: pytest.TempPathFactory,
) -> BuildOutcome:
    return get_toolchain("onnxruntime").build(
        mv2_bundle, OrtTrtInt8(), calibration_images, tmp_path_factory.mktemp("ort-trt-int8")
    )


def _cpu_session(path: Path, max_batch: int | None = None) -> OrtGpuSession:
    """The GPU session's binding and staging on torch CPU buffers and the CPU provider."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return OrtGpuSession(session, device=torch.device("cpu"), stream=None,
                         asked=[("CPUExecutionProvider", {})], max_batch=max_batch)


def test_importing_the_gpu_modules_imports_no_runtime() -> None:
    code = ("import sys, quantarena.toolchains.onnxruntime.gpu_runtime, "
            "quantarena.toolchains.onnxruntime.gpu_providers, "
            "quantarena.toolchains.onnxruntime.gpu_build\n"
            "print(sorted({'onnxruntime', 'onnx', 'torch', 'tensorrt'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_declarations() -> None:
    toolchain = get_toolchain("onnxruntime")
    assert {n: toolchain.recipes[n].precision for n in GPU_VARIANTS} == GPU_VARIANTS
    assert "onnxruntime-gpu" in toolchain.packages
    for name in GPU_VARIANTS:
        recipe = toolchain.recipes[name]
        assert recipe.needs.gpu and recipe.needs.distributions == ("onnxruntime-gpu",), name
        assert recipe.needs.packages == ("onnxruntime", "onnx", "torch"), name
        assert recipe.summary and recipe.speed_unavailable is None, name  # real GPU speed
        assert recipe.reference_rank is None, name
    assert toolchain.recipes["tensorrt-int8"].calibrates
    assert toolchain.recipes["tensorrt-int8"].layer_knob == "nodes_to_exclude"
    assert not any(toolchain.recipes[n].calibrates for n in GPU_VARIANTS if n != "tensorrt-int8")


def test_without_a_gpu_every_variant_gives_the_gpu_reason() -> None:
    problem = nvidia_gpu_problem()
    if problem is None:
        pytest.skip("this machine has an NVIDIA GPU")
    toolchain = get_toolchain("onnxruntime")
    for name in GPU_VARIANTS:
        status = toolchain.unavailable(name)
        assert status is not None and status.reason == problem, name
        assert status.reason.startswith("no NVIDIA GPU")
    assert all(toolchain.unavailable(n) is None for n in ("fp32", "int8", "int8-dynamic"))


def test_past_the_gpu_check_the_reason_names_onnxruntime_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if base._installed("onnxruntime-gpu"):  # the check Needs.distributions uses
        pytest.skip("onnxruntime-gpu is installed here")
    monkeypatch.setattr("quantarena.toolchains.base.nvidia_gpu_problem", lambda: None)
    toolchain = get_toolchain("onnxruntime")
    for name in GPU_VARIANTS:
        status = toolchain.unavailable(name)
        assert status is not None and status.reason == NO_GPU_BUILD, name
    assert "\n" not in NO_GPU_BUILD and "make venv-gpu" in NO_GPU_BUILD


def test_an_installed_onnxruntime_gpu_makes_the_variants_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.metadata.version

    def version(name: str) -> str:
        return "1.31.1" if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr("quantarena.toolchains.base.nvidia_gpu_problem", lambda: None)
    monkeypatch.setattr(importlib.metadata, "version", version)
    toolchain = get_toolchain("onnxruntime")
    assert [n for n in GPU_VARIANTS if toolchain.unavailable(n) is not None] == []


class _Needy(Recipe):
    needs: ClassVar[Needs] = Needs(
        packages=("numpy",), install="pip install numpy",
        distributions=("numpy", "quantarena-no-such-distribution"),
        distributions_install="it ships nowhere",
    )
    Facts: ClassVar[type[BuildFacts]] = BuildFacts


class _Toolchain(Toolchain):
    name: ClassVar[str] = "needy"
    title: ClassVar[str] = "Needy"
    recipes: ClassVar[dict[str, type[Recipe]]] = {"x": _Needy}

    def _build(self, bundle: ModelBundle, recipe: Recipe, calibration: ImageArray,
               workdir: Path) -> Built:
        raise NotImplementedError

    def _load(self, artifact: Path, recipe: Recipe, threads: int) -> Session:
        raise NotImplementedError


def test_distributions_are_read_from_metadata_after_the_gpu_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """numpy's metadata is found, a made-up distribution's is not; a GPU problem, when the recipe
    needs a GPU, is said first."""
    status = _Toolchain().unavailable("x")
    assert status is not None
    assert status.reason == "quantarena-no-such-distribution not installed (it ships nowhere)"
    monkeypatch.setattr(_Needy, "needs", Needs(distributions=("numpy",)))
    assert _Toolchain().unavailable("x") is None
    monkeypatch.setattr(_Needy, "needs", Needs(distributions=("no-such-dist",), gpu=True))
    monkeypatch.setattr("quantarena.toolchains.base.nvidia_gpu_problem", lambda: "no NVIDIA GPU")
    status = _Toolchain().unavailable("x")
    assert status is not None and status.reason == "no NVIDIA GPU"


def test_the_cuda_recipes_ask_for_the_cuda_provider_with_their_knobs(tmp_path: Path) -> None:
    for cls in (OrtCudaFp32, OrtCudaFp16):
        assert cls().provider_options(tmp_path, "input", (3, 224, 224)) == [
            (CUDA, {"device_id": "0", "use_tf32": "0", "cudnn_conv_algo_search": "EXHAUSTIVE"})
        ]
        recipe = cls(tf32=True, cudnn_conv_algo_search="HEURISTIC", device_id=1)
        assert recipe.provider_options(tmp_path, "input", (3, 224, 224)) == [
            (CUDA, {"device_id": "1", "use_tf32": "1", "cudnn_conv_algo_search": "HEURISTIC"})
        ]
        assert cls.provider == CUDA and cls().max_batch_size() is None
    with pytest.raises(ValidationError):
        OrtCudaFp32(cudnn_conv_algo_search="FAST")  # type: ignore[arg-type]


def test_the_tensorrt_recipes_ask_for_tensorrt_then_cuda(tmp_path: Path) -> None:
    common = {
        "device_id": "0",
        "trt_max_workspace_size": str(1024 * 2**20),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(tmp_path),
        "trt_profile_min_shapes": "input:1x3x224x224",
        "trt_profile_opt_shapes": "input:64x3x224x224",
        "trt_profile_max_shapes": "input:64x3x224x224",
    }
    cuda = (CUDA, {"device_id": "0", "use_tf32": "0"})
    fp16 = OrtTrtFp16().provider_options(tmp_path, "input", (3, 224, 224))
    assert fp16 == [
        (TENSORRT, {**common, "trt_fp16_enable": "True", "trt_int8_enable": "False"}), cuda
    ]
    int8 = OrtTrtInt8().provider_options(tmp_path, "input", (3, 224, 224))
    assert int8 == [
        (TENSORRT, {**common, "trt_fp16_enable": "False", "trt_int8_enable": "True"}), cuda
    ]
    knobs = OrtTrtInt8(fp16_enable=True, max_batch=8, opt_batch=4, workspace_mb=256)
    [(name, options), _] = knobs.provider_options(tmp_path, "x", (1, 28, 28))
    assert name == TENSORRT and options["trt_fp16_enable"] == "True"
    assert options["trt_max_workspace_size"] == str(256 * 2**20)
    assert [options[f"trt_profile_{k}_shapes"] for k in ("min", "opt", "max")] == [
        "x:1x1x28x28", "x:4x1x28x28", "x:8x1x28x28"
    ]
    assert knobs.max_batch_size() == 8 and OrtTrtFp16.provider == TENSORRT
    with pytest.raises(ValidationError, match="opt_batch"):
        OrtTrtFp16(max_batch=4, opt_batch=8)


def test_the_stream_goes_to_every_gpu_provider_and_nowhere_else() -> None:
    asked = [(TENSORRT, {"a": "1"}), (CUDA, {"b": "2"}), ("CPUExecutionProvider", {})]
    stream = {"user_compute_stream": "4096", "has_user_compute_stream": "1"}
    assert gpu_providers.with_stream(asked, 4096) == [
        (TENSORRT, {"a": "1", **stream}), (CUDA, {"b": "2", **stream}), ("CPUExecutionProvider", {})
    ]
    assert asked[0][1] == {"a": "1"}  # the recipe's options are not changed


def test_fp16_build_is_onnxruntimes_conversion_with_fp32_io(
    fp16: BuildOutcome, mv2_bundle: ModelBundle
) -> None:
    source = onnx.load(str(mv2_bundle.onnx_path))
    floats = sum(i.data_type == onnx.TensorProto.FLOAT for i in source.graph.initializer)
    assert fp16.facts == {
        "initializers_by_type": {"fp16": floats},  # MobileNetV2 has no op of the block list
        "ops_kept_in_fp32": {},
        "casts_added": 2,  # the FP32 input and output
        "keep_io_types": True,
        "onnxruntime": ort.__version__,
    }
    graph = onnx.load(str(fp16.artifact)).graph
    io = [*graph.input, *graph.output]
    assert {v.type.tensor_type.elem_type for v in io} == {onnx.TensorProto.FLOAT}
    conv_weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    assert {i.data_type for i in graph.initializer if i.name in conv_weights} == {
        onnx.TensorProto.FLOAT16
    }
    assert fp16.size_bytes < 0.55 * mv2_bundle.onnx_path.stat().st_size


def test_fp16_graph_runs_on_the_cpu_provider_close_to_pytorch(
    fp16: BuildOutcome, mv2_bundle: ModelBundle, evaluation_images: ImageArray
) -> None:
    """The CPU provider runs the FP16 graph (ONNX Runtime casts around the kernels it lacks): the
    converted weights agree with the FP32 model image by image, nearly everywhere."""
    session = _cpu_session(fp16.artifact)
    agree = np.mean(predictions(session, evaluation_images)
                    == reference_predictions(mv2_bundle, evaluation_images))
    assert agree >= 0.95, agree


def test_fp16_block_list_keeps_those_ops_in_fp32(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    result = get_toolchain("onnxruntime").build(
        mv2_bundle, OrtCudaFp16(op_block_list=("Gemm",)), calibration_images, tmp_path
    )
    assert result.facts["ops_kept_in_fp32"] == {"Gemm": 1}
    assert result.facts["initializers_by_type"]["fp32"] == 2  # the classifier's weight and bias
    assert result.facts["casts_added"] > 2
    graph = onnx.load(str(result.artifact)).graph
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    types = {i.name: i.data_type for i in graph.initializer}
    assert types[gemm.input[1]] == onnx.TensorProto.FLOAT


def test_tensorrt_int8_build_is_a_symmetric_per_channel_qdq_graph(
    trt_int8: BuildOutcome, calibration_images: ImageArray
) -> None:
    facts = trt_int8.facts
    assert facts["calibration_images_used"] == len(calibration_images)
    assert trt_int8.calibration_images == len(calibration_images)
    assert facts["qdq_rule_violations"] == [] and facts["layers_kept_in_high_precision"] == []
    assert facts["quantized_layers"] == 53  # 52 convolutions and the classifier
    assert facts["onnxruntime"] == ort.__version__
    graph = onnx.load(str(trt_int8.artifact)).graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    quantize = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    assert quantize
    for node in quantize:  # activations: INT8, zero point 0, one scale
        zero_point = consts[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
        assert consts[node.input[1]].size == 1, node.name
    producers = {o: n for n in graph.node for o in n.output}
    for conv in (n for n in graph.node if n.op_type == "Conv"):
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        weight = consts[dq.input[0]]
        assert weight.dtype == np.int8 and consts[dq.input[1]].size == weight.shape[0]
        assert not consts[dq.input[2]].any()
        if len(conv.input) > 2:  # the bias stays FP32 (no INT32 DequantizeLinear)
            assert consts[conv.input[2]].dtype == np.float32
    dq_types = {consts[n.input[0]].dtype for n in graph.node
                if n.op_type == "DequantizeLinear" and n.input[0] in consts}
    assert dq_types == {np.dtype(np.int8)}


def test_tensorrt_int8_graph_keeps_its_accuracy_on_the_cpu(
    trt_int8: BuildOutcome, mv2_bundle: ModelBundle, evaluation_images: ImageArray
) -> None:
    """The Q/DQ graph TensorRT is handed, executed on the CPU provider: calibrated, it agrees
    with FP32 on most images (the arithmetic check lives with TensorRT's simulation)."""
    session = ort.InferenceSession(str(trt_int8.artifact), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    ours = np.concatenate([np.argmax(session.run(None, {name: chunk})[0][:valid], axis=1)
                           for chunk, valid in evaluation_images.batches(16)])
    agree = np.mean(ours == reference_predictions(mv2_bundle, evaluation_images))
    assert agree >= 0.8, agree


def test_tensorrt_int8_excluded_nodes_stay_float(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    first = OrtTrtInt8.layers(mv2_bundle)[0]
    result = get_toolchain("onnxruntime").build(
        mv2_bundle, OrtTrtInt8(nodes_to_exclude=(first,), calibration_images=8),
        calibration_images, tmp_path,
    )
    assert result.facts["layers_kept_in_high_precision"] == [first]
    assert result.facts["quantized_layers"] == 52 and result.calibration_images == 8
    with pytest.raises(ConfigError, match="no quantizable node named nope"):
        get_toolchain("onnxruntime").build(
            mv2_bundle, OrtTrtInt8(nodes_to_exclude=("nope",)), calibration_images,
            tmp_path / "bad",
        )


def test_the_session_binds_stages_and_grows_its_buffers(
    fp16: BuildOutcome, evaluation_images: ImageArray
) -> None:
    """IO binding on torch buffers, run on the CPU provider: the same logits as a plain run at
    every batch size, buffers reallocated only for a larger batch, the staged phases doing what
    ``run`` does, and ``raw_call`` the bound run alone."""
    session = _cpu_session(fp16.artifact)
    plain = session.session
    images = np.ascontiguousarray(evaluation_images.images[:6], dtype=np.float32)

    def expected(batch: np.ndarray) -> np.ndarray:
        return np.asarray(plain.run(None, {"input": batch})[0])

    assert session.capacity == 1
    for n, capacity in ((2, 2), (5, 5), (3, 5), (1, 5)):
        out = session.run(images[:n])
        assert out.dtype == np.float32 and out.shape == (n, 1000)
        np.testing.assert_allclose(out, expected(images[:n]), rtol=1e-5, atol=1e-5)
        assert session.capacity == capacity and session.bound == n
    staged = session._stage(images[:4])
    staged.copy_in()
    staged.compute()
    staged.copy_out()
    np.testing.assert_allclose(session.host_out_np[:4], expected(images[:4]), rtol=1e-5,
                               atol=1e-5)
    raw: Any = session.raw_call(images[:2])()
    assert isinstance(raw, torch.Tensor) and tuple(raw.shape) == (2, 1000)
    np.testing.assert_allclose(raw.numpy(), expected(images[:2]), rtol=1e-5, atol=1e-5)


def test_the_session_refuses_what_it_cannot_run_and_says_what_ran(
    fp16: BuildOutcome, evaluation_images: ImageArray
) -> None:
    session = _cpu_session(fp16.artifact, max_batch=2)
    with pytest.raises(ModelError, match=r"does not match the graph's \(N, 3, 224, 224\)"):
        session.run(np.zeros((1, 3, 32, 32), dtype=np.float32))
    with pytest.raises(ModelError, match="exceeds the TensorRT profile's max_batch 2"):
        session.run(np.zeros((3, 3, 224, 224), dtype=np.float32))
    info = session.info()
    assert info["providers"] == ["CPUExecutionProvider"]
    assert info["provider_options"] == {"CPUExecutionProvider": {}}
    assert info["onnxruntime"] == f"onnxruntime {ort.__version__}"
    assert session.gpu() is RUNS_ON_CPU
    twin = session.exact_twin()
    assert isinstance(twin, Unavailable) and "exact-arithmetic" in twin.reason


class _FakeSession:
    def __init__(self, providers: list[str]) -> None:
        self.providers = providers

    def get_providers(self) -> list[str]:
        return self.providers


def test_a_silent_fallback_is_refused_in_one_line(fp16: BuildOutcome, tmp_path: Path) -> None:
    real = ort.InferenceSession(str(fp16.artifact), providers=["CPUExecutionProvider"])
    for session in (real, _FakeSession(["CPUExecutionProvider"])):
        with pytest.raises(ToolchainUnavailable) as caught:
            gpu_providers.check_providers(session, CUDA)
        message = str(caught.value)
        assert message == (
            "CUDAExecutionProvider was asked for, but ONNX Runtime fell back to "
            "CPUExecutionProvider: the provider did not load; a fallback's timing is never "
            "reported as CUDAExecutionProvider's"
        )
    assert gpu_providers.check_providers(_FakeSession([CUDA, "CPUExecutionProvider"]), CUDA) == [
        CUDA, "CPUExecutionProvider"
    ]
    # TensorRT dropped, CUDA kept: still refused; the loader's own line says why
    fake_ort = SimpleNamespace(__file__=str(tmp_path / "onnxruntime" / "__init__.py"))
    with pytest.raises(ToolchainUnavailable, match=(
        r"fell back to CUDAExecutionProvider \+ CPUExecutionProvider: the provider did not load "
        r"\(libonnxruntime_providers_tensorrt.so is not part of this onnxruntime\)"
    )):
        gpu_providers.check_providers(_FakeSession([CUDA, "CPUExecutionProvider"]), TENSORRT,
                                    fake_ort)


def test_missing_libraries_are_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorRT's own library missing is said to be TensorRT's, with the release to install;
    another library missing (a CUDA one) is not blamed on TensorRT."""
    monkeypatch.setattr(gpu_providers, "build_info",
                        lambda field: {"cuda_version": "13.0"}.get(field))
    nvinfer = "libnvinfer.so.10: cannot open shared object file: No such file or directory"
    expected = (
        "TensorRT libraries missing: ONNX Runtime's TensorrtExecutionProvider cannot load "
        f"({nvinfer}); install TensorRT 10.x for CUDA 13 (pip install 'tensorrt-cu13>=10,<11') "
        "or put its lib folder on LD_LIBRARY_PATH"
    )
    assert gpu_providers.cannot_load(TENSORRT, nvinfer) == expected
    assert gpu_providers.tensorrt_missing(nvinfer, "13.0") == expected
    cublas = "libcublas.so.13: cannot open shared object file: No such file or directory"
    assert gpu_providers.cannot_load(TENSORRT, cublas) == (
        f"ONNX Runtime's TensorrtExecutionProvider cannot load ({cublas}): the CUDA and cuDNN "
        "libraries come from the nvidia-* wheels torch installs, or from LD_LIBRARY_PATH (this "
        "onnxruntime-gpu is built for CUDA 13.0)"
    )
    # the dynamic loader's line, as the provider library gives it when TensorRT's is missing
    monkeypatch.setattr(gpu_providers, "library_problem", lambda ort, provider: nvinfer)
    with pytest.raises(ToolchainUnavailable, match=r"^TensorRT libraries missing: .*libnvinfer"):
        gpu_providers.check_providers(_FakeSession([CUDA]), TENSORRT, SimpleNamespace())

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("onnxruntime_pybind_state.cc:729 Please install TensorRT libraries as "
                           "mentioned in the GPU requirements page\nmore text")

    fake_ort = SimpleNamespace(__file__=str(tmp_path / "__init__.py"), InferenceSession=refuse)
    with pytest.raises(ToolchainUnavailable) as caught:
        gpu_providers.create_session(fake_ort, tmp_path / "model.onnx", None, [])
    assert str(caught.value) == expected
    monkeypatch.setattr(gpu_providers, "library_problem", lambda ort, provider: None)
    with pytest.raises(ToolchainUnavailable) as caught:
        gpu_providers.create_session(fake_ort, tmp_path / "model.onnx", None, [])
    assert str(caught.value) == (
        "ONNX Runtime's TensorrtExecutionProvider cannot load (onnxruntime_pybind_state.cc:729 "
        "Please install TensorRT libraries as mentioned in the GPU requirements page)"
    )


def test_loading_without_a_gpu_is_one_line(fp16: BuildOutcome) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    for recipe in (OrtCudaFp16(), OrtTrtFp16()):
        with pytest.raises(ToolchainUnavailable, match="^no usable NVIDIA GPU: torch.cuda"):
            get_toolchain("onnxruntime").load(fp16.artifact, recipe, 1)


def test_the_cpu_build_is_refused_for_a_gpu_provider() -> None:
    if CUDA in ort.get_available_providers():
        pytest.skip("this onnxruntime is the GPU build")
    with pytest.raises(ToolchainUnavailable, match=(
        r"^the onnxruntime imported \(onnxruntime [\d.]+\) has no CUDAExecutionProvider "
        r"\(it has .*CPUExecutionProvider\): onnxruntime-gpu must replace onnxruntime"
    )):
        gpu_providers.import_gpu_onnxruntime(CUDA)


@pytest.mark.skipif(
    "QUANTARENA_ORT_GPU_DIR" not in os.environ,
    reason="set QUANTARENA_ORT_GPU_DIR to an unpacked onnxruntime-gpu wheel to run",
)
def test_the_real_gpu_build_without_a_gpu_or_tensorrt(fp16: BuildOutcome) -> None:
    """onnxruntime-gpu's own wheel (unpacked, imported ahead of the CPU build in a subprocess),
    on a machine with no driver: the CUDA provider falls back to the CPU without an error and is
    refused; TensorRT's missing libnvinfer is named."""
    code = (
        f"import sys; sys.path.insert(0, {os.environ['QUANTARENA_ORT_GPU_DIR']!r})\n"
        "import torch  # as the loader does: torch loads the CUDA libraries of its wheels\n"
        "from pathlib import Path\n"
        "from quantarena.errors import ToolchainUnavailable\n"
        "from quantarena.toolchains.onnxruntime import gpu_providers as g\n"
        "from quantarena.toolchains.onnxruntime.gpu_recipes import OrtCudaFp16, OrtTrtFp16\n"
        "from quantarena.toolchains.onnxruntime.runtime import session_options\n"
        f"art = Path({str(fp16.artifact)!r})\n"
        "for r in (OrtCudaFp16(), OrtTrtFp16()):\n"
        "    ort = g.import_gpu_onnxruntime(r.provider)\n"
        "    asked = r.provider_options(art.parent, *g.graph_input(art))\n"
        "    try:\n"
        "        s = g.create_session(ort, art, session_options(1, 'all'), asked)\n"
        "        g.check_providers(s, r.provider, ort)\n"
        "    except ToolchainUnavailable as e:\n"
        "        print('REFUSED', e)\n"
    )
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    # preload_dlls prints what it could not load next to an unpacked wheel (no nvidia-* beside)
    out = [line for line in lines if line.startswith("REFUSED")]
    assert len(out) == 2, lines
    assert out[0].startswith("REFUSED CUDAExecutionProvider was asked for, but ONNX Runtime fell "
                             "back to CPUExecutionProvider: the provider did not load (")
    assert out[1].startswith("REFUSED TensorRT libraries missing: ") and "libnvinfer" in out[1]
