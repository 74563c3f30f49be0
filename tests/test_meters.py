"""The measuring sequence on a real ONNX Runtime session of the real MobileNetV2: every meter fills
its typed measurement or says why not, in one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quantarena.config import MeasureConfig
from quantarena.data.cache import load_split, read_head
from quantarena.measure.accuracy import Predictions
from quantarena.measure.accuracy_speed import EVALUATION_SPLIT, MIN_TIMED_CALLS
from quantarena.measure.meters import (
    CpuTimeMeter,
    LatencyMeter,
    MeasureRun,
    Meter,
    ThroughputMeter,
    default_meters,
    measure_all,
)
from quantarena.results.measurements import Block, Unavailable
from quantarena.toolchains import get_toolchain

QUICK = MeasureConfig(
    eval_batch=8,
    latency_min_iterations=5,
    latency_min_seconds=0.1,
    latency_max_seconds=0.5,
    warmup_max_seconds=0.2,
    throughput_batches=[1, 4],
    throughput_min_iterations=2,
    throughput_min_seconds=0.1,
    throughput_max_seconds=0.5,
)


def _run(mv2_bundle, cache_dir: Path, tmp_path: Path, **extra: object) -> MeasureRun:  # type: ignore[no-untyped-def]
    toolchain = get_toolchain("onnxruntime")
    session = toolchain.load(mv2_bundle.onnx_path, toolchain.parse_recipe("fp32"), 1)
    evaluation = next(p for p in sorted(cache_dir.glob("*.npy")) if "partial" not in p.name)
    settings: dict[str, object] = {
        "session": session,
        "config": QUICK,
        "timing_images": read_head(evaluation, 8),
        "evaluation": evaluation,
        "predictions_path": tmp_path / "p.npz",
        "rss_before_load_mb": 100.0,
        "rss_after_load_mb": 150.0,
    }
    settings.update(extra)
    return MeasureRun(**settings)  # type: ignore[arg-type]


def test_every_meter_fills_its_measurement(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    measured = measure_all(_run(mv2_bundle, cache_dir, tmp_path))
    assert measured.latency_ms is not None and measured.latency_ms.batch == 1
    assert [t.batch for t in measured.throughput] == [1, 4]
    assert (
        measured.cpu_time is not None
        and measured.cpu_time.batch == 4
        and measured.cpu_time.seconds_per_image > 0
    )
    assert measured.contention is not None and measured.contention.window_s > 0
    assert measured.memory is not None and measured.memory.load_increase_mb == 50.0
    assert measured.accuracy is not None and measured.accuracy.images > 0
    assert (tmp_path / "p.npz").exists()
    # No energy counter on this machine: said with the reason, never a made-up number.
    if measured.energy is None:
        assert "RAPL" in measured.unavailable["energy"]
    # An FP32 session has no quantized arithmetic to check against exact arithmetic.
    assert "no quantized arithmetic" in measured.unavailable["kernel"] and measured.kernel is None
    # A CPU session has no device to time: the GPU meter's row says so.
    assert measured.gpu is None and "runs on the CPU" in measured.unavailable["gpu"]
    assert set(measured.unavailable) <= {"energy", "kernel", "gpu"}


def test_batch_one_throughput_is_the_latency_pass(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Batch 1 is not timed twice: its rate, call count and CPU window are the latency pass's,
    while batch 4 gets its own pass."""
    run = _run(mv2_bundle, cache_dir, tmp_path,
               config=QUICK.model_copy(update={"throughput_batches": [1]}))
    measured = measure_all(run)
    latency = measured.latency_ms
    assert latency is not None and [t.batch for t in measured.throughput] == [1]
    one = measured.throughput[0]
    assert one.iterations == latency.iterations and one.stop_reason == latency.stop_reason
    assert one.images_per_s == pytest.approx(1000.0 / latency.mean, rel=1e-12)
    assert run.windows[1] is run.latency_window and run.latency_window is not None
    assert run.latency_window.images == latency.iterations + latency.warmup_iterations
    assert measured.cpu_time is not None and measured.cpu_time.batch == 1
    assert measured.cpu_time.images == run.latency_window.images

    both = measure_all(_run(mv2_bundle, cache_dir, tmp_path))
    assert both.latency_ms is not None
    four = both.throughput[1]
    assert four.batch == 4 and four.batch_latency_ms_p50 > both.latency_ms.p50


