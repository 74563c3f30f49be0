"""The whole pipeline on real sample images: prepare, split, build, measure in workers, report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.config import MeasureConfig, RunConfig
from quantarena.measure.accuracy import Predictions
from quantarena.report.markdown import render_markdown
from quantarena.results.io import load_results
from quantarena.results.schema import Measurements
from quantarena.runner import pipeline
from quantarena.runner.jobs import JobOutcome
from quantarena.runner.launcher import Launcher

pytestmark = pytest.mark.slow

FAST = MeasureConfig(
    eval_batch=16,
    latency_min_iterations=10,
    latency_min_seconds=0.3,
    latency_max_seconds=2,
    warmup_max_seconds=1,
    throughput_batches=[8],
    throughput_min_iterations=3,
    throughput_min_seconds=0.3,
    throughput_max_seconds=2,
    rounds_window_seconds=0.1,
    rounds_window_calls=3,
    rounds_max_seconds=3,
    rounds_max=8,
)


def small_config(sample_dir: Path, out: Path, cache: Path, **extra: object) -> RunConfig:
    settings: dict[str, object] = {
        "data": sample_dir,
        "out": out,
        "cache_dir": cache,
        "calibration_images": 24,
        "variants": ["pytorch:fp32", "onnxruntime:fp32", "onnxruntime:int8"],
        "eval_images": 40,
        "threads": 2,
        "measure": FAST,
    }
    settings.update(extra)
    return RunConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def demo_run(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("run")
    pipeline.run_benchmark(small_config(sample_dir, out, cache_dir), log=lambda _: None)
    return out


def test_every_default_variant_is_measured(demo_run: Path) -> None:
    results = load_results(demo_run)
    assert [v.name for v in results.variants] == [
        "pytorch:fp32",
        "onnxruntime:fp32",
        "onnxruntime:int8",
    ]
    assert all(v.status == "ok" for v in results.variants), [
        (v.name, v.reason) for v in results.variants
    ]
    for v in results.variants:
        assert v.latency_ms and v.latency_ms.iterations >= 10 and v.latency_ms.p50 > 0
        assert v.throughput and v.throughput[0].batch == 8 and v.throughput[0].images_per_s > 0
        assert v.memory and v.memory.peak_rss_mb > 50
        assert v.timings and v.timings.load_seconds > 0
        assert v.cpu_time and v.cpu_time.seconds_per_image > 0 and v.cpu_time.batch == 8
    assert results.dataset.eval_images == 40 and results.dataset.calibration_images == 24
    assert results.dataset.eval_list_sha256 != results.dataset.calibration_list_sha256
    assert results.finished_at is not None


def test_the_variants_are_timed_again_in_interleaved_rounds(demo_run: Path) -> None:
    results = load_results(demo_run)
    rounds = results.interleaved
    assert rounds is not None and rounds.reference == "pytorch:fp32"
    assert rounds.variants == [v.name for v in results.variants]
    assert rounds.rounds >= 2 and rounds.stop_reason in {"converged", "time_cap", "max_rounds"}
    assert rounds.fallback is None and rounds.failed == {}
    assert [(s.baseline, s.variant) for s in rounds.speedups] == [
        ("pytorch:fp32", "onnxruntime:fp32"), ("pytorch:fp32", "onnxruntime:int8"),
        ("onnxruntime:fp32", "onnxruntime:int8")]
    assert all(s.speedup is not None and s.speedup > 0 for s in rounds.speedups)
    assert len(rounds.machine.samples) == rounds.rounds
    assert "Interleaved rounds:" in render_markdown(results)


def test_onnxruntime_fp32_equals_pytorch_image_by_image(demo_run: Path) -> None:
    results = load_results(demo_run)
    torch_pred = Predictions.load(demo_run / results.variant("pytorch:fp32").predictions_file)
    ort_pred = Predictions.load(demo_run / results.variant("onnxruntime:fp32").predictions_file)
    np.testing.assert_array_equal(torch_pred.top5[:, 0], ort_pred.top5[:, 0])
    assert results.variant("onnxruntime:fp32").accuracy.agreement_top1 == 1.0


def test_int8_is_a_quarter_of_fp32_and_close(demo_run: Path) -> None:
    results = load_results(demo_run)
    fp32, int8 = results.variant("onnxruntime:fp32"), results.variant("onnxruntime:int8")
    assert 0.2 < int8.artifact.size_mb / fp32.artifact.size_mb < 0.35
    assert int8.build.calibration_images == 24
    assert int8.recipe["per_channel"] is True and int8.recipe["calibration_method"] == "minmax"
    # What was asked and what the build decided are separate blocks.
    assert int8.recipe["calibration_images"] is None  # the knob as asked: the whole split
    assert int8.build.facts["calibration_images_used"] == 24
    assert not set(int8.build.facts) & set(int8.recipe)
    assert int8.baseline == "onnxruntime:fp32" and fp32.baseline == "onnxruntime:fp32"
    assert int8.accuracy.agreement_top1 > 0.75


def test_accuracy_fields_agree_with_the_prediction_files(demo_run: Path) -> None:
    results = load_results(demo_run)
    reference = Predictions.load(demo_run / results.variant("pytorch:fp32").predictions_file)
    for v in results.variants:
        pred = Predictions.load(demo_run / v.predictions_file)
        assert pred.files == reference.files and len(pred.files) == v.accuracy.images
        assert v.accuracy.top1 == pytest.approx(pred.correct_top1.mean())
        assert v.accuracy.top5 == pytest.approx(pred.correct_top5.mean())
        delta = (pred.correct_top1.mean() - reference.correct_top1.mean()) * 100
        assert v.accuracy.top1_delta_pp == pytest.approx(delta)


def test_report_is_written_from_results(demo_run: Path) -> None:
    text = render_markdown(load_results(demo_run))
    assert "| onnxruntime:int8 | ok |" in text and "## Recipes" in text


def test_one_broken_variant_keeps_the_others(
    sample_dir: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Launcher.run

    def crash_int8_measure(self, job, name):  # type: ignore[no-untyped-def]
        if name == "onnxruntime_int8.measure":
            return JobOutcome[Measurements](status="failed", reason="worker crashed (SIGSEGV)")
        return real(self, job, name)

    monkeypatch.setattr(Launcher, "run", crash_int8_measure)
    config = small_config(
        sample_dir, tmp_path, cache_dir, variants=["onnxruntime:int8", "onnxruntime:fp32"]
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    results = load_results(tmp_path)
    assert results.variant("onnxruntime:fp32").status == "ok"
    broken = results.variant("onnxruntime:int8")
    assert broken.status == "failed" and "SIGSEGV" in (broken.reason or "")
    assert broken.artifact is not None and broken.build is not None  # what was done is kept


def test_random_weights_report_accuracy_as_unavailable(
    sample_dir: Path, tmp_path: Path, cache_dir: Path
) -> None:
    config = small_config(
        sample_dir,
        tmp_path,
        cache_dir,
        model="resnet18",
        weights="none",
        variants=["onnxruntime:fp32"],
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    v = load_results(tmp_path).variant("onnxruntime:fp32")
    assert v.status == "ok" and v.accuracy is None
    assert "random weights" in v.unavailable["accuracy"]
    assert v.latency_ms is not None


def test_user_onnx_model_runs_and_pytorch_is_unavailable(
    sample_dir: Path, tmp_path: Path, cache_dir: Path, mv2_bundle
) -> None:
    config = small_config(
        sample_dir,
        tmp_path,
        cache_dir,
        model=str(mv2_bundle.onnx_path),
        variants=["pytorch:fp32", "onnxruntime:fp32"],
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    results = load_results(tmp_path)
    assert results.variant("pytorch:fp32").status == "unavailable"
    assert "ONNX file" in results.variant("pytorch:fp32").reason
    assert results.variant("onnxruntime:fp32").status == "ok"
    assert results.variant("onnxruntime:fp32").accuracy.top1 > 0.5


def test_repeats_measure_in_several_processes_and_report_the_spread(
    sample_dir: Path, tmp_path: Path, cache_dir: Path
) -> None:
    from quantarena.report.table import markdown_table

    measure = FAST.model_copy(update={"repeats": 3, "throughput_batches": [4]})
    config = small_config(
        sample_dir, tmp_path, cache_dir, variants=["onnxruntime:int8"], measure=measure
    )
    pipeline.run_benchmark(config, log=lambda _: None)
    results = load_results(tmp_path)
    latency = results.variant("onnxruntime:int8").latency_ms
    assert len(latency.p50_runs) == 3
    assert latency.p50 == sorted(latency.p50_runs)[1]
    assert latency.p50_between_runs == {
        "low": min(latency.p50_runs),
        "high": max(latency.p50_runs),
        "coverage": 0.75,
    }
    throughput = results.variant("onnxruntime:int8").throughput[0]
    assert len(throughput.images_per_s_runs) == 3
    assert throughput.images_per_s == sorted(throughput.images_per_s_runs)[1]
    assert "]×3" in markdown_table(results)
    assert len(list((tmp_path / "logs").glob("onnxruntime_int8.measure-*.outcome.json"))) == 2
