"""Statistics and timing: checked against independent computations, not against themselves."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quantarena.config import MeasureConfig
from quantarena.measure.accuracy import Predictions, accuracy_summary
from quantarena.measure.latency import measure_latency, measure_throughput
from quantarena.measure.stats import mcnemar_exact_p, median_ci, paired_comparison


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
    small = paired_comparison(noisy, reference)
    assert not small.significant and small.ci95_pp[0] <= 0 <= small.ci95_pp[1]
    broken = reference.copy()
    broken[np.flatnonzero(reference)[:60]] = False
    big = paired_comparison(broken, reference)
    assert big.significant and big.lost == 60 and big.gained == 0
    assert big.delta_pp == pytest.approx(-6.0)


def test_accuracy_summary_is_consistent_with_predictions() -> None:
    labels = np.array([1, 2, 3, 4])
    top5 = np.array([[1, 0, 0, 0, 0], [0, 2, 0, 0, 0], [9, 9, 9, 9, 9], [4, 0, 0, 0, 0]])
    pred = Predictions(["a", "b", "c", "d"], labels, top5)
    ref = Predictions(["a", "b", "c", "d"], labels, np.array([[1] * 5, [2] * 5, [3] * 5, [4] * 5]))
    summary = accuracy_summary(pred, ref)
    assert summary["top1"] == 0.5 and summary["top5"] == 0.75
    assert summary["top1_delta_pp"] == -50.0 and summary["agreement_top1"] == 0.5


def test_latency_stops_on_the_ci_target_for_a_steady_call() -> None:
    config = MeasureConfig(latency_min_iterations=20, latency_min_seconds=0.2, latency_max_seconds=5, warmup_max_seconds=1)
    images = np.zeros((4, 3, 2, 2), np.float32)
    stats = measure_latency(lambda b: time.sleep(0.003), images, config)
    assert stats.stop_reason == "ci_target" and stats.iterations >= 20
    assert stats.min <= stats.p50 <= stats.p90 <= stats.p99 <= stats.max
    assert stats.p50_ci95[0] <= stats.p50 <= stats.p50_ci95[1]
    assert 2.5 < stats.p50 < 30


def test_latency_hits_the_time_cap_for_a_noisy_call() -> None:
    rng = np.random.default_rng(0)
    config = MeasureConfig(latency_min_iterations=5, latency_min_seconds=0, latency_max_seconds=0.3, latency_target_ci=0.001, warmup_max_seconds=0.1)
    stats = measure_latency(lambda b: time.sleep(float(rng.uniform(0.001, 0.004))), np.zeros((2, 1), np.float32), config)
    assert stats.stop_reason == "time_cap"


def test_throughput_counts_images_per_second() -> None:
    config = MeasureConfig(throughput_min_iterations=5, throughput_min_seconds=0.2, throughput_max_seconds=2, warmup_max_seconds=0.2)
    batch = np.zeros((8, 3, 2, 2), np.float32)
    result = measure_throughput(lambda b: time.sleep(0.004), [batch], config)
    assert result.batch == 8
    assert 8 / 0.02 < result.images_per_s < 8 / 0.004
    assert result.images_per_s_ci95[0] <= result.images_per_s <= result.images_per_s_ci95[1]


def test_drift_shows_a_machine_that_slowed_down_mid_window() -> None:
    calls = {"n": 0}

    def slowing(_: np.ndarray) -> None:
        calls["n"] += 1
        time.sleep(0.002 if calls["n"] < 60 else 0.004)

    config = MeasureConfig(latency_min_iterations=80, latency_min_seconds=0, latency_max_seconds=0.5, latency_target_ci=0.0001, warmup_max_seconds=0.05)
    stats = measure_latency(slowing, np.zeros((2, 1), np.float32), config)
    assert stats.drift_pct > 40