def test_declared_speed_unavailability_skips_every_speed_meter(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    run = _run(
        mv2_bundle,
        cache_dir,
        tmp_path,
        speed_unavailable="simulated on the CPU",
        accuracy_unavailable="random weights",
    )
    measured = measure_all(run)
    assert measured.latency_ms is None and measured.throughput == [] and measured.cpu_time is None
    for key in ("latency", "throughput", "gpu", "cpu_time", "energy", "contention"):
        assert measured.unavailable[key] == "simulated on the CPU"
    assert measured.unavailable["accuracy"] == "random weights" and measured.accuracy is None
    assert measured.memory is not None and measured.memory.peak_rss_mb > 0  # still measured


def test_a_new_measurement_is_one_meter_in_the_list(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    class FirstLogit(Block):
        value: float

    class FirstLogitMeter(Meter):
        key, field = "first_logit", "first_logit"

        def measure(self, run: MeasureRun) -> FirstLogit | Unavailable:
            logits = run.session.run(np.ascontiguousarray(run.timing_images[:1]))
            return FirstLogit(value=float(logits[0, 0]))

    measured = measure_all(_run(mv2_bundle, cache_dir, tmp_path), [FirstLogitMeter()])
    assert isinstance(measured.first_logit, FirstLogit)  # type: ignore[attr-defined]
    assert measured.latency_ms is None  # only the meters in the list run


def test_no_throughput_pass_leaves_cpu_time_unavailable(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    run = _run(
        mv2_bundle, cache_dir, tmp_path, config=QUICK.model_copy(update={"throughput_batches": []})
    )
    meters = [m for m in default_meters() if isinstance(m, LatencyMeter | ThroughputMeter |
                                                           CpuTimeMeter)]
    measured = measure_all(run, meters)
    assert measured.unavailable["throughput"] == "no throughput pass was configured"
    assert measured.unavailable["cpu_time"] == measured.unavailable["throughput"]


def _evaluation_split(cache_dir: Path, images: int) -> Path:
    """The session's evaluation split among the cached ones (other tests cache smaller ones)."""
    return next(p for p in sorted(cache_dir.glob("*.npy"))
                if "partial" not in p.name and len(load_split(p)) == images)


def test_the_accuracy_pass_is_the_throughput_pass_at_its_batch(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """At the accuracy pass's batch size the rate is that pass's, every evaluation batch timed
    once after a warm-up at that batch; CPU time is read over it, and the predictions are the
    untimed pass's."""
    at_four = QUICK.model_copy(update={"eval_batch": 4})
    split = _evaluation_split(cache_dir, len(evaluation_images))
    run = _run(mv2_bundle, cache_dir, tmp_path, config=at_four, evaluation=split)
    images = len(load_split(run.evaluation))
    calls = -(-images // 4)
    assert calls >= MIN_TIMED_CALLS  # enough calls to stand for a throughput pass
    measured = measure_all(run)
    four = measured.throughput[1]
    assert [t.batch for t in measured.throughput] == [1, 4]
    assert four.stop_reason == EVALUATION_SPLIT and four.iterations == calls
    assert four.warmup_iterations >= 5
    assert run.windows[4].images == 4 * calls
    assert measured.cpu_time is not None and measured.cpu_time.images == 4 * calls
    assert measured.accuracy is not None and measured.accuracy.images == images
    timed = Predictions.load(tmp_path / "p.npz")

    untimed_dir = tmp_path / "untimed"
    untimed_dir.mkdir()
    own = _run(mv2_bundle, cache_dir, untimed_dir, predictions_path=untimed_dir / "p.npz",
               config=at_four.model_copy(update={"throughput_from_accuracy": False}),
               evaluation=split)
    alone = measure_all(own)
    assert alone.throughput[1].stop_reason in ("ci_target", "time_cap")
    assert np.array_equal(Predictions.load(untimed_dir / "p.npz").top5, timed.top5)


def test_too_few_accuracy_batches_get_a_throughput_pass_of_their_own(
    mv2_bundle, evaluation_images, cache_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A few calls at batch 8 are too few to stand for a pass: one is timed after."""
    run = _run(mv2_bundle, cache_dir, tmp_path,
               config=QUICK.model_copy(update={"throughput_batches": [1, 8]}),
               evaluation=_evaluation_split(cache_dir, len(evaluation_images)))
    assert -(-len(load_split(run.evaluation)) // 8) < MIN_TIMED_CALLS
    measured = measure_all(run)
    eight = measured.throughput[1]
    assert eight.batch == 8 and eight.stop_reason in ("ci_target", "time_cap")
    assert measured.accuracy is not None and measured.cpu_time is not None
    assert measured.cpu_time.batch == 8 and measured.cpu_time.images == run.windows[8].images
