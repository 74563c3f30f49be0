"""Statistics and timing: checked against independent computations, not against themselves."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quantarena.config import MeasureConfig
from quantarena.measure.accuracy import Predictions
from quantarena.measure.latency import measure_latency, measure_throughput, warm_up
from quantarena.measure.stats import mcnemar_exact_p, median_ci
from quantarena.results.accuracy import PairedComparison
from quantarena.results.measurements import Contention, Latency, Throughput


@pytest.mark.parametrize(("b", "c"), [(0, 0), (3, 10), (10, 3), (7, 7), (0, 12), (40, 61)])
def test_mcnemar_matches_scipy_binomial_test(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact_p(b, c) == pytest.approx(expected, rel=1e-9)


def test_median_ci_covers_the_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    true_median = np.log(2)  # exponential(1)
    covered = 0
    for _ in range(400):
        lo, hi = median_ci(rng.exponential(size=101))
        covered += lo <= true_median <= hi
    assert 0.91 <= covered / 400 <= 0.99


def test_paired_comparison_detects_a_real_drop_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random(1000) < 0.8
    noisy = reference.copy()
    flip = rng.choice(1000, 6, replace=False)
    noisy[flip] = ~noisy[flip]
    small = PairedComparison.of(noisy, reference)
    assert not small.significant and small.ci95_pp[0] <= 0 <= small.ci95_pp[1]
    broken = reference.copy()
    broken[np.flatnonzero(reference)[:60]] = False
    big = PairedComparison.of(broken, reference)
    assert big.significant and big.lost == 60 and big.gained == 0
    assert big.delta_pp == pytest.approx(-6.0)


def test_accuracy_summary_is_consistent_with_predictions() -> None:
    labels = np.array([1, 2, 3, 4])
    top5 = np.array([[1, 0, 0, 0, 0], [0, 2, 0, 0, 0], [9, 9, 9, 9, 9], [4, 0, 0, 0, 0]])
    pred = Predictions(["a", "b", "c", "d"], labels, top5)
    ref = Predictions(["a", "b", "c", "d"], labels, np.array([[1] * 5, [2] * 5, [3] * 5, [4] * 5]))
    summary = pred.accuracy(ref)
    assert summary.top1 == 0.5 and summary.top5 == 0.75
    assert summary.top1_delta_pp == -50.0 and summary.agreement_top1 == 0.5
    assert summary.vs_reference is not None and summary.vs_reference.lost == 2
    alone = pred.accuracy()
    assert alone.top1 == 0.5 and alone.top1_delta_pp is None and alone.vs_reference is None
    elsewhere = Predictions(["a", "b", "c", "x"], labels, top5)
    with pytest.raises(ValueError, match="different images"):
        pred.accuracy(elsewhere)


def test_latency_stops_on_the_ci_target_for_a_steady_call() -> None:
    config = MeasureConfig(
        latency_min_iterations=20,
        latency_min_seconds=0.2,
        latency_max_seconds=5,
        warmup_max_seconds=1,
    )
    images = np.zeros((4, 3, 2, 2), np.float32)
    stats = measure_latency(lambda b: time.sleep(0.003), images, config)
    assert stats.stop_reason == "ci_target" and stats.iterations >= 20
    assert stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max
    assert stats.p50_ci95[0] <= stats.p50 <= stats.p50_ci95[1]
    assert 2.5 < stats.p50 < 30


def test_latency_hits_the_time_cap_for_a_noisy_call() -> None:
    rng = np.random.default_rng(0)
    config = MeasureConfig(
        latency_min_iterations=5,
        latency_min_seconds=0,
        latency_max_seconds=0.3,
        latency_target_ci=0.001,
        warmup_max_seconds=0.1,
    )
    stats = measure_latency(
        lambda b: time.sleep(float(rng.uniform(0.001, 0.004))), np.zeros((2, 1), np.float32), config
    )
    assert stats.stop_reason == "time_cap"


def test_throughput_counts_images_per_second() -> None:
    config = MeasureConfig(
        throughput_min_iterations=5,
        throughput_min_seconds=0.2,
        throughput_max_seconds=2,
        warmup_max_seconds=0.2,
    )
    batch = np.zeros((8, 3, 2, 2), np.float32)
    result = measure_throughput(lambda b: time.sleep(0.004), batch, config)
    assert result.batch == 8
    assert 8 / 0.02 < result.images_per_s < 8 / 0.004
    assert result.images_per_s_ci95[0] <= result.images_per_s <= result.images_per_s_ci95[1]


def test_the_warm_up_ends_when_stable_or_at_its_cap() -> None:
    """Calls that slow down by 20% a window never settle: the cap ends the warm-up after the
    window that reaches it, unstable. Steady calls settle after two windows."""
    made: list[float] = []

    def call(_: np.ndarray) -> None:
        pause = 0.002 * 1.2 ** (len(made) // 5)
        made.append(pause)
        time.sleep(pause)

    warm = warm_up(call, [np.zeros((1,), np.float32)], max_seconds=0.03)
    assert not warm.stable and warm.iterations == len(made) and warm.iterations % 5 == 0
    steady = warm_up(lambda _: time.sleep(0.002), [np.zeros((1,), np.float32)], 5.0)
    assert steady.stable and steady.iterations >= 10 and steady.iterations % 5 == 0


def test_drift_shows_a_machine_that_slowed_down_mid_window() -> None:
    calls = {"n": 0}

    def slowing(_: np.ndarray) -> None:
        calls["n"] += 1
        time.sleep(0.002 if calls["n"] < 60 else 0.004)

    config = MeasureConfig(
        latency_min_iterations=80,
        latency_min_seconds=0,
        latency_max_seconds=0.5,
        latency_target_ci=0.0001,
        warmup_max_seconds=0.05,
    )
    stats = measure_latency(slowing, np.zeros((2, 1), np.float32), config)
    assert stats.drift_pct > 40


def _latency(p50: float, drift: float = 0.0) -> Latency:
    times = np.full(40, p50 / 1000.0)
    made = Latency.from_samples(
        times,
        batch=1,
        seconds=1.0,
        stop_reason="ci_target",
        warmup_iterations=5,
        warmup_stable=True,
    )
    return made.model_copy(update={"drift_pct": drift})


def test_latency_computes_its_own_percentiles() -> None:
    times = np.arange(1, 102) / 1000.0  # 1..101 ms
    latency = Latency.from_samples(
        times,
        batch=1,
        seconds=1.0,
        stop_reason="time_cap",
        warmup_iterations=3,
        warmup_stable=False,
    )
    assert latency.p50 == pytest.approx(51.0) and latency.min == 1.0 and latency.max == 101.0
    assert latency.quantiles[90] == pytest.approx(latency.p90) and len(latency.quantiles) == 101
    assert latency.p50_ci95[0] < 51.0 < latency.p50_ci95[1]
    assert latency.drift_pct == pytest.approx((76.0 - 25.5) / 25.5 * 100)  # halves 1..50, 51..101


def test_latency_aggregates_runs_through_the_median_run() -> None:
    runs = [_latency(12.0), _latency(10.0), _latency(18.0)]
    combined = Latency.aggregate(runs)
    assert combined.p50 == pytest.approx(12.0)
    assert combined.p50_runs == pytest.approx([12.0, 10.0, 18.0])
    assert combined.p50_between_runs == pytest.approx({"low": 10.0, "high": 18.0, "coverage": 0.75})
    assert Latency.aggregate([runs[0]]) is runs[0]
    with pytest.raises(ValueError):
        Latency.aggregate([])


def test_throughput_aggregates_per_batch_size() -> None:
    def rate(batch: int, ips: float) -> Throughput:
        return Throughput(
            batch=batch,
            images_per_s=ips,
            images_per_s_ci95=[ips, ips],
            iterations=5,
            batch_latency_ms_p50=1.0,
            stop_reason="time_cap",
        )

    combined = Throughput.aggregate(
        [[rate(1, 10), rate(8, 80)], [rate(1, 30), rate(8, 60)], [rate(1, 20), rate(8, 70)]]
    )
    assert [(t.batch, t.images_per_s) for t in combined] == [(1, 20), (8, 70)]
    assert combined[1].images_per_s_runs == [80, 60, 70]


def test_measurements_say_what_deserves_a_note() -> None:
    assert _latency(10.0, drift=4.9).row_notes() == []
    assert "drifted +12.0%" in _latency(10.0, drift=12.0).row_notes()[0]
    busy = Contention(window_s=3.0, others_cpu_percent=35.0, own_cpu_percent=60.0)
    assert "35%" in busy.row_notes()[0]
    assert Contention(window_s=3.0, others_cpu_percent=2.0, own_cpu_percent=90.0).row_notes() == []
