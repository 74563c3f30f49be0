"""Every variant of every toolchain through the real pipeline (workers, artifacts on disk, results
file) on a few real images: each CPU variant gives an ok row, each GPU-only one a clear reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline import FAST

from quantarena.config import RunConfig
from quantarena.results.io import load_results
from quantarena.runner import pipeline

pytestmark = pytest.mark.slow

CPU_VARIANTS = [
    "pytorch:fp32", "pytorch:fp32-compiled", "pytorch:int8-eager", "pytorch:int8-fx",
    "pytorch:int8-pt2e", "pytorch:int8-qat", "pytorch:int8-dynamic",
    "onnxruntime:fp32", "onnxruntime:int8", "onnxruntime:int8-dynamic",
    "openvino:fp32", "openvino:int8", "openvino:int8-accuracy-control",
    "tensorrt:int8-simulated",
]


@pytest.fixture(scope="module")
def full_run(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("all")
    config = RunConfig(
        data=sample_dir, out=out, cache_dir=cache_dir, calibration_images=24, eval_images=32,
        threads=2, measure=FAST.model_copy(update={"throughput_batches": [4]}),
        variants=[*CPU_VARIANTS, "tensorrt:int8", "tensorrt:fp16"],
        recipes={"pytorch:int8-qat": {"steps": 4, "batch_size": 8}},
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    return out


def test_every_cpu_variant_is_ok(full_run: Path) -> None:
    results = load_results(full_run)
    problems = [(v.name, v.reason) for v in results.variants if v.name in CPU_VARIANTS and v.status != "ok"]
    assert not problems
    for v in results.variants:
        if v.status == "ok":
            assert v.accuracy is not None and v.accuracy.images == 32
            assert v.artifact is not None and v.artifact.size_mb > 0.5


def test_gpu_engines_are_unavailable_with_the_reason(full_run: Path) -> None:
    results = load_results(full_run)
    for name in ("tensorrt:int8", "tensorrt:fp16"):
        v = results.variant(name)
        assert v.status == "unavailable"
        assert "no NVIDIA GPU" in (v.reason or "") or "tensorrt not installed" in (v.reason or "")


def test_simulated_tensorrt_has_accuracy_but_no_speed(full_run: Path) -> None:
    v = load_results(full_run).variant("tensorrt:int8-simulated")
    assert v.latency_ms is None and not v.throughput
    assert "simulated" in v.unavailable["latency"]
    assert v.accuracy.agreement_top1 > 0.7


def test_int8_artifacts_are_about_a_quarter_of_fp32(full_run: Path) -> None:
    results = load_results(full_run)
    fp32 = {"pytorch": results.variant("pytorch:fp32"), "openvino": results.variant("openvino:fp32")}
    for name, toolchain in (("pytorch:int8-eager", "pytorch"), ("pytorch:int8-fx", "pytorch"), ("openvino:int8", "openvino")):
        ratio = results.variant(name).artifact.size_mb / fp32[toolchain].artifact.size_mb
        assert 0.2 < ratio < 0.35, (name, ratio)


def test_recipes_disclose_what_was_done(full_run: Path) -> None:
    results = load_results(full_run)
    qat = results.variant("pytorch:int8-qat").recipe
    assert qat["steps"] == 4
    assert any("loss" in key for key in qat)
    eager = results.variant("pytorch:int8-eager")
    assert eager.recipe["engine"] == "x86"
    assert any("deprecat" in note.lower() for note in eager.notes)
    control = results.variant("openvino:int8-accuracy-control").recipe
    assert isinstance(control["reverted_layers"], list)
    pt2e = results.variant("pytorch:int8-pt2e")
    assert pt2e.timings.load_seconds > 0
