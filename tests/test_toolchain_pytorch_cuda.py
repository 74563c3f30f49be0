"""The PyTorch CUDA adapter on a machine without a GPU: every variant is unavailable with the
reason, and everything short of the GPU runs for real on the CPU: the builds (weights stored in the
type they run in, torchao's INT8 weights saved and reloaded without re-quantizing), the session's
casts, autocast, staging and kernel listing, on the real MobileNetV2 and real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.data.cache import ImageArray
from quantarena.errors import ToolchainUnavailable
from quantarena.models.spec import ModelBundle
from quantarena.results.measurements import Unavailable
from quantarena.toolchains import get_toolchain
from quantarena.toolchains.pytorch_cuda import runtime
from quantarena.toolchains.pytorch_cuda.recipes import CudaRecipe
from toolchain_checks import predictions, reference_predictions

ALL = (
    "fp32", "tf32", "fp16", "bf16", "fp16-autocast", "bf16-autocast", "fp32-compiled",
    "fp16-compiled", "int8-weight-only", "int8-dynamic",
)


def test_every_recipe_needs_a_gpu_and_says_which_arithmetic() -> None:
    toolchain = get_toolchain("pytorch-cuda")
    assert tuple(toolchain.recipes) == ALL
    labels = {}
    for name, cls in toolchain.recipes.items():
        assert cls.needs.gpu and cls.needs.torch_module, name
        assert cls.reference_rank is None, name  # the CPU FP32 module stays the reference
        recipe = cls()
        assert isinstance(recipe, CudaRecipe)
        labels[name] = recipe.label
    assert labels["fp32"] == "fp32 (TF32 off)"
    assert labels["tf32"] == "fp32 (TF32 on)"
    assert labels["fp16"] == "fp16 (module cast)"
    assert labels["bf16-autocast"] == "bf16 (autocast)"
    precisions = {n: c.precision for n, c in toolchain.recipes.items()}
    assert precisions["tf32"] == "tf32" and precisions["int8-dynamic"] == "int8"


def test_without_a_gpu_every_variant_says_why_in_one_line() -> None:
    toolchain = get_toolchain("pytorch-cuda")
    for name in ALL:
        verdict = toolchain.unavailable(name)
        assert isinstance(verdict, Unavailable), name
        assert verdict.reason.startswith("no NVIDIA GPU"), verdict.reason
        assert verdict.reason.endswith("the CPU variants (pytorch:*) run here")
        assert "\n" not in verdict.reason


def _build(variant: str, bundle: ModelBundle, calibration: ImageArray, workdir: Path,
           **options: object) -> tuple[Path, CudaRecipe, dict[str, object]]:
    toolchain = get_toolchain("pytorch-cuda")
    recipe = toolchain.parse_recipe(variant, dict(options))
    assert isinstance(recipe, CudaRecipe)
    outcome = toolchain.build(bundle, recipe, calibration, workdir)
    return outcome.artifact, recipe, {"size": outcome.size_bytes, **outcome.facts}


def _cpu_session(artifact: Path, recipe: CudaRecipe) -> runtime.CudaSession:
    import torch

    return runtime.open_session(artifact, recipe, torch.device("cpu"))


def test_load_refuses_in_one_line_without_cuda(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    artifact, recipe, _ = _build("fp32", mv2_bundle, calibration_images, tmp_path)
    with pytest.raises(ToolchainUnavailable, match=r"torch.cuda.is_available\(\) is False"):
        runtime.load(artifact, recipe, threads=2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "min_agreement"), [("fp32", 1.0), ("bf16", 0.85), ("bf16-autocast", 0.85)]
)
def test_casts_run_and_agree_with_the_fp32_reference(
    variant: str, min_agreement: float, mv2_bundle: ModelBundle,
    calibration_images: ImageArray, evaluation_images: ImageArray, tmp_path: Path,
) -> None:
    """The reduced types really run (BF16 keeps 8 bits of mantissa: a few top-1 flips on 48
    images are expected) and FP32 on the CPU is the reference, exactly. (FP16 convolutions run
    on the CPU only through a slow fallback; the FP16 cast is the same code path as BF16's.)"""
    artifact, recipe, facts = _build(variant, mv2_bundle, calibration_images, tmp_path)
    session = _cpu_session(artifact, recipe)
    reference = reference_predictions(mv2_bundle, evaluation_images)
    agreement = float(np.mean(predictions(session, evaluation_images) == reference))
    assert agreement >= min_agreement, agreement
    info = session.info()
    assert info["arithmetic"] == recipe.label
    assert info["input_dtype"] == {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16",
                                   "bf16-autocast": "float32"}[variant]
    assert facts["weights_dtype"] == {"bf16-autocast": "fp32"}.get(variant, recipe.dtype)


def test_a_module_cast_artifact_stores_half_the_bytes(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, tmp_path: Path
) -> None:
    _, _, fp32 = _build("fp32", mv2_bundle, calibration_images, tmp_path / "a")
    _, _, fp16 = _build("fp16", mv2_bundle, calibration_images, tmp_path / "b")
    _, _, autocast = _build("fp16-autocast", mv2_bundle, calibration_images, tmp_path / "c")
    assert 0.45 < int(fp16["size"]) / int(fp32["size"]) < 0.55  # type: ignore[call-overload]
    assert autocast["size"] == fp32["size"]


@pytest.mark.slow
@pytest.mark.parametrize(("variant", "matmul_op"),
                         [("int8-weight-only", "aten::mm"), ("int8-dynamic", "aten::_int_mm")])
def test_torchao_int8_is_saved_quantized_and_says_what_it_quantized(
    variant: str, matmul_op: str, mv2_bundle: ModelBundle,
    calibration_images: ImageArray, evaluation_images: ImageArray, tmp_path: Path,
) -> None:
    """torchao quantizes nn.Linear only: on MobileNetV2 one classifier of 53 layers. The
    artifact reloads into torchao tensors (no re-quantization); on the CPU the dynamic config
    runs the integer matmul ``_int_mm``, the weight-only one a dequantized ``mm``."""
    artifact, recipe, facts = _build(variant, mv2_bundle, calibration_images, tmp_path,
                                     compile_mode=None)
    assert facts["quantized_layers"] == ["classifier.1"]
    assert facts["layers_total"] == 53
    assert "Int8" in str(facts["config"])
    session = _cpu_session(artifact, recipe)
    assert type(session.module.classifier[1].weight).__name__ == "Int8Tensor"
    assert matmul_op in session.kernels()
    reference = reference_predictions(mv2_bundle, evaluation_images)
    assert float(np.mean(predictions(session, evaluation_images) == reference)) >= 0.85


def test_the_staged_phases_are_the_call(
    mv2_bundle: ModelBundle, calibration_images: ImageArray, evaluation_images: ImageArray,
    tmp_path: Path,
) -> None:
    """Run in order, the three phases the GPU meter times give exactly ``run``'s logits, for
    a growing and a shrinking batch (buffers are sized for the largest batch seen)."""
    artifact, recipe, _ = _build("fp32", mv2_bundle, calibration_images, tmp_path)
    session = _cpu_session(artifact, recipe)
    for size in (4, 1, 8):
        batch = evaluation_images.images[:size]
        staged = session.stage(batch)
        staged.copy_in()
        staged.compute()
        staged.copy_out()
        phased = session._last["host"].numpy()
        np.testing.assert_array_equal(phased, session.run(batch))
        assert phased.shape == (size, 1000)
    verdict = session.gpu()
    assert isinstance(verdict, Unavailable) and "not a CUDA device" in verdict.reason
    assert "no exact-arithmetic twin" in session.exact_twin().reason
    raw = session.raw_call(evaluation_images.images[:2])()
    assert tuple(raw.shape) == (2, 1000)  # type: ignore[attr-defined]


# --- on a real GPU (skipped elsewhere, with the reason) -------------------------------------


@pytest.fixture
def cuda() -> None:
    """Skips before the model fixtures are made (they cost seconds) when there is no GPU."""
    from quantarena.toolchains.gpu import nvidia_gpu_problem

    problem = nvidia_gpu_problem()
    if problem is not None:
        pytest.skip(problem)
    import torch

    if not torch.cuda.is_available():
        pytest.skip(f"no NVIDIA GPU: torch.cuda.is_available() is False (torch "
                    f"{torch.__version__})")


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("variant", "least"),
    [("fp32", 0.99), ("tf32", 0.97), ("fp16", 0.97), ("bf16", 0.9), ("fp16-autocast", 0.97),
     ("bf16-autocast", 0.9), ("int8-weight-only", 0.9), ("int8-dynamic", 0.9)],
)
def test_variant_on_the_gpu(
    cuda: None, variant: str, least: float, mv2_bundle: ModelBundle, calibration_images: ImageArray,
    evaluation_images: ImageArray, tmp_path: Path,
) -> None:
    """Loaded as a worker loads it, on the GPU: top-1 agrees with the CPU FP32 reference, the
    staged call's events time three phases, and the kernels that ran are listed."""
    toolchain = get_toolchain("pytorch-cuda")
    recipe = toolchain.parse_recipe(variant, {})
    outcome = toolchain.build(mv2_bundle, recipe, calibration_images, tmp_path)
    session = toolchain.load(outcome.artifact, recipe, threads=2)
    reference = reference_predictions(mv2_bundle, evaluation_images)
    agreement = float(np.mean(predictions(session, evaluation_images) == reference))
    assert agreement >= least, agreement
    access = session.gpu()
    assert not isinstance(access, Unavailable)
    staged = access.stage(np.ascontiguousarray(evaluation_images.images[:4]))
    marks = [access.mark()]
    for phase in (staged.copy_in, staged.compute, staged.copy_out):
        phase()
        marks.append(access.mark())
    access.synchronize()
    spans = [a.elapsed_time(b) for a, b in zip(marks, marks[1:], strict=False)]
    assert all(span >= 0 for span in spans) and spans[1] > 0
    info = session.info()
    assert info["gpu"] and info["kernels"], info
    assert access.allocator_peak_mb() is not None
