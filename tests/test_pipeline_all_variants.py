"""Every variant of every registered toolchain through the real pipeline (workers, artifacts on
disk, results file) on a few real images: each variant that can run here gives an ok row, each
other one the reason its declarations give. Parametrized over the registry, so a new recipe is
tested by adding it."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantarena.config import RunConfig
from quantarena.results.io import load_results
from quantarena.runner import pipeline
from quantarena.toolchains import all_variants, parse_variant
from test_pipeline import FAST

pytestmark = pytest.mark.slow

VARIANTS = all_variants()


def _why_not(variant: str) -> str | None:
    toolchain, recipe = parse_variant(variant)
    problem = toolchain.unavailable(recipe)
    return problem.reason if problem else None


@pytest.fixture(scope="module")
def full_run(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("all")
    config = RunConfig(
        data=sample_dir,
        out=out,
        cache_dir=cache_dir,
        calibration_images=24,
        eval_images=32,
        threads=2,
        measure=FAST.model_copy(update={"throughput_batches": [4]}),
        variants=VARIANTS,
        recipes={"pytorch:int8-qat": {"steps": 4, "batch_size": 8}},
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    return out


def test_the_registry_offers_every_toolchain() -> None:
    assert {v.split(":")[0] for v in VARIANTS} >= {"pytorch", "onnxruntime", "openvino", "tensorrt"}
    assert len(VARIANTS) >= 17


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_is_ok_or_says_why_not(full_run: Path, variant: str) -> None:
    v = load_results(full_run).variant(variant)
    assert v is not None
    reason = _why_not(variant)
    if reason is None:
        assert v.status == "ok", v.reason
        assert v.accuracy is not None and v.accuracy.images == 32
        assert v.artifact is not None and v.artifact.size_mb > 0.5
        assert v.build is not None and v.timings is not None and v.memory is not None
    else:
        assert v.status == "unavailable" and v.reason == reason


def test_gpu_engines_are_unavailable_here_with_the_reason(full_run: Path) -> None:
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
    fp32 = {
        "pytorch": results.variant("pytorch:fp32"),
        "openvino": results.variant("openvino:fp32"),
    }
    for name, toolchain in (
        ("pytorch:int8-eager", "pytorch"),
        ("pytorch:int8-fx", "pytorch"),
        ("openvino:int8", "openvino"),
    ):
        ratio = results.variant(name).artifact.size_mb / fp32[toolchain].artifact.size_mb
        assert 0.2 < ratio < 0.35, (name, ratio)


def test_recipes_disclose_what_was_done(full_run: Path) -> None:
    results = load_results(full_run)
    qat = results.variant("pytorch:int8-qat")
    assert qat.recipe["steps"] == 4
    facts = qat.build.facts
    assert len(facts["loss_history"]) == 4  # one loss per training step
    assert facts["loss_all_images_before"] > 0 and facts["loss_all_images_after"] > 0
    eager = results.variant("pytorch:int8-eager")
    assert eager.recipe["engine"] == "x86"
    assert any("deprecat" in note.lower() for note in eager.notes)
    control = results.variant("openvino:int8-accuracy-control").build.facts
    assert isinstance(control["reverted_layers"], list)
    assert control["quantized_layers"] <= control["quantized_layers_before_restore"]
    pt2e = results.variant("pytorch:int8-pt2e")
    assert pt2e.timings.load_seconds > 0
